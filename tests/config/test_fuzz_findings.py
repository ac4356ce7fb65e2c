"""What the schema fuzzer found, one test per hostile input: each request the schema forbids is
a 400 validation_error naming the field (never accepted, never a 422 or a 500), and each
request it allows is accepted or refused for a documented reason."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from connections.models import ExchangeConnection
from orders.models import Order
from orders.serializers import SYMBOL_MAX_LENGTH, SYMBOL_PATTERN
from tests.connections.factories import create_body, make_connection
from tests.orders.conftest import make_connection as make_paper_connection
from tests.orders.conftest import order_body

__all__ = ["make_paper_connection"]  # the orders tests' fixture: a paper connection

pytestmark = pytest.mark.django_db
CONNECTIONS = "/api/settings/connections"
ORDERS = "/api/orders"


def assert_400(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error


def test_a_blank_string_for_a_nullable_decimal_is_400_not_null(owner_client):
    # DRF's DecimalField reads "" as null; the schema says a decimal string or null
    assert_400(
        owner_client.post(CONNECTIONS, create_body(priceBandPercent=""), format="json"),
        "priceBandPercent",
    )
    assert not ExchangeConnection.objects.exists()


@pytest.mark.parametrize(
    "query, field", [("exchange=", "exchange"), ("apiType=", "apiType"), ("isActive=", "isActive")]
)
def test_a_blank_connection_filter_is_400_not_ignored(owner_client, query, field):
    assert_400(owner_client.get(f"{CONNECTIONS}?{query}"), field)


@pytest.mark.parametrize(
    "query, field",
    [
        ("symbol=", "symbol"),
        ("limit=", "limit"),
        ("connectionId=", "connectionId"),
        ("status=", "status"),
    ],
)
def test_a_blank_order_filter_is_400_not_ignored(owner_client, query, field):
    assert_400(owner_client.get(f"{ORDERS}?{query}"), field)


@pytest.mark.parametrize("limit", [" 5", "+5", "1_0", "5.0", "\u0665", "0", "501", "-1"])
def test_a_limit_that_is_not_plain_digits_within_1_to_500_is_400(owner_client, limit):
    assert_400(owner_client.get(ORDERS, {"limit": limit}), "limit")


def test_an_offset_past_the_deepest_page_is_400(owner_client):
    assert_400(owner_client.get(ORDERS, {"offset": "1000000001"}), "offset")


def test_the_symbol_pattern_never_matches_more_than_the_longest_symbol():
    # the fuzzer drew BASE/QUOTE:QUOTE within the pattern but past 40 characters
    longest = "A" * 20 + "/" + "B" * 9 + ":" + "B" * 9
    assert re.fullmatch(SYMBOL_PATTERN, longest) and len(longest) == SYMBOL_MAX_LENGTH
    assert not re.fullmatch(SYMBOL_PATTERN, "A" * 20 + "/" + "B" * 10)


@pytest.mark.parametrize(
    "symbol",
    [
        "ZX99IQAT/T4400MKXLD13ZOJG:T4400MKXLD13ZOJG",  # 44 characters
        "btc/usdt",
        " BTC/USDT",
        "BTC/USDT ",
        "BTC/USD:BTC",
    ],
)
def test_a_symbol_outside_the_pattern_is_400(owner_client, symbol):
    body = order_body_for_unknown_connection(symbol=symbol)
    assert_400(owner_client.post(ORDERS, body, format="json"), "symbol")


def order_body_for_unknown_connection(**overrides: Any) -> dict[str, Any]:
    return {
        "connectionId": str(uuid.uuid4()),
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "price": "59000",
        **overrides,
    }


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"leverage": "10"}, "leverage"),  # a string is no JSON integer
        ({"leverage": 10.0}, "leverage"),
        ({"quantity": "1e-3"}, "quantity"),  # decimal strings in plain notation only
        ({"quantity": " 0.01"}, "quantity"),
        ({"quantity": "0.0000000000001"}, "quantity"),  # 13 places
        ({"quantity": 1e-13}, "quantity"),
        ({"quantity": "0.000"}, "quantity"),
        ({"price": "1000000000000000000"}, "price"),  # 19 whole digits
        ({"connectionId": uuid.uuid4().hex}, "connectionId"),  # no dashes
        ({"clientOrderId": "has space"}, "clientOrderId"),
        ({"type": "market", "price": "1"}, "price"),
    ],
)
def test_an_order_field_outside_its_schema_is_400_before_any_lookup(owner_client, overrides, field):
    assert_400(
        owner_client.post(ORDERS, order_body_for_unknown_connection(**overrides), format="json"),
        field,
    )
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    "overrides, dropped",
    [
        ({"quantity": 0.5}, ()),
        ({"quantity": "000000000000000001"}, ()),
        ({"quantity": "0.000000000001"}, ()),
        ({"leverage": None}, ()),
        ({"type": "market", "price": None}, ()),
        ({"type": "market"}, ("price",)),
    ],
)
def test_an_order_within_its_schema_passes_the_serializer(owner_client, overrides, dropped):
    body = order_body_for_unknown_connection(**overrides)
    body = {name: value for name, value in body.items() if name not in dropped}
    response = owner_client.post(ORDERS, body, format="json")
    assert response.status_code == 404, response.content  # the connection is looked up


@pytest.mark.parametrize("name", ["   ", "\u3000", "a\x00b", " " * 5 + "x" * 96])
def test_a_connection_name_outside_its_schema_is_400(owner_client, name):
    # blank after trimming; a NUL PostgreSQL cannot store; too long as sent (101 characters)
    assert_400(owner_client.post(CONNECTIONS, create_body(name=name), format="json"), "name")


@pytest.mark.parametrize("maximum", ["5", 5.0, True])
def test_max_open_orders_takes_a_json_integer_only(owner_client, maximum):
    assert_400(
        owner_client.post(CONNECTIONS, create_body(maxOpenOrders=maximum), format="json"),
        "maxOpenOrders",
    )


@pytest.mark.parametrize("factor", ["100.0000001", "0", 0, 100.5, "1e2"])
def test_a_volume_factor_outside_0_to_100_or_its_digits_is_400(owner_client, factor):
    assert_400(
        owner_client.post(CONNECTIONS, create_body(volumeFactorLive=factor), format="json"),
        "volumeFactorLive",
    )


@pytest.mark.parametrize("factor", ["100", "100.000000", 100, "0.000001", 1e-6])
def test_a_volume_factor_within_its_schema_is_accepted(owner_client, factor):
    response = owner_client.post(CONNECTIONS, create_body(volumeFactorLive=factor), format="json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "url", [" https://api.bybit.com", "https://api.bybit.com/v5?x=1", "https://user@api.bybit.com"]
)
def test_a_base_url_of_another_shape_is_400(owner_client, url):
    assert_400(owner_client.post(CONNECTIONS, create_body(baseUrl=url), format="json"), "baseUrl")


def test_exchange_in_a_patch_is_400_naming_the_rule(owner_client, owner):
    connection = make_connection(owner)
    response = owner_client.patch(
        f"{CONNECTIONS}/{connection.pk}", {"exchange": "bybit"}, format="json"
    )
    assert_400(response, "exchange")
    assert "cannot change" in response.json()["error"]["message"]


def test_an_unknown_connection_id_in_a_batch_is_404_naming_it(owner_client):
    unknown = str(uuid.uuid4())
    response = owner_client.post(
        f"{CONNECTIONS}/batch-test", {"connectionIds": [unknown]}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {"connectionIds": [f"unknown: {unknown}"]}


def test_a_market_order_with_a_null_price_is_the_same_request_as_one_without(
    owner_client, make_paper_connection
):
    connection = make_paper_connection()
    body = order_body(connection, type="market", price=None, clientOrderId="same1")
    first = owner_client.post(ORDERS, body, format="json")
    assert first.status_code == 202, first.json()
    again = owner_client.post(ORDERS, {**body, "price": None}, format="json")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
