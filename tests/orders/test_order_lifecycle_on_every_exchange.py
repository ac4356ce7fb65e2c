"""Every exchange, through the API, a real worker and the paper exchange: a limit order is
placed, read back, partly filled (seen by reconciliation) and canceled; a market order fills.
Replaces the former smoke test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, OrderEvent
from orders.reconcile import orders_reconcile
from tests.django_fixtures import paper_stats
from tests.orders.conftest import EXCHANGES, order_body, paper_post, wait_for_status

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("exchange, api_type, symbol", EXCHANGES)
def test_a_limit_order_is_placed_read_partly_filled_reconciled_and_canceled(
    owner_client, paper, celery_worker, make_connection, exchange, api_type, symbol
):
    connection = make_connection(exchange, api_type)
    response = owner_client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 202, response.json()
    body = response.json()["order"]
    assert body["status"] in ("pending", "submitting", "open")
    assert body["symbol"] == symbol and body["quantity"] == "0.01"
    assert "Idempotent-Replayed" not in response.headers
    order = wait_for_status(body["id"], ("open",))
    assert order.exchange_order_id and order.attempts == 1
    assert paper_stats(paper, exchange)["ordersByClientId"][order.client_order_id] == 1
    events = list(order.events.values_list("to_status", "source"))
    # a send our own limiter deferred goes back to pending once (one event however long the
    # wait) and is claimed again quietly; it was never sent meanwhile
    waited = [("pending", "task")] if len(events) == 4 else []
    assert events == [("pending", "api"), ("submitting", "task"), *waited, ("open", "task")]

    read = owner_client.get(f"/api/orders/{order.pk}")
    assert read.status_code == 200
    assert read.json()["order"]["status"] == "open"
    assert read.json()["order"]["exchangeOrderId"] == order.exchange_order_id
    listed = owner_client.get(f"/api/orders?connectionId={connection.pk}&status=open").json()
    assert [o["id"] for o in listed["orders"]] == [str(order.pk)] and listed["count"] == 1

    paper_post(
        paper,
        "/_paper/fill",
        {"exchange": exchange, "orderId": order.exchange_order_id, "quantity": "0.004"},
    )
    assert orders_reconcile().refreshing == 1
    order = wait_for_status(order.pk, ("partially_filled",))
    assert order.filled_quantity == Decimal("0.004")
    assert OrderEvent.objects.filter(
        order=order, to_status="partially_filled", source="reconcile"
    ).exists()

    cancel = owner_client.post(f"/api/orders/{order.pk}/cancel")
    assert cancel.status_code == 202, cancel.json()
    assert cancel.json()["order"]["cancelRequested"] is True
    order = wait_for_status(order.pk, ("canceled",))
    assert order.filled_quantity == Decimal("0.004")  # a cancel never takes fills back
    assert owner_client.get(f"/api/orders/{order.pk}").json()["order"]["status"] == "canceled"


@pytest.mark.parametrize("exchange, api_type, symbol", EXCHANGES)
def test_a_market_order_fills(
    owner_client, paper, celery_worker, make_connection, exchange, api_type, symbol
):
    connection = make_connection(exchange, api_type)
    response = owner_client.post(
        "/api/orders", order_body(connection, type="market", price=None), format="json"
    )
    assert response.status_code == 202, response.json()
    assert response.json()["order"]["price"] is None
    order = wait_for_status(response.json()["order"]["id"], ("filled",))
    assert order.filled_quantity == order.quantity == Decimal("0.01")
    assert order.average_price == Decimal("60000")
    assert paper_stats(paper, exchange)["ordersByClientId"][order.client_order_id] == 1
    assert Order.objects.count() == 1
