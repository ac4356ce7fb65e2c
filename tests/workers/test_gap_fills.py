"""A fill made while a connection's stream is down becomes a Fill row of its own when the
stream comes back: the snapshot on reconnect reads the exchange's recent fills over REST
(here the paper exchange's /v5/execution/list) and applies them like stream fills, once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import requests

from connections.models import StreamState
from orders.models import Fill, Order
from tests.workers.bybit_stream_server import BybitStreamServer, execution_frame
from tests.workers.conftest import (
    LEASE_SECONDS,
    SCAN_SECONDS,
    db,
    place_open_order,
    point_stream_at,
    until,
)
from workers.user_streams import StreamRunner

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_fill_made_while_the_stream_was_down_becomes_one_fill_row_after_reconnect(
    bybit_connection, paper
):
    order = place_open_order(bybit_connection, "ec0000000000000000000000gapfill01")

    async def scenario() -> None:
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        runner = StreamRunner(holder="r1", lease_seconds=LEASE_SECONDS, scan_seconds=SCAN_SECONDS)
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        await until(
            lambda: StreamState.objects.filter(
                connection=bybit_connection, state="connected", snapshot_at__isnull=False
            ).exists(),
            what="first snapshot in",
        )
        server.refusing = True
        await server.drop()
        await until(
            lambda: StreamState.objects.filter(
                connection=bybit_connection, state="reconnecting"
            ).exists(),
            what="reconnecting",
        )
        # filled on the exchange while nothing listens: no stream message will tell it
        answer = await asyncio.to_thread(
            requests.post,
            f"{paper}/_paper/fill",
            json={"exchange": "bybit", "clientOrderId": order.client_order_id},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        server.refusing = False
        await until(
            lambda: Fill.objects.filter(order_id=order.pk).exists(), what="gap fill recovered"
        )
        # the stream later repeats the same trade: nothing changes
        trade_id = await db(lambda: Fill.objects.get(order_id=order.pk).trade_id)
        await server.push(
            key,
            execution_frame(
                trade_id=trade_id,
                order_id=order.exchange_order_id,
                client_order_id=order.client_order_id,
                quantity="0.01",
                price="59000",
            ),
        )
        await asyncio.sleep(0.5)
        stop.set()
        await task
        await server.stop()

    asyncio.run(scenario())
    order = Order.objects.get(pk=order.pk)
    assert (order.status, order.filled_quantity, order.average_price) == (
        "filled",
        Decimal("0.01"),
        Decimal("59000"),
    )
    [fill] = Fill.objects.filter(connection=bybit_connection)
    assert (fill.order_id, fill.source, fill.symbol, fill.side) == (
        order.pk,
        "reconcile",
        "BTC/USDT",
        "buy",
    )
    assert (fill.quantity, fill.price, fill.liquidity) == (
        Decimal("0.01"),
        Decimal("59000"),
        "maker",
    )
    assert fill.exchange_order_id == order.exchange_order_id
    assert fill.client_order_id == order.client_order_id
