"""The stream runner's fixtures: a paper connection (REST on the session's paper exchange)
whose stream URL points at a local Bybit stream server, and helpers for asyncio tests that
touch the database from threads (as the runner does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import close_old_connections

from connections.models import ExchangeConnection
from connections.services import (
    ConnectionSpec,
    connection_connector,
    connection_create,
    connection_credentials,
)
from exchanges.base import OrderRequest
from exchanges.hosts import url_endpoint
from orders.models import Order
from orders.transitions import order_transition

LEASE_SECONDS = 1.5
SCAN_SECONDS = 0.2
WAIT_SECONDS = 20.0


@pytest.fixture
def stream_settings(settings: Any, paper: str) -> Any:
    settings.STREAM_STATE_WRITE_SECONDS = 0.1
    settings.STREAM_LEASE_SECONDS = LEASE_SECONDS
    settings.STREAM_SCAN_SECONDS = SCAN_SECONDS
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset(settings.EXCHANGE_HOST_ALLOWLIST)
    return settings


@pytest.fixture
def bybit_connection(owner: Any, stream_settings: Any) -> ExchangeConnection:
    """A paper Bybit spot connection; the test points its ws_url at its own server."""
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="bybit-streams", exchange="bybit", api_type="spot", environment="paper"
        ),
    )


def point_stream_at(connection: ExchangeConnection, url: str) -> tuple[str, str]:
    """Set the connection's stream URL (the test server's; a direct update, as an operator's
    allowlisted host would be), allowlist the server for this test (the socket passes the
    destination check REST calls do) and return its (api key, secret) for the server."""
    # stream_settings has overridden settings already, so this lands in the test's override
    # and is undone with it
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset(settings.EXCHANGE_HOST_ALLOWLIST) | {
        url_endpoint(url)
    }
    ExchangeConnection.objects.filter(pk=connection.pk).update(ws_url=url)
    credentials = connection_credentials(connection=connection)
    return credentials["api_key"], credentials["api_secret"]


def place_open_order(connection: ExchangeConnection, client_order_id: str) -> Order:
    """A limit buy resting on the paper exchange, and its row, open, as submission leaves
    it."""
    connection.refresh_from_db()
    placed = connection_connector(connection=connection).place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            client_order_id=client_order_id,
            price=Decimal("59000"),
        )
    )
    order = Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=client_order_id,
        request_hash="x",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.01"),
        volume_factor=1,
        quantity=Decimal("0.01"),
        price=Decimal("59000"),
    )
    order_transition(order_id=order.pk, to_status="submitting", source="task")
    order_transition(
        order_id=order.pk,
        to_status="open",
        source="task",
        exchange_order_id=placed.exchange_order_id,
    )
    return Order.objects.get(pk=order.pk)


async def db(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A database call from an asyncio test, in a thread (the ORM is synchronous)."""

    def call() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return await asyncio.to_thread(call)


async def until(
    check: Callable[[], Any],
    *,
    timeout: float = WAIT_SECONDS,
    in_thread: bool = True,
    what: str = "condition",
) -> Any:
    """Poll ``check`` (a database read, in a thread, unless ``in_thread`` is False)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await db(check) if in_thread else check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        await asyncio.sleep(0.05)
