"""OKX v5 private stream: ``/okx/ws/v5/private`` (spot and swaps on one socket).

Login ``{"op": "login", "args": [{apiKey, passphrase, timestamp, sign}]}``: ``timestamp`` in
seconds (stale after 30 s), ``sign`` base64 HMAC-SHA256(secret, timestamp + "GET" +
"/users/self/verify"); answer ``{"event": "login", "code": "0", "msg": "", "connId"}`` or
``{"event": "error", "code": "60009", "msg": "Login failed.", "connId"}``. Subscribe
``{"id"?, "op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}, ...]}``,
acknowledged per argument; channels ``orders`` (``instType`` required), ``positions``
(``instType`` required), ``account`` and ``balance_and_position`` (a snapshot on subscribe).
Pushes are ``{"arg": {channel, instType?, uid}, "data": [...]}``; swap sizes are contracts.
Text ``ping`` is answered ``pong``; a socket silent for 30 s is closed.

PAPER-ONLY (no public source): which 600xx code each refusal other than the login failure
carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from paper.engine import EngineEvent, PaperAccount, PaperInstrument, PaperOrder
from paper.streams.base import (
    LINEAR,
    SPOT,
    BadFrame,
    Connection,
    Frame,
    Outgoing,
    StreamServer,
    all_assets,
    cumulative_fee,
    num,
    parse_json,
    product_of,
    split_symbol,
)
from paper.wire import hmac_sha256_base64, same_secret

VERIFY_PATH = "/users/self/verify"
LOGIN_WINDOW_S = 30
INST_TYPES = {SPOT: "SPOT", LINEAR: "SWAP"}
ALL_INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION", "ANY")
CHANNELS = ("orders", "positions", "account", "balance_and_position")
NEEDS_INST_TYPE = ("orders", "positions")
STATE = {
    "new": "live",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "rejected": "canceled",
}
ORD_TYPE = {"GTC": "limit", "IOC": "ioc", "FOK": "fok", "POST_ONLY": "post_only"}


def login_sign(secret: str, timestamp: str) -> str:
    return hmac_sha256_base64(secret, f"{timestamp}GET{VERIFY_PATH}")


def inst_id(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}-{quote}-SWAP" if product_of(symbol) == LINEAR else f"{base}-{quote}"


def uid_of(api_key: str) -> str:
    return str(int(hashlib.sha256(api_key.encode()).hexdigest()[:13], 16))


class OkxStreams(StreamServer):
    exchange: ClassVar[str] = "okx"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (("/ws/v5/private", ""),)
    idle_timeout: float | None = 30.0

    def received(self, conn: Connection, text: str) -> None:
        if text == "ping":
            conn.send("pong")
            return
        try:
            frame = parse_json(text)
        except BadFrame:
            conn.send_json(self._error(conn, "60012", f"Invalid request: {text[:100]}"))
            return
        if not isinstance(frame, dict):
            conn.send_json(self._error(conn, "60012", "Invalid request"))
            return
        op = frame.get("op")
        if op == "login":
            self._login(conn, frame)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(conn, frame, op)
        else:
            conn.send_json(self._error(conn, "60019", f"Invalid op: {op}", frame))

    def _error(
        self, conn: Connection, code: str, message: str, frame: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "event": "error",
            "code": code,
            "msg": message,
            "connId": conn.conn_id,
        }
        if frame and "id" in frame:
            answer["id"] = frame["id"]
        return answer

    def _login(self, conn: Connection, frame: dict[str, Any]) -> None:
        account = self._login_account(frame)
        if account is None:
            self.refuse_auth()
            conn.send_json(self._error(conn, "60009", "Login failed.", frame))
            return
        self.authenticate(conn, account)
        conn.send_json({"event": "login", "code": "0", "msg": "", "connId": conn.conn_id})

    def _login_account(self, frame: dict[str, Any]) -> PaperAccount | None:
        args = frame.get("args")
        if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
            return None
        login = {k: str(v) for k, v in args[0].items()}
        account = self.engine.account(self.exchange, login.get("apiKey", ""))
        stamp = login.get("timestamp", "")
        if account is None or not stamp.isdigit():
            return None
        if abs(int(stamp) - self.now_ms() // 1000) > LOGIN_WINDOW_S:
            return None
        if not same_secret(login.get("passphrase", ""), account.passphrase):
            return None
        if not same_secret(login.get("sign", ""), login_sign(account.api_secret, stamp)):
            return None
        return account

    def _subscribe(self, conn: Connection, frame: dict[str, Any], op: str) -> None:
        if not conn.authenticated:
            conn.send_json(self._error(conn, "60011", "Please log in", frame))
            return
        args = frame.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            conn.send_json(self._error(conn, "60013", "Invalid args", frame))
            return
        for arg in args:
            channel, inst_type = arg.get("channel"), arg.get("instType")
            if channel not in CHANNELS:
                conn.send_json(
                    self._error(
                        conn,
                        "60018",
                        f"Wrong URL or channel:{channel}, instId:{arg.get('instId')} doesn't exist",
                        frame,
                    )
                )
                continue
            if channel in NEEDS_INST_TYPE and inst_type not in ALL_INST_TYPES:
                conn.send_json(self._error(conn, "60013", f"Invalid args:{arg}", frame))
                continue
            key = f"{channel}:{inst_type or ''}"
            if op == "subscribe":
                conn.subscriptions[key] = dict(arg)
            else:
                conn.subscriptions.pop(key, None)
            ack = {"event": op, "arg": arg, "connId": conn.conn_id}
            if "id" in frame:
                ack["id"] = frame["id"]
            conn.send_json(ack)
            if op == "subscribe" and channel in ("account", "balance_and_position"):
                self._snapshot(conn, channel)

    def _snapshot(self, conn: Connection, channel: str) -> None:
        account = self.engine.account(self.exchange, conn.api_key or "")
        assert account is not None
        assets = [a for a, (free, locked) in account.balances.items() if free + locked > 0]
        if channel == "account":
            message = self._account(account, assets)
        else:
            symbols = [p.symbol for p in self.engine.positions(self.exchange, account)]
            message = self._balance_and_position(account, assets, symbols, "snapshot")
        conn.push(self.encode(conn, message))

    # -- which stream wants what -----------------------------------------------------------

    def _matching(self, conn: Connection, message: Outgoing) -> dict[str, Any] | None:
        for arg in conn.subscriptions.values():
            if arg.get("channel") != message.channel:
                continue
            inst_type = arg.get("instType")
            type_matches = (
                inst_type in (None, "ANY")
                or message.product == ""
                or inst_type == INST_TYPES.get(message.product)
            )
            if type_matches and arg.get("instId") in (None, message.symbol or None, message.symbol):
                return arg
        return None

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return self._matching(conn, message) is not None

    def encode(self, conn: Connection, message: Outgoing) -> Frame:
        arg = dict(self._matching(conn, message) or {"channel": message.channel})
        arg["uid"] = uid_of(conn.api_key or "")
        return super().encode(
            conn, Outgoing(message.channel, message.product, {"arg": arg, "data": message.payload})
        )

    # -- renderers -------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> PaperInstrument:
        return self.engine.instrument(self.exchange, symbol)

    def _size(self, symbol: str, quantity: Decimal | None) -> str:
        if quantity is None:
            return ""
        if product_of(symbol) == LINEAR:
            return num(quantity / self._instrument(symbol).contract_value)
        return num(quantity)

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        if event.kind == "closed" and order.status == "filled":
            return []
        return [
            Outgoing(
                "orders",
                product_of(order.symbol),
                [self._order_row(order, event)],
                inst_id(order.symbol),
            )
        ]

    def _order_row(self, order: PaperOrder, event: EngineEvent) -> dict[str, Any]:
        fill = event.fill
        product = product_of(order.symbol)
        quote = split_symbol(order.symbol)[1]
        fee_asset = order.fills[-1].fee_asset if order.fills else quote
        return {
            "instType": INST_TYPES[product],
            "instId": inst_id(order.symbol),
            "tgtCcy": "",
            "ccy": "",
            "ordId": order.order_id,
            "clOrdId": order.client_order_id or "",
            "tag": "",
            "px": num(order.price) if order.price else "",
            "sz": self._size(order.symbol, order.quantity),
            "notionalUsd": "",
            "ordType": "market"
            if order.type == "market"
            else ORD_TYPE.get(order.time_in_force, "limit"),
            "side": order.side,
            "posSide": "net" if product == LINEAR else "",
            "tdMode": "cross" if product == LINEAR else "cash",
            "fillPx": num(fill.price) if fill else "",
            "tradeId": fill.trade_id if fill else "",
            "fillSz": self._size(order.symbol, fill.quantity) if fill else "0",
            "fillTime": str(fill.time_ms) if fill else "",
            "fillFee": num(-fill.fee) if fill else "0",
            "fillFeeCcy": fill.fee_asset if fill else "",
            "execType": ("M" if fill.maker else "T") if fill else "",
            "accFillSz": self._size(order.symbol, order.filled_quantity),
            "fillNotionalUsd": "",
            "avgPx": num(order.average_price),
            "state": STATE[order.status],
            "lever": "",
            "feeCcy": fee_asset,
            "fee": num(-cumulative_fee(order)),
            "rebateCcy": fee_asset,
            "rebate": "0",
            "pnl": "0",
            "source": "",
            "category": "normal",
            "cancelSource": "1" if order.canceled_by_user else "",
            "reduceOnly": "true" if order.reduce_only else "false",
            "amendResult": "",
            "reqId": "",
            "code": "0",
            "msg": "",
            "uTime": str(order.updated_ms),
            "cTime": str(order.created_ms),
        }

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        touched = all_assets(assets)
        return [
            self._account(account, touched),
            self._balance_and_position(account, touched, [], "order"),
        ]

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        symbols = list(symbols)
        quotes = list(dict.fromkeys(split_symbol(s)[1] for s in symbols))
        rows = [self._position_row(account, s, p) for s, p in self.positions_for(account, symbols)]
        return [
            Outgoing("positions", LINEAR, rows),
            self._balance_and_position(account, quotes, symbols, "filled"),
        ]

    def _account(self, account: PaperAccount, assets: list[str]) -> Outgoing:
        now = str(self.now_ms())
        details = []
        for asset in assets:
            free, locked = self.balance_of(account, asset)
            details.append(
                {
                    "ccy": asset,
                    "eq": num(free + locked),
                    "cashBal": num(free + locked),
                    "availBal": num(free),
                    "availEq": num(free),
                    "frozenBal": num(locked),
                    "ordFrozen": num(locked),
                    "upl": "0",
                    "uTime": now,
                    "disEq": "",
                    "eqUsd": "",
                }
            )
        return Outgoing(
            "account",
            "",
            [
                {
                    "uTime": now,
                    "totalEq": "",
                    "isoEq": "0",
                    "adjEq": "",
                    "ordFroz": "",
                    "imr": "",
                    "mmr": "",
                    "notionalUsd": "",
                    "mgnRatio": "",
                    "details": details,
                }
            ],
        )

    def _position_row(self, account: PaperAccount, symbol: str, position: Any) -> dict[str, Any]:
        now = str(self.now_ms())
        quantity = position.quantity if position else Decimal(0)
        return {
            "instType": "SWAP",
            "instId": inst_id(symbol),
            "mgnMode": "cross",
            "posId": uid_of(f"{account.api_key}{symbol}"),
            "posSide": "net",
            "pos": self._size(symbol, quantity),
            "ccy": split_symbol(symbol)[1],
            "posCcy": "",
            "availPos": "",
            "avgPx": num(position.entry_price) if position else "",
            "upl": num(position.unrealized_pnl if position else None),
            "lever": str(self.engine.leverage(account, symbol)),
            "liqPx": "",
            "markPx": num(self.engine.price(self.exchange, symbol)),
            "imr": "",
            "margin": "",
            "mgnRatio": "",
            "mmr": "",
            "notionalUsd": "",
            "tradeId": "",
            "cTime": now,
            "uTime": now,
            "pTime": now,
        }

    def _balance_and_position(
        self, account: PaperAccount, assets: list[str], symbols: list[str], event_type: str
    ) -> Outgoing:
        now = str(self.now_ms())
        balances = [
            {
                "ccy": asset,
                "cashBal": num(sum(self.balance_of(account, asset), Decimal(0))),
                "uTime": now,
            }
            for asset in assets
        ]
        positions = [
            {
                "posId": row["posId"],
                "tradeId": "",
                "instId": row["instId"],
                "instType": "SWAP",
                "mgnMode": "cross",
                "posSide": "net",
                "pos": row["pos"],
                "ccy": row["ccy"],
                "posCcy": "",
                "avgPx": row["avgPx"],
                "uTime": now,
            }
            for row in (
                self._position_row(account, s, p) for s, p in self.positions_for(account, symbols)
            )
        ]
        return Outgoing(
            "balance_and_position",
            "",
            [
                {
                    "pTime": now,
                    "eventType": event_type,
                    "balData": balances,
                    "posData": positions,
                    "trades": [],
                }
            ],
        )
