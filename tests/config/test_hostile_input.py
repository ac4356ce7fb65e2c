"""Hostile input never makes a 500: every answer under /api/ is the JSON error body with a
4xx, and nothing is saved or enqueued. One test per hostile input, named after it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, RequestFactory

from config.api import csrf_failure
from config.parsers import MAX_JSON_DEPTH, json_depth
from connections.models import ExchangeConnection
from orders.models import Order
from tests.connections.factories import create_body, make_connection

pytestmark = pytest.mark.django_db
CONNECTIONS = "/api/settings/connections"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def json_endpoints(connection_id: object) -> list[tuple[str, str]]:
    return [
        ("POST", "/api/auth/token"),
        ("POST", CONNECTIONS),
        ("PATCH", f"{CONNECTIONS}/{connection_id}"),
        ("POST", f"{CONNECTIONS}/batch-test"),
        ("POST", "/api/orders"),
        ("POST", "/api/orders/cancel-all"),
    ]


# --- bodies: depth, numbers, size, encoding, type -------------------------------------


def test_json_nested_950_levels_is_400_on_the_unauthenticated_token_endpoint(anonymous_client):
    response = anonymous_client.generic(
        "POST", "/api/auth/token", nested(950), content_type="application/json"
    )
    assert "deeper than" in assert_error(response, 400, "validation_error")["message"]


def test_json_nested_950_levels_is_400_on_every_json_endpoint(owner_client, owner):
    connection = make_connection(owner)
    for method, path in json_endpoints(connection.pk):
        response = owner_client.generic(method, path, nested(950), content_type="application/json")
        assert_error(response, 400, "validation_error")
    assert ExchangeConnection.objects.count() == 1 and Order.objects.count() == 0


def test_json_nested_100000_levels_is_400(owner_client):
    body = '{"name": ' + nested(100_000) + "}"
    response = owner_client.generic("POST", CONNECTIONS, body, content_type="application/json")
    assert_error(response, 400, "validation_error")


def test_json_nested_within_the_limit_reaches_the_serializer(owner_client):
    body = '{"name": ' + nested(MAX_JSON_DEPTH - 1) + "}"
    error = assert_error(
        owner_client.generic("POST", CONNECTIONS, body, content_type="application/json"),
        400,
        "validation_error",
    )
    assert "name" in error["fields"]


def test_brackets_inside_json_strings_are_not_nesting():
    assert json_depth('{"name": "' + "[" * 5000 + '\\"{{"}') == 1
    assert json_depth(nested(3)) == 3


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_400(owner_client, literal):
    body = '{"name": "x", "volumeFactorLive": ' + literal + "}"
    response = owner_client.generic("POST", CONNECTIONS, body, content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert not ExchangeConnection.objects.exists()


@pytest.mark.parametrize(
    "number",
    [
        "1e400",
        "-1e400",
        "1e30",
        "1e999999999999999999999",
        "1e-999999999",
        "123456789012345678901234567890.5",
    ],
)
def test_numbers_beyond_the_decimal_fields_range_are_400(owner_client, number):
    body = create_body()
    raw = (
        '{"name": "x", "exchange": "bybit", "apiType": "spot", "environment": "live", '
        f'"apiKey": "{body["apiKey"]}", "apiSecret": "{body["apiSecret"]}", '
        f'"maxOrderNotional": {number}}}'
    )
    response = owner_client.generic("POST", CONNECTIONS, raw, content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert not ExchangeConnection.objects.exists()


def test_an_integer_past_pythons_digit_limit_is_400(owner_client):
    raw = '{"maxOpenOrders": ' + "9" * 5000 + "}"
    response = owner_client.generic("POST", CONNECTIONS, raw, content_type="application/json")
    assert_error(response, 400, "validation_error")


def test_json_numbers_keep_every_digit(owner_client):
    body = create_body()
    raw = (
        '{"name": "x", "exchange": "bybit", "apiType": "spot", "environment": "live", '
        f'"apiKey": "{body["apiKey"]}", "apiSecret": "{body["apiSecret"]}", '
        '"maxOrderNotional": 1234567890123456.12345678}'
    )
    response = owner_client.generic("POST", CONNECTIONS, raw, content_type="application/json")
    assert response.status_code == 201, response.json()
    connection = ExchangeConnection.objects.get()
    assert connection.max_order_notional == Decimal("1234567890123456.12345678")


def test_body_over_data_upload_max_memory_size_is_413(owner_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = '{"name": "' + "x" * 2000 + '"}'
    for path in (CONNECTIONS, "/api/auth/token"):
        response = owner_client.generic("POST", path, raw, content_type="application/json")
        assert_error(response, 413, "request_too_large")
    assert not ExchangeConnection.objects.exists()


def test_invalid_utf8_is_400(anonymous_client):
    response = anonymous_client.generic(
        "POST",
        "/api/auth/token",
        b'{"username": "\xff\xfe", "password": "x"}',
        content_type="application/json",
    )
    error = assert_error(response, 400, "validation_error")
    assert "\\xff" not in error["message"] and "0xff" not in error["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type_is_415(owner_client, content_type):
    response = owner_client.generic("POST", CONNECTIONS, "name=x", content_type=content_type)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("charset", ["rot13", "zlib", "base64", "bz2_codec", "no-such-charset"])
def test_a_non_text_charset_is_a_json_415(anonymous_client, charset):
    response = anonymous_client.generic(
        "POST",
        "/api/auth/token",
        b'{"username": "x"}',
        content_type=f"application/json; charset={charset}",
    )
    assert_error(response, 415, "unsupported_media_type")


def test_a_declared_text_charset_is_read(anonymous_client, owner):
    body = '{"username": "owner", "password": "correct-horse-9"}'.encode("utf-16")
    response = anonymous_client.generic(
        "POST", "/api/auth/token", body, content_type="application/json; charset=utf-16"
    )
    assert response.status_code == 200, response.json()


# --- query strings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "offset=1e20",
        "limit=abc",
        "offset=100000000000000000000",
        "offset=-1",
        "limit=0",
        "limit=100000",
        "offset=" + "9" * 2000,
        "limit=1.5",
    ],
)
def test_malformed_or_huge_limit_and_offset_are_400(owner_client, query):
    assert_error(owner_client.get(f"/api/orders?{query}"), 400, "validation_error")


@pytest.mark.parametrize(
    "query, field",
    [("limit=abc&limit=", "limit"), ("limit=5&limit=6", "limit"), ("offset=0&offset=0", "offset")],
)
def test_repeated_query_parameters_are_400_not_merged(owner_client, query, field):
    error = assert_error(owner_client.get(f"/api/orders?{query}"), 400, "validation_error")
    assert field in error["fields"]


def test_a_repeated_connection_filter_is_400(owner_client):
    error = assert_error(
        owner_client.get(f"{CONNECTIONS}?exchange=bybit&exchange=okx"), 400, "validation_error"
    )
    assert "exchange" in error["fields"]


def test_a_query_string_with_more_fields_than_django_takes_is_400(owner_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"f{n}=1" for n in range(20))
    assert_error(owner_client.get(f"/api/orders?{query}"), 400, "bad_request")


def test_the_deepest_allowed_offset_answers_an_empty_page(owner_client):
    response = owner_client.get("/api/orders?offset=1000000000")
    assert response.status_code == 200 and response.json()["orders"] == []


# --- hosts, methods, paths, CSRF, Accept ----------------------------------------------


def test_a_disallowed_host_on_the_api_is_a_json_400(owner_client):
    response = owner_client.get(CONNECTIONS, HTTP_HOST="evil.example.com")
    assert_error(response, 400, "bad_request")


def test_a_disallowed_host_on_the_api_is_a_json_400_with_debug_on(owner_client, settings):
    settings.DEBUG = True
    response = owner_client.get(CONNECTIONS, HTTP_HOST="evil.example.com")
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH"])
def test_writes_on_the_schema_are_a_json_405(owner_client, method):
    assert_error(owner_client.generic(method, "/api/schema/"), 405, "method_not_allowed")


def test_accept_text_html_with_debug_off_gets_json_not_the_browsable_api(owner_client):
    response = owner_client.get(CONNECTIONS, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["success"] is True


def test_an_error_asked_for_as_html_is_json(anonymous_client):
    response = anonymous_client.get(CONNECTIONS, HTTP_ACCEPT="text/html")
    assert_error(response, 401, "not_authenticated")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize(
    "path", ["/api/nothing", "/api/settings/nothing/here", "/api", "/api/orders/x/y/z"]
)
def test_unknown_api_paths_are_the_json_404_for_every_method(path, method):
    client = Client(enforce_csrf_checks=True)
    response = client.generic(method, path, "{}", content_type="application/json")
    assert_error(response, 404, "not_found")


def test_a_session_post_without_a_csrf_token_is_a_json_403(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(CONNECTIONS, create_body(), content_type="application/json")
    assert_error(response, 403, "permission_denied")
    assert not ExchangeConnection.objects.exists()


def test_the_csrf_failure_view_is_json_under_the_api_and_html_elsewhere():
    factory = RequestFactory()
    api = csrf_failure(factory.post("/api/anything"), reason="CSRF cookie not set.")
    assert api.status_code == 403 and api["Content-Type"] == "application/json"
    admin = csrf_failure(factory.post("/admin/login/"), reason="CSRF cookie not set.")
    assert admin.status_code == 403 and admin["Content-Type"].startswith("text/html")


# --- cancel-all ------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["not a symbol", "BTC", "BTC/USDT:ETH", "", 5, "x" * 41])
def test_cancel_all_with_a_malformed_symbol_is_400_and_enqueues_nothing(
    owner_client, owner, symbol, django_capture_on_commit_callbacks
):
    connection = make_connection(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(
            "/api/orders/cancel-all",
            {"connectionId": str(connection.pk), "symbol": symbol},
            format="json",
        )
    assert "symbol" in assert_error(response, 400, "validation_error")["fields"]
    assert callbacks == []


def test_cancel_all_task_finishes_when_the_connection_was_deleted_in_between():
    from orders.tasks import cancel_all_task

    assert cancel_all_task.run(str(uuid.uuid4()), None) == 0
