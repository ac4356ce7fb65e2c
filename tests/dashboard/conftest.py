"""Dashboard fixtures: connections, health checks and orders written straight to the tables
at known times (the dashboard only reads them; the services that write them have their own
tests)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection, HealthCheck, StreamState
from orders.models import Order, OrderEvent

_numbers = itertools.count(1)


def make_connection(
    owner: Any,
    *,
    name: str,
    exchange: str = "okx",
    api_type: str = "spot",
    environment: str = "paper",
    **state: Any,
) -> ExchangeConnection:
    connection = ExchangeConnection.objects.create(
        owner=owner, name=name, exchange=exchange, api_type=api_type, environment=environment
    )
    ConnectionState.objects.create(connection=connection, **state)
    return connection


def add_checks(
    connection: ExchangeConnection,
    *,
    at: datetime,
    latencies: list[int | None],
    failed: int = 0,
    error_code: str = "exchange_unavailable",
) -> None:
    """Passed checks with ``latencies`` and ``failed`` failed ones, all at ``at``."""
    rows = [
        HealthCheck(connection=connection, checked_at=at, ok=True, latency_ms=latency)
        for latency in latencies
    ]
    rows += [
        HealthCheck(
            connection=connection, checked_at=at, ok=False, latency_ms=None, error_code=error_code
        )
        for _ in range(failed)
    ]
    HealthCheck.objects.bulk_create(rows)


def add_order(
    connection: ExchangeConnection,
    *,
    at: datetime,
    status: str = "filled",
    placed_after_ms: int | None = 120,
    flagged: bool = False,
) -> Order:
    """An order created at ``at`` whose first event out of pending came ``placed_after_ms``
    later (None: no such event yet)."""
    number = next(_numbers)
    order = Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=f"dash-{number}",
        request_hash=f"{number:064d}",
        symbol="BTC/USDT",
        side="buy",
        type="market",
        requested_quantity=Decimal("0.01"),
        volume_factor=Decimal("1"),
        quantity=Decimal("0.01"),
        status=status,
        flagged=flagged,
    )
    Order.objects.filter(pk=order.pk).update(created_at=at)
    submitting = OrderEvent.objects.create(
        order=order, from_status="pending", to_status="submitting", source="task"
    )
    OrderEvent.objects.filter(pk=submitting.pk).update(created_at=at + timedelta(milliseconds=5))
    if placed_after_ms is not None:
        event = OrderEvent.objects.create(
            order=order, from_status="submitting", to_status=status, source="task"
        )
        OrderEvent.objects.filter(pk=event.pk).update(
            created_at=at + timedelta(milliseconds=placed_after_ms)
        )
    return order


def set_stream(connection: ExchangeConnection, **values: Any) -> StreamState:
    return StreamState.objects.create(connection=connection, **values)


@pytest.fixture
def now() -> datetime:
    return timezone.now()
