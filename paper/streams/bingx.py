"""BingX private streams on the paper exchange: a REST listen key in the socket URL and
gzip-compressed binary frames for everything the server sends.

Listen keys: ``POST /openApi/user/auth/userDataStream`` with ``X-BX-APIKEY`` ->
``{"listenKey"}`` (valid 60 minutes, a new key each time); ``PUT`` / ``DELETE`` with
``?listenKey=`` (200; 204 without the parameter; 404 for an unknown key).

Swap: ``/bingx/swap-market?listenKey=``; no subscription, every account event is pushed:
``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, ``listenKeyExpired``. The server sends ``Ping``
(every 5 s) and the client answers ``Pong``.

Spot: ``/bingx/market?listenKey=``; subscribe ``{"id", "reqType": "sub", "dataType":
"spot.executionReport" | "ACCOUNT_UPDATE"}`` (ack ``{"id", "code": 0, "msg": ""}``); pushes
``{"code": 0, "dataType", "data": {...}}``. The server sends ``{"ping": id, "time"}`` and the
client answers ``{"pong": id, "time"}``.

UNVERIFIED: the swap fill's last quantity/price/trade id/maker fields (``l``, ``L``, ``td``,
``m``) and ``c`` on spot. PAPER-ONLY: the handshake refusal of an unknown listen key (HTTP
401, code 100413), the code of an unknown ``dataType`` (100400).
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from aiohttp import web

from paper.engine import EngineEvent, PaperAccount, PaperOrder
from paper.streams.base import (
    LINEAR,
    SPOT,
    BadFrame,
    Connection,
    Frame,
    Outgoing,
    StreamServer,
    cumulative_quote,
    num,
    parse_json,
    product_of,
    split_symbol,
)
from paper.streams.hub import StreamHub

KEY_HEADER = "X-BX-APIKEY"
SPOT_TOPICS = ("spot.executionReport", "ACCOUNT_UPDATE")
STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "expired": "EXPIRED",
    "rejected": "FAILED",
}


def bingx_symbol(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}-{quote}"


def execution_type(event: EngineEvent) -> str:
    order = event.order
    assert order is not None
    if event.kind == "accepted":
        return "NEW"
    if event.kind == "fill":
        return "TRADE"
    return "CANCELED" if order.canceled_by_user else "EXPIRED"


class BingxStreams(StreamServer):
    exchange: ClassVar[str] = "bingx"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (("/swap-market", LINEAR), ("/market", SPOT))
    ping_interval: float | None = 5.0

    def handshake_refusal(self, request: web.Request, product: str) -> web.Response | None:
        found = self.hub.listen_keys.find(self.exchange, request.query.get("listenKey", ""))
        if found is None:
            return web.json_response(
                {"code": 100413, "msg": "listenKey is invalid or expired"}, status=401
            )
        return None

    def opened(self, conn: Connection, request: web.Request) -> None:
        found = self.hub.listen_keys.find(self.exchange, request.query["listenKey"])
        assert found is not None
        conn.listen_key, conn.api_key = found.key, found.api_key
        if conn.product == LINEAR:
            conn.channels.add("swap")  # every swap account event, unasked

    def wire_frame(self, frame: Frame) -> Frame:
        return gzip.compress(frame.encode() if isinstance(frame, str) else frame)

    def send_heartbeat(self, conn: Connection) -> None:
        if conn.product == LINEAR:
            conn.send("Ping")
        else:
            conn.send_json(
                {
                    "ping": uuid.uuid4().hex,
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
            )

    def received(self, conn: Connection, text: str) -> None:
        if text.strip() == "Pong":
            conn.unanswered_pings = 0
            return
        try:
            frame = parse_json(text)
        except BadFrame:
            conn.send_json({"code": 100400, "msg": "Invalid parameters"})
            return
        if isinstance(frame, dict) and "pong" in frame:
            conn.unanswered_pings = 0
            return
        if not isinstance(frame, dict) or conn.product == LINEAR:
            conn.send_json(
                {
                    "id": frame.get("id", "") if isinstance(frame, dict) else "",
                    "code": 100400,
                    "msg": "Invalid parameters",
                }
            )
            return
        self._subscribe(conn, frame)

    def _subscribe(self, conn: Connection, frame: dict[str, Any]) -> None:
        request_id, kind, topic = frame.get("id", ""), frame.get("reqType"), frame.get("dataType")
        if kind not in ("sub", "unsub") or topic not in SPOT_TOPICS:
            conn.send_json(
                {"id": request_id, "code": 100400, "msg": f"dataType {topic} is not supported"}
            )
            return
        if kind == "sub":
            conn.channels.add(topic)
        else:
            conn.channels.discard(topic)
        conn.send_json({"id": request_id, "code": 0, "msg": "", "dataType": topic})

    def listen_key_expired(self, conn: Connection) -> None:
        payload = {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": conn.listen_key}
        if conn.product == SPOT:
            payload = {"code": 0, "dataType": "listenKeyExpired", "data": payload}
        conn.push(self.encode(conn, Outgoing("swap", conn.product, payload)))
        conn.close(1000, "listen key expired")

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return message.product == conn.product and message.channel in conn.channels

    # -- renderers -------------------------------------------------------------------------

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        if event.kind == "closed" and order.status == "filled":
            return []
        if product_of(order.symbol) == SPOT:
            data = self._execution_report(order, event)
            return [
                Outgoing(
                    "spot.executionReport",
                    SPOT,
                    {"code": 0, "dataType": "spot.executionReport", "data": data},
                )
            ]
        return [Outgoing("swap", LINEAR, self._order_trade_update(order, event))]

    def _execution_report(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill, now = event.fill, self.now_ms()
        return {
            "e": "executionReport",
            "E": now,
            "s": bingx_symbol(order.symbol),
            "S": order.side.upper(),
            "o": order.type.upper(),
            "q": num(order.quantity),
            "p": num(order.price),
            "x": execution_type(event),
            "X": STATUS[order.status],
            "i": int(order.order_id),
            "c": order.client_order_id or "",
            "l": num(fill.quantity if fill else None),
            "z": num(order.filled_quantity),
            "L": num(fill.price if fill else None),
            "n": num(-fill.fee if fill else None),
            "N": fill.fee_asset if fill else "",
            "T": fill.time_ms if fill else now,
            "t": int(fill.trade_id) if fill else 0,
            "m": fill.maker if fill else False,
            "O": order.created_ms,
            "Z": num(cumulative_quote(order)),
            "Y": num(fill.quantity * fill.price if fill else None),
            "Q": "0",
        }

    def _order_trade_update(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill, now = event.fill, self.now_ms()
        return {
            "e": "ORDER_TRADE_UPDATE",
            "E": now,
            "o": {
                "s": bingx_symbol(order.symbol),
                "c": order.client_order_id or "",
                "i": int(order.order_id),
                "S": order.side.upper(),
                "o": order.type.upper(),
                "q": num(order.quantity),
                "p": num(order.price),
                "sp": "0",
                "ap": num(order.average_price),
                "x": execution_type(event),
                "X": STATUS[order.status],
                "N": fill.fee_asset if fill else split_symbol(order.symbol)[1],
                "n": num(-fill.fee if fill else None),
                "T": fill.time_ms if fill else now,
                "wt": "MARK_PRICE",
                "ps": "BOTH",
                "rp": "0",
                "z": num(order.filled_quantity),
                "ro": order.reduce_only,
                "l": num(fill.quantity if fill else None),
                "L": num(fill.price if fill else None),
                "td": fill.trade_id if fill else "",
                "m": fill.maker if fill else False,
            },
        }

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        if not assets.get(SPOT):
            return []  # swap wallets change with fills (render_positions) and transfers
        rows = [
            {"a": asset, "bc": "0", "cw": num(free), "wb": num(free + locked), "lk": num(locked)}
            for asset in assets[SPOT]
            for free, locked in [self.balance_of(account, asset)]
        ]
        return [
            Outgoing(
                "ACCOUNT_UPDATE",
                SPOT,
                {
                    "code": 0,
                    "dataType": "ACCOUNT_UPDATE",
                    "data": {
                        "e": "ACCOUNT_UPDATE",
                        "E": self.now_ms(),
                        "a": {"B": rows, "m": "ORDER"},
                    },
                },
            )
        ]

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        symbols = list(symbols)
        quotes = list(dict.fromkeys(split_symbol(s)[1] for s in symbols))
        return [self._account_update(account, quotes, symbols, "ORDER")]

    def render_funding(self, event: EngineEvent) -> list[Outgoing]:
        account = self.engine.account(self.exchange, event.api_key)
        assert account is not None
        return [self._account_update(account, list(event.deltas), [], "DEPOSIT")]

    def _account_update(
        self, account: PaperAccount, assets: list[str], symbols: list[str], reason: str
    ) -> Outgoing:
        balances = [
            {"a": asset, "wb": num(free + locked), "cw": num(free + locked), "bc": "0"}
            for asset in assets
            for free, locked in [self.balance_of(account, asset)]
        ]
        positions = [
            {
                "s": bingx_symbol(symbol),
                "pa": num(position.quantity if position else None),
                "ep": num(position.entry_price if position else None),
                "up": num(position.unrealized_pnl if position else None),
                "mt": "cross",
                "iw": "0",
                "ps": "BOTH",
                "cr": "0",
            }
            for symbol, position in self.positions_for(account, symbols)
        ]
        return Outgoing(
            "swap",
            LINEAR,
            {
                "e": "ACCOUNT_UPDATE",
                "E": self.now_ms(),
                "a": {"m": reason, "B": balances, "P": positions},
            },
        )


# -- REST: listen keys (under /bingx, behind its gate) ------------------------------------------


def rest_routes(hub: StreamHub) -> list[web.RouteDef]:
    path = "/openApi/user/auth/userDataStream"

    async def create(request: web.Request) -> web.Response:
        account = hub.engine.account("bingx", request.headers.get(KEY_HEADER, ""))
        if account is None:  # a refused listen key counts as a refused stream auth
            request["signature_failed"] = True
            hub.count("bingx", auth_failures=1)
            return web.json_response({"code": 100413, "msg": "Incorrect apiKey"}, status=401)
        # one key opens either socket: the path it connects to chooses the product
        found = hub.listen_keys.create("bingx", account.api_key, "", shared=False)
        return web.json_response({"listenKey": found.key})

    def existing(request: web.Request) -> str | web.Response:
        key = request.query.get("listenKey", "")
        if not key:
            return web.Response(status=204)
        if hub.listen_keys.find("bingx", key) is None:
            return web.json_response({"code": 404, "msg": "listenKey does not exist"}, status=404)
        return key

    async def keep_alive(request: web.Request) -> web.Response:
        key = existing(request)
        if isinstance(key, web.Response):
            return key
        hub.listen_keys.keep_alive("bingx", key)
        return web.json_response({})

    async def delete(request: web.Request) -> web.Response:
        key = existing(request)
        if isinstance(key, web.Response):
            return key
        hub.listen_keys.delete("bingx", key)
        hub.listen_key_gone("bingx", [key], expired=False)
        return web.json_response({})

    return [web.post(path, create), web.put(path, keep_alive), web.delete(path, delete)]
