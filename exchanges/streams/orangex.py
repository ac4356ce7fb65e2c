"""OrangeX private stream: JSON-RPC over one socket, ``/public/auth`` on the socket, then
``/private/subscribe`` per instrument; text ``PING`` every 5 s.

The thinnest documentation of the six: the order and asset payloads were captured by no
source, so those parsers read the REST shapes (marked UNVERIFIED). docs/streams.md
"OrangeX" has the facts and their sources.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.orangex import STATUS_MAP
from exchanges.streams.base import (
    AuthOutcome,
    BalanceUpdate,
    FillUpdate,
    Heartbeat,
    MessageRefused,
    OrderUpdate,
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

NAME = "orangex"
ACCOUNT_AREA = "PERPETUAL"  # the asset type we subscribe (user.asset.PERPETUAL)
SETTLE = "USDT"
AUTH_ID = "auth"
SUBSCRIBE_ID = "subscribe"
PERPETUAL_SUFFIX = "-PERPETUAL"
HEDGE_MODE_CANCEL_CODE = 5998  # auto-cancelled: position_side missing in hedge mode
ROLES = {"maker": "maker", "taker": "taker"}


def string_to_sign(client_id: str, timestamp_ms: int, nonce: str) -> str:
    return f"{client_id}\n{timestamp_ms}\n{nonce}\n"


def auth_signature(client_secret: str, client_id: str, timestamp_ms: int, nonce: str) -> str:
    """The official SDK's client_signature: the lower-case hex HMAC, hex-encoded again."""
    digest = hmac.new(
        client_secret.encode(),
        string_to_sign(client_id, timestamp_ms, nonce).encode(),
        hashlib.sha256,
    ).hexdigest()
    return digest.encode().hex()


def instrument_name(unified: str) -> str:
    market = parse_symbol(unified)
    if not market.is_perpetual or market.quote != "USDT":
        raise MessageRefused(
            f"OrangeX lists USDT perpetuals only, not {unified}", code="bad_symbol", exchange=NAME
        )
    return f"{market.base}-{market.quote}{PERPETUAL_SUFFIX}"


def unified_symbol(name: str) -> str:
    parts = name.split("-")
    if len(parts) != 3 or f"-{parts[2]}" != PERPETUAL_SUFFIX or not parts[0]:
        raise MessageRefused(
            f"not an OrangeX perpetual: {name!r}", code="bad_symbol", exchange=NAME
        )
    return checked_symbol(f"{parts[0]}/{parts[1]}:{parts[1]}")


class OrangexStream(StreamProtocol):
    name = NAME
    products = ("linear",)
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        ("live", "linear"): "wss://api.orangex.com"
    }
    ws_paths: ClassVar[Mapping[str, str]] = {"linear": "/ws/api/v1"}
    heartbeat = Heartbeat(
        interval_seconds=5,
        dead_after_seconds=10,
        send="PING",
        source="OrangeX docs via nemanull/arbitrage-observatory websocket "
        "profile; official SDK websocket_client.py (PING every 5 s)",
    )
    quotas = Quotas(
        connections_per_ip=9,
        new_connections=5,
        new_connections_window_seconds=60,
        source="OrangeX docs via nemanull (fewer than 10 concurrent, at most 5 new "
        "connections per minute)",
    )

    def __init__(
        self, api_type: str, *, grant_type: str = "client_signature", **kwargs: Any
    ) -> None:
        super().__init__(api_type, **kwargs)
        # UNVERIFIED live: client_signature (double hex); client_credentials is proven but
        # sends the secret itself over the socket.
        self.grant_type = grant_type

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        if self.grant_type == "client_credentials":
            params = {
                "grant_type": "client_credentials",
                "client_id": credentials.api_key,
                "client_secret": credentials.api_secret,
            }
        else:
            nonce = str(now_ms)
            params = {
                "grant_type": "client_signature",
                "client_id": credentials.api_key,
                "timestamp": str(now_ms),
                "nonce": nonce,
                "signature": auth_signature(
                    credentials.api_secret, credentials.api_key, now_ms, nonce
                ),
            }
        return [
            json.dumps(
                {"jsonrpc": "2.0", "id": AUTH_ID, "method": "/public/auth", "params": params}
            )
        ]

    # {"jsonrpc": "2.0", "id": "auth", "result": {"access_token": "...", "expires_in": 43199,
    #  "refresh_token": "...", "scope": "...", "token_type": "bearer"}}
    # {"jsonrpc": "2.0", "id": "auth", "error": {"code": 10000, "message":
    #  "Authentication Failure"}}
    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        message = self.decode(message)
        if not isinstance(message, Mapping) or str(message.get("id")) != AUTH_ID:
            return None
        error = message.get("error")
        if isinstance(error, Mapping):
            return AuthOutcome(
                ok=False, code=str(error.get("code", "")), message=str(error.get("message", ""))
            )
        result = message.get("result")
        return AuthOutcome(ok=isinstance(result, Mapping) and bool(result.get("access_token")))

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        names = [instrument_name(symbol) for symbol in symbols]
        channels = [f"user.{kind}.{name}.raw" for name in names for kind in ("orders", "trades")]
        # UNVERIFIED: user.asset.PERPETUAL (documented pattern user.asset.{asset_type});
        # no position channel is confirmed (user.changes.future.USDT.raw was refused).
        channels.append("user.asset.PERPETUAL")
        return [
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": SUBSCRIBE_ID,
                    "method": "/private/subscribe",
                    "params": {"channels": channels},
                }
            )
        ]

    def parse_decoded(self, message: Any) -> list[Update]:
        if not isinstance(message, Mapping) or message.get("method") != "subscription":
            return []  # PONG, answers to auth and subscribe
        params = message.get("params")
        if not isinstance(params, Mapping):
            raise MessageRefused("subscription without params", code="bad_field", exchange=NAME)
        channel = str(params.get("channel", ""))
        data = params.get("data")
        if channel.startswith("user.trades."):
            return [self._fill(raw) for raw in items(data, "trades")]
        if channel.startswith("user.orders."):
            return [self._order(raw) for raw in items(data, "orders")]
        if channel.startswith("user.asset."):
            return self._assets(data)
        return []

    # live capture (dyomini): {"trade_id": "...", "order_id": "828610767077068800",
    #  "instrument_name": "BTC-USDT-PERPETUAL", "direction": "buy", "amount": "0.01",
    #  "price": "50000", "timestamp": 1700000000000, "role": "taker", "fee": "0.3",
    #  "fee_coin_type": "USDT", "positionSide": "BOTH", ...}   (no custom_order_id)
    def _fill(self, raw: Mapping[str, Any]) -> FillUpdate:
        return FillUpdate(
            exchange=NAME,
            trade_id=str(required(raw, "trade_id")),
            exchange_order_id=str(required(raw, "order_id")),
            client_order_id=None,
            symbol=unified_symbol(str(required(raw, "instrument_name"))),
            side=side_of(required(raw, "direction")),
            price=decimal(required(raw, "price"), "price"),
            quantity=decimal(required(raw, "amount"), "amount"),
            fee=decimal(raw.get("fee") or "0", "fee"),
            fee_asset=text_or_none(raw.get("fee_coin_type")),
            liquidity=ROLES.get(str(raw.get("role", "")).lower()),
            time_ms=int_or_none(raw.get("timestamp")),
        )

    # UNVERIFIED: the REST get_order_state shape: {"order_id": "...", "order_state": "open",
    #  "instrument_name": "BTC-USDT-PERPETUAL", "direction": "buy", "amount": "0.01",
    #  "price": "50000", "filled_amount": "0", "average_price": "0", "custom_order_id": "",
    #  "error_code": 0, "last_update_timestamp": 1700000000000}
    def _order(self, raw: Mapping[str, Any]) -> OrderUpdate:
        state = str(required(raw, "order_state"))
        amount = decimal_or_none(raw.get("amount"), "amount")
        filled = decimal(raw.get("filled_amount") or "0", "filled_amount")
        status = status_of(STATUS_MAP, state, NAME)
        if status == "open" and filled > 0:
            status = "partially_filled"
        if status == "canceled" and int_or_none(raw.get("error_code")) == HEDGE_MODE_CANCEL_CODE:
            status = "rejected"
        return OrderUpdate(
            exchange=NAME,
            symbol=unified_symbol(str(required(raw, "instrument_name"))),
            exchange_order_id=str(required(raw, "order_id")),
            client_order_id=text_or_none(raw.get("custom_order_id")),
            status=status,
            raw_status=state,
            side=side_of(required(raw, "direction")),
            quantity=amount,
            filled_quantity=filled,
            average_price=positive_or_none(raw.get("average_price"), "average_price"),
            price=positive_or_none(raw.get("price"), "price"),
            updated_at_ms=int_or_none(raw.get("last_update_timestamp")),
        )

    # UNVERIFIED (no source shows a user.asset push): the channel is user.asset.{asset_type}
    # of /private/get_assets_info, so its payload is taken to be that method's answer for the
    # asset type, as the connector reads it live-tested: for PERPETUAL the account area
    # {"PERPETUAL": {"available_funds": "9800", "wallet_balance": "10000",
    #  "total_margin_balance": "10010", ...}} (docs/exchanges/orangex.md); for WALLET/SPOT
    # {"details": [{"coin_type": "USDT", "available": "900", "freeze": "100", "total": "1000"}]}
    def _assets(self, data: Any) -> list[Update]:
        area = data.get(ACCOUNT_AREA) if isinstance(data, Mapping) else None
        if isinstance(area, Mapping):
            return [self._perpetual_area(area)]
        rows = data.get("details", []) if isinstance(data, Mapping) else data
        return [
            BalanceUpdate(
                exchange=NAME,
                asset=str(required(raw, "coin_type")),
                free=decimal_or_none(raw.get("available"), "available"),
                locked=decimal_or_none(raw.get("freeze"), "freeze"),
                total=decimal_or_none(raw.get("total"), "total"),
            )
            for raw in items(rows, "assets")
            if "coin_type" in raw
        ]

    def _perpetual_area(self, area: Mapping[str, Any]) -> BalanceUpdate:
        """As the connector reads the REST area: free is what is available, the total the
        margin balance (the wallet with its unrealised PnL), locked the rest."""
        free = decimal(required(area, "available_funds"), "available_funds")
        total = decimal_or_none(area.get("total_margin_balance"), "total_margin_balance")
        if total is None:
            total = decimal_or_none(area.get("equity"), "equity")
        if total is None:
            total = decimal(required(area, "wallet_balance"), "wallet_balance")
        return BalanceUpdate(
            exchange=NAME,
            asset=str(area.get("currency") or SETTLE),
            free=free,
            locked=max(total - free, Decimal(0)),
            total=total,
        )
