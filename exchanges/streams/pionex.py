"""Pionex private streams: spot signs its URL query (``/ws``), futures sends an ``auth``
message (``/wsUA``); both subscribe per topic and answer the server's JSON ``PING``.

docs/streams.md "Pionex" has the facts and their sources.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.pionex import STATUS_MAP
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
    positive_or_none,
    required,
    side_of,
    status_of,
    text_or_none,
)
from exchanges.symbols import parse_symbol

NAME = "pionex"
AUTH_SUFFIX = "websocket_auth"
ROLES = {"MAKER": "maker", "TAKER": "taker"}
# the REST error codes the streams reuse for a refused key (UNVERIFIED on the streams)
AUTH_ERRORS = frozenset(
    {
        "APIKEY_LOST",
        "SIGNATURE_LOST",
        "INVALID_APIKEY",
        "INVALIE_APIKEY",
        "INVALID_SIGNATURE",
        "APIKEY_EXPIRED",
        "INVALID_TIMESTAMP",
        "IP_NOT_WHITELISTED",
        "PERMISSION_DENIED",
    }
)
# a CLOSED market buy counts as filled when it spent its amount within this tolerance
MARKET_BUY_FILL_TOLERANCE = Decimal("0.001")


def spot_signature(secret: str, api_key: str, timestamp_ms: int) -> str:
    """Hex HMAC-SHA256 of ``/ws?key=..&timestamp=..`` (sorted) + ``websocket_auth``."""
    message = f"/ws?key={api_key}&timestamp={timestamp_ms}{AUTH_SUFFIX}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def futures_signature(secret: str, timestamp_ms: int) -> str:
    """Hex HMAC-SHA256 of ``<timestamp>websocket_auth``."""
    return hmac.new(
        secret.encode(), f"{timestamp_ms}{AUTH_SUFFIX}".encode(), hashlib.sha256
    ).hexdigest()


def exchange_symbol(unified: str) -> str:
    market = parse_symbol(unified)
    name = f"{market.base}_{market.quote}"
    return f"{name}_PERP" if market.is_perpetual else name


def unified_symbol(name: str) -> str:
    """BTC_USDT -> BTC/USDT; BTC_USDT_PERP -> BTC/USDT:USDT."""
    perpetual = name.endswith("_PERP")
    parts = (name[:-5] if perpetual else name).split("_")
    if len(parts) != 2 or not all(parts):
        raise MessageRefused(f"not a Pionex symbol: {name!r}", code="bad_symbol", exchange=NAME)
    base, quote = parts
    return checked_symbol(f"{base}/{quote}:{quote}" if perpetual else f"{base}/{quote}")


def order_status(raw: Mapping[str, Any], filled: Decimal) -> str:
    """Pionex says only OPEN or CLOSED; the fills tell the rest (as the connector does)."""
    raw_status = str(required(raw, "status"))
    status = status_of(STATUS_MAP, raw_status, NAME)
    if raw_status == "OPEN":
        return "partially_filled" if filled > 0 else "open"
    size = positive_or_none(raw.get("size"), "size")
    if size is not None:
        return "filled" if filled >= size else status
    amount = positive_or_none(raw.get("amount"), "amount")  # a spot market buy, in quote
    spent = decimal(raw.get("filledAmount") or "0", "filledAmount")
    if amount is not None and spent >= amount * (1 - MARKET_BUY_FILL_TOLERANCE):
        return "filled"
    return status


class PionexStream(StreamProtocol):
    name = NAME
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        ("live", "spot"): "wss://ws.pionex.com",
        ("live", "linear"): "wss://ws.pionex.com",
    }
    ws_paths: ClassVar[Mapping[str, str]] = {"spot": "/ws", "linear": "/wsUA"}
    heartbeat = Heartbeat(
        interval_seconds=15,
        dead_after_seconds=30,
        server_pings=True,
        source="pionex-open-api websocketapi.yaml / websocketapi_futures.yaml "
        "(PING every 15 s, 3 missed PONGs close)",
    )
    quotas = Quotas(
        connections_per_ip=10,
        messages_per_second=5,
        source="pionex-open-api websocketapi.yaml (10 connections per IP), "
        "websocketapi_futures.yaml (5 messages/s per connection)",
    )

    def __init__(self, api_type: str, **kwargs: Any) -> None:
        super().__init__(api_type, **kwargs)
        # UNVERIFIED: what the futures socket answers to auth; none is documented
        self.auth_acknowledged = self.product == "spot"

    def url_suffix(
        self, *, listen_key: str | None, credentials: Credentials | None, now_ms: int | None
    ) -> str:
        if self.product != "spot":
            return ""
        if credentials is None or now_ms is None:
            raise MessageRefused(
                "the spot stream URL is signed: credentials and time needed",
                code="unsigned",
                exchange=NAME,
            )
        signature = spot_signature(credentials.api_secret, credentials.api_key, now_ms)
        return f"?key={credentials.api_key}&timestamp={now_ms}&signature={signature}"

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        if self.product == "spot":
            return []
        return [
            json.dumps(
                {
                    "op": "auth",
                    "args": [
                        credentials.api_key,
                        now_ms,
                        futures_signature(credentials.api_secret, now_ms),
                    ],
                }
            )
        ]

    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        message = self.decode(message)
        if isinstance(message, Mapping) and str(message.get("code", "")) in AUTH_ERRORS:
            return AuthOutcome(
                ok=False, code=str(message["code"]), message=str(message.get("message", ""))
            )
        return None

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        if self.product == "spot":  # ORDER and FILL are per symbol on spot
            names = [exchange_symbol(symbol) for symbol in symbols]
            pairs = [(topic, name) for name in names for topic in ("ORDER", "FILL")]
        else:
            pairs = [(topic, "ALL") for topic in ("ORDER", "FILL", "POSITION")]
        frames = [{"op": "SUBSCRIBE", "topic": topic, "symbol": name} for topic, name in pairs]
        frames.append({"op": "SUBSCRIBE", "topic": "BALANCE"})
        return [json.dumps(frame) for frame in frames]

    def reply(self, message: Any) -> str | None:
        message = self.decode(message)
        if isinstance(message, Mapping) and message.get("op") == "PING":
            return json.dumps({"op": "PONG", "timestamp": message.get("timestamp")})
        return None

    def ends_stream(self, message: Any) -> bool:
        message = self.decode(message)  # older docs: the server says CLOSE before closing
        return isinstance(message, Mapping) and message.get("op") == "CLOSE"

    def parse_decoded(self, message: Any) -> list[Update]:
        if not isinstance(message, Mapping) or not isinstance(message.get("data"), Mapping):
            return []  # PING, SUBSCRIBED acks, errors
        parser = {
            "ORDER": self._order,
            "FILL": self._fill,
            "BALANCE": self._balances,
            "POSITION": self._position,
        }.get(str(message.get("topic", "")))
        return parser(message["data"], message) if parser else []

    # {"topic": "ORDER", "symbol": "BTC_USDT_PERP", "timestamp": 1566691672311, "data":
    #  {"orderId": 1234567890, "symbol": "BTC_USDT_PERP", "type": "LIMIT", "side": "BUY",
    #  "price": "30000.00", "size": "0.1000", "filledSize": "0.0500", "filledAmount":
    #  "1500.00", "status": "OPEN", "clientOrderId": "9e3d93d6-...", "updateTime": ..., ...}}
    def _order(self, raw: Mapping[str, Any], message: Mapping[str, Any]) -> list[Update]:
        filled = decimal(raw.get("filledSize") or "0", "filledSize")
        spent = decimal(raw.get("filledAmount") or "0", "filledAmount")
        return [
            OrderUpdate(
                exchange=NAME,
                symbol=unified_symbol(str(raw.get("symbol") or required(message, "symbol"))),
                exchange_order_id=str(required(raw, "orderId")),
                client_order_id=text_or_none(raw.get("clientOrderId")),
                status=order_status(raw, filled),
                raw_status=str(raw["status"]),
                side=side_of(required(raw, "side")),
                quantity=positive_or_none(raw.get("size"), "size"),
                filled_quantity=filled,
                average_price=spent / filled if filled > 0 else None,
                price=positive_or_none(raw.get("price"), "price"),
                updated_at_ms=int_or_none(raw.get("updateTime")),
            )
        ]

    # {"topic": "FILL", "symbol": "BTC_USDT_PERP", "timestamp": 1566691672311, "data":
    #  {"id": 9876543210, "orderId": 1234567890, "symbol": "BTC_USDT_PERP", "side": "BUY",
    #  "role": "TAKER", "price": "30000.00", "size": "0.1000", "fee": "0.06", "feeCoin":
    #  "USDT", "feeType": "TRADING", "timestamp": 1566676132311}}
    def _fill(self, raw: Mapping[str, Any], message: Mapping[str, Any]) -> list[Update]:
        return [
            FillUpdate(
                exchange=NAME,
                trade_id=str(required(raw, "id")),
                exchange_order_id=str(required(raw, "orderId")),
                client_order_id=None,
                symbol=unified_symbol(str(raw.get("symbol") or required(message, "symbol"))),
                side=side_of(required(raw, "side")),
                price=decimal(required(raw, "price"), "price"),
                quantity=decimal(required(raw, "size"), "size"),
                fee=decimal(raw.get("fee") or "0", "fee"),
                fee_asset=text_or_none(raw.get("feeCoin")),
                liquidity=ROLES.get(str(raw.get("role", ""))),
                time_ms=int_or_none(raw.get("timestamp")),
            )
        ]

    # {"topic": "BALANCE", "timestamp": 1566691672311, "data": {"balances": [{"coin": "BTC",
    #  "free": "0.90000000", "frozen": "0.00000000"}], "timestamp": 1566691672311}}
    # futures adds "type": CROSS | ISOLATE_LONG | ISOLATE_SHORT | ISOLATE_BOTH
    def _balances(self, raw: Mapping[str, Any], message: Mapping[str, Any]) -> list[Update]:
        if raw.get("type", "CROSS") != "CROSS":
            return []  # an isolated position's margin, not the account's balance
        time_ms = int_or_none(raw.get("timestamp")) or int_or_none(message.get("timestamp"))
        updates: list[Update] = []
        for balance in items(raw.get("balances", []), "balances"):
            free = decimal(required(balance, "free"), "free")
            frozen = decimal(balance.get("frozen") or "0", "frozen")
            updates.append(
                BalanceUpdate(
                    exchange=NAME,
                    asset=str(required(balance, "coin")),
                    free=free,
                    locked=frozen,
                    total=free + frozen,
                    time_ms=time_ms,
                )
            )
        return updates

    # {"topic": "POSITION", "symbol": "BTC_USDT_PERP", "timestamp": 1566691672311, "data":
    #  {"positionId": "dfadaf_sa_233322", "symbol": "BTC_USDT_PERP", "positionSide": "LONG",
    #  "netSize": "2.1000", "avgPrice": "28500.50", "updateTime": 1566691672311, ...}}
    def _position(self, raw: Mapping[str, Any], message: Mapping[str, Any]) -> list[Update]:
        net = decimal(raw.get("netSize") or "0", "netSize")
        side = str(raw.get("positionSide") or "BOTH")
        return [
            PositionUpdate(
                exchange=NAME,
                symbol=unified_symbol(str(raw.get("symbol") or required(message, "symbol"))),
                quantity=-abs(net) if side == "SHORT" else net,
                entry_price=positive_or_none(raw.get("avgPrice"), "avgPrice"),
                unrealized_pnl=decimal_or_none(raw.get("unrealizedPnL"), "unrealizedPnL"),
                position_side=side,
                time_ms=int_or_none(raw.get("updateTime")),
            )
        ]
