"""Lost answers never make a second order: the order is looked up by its client id, and
resent (same client id) only once the original can no longer be accepted."""

from __future__ import annotations

import time
from typing import Any

import pytest

from orders import submission
from orders.models import Order, OrderEvent
from tests.django_fixtures import paper_stats, set_faults
from tests.orders.conftest import order_body, settle_as_the_task_would, wait_for_status
from tests.paper import clear_faults


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "exchange, api_type",
    [
        ("binance", "spot"),
        ("okx", "spot"),
        # no lookup by client id: matched instead
        ("orangex", "perpetual_futures"),
    ],
)
def test_an_order_accepted_but_unanswered_is_found_and_becomes_open(
    owner_client, paper, celery_worker, make_connection, exchange, api_type
):
    connection = make_connection(exchange, api_type)
    set_faults(paper, exchange, dropAfterAcceptRate=1.0)  # only order writes are dropped
    try:
        response = owner_client.post("/api/orders", order_body(connection), format="json")
        assert response.status_code == 202, response.json()
        order = wait_for_status(response.json()["order"]["id"], ("open",))
    finally:
        clear_faults(paper)
    stats = paper_stats(paper, exchange)
    assert stats["droppedAfterAccept"] >= 1
    assert stats["ordersByClientId"][order.client_order_id] == 1
    assert order.attempts == 1 and order.exchange_order_id


def _place_pending(client: Any, connection: Any) -> Order:
    response = client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 202, response.json()
    # the pre-checks filled our limiter's 1 s window (Binance: 10 per second); without the
    # pause the send is refused by our own throttle before it leaves
    time.sleep(1.1)
    return Order.objects.get(pk=response.json()["order"]["id"])


def _sends_meet_5xx(paper: str, exchange: str) -> None:
    """Every order write of the exchange meets a 5xx (answered before the handler runs:
    nothing is stored); reads are untouched, so the lookups answer."""
    set_faults(paper, exchange, endpoint="writes", error5xxRate=1.0)


@pytest.mark.django_db
def test_a_5xx_on_send_is_looked_up_then_resent_once_after_the_deadline(
    owner_client, paper, make_connection
):
    connection = make_connection("binance")
    order = _place_pending(owner_client, connection)
    _sends_meet_5xx(paper, "binance")
    requests_before = paper_stats(paper, "binance")["requests"].get("POST /api/v3/order", 0)

    first = submission.order_submit(order_id=order.pk)
    clear_faults(paper)
    assert first.status == "unknown" and first.settle_in, "looked up, then waits the deadline"
    assert settle_as_the_task_would(order.pk, first).status == "open"

    order.refresh_from_db()
    assert order.status == "open" and order.attempts == 2
    assert order.submit_deadline_ms  # recvWindow: the first send carried a deadline
    stats = paper_stats(paper, "binance")
    assert stats["requests"]["POST /api/v3/order"] - requests_before == 2
    assert stats["ordersByClientId"][order.client_order_id] == 1
    assert OrderEvent.objects.filter(
        order=order, data__reason="resent: the original can no longer be accepted"
    ).exists()


@pytest.mark.django_db
def test_when_lookups_fail_too_the_order_is_unknown_and_reconciliation_settles_it(
    owner_client, paper, make_connection
):
    connection = make_connection("binance")
    order = _place_pending(owner_client, connection)
    set_faults(paper, "binance", error5xxRate=1.0)  # writes and reads alike
    try:
        assert submission.order_submit(order_id=order.pk).status == "unknown"
    finally:
        clear_faults(paper)
    order.refresh_from_db()
    assert order.status == "unknown" and order.attempts == 1

    first = submission.order_settle(order_id=order.pk, source="reconcile")
    assert first.status == "unknown", "one lookup that finds nothing proves nothing"
    assert settle_as_the_task_would(order.pk, first).status == "open"
    order.refresh_from_db()
    assert order.status == "open" and order.attempts == 2
    assert paper_stats(paper, "binance")["ordersByClientId"][order.client_order_id] == 1
    assert OrderEvent.objects.filter(order=order, to_status="open").exists()


@pytest.mark.django_db
def test_an_order_is_not_resent_while_its_deadline_is_too_far_away(
    owner_client, paper, make_connection
):
    """Pionex's timestamp window (closing 8 s after signing): the order is left unknown,
    to be looked at again after its deadline, rather than resent early."""
    connection = make_connection("pionex")
    order = _place_pending(owner_client, connection)
    _sends_meet_5xx(paper, "pionex")
    outcome = submission.order_submit(order_id=order.pk)
    clear_faults(paper)
    assert outcome.status == "unknown" and outcome.settle_in
    order.refresh_from_db()
    assert order.status == "unknown" and order.attempts == 1
    assert order.client_order_id not in paper_stats(paper, "pionex")["ordersByClientId"]
