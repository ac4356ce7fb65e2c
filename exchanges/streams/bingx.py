"""BingX private streams: a REST listen key in the socket URL, gzip-compressed frames, the
server pings. The swap stream pushes every account event unasked; spot subscribes per topic.

docs/streams.md "BingX" has the facts and their sources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.bingx import STATUS_MAP
from exchanges.streams.base import (
    BalanceUpdate,
    Endpoint,
    Heartbeat,
    ListenKeyLifecycle,
    MessageRefused,
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
    text_or_none,
)
from exchanges.streams.execution_events import (
    execution_fill,
    execution_order,
    quote_average,
    trade_update_order,
    wallet_balances,
)

NAME = "bingx"
SPOT_TOPICS = ("spot.executionReport", "ACCOUNT_UPDATE")
LISTEN_KEY = ListenKeyLifecycle(
    create=Endpoint("POST", "/openApi/user/auth/userDataStream"),
    keep_alive=Endpoint("PUT", "/openApi/user/auth/userDataStream"),
    delete=Endpoint("DELETE", "/openApi/user/auth/userDataStream"),
    keep_alive_every_seconds=30 * 60,
    valid_for_seconds=60 * 60,
    key_param="listenKey",
    # UNVERIFIED: the docs send only the API-key header; ccxt signs it like any private call
    signed=False,
    source="BingX docs-v3 listen-key pages; skills.sh/bingx-api/api-ai-skills "
    "(bingx-swap-ws-account)",
)


def unified_symbol(name: str, kind: str) -> str:
    """BTC-USDT -> BTC/USDT (spot) or BTC/USDT:USDT (swap)."""
    base, _, quote = name.upper().partition("-")
    if not base or not quote:
        raise MessageRefused(f"not a BingX symbol: {name!r}", code="bad_symbol", exchange=NAME)
    return checked_symbol(f"{base}/{quote}:{quote}" if kind == "linear" else f"{base}/{quote}")


class BingxStream(StreamProtocol):
    name = NAME
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        ("live", "spot"): "wss://open-api-ws.bingx.com",
        ("live", "linear"): "wss://open-api-swap.bingx.com",
        # UNVERIFIED: the VST private URL (the VST public one is official; JKorf uses it)
        ("testnet", "linear"): "wss://vst-open-api-ws.bingx.com",
    }
    ws_paths: ClassVar[Mapping[str, str]] = {"spot": "/market", "linear": "/swap-market"}
    gzip = True
    listen_key = LISTEN_KEY
    heartbeat = Heartbeat(
        interval_seconds=5,
        dead_after_seconds=10,
        server_pings=True,
        source="BingX docs WebSocket rules: the server pings about every 5 s",
    )
    quotas = Quotas(
        connections_per_ip=60,
        subscriptions_per_connection=200,
        messages_per_second=10,
        source="BingX docs-v3 WebSocket rules (60 connections per IP, 200 "
        "topics per connection, 10 subscribe requests/s)",
    )

    def url_suffix(
        self, *, listen_key: str | None, credentials: Credentials | None, now_ms: int | None
    ) -> str:
        if not listen_key:
            raise MessageRefused(
                "a BingX private stream needs its listen key", code="no_listen_key", exchange=NAME
            )
        return f"?listenKey={listen_key}"

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        if self.product == "linear":
            return []  # every account event is pushed once connected
        return [
            json.dumps({"id": f"sub-{topic}", "reqType": "sub", "dataType": topic})
            for topic in SPOT_TOPICS
        ]

    def reply(self, message: Any) -> str | None:
        message = self.decode(message)
        if message == "Ping":  # swap socket
            return "Pong"
        if isinstance(message, Mapping) and "ping" in message:  # spot socket
            return json.dumps({"pong": message["ping"], "time": message.get("time")})
        return None

    def ends_stream(self, message: Any) -> bool:
        message = self.decode(message)
        return isinstance(message, Mapping) and message.get("e") == "listenKeyExpired"

    def parse_decoded(self, message: Any) -> list[Update]:
        if not isinstance(message, Mapping):
            return []  # Ping, text
        if self.product == "spot":
            return self._spot(message)
        kind = message.get("e")
        if kind == "ORDER_TRADE_UPDATE":
            return self._swap_order(message)
        if kind == "ACCOUNT_UPDATE":
            return self._swap_account(message)
        return []  # ACCOUNT_CONFIG_UPDATE, listenKeyExpired, subscribe answers

    # {"e": "ORDER_TRADE_UPDATE", "E": 1700000000123, "o": {"s": "BTC-USDT", "c": "ec01",
    #  "i": 1735950529123455000, "S": "BUY", "o": "LIMIT", "q": "0.0100", "p": "50000.0",
    #  "ap": "50000.0", "x": "TRADE", "X": "FILLED", "N": "USDT", "n": "-0.2500",
    #  "T": 1700000000120, "ps": "BOTH", "z": "0.0100", "rp": "0", ...}}
    def _swap_order(self, message: Mapping[str, Any]) -> list[Update]:
        raw, order = trade_update_order(
            message,
            exchange=NAME,
            symbol_of=lambda symbol: unified_symbol(symbol, "linear"),
            status_map=STATUS_MAP,
            time_key="E",
        )
        updates: list[Update] = [order]
        # UNVERIFIED: a trade id (td) and the last fill's quantity and price (l, L) are not in
        # every published sample; without all three the fill comes from the REST reconcile.
        if raw.get("x") == "TRADE" and all(text_or_none(raw.get(k)) for k in ("td", "l", "L")):
            # BingX signs the commission as a balance change: negative is paid.
            updates.append(
                execution_fill(
                    raw,
                    exchange=NAME,
                    symbol=order.symbol,
                    client_id=order.client_order_id,
                    fee=-decimal(raw.get("n") or "0", "n"),
                    trade_key="td",
                )
            )
        return updates

    # {"e": "ACCOUNT_UPDATE", "E": 1700000000123, "a": {"m": "ORDER", "B": [{"a": "USDT",
    #  "wb": "1000.5", "cw": "1000.5", "bc": "0"}], "P": [{"s": "BTC-USDT", "pa": "0.01",
    #  "ep": "50000.0", "up": "0.1", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}
    def _swap_account(self, message: Mapping[str, Any]) -> list[Update]:
        account = message.get("a")
        if not isinstance(account, Mapping):
            raise MessageRefused("ACCOUNT_UPDATE without an account", code="bad_field")
        time_ms = int_or_none(message.get("E"))
        updates: list[Update] = [*wallet_balances(account, exchange=NAME, time_ms=time_ms)]
        for raw in items(account.get("P", []), "positions"):
            amount = decimal(raw.get("pa") or "0", "pa")
            side = str(raw.get("ps") or "BOTH")
            updates.append(
                PositionUpdate(
                    exchange=NAME,
                    symbol=unified_symbol(str(required(raw, "s")), "linear"),
                    quantity=-abs(amount) if side == "SHORT" else amount,
                    entry_price=positive_or_none(raw.get("ep"), "ep"),
                    unrealized_pnl=decimal_or_none(raw.get("up"), "up"),
                    position_side=side,
                    time_ms=time_ms,
                )
            )
        return updates

    # {"code": 0, "dataType": "spot.executionReport", "data": {"e": "executionReport",
    #  "E": 1700000000123, "s": "BTC-USDT", "S": "BUY", "o": "LIMIT", "q": "0.001",
    #  "p": "50000", "x": "TRADE", "X": "FILLED", "i": 1735950529123455000, "l": "0.001",
    #  "z": "0.001", "L": "50000", "n": "-0.05", "N": "USDT", "T": 1700000000120,
    #  "t": 2233445566, "m": false, "Z": "50", "c": "ec01"}}
    def _spot(self, message: Mapping[str, Any]) -> list[Update]:
        data = message.get("data")
        if not isinstance(data, Mapping):
            return []  # subscribe answers {"id", "code", "msg"}, pings
        if message.get("dataType") == "spot.executionReport":
            return self._spot_execution(data)
        if message.get("dataType") == "ACCOUNT_UPDATE" or data.get("e") == "ACCOUNT_UPDATE":
            return self._spot_balances(data)
        return []

    def _spot_execution(self, raw: Mapping[str, Any]) -> list[Update]:
        symbol = unified_symbol(str(required(raw, "s")), "spot")
        client_id = text_or_none(raw.get("c"))  # UNVERIFIED: c on spot
        updates: list[Update] = [
            execution_order(
                raw,
                exchange=NAME,
                symbol=symbol,
                status_map=STATUS_MAP,
                client_id=client_id,
                average_price=quote_average(raw),
                event_time_ms=int_or_none(raw.get("E")),
            )
        ]
        if raw.get("x") == "TRADE" and text_or_none(raw.get("t")):
            # UNVERIFIED: the sign of the spot commission; a fee is a cost either way here
            updates.append(
                execution_fill(
                    raw,
                    exchange=NAME,
                    symbol=symbol,
                    client_id=client_id,
                    fee=abs(decimal(raw.get("n") or "0", "n")),
                )
            )
        return updates

    # {"e": "ACCOUNT_UPDATE", "E": 1700000000123, "a": {"B": [{"a": "USDT", "bc": "-50",
    #  "cw": "950", "wb": "950", "lk": "0"}], "m": "ORDER"}}
    def _spot_balances(self, raw: Mapping[str, Any]) -> list[Update]:
        account = mapping_of(raw.get("a"))
        time_ms = int_or_none(raw.get("E"))
        updates: list[Update] = []
        for balance in items(account.get("B", []), "balances"):
            total = decimal_or_none(balance.get("wb"), "wb")
            locked = decimal_or_none(balance.get("lk"), "lk")
            updates.append(
                BalanceUpdate(
                    exchange=NAME,
                    asset=str(required(balance, "a")),
                    free=total - locked if total is not None and locked is not None else None,
                    locked=locked,
                    total=total,
                    time_ms=time_ms,
                )
            )
        return updates
