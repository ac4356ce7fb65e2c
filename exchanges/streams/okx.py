"""OKX v5 private stream: ``login`` op (base64 HMAC over seconds + GET/users/self/verify),
channels orders, positions and account on one socket, text ``ping``.

Swap sizes are in contracts: the protocol takes ``contract_value`` (instId -> base per
contract, from the shared instrument cache) and refuses a swap frame it cannot convert.
docs/streams.md "OKX" has the facts and their sources.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.okx import STATUS_MAP
from exchanges.streams.base import (
    AuthOutcome,
    BalanceUpdate,
    FillUpdate,
    Heartbeat,
    MessageRefused,
    OrderUpdate,
    PositionUpdate,
    Quotas,
    StreamProtocol,
    Update,
    checked_symbol,
    decimal,
    decimal_or_none,
    int_or_none,
    items,
    mapping_of,
    positive_or_none,
    required,
    side_of,
    status_of,
    text_or_none,
)

NAME = "okx"
VERIFY_PATH = "/users/self/verify"
CHANNELS = (
    {"channel": "orders", "instType": "ANY"},
    {"channel": "positions", "instType": "ANY"},
    {"channel": "account"},
)
INST_TYPES = ("SPOT", "MARGIN", "SWAP")  # FUTURES and OPTION are not ours
# UNVERIFIED beyond 60009 (facts): the 600xx login failures (bad key, sign, passphrase,
# timestamp) as OKX's error table lists them.
LOGIN_ERRORS = frozenset({"60004", "60005", "60006", "60007", "60008", "60009", "60024"})
IMMEDIATE_ORDER_TYPES = ("market", "ioc", "fok", "optimal_limit_ioc")
CANCEL_SOURCE_USER = "1"
EXEC_TYPES = {"M": "maker", "T": "taker"}


def login_signature(secret: str, timestamp_s: str) -> str:
    """Base64 HMAC-SHA256 of ``timestamp + 'GET' + '/users/self/verify'`` (seconds)."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_s}GET{VERIFY_PATH}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def unified_symbol(inst_id: str) -> str:
    """BTC-USDT -> BTC/USDT; BTC-USDT-SWAP -> BTC/USDT:USDT."""
    parts = inst_id.split("-")
    if len(parts) == 2:
        return checked_symbol(f"{parts[0]}/{parts[1]}")
    if len(parts) == 3 and parts[2] == "SWAP":
        return checked_symbol(f"{parts[0]}/{parts[1]}:{parts[1]}")
    raise MessageRefused(
        f"OKX instrument {inst_id!r} is neither spot nor a swap", code="bad_symbol", exchange=NAME
    )


def order_status(state: str, ord_type: str, cancel_source: str) -> str:
    """As the connector reads it: an engine-cancelled immediate order has expired."""
    status = status_of(STATUS_MAP, state, NAME)
    if (
        status == "canceled"
        and ord_type in IMMEDIATE_ORDER_TYPES
        and cancel_source != CANCEL_SOURCE_USER
    ):
        return "expired"
    return status


class OkxStream(StreamProtocol):
    name = NAME
    products = ("spot", "linear", "unified")
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        (env, product): root
        for env, root in (
            ("live", "wss://ws.okx.com:8443"),
            ("testnet", "wss://wspap.okx.com:8443"),
        )  # demo trading
        for product in ("spot", "linear", "unified")
    }
    ws_paths: ClassVar[Mapping[str, str]] = {p: "/ws/v5/private" for p in products}
    heartbeat = Heartbeat(
        interval_seconds=20,
        dead_after_seconds=40,
        send="ping",
        source="okx.com/docs-v5 WebSocket Overview (closed after 30 s "
        "without pushes; send 'ping' within N < 30 s)",
    )
    quotas = Quotas(
        new_connections=3,
        new_connections_window_seconds=1,
        source="okx.com/docs-v5 WebSocket Overview: 3 connects/s per IP, 480 "
        "login/subscribe per hour per connection, 30 connections per "
        "private channel per sub-account",
    )

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        timestamp = str(now_ms // 1000)
        return [
            json.dumps(
                {
                    "op": "login",
                    "args": [
                        {
                            "apiKey": credentials.api_key,
                            "passphrase": credentials.passphrase,
                            "timestamp": timestamp,
                            "sign": login_signature(credentials.api_secret, timestamp),
                        }
                    ],
                }
            )
        ]

    # {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"}
    # {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "a4d3ae55"}
    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        message = self.decode(message)
        if not isinstance(message, Mapping):
            return None
        code = str(message.get("code", ""))
        if message.get("event") == "login":
            return AuthOutcome(ok=code == "0", code=code, message=str(message.get("msg", "")))
        if message.get("event") == "error" and code in LOGIN_ERRORS:
            return AuthOutcome(ok=False, code=code, message=str(message.get("msg", "")))
        return None

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        return [json.dumps({"op": "subscribe", "args": list(CHANNELS)})]

    def ends_stream(self, message: Any) -> bool:
        # {"event": "notice", "code": "64008", "msg": "The connection will soon be closed
        #  for a service upgrade..."}
        message = self.decode(message)
        return isinstance(message, Mapping) and message.get("event") == "notice"

    def parse_decoded(self, message: Any) -> list[Update]:
        if not isinstance(message, Mapping) or "data" not in message:
            return []  # pong, login/subscribe events
        arg = mapping_of(message.get("arg"))
        parser = {"orders": self._order, "positions": self._position, "account": self._account}.get(
            str(arg.get("channel", ""))
        )
        if parser is None:
            return []
        updates: list[Update] = []
        for raw in items(message["data"], "data"):
            updates.extend(parser(raw))
        return updates

    def quantity(self, exchange_symbol: str, size: Decimal) -> Decimal:
        if not exchange_symbol.endswith("-SWAP"):
            return size
        value = self.contract_value(exchange_symbol) if self.contract_value else None
        if value is None or value <= 0:
            raise MessageRefused(
                f"no contract value for {exchange_symbol}", code="no_contract_value", exchange=NAME
            )
        return size * value

    # {"instType": "SPOT", "instId": "BTC-USDT", "ordId": "452197707845865472",
    #  "clOrdId": "", "side": "sell", "ordType": "limit", "px": "31527.1", "sz": "0.001",
    #  "state": "filled", "accFillSz": "0.001", "fillSz": "0.001", "fillPx": "31527.1",
    #  "avgPx": "31527.1", "tradeId": "242589207", "execType": "M", "fillFee":
    #  "-0.02522168", "fillFeeCcy": "USDT", "fillTime": "1654084353263", "cancelSource": "",
    #  "uTime": "1654084353264", ...}
    def _order(self, raw: Mapping[str, Any]) -> list[Update]:
        if raw.get("instType") not in INST_TYPES:
            return []
        inst_id = str(required(raw, "instId"))
        symbol = unified_symbol(inst_id)
        client_id = text_or_none(raw.get("clOrdId"))
        size = decimal_or_none(raw.get("sz"), "sz")
        state = str(required(raw, "state"))
        updates: list[Update] = [
            OrderUpdate(
                exchange=NAME,
                symbol=symbol,
                exchange_order_id=str(required(raw, "ordId")),
                client_order_id=client_id,
                status=order_status(
                    state, str(raw.get("ordType", "")), str(raw.get("cancelSource", ""))
                ),
                raw_status=state,
                side=side_of(required(raw, "side")),
                quantity=None
                if size is None or raw.get("tgtCcy") == "quote_ccy"
                else self.quantity(inst_id, size),
                filled_quantity=self.quantity(
                    inst_id, decimal(raw.get("accFillSz") or "0", "accFillSz")
                ),
                average_price=positive_or_none(raw.get("avgPx"), "avgPx"),
                price=positive_or_none(raw.get("px"), "px"),
                updated_at_ms=int_or_none(raw.get("uTime")),
            )
        ]
        fill_size = decimal(raw.get("fillSz") or "0", "fillSz")
        if text_or_none(raw.get("tradeId")) and fill_size > 0:
            updates.append(
                FillUpdate(
                    exchange=NAME,
                    trade_id=str(raw["tradeId"]),
                    exchange_order_id=str(raw["ordId"]),
                    client_order_id=client_id,
                    symbol=symbol,
                    side=side_of(raw["side"]),
                    price=decimal(required(raw, "fillPx"), "fillPx"),
                    quantity=self.quantity(inst_id, fill_size),
                    # OKX signs fees as balance changes: negative is a charge, positive a rebate
                    fee=-decimal(raw.get("fillFee") or "0", "fillFee"),
                    fee_asset=text_or_none(raw.get("fillFeeCcy")),
                    liquidity=EXEC_TYPES.get(str(raw.get("execType", ""))),
                    time_ms=int_or_none(raw.get("fillTime")),
                )
            )
        return updates

    # {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "-2",
    #  "avgPx": "60000", "upl": "1.5", "uTime": "1700000000000", ...}
    def _position(self, raw: Mapping[str, Any]) -> list[Update]:
        if raw.get("instType") != "SWAP":
            return []  # margin positions are liabilities, read from the account channel
        inst_id = str(required(raw, "instId"))
        contracts = decimal(raw.get("pos") or "0", "pos")
        pos_side = str(raw.get("posSide") or "net")
        if pos_side == "short":
            contracts = -abs(contracts)
        return [
            PositionUpdate(
                exchange=NAME,
                symbol=unified_symbol(inst_id),
                quantity=self.quantity(inst_id, contracts),
                entry_price=positive_or_none(raw.get("avgPx"), "avgPx"),
                unrealized_pnl=decimal_or_none(raw.get("upl"), "upl"),
                position_side=pos_side,
                time_ms=int_or_none(raw.get("uTime")),
            )
        ]

    # {"uTime": "1700000000000", "totalEq": "...", "details": [{"ccy": "USDT",
    #  "cashBal": "1000", "availBal": "900", "frozenBal": "100", "eq": "1000", ...}]}
    def _account(self, raw: Mapping[str, Any]) -> list[Update]:
        time_ms = int_or_none(raw.get("uTime"))
        return [
            BalanceUpdate(
                exchange=NAME,
                asset=str(required(detail, "ccy")),
                free=decimal_or_none(detail.get("availBal"), "availBal"),
                locked=decimal_or_none(detail.get("frozenBal"), "frozenBal"),
                total=decimal_or_none(detail.get("cashBal"), "cashBal"),
                time_ms=int_or_none(detail.get("uTime")) or time_ms,
            )
            for detail in items(raw.get("details", []), "details")
        ]
