"""Placing, filling and canceling through the API, a real worker and the paper exchange."""

from __future__ import annotations

import time

import pytest
import requests

from connections.services import connection_create
from orders.models import Order

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_status(order_id, statuses, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        order = Order.objects.get(pk=order_id)
        if order.status in statuses:
            return order
        assert time.monotonic() < deadline, f"order stuck in {order.status}"
        time.sleep(0.1)


@pytest.mark.parametrize("exchange, api_type, symbol", [
    ("binance", "spot", "BTC/USDT"), ("bybit", "spot", "BTC/USDT"),
    ("okx", "spot", "BTC/USDT"), ("bingx", "spot", "BTC/USDT"),
    ("pionex", "spot", "BTC/USDT"), ("orangex", "perpetual_futures", "BTC/USDT:USDT")])
def test_a_limit_order_is_placed_found_and_canceled(owner_client, owner, paper, celery_worker,
                                                    exchange, api_type, symbol):
    connection = connection_create(owner=owner, actor=owner, values={
        "name": exchange, "exchange": exchange, "api_type": api_type, "environment": "paper"})
    response = owner_client.post("/api/orders", {
        "connectionId": str(connection.pk), "symbol": symbol, "side": "buy", "type": "limit",
        "quantity": "0.01", "price": "59000"}, format="json")
    assert response.status_code == 202, response.json()
    order_id = response.json()["order"]["id"]
    order = wait_for_status(order_id, ("open",))
    assert order.exchange_order_id
    stats = requests.get(f"{paper}/_paper/stats", timeout=5).json()["exchanges"][exchange]
    assert stats["ordersByClientId"][order.client_order_id] == 1
    cancel = owner_client.post(f"/api/orders/{order_id}/cancel")
    assert cancel.status_code == 202
    wait_for_status(order_id, ("canceled",))
