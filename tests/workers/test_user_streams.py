"""The stream runner end to end: a real runner (asyncio, its own Redis leases, database
threads) against a local Bybit private-stream server on 127.0.0.1, with REST snapshots
against the session's paper exchange."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import requests

from connections.models import ConnectionState, ConnectionSyncLog, StreamState
from orders.models import Fill, Order
from tests.workers.bybit_stream_server import (
    BybitStreamServer,
    execution_frame,
    order_frame,
    wallet_frame,
)
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


def runner(holder: str) -> StreamRunner:
    return StreamRunner(holder=holder, lease_seconds=LEASE_SECONDS, scan_seconds=SCAN_SECONDS)


async def started(server: BybitStreamServer, connection, api_key: str, holder: str = "r1"):
    """A runner whose stream of the connection is connected and whose snapshot is in."""
    stream_runner = runner(holder)
    stop = asyncio.Event()
    task = asyncio.create_task(stream_runner.run(stop))
    await until(lambda: server.connected(api_key) == 1, in_thread=False, what="connected")
    await until(
        lambda: StreamState.objects.filter(
            connection=connection, state="connected", snapshot_at__isnull=False
        ).exists(),
        what="snapshot in",
    )
    return stream_runner, stop, task


def test_a_fill_on_the_stream_reaches_the_order_and_a_fill_row_without_reconciliation(
    bybit_connection,
):
    order = place_open_order(bybit_connection, "ec0000000000000000000000stream01")

    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        _, stop, task = await started(server, bybit_connection, key)
        eid, cid = order.exchange_order_id, order.client_order_id
        await server.push(
            key,
            execution_frame(
                trade_id="t-1", order_id=eid, client_order_id=cid, quantity="0.004", price="59000"
            ),
        )
        await server.push(
            key,
            execution_frame(
                trade_id="t-2", order_id=eid, client_order_id=cid, quantity="0.006", price="58000"
            ),
        )
        await server.push(
            key,
            order_frame(
                order_id=eid,
                client_order_id=cid,
                status="Filled",
                quantity="0.01",
                filled="0.01",
                average="58400",
            ),
        )
        # the same frames again: nothing changes
        await server.push(
            key,
            execution_frame(
                trade_id="t-2", order_id=eid, client_order_id=cid, quantity="0.006", price="58000"
            ),
        )
        await server.push(
            key,
            order_frame(
                order_id=eid, client_order_id=cid, status="New", quantity="0.01", filled="0"
            ),
        )
        await server.push(key, wallet_frame(total="1000", locked="100", time_ms=10**13))
        await until(
            lambda: Order.objects.filter(pk=order.pk, status="filled").exists(), what="order filled"
        )
        await asyncio.sleep(0.3)
        stop.set()
        await task
        await server.stop()

    asyncio.run(scenario())
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_price) == (
        "filled",
        Decimal("0.01"),
        Decimal("58400"),
    )
    assert list(Fill.objects.filter(order=order).values_list("trade_id", flat=True)) == [
        "t-1",
        "t-2",
    ]
    assert not order.events.filter(source="reconcile").exists()
    assert order.events.filter(to_status="filled").count() == 1
    balance = bybit_connection.ledger_balances.get(asset="USDT")
    assert (balance.total, balance.free, balance.source) == (
        Decimal("1000"),
        Decimal("900"),
        "stream",
    )


def test_a_fill_made_while_the_stream_was_down_is_recovered_by_the_snapshot_on_reconnect(
    bybit_connection, paper
):
    order = place_open_order(bybit_connection, "ec0000000000000000000000streamgap")

    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        _, stop, task = await started(server, bybit_connection, key)
        server.refusing = True
        await server.drop()
        await until(
            lambda: StreamState.objects.filter(
                connection=bybit_connection, state="reconnecting"
            ).exists(),
            what="reconnecting",
        )
        # filled on the exchange while nothing listens; no stream message will tell it
        answer = await asyncio.to_thread(
            requests.post,
            f"{paper}/_paper/fill",
            json={"exchange": "bybit", "clientOrderId": order.client_order_id},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        server.refusing = False
        await until(
            lambda: Order.objects.filter(pk=order.pk, status="filled").exists(),
            what="order recovered",
        )
        stop.set()
        await task
        await server.stop()

    asyncio.run(scenario())
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("filled", Decimal("0.01"))
    event = order.events.get(to_status="filled")
    assert (event.source, event.data["reason"]) == ("reconcile", "stream snapshot: read back")
    state = StreamState.objects.get(connection=bybit_connection)
    assert state.reconnects >= 1


def test_a_refused_stream_auth_opens_the_circuit_and_stops_retrying_that_connection(
    bybit_connection,
):
    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, _ = await db(point_stream_at, bybit_connection, url)
        server.allow(key, "not-the-secret")
        stream_runner = runner("r1")
        stop = asyncio.Event()
        task = asyncio.create_task(stream_runner.run(stop))
        await until(
            lambda: ConnectionState.objects.filter(
                connection=bybit_connection, circuit="open"
            ).exists(),
            what="circuit open",
        )
        await asyncio.sleep(LEASE_SECONDS + 5 * SCAN_SECONDS)  # scans come and go
        held = stream_runner.held()
        stop.set()
        await task
        await server.stop()
        return server.auth_attempts[key], held

    attempts, held = asyncio.run(scenario())
    assert attempts == 1
    assert held == set()
    state = ConnectionState.objects.get(connection=bybit_connection)
    assert (state.circuit, state.last_error_code) == ("open", "authentication_failed")
    assert ConnectionSyncLog.objects.filter(
        connection_id=str(bybit_connection.pk), action="circuit_opened"
    ).exists()
    stream = StreamState.objects.get(connection=bybit_connection)
    assert stream.state == "down"
    assert "auth refused" in stream.last_error


def test_the_streams_state_and_heartbeat_are_written_while_it_is_live(
    bybit_connection, owner_client
):
    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        _, stop, task = await started(server, bybit_connection, key, holder="runner-a")
        await server.push(key, wallet_frame(total="5", locked="0", time_ms=10**13))
        await until(
            lambda: ConnectionState.objects.filter(
                connection=bybit_connection, last_heartbeat_at__isnull=False
            ).exists(),
            what="heartbeat",
        )
        live = await db(owner_client.get, f"/api/settings/connections/{bybit_connection.pk}")
        health = await db(owner_client.get, "/api/settings/connections/health")
        stop.set()
        await task
        await server.stop()
        return live.json(), health.json()

    live, health = asyncio.run(scenario())
    stream = live["connection"]["stream"]
    assert (stream["state"], stream["holder"]) == ("connected", "runner-a")
    assert stream["lastMessageAgeMs"] is not None and stream["snapshotAt"] is not None
    assert health["connections"][0]["stream"]["state"] == "connected"
    assert StreamState.objects.get(connection=bybit_connection).state == "down"  # stopped
