"""The whole stack under every fault that loses an answer after the exchange acted on it:
an order placed through the API and a real worker lands on the exchange exactly once and
settles, and its cancel, whose answer is lost the same way, is looked up and settles too.

All six exchanges run side by side in each test (one order each), so a fault costs one
exchange timeout, not six. The worker's whole-request deadline is shrunk (tests/conftest.py)
so a stall or a trickle meets it quickly.
"""

from __future__ import annotations

import pytest

from orders.models import Order
from tests.django_fixtures import paper_stats, set_faults
from tests.orders.conftest import EXCHANGES, order_body, wait_for_status
from tests.paper import clear_faults

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

WORKER_TIMEOUT_MS = 3000  # tests/conftest.py gives the worker EXCHANGE_TIMEOUT_SECONDS=3
FAULTS = {
    "drop": {"dropAfterAcceptRate": 1},
    "truncate": {"truncateAfterAcceptRate": 1},
    "reset": {"resetAfterAcceptRate": 1},
    "stall": {"stallAfterAcceptMs": WORKER_TIMEOUT_MS + 1500},
    "html": {"htmlAfterAcceptRate": 1},
    "trickle": {"trickleMs": 150},
}
SETTLE_SECONDS = 40


@pytest.mark.parametrize("fault", FAULTS)
def test_an_order_and_its_cancel_settle_exactly_once_when_their_answers_are_lost(
    owner_client, paper, celery_worker, make_connection, fault
):
    connections = {
        exchange: make_connection(exchange, api_type) for exchange, api_type, _ in EXCHANGES
    }
    for exchange in connections:
        set_faults(paper, exchange, endpoint="writes", **FAULTS[fault])
    try:
        placed = {}
        for exchange, connection in connections.items():
            response = owner_client.post("/api/orders", order_body(connection), format="json")
            assert response.status_code == 202, (exchange, response.json())
            placed[exchange] = response.json()["order"]["id"]
        opened = {
            exchange: wait_for_status(order_id, ("open",), timeout=SETTLE_SECONDS)
            for exchange, order_id in placed.items()
        }
        for exchange, order in opened.items():
            assert paper_stats(paper, exchange)["ordersByClientId"][order.client_order_id] == 1, (
                exchange
            )
            assert order.exchange_order_id, exchange

        for exchange, order in opened.items():
            response = owner_client.post(f"/api/orders/{order.pk}/cancel")
            assert response.status_code in (200, 202), (exchange, response.json())
        for exchange, order in opened.items():
            canceled = wait_for_status(order.pk, ("canceled",), timeout=SETTLE_SECONDS)
            assert canceled.status == "canceled", exchange
    finally:
        clear_faults(paper)
    for exchange, order in opened.items():
        row = Order.objects.get(pk=order.pk)
        assert row.attempts == 1, (exchange, "the lost answer was looked up, not resent")
        assert paper_stats(paper, exchange)["ordersByClientId"][row.client_order_id] == 1
