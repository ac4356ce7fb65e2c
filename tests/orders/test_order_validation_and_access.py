"""Bad input is a 400 validation_error and no row; other users' orders and connections
are 404 on every order endpoint."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from connections.models import ConnectionState
from orders.models import Order
from tests.orders.conftest import order_body

pytestmark = pytest.mark.django_db


def invalid(client: Any, body: Any) -> dict[str, Any]:
    response = client.post("/api/orders", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "validation_error"
    assert Order.objects.count() == 0
    return response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"side": "hold"}, "side"),
        ({"type": "stop"}, "type"),
        ({"price": None}, "price"),  # a limit order without a price
        ({"type": "market"}, "price"),  # a market order with a price
        ({"type": "market", "price": None, "timeInForce": "POST_ONLY"}, "timeInForce"),
        ({"quantity": "0"}, "quantity"),
        ({"quantity": "-1"}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"price": "0"}, "price"),
        ({"symbol": "not a symbol"}, "symbol"),
        ({"symbol": "BTC"}, "symbol"),
        ({"unknownField": 1}, "unknownField"),
        ({"timeInForce": "DAY"}, "timeInForce"),
        ({"quantity": True}, "quantity"),  # wrong JSON types
        ({"quantity": [1]}, "quantity"),
        ({"symbol": 123}, "symbol"),
        ({"reduceOnly": "yes"}, "reduceOnly"),
        ({"connectionId": 5}, "connectionId"),
        ({"leverage": "ten"}, "leverage"),
        ({"leverage": 0}, "leverage"),
        ({"clientOrderId": 42}, "clientOrderId"),
    ],
)
def test_bad_order_input_is_a_validation_error_and_no_row(owner_client, overrides, field):
    # refused by the serializer, before the connection is looked up
    body = {
        "connectionId": str(uuid.uuid4()),
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "price": "59000",
        **overrides,
    }
    fields = invalid(owner_client, {k: v for k, v in body.items() if v is not None})
    assert field in fields, fields


def unprocessable(client: Any, body: Any, code: str) -> dict[str, Any]:
    response = client.post("/api/orders", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == code
    assert Order.objects.count() == 0
    return response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "overrides, code",
    [
        ({"symbol": "DOGE/EUR"}, "symbol_not_traded"),  # well formed, not traded here
        ({"symbol": "BTC/USDT:USDT"}, "symbol_not_traded"),  # a perpetual on a spot connection
        ({"quantity": "0.000001"}, "below_minimum"),  # below the minimum 0.00001
    ],
)
def test_a_well_formed_order_the_exchange_cannot_take_is_422(
    owner_client, make_connection, overrides, code
):
    fields = unprocessable(owner_client, order_body(make_connection(), **overrides), code)
    assert set(fields) == set(overrides) - {"price"}, fields


def test_missing_fields_are_each_named(owner_client):
    fields = invalid(owner_client, {})
    assert {"connectionId", "symbol", "side", "type", "quantity"} <= set(fields)


def test_a_body_that_is_not_an_object_is_a_validation_error(owner_client):
    invalid(owner_client, ["connectionId"])


def test_a_quantity_below_the_minimum_after_the_volume_factor_is_refused(
    owner_client, make_connection
):
    connection = make_connection()
    ConnectionState.objects.filter(connection=connection).update(
        volume_factor_live=Decimal("0.0005")
    )
    # 0.01 x 0.0005 = 0.000005, under the 0.00001 lot: rounds to nothing
    fields = unprocessable(owner_client, order_body(connection), "below_minimum")
    assert fields == {"quantity": ["below the minimum"]}


def test_the_volume_factor_scales_the_quantity(owner_client, make_connection):
    connection = make_connection()
    ConnectionState.objects.filter(connection=connection).update(volume_factor_live=Decimal("0.5"))
    response = owner_client.post(
        "/api/orders", order_body(connection, quantity="0.02"), format="json"
    )
    assert response.status_code == 202, response.json()
    order = response.json()["order"]
    assert (order["requestedQuantity"], order["volumeFactor"], order["quantity"]) == (
        "0.02",
        "0.5",
        "0.01",
    )


@pytest.mark.parametrize(
    "exchange, client_order_id",
    [
        ("okx", "has_underscore"),  # OKX: letters and digits only
        ("okx", "a" * 33),  # OKX: at most 32
        ("bingx", "UPPER"),  # BingX lowercases: lower case only
        ("binance", "has space"),
    ],
)
def test_a_client_order_id_breaking_the_exchange_rule_is_refused(
    owner_client, make_connection, exchange, client_order_id
):
    connection = make_connection(exchange)
    body = order_body(connection, clientOrderId=client_order_id)
    if " " in client_order_id:  # outside what any exchange takes: the schema refuses it
        assert "clientOrderId" in invalid(owner_client, body)
        return
    fields = unprocessable(owner_client, body, "client_order_id_invalid")
    assert "clientOrderId" in fields


def test_an_unknown_connection_is_not_found(owner_client, make_connection):
    response = owner_client.post(
        "/api/orders",
        order_body(make_connection()) | {"connectionId": str(uuid.uuid4())},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Order.objects.count() == 0


def test_another_users_connection_is_not_found(outsider_client, make_connection):
    connection = make_connection()
    response = outsider_client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert Order.objects.count() == 0


@pytest.fixture
def owners_order(owner_client: Any, make_connection: Any) -> dict[str, Any]:
    response = owner_client.post("/api/orders", order_body(make_connection()), format="json")
    assert response.status_code == 202
    return response.json()["order"]


def test_the_owner_lists_and_reads_their_order(owner_client, owners_order):
    listed = owner_client.get("/api/orders").json()
    assert listed["count"] == 1 and listed["orders"][0]["id"] == owners_order["id"]
    assert listed["next"] is None and listed["previous"] is None
    read = owner_client.get(f"/api/orders/{owners_order['id']}")
    assert read.status_code == 200 and read.json()["order"] == listed["orders"][0]


def test_the_order_list_filters_and_pages(owner_client, make_connection):
    connection = make_connection(price_band_percent=None)
    for price in ("59000", "58000", "57000"):
        assert (
            owner_client.post(
                "/api/orders", order_body(connection, price=price), format="json"
            ).status_code
            == 202
        )
    page = owner_client.get(f"/api/orders?connectionId={connection.pk}&limit=2").json()
    assert page["count"] == 3 and len(page["orders"]) == 2
    assert page["next"] and page["previous"] is None
    assert owner_client.get("/api/orders?status=open").json()["count"] == 0
    assert owner_client.get("/api/orders?symbol=BTC/USDT").json()["count"] == 3
    assert owner_client.get("/api/orders?status=bogus").status_code == 400


def test_an_outsider_sees_none_of_the_owners_orders(outsider_client, owners_order):
    listed = outsider_client.get("/api/orders").json()
    assert listed["count"] == 0 and listed["orders"] == []
    response = outsider_client.get(f"/api/orders/{owners_order['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_an_outsider_cannot_cancel_the_owners_order(outsider_client, owners_order):
    response = outsider_client.post(f"/api/orders/{owners_order['id']}/cancel")
    assert response.status_code == 404
    assert Order.objects.get(pk=owners_order["id"]).status == "pending"


def test_an_outsider_cannot_cancel_all_on_the_owners_connection(outsider_client, owners_order):
    response = outsider_client.post(
        "/api/orders/cancel-all", {"connectionId": owners_order["connectionId"]}, format="json"
    )
    assert response.status_code == 404
    assert Order.objects.get(pk=owners_order["id"]).status == "pending"


@pytest.mark.parametrize(
    "path", ["/api/orders/not-a-uuid", "/api/orders/5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"]
)
def test_a_malformed_or_unknown_order_id_is_not_found(owner_client, path):
    assert owner_client.get(path).status_code == 404
    assert owner_client.post(f"{path}/cancel").status_code == 404


def test_an_anonymous_caller_is_not_authenticated(anonymous_client):
    assert anonymous_client.get("/api/orders").status_code == 401
    assert anonymous_client.post("/api/orders", {}, format="json").status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"connectionId": 5},
        {"connectionId": "x"},
        {"connectionId": str(uuid.uuid4()), "symbol": 1},
        {"connectionId": str(uuid.uuid4()), "extra": 1},
    ],
)
def test_bad_cancel_all_input_is_a_validation_error(owner_client, body):
    response = owner_client.post("/api/orders/cancel-all", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
