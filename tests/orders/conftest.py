"""Order-test helpers: paper connections, placing through the API, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import requests

from connections.models import ExchangeConnection
from connections.services import ConnectionSpec, connection_create
from orders.models import Order

EXCHANGES = [
    ("bybit", "spot", "BTC/USDT"),
    ("binance", "spot", "BTC/USDT"),
    ("okx", "spot", "BTC/USDT"),
    ("bingx", "spot", "BTC/USDT"),
    ("pionex", "spot", "BTC/USDT"),
    ("orangex", "perpetual_futures", "BTC/USDT:USDT"),
]
WAIT_SECONDS = 20
# OKX: the most generous per-second budget of the six (our limiter makes Binance's
# 10 per second cost about a second per pre-check), so exchange-neutral tests are fast
DEFAULT_EXCHANGE = "okx"


def wait_for_status(
    order_id: object, statuses: Iterable[str], timeout: float = WAIT_SECONDS
) -> Order:
    """Poll the row until it reaches one of ``statuses`` (bounded)."""
    wanted = tuple(statuses)
    deadline = time.monotonic() + timeout
    while True:
        order = Order.objects.get(pk=order_id)
        if order.status in wanted:
            return order
        assert time.monotonic() < deadline, (
            f"order stuck in {order.status}, wanted {wanted}; events: "
            f"{list(order.events.values_list('to_status', 'source', 'data'))}"
        )
        time.sleep(0.1)


def wait_until(check: Callable[[], Any], timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def paper_post(paper_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{paper_url}{path}", json=body, timeout=5)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def make_connection(owner: Any, paper: str) -> Callable[..., ExchangeConnection]:
    """A paper connection of the owner (the paper account is provisioned over HTTP)."""

    def make(
        exchange: str = DEFAULT_EXCHANGE, api_type: str = "spot", *, user: Any = None, **fields: Any
    ) -> ExchangeConnection:
        user = user or owner
        connection = connection_create(
            owner=user,
            actor=user,
            spec=ConnectionSpec(
                name=f"{exchange}-{api_type}",
                exchange=exchange,
                api_type=api_type,
                environment="paper",
            ),
        )
        if fields:
            ExchangeConnection.objects.filter(pk=connection.pk).update(**fields)
            connection.refresh_from_db()
        return connection

    return make


def order_body(connection: ExchangeConnection, **overrides: Any) -> dict[str, Any]:
    """A limit buy 1.7% under the paper price: accepted, rests open."""
    perpetual = connection.api_type == "perpetual_futures"
    body: dict[str, Any] = {
        "connectionId": str(connection.pk),
        "symbol": "BTC/USDT:USDT" if perpetual else "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "price": "59000",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def settle_as_the_task_would(order_id: object, first: Any = None, *, runs: int = 20) -> Any:
    """Follow the fast settle path in this thread: settle again after each outcome's
    ``settle_in`` until the order is settled (the worker's settle task does the same with
    countdowns). Returns the last outcome."""
    from orders.submission import order_settle

    outcome = first
    for _ in range(runs):
        if outcome is not None and outcome.settle_in is None and outcome.status != "busy":
            return outcome
        if outcome is not None:
            time.sleep(outcome.settle_in or 0.5)
        outcome = order_settle(order_id=order_id, source="task")
    return outcome


def submit_as_the_task_would(order_id: object, *, runs: int = 10) -> Any:
    """Run the submit service again after each outcome's ``retry_in`` (a wait for budget,
    a read that failed), as the task's retries would. Returns the last outcome."""
    from orders.submission import order_submit

    outcome = order_submit(order_id=order_id)
    for _ in range(runs):
        if outcome.retry_in is None:
            break
        time.sleep(outcome.retry_in)
        outcome = order_submit(order_id=order_id)
    return outcome
