"""The stream runner keeps the dead-man switch of the connections it holds, against the
paper exchange (its REST and its own private streams): armed once the stream is live,
refreshed while it runs, and left armed when the runner goes, so the exchange cancels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connections.dead_man import connection_dead_man_set
from connections.models import ConnectionState, ExchangeConnection, StreamState
from connections.services import ConnectionSpec, connection_connector, connection_create
from orders.models import Order
from tests.django_fixtures import paper_stats
from tests.workers.conftest import LEASE_SECONDS, SCAN_SECONDS, db, place_open_order, until
from workers.user_streams import StreamRunner

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def window_scale(paper: str) -> Iterator[Any]:
    """TEST ONLY: the paper exchange's windows armed meanwhile last seconds x scale."""

    def scale(value: float) -> None:
        requests.post(f"{paper}/_paper/dead-man", json={"windowScale": value}, timeout=5)

    yield scale
    scale(1)


def switch_connection(owner: Any, exchange: str, seconds: int) -> ExchangeConnection:
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"{exchange}-dead-man", exchange=exchange, api_type="spot", environment="paper"
        ),
    )
    return connection_dead_man_set(connection=connection, actor=owner, seconds=seconds)


def armed_on_paper(paper: str, exchange: str, api_key: str) -> list[dict[str, Any]]:
    return [s for s in paper_stats(paper, exchange)["deadMan"]["armed"] if s["apiKey"] == api_key]


def order_status(connection: ExchangeConnection, order: Order) -> str:
    return (
        connection_connector(connection=connection)
        .get_order(order.symbol, exchange_order_id=order.exchange_order_id)
        .status
    )


async def holding(connection: ExchangeConnection) -> tuple[asyncio.Task[None], Any]:
    """A runner whose stream of the connection is live (connected, snapshot in)."""
    runner = StreamRunner(holder="r1", lease_seconds=LEASE_SECONDS, scan_seconds=SCAN_SECONDS)
    task = asyncio.create_task(runner.run(asyncio.Event()))
    await until(
        lambda: StreamState.objects.filter(
            connection=connection, state="connected", snapshot_at__isnull=False
        ).exists(),
        what="stream live",
    )
    return task, runner


async def killed(task: asyncio.Task[None]) -> None:
    """The runner goes without disarming anything (as a killed process would)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_a_held_countdown_switch_is_armed_refreshed_and_fires_once_the_runner_is_gone(
    owner, stream_settings, paper, window_scale
):
    window_scale(0.6)  # OKX's 10 s window lasts 6 s; the runner refreshes every 3.3 s
    connection = switch_connection(owner, "okx", seconds=10)
    order = place_open_order(connection, "ec000000000000000000000deadman01")
    api_key = connection_connector(connection=connection).credentials.api_key

    async def scenario() -> None:
        task, _ = await holding(connection)
        await until(
            lambda: ConnectionState.objects.filter(
                connection=connection, dead_man_armed_until__isnull=False
            ).exists(),
            what="armed",
        )
        assert [
            s["kind"] for s in await asyncio.to_thread(armed_on_paper, paper, "okx", api_key)
        ] == ["countdown"]
        await asyncio.sleep(7)  # longer than the window: the refreshes keep it
        assert await db(order_status, connection, order) == "open"
        await killed(task)
        await until(
            lambda: order_status(connection, order) == "canceled",
            timeout=10,
            what="canceled by the switch",
        )

    asyncio.run(scenario())
    assert armed_on_paper(paper, "okx", api_key) == []
    assert ConnectionState.objects.get(connection=connection).dead_man_error == ""


def test_a_held_bybit_stream_subscribes_dcp_and_losing_it_cancels_the_orders(
    owner, stream_settings, paper, window_scale
):
    window_scale(0.5)  # DCP's 3 s minimum: 1.5 s after the stream is lost
    connection = switch_connection(owner, "bybit", seconds=3)
    order = place_open_order(connection, "ec000000000000000000000deadman02")
    api_key = connection_connector(connection=connection).credentials.api_key

    async def scenario() -> None:
        task, _ = await holding(connection)
        await until(
            lambda: ConnectionState.objects.filter(
                connection=connection, dead_man_armed_seconds=3
            ).exists(),
            what="armed",
        )
        armed = await asyncio.to_thread(armed_on_paper, paper, "bybit", api_key)
        # set, and not counting down: a stream that subscribed dcp is up
        assert [(s["kind"], s["firesInSeconds"]) for s in armed] == [("disconnect", None)]
        await asyncio.sleep(2)
        assert await db(order_status, connection, order) == "open"
        await killed(task)
        await until(
            lambda: order_status(connection, order) == "canceled",
            timeout=10,
            what="canceled by DCP",
        )

    asyncio.run(scenario())
    assert paper_stats(paper, "bybit")["deadMan"]["ordersCanceled"] >= 1
