"""Pionex private streams on the paper exchange.

Spot: ``/pionex/ws?key=<apiKey>&timestamp=<ms>&signature=<hex>``, the signature hex
HMAC-SHA256(secret, "/ws?" + the other parameters sorted + "websocket_auth"), checked at the
handshake (timestamp within 20 s). Futures: ``/pionex/wsUA``, then ``{"op": "auth", "args":
[apiKey, timestamp, hex HMAC-SHA256(secret, timestamp + "websocket_auth")]}``.

Both: ``{"op": "SUBSCRIBE" | "UNSUBSCRIBE", "topic", "symbol"?}`` answered ``{"type":
"SUBSCRIBED" | "UNSUBSCRIBED", "topic", "symbol"}``; topics ``ORDER`` and ``FILL`` per symbol
(futures also ``ALL``), ``BALANCE`` (no symbol), futures ``POSITION``. Messages ``{"topic",
"symbol"?, "timestamp", "data"}``. The server sends ``{"op": "PING", "timestamp"}`` every 15 s
and closes after 3 unanswered; the client answers ``{"op": "PONG", "timestamp"}``.

PAPER-ONLY (nothing documented): no answer to a good futures ``auth``; a refused one gets
``{"type": "ERROR", "code", "message"}`` and the socket closes (1008); the same error shape
for bad subscriptions (codes ``TRADE_INVALID_TOPIC``, ``TRADE_INVALID_SYMBOL`` from the
facts); the handshake refusal of a bad signed query (HTTP 401 with Pionex's REST body).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from paper.engine import EngineEvent, PaperAccount, PaperOrder
from paper.streams.base import (
    LINEAR,
    SPOT,
    BadFrame,
    Connection,
    Outgoing,
    StreamServer,
    cumulative_fee,
    cumulative_quote,
    num,
    parse_json,
    product_of,
    split_symbol,
)
from paper.wire import hmac_sha256_hex, same_secret, staleness

AUTH_SUFFIX = "websocket_auth"
WINDOW_MS = 20_000
TOPICS = {SPOT: ("ORDER", "FILL", "BALANCE"), LINEAR: ("ORDER", "FILL", "BALANCE", "POSITION")}
PER_SYMBOL = ("ORDER", "FILL", "POSITION")


def spot_signature(secret: str, params: Mapping[str, str]) -> str:
    query = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
    return hmac_sha256_hex(secret, f"/ws?{query}{AUTH_SUFFIX}")


def futures_signature(secret: str, timestamp: str) -> str:
    return hmac_sha256_hex(secret, f"{timestamp}{AUTH_SUFFIX}")


def pionex_symbol(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}_{quote}_PERP" if product_of(symbol) == LINEAR else f"{base}_{quote}"


class PionexStreams(StreamServer):
    exchange: ClassVar[str] = "pionex"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (("/ws", SPOT), ("/wsUA", LINEAR))
    ping_interval: float | None = 15.0
    max_missed_pongs: int | None = 3

    # -- auth ------------------------------------------------------------------------------

    def _credentials_problem(
        self, key: str, timestamp: str, signature: str, expected: Any
    ) -> tuple[str, str] | None:
        account = self.engine.account(self.exchange, key)
        if account is None:
            return "INVALID_APIKEY", "Invalid API key"
        if not timestamp.isdigit() or staleness(
            int(timestamp), self.now_ms(), behind_ms=WINDOW_MS, ahead_ms=WINDOW_MS
        ):
            return "INVALID_TIMESTAMP", "Invalid timestamp"
        if not same_secret(signature, expected(account.api_secret)):
            return "INVALID_SIGNATURE", "Invalid signature"
        return None

    def handshake_refusal(self, request: web.Request, product: str) -> web.Response | None:
        if product == LINEAR:
            return None
        params = dict(request.query)
        problem = self._credentials_problem(
            params.get("key", ""),
            params.get("timestamp", ""),
            params.get("signature", ""),
            lambda secret: spot_signature(secret, params),
        )
        if problem is None:
            return None
        return web.json_response(
            {
                "result": False,
                "code": problem[0],
                "message": problem[1],
                "timestamp": self.now_ms(),
            },
            status=401,
        )

    def opened(self, conn: Connection, request: web.Request) -> None:
        if conn.product == SPOT:
            account = self.engine.account(self.exchange, request.query["key"])
            assert account is not None
            self.authenticate(conn, account)

    def _auth(self, conn: Connection, frame: dict[str, Any]) -> None:
        args = frame.get("args")
        problem: tuple[str, str] | None = (
            "PARAMETER_ERROR",
            "args: [apiKey, timestamp, signature]",
        )
        if isinstance(args, list) and len(args) == 3:
            key, stamp, signature = (str(a) for a in args)
            problem = self._credentials_problem(
                key, stamp, signature, lambda secret: futures_signature(secret, stamp)
            )
        if problem is not None:
            self.refuse_auth()
            self._error(conn, *problem)
            conn.close(1008, problem[1])
            return
        account = self.engine.account(self.exchange, str(args[0]))  # type: ignore[index]
        assert account is not None
        self.authenticate(conn, account)

    def _error(self, conn: Connection, code: str, message: str) -> None:
        conn.send_json(
            {"type": "ERROR", "code": code, "message": message, "timestamp": self.now_ms()}
        )

    # -- client frames ---------------------------------------------------------------------

    def send_heartbeat(self, conn: Connection) -> None:
        conn.send_json({"op": "PING", "timestamp": self.now_ms()})

    def received(self, conn: Connection, text: str) -> None:
        try:
            frame = parse_json(text)
        except BadFrame:
            self._error(conn, "PARAMETER_ERROR", "invalid JSON")
            return
        op = frame.get("op") if isinstance(frame, dict) else None
        if op == "PONG":
            conn.unanswered_pings = 0
        elif op == "auth" and conn.product == LINEAR:
            self._auth(conn, frame)
        elif op in ("SUBSCRIBE", "UNSUBSCRIBE"):
            self._subscribe(conn, frame, op)
        else:
            self._error(conn, "TRADE_INVALID_OP", f"invalid op {op!r}")

    def _subscribe(self, conn: Connection, frame: dict[str, Any], op: str) -> None:
        if not conn.authenticated:
            self._error(conn, "NOT_AUTHENTICATED", "authenticate first")
            return
        topic, symbol = frame.get("topic"), frame.get("symbol")
        if topic not in TOPICS[conn.product]:
            self._error(conn, "TRADE_INVALID_TOPIC", f"invalid topic {topic!r}")
            return
        if topic in PER_SYMBOL and not self._symbol_ok(conn, symbol):
            self._error(conn, "TRADE_INVALID_SYMBOL", f"invalid symbol {symbol!r}")
            return
        key = f"{topic}:{symbol if topic in PER_SYMBOL else ''}"
        if op == "SUBSCRIBE":
            conn.channels.add(key)
        else:
            conn.channels.discard(key)
        answer = {"type": f"{op}D", "topic": topic}
        if topic in PER_SYMBOL:
            answer["symbol"] = symbol
        conn.send_json(answer)

    def _symbol_ok(self, conn: Connection, symbol: Any) -> bool:
        if symbol == "ALL":
            return conn.product == LINEAR
        names = {
            pionex_symbol(i.symbol)
            for i in self.engine.instruments(self.exchange)
            if i.kind == conn.product
        }
        return symbol in names

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        if message.product not in ("", conn.product):
            return False
        if message.channel in PER_SYMBOL:
            return (
                f"{message.channel}:{message.symbol}" in conn.channels
                or f"{message.channel}:ALL" in conn.channels
            )
        return f"{message.channel}:" in conn.channels

    # -- renderers -------------------------------------------------------------------------

    def _message(self, topic: str, product: str, data: Any, symbol: str = "") -> Outgoing:
        payload: dict[str, Any] = {"topic": topic}
        if symbol:
            payload["symbol"] = symbol
        payload |= {"timestamp": self.now_ms(), "data": data}
        return Outgoing(topic, product, payload, symbol)

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        if event.kind == "closed" and order.status == "filled":
            return []
        product, symbol = product_of(order.symbol), pionex_symbol(order.symbol)
        messages = [self._message("ORDER", product, self._order_row(order), symbol)]
        fill = event.fill
        if fill is not None:
            row: dict[str, Any] = {
                "id": int(fill.trade_id),
                "orderId": int(order.order_id),
                "symbol": symbol,
                "side": order.side.upper(),
                "role": "MAKER" if fill.maker else "TAKER",
                "price": num(fill.price),
                "size": num(fill.quantity),
                "fee": num(fill.fee),
                "feeCoin": fill.fee_asset,
                "timestamp": fill.time_ms,
            }
            if product == LINEAR:
                row["feeType"] = "TRADING"
            messages.append(self._message("FILL", product, row, symbol))
        return messages

    def _order_row(self, order: PaperOrder) -> dict[str, Any]:
        product = product_of(order.symbol)
        row: dict[str, Any] = {
            "orderId": int(order.order_id),
            "symbol": pionex_symbol(order.symbol),
            "type": "MARKET" if order.type == "market" else "LIMIT",
            "side": order.side.upper(),
            "price": num(order.price) if order.price else "",
            "size": num(order.quantity),
            "filledSize": num(order.filled_quantity),
            "filledAmount": num(cumulative_quote(order)),
            "fee": num(cumulative_fee(order)),
            "feeCoin": order.fills[-1].fee_asset if order.fills else "",
            "status": "OPEN" if order.is_open else "CLOSED",
            "clientOrderId": order.client_order_id or "",
            "createTime": order.created_ms,
            "updateTime": order.updated_ms,
        }
        if product == SPOT:
            row["IOC"] = order.time_in_force == "IOC"
        else:
            row |= {
                "positionMode": "BUYSELL",
                "isolatedMode": "CROSS",
                "positionSide": "BOTH",
                "origSize": num(order.quantity),
                "amount": "",
                "reduceOnly": order.reduce_only,
                "source": "API",
            }
        return row

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        messages = []
        for product in (SPOT, LINEAR):
            if not assets.get(product):
                continue
            rows = []
            for asset in assets[product]:
                free, locked = self.balance_of(account, asset)
                row = {"coin": asset, "free": num(free), "frozen": num(locked)}
                rows.append(row | ({"debts": "0"} if product == LINEAR else {}))
            data: dict[str, Any] = {"balances": rows, "timestamp": self.now_ms()}
            if product == LINEAR:
                data = {"type": "CROSS", **data}
            messages.append(self._message("BALANCE", product, data))
        return messages

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        messages = []
        for symbol, position in self.positions_for(account, symbols):
            quantity = position.quantity if position else Decimal(0)
            entry = position.entry_price if position else Decimal(0)
            now = self.now_ms()
            messages.append(
                self._message(
                    "POSITION",
                    LINEAR,
                    {
                        "positionId": f"{account.api_key[:8]}_{pionex_symbol(symbol)}",
                        "symbol": pionex_symbol(symbol),
                        "isolatedMode": "CROSS",
                        "positionSide": "BOTH",
                        "netSize": num(quantity),
                        "avgPrice": num(entry),
                        "sizeLong": num(max(quantity, Decimal(0))),
                        "sizeShort": num(max(-quantity, Decimal(0))),
                        "amountSettled": "0",
                        "sizeLiquidated": "0",
                        "amountLiquidated": "0",
                        "sizeTakeover": "0",
                        "createTime": now,
                        "updateTime": now,
                    },
                    pionex_symbol(symbol),
                )
            )
        return messages
