"""A small Bybit v5 private-stream server for the runner's tests (127.0.0.1, port 0).

It speaks what docs/streams.md records of Bybit: ``auth`` op with HMAC-SHA256 of
``GET/realtime{expires}``, ``subscribe``, JSON ``ping``/``pong``, and pushes on the
``order``, ``execution``, ``wallet`` and ``position`` topics. The signature is checked with
code of its own (not the protocol module's), and it counts authenticated sockets per API key,
so a test can prove that two streams of one account never ran at once. The paper exchange's
own stream server replaces it once it serves private streams.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web


class BybitStreamServer:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.sockets: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.max_concurrent: dict[str, int] = defaultdict(int)
        self.auth_attempts: dict[str, int] = defaultdict(int)
        self.refusing = False  # answer new connections with 503 (the stream is down)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/v5/private", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        await self.drop()
        if self.runner is not None:
            await self.runner.cleanup()

    def allow(self, api_key: str, api_secret: str) -> None:
        self.secrets[api_key] = api_secret

    def connected(self, api_key: str) -> int:
        return len(self.sockets[api_key])

    async def push(self, api_key: str, frame: dict[str, Any]) -> int:
        sent = 0
        for ws in list(self.sockets[api_key]):
            if not ws.closed:
                await ws.send_json(frame)
                sent += 1
        return sent

    async def drop(self) -> None:
        for sockets in self.sockets.values():
            for ws in list(sockets):
                await ws.close()

    def _signature_ok(self, api_key: str, expires: Any, signature: Any) -> bool:
        secret = self.secrets.get(api_key)
        if secret is None or not isinstance(expires, int):
            return False
        expected = hmac.new(
            secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, str(signature))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.refusing:
            return web.Response(status=503, text="down")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        api_key = None
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                op = frame.get("op")
                if op == "auth":
                    key, expires, signature = frame["args"]
                    self.auth_attempts[key] += 1
                    ok = self._signature_ok(key, expires, signature)
                    await ws.send_json(
                        {
                            "success": ok,
                            "op": "auth",
                            "conn_id": "c",
                            "ret_msg": "" if ok else "Params Error",
                        }
                    )
                    if not ok:
                        await ws.close()
                        break
                    api_key = key
                    self.sockets[key].add(ws)
                    self.max_concurrent[key] = max(self.max_concurrent[key], len(self.sockets[key]))
                elif op == "subscribe":
                    await ws.send_json(
                        {"success": True, "op": "subscribe", "conn_id": "c", "ret_msg": ""}
                    )
                elif op == "ping":
                    await ws.send_json({"op": "pong", "args": ["1"], "conn_id": "c"})
        except (asyncio.CancelledError, ConnectionResetError):
            pass
        finally:
            if api_key is not None:
                self.sockets[api_key].discard(ws)
        return ws


def order_frame(
    *,
    order_id: str,
    client_order_id: str,
    status: str,
    quantity: str,
    filled: str,
    average: str = "",
    updated_ms: int = 1,
) -> dict[str, Any]:
    return {
        "topic": "order",
        "creationTime": updated_ms,
        "data": [
            {
                "category": "spot",
                "symbol": "BTCUSDT",
                "orderId": order_id,
                "orderLinkId": client_order_id,
                "side": "Buy",
                "orderStatus": status,
                "qty": quantity,
                "price": "59000",
                "cumExecQty": filled,
                "avgPrice": average,
                "updatedTime": str(updated_ms),
            }
        ],
    }


def execution_frame(
    *,
    trade_id: str,
    order_id: str,
    client_order_id: str,
    quantity: str,
    price: str,
    time_ms: int = 1,
) -> dict[str, Any]:
    return {
        "topic": "execution",
        "creationTime": time_ms,
        "data": [
            {
                "category": "spot",
                "symbol": "BTCUSDT",
                "execId": trade_id,
                "orderId": order_id,
                "orderLinkId": client_order_id,
                "side": "Buy",
                "execPrice": price,
                "execQty": quantity,
                "execType": "Trade",
                "execFee": "0.0001",
                "feeCurrency": "BTC",
                "isMaker": True,
                "execTime": str(time_ms),
            }
        ],
    }


def wallet_frame(*, total: str, locked: str, time_ms: int) -> dict[str, Any]:
    return {
        "topic": "wallet",
        "creationTime": time_ms,
        "data": [
            {
                "accountType": "UNIFIED",
                "coin": [{"coin": "USDT", "walletBalance": total, "locked": locked}],
            }
        ],
    }
