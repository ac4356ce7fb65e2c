"""GET /api/orders/{id}/fills: the order's trades, camelCase, owner-scoped."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from orders.models import Fill, Order
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(owner) -> Order:
    connection = make_connection(owner)
    order = Order.objects.create(
        owner=owner,
        connection=connection,
        client_order_id="ec000000000000000000000fillsapi",
        request_hash="x",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("1"),
        volume_factor=1,
        quantity=Decimal("1"),
        price=Decimal("50000"),
        status="filled",
        filled_quantity=Decimal("1"),
    )
    for trade_id, quantity, second in (("t-2", "0.6", 2), ("t-1", "0.4", 1)):
        Fill.objects.create(
            connection=connection,
            order=order,
            trade_id=trade_id,
            exchange_order_id="x-1",
            client_order_id=order.client_order_id,
            symbol="BTC/USDT",
            side="buy",
            price=Decimal("50000.5"),
            quantity=Decimal(quantity),
            fee=Decimal("-0.0001"),
            fee_asset="BTC",
            liquidity="maker",
            traded_at=datetime.fromtimestamp(1_700_000_000 + second, tz=UTC),
        )
    Fill.objects.create(
        connection=connection,
        trade_id="t-other",
        symbol="BTC/USDT",
        side="sell",
        price=Decimal("1"),
        quantity=Decimal("1"),
        traded_at=datetime.now(tz=UTC),
    )
    return order


def test_the_owner_lists_the_orders_fills_oldest_first_in_camel_case(owner_client, order):
    response = owner_client.get(f"/api/orders/{order.pk}/fills")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [fill["tradeId"] for fill in body["fills"]] == ["t-1", "t-2"]
    assert body["fills"][0] == {
        "tradeId": "t-1",
        "orderId": str(order.pk),
        "exchangeOrderId": "x-1",
        "clientOrderId": order.client_order_id,
        "symbol": "BTC/USDT",
        "side": "buy",
        "price": "50000.5",
        "quantity": "0.4",
        "fee": "-0.0001",
        "feeAsset": "BTC",
        "liquidity": "maker",
        "source": "stream",
        "tradedAt": "2023-11-14T22:13:21Z",
        "createdAt": body["fills"][0]["createdAt"],
    }


def test_an_order_without_fills_lists_none(owner_client, order):
    Fill.objects.filter(order=order).delete()
    assert owner_client.get(f"/api/orders/{order.pk}/fills").json() == {
        "success": True,
        "fills": [],
    }


def test_another_owners_order_fills_are_not_found(outsider_client, order):
    response = outsider_client.get(f"/api/orders/{order.pk}/fills")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("order_id", ["5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f", "not-a-uuid"])
def test_an_unknown_or_malformed_order_id_is_not_found(owner_client, order_id):
    assert owner_client.get(f"/api/orders/{order_id}/fills").status_code == 404


def test_staff_read_any_owners_fills(staff_client, order):
    assert len(staff_client.get(f"/api/orders/{order.pk}/fills").json()["fills"]) == 2


def test_fills_need_a_login(anonymous_client, order):
    assert anonymous_client.get(f"/api/orders/{order.pk}/fills").status_code == 401
