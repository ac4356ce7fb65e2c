"""What the private-stream tests share: the whole paper exchange (``build_app``) in-process on
aiohttp's TestServer with shrunk heartbeats, raw aiohttp WebSocket clients, control calls,
and a frame reader with a deadline. The tests sign with their own code (never the
connectors', never ``exchanges/streams``)."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from paper.engine import Engine
from paper.server import build_app
from paper.streams import StreamTiming

WAIT_SECONDS = 3.0
QUIET_SECONDS = 0.3
CLOSED = "closed"


class Paper:
    def __init__(self, client: TestClient, engine: Engine) -> None:
        self.client, self.engine = client, engine

    async def control(
        self, path: str, body: Any = None, *, method: str = "POST"
    ) -> tuple[int, Any]:
        response = await self.client.request(method, f"/_paper/{path}", json=body)
        return response.status, await response.json()

    async def account(
        self, exchange: str, balances: Mapping[str, str] | None = None
    ) -> tuple[str, str, str]:
        key, secret = f"stream{secrets.token_hex(8)}", secrets.token_hex(16)
        passphrase = f"Pp{secrets.token_hex(4)}" if exchange == "okx" else ""
        body = {
            "exchange": exchange,
            "apiKey": key,
            "apiSecret": secret,
            "balances": dict(balances or {"USDT": "100000", "BTC": "2", "ETH": "20"}),
        }
        if passphrase:
            body["passphrase"] = passphrase
        status, answer = await self.control("accounts", body)
        assert status == 201, answer
        return key, secret, passphrase

    async def fill(self, exchange: str, order_id: str, quantity: str | None = None) -> Any:
        body = {"exchange": exchange, "orderId": order_id}
        if quantity is not None:
            body["quantity"] = quantity
        status, answer = await self.control("fill", body)
        assert status == 200, answer
        return answer["order"]

    async def fault(self, exchange: str, action: str, api_key: str | None = None) -> int:
        body = {"exchange": exchange, "action": action}
        if api_key:
            body["apiKey"] = api_key
        status, answer = await self.control("streams", body)
        assert status == 200, answer
        return answer["matched"]

    async def stream_stats(self, exchange: str) -> dict[str, int]:
        _, stats = await self.control("stats", method="GET")
        return stats["exchanges"][exchange]["streams"]

    async def ws(self, path: str, **kwargs: Any) -> ClientWebSocketResponse:
        return await self.client.ws_connect(path, autoping=False, **kwargs)


def run(
    scenario: Callable[[Paper], Awaitable[None]],
    timing: Mapping[str, Mapping[str, float | None]] | None = None,
) -> None:
    async def main() -> None:
        engine = Engine(None)
        app = build_app(engine, limits={}, stream_timing=StreamTiming(dict(timing or {})))
        async with TestClient(TestServer(app)) as client:
            await scenario(Paper(client, engine))

    asyncio.run(main())


async def frame(
    ws: ClientWebSocketResponse, *, timeout: float = WAIT_SECONDS, gunzip: bool = False
) -> Any:
    """The next data frame, parsed as JSON where it is JSON (text otherwise); ``CLOSED``
    when the socket closed; pings and pongs are skipped unless asked for with ``raw``."""
    while True:
        message = await ws.receive(timeout=timeout)
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            return CLOSED
        if message.type in (WSMsgType.PING, WSMsgType.PONG):
            continue
        data = message.data
        if isinstance(data, bytes):
            data = gzip.decompress(data) if gunzip else data
            data = data.decode()
        try:
            return json.loads(data)
        except ValueError:
            return data


async def frames_until(
    ws: ClientWebSocketResponse,
    done: Callable[[list[Any]], bool],
    *,
    timeout: float = WAIT_SECONDS,
    gunzip: bool = False,
) -> list[Any]:
    """Frames read until ``done(frames)`` holds (or the socket closes)."""
    seen: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done(seen):
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"timed out; frames so far: {seen}")
        got = await frame(ws, timeout=left, gunzip=gunzip)
        seen.append(got)
        if got == CLOSED:
            break
    return seen


async def quiet(
    ws: ClientWebSocketResponse, *, seconds: float = QUIET_SECONDS, gunzip: bool = False
) -> list[Any]:
    """Every frame that arrives within ``seconds`` (none expected, usually)."""
    seen: list[Any] = []
    try:
        while True:
            got = await frame(ws, timeout=seconds, gunzip=gunzip)
            seen.append(got)
            if got == CLOSED:
                return seen
    except TimeoutError:
        return seen


async def closed_abruptly(ws: ClientWebSocketResponse, *, timeout: float = WAIT_SECONDS) -> bool:
    """True when the socket ended without a close frame from the server (code 1006)."""
    while True:
        message = await ws.receive(timeout=timeout)
        if message.type == WSMsgType.CLOSE:
            return False
        if message.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
            return ws.close_code in (None, 1006)
