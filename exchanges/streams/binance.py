"""Binance private streams: Spot through the WebSocket API's signed user-data subscription
(the REST listen-key endpoints for spot were removed on 2026-02-20), USD-M futures through a
listen key on the routed ``/private`` path.

docs/streams.md "Binance" has the facts and their sources.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from exchanges.base import Credentials
from exchanges.binance import STATUS_MAP
from exchanges.streams.base import (
    AuthOutcome,
    BalanceUpdate,
    Endpoint,
    FillUpdate,
    Heartbeat,
    ListenKeyLifecycle,
    MessageRefused,
    PositionUpdate,
    Quotas,
    StreamProtocol,
    Update,
    decimal,
    decimal_or_none,
    int_or_none,
    items,
    mapping_of,
    positive_or_none,
    required,
    split_concatenated,
    text_or_none,
)
from exchanges.streams.execution_events import (
    execution_fill,
    execution_order,
    quote_average,
    trade_update_order,
    wallet_balances,
)

NAME = "binance"
SUBSCRIBE_METHOD = "userDataStream.subscribe.signature"
# execution types that carry a fill: TRADE; futures also CALCULATED (a liquidation fill)
FILL_EXECUTIONS = ("TRADE", "CALCULATED")
ENDING_EVENTS = ("eventStreamTerminated", "listenKeyExpired", "serverShutdown")
FUTURES_LISTEN_KEY = ListenKeyLifecycle(
    create=Endpoint("POST", "/fapi/v1/listenKey"),
    keep_alive=Endpoint("PUT", "/fapi/v1/listenKey"),
    delete=Endpoint("DELETE", "/fapi/v1/listenKey"),
    keep_alive_every_seconds=30 * 60,
    valid_for_seconds=60 * 60,
    signed=False,
    shared_per_account=True,
    source="developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams",
)


def subscribe_payload(api_key: str, timestamp_ms: int) -> str:
    """The signed parameters, sorted by name: ``apiKey=..&timestamp=..`` (no recvWindow)."""
    return f"apiKey={api_key}&timestamp={timestamp_ms}"


def subscribe_signature(secret: str, api_key: str, timestamp_ms: int) -> str:
    """Hex HMAC-SHA256 of the sorted parameters, as every WebSocket API request is signed."""
    return hmac.new(
        secret.encode(), subscribe_payload(api_key, timestamp_ms).encode(), hashlib.sha256
    ).hexdigest()


class BinanceStream(StreamProtocol):
    name = NAME
    ws_roots: ClassVar[Mapping[tuple[str, str], str]] = {
        ("live", "spot"): "wss://ws-api.binance.com:443",
        ("testnet", "spot"): "wss://ws-api.testnet.binance.vision",
        ("live", "linear"): "wss://fstream.binance.com",
        # UNVERIFIED: the routed /private path on the futures testnet (third-party code only)
        ("testnet", "linear"): "wss://fstream.binancefuture.com",
    }
    ws_paths: ClassVar[Mapping[str, str]] = {"spot": "/ws-api/v3", "linear": "/private/ws/"}
    # The server pings (spot every 20 s, futures every 3 min); our own ping frames every
    # 20 s give the silence check something to hear on a quiet account.
    heartbeat = Heartbeat(
        interval_seconds=20,
        dead_after_seconds=40,
        ping_frames=True,
        server_pings=True,
        source="binance-spot-api-docs web-socket-api.md; USD-M WebSocket "
        "Market Streams / WebSocket API General Info",
    )

    def __init__(self, api_type: str, **kwargs: Any) -> None:
        super().__init__(api_type, **kwargs)
        self.listen_key = FUTURES_LISTEN_KEY if self.product == "linear" else None
        self.quotas = (
            Quotas(
                new_connections=300,
                new_connections_window_seconds=300,
                subscriptions_per_connection=1000,
                max_connection_seconds=86_400,
                source="binance-spot-api-docs web-socket-api.md (Connection limits, User "
                "Data Stream subscription limits)",
            )
            if self.product == "spot"
            else Quotas(
                messages_per_second=10,
                max_connection_seconds=86_400,
                source="developers.binance.com USD-M WebSocket Market Streams",
            )
        )

    def url_suffix(
        self, *, listen_key: str | None, credentials: Credentials | None, now_ms: int | None
    ) -> str:
        if self.product == "spot":
            return ""
        if not listen_key:
            raise MessageRefused(
                "a USD-M stream needs its listen key", code="no_listen_key", exchange=NAME
            )
        return listen_key

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        """Spot: the signed subscription is both the authentication and the subscription."""
        if self.product != "spot":
            return []
        signature = subscribe_signature(credentials.api_secret, credentials.api_key, now_ms)
        return [
            json.dumps(
                {
                    "id": f"uds-{now_ms}",
                    "method": SUBSCRIBE_METHOD,
                    "params": {
                        "apiKey": credentials.api_key,
                        "timestamp": now_ms,
                        "signature": signature,
                    },
                }
            )
        ]

    # {"id": "uds-1", "status": 200, "result": {"subscriptionId": 0}}
    # {"id": "uds-1", "status": 400, "error": {"code": -1022, "msg": "Signature for this
    #  request is not valid."}}
    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        message = self.decode(message)
        if (
            self.product != "spot"
            or not isinstance(message, Mapping)
            or not str(message.get("id", "")).startswith("uds-")
        ):
            return None
        error = mapping_of(message.get("error"))
        return AuthOutcome(
            ok=message.get("status") == 200,
            code=str(error.get("code", "")),
            message=str(error.get("msg", "")),
        )

    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        return []  # spot subscribes in auth_messages; USD-M pushes every event unasked

    def ends_stream(self, message: Any) -> bool:
        event = self._event(self.decode(message))
        return event is not None and event.get("e") in ENDING_EVENTS

    def _event(self, message: Any) -> Mapping[str, Any] | None:
        if not isinstance(message, Mapping):
            return None
        event = message.get("event") if self.product == "spot" else message
        return event if isinstance(event, Mapping) and "e" in event else None

    def parse_decoded(self, message: Any) -> list[Update]:
        event = self._event(message)
        if event is None:
            return []  # request answers, text
        kind = event["e"]
        if kind == "executionReport":
            return self._execution_report(event)
        if kind == "outboundAccountPosition":
            return self._spot_balances(event)
        if kind == "ORDER_TRADE_UPDATE":
            return self._futures_order(event)
        if kind == "ACCOUNT_UPDATE":
            return self._account_update(event)
        return []  # balanceUpdate (a delta), externalLockUpdate, terminations, config

    # {"subscriptionId": 0, "event": {"e": "executionReport", "E": 1499405658658,
    #  "s": "ETHBTC", "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY", "q": "1.00000000",
    #  "p": "0.10264410", "C": "", "x": "NEW", "X": "NEW", "i": 4293153, "l": "0.00000000",
    #  "z": "0.00000000", "L": "0.00000000", "n": "0", "N": null, "T": 1499405658657,
    #  "t": -1, "m": false, "Z": "0.00000000", ...}}
    def _execution_report(self, event: Mapping[str, Any]) -> list[Update]:
        symbol = split_concatenated(str(required(event, "s")), "spot")
        # On a cancel, c is the id of the cancel request and C the order's own id.
        client_id = text_or_none(event.get("C")) or text_or_none(event.get("c"))
        updates: list[Update] = [
            execution_order(
                event,
                exchange=NAME,
                symbol=symbol,
                status_map=STATUS_MAP,
                client_id=client_id,
                average_price=quote_average(event),
                event_time_ms=int_or_none(event.get("E")),
            )
        ]
        if event.get("x") in FILL_EXECUTIONS:
            updates.append(self._fill(event, symbol, client_id))
        return updates

    def _fill(self, raw: Mapping[str, Any], symbol: str, client_id: str | None) -> FillUpdate:
        return execution_fill(
            raw,
            exchange=NAME,
            symbol=symbol,
            client_id=client_id,
            fee=decimal(raw.get("n") or "0", "n"),
        )

    # {"e": "outboundAccountPosition", "E": 1564034571105, "u": 1564034571073,
    #  "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}]}
    def _spot_balances(self, event: Mapping[str, Any]) -> list[Update]:
        updates: list[Update] = []
        for raw in items(event.get("B", []), "balances"):
            free, locked = decimal(required(raw, "f"), "f"), decimal(raw.get("l", "0"), "l")
            updates.append(
                BalanceUpdate(
                    exchange=NAME,
                    asset=str(required(raw, "a")),
                    free=free,
                    locked=locked,
                    total=free + locked,
                    time_ms=int_or_none(event.get("u") or event.get("E")),
                )
            )
        return updates

    # {"e": "ORDER_TRADE_UPDATE", "E": 1568879465651, "T": 1568879465650, "o": {"s":
    #  "BTCUSDT", "c": "TEST", "S": "SELL", "o": "TRAILING_STOP_MARKET", "q": "0.001",
    #  "p": "0", "ap": "0", "x": "NEW", "X": "NEW", "i": 8886774, "l": "0", "z": "0",
    #  "L": "0", "N": "USDT", "n": "0", "T": 1568879465650, "t": 0, "m": false, ...}}
    def _futures_order(self, event: Mapping[str, Any]) -> list[Update]:
        raw, order = trade_update_order(
            event,
            exchange=NAME,
            symbol_of=lambda symbol: split_concatenated(symbol, "linear"),
            status_map=STATUS_MAP,
            time_key="T",
        )
        updates: list[Update] = [order]
        if raw.get("x") in FILL_EXECUTIONS and decimal(raw.get("l", "0"), "l") > 0:
            updates.append(self._fill(raw, order.symbol, order.client_order_id))
        return updates

    # {"e": "ACCOUNT_UPDATE", "E": 1564745798939, "T": 1564745798938, "a": {"m": "ORDER",
    #  "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.1"}],
    #  "P": [{"s": "BTCUSDT", "pa": "0", "ep": "0.00000", "up": "0", "ps": "BOTH", ...}]}}
    def _account_update(self, event: Mapping[str, Any]) -> list[Update]:
        account = event.get("a")
        if not isinstance(account, Mapping):
            raise MessageRefused("ACCOUNT_UPDATE without an account", code="bad_field")
        time_ms = int_or_none(event.get("T")) or int_or_none(event.get("E"))
        updates: list[Update] = [*wallet_balances(account, exchange=NAME, time_ms=time_ms)]
        for raw in items(account.get("P", []), "positions"):
            updates.append(
                PositionUpdate(
                    exchange=NAME,
                    symbol=split_concatenated(str(required(raw, "s")), "linear"),
                    quantity=decimal(raw.get("pa", "0"), "pa"),
                    entry_price=positive_or_none(raw.get("ep"), "ep"),
                    unrealized_pnl=decimal_or_none(raw.get("up"), "up"),
                    position_side=str(raw.get("ps") or "BOTH"),
                    time_ms=time_ms,
                )
            )
        return updates
