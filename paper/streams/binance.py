"""Binance private streams on the paper exchange.

Spot: the WebSocket API (``/binance/ws-api/v3``; the REST listen keys were removed on
2026-02-20). ``{"id", "method": "userDataStream.subscribe.signature", "params": {apiKey,
timestamp, signature, recvWindow?}}``, the signature hex HMAC-SHA256 of the params other than
``signature`` sorted by name and joined ``k=v&...``; answer ``{"id", "status": 200,
"result": {"subscriptionId": n}}``; events arrive as ``{"subscriptionId", "event": {...}}``:
``executionReport``, ``outboundAccountPosition``, ``balanceUpdate``. ``session.logon`` takes
Ed25519 keys only, so a paper (HMAC) key is refused there. ``ping``, ``time``,
``session.subscriptions`` and ``userDataStream.unsubscribe`` are answered. The server sends
ping frames (every 20 s) and answers the client's.

USD-M futures: ``POST/PUT/DELETE /fapi/v1/listenKey`` with ``X-MBX-APIKEY`` (no signature;
one key per account, valid 60 minutes, a POST returns the active key and extends it); the
stream is ``/binance/ws/<listenKey>`` (also the routed ``/binance/private/ws/<listenKey>``
and ``/binance/private/ws?listenKey=``). Events ``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``,
``listenKeyExpired``; a deleted key closes its streams. Ping frames every 3 minutes.

PAPER-ONLY (no public source): the refusal of an unknown listen key at the handshake (HTTP
400 with -1125), the error answering ``session.logon`` with an HMAC key, the codes of
malformed requests and unknown methods.
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
from paper.wire import hmac_sha256_hex, same_secret, staleness

KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
BAD_KEY = (-2015, "Invalid API-key, IP, or permissions for action.")
NO_LISTEN_KEY = (-1125, "This listenKey does not exist.")
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "GTX"}


def binance_symbol(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}{quote}"


def signed_text(params: Mapping[str, Any]) -> str:
    return "&".join(f"{name}={params[name]}" for name in sorted(params) if name != "signature")


def execution_type(event: EngineEvent) -> str:
    order = event.order
    assert order is not None
    if event.kind == "accepted":
        return "NEW"
    if event.kind == "fill":
        return "TRADE"
    return "CANCELED" if order.canceled_by_user else "EXPIRED"


def order_status(order: PaperOrder) -> str:
    return {
        "new": "NEW",
        "partially_filled": "PARTIALLY_FILLED",
        "filled": "FILLED",
        "canceled": "CANCELED",
        "expired": "EXPIRED",
        "rejected": "REJECTED",
    }[order.status]


class WsApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BinanceStreams(StreamServer):
    exchange: ClassVar[str] = "binance"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (
        ("/ws-api/v3", SPOT),
        ("/ws/{listenKey}", LINEAR),
        ("/private/ws/{listenKey}", LINEAR),
        ("/private/ws", LINEAR),
    )
    ping_interval: float | None = 20.0  # spot; futures streams ping every 3 minutes
    futures_ping_interval: float = 180.0

    def __init__(self, engine: Any, hub: StreamHub) -> None:
        super().__init__(engine, hub)
        self._next_subscription = 0

    # -- handshake (futures: the listen key is the credential) ----------------------------

    def handshake_refusal(self, request: web.Request, product: str) -> web.Response | None:
        if product == SPOT:
            return None
        key = request.match_info.get("listenKey") or request.query.get("listenKey", "")
        if self.hub.listen_keys.find(self.exchange, key) is None:
            return web.json_response(
                {"code": NO_LISTEN_KEY[0], "msg": NO_LISTEN_KEY[1]}, status=400
            )
        return None

    def opened(self, conn: Connection, request: web.Request) -> None:
        if conn.product == LINEAR:
            key = request.match_info.get("listenKey") or request.query.get("listenKey", "")
            found = self.hub.listen_keys.find(self.exchange, key)
            assert found is not None
            conn.listen_key, conn.api_key = found.key, found.api_key
            conn.channels.add("futures")

    def heartbeat_interval(self, conn: Connection) -> float | None:
        return self.futures_ping_interval if conn.product == LINEAR else self.ping_interval

    def listen_key_expired(self, conn: Connection) -> None:
        conn.push(
            self.encode(
                conn,
                Outgoing(
                    "futures",
                    LINEAR,
                    {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": conn.listen_key},
                ),
            )
        )
        conn.close(1000, "listen key expired")

    # -- spot WebSocket API requests ------------------------------------------------------

    def received(self, conn: Connection, text: str) -> None:
        if conn.product == LINEAR:
            return  # the futures user stream takes no requests
        request_id: Any = None
        try:
            frame = parse_json(text)
            if not isinstance(frame, dict) or not isinstance(frame.get("method"), str):
                raise WsApiError(400, -1000, "Malformed request.")
            request_id = frame.get("id")
            params = frame.get("params", {})
            if not isinstance(params, dict):
                raise WsApiError(400, -1000, "Malformed request.")
            result = self._call(conn, frame["method"], params)
        except BadFrame:
            conn.send_json(
                {"id": None, "status": 400, "error": {"code": -1000, "msg": "Malformed request."}}
            )
            return
        except WsApiError as exc:
            conn.send_json(
                {
                    "id": request_id,
                    "status": exc.status,
                    "error": {"code": exc.code, "msg": exc.message},
                }
            )
            return
        conn.send_json({"id": request_id, "status": 200, "result": result})

    def _call(self, conn: Connection, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.now_ms()}
        if method == "userDataStream.subscribe.signature":
            return self._subscribe_signed(conn, params)
        if method == "session.logon":
            self.refuse_auth()
            raise WsApiError(
                400,
                -1002,
                "You are not authorized to execute this request. "
                "session.logon supports Ed25519 keys only.",
            )
        if method == "userDataStream.subscribe":
            raise WsApiError(400, -1002, "You are not authorized to execute this request.")
        if method == "userDataStream.unsubscribe":
            conn.channels.discard("spot")
            conn.subscriptions.pop("subscriptionId", None)
            return {}
        if method == "session.subscriptions":
            found = conn.subscriptions.get("subscriptionId")
            return [] if found is None else [{"subscriptionId": found}]
        raise WsApiError(400, -1020, "Unsupported operation.")

    def _subscribe_signed(self, conn: Connection, params: dict[str, Any]) -> dict[str, int]:
        for name in ("apiKey", "timestamp", "signature"):
            if params.get(name) in (None, ""):
                self.refuse_auth()
                raise WsApiError(
                    400,
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
        account = self.engine.account(self.exchange, str(params["apiKey"]))
        if account is None:
            self.refuse_auth()
            raise WsApiError(401, *BAD_KEY)
        self._check_window(params)
        expected = hmac_sha256_hex(account.api_secret, signed_text(params))
        if not same_secret(str(params["signature"]).lower(), expected):
            self.refuse_auth()
            raise WsApiError(400, -1022, "Signature for this request is not valid.")
        self.authenticate(conn, account)
        if "subscriptionId" not in conn.subscriptions:
            conn.subscriptions["subscriptionId"] = self._next_subscription
            self._next_subscription += 1
        conn.channels.add("spot")
        return {"subscriptionId": conn.subscriptions["subscriptionId"]}

    def _check_window(self, params: dict[str, Any]) -> None:
        stamp, window = (
            str(params["timestamp"]),
            str(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS)),
        )
        try:
            window_ms = Decimal(window)
        except ArithmeticError:
            window_ms = Decimal(-1)
        if (
            not stamp.isdigit()
            or not window_ms.is_finite()
            or not 0 < window_ms <= MAX_RECV_WINDOW_MS
        ):
            self.refuse_auth()
            raise WsApiError(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            )
        late = staleness(int(stamp), self.now_ms(), behind_ms=window_ms, ahead_ms=999)
        if late is not None:
            self.refuse_auth()
            raise WsApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    # -- which stream wants what ----------------------------------------------------------

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return message.channel in conn.channels

    def encode(self, conn: Connection, message: Outgoing) -> Frame:
        if conn.product == SPOT:
            return super().encode(
                conn,
                Outgoing(
                    message.channel,
                    SPOT,
                    {
                        "subscriptionId": conn.subscriptions.get("subscriptionId", 0),
                        "event": message.payload,
                    },
                ),
            )
        return super().encode(conn, message)

    # -- renderers ------------------------------------------------------------------------

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        if event.kind == "closed" and order.status == "filled":
            return []
        if product_of(order.symbol) == SPOT:
            return [Outgoing("spot", SPOT, self._execution_report(order, event))]
        return [Outgoing("futures", LINEAR, self._order_trade_update(order, event))]

    def _execution_report(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill, now = event.fill, self.now_ms()
        return {
            "e": "executionReport",
            "E": now,
            "s": binance_symbol(order.symbol),
            "c": order.client_order_id or "",
            "S": order.side.upper(),
            "o": order.type.upper(),
            "f": TIME_IN_FORCE.get(order.time_in_force, "GTC"),
            "q": num(order.quantity),
            "p": num(order.price),
            "P": "0",
            "F": "0",
            "g": -1,
            "C": (order.client_order_id or "") if order.canceled_by_user else "",
            "x": execution_type(event),
            "X": order_status(order),
            "r": "NONE",
            "i": int(order.order_id),
            "l": num(fill.quantity if fill else None),
            "z": num(order.filled_quantity),
            "L": num(fill.price if fill else None),
            "n": num(fill.fee if fill else None),
            "N": fill.fee_asset if fill else None,
            "T": fill.time_ms if fill else order.updated_ms,
            "t": int(fill.trade_id) if fill else -1,
            "I": now,
            "w": order.is_open and order.price is not None,
            "m": fill.maker if fill else False,
            "M": fill is not None,
            "O": order.created_ms,
            "Z": num(cumulative_quote(order)),
            "Y": num(fill.quantity * fill.price if fill else None),
            "Q": "0",
            "W": order.created_ms,
            "V": "EXPIRE_MAKER",
        }

    def _order_trade_update(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill, now = event.fill, self.now_ms()
        return {
            "e": "ORDER_TRADE_UPDATE",
            "E": now,
            "T": now,
            "o": {
                "s": binance_symbol(order.symbol),
                "c": order.client_order_id or "",
                "S": order.side.upper(),
                "o": order.type.upper(),
                "f": TIME_IN_FORCE.get(order.time_in_force, "GTC"),
                "q": num(order.quantity),
                "p": num(order.price),
                "ap": num(order.average_price),
                "sp": "0",
                "x": execution_type(event),
                "X": order_status(order),
                "i": int(order.order_id),
                "l": num(fill.quantity if fill else None),
                "z": num(order.filled_quantity),
                "L": num(fill.price if fill else None),
                "N": fill.fee_asset if fill else split_symbol(order.symbol)[1],
                "n": num(fill.fee if fill else None),
                "T": fill.time_ms if fill else now,
                "t": int(fill.trade_id) if fill else 0,
                "b": "0",
                "a": "0",
                "m": fill.maker if fill else False,
                "R": order.reduce_only,
                "wt": "CONTRACT_PRICE",
                "ot": order.type.upper(),
                "ps": "BOTH",
                "cp": False,
                "rp": "0",
                "pP": False,
                "si": 0,
                "ss": 0,
                "V": "EXPIRE_MAKER",
                "pm": "NONE",
                "gtd": 0,
                "er": "0",
            },
        }

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        """Spot: ``outboundAccountPosition`` with the assets the event may have changed.
        Futures wallets change with fills and transfers only (margin held by an open
        order is no wallet change): ``render_positions`` and ``render_funding``."""
        if not assets.get(SPOT):
            return []
        now = self.now_ms()
        rows = [
            {"a": asset, "f": num(free), "l": num(locked)}
            for asset in assets[SPOT]
            for free, locked in [self.balance_of(account, asset)]
        ]
        return [
            Outgoing("spot", SPOT, {"e": "outboundAccountPosition", "E": now, "u": now, "B": rows})
        ]

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        quote_assets = list(dict.fromkeys(split_symbol(s)[1] for s in symbols))
        return [self._account_update(account, quote_assets, list(symbols))]

    def _account_update(
        self, account: PaperAccount, assets: list[str], symbols: list[str], reason: str = "ORDER"
    ) -> Outgoing:
        now = self.now_ms()
        balances = [
            {"a": asset, "wb": num(free + locked), "cw": num(free + locked), "bc": "0"}
            for asset in assets
            for free, locked in [self.balance_of(account, asset)]
        ]
        positions = []
        for symbol, position in self.positions_for(account, symbols):
            positions.append(
                {
                    "s": binance_symbol(symbol),
                    "pa": num(position.quantity if position else None),
                    "ep": num(position.entry_price if position else None),
                    "bep": "0",
                    "cr": "0",
                    "up": num(position.unrealized_pnl if position else None),
                    "mt": "cross",
                    "iw": "0",
                    "ps": "BOTH",
                }
            )
        return Outgoing(
            "futures",
            LINEAR,
            {
                "e": "ACCOUNT_UPDATE",
                "E": now,
                "T": now,
                "a": {"m": reason, "B": balances, "P": positions},
            },
        )

    def render_funding(self, event: EngineEvent) -> list[Outgoing]:
        now = self.now_ms()
        account = self.engine.account(self.exchange, event.api_key)
        assert account is not None
        spot = [
            Outgoing(
                "spot",
                SPOT,
                {"e": "balanceUpdate", "E": now, "a": asset, "d": num(delta), "T": now},
            )
            for asset, delta in event.deltas.items()
        ]
        return [*spot, self._account_update(account, list(event.deltas), [], "DEPOSIT")]


# -- REST: USD-M listen keys (under /binance, behind its gate) ---------------------------------


def rest_routes(hub: StreamHub) -> list[web.RouteDef]:
    def refuse(status: int, error: tuple[int, str]) -> web.Response:
        return web.json_response({"code": error[0], "msg": error[1]}, status=status)

    def owner(request: web.Request) -> PaperAccount | web.Response:
        key = request.headers.get(KEY_HEADER, "")
        account = hub.engine.account("binance", key) if key else None
        if account is None:  # a refused listen key counts as a refused stream auth
            request["signature_failed"] = True
            hub.count("binance", auth_failures=1)
            return refuse(401, BAD_KEY if key else (-2014, "API-key format invalid."))
        return account

    async def create(request: web.Request) -> web.Response:
        account = owner(request)
        if isinstance(account, web.Response):
            return account
        found = hub.listen_keys.create("binance", account.api_key, LINEAR, shared=True)
        return web.json_response({"listenKey": found.key})

    async def keep_alive(request: web.Request) -> web.Response:
        account = owner(request)
        if isinstance(account, web.Response):
            return account
        active = hub.listen_keys.of_account("binance", account.api_key)
        if not active:
            return refuse(400, NO_LISTEN_KEY)
        hub.listen_keys.keep_alive("binance", active[0].key)
        return web.json_response({"listenKey": active[0].key})

    async def delete(request: web.Request) -> web.Response:
        account = owner(request)
        if isinstance(account, web.Response):
            return account
        active = hub.listen_keys.of_account("binance", account.api_key)
        for found in active:
            hub.listen_keys.delete("binance", found.key)
        hub.listen_key_gone("binance", (k.key for k in active), expired=False)
        return web.json_response({})

    return [
        web.post("/fapi/v1/listenKey", create),
        web.put("/fapi/v1/listenKey", keep_alive),
        web.delete("/fapi/v1/listenKey", delete),
    ]
