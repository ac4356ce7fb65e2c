"""Bybit v5 private stream: one socket for every category, ``auth`` op, JSON ping.

docs/streams.md "Bybit" has the facts and their sources.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.bybit import DCP_TOPIC, STATUS_MAP
from exchanges.streams.base import (
    AuthOutcome,
    BalanceUpdate,
    FillUpdate,
    Heartbeat,
    OrderUpdate,
    PositionUpdate,
    Quotas,
    StreamProtocol,
    Update,
    decimal,
    decimal_or_none,
    int_or_none,
    items,
    positive_or_none,
    required,
    side_of,
    split_concatenated,
    status_of,
    text_or_none,
)

NAME = "bybit"
AUTH_VALIDITY_MS = 10_000  # the auth message's expires: now + 10 s
TOPICS = ("order", "execution", "wallet", "position")  # all-in-one: every category
# execution types that are trades of ours (Funding and Settle move no order)
TRADE_EXEC_TYPES = ("Trade", "AdlTrade", "BustTrade", "Delivery")
CATEGORIES = {"spot": "spot", "linear": "linear"}  # others (inverse, option) are not ours
POSITION_SIDES = {"0": "BOTH", "1": "LONG", "2": "SHORT"}  # positionIdx: one-way, hedge


def auth_signature(secret: str, expires_ms: int) -> str:
    """Lower-case hex HMAC-SHA256 of ``GET/realtime`` + expires."""
    return hmac.new(
        secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256
    ).hexdigest()


class BybitStream(StreamProtocol):
    name = NAME
    products = ("spot", "linear", "unified")
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        (env, product): root
        for env, root in (
            ("live", "wss://stream.bybit.com"),
            ("testnet", "wss://stream-testnet.bybit.com"),
            ("demo", "wss://stream-demo.bybit.com"),
        )
        for product in ("spot", "linear", "unified")
    }
    ws_paths: ClassVar[Mapping[str, str]] = {p: "/v5/private" for p in products}
    heartbeat = Heartbeat(
        interval_seconds=20,
        dead_after_seconds=40,
        send=json.dumps({"op": "ping"}),
        source="bybit-exchange.github.io/docs/v5/ws/connect",
    )
    quotas = Quotas(
        new_connections=500,
        new_connections_window_seconds=300,
        source="bybit-exchange.github.io/docs/v5/ws/connect (500 per 5 min per "
        "domain); private sockets may set max_active_time 30 s..600 s",
    )

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        expires = now_ms + AUTH_VALIDITY_MS
        signature = auth_signature(credentials.api_secret, expires)
        return [json.dumps({"op": "auth", "args": [credentials.api_key, expires, signature]})]

    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        message = self.decode(message)
        if not isinstance(message, Mapping) or message.get("op") != "auth":
            return None
        return AuthOutcome(
            ok=message.get("success") is True, message=str(message.get("ret_msg") or "")
        )

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        # DCP fires only on the loss of a stream that subscribed its topic
        topics = [*TOPICS, DCP_TOPIC] if self.dead_man else list(TOPICS)
        return [json.dumps({"op": "subscribe", "args": topics})]

    # {"id": "5923240c6880ab-c59f-420b-9adb-3639adc9dd90", "topic": "order",
    #  "creationTime": 1672364262474, "data": [{"category": "linear", "symbol": "ETHUSDT",
    #  "orderId": "5cf98598-...", "orderLinkId": "", "side": "Buy", "orderStatus": "Filled",
    #  "qty": "0.10", "price": "1193.15", "avgPrice": "1190.8", "cumExecQty": "0.10",
    #  "updatedTime": "1672364262457", ...}]}
    def parse_decoded(self, message: Any) -> list[Update]:
        if not isinstance(message, Mapping) or "topic" not in message:
            return []  # pong, auth and subscribe acks, text
        topic = str(message["topic"]).split(".")[0]
        parser = {
            "order": self._order,
            "execution": self._fill,
            "wallet": self._balances,
            "position": self._position,
        }.get(topic)
        if parser is None:
            return []
        updates: list[Update] = []
        for raw in items(message.get("data"), f"{topic} data"):
            updates.extend(parser(raw, int_or_none(message.get("creationTime"))))
        return updates

    def _symbol(self, raw: Mapping[str, Any]) -> str | None:
        kind = CATEGORIES.get(str(raw.get("category", "")))
        return split_concatenated(str(required(raw, "symbol")), kind) if kind else None

    def _order(self, raw: Mapping[str, Any], _: int | None) -> list[Update]:
        symbol = self._symbol(raw)
        if symbol is None:
            return []
        raw_status = str(required(raw, "orderStatus"))
        return [
            OrderUpdate(
                exchange=NAME,
                symbol=symbol,
                exchange_order_id=str(required(raw, "orderId")),
                client_order_id=text_or_none(raw.get("orderLinkId")),
                status=status_of(STATUS_MAP, raw_status, NAME),
                raw_status=raw_status,
                side=side_of(required(raw, "side")),
                quantity=decimal_or_none(raw.get("qty"), "qty"),
                filled_quantity=decimal(raw.get("cumExecQty", "0"), "cumExecQty"),
                average_price=positive_or_none(raw.get("avgPrice"), "avgPrice"),
                price=positive_or_none(raw.get("price"), "price"),
                updated_at_ms=int_or_none(raw.get("updatedTime")),
            )
        ]

    # {"category": "linear", "symbol": "XRPUSDT", "execFee": "0.005061", "execId":
    #  "7e2ae69c-...", "execPrice": "0.3374", "execQty": "25", "execType": "Trade",
    #  "feeCurrency": "", "isMaker": false, "orderId": "f6e324ff-...", "orderLinkId": "",
    #  "side": "Sell", "execTime": "1672364174443", ...}
    def _fill(self, raw: Mapping[str, Any], _: int | None) -> list[Update]:
        symbol = self._symbol(raw)
        if symbol is None or raw.get("execType", "Trade") not in TRADE_EXEC_TYPES:
            return []
        maker = raw.get("isMaker")
        # Linear fees are in the settle coin; the doc leaves feeCurrency empty there.
        fee_asset = text_or_none(raw.get("feeCurrency")) or (
            symbol.rsplit(":", 1)[1] if ":" in symbol else None
        )
        return [
            FillUpdate(
                exchange=NAME,
                trade_id=str(required(raw, "execId")),
                exchange_order_id=str(required(raw, "orderId")),
                client_order_id=text_or_none(raw.get("orderLinkId")),
                symbol=symbol,
                side=side_of(required(raw, "side")),
                price=decimal(required(raw, "execPrice"), "execPrice"),
                quantity=decimal(required(raw, "execQty"), "execQty"),
                fee=decimal(raw.get("execFee") or "0", "execFee"),
                fee_asset=fee_asset,
                liquidity=None if maker is None else ("maker" if maker is True else "taker"),
                time_ms=int_or_none(raw.get("execTime")),
            )
        ]

    # {"accountType": "UNIFIED", "coin": [{"coin": "USDT", "walletBalance": "1000.5",
    #  "locked": "0", "equity": "1000.5", ...}], ...}
    def _balances(self, raw: Mapping[str, Any], time_ms: int | None) -> list[Update]:
        return [
            BalanceUpdate(
                exchange=NAME,
                asset=str(required(coin, "coin")),
                free=None,
                locked=decimal_or_none(coin.get("locked"), "locked"),
                total=decimal_or_none(coin.get("walletBalance"), "walletBalance"),
                time_ms=time_ms,
            )
            for coin in items(raw.get("coin", []), "wallet coins")
        ]

    # {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "size": "0.001",
    #  "positionIdx": 0, "entryPrice": "60000", "unrealisedPnl": "1.2",
    #  "updatedTime": "1697682317038", ...}   side "" and size "0" when flat
    def _position(self, raw: Mapping[str, Any], time_ms: int | None) -> list[Update]:
        symbol = self._symbol(raw)
        if symbol is None:
            return []
        size = decimal(raw.get("size") or "0", "size")
        side = str(raw.get("side") or "")
        signed = -size if side == "Sell" else (size if side == "Buy" else size * 0)
        return [
            PositionUpdate(
                exchange=NAME,
                symbol=symbol,
                quantity=signed,
                entry_price=positive_or_none(raw.get("entryPrice"), "entryPrice"),
                unrealized_pnl=decimal_or_none(raw.get("unrealisedPnl"), "unrealisedPnl"),
                position_side=POSITION_SIDES.get(str(raw.get("positionIdx", 0)), "BOTH"),
                time_ms=int_or_none(raw.get("updatedTime")) or time_ms,
            )
        ]
