"""Token auth, the system status endpoint, CORS, the schema and the offline docs."""

from __future__ import annotations

import pytest

from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db


def test_token_endpoint_returns_a_token_that_authenticates(anonymous_client, owner):
    response = anonymous_client.post(
        "/api/auth/token", {"username": "owner", "password": "correct-horse-9"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["success"] is True and len(token) == 40
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous_client.get("/api/settings/connections").status_code == 200


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"username": "owner", "password": "wrong"}, 401, "not_authenticated"),
        ({"username": "nobody", "password": "x"}, 401, "not_authenticated"),
        ({"username": "owner"}, 400, "validation_error"),
        ({"username": 5, "password": "x"}, 400, "validation_error"),
        ({"username": "owner", "password": "correct-horse-9", "extra": 1}, 400, "validation_error"),
    ],
)
def test_token_endpoint_refuses_bad_credentials_and_bad_input(
    anonymous_client, owner, body, status, code
):
    response = anonymous_client.post("/api/auth/token", body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert "token" not in response.json()


def test_an_invalid_token_is_401(anonymous_client):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = anonymous_client.get("/api/settings/connections")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_system_status_counts_the_callers_connections(owner_client, owner, outsider):
    first = make_connection(owner, exchange="bybit")
    make_connection(owner, exchange="okx", passphrase="p")
    make_connection(outsider, exchange="binance")
    owner_client.post(f"/api/settings/connections/{first.pk}/activate")
    body = owner_client.get("/api/system/status").json()
    assert body["status"] == "ok"
    assert body["connections"]["total"] == 2 and body["connections"]["active"] == 1
    assert body["connections"]["byExchange"] == {"bybit": 1, "okx": 1}
    assert set(body) >= {"status", "connections", "health", "metrics", "batch", "features"}
    features = body["features"]["exchanges"]
    assert features["orangex"]["apiTypes"] == ["perpetual_futures"]
    assert "testnet" not in features["pionex"]["environments"]
    assert features["okx"]["needsPassphrase"] is True


def test_staff_system_status_counts_everyone(staff_client, owner, outsider):
    make_connection(owner)
    make_connection(outsider)
    assert staff_client.get("/api/system/status").json()["connections"]["total"] == 2


def test_system_status_needs_login(anonymous_client):
    response = anonymous_client.get("/api/system/status")
    assert response.status_code == 401


def test_cors_allows_only_configured_origins(owner_client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://desk.example.com"]
    allowed = owner_client.get("/api/settings/connections", HTTP_ORIGIN="https://desk.example.com")
    assert allowed["Access-Control-Allow-Origin"] == "https://desk.example.com"
    refused = owner_client.get("/api/settings/connections", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in refused


def test_schema_renders(owner_client):
    response = owner_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/settings/connections/{id}/activate" in response.json()["paths"]


def test_swagger_ui_and_its_static_files_work_with_debug_off(client, settings):
    settings.DEBUG = False
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    from django.test import Client

    static = Client().get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert static.status_code == 200
    admin_css = Client().get("/static/admin/css/base.css")
    assert admin_css.status_code == 200
