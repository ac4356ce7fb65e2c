"""Cancel: pending orders locally, open ones on the exchange, terminal ones never;
cancel-all is the kill switch of a connection."""

from __future__ import annotations

import pytest

from orders.models import Order, OrderEvent
from orders.transitions import order_transition
from tests.django_fixtures import paper_stats
from tests.orders.conftest import DEFAULT_EXCHANGE, order_body, wait_for_status


@pytest.mark.django_db
def test_a_pending_order_is_canceled_here_and_never_sent(owner_client, paper, make_connection):
    # no worker and a test transaction: the submit task is never enqueued, so it stays pending
    response = owner_client.post("/api/orders", order_body(make_connection()), format="json")
    order_id = response.json()["order"]["id"]
    cancel = owner_client.post(f"/api/orders/{order_id}/cancel")
    assert cancel.status_code == 200
    assert cancel.json()["order"]["status"] == "canceled"
    order = Order.objects.get(pk=order_id)
    assert list(order.events.values_list("from_status", "to_status", "source")) == [
        ("", "pending", "api"),
        ("pending", "canceled", "api"),
    ]
    assert order.client_order_id not in paper_stats(paper, DEFAULT_EXCHANGE)["ordersByClientId"]
    again = owner_client.post(f"/api/orders/{order_id}/cancel")  # idempotent
    assert again.status_code == 200 and again.json()["order"]["status"] == "canceled"
    assert order.events.count() == 2


@pytest.mark.django_db
def test_a_pending_order_canceled_before_its_task_runs_is_not_sent(
    owner_client, paper, make_connection
):
    from orders.submission import order_submit

    response = owner_client.post("/api/orders", order_body(make_connection()), format="json")
    order_id = response.json()["order"]["id"]
    Order.objects.filter(pk=order_id).update(cancel_requested=True)
    assert order_submit(order_id=order_id).status == "canceled"
    assert order_submit(order_id=order_id).status == "not pending"  # a second copy does nothing
    order = Order.objects.get(pk=order_id)
    assert order.status == "canceled" and order.attempts == 0
    assert order.client_order_id not in paper_stats(paper, DEFAULT_EXCHANGE)["ordersByClientId"]


@pytest.mark.django_db
@pytest.mark.parametrize("terminal", ["filled", "rejected", "expired", "failed"])
def test_a_terminal_order_is_not_cancelable(owner_client, make_connection, terminal):
    response = owner_client.post("/api/orders", order_body(make_connection()), format="json")
    order_id = response.json()["order"]["id"]
    order_transition(order_id=order_id, to_status="submitting", source="task")
    fills = (
        {"filled_quantity": Order.objects.get(pk=order_id).quantity} if terminal == "filled" else {}
    )
    order_transition(order_id=order_id, to_status=terminal, source="task", **fills)
    cancel = owner_client.post(f"/api/orders/{order_id}/cancel")
    assert cancel.status_code == 409
    assert cancel.json()["error"]["code"] == "order_not_cancelable"
    assert Order.objects.get(pk=order_id).status == terminal


@pytest.mark.django_db
@pytest.mark.parametrize("unsettled", ["submitting", "unknown"])
def test_an_unsettled_order_is_canceled_once_settled(owner_client, make_connection, unsettled):
    response = owner_client.post("/api/orders", order_body(make_connection()), format="json")
    order_id = response.json()["order"]["id"]
    order_transition(order_id=order_id, to_status="submitting", source="task")
    if unsettled == "unknown":
        order_transition(order_id=order_id, to_status="unknown", source="task")
    cancel = owner_client.post(f"/api/orders/{order_id}/cancel")
    assert cancel.status_code == 202
    assert cancel.json()["order"]["status"] == unsettled
    assert cancel.json()["order"]["cancelRequested"] is True


@pytest.mark.django_db(transaction=True)
def test_cancel_all_cancels_one_symbol_then_every_open_order(
    owner_client, paper, celery_worker, make_connection
):
    connection = make_connection()
    ids = []
    for body in (
        order_body(connection),
        order_body(connection, price="58500"),
        order_body(connection, symbol="ETH/USDT", quantity="0.1", price="2950"),
    ):
        response = owner_client.post("/api/orders", body, format="json")
        assert response.status_code == 202, response.json()
        ids.append(response.json()["order"]["id"])
    for order_id in ids:
        wait_for_status(order_id, ("open",))

    response = owner_client.post(
        "/api/orders/cancel-all",
        {"connectionId": str(connection.pk), "symbol": "BTC/USDT"},
        format="json",
    )
    assert response.status_code == 202
    assert response.json() == {"success": True, "canceled": 2}
    for order_id in ids[:2]:
        wait_for_status(order_id, ("canceled",))
    assert Order.objects.get(pk=ids[2]).status == "open"

    response = owner_client.post(
        "/api/orders/cancel-all", {"connectionId": str(connection.pk)}, format="json"
    )
    assert response.json() == {"success": True, "canceled": 1}
    wait_for_status(ids[2], ("canceled",))
    assert OrderEvent.objects.filter(order_id__in=ids, to_status="canceled").count() == 3
