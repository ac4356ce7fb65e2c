"""OrangeX private stream: JSON-RPC 2.0 over ``/orangex/ws/api/v1`` (perpetuals only).

``{"jsonrpc": "2.0", "id", "method": "/public/auth", "params": {grant_type, ...}}`` with
``client_credentials`` (client_id, client_secret) or ``client_signature`` (client_id,
timestamp ms, nonce, signature: the lowercase hex HMAC-SHA256 of "id\\nts\\nnonce\\n", whose
ASCII is hex-encoded again, as the official SDK sends it) authenticates the socket; the
result carries a token (``access_token``, ``expires_in``, ...). ``/private/subscribe``
``{"channels": [...]}`` answers the list of channels; notifications are ``{"jsonrpc",
"method": "subscription", "params": {"channel", "data"}}``. Channels:
``user.orders.<instrument>.raw``, ``user.trades.<instrument>.raw|100ms`` (``data`` a list),
``user.asset.PERPETUAL`` and ``user.portfolio.<currency>``. Text ``PING`` is answered
``PONG`` (and ``/public/ping`` answers ``"pong"``); a socket with no client frame for 30 s is
closed. Ids are echoed as strings.

UNVERIFIED: the ``user.orders`` payload (the REST order state's fields), ``user.asset`` and
``user.portfolio`` payloads (Deribit-like), the ``/public/ping`` result. PAPER-ONLY: the
error for a private call on an unauthenticated socket (10000, as the REST side answers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from paper.engine import EngineEvent, PaperAccount, PaperOrder
from paper.streams.base import (
    LINEAR,
    BadFrame,
    Connection,
    Frame,
    Outgoing,
    StreamServer,
    all_assets,
    num,
    parse_json,
    split_symbol,
)
from paper.wire import hmac_sha256_hex, millis, same_secret, staleness

SUFFIX = "-PERPETUAL"
TOKEN_LIFETIME_SECONDS = 43199
SIGNATURE_WINDOW_MS = 60_000
AUTH_FAILURE = (10000, "Authentication Failure")
NO_SERVICE = (1000, "No service found")
PARAMS_NOT_VALID = (8000, "Request params not valid!")
CHANNEL_MISMATCH = (3401, "channel regex not match")
JSON_PARSE = (9902, "json parse error")
CHANNEL = re.compile(
    r"^(user\.orders\.(?P<oi>[A-Z0-9]+-USDT-PERPETUAL)\.raw"
    r"|user\.trades\.(?P<ti>[A-Z0-9]+-USDT-PERPETUAL)\.(raw|100ms)"
    r"|user\.asset\.PERPETUAL|user\.portfolio\.(usdt|USDT))$"
)
ORDER_STATES = {
    "new": "open",
    "partially_filled": "open",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "rejected": "rejected",
}
TIME_IN_FORCE = {
    "GTC": "good_til_cancelled",
    "FOK": "fill_or_kill",
    "IOC": "immediate_or_cancel",
    "POST_ONLY": "good_til_cancelled",
}


def client_signature(secret: str, client_id: str, timestamp: str, nonce: str) -> str:
    return hmac_sha256_hex(secret, f"{client_id}\n{timestamp}\n{nonce}\n").encode().hex()


def instrument_name(symbol: str) -> str:
    base, quote = split_symbol(symbol)
    return f"{base}-{quote}{SUFFIX}"


class RpcError(Exception):
    def __init__(self, error: tuple[int, str]) -> None:
        super().__init__(error[1])
        self.code, self.message = error


class OrangexStreams(StreamServer):
    exchange: ClassVar[str] = "orangex"
    paths: ClassVar[tuple[tuple[str, str], ...]] = (("/ws/api/v1", LINEAR),)
    idle_timeout: float | None = 30.0

    def received(self, conn: Connection, text: str) -> None:
        if text.strip() == "PING":
            conn.send("PONG")
            return
        request_id: Any = None
        try:
            frame = parse_json(text)
            if not isinstance(frame, dict):
                raise RpcError(JSON_PARSE)
            request_id = frame.get("id")
            params = frame.get("params") or {}
            if not isinstance(params, dict):
                raise RpcError(PARAMS_NOT_VALID)
            result = self._call(conn, str(frame.get("method", "")), params)
        except BadFrame:
            self._answer(conn, None, error=JSON_PARSE)
            return
        except RpcError as exc:
            self._answer(conn, request_id, error=(exc.code, exc.message))
            return
        self._answer(conn, request_id, result=result)

    def _answer(
        self,
        conn: Connection,
        request_id: Any,
        *,
        result: Any = None,
        error: tuple[int, str] | None = None,
    ) -> None:
        answer: dict[str, Any] = {
            "jsonrpc": "2.0",
            "id": None if request_id is None else str(request_id),
        }
        if error is not None:
            answer["error"] = {"code": error[0], "message": error[1], "data": {}}
        else:
            now_us = self.now_ms() * 1000
            answer |= {"usIn": now_us, "usOut": now_us, "usDiff": 0, "result": result}
        conn.send_json(answer)

    def _call(self, conn: Connection, method: str, params: dict[str, Any]) -> Any:
        if method == "/public/ping":
            return "pong"
        if method == "/public/auth":
            return self._auth(conn, params)
        if method in ("/private/subscribe", "/private/unsubscribe"):
            if not conn.authenticated:
                raise RpcError(AUTH_FAILURE)
            return self._subscribe(conn, params, method.endswith("/subscribe"))
        raise RpcError(NO_SERVICE)

    def _auth(self, conn: Connection, params: dict[str, Any]) -> dict[str, Any]:
        account = self.engine.account(self.exchange, str(params.get("client_id", "")))
        grant = params.get("grant_type")
        if grant == "client_credentials":
            good = account is not None and same_secret(
                str(params.get("client_secret", "")), account.api_secret
            )
        elif grant == "client_signature":
            good = account is not None and self._signature_good(account, params)
        else:
            raise RpcError(PARAMS_NOT_VALID)
        if not good or account is None:
            self.refuse_auth()
            raise RpcError(AUTH_FAILURE)
        self.authenticate(conn, account)
        scope = (
            "account:read_write trade:read_write wallet:read_write"
            if "trade" in account.permissions
            else "account:read trade:read wallet:read"
        )
        return {
            "access_token": conn.conn_id + "t",
            "token_type": "bearer",
            "refresh_token": conn.conn_id + "r",
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": scope,
        }

    def _signature_good(self, account: PaperAccount, params: dict[str, Any]) -> bool:
        stamp, nonce = str(params.get("timestamp", "")), str(params.get("nonce", ""))
        sent = millis(stamp)
        if (
            sent is None
            or staleness(
                sent, self.now_ms(), behind_ms=SIGNATURE_WINDOW_MS, ahead_ms=SIGNATURE_WINDOW_MS
            )
            is not None
        ):
            return False
        expected = client_signature(account.api_secret, account.api_key, stamp, nonce)
        return same_secret(str(params.get("signature", "")), expected)

    def _subscribe(self, conn: Connection, params: dict[str, Any], add: bool) -> list[str]:
        channels = params.get("channels")
        if (
            not isinstance(channels, list)
            or not channels
            or not all(isinstance(c, str) for c in channels)
        ):
            raise RpcError(PARAMS_NOT_VALID)
        if any(CHANNEL.match(c) is None for c in channels):
            raise RpcError(CHANNEL_MISMATCH)  # one bad channel fails the whole frame
        if add:
            conn.channels.update(channels)
        else:
            conn.channels.difference_update(channels)
        return list(channels)

    # -- which stream wants what -----------------------------------------------------------

    def _channels_for(self, conn: Connection, message: Outgoing) -> list[str]:
        if message.channel in ("orders", "trades"):
            prefix = f"user.{message.channel}.{message.symbol}."
            return sorted(c for c in conn.channels if c.startswith(prefix))
        if message.channel == "asset":
            return ["user.asset.PERPETUAL"] if "user.asset.PERPETUAL" in conn.channels else []
        return sorted(c for c in conn.channels if c.lower() == "user.portfolio.usdt")

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return bool(self._channels_for(conn, message))

    def encode(self, conn: Connection, message: Outgoing) -> Frame:
        channel = self._channels_for(conn, message)[0]
        return super().encode(
            conn,
            Outgoing(
                message.channel,
                message.product,
                {
                    "jsonrpc": "2.0",
                    "method": "subscription",
                    "params": {"channel": channel, "data": message.payload},
                },
            ),
        )

    # -- renderers -------------------------------------------------------------------------

    def render(self, event: EngineEvent) -> list[Outgoing]:
        order = event.order
        assert order is not None
        if event.kind == "closed" and order.status == "filled":
            return []
        name = instrument_name(order.symbol)
        messages = [Outgoing("orders", LINEAR, self._order_row(order), name)]
        fill = event.fill
        if fill is not None:
            mark = self.engine.price(self.exchange, order.symbol)
            messages.append(
                Outgoing(
                    "trades",
                    LINEAR,
                    [
                        {
                            "trade_id": fill.trade_id,
                            "order_id": order.order_id,
                            "instrument_name": name,
                            "direction": order.side,
                            "amount": num(fill.quantity),
                            "price": num(fill.price),
                            "timestamp": fill.time_ms,
                            "role": "maker" if fill.maker else "taker",
                            "order_type": order.type,
                            "positionSide": "BOTH",
                            "leverage": str(self.engine.leverage(self._owner(order), order.symbol)),
                            "marginType": "cross",
                            "rpl": "0",
                            "fee": num(fill.fee),
                            "feeCoupon": "0",
                            "feeActual": num(fill.fee),
                            "feeReal": num(fill.fee),
                            "fee_coin_type": fill.fee_asset,
                            "fee_use_coupon": False,
                            "source": "api",
                            "index_price": num(mark),
                            "mark_price": num(mark),
                            "self_trade": False,
                        }
                    ],
                    name,
                )
            )
        return messages

    def _owner(self, order: PaperOrder) -> PaperAccount:
        account = self.engine.account(self.exchange, order.api_key)
        assert account is not None
        return account

    def _order_row(self, order: PaperOrder) -> dict[str, Any]:
        return {
            "order_id": order.order_id,
            "custom_order_id": order.client_order_id or "",
            "instrument_name": instrument_name(order.symbol),
            "direction": order.side,
            "order_type": order.type,
            "order_state": ORDER_STATES[order.status],
            "amount": num(order.quantity),
            "filled_amount": num(order.filled_quantity),
            "price": num(order.price),
            "average_price": num(order.average_price),
            "time_in_force": TIME_IN_FORCE[order.time_in_force],
            "post_only": order.time_in_force == "POST_ONLY",
            "reduce_only": order.reduce_only,
            "position_side": "BOTH",
            "error_code": 0,
            "leverage": self.engine.leverage(self._owner(order), order.symbol),
            "creation_timestamp": order.created_ms,
            "last_update_timestamp": order.updated_ms,
        }

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        touched = all_assets(assets)
        if "USDT" not in touched:
            return []
        free, locked = self.balance_of(account, "USDT")
        upl = sum(
            (p.unrealized_pnl for p in self.engine.positions(self.exchange, account)), Decimal(0)
        )
        asset = {
            "PERPETUAL": {
                "available_funds": num(free),
                "wallet_balance": num(free + locked),
                "frozen": num(locked),
                "unrealized_pnl": num(upl),
                "equity": num(free + locked + upl),
                "currency": "USDT",
            }
        }
        portfolio = {
            "currency": "USDT",
            "available_funds": num(free),
            "balance": num(free + locked),
            "equity": num(free + locked + upl),
            "initial_margin": num(locked),
            "total_pl": num(upl),
        }
        return [Outgoing("asset", LINEAR, asset), Outgoing("portfolio", LINEAR, portfolio)]

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        return []  # no position channel is documented: positions come from REST
