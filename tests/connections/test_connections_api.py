"""The connections API: CRUD, filters, owner isolation, write-only secrets, audit log."""

from __future__ import annotations

import pytest

from connections.models import ConnectionState, ConnectionSyncLog, ExchangeConnection
from tests.connections.factories import BYBIT_KEY, BYBIT_SECRET, create_body, make_connection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"


def test_create_returns_201_with_the_connection_shape(owner_client):
    response = owner_client.post(URL, create_body(volumeFactorLive="2.5"), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    connection = body["connection"]
    assert set(connection) == {
        "id",
        "name",
        "exchange",
        "apiType",
        "environment",
        "baseUrl",
        "wsUrl",
        "enabled",
        "isActive",
        "tradingState",
        "apiKeyLast4",
        "hasPassphrase",
        "volumeFactorLive",
        "volumeFactorPreset",
        "maxOrderNotional",
        "maxOpenOrders",
        "priceBandPercent",
        "health",
        "stream",
        "deadManSwitch",
        "createdAt",
        "updatedAt",
    }
    assert connection["tradingState"] == "active"
    assert connection["priceBandPercent"] == "5" and connection["maxOpenOrders"] is None
    assert connection["apiKeyLast4"] == BYBIT_KEY[-4:]
    assert connection["hasPassphrase"] is False
    assert connection["volumeFactorLive"] == "2.500000"
    assert connection["volumeFactorPreset"] == "1.000000"
    assert connection["health"] == {
        "status": "unknown",
        "circuit": "closed",
        "lastCheckAt": None,
        "lastLatencyMs": None,
        "lastError": "",
    }
    assert ConnectionState.objects.filter(connection_id=connection["id"]).exists()


def test_secrets_are_write_only(owner_client, owner):
    created = owner_client.post(
        URL, create_body(exchange="okx", passphrase="okx-pass-phrase-x"), format="json"
    )
    assert created.status_code == 201
    listed = owner_client.get(URL)
    fetched = owner_client.get(f"{URL}/{created.json()['connection']['id']}")
    for response in (created, listed, fetched):
        text = response.content.decode()
        assert BYBIT_KEY not in text and BYBIT_SECRET not in text
        assert "okx-pass-phrase-x" not in text
        assert "apiSecret" not in text and '"apiKey"' not in text
    assert fetched.json()["connection"]["hasPassphrase"] is True


def test_list_applies_all_five_filters_and_echoes_them(owner_client, owner):
    make_connection(owner, name="a", exchange="bybit", api_type="spot")
    second = make_connection(
        owner, name="b", exchange="binance", api_type="perpetual_futures", environment="testnet"
    )
    make_connection(owner, name="c", exchange="binance", api_type="spot", enabled=False)
    owner_client.post(f"{URL}/{second.pk}/activate")

    response = owner_client.get(
        URL,
        {
            "exchange": "binance",
            "apiType": "perpetual_futures",
            "environment": "testnet",
            "isActive": "true",
            "enabled": "true",
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["count"] == 1 and body["connections"][0]["id"] == str(second.pk)
    assert body["filters"] == {
        "exchange": "binance",
        "apiType": "perpetual_futures",
        "environment": "testnet",
        "isActive": True,
        "enabled": True,
    }
    assert owner_client.get(URL, {"enabled": "false"}).json()["count"] == 1
    assert owner_client.get(URL, {"exchange": "bybit"}).json()["count"] == 1
    unfiltered = owner_client.get(URL).json()
    assert unfiltered["count"] == 3
    assert unfiltered["filters"] == dict.fromkeys(
        ("exchange", "apiType", "environment", "isActive", "enabled")
    )


@pytest.mark.parametrize(
    "params, field",
    [
        ({"exchange": "kraken"}, "exchange"),
        ({"apiType": "options"}, "apiType"),
        ({"isActive": "yes"}, "isActive"),
        ({"enabled": "1"}, "enabled"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_list_filters_are_400(owner_client, params, field):
    response = owner_client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]


def test_get_patch_delete_by_owner(owner_client, owner):
    connection = make_connection(owner)
    detail = f"{URL}/{connection.pk}"
    assert owner_client.get(detail).json()["connection"]["name"] == "Desk Bybit"

    patched = owner_client.patch(
        detail, {"name": "Renamed", "volumeFactorPreset": 3}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["connection"]["name"] == "Renamed"
    assert patched.json()["connection"]["volumeFactorPreset"] == "3.000000"

    deleted = owner_client.delete(detail)
    assert deleted.status_code == 200 and deleted.json() == {"success": True}
    assert not ExchangeConnection.objects.filter(pk=connection.pk).exists()
    assert owner_client.get(detail).status_code == 404


def test_patch_of_the_api_key_reencrypts_and_updates_last4(owner_client, owner):
    connection = make_connection(owner)
    response = owner_client.patch(
        f"{URL}/{connection.pk}", {"apiKey": "new-key-value-9876"}, format="json"
    )
    assert response.json()["connection"]["apiKeyLast4"] == "9876"
    from connections.services import connection_credentials

    connection.refresh_from_db()
    assert connection_credentials(connection=connection) == {
        "api_key": "new-key-value-9876",
        "api_secret": BYBIT_SECRET,
        "passphrase": "",
    }


@pytest.mark.parametrize("method", ["get", "patch", "delete", "activate"])
def test_other_users_connection_is_not_found(outsider_client, owner, method):
    connection = make_connection(owner)
    detail = f"{URL}/{connection.pk}"
    if method == "activate":
        response = outsider_client.post(f"{detail}/activate")
    elif method == "patch":
        response = outsider_client.patch(detail, {"name": "mine now"}, format="json")
    else:
        response = getattr(outsider_client, method)(detail)
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "not_found", "message": "connection not found", "fields": {}},
    }
    connection.refresh_from_db()
    assert connection.name == "Desk Bybit" and not connection.is_active


def test_outsider_list_does_not_show_others_connections(outsider_client, owner):
    make_connection(owner)
    assert outsider_client.get(URL).json()["count"] == 0


def test_staff_see_every_connection(staff_client, owner, outsider):
    make_connection(owner)
    make_connection(outsider)
    assert staff_client.get(URL).json()["count"] == 2


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"])
def test_malformed_or_unknown_id_is_404_json(owner_client, bad_id):
    response = owner_client.get(f"{URL}/{bad_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unauthenticated_requests_are_401(anonymous_client):
    response = anonymous_client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_activate_makes_it_the_only_active_connection(owner_client, owner):
    first, second = make_connection(owner, name="one"), make_connection(owner, name="two")
    assert owner_client.post(f"{URL}/{first.pk}/activate").json()["connection"]["isActive"]
    response = owner_client.post(f"{URL}/{second.pk}/activate")
    assert response.status_code == 200 and response.json()["connection"]["isActive"] is True
    assert list(ExchangeConnection.objects.filter(owner=owner, is_active=True)) == [second]
    log = ConnectionSyncLog.objects.filter(connection_id=str(second.pk), action="activated").get()
    assert log.data == {"deactivated": [str(first.pk)]} and log.actor == "owner"


def test_a_disabled_connection_cannot_be_activated(owner_client, owner):
    connection = make_connection(owner, enabled=False)
    response = owner_client.post(f"{URL}/{connection.pk}/activate")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "connection_disabled"
    connection.refresh_from_db()
    assert connection.is_active is False


def test_every_write_is_in_the_sync_log_with_field_names_and_no_secret(owner_client):
    created = owner_client.post(URL, create_body(), format="json").json()["connection"]
    detail = f"{URL}/{created['id']}"
    owner_client.patch(detail, {"name": "x", "apiSecret": "rotated-secret-value"}, format="json")
    owner_client.post(f"{detail}/activate")
    owner_client.delete(detail)
    logs = list(
        ConnectionSyncLog.objects.filter(connection_id=created["id"]).order_by("created_at", "id")
    )
    assert [log.action for log in logs] == ["created", "updated", "activated", "deleted"]
    assert all(log.actor == "owner" for log in logs)
    assert logs[0].data["fields"] == sorted(
        ["api_key", "api_secret", "api_type", "environment", "exchange", "name"]
    )
    assert logs[1].data == {"fields": ["api_secret", "name"]}
    dumped = " ".join(str(log.data) for log in logs)
    assert BYBIT_SECRET not in dumped and BYBIT_KEY not in dumped
    assert "rotated-secret-value" not in dumped


def test_trailing_slash_paths_do_not_exist(owner_client):
    response = owner_client.get(f"{URL}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_api_path_answers_json_404(owner_client):
    response = owner_client.get("/api/does-not-exist")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "not_found", "message": "not found", "fields": {}},
    }


def test_one_active_connection_per_owner_is_a_database_constraint(owner):
    from django.db import IntegrityError, transaction

    first, second = make_connection(owner), make_connection(owner)
    ExchangeConnection.objects.filter(pk=first.pk).update(is_active=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExchangeConnection.objects.filter(pk=second.pk).update(is_active=True)


def test_unknown_api_path_answers_json_even_with_debug_on(owner_client, settings):
    settings.DEBUG = True
    response = owner_client.get("/api/nope/deeper")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
