"""The stream driver against a tiny local WebSocket server (127.0.0.1, port 0) speaking
Bybit's private-stream protocol: auth, subscribe, pushes, silence, refused auth."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from aiohttp import WSMsgType, web

from exchanges.base import Credentials
from exchanges.streams.base import Heartbeat
from exchanges.streams.bybit import BybitStream, auth_signature
from exchanges.streams.session import AuthRefused, Backoff, StreamSession

CREDENTIALS = Credentials("key", "secret")
ORDER = {
    "topic": "order",
    "creationTime": 1,
    "data": [
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "orderId": "o-1",
            "orderLinkId": "c-1",
            "side": "Buy",
            "orderStatus": "Filled",
            "qty": "0.01",
            "cumExecQty": "0.01",
            "avgPrice": "50000",
            "updatedTime": "2",
        }
    ],
}


class QuickBybit(BybitStream):
    heartbeat = Heartbeat(
        interval_seconds=0.05, dead_after_seconds=0.3, send=json.dumps({"op": "ping"})
    )


async def serve(handler):
    app = web.Application()
    app.router.add_get("/v5/private", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"ws://127.0.0.1:{port}"


def bybit_handler(*, auth_ok=True, push=True, seen=None):
    async def handler(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            (seen if seen is not None else []).append(frame)
            if frame["op"] == "auth":
                _key, expires, signature = frame["args"]
                ok = auth_ok and signature == auth_signature("secret", expires)
                await ws.send_json(
                    {
                        "success": ok,
                        "ret_msg": "" if ok else "Params Error",
                        "op": "auth",
                        "conn_id": "c",
                    }
                )
            elif frame["op"] == "subscribe":
                await ws.send_json({"success": True, "ret_msg": "", "op": "subscribe"})
                if push:
                    await ws.send_json(ORDER)
                    await ws.send_json(ORDER)  # a repeat parses to the same update
            elif frame["op"] == "ping" and push:
                await ws.send_json({"op": "pong", "args": ["1"], "conn_id": "c"})
        return ws

    return handler


def session_for(base, updates, states, **kwargs):
    return StreamSession(
        QuickBybit("perpetual_futures"),
        credentials=CREDENTIALS,
        environment="paper",
        base=base,
        on_updates=updates.extend,
        on_state=lambda state, reason: states.append((state, reason)),
        backoff=Backoff(base_seconds=0.01, cap_seconds=0.02),
        **kwargs,
    )


def test_session_authenticates_subscribes_and_delivers_updates():
    async def scenario():
        seen: list = []
        runner, base = await serve(bybit_handler(seen=seen))
        updates: list = []
        states: list = []
        stop = asyncio.Event()
        session = session_for(base, updates, states)
        task = asyncio.create_task(session.run(stop))
        for _ in range(100):
            if len(updates) >= 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)
        await runner.cleanup()
        return seen, updates, states

    seen, updates, states = asyncio.run(scenario())
    assert [frame["op"] for frame in seen[:2]] == ["auth", "subscribe"]
    assert updates[0] == updates[1]
    assert (updates[0].symbol, updates[0].status, updates[0].filled_quantity) == (
        "BTC/USDT:USDT",
        "filled",
        Decimal("0.01"),
    )
    assert ("connected", "") in states
    assert states[-1] == ("down", "stopped")


def test_a_silent_stream_is_declared_dead_and_reconnected():
    async def scenario():
        runner, base = await serve(bybit_handler(push=False))
        states: list = []
        stop = asyncio.Event()
        session = session_for(base, [], states)
        task = asyncio.create_task(session.run(stop))
        for _ in range(200):
            if any(reason == "silent" for _, reason in states):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)
        await runner.cleanup()
        return session, states

    session, states = asyncio.run(scenario())
    assert ("reconnecting", "silent") in states
    assert session.reconnects >= 1


def test_a_refused_key_stops_the_session_instead_of_looping():
    async def scenario():
        runner, base = await serve(bybit_handler(auth_ok=False))
        states: list = []
        session = session_for(base, [], states)
        try:
            with pytest.raises(AuthRefused, match="Params Error"):
                await asyncio.wait_for(session.run(asyncio.Event()), 2)
        finally:
            await runner.cleanup()
        return session, states

    session, states = asyncio.run(scenario())
    assert session.reconnects == 0
    assert states[-1][0] == "down"


class UnansweredBybit(QuickBybit):
    """A protocol whose server does not answer auth before we subscribe (as Pionex
    futures): its refusal comes later, among the stream's frames."""

    auth_acknowledged = False


def test_a_refusal_after_an_unacknowledged_auth_stops_the_session_instead_of_looping():
    attempts: list = []

    async def refuse_then_close(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        attempts.append(request)
        await ws.receive()  # our auth
        await ws.send_json({"success": False, "ret_msg": "Invalid apikey", "op": "auth"})
        await ws.close(code=1008)
        return ws

    async def scenario():
        runner, base = await serve(refuse_then_close)
        session = StreamSession(
            UnansweredBybit("spot"),
            credentials=CREDENTIALS,
            environment="paper",
            base=base,
            on_updates=lambda u: None,
            backoff=Backoff(base_seconds=0.01, cap_seconds=0.02),
        )
        try:
            with pytest.raises(AuthRefused, match="Invalid apikey"):
                await asyncio.wait_for(session.run(asyncio.Event()), 2)
        finally:
            await runner.cleanup()
        return session

    assert asyncio.run(scenario()).reconnects == 0
    assert len(attempts) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_a_handshake_refused_for_the_credentials_stops_the_session(status):
    """Credentials in the URL (a signed query, a listen key) refused at the upgrade: an
    auth refusal, not a passing fault to reconnect after."""
    attempts: list = []

    async def refuse(request):
        attempts.append(request)
        return web.json_response({"code": "INVALID_APIKEY"}, status=status)

    async def scenario():
        runner, base = await serve(refuse)
        states: list = []
        session = session_for(base, [], states)
        try:
            with pytest.raises(AuthRefused, match=str(status)):
                await asyncio.wait_for(session.run(asyncio.Event()), 2)
        finally:
            await runner.cleanup()
        return session

    assert asyncio.run(scenario()).reconnects == 0
    assert len(attempts) == 1


def test_a_handshake_refused_otherwise_is_retried():
    attempts: list = []

    async def unavailable(request):
        attempts.append(request)
        return web.Response(status=503)

    async def scenario():
        runner, base = await serve(unavailable)
        stop = asyncio.Event()
        session = session_for(base, [], [])
        task = asyncio.create_task(session.run(stop))
        while len(attempts) < 2:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 2)
        await runner.cleanup()
        return session

    assert asyncio.run(scenario()).reconnects >= 1


def test_backoff_grows_to_its_cap_with_jitter_and_a_floor():
    backoff = Backoff(base_seconds=1, cap_seconds=60, floor_seconds=0.2)
    assert backoff.delay(0, rng=lambda: 1.0) == 1
    assert backoff.delay(10, rng=lambda: 1.0) == 60
    assert backoff.delay(3, rng=lambda: 0.5) == 4
    assert backoff.delay(3, rng=lambda: 0.0) == 0.2
