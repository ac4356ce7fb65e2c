"""OrangeX on the paper exchange: JSON-RPC 2.0 over HTTP with token auth.

Written from docs/exchanges/orangex.md only (never from exchanges/orangex.py).
Every call is ``POST /api/v1/<method>`` with ``{"jsonrpc":"2.0","id":..,"method":..,
"params":{..}}`` (public methods also answer GET with query parameters). ``/public/auth``
trades the key and secret (plain, or an HMAC signature hex-encoded twice) for a bearer token;
private calls carry ``Authorization: bearer <token>``. Errors come with HTTP 200 as
``{"jsonrpc","id","error":{code,message,data}}``. Perpetuals only: ``BTC-USDT-PERPETUAL``,
sizes in the base coin (contract size 1).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from paper.engine import (
    DuplicateScope,
    Engine,
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
)
from paper.protocol import Protocol
from paper.wire import (
    Params,
    Problem,
    Refusal,
    hmac_sha256_hex,
    millis,
    note_refusal,
    plain,
    same_secret,
    staleness,
)

API_PREFIX = "/api/v1"
SUFFIX = "-PERPETUAL"
TOKEN_LIFETIME_SECONDS = 43199  # the docs' example expires_in
SCOPE_READ_ONLY = "account:read block_trade:undefined trade:read wallet:read"  # observed

# UNVERIFIED: the clock skew allowed for client_signature is not published.
SIGNATURE_WINDOW_MS = 60_000
CUSTOM_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
HISTORY_COUNT = 100  # UNVERIFIED: default page of the history call
HEDGE_AUTO_CANCEL_CODE = 5998  # order field error_code of the hedge-mode cancel

# Real codes (facts section 6)
NO_SERVICE = (1000, "No service found")
BAD_REQUESTED = (1001, "Bad requested")
ACCESS_DENIED = (2033, "Access denied")
NO_INSTRUMENT = (5001, "Instrument does not exist.")
PARAMS_NOT_VALID = (8000, "Request params not valid!")
JSON_PARSE_ERROR = (9902, "json parse error")
SYSTEM_ERROR = (9999, "System error, please try again later")
AUTH_FAILURE = (10000, "Authentication Failure")
# PAPER-ONLY: OrangeX publishes no code for these; the numbers are Deribit's (whose API
# OrangeX copies) where Deribit has one, invented otherwise.
ORDER_NOT_FOUND = (10004, "order_not_found")  # PAPER-ONLY
NOT_ENOUGH_FUNDS = (10009, "not_enough_funds")  # PAPER-ONLY
TOO_MANY_REQUESTS = (10028, "too_many_requests")  # PAPER-ONLY
NOT_OPEN_ORDER = (11044, "not_open_order")  # PAPER-ONLY
POST_ONLY_REJECT = (11054, "post_only_reject")  # PAPER-ONLY
REDUCE_ONLY_REJECT = (10041, "reduce_only_reject")  # PAPER-ONLY (invented)
DUPLICATE_CUSTOM_ID = (10042, "duplicate_custom_order_id")  # PAPER-ONLY (invented)

PAPER_ERRORS: dict[str, tuple[int, str]] = {
    "insufficient_funds": NOT_ENOUGH_FUNDS,
    "duplicate_client_order_id": DUPLICATE_CUSTOM_ID,
    "order_not_found": ORDER_NOT_FOUND,
    "unknown_symbol": NO_INSTRUMENT,
    "invalid_quantity": PARAMS_NOT_VALID,
    "invalid_price": PARAMS_NOT_VALID,
    "reduce_only_rejected": REDUCE_ONLY_REJECT,
    "post_only_would_take": POST_ONLY_REJECT,
    "permission_denied": ACCESS_DENIED,
    "order_not_cancelable": NOT_OPEN_ORDER,
}
ORDER_STATES = {
    "new": "open",
    "partially_filled": "open",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "rejected": "rejected",
}
TIME_IN_FORCE = {"good_til_cancelled": "GTC", "fill_or_kill": "FOK", "immediate_or_cancel": "IOC"}
WIRE_TIME_IN_FORCE = {ours: wire for wire, ours in TIME_IN_FORCE.items()} | {
    "POST_ONLY": "good_til_cancelled"
}


def token_scope(permissions: list[str]) -> str:
    """The observed scopes, with wallet:read_write only for keys that may withdraw."""
    if "trade" not in permissions:
        return SCOPE_READ_ONLY
    wallet = "wallet:read_write" if "withdraw" in permissions else "wallet:read"
    return f"account:read_write trade:read_write {wallet}"


class RpcError(Refusal):
    """A JSON-RPC error (HTTP 200): always the code's own message; ``detail`` says more in
    the paper exchange's logs only. A failed authentication is counted in the stats."""

    def __init__(self, error: tuple[int, str], detail: str = "") -> None:
        super().__init__(*error, auth=error == AUTH_FAILURE)
        self.detail = detail


@dataclass
class Token:
    api_key: str
    expires_ms: int
    scope: str


def sign_client_signature(secret: str, client_id: str, timestamp: str, nonce: str) -> str:
    """HMAC-SHA256 over ``client_id\\ntimestamp\\nnonce\\n``, lowercase hex, then the ASCII
    of that hex string hex-encoded again (128 characters), as the official SDK sends it."""
    text = f"{client_id}\n{timestamp}\n{nonce}\n"
    return hmac_sha256_hex(secret, text).encode().hex()


Method = Callable[[web.Request, PaperAccount | None, Mapping[str, Any]], Any]


class OrangexProtocol(Protocol):
    exchange: ClassVar[str] = "orangex"
    # UNVERIFIED: no source shows OrangeX refusing a repeated custom_order_id
    duplicate_scope: ClassVar[DuplicateScope] = "none"
    # JSON-RPC over HTTP: every method is served on GET and on POST
    write_routes: ClassVar[frozenset[str]] = frozenset(
        f"{verb} {API_PREFIX}/private/{method}"
        for verb in ("GET", "POST")
        for method in ("buy", "sell", "cancel", "cancel_by_instrument", "cancel_by_currency")
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._tokens: dict[str, Token] = {}
        self._refresh_tokens: dict[str, str] = {}  # refresh token -> api key
        self._auto_canceled: dict[str, dict[str, Any]] = {}  # order id -> order view
        self._auto_canceled_count = 0
        # method -> (handler, permission it needs: None for public methods)
        self._methods: dict[str, tuple[Method, str | None]] = {
            "/public/auth": (self.auth, None),
            "/public/ping": (lambda *_: "pong", None),
            "/public/get_instruments": (self.get_instruments, None),
            "/public/tickers": (self.tickers, None),
            "/public/ticker": (self.ticker, None),
            "/private/get_assets_info": (self.get_assets_info, "read"),
            "/private/buy": (self.buy, "trade"),
            "/private/sell": (self.sell, "trade"),
            "/private/cancel": (self.cancel, "trade"),
            "/private/cancel_by_instrument": (self.cancel_by_instrument, "trade"),
            "/private/cancel_by_currency": (self.cancel_by_currency, "trade"),
            "/private/get_order_state": (self.get_order_state, "read"),
            "/private/get_open_orders_by_instrument": (self.get_open_orders, "read"),
            "/private/get_order_history_by_instrument": (self.get_order_history, "read"),
            # UNVERIFIED name (the Deribit family's; see docs/exchanges/orangex.md)
            "/private/get_user_trades_by_instrument": (self.get_user_trades, "read"),
            "/private/get_user_position": (self.get_user_position, "read"),
            # documented, but live it answered [] even with open positions
            "/private/get_positions": (lambda *_: [], "read"),
            # UNVERIFIED which of the two leverage methods is live: both are served
            "/private/adjust_perpetual_leverage": (self.adjust_leverage, "trade"),
            "/private/modify_perpetual_instrument_leverage": (self.adjust_leverage, "trade"),
        }

    # -- aiohttp plumbing -----------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        path = API_PREFIX + "/{scope:public|private}/{name}"
        return [web.post(path, self.handle), web.get(path, self.handle, allow_head=False)]

    def request_weight(self, request: web.Request) -> int:
        return 1  # no weights published; support quoted 10 requests/second

    def rate_limited(self, retry_after: float) -> web.Response:
        # PAPER-ONLY: the over-limit answer was never observed; HTTP 429 with Retry-After
        # and Deribit's too_many_requests code
        return web.json_response(
            self._error_body(None, TOO_MANY_REQUESTS),
            status=429,
            headers={"Retry-After": str(max(1, round(retry_after)))},
        )

    def server_error(self) -> web.Response:
        return web.json_response(self._error_body(None, SYSTEM_ERROR), status=503)

    async def handle(self, request: web.Request) -> web.Response:
        received_ms = self.engine.now_ms()
        rpc_id: Any = None
        try:
            rpc_id, params = await _read_rpc(request)
            method = f"/{request.match_info['scope']}/{request.match_info['name']}"
            if method not in self._methods:
                raise RpcError(NO_SERVICE)
            handler, permission = self._methods[method]
            account = self._authorize(request, permission) if permission else None
            result = handler(request, account, params)
        except RpcError as exc:
            note_refusal(request, exc)
            return web.json_response(self._error_body(rpc_id, (exc.code, exc.message)))
        except PaperError as exc:
            return web.json_response(self._error_body(rpc_id, PAPER_ERRORS[exc.kind]))
        sent_ms = self.engine.now_ms()
        # usIn/usOut are called microseconds in the docs but are milliseconds on the wire
        return web.json_response(
            {
                "jsonrpc": "2.0",
                "id": rpc_id,
                "usIn": received_ms,
                "usOut": sent_ms,
                "usDiff": sent_ms - received_ms,
                "result": result,
            }
        )

    @staticmethod
    def _error_body(rpc_id: Any, error: tuple[int, str]) -> dict[str, Any]:
        return {
            "jsonrpc": "2.0",
            "id": rpc_id,
            "error": {"code": error[0], "message": error[1], "data": {}},
        }

    # -- authentication -------------------------------------------------------------------

    def _authorize(self, request: web.Request, permission: str) -> PaperAccount:
        """The bearer token from the header (a token in params is not accepted on REST)."""
        scheme, _, token_text = request.headers.get("Authorization", "").partition(" ")
        token = self._tokens.get(token_text.strip()) if scheme.lower() == "bearer" else None
        account = self.engine.account(self.exchange, token.api_key) if token else None
        if token is None or account is None or token.expires_ms <= self.engine.now_ms():
            raise RpcError(AUTH_FAILURE)
        if permission not in account.permissions or (
            permission == "trade" and "trade:read_write" not in token.scope
        ):
            raise RpcError(ACCESS_DENIED)
        return account

    def auth(
        self, request: web.Request, _: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        grant = params.get("grant_type")
        if grant == "client_credentials":
            account = self._account_by_secret(request, params)
        elif grant == "client_signature":
            account = self._account_by_signature(request, params)
        elif grant == "refresh_token":
            api_key = self._refresh_tokens.pop(str(params.get("refresh_token")), None)
            found = self.engine.account(self.exchange, api_key) if api_key else None
            if found is None:
                raise RpcError(AUTH_FAILURE)
            account = found
        else:
            raise RpcError(PARAMS_NOT_VALID, "unknown grant_type")
        return self._grant(account)

    def _account_by_secret(self, request: web.Request, params: Mapping[str, Any]) -> PaperAccount:
        account = self.engine.account(self.exchange, str(params.get("client_id", "")))
        secret = str(params.get("client_secret", ""))
        if account is None or not same_secret(secret, account.api_secret):
            raise RpcError(AUTH_FAILURE)
        return account

    def _account_by_signature(
        self, request: web.Request, params: Mapping[str, Any]
    ) -> PaperAccount:
        client_id = str(params.get("client_id", ""))
        timestamp = str(params.get("timestamp", ""))
        nonce = str(params.get("nonce", ""))  # optional per the docs: then it signs ""
        account = self.engine.account(self.exchange, client_id)
        sent_ms = millis(timestamp)
        fresh = (
            sent_ms is not None
            and staleness(
                sent_ms,
                self.engine.now_ms(),
                behind_ms=SIGNATURE_WINDOW_MS,
                ahead_ms=SIGNATURE_WINDOW_MS,
            )
            is None
        )
        expected = (
            sign_client_signature(account.api_secret, client_id, timestamp, nonce)
            if account
            else ""
        )
        given = str(params.get("signature", ""))
        if account is None or not fresh or not same_secret(given, expected):
            raise RpcError(AUTH_FAILURE)
        return account

    def _grant(self, account: PaperAccount) -> dict[str, Any]:
        scope = token_scope(account.permissions)
        access, refresh = secrets.token_hex(24), secrets.token_hex(24)
        self._tokens[access] = Token(
            account.api_key, self.engine.now_ms() + TOKEN_LIFETIME_SECONDS * 1000, scope
        )
        self._refresh_tokens[refresh] = account.api_key
        return {
            "access_token": access,
            "token_type": "bearer",
            "refresh_token": refresh,
            "expires_in": TOKEN_LIFETIME_SECONDS,
            "scope": scope,
        }

    # -- market data ------------------------------------------------------------------------

    def _perpetuals(self) -> dict[str, PaperInstrument]:
        return {
            f"{inst.base}-{inst.quote}{SUFFIX}": inst
            for inst in self.engine.instruments(self.exchange)
            if inst.kind == "linear"
        }

    def _instrument(self, params: Mapping[str, Any]) -> tuple[str, PaperInstrument]:
        name = params.get("instrument_name")
        if not isinstance(name, str) or not name:
            raise RpcError(PARAMS_NOT_VALID, "instrument_name is required")
        found = self._perpetuals().get(name)
        if found is None:
            raise RpcError(NO_INSTRUMENT)
        return name, found

    def get_instruments(
        self, _: web.Request, __: PaperAccount | None, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        # {"instrument_name": "BTC-USDT-PERPETUAL", "kind": "perpetual", "is_active": true,
        #  "tick_size": "0.1", "min_trade_amount": "0.001", "min_qty": "0.001",
        #  "min_notional": "5", "base_currency": "USDT", "quote_currency": "BTC", ...}
        if params.get("currency", "PERPETUAL") != "PERPETUAL":
            return []  # the paper exchange lists no SPOT or SANDBOX instruments for OrangeX
        return [
            {
                "instrument_name": name,
                "kind": "perpetual",
                "is_active": True,
                "tick_size": str(inst.tick_size),
                "min_trade_amount": str(inst.lot_size),
                "min_qty": str(inst.min_quantity),
                "min_notional": str(inst.min_notional),
                "contract_size": "1",
                "maker_commission": "0.0002",
                "taker_commission": "0.0006",
                "creation_timestamp": 1_600_000_000_000,
                "leverage": 125,
                "order_price_low_rate": "0.5",
                "order_price_high_rate": "1.5",
                # swapped on the real exchange: base_currency is the settlement asset
                "base_currency": inst.quote,
                "quote_currency": inst.base,
            }
            for name, inst in self._perpetuals().items()
        ]

    def _ticker_view(self, name: str, inst: PaperInstrument) -> dict[str, Any]:
        price = str(self.engine.price(self.exchange, inst.symbol))  # no spread on paper
        return {
            "instrument_name": name,
            "timestamp": self.engine.now_ms(),
            "last_price": price,
            "mark_price": price,
            "index_price": price,
            "underlying_price": price,
            "best_bid_price": price,
            "best_ask_price": price,
            "best_bid_amount": "0",
            "best_ask_amount": "0",
            "stats": {"high": price, "low": price, "volume": "0", "price_change": "0"},
        }

    def tickers(
        self, _: web.Request, __: PaperAccount | None, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        if "instrument_name" not in params and params.get("currency") == "PERPETUAL":
            return [self._ticker_view(name, inst) for name, inst in self._perpetuals().items()]
        return [self._ticker_view(*self._instrument(params))]

    def ticker(
        self, _: web.Request, __: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._ticker_view(*self._instrument(params))

    # -- account ------------------------------------------------------------------------------

    def get_assets_info(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        # {"PERPETUAL": {"available_funds": "9000", "wallet_balance": "10000", ...}}
        asset_types = params.get("asset_type")
        if not isinstance(asset_types, list) or not asset_types:
            raise RpcError(BAD_REQUESTED)  # a plain string is refused live
        assert account is not None
        result: dict[str, Any] = {}
        for asset_type in asset_types:
            if asset_type == "PERPETUAL":
                result[asset_type] = self._perpetual_area(account)
            elif asset_type in ("WALLET", "SPOT"):
                result[asset_type] = {"details": self._details(account)}
            else:
                raise RpcError(PARAMS_NOT_VALID, f"unknown asset_type {asset_type!r}")
        return result

    def _perpetual_area(self, account: PaperAccount) -> dict[str, Any]:
        free, locked = self.engine.balances(self.exchange, account).get(
            "USDT", (Decimal(0), Decimal(0))
        )
        upl = sum(
            (p.unrealized_pnl for p in self.engine.positions(self.exchange, account)), Decimal(0)
        )
        wallet = free + locked
        return {
            "currency": "USDT",
            "available_funds": str(free),
            "wallet_balance": str(wallet),
            "total_margin_balance": str(wallet + upl),
            "total_upl": str(upl),
            "total_upl_cross": str(upl),
            "total_initial_margin_cross": str(locked),
            "total_initial_margin_isolated": "0",
        }

    def _details(self, account: PaperAccount) -> list[dict[str, Any]]:
        return [
            {
                "coin_type": asset,
                "available": str(free),
                "freeze": str(locked),
                "total": str(free + locked),
            }
            for asset, (free, locked) in sorted(
                self.engine.balances(self.exchange, account).items()
            )
        ]

    # -- orders -------------------------------------------------------------------------------

    def buy(
        self, request: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._place(request, account, params, "buy")

    def sell(
        self, request: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return self._place(request, account, params, "sell")

    def _place(
        self,
        request: web.Request,
        account: PaperAccount | None,
        params: Mapping[str, Any],
        side: str,
    ) -> dict[str, Any]:
        assert account is not None
        name, inst = self._instrument(params)
        order_type = params.get("type", "limit")
        if order_type not in ("limit", "market"):
            raise RpcError(PARAMS_NOT_VALID, "type must be limit or market")
        time_in_force = _time_in_force(params)
        custom_id = params.get("custom_order_id") or None
        if custom_id is not None and not (
            isinstance(custom_id, str) and CUSTOM_ORDER_ID.fullmatch(custom_id)
        ):
            raise RpcError(PARAMS_NOT_VALID, "custom_order_id does not match the rule")
        amount = _decimal(params, "amount")
        price = _decimal(params, "price") if order_type == "limit" else None
        if account.hedge_mode and params.get("position_side") not in ("LONG", "SHORT"):
            order_id = self._auto_cancel(account, name, side, order_type, amount, price)
        else:
            order = self.engine.place_order(
                self.exchange,
                account,
                symbol=inst.symbol,
                side=side,
                type=order_type,
                quantity=amount,
                price=price,
                time_in_force=time_in_force,
                client_order_id=custom_id,
                reduce_only=_bool(params, "reduce_only"),
            )
            order_id = order.order_id
        request["order_accepted"] = True
        # live, custom_order_id came back empty: clients must match on order_id
        return {"order": {"order_id": order_id, "custom_order_id": ""}}

    def _auto_cancel(
        self,
        account: PaperAccount,
        name: str,
        side: str,
        order_type: str,
        amount: Decimal,
        price: Decimal | None,
    ) -> str:
        """Hedge mode without position_side: the server assumes BOTH and cancels the order
        at once with error_code 5998 (observed live). The engine nets one-way positions, so
        the paper exchange keeps these records itself, with 18-digit ids like the real ones
        (the engine's are 16 digits, so they never collide)."""
        self._auto_canceled_count += 1
        now = self.engine.now_ms()
        order_id = str(now * 100_000 + self._auto_canceled_count % 100_000)
        self._auto_canceled[order_id] = {
            "api_key": account.api_key,
            "order_id": order_id,
            "instrument_name": name,
            "direction": side,
            "order_type": order_type,
            "order_state": "canceled",
            "amount": str(amount),
            "filled_amount": "0",
            "price": str(price or 0),
            "average_price": "0",
            "time_in_force": "good_til_cancelled",
            "post_only": False,
            "reduce_only": False,
            "condition_type": "NORMAL",
            "trigger_price": "0",
            "position_side": "BOTH",
            "leverage": 0,
            "error_code": HEDGE_AUTO_CANCEL_CODE,
            "creation_timestamp": now,
            "last_update_timestamp": now,
        }
        return order_id

    def cancel(
        self, request: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert account is not None
        order_id = _order_id(params)
        if order_id in self._auto_canceled:
            raise PaperError("order_not_cancelable")
        order = self.engine.cancel_order(self.exchange, account, order_id=order_id)
        request["cancel_applied"] = True
        return {"order_id": order.order_id}

    def cancel_by_instrument(
        self, request: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> int:
        assert account is not None
        __, inst = self._instrument(params)
        canceled = self.engine.cancel_all(self.exchange, account, inst.symbol)
        if canceled:
            request["cancel_applied"] = True
        return len(canceled)

    def cancel_by_currency(
        self, request: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> int:
        assert account is not None
        if params.get("currency") not in ("USDT", "PERPETUAL"):
            raise RpcError(PARAMS_NOT_VALID, "currency must be USDT or PERPETUAL")
        perpetuals = {inst.symbol for inst in self._perpetuals().values()}
        orders = [
            order
            for order in self.engine.open_orders(self.exchange, account)
            if order.symbol in perpetuals
        ]
        for order in orders:
            self.engine.cancel_order(self.exchange, account, order_id=order.order_id)
        if orders:
            request["cancel_applied"] = True
        return len(orders)

    def get_order_state(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert account is not None
        order_id = _order_id(params)
        phantom = self._auto_canceled.get(order_id)
        if phantom is not None and phantom["api_key"] == account.api_key:
            return _public(phantom)
        order = self.engine.get_order(self.exchange, account, order_id=order_id)
        if order is None:
            raise PaperError("order_not_found")
        return self._order_view(order)

    def get_open_orders(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        assert account is not None
        __, inst = self._instrument(params)
        return [
            self._order_view(order)
            for order in self.engine.open_orders(self.exchange, account, inst.symbol)
        ]

    def get_order_history(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Closed orders only, newest first; ``count`` and ``offset`` page them."""
        assert account is not None
        name, inst = self._instrument(params)
        count = _int(params, "count", HISTORY_COUNT)
        offset = _int(params, "offset", 0)
        closed = [
            self._order_view(order)
            for order in self.engine.order_history(self.exchange, account, inst.symbol)
            if not order.is_open
        ]
        closed += [
            _public(view)
            for view in self._auto_canceled.values()
            if view["api_key"] == account.api_key and view["instrument_name"] == name
        ]
        closed.sort(key=lambda view: view["last_update_timestamp"], reverse=True)
        return closed[offset : offset + count]

    def get_user_trades(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One instrument's trades from ``start_timestamp`` (to ``end_timestamp``), at most
        ``count`` (default 10), newest first unless ``sorting`` is asc."""
        assert account is not None
        name, inst = self._instrument(params)
        start = str(params.get("start_timestamp") or "")
        end = str(params.get("end_timestamp") or "")
        count = _int(params, "count", 10)
        rows = self.engine.account_fills(
            self.exchange,
            account,
            inst.symbol,
            since_ms=int(start) if start.isdigit() else None,
            until_ms=int(end) if end.isdigit() else None,
        )
        if params.get("sorting") == "asc":
            rows.reverse()
        trades = [self._trade_view(order, fill, name) for order, fill in rows]
        return {"trades": trades[:count], "has_more": len(trades) > count}

    @staticmethod
    def _trade_view(order: PaperOrder, fill: PaperFill, name: str) -> dict[str, Any]:
        # as the stream's user.trades pushes it (docs/exchanges/orangex.md)
        return {
            "trade_id": fill.trade_id,
            "order_id": order.order_id,
            "instrument_name": name,
            "direction": order.side,
            "amount": plain(fill.quantity),
            "price": plain(fill.price),
            "timestamp": fill.time_ms,
            "role": "maker" if fill.maker else "taker",
            "fee": plain(fill.fee),
            "fee_coin_type": fill.fee_asset,
            "positionSide": "BOTH",
        }

    def _order_view(self, order: PaperOrder) -> dict[str, Any]:
        # {"order_id": "828610767077068800", "order_state": "open", "direction": "buy",
        #  "instrument_name": "BTC-USDT-PERPETUAL", "amount": "0.01", "price": "50000",
        #  "filled_amount": "0", "average_price": "0", "position_side": "BOTH", ...}
        base, quote = order.symbol.split(":")[0].split("/")
        account = self.engine.account(self.exchange, order.api_key)
        return {
            "order_id": order.order_id,
            "instrument_name": f"{base}-{quote}{SUFFIX}",
            "direction": order.side,
            "order_type": order.type,
            "order_state": ORDER_STATES[order.status],
            "amount": str(order.quantity),
            "filled_amount": str(order.filled_quantity),
            "price": str(order.price or 0),
            "average_price": str(order.average_price or 0),
            "time_in_force": WIRE_TIME_IN_FORCE[order.time_in_force],
            "post_only": order.time_in_force == "POST_ONLY",
            "reduce_only": order.reduce_only,
            "condition_type": "NORMAL",
            "trigger_price": "0",
            "position_side": "BOTH",
            "leverage": self.engine.leverage(account, order.symbol) if account else 0,
            "error_code": 0,
            "creation_timestamp": order.created_ms,
            "last_update_timestamp": order.updated_ms,
        }

    # -- positions and leverage ---------------------------------------------------------------

    def get_user_position(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        # [{"instrument_name": "BTC-USDT-PERPETUAL", "position_side": "SHORT",
        #   "size": "-0.01", "average_price": "50000", "margin_type": "cross", ...}]; flat: []
        assert account is not None
        wanted = self._instrument(params)[1].symbol if "instrument_name" in params else None
        names = {inst.symbol: name for name, inst in self._perpetuals().items()}
        return [
            {
                "instrument_name": names[position.symbol],
                "position_side": "LONG" if position.quantity > 0 else "SHORT",
                "size": str(position.quantity),
                "average_price": str(position.entry_price),
                "mark_price": str(position.mark_price),
                "margin_type": "cross",
                "leverage": position.leverage,
                "floating_profit_loss": str(position.unrealized_pnl),
                "liquid_price": "0",
                "stop_loss_price": "0",
                "take_profit_price": "0",
                "risk_level": "0",
            }
            for position in self.engine.positions(self.exchange, account)
            if position.quantity != 0 and wanted in (None, position.symbol)
        ]

    def adjust_leverage(
        self, _: web.Request, account: PaperAccount | None, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        assert account is not None
        name, inst = self._instrument(params)
        leverage = _decimal(params, "leverage")
        if leverage != leverage.to_integral_value():
            raise RpcError(PARAMS_NOT_VALID, "leverage must be a whole number")
        try:
            self.engine.set_leverage(self.exchange, account, inst.symbol, int(leverage))
        except ValueError as exc:
            raise RpcError(PARAMS_NOT_VALID, str(exc)) from exc
        return {"instrument_name": name, "leverage": int(leverage)}


# -- request parsing helpers ----------------------------------------------------------------------


async def _read_rpc(request: web.Request) -> tuple[Any, Mapping[str, Any]]:
    """(id, params) of a JSON-RPC POST body, or of a GET's query string."""
    if request.method == "GET":
        return request.query.get("id"), dict(request.query)
    try:
        body = json.loads(await request.text() or "null")
    except ValueError:
        raise RpcError(JSON_PARSE_ERROR) from None
    if not isinstance(body, dict):
        raise RpcError(JSON_PARSE_ERROR)
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise RpcError(BAD_REQUESTED)
    return body.get("id"), params


def _refuse_param(name: str, problem: Problem) -> RpcError:
    return RpcError(PARAMS_NOT_VALID, f"{name}: {problem}")


def _decimal(params: Mapping[str, Any], name: str) -> Decimal:
    """A positive number (a string or a JSON number)."""
    number = Params(params, _refuse_param, blank=(None,)).decimal(
        name, required=True, positive=True
    )
    assert number is not None
    return number


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    """A whole number in digits, 0 or more."""
    number = Params(params, _refuse_param, blank=(None,)).integer(name, default=default, low=0)
    assert number is not None
    return number


def _bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if value in (True, "true"):
        return True
    if value in (False, "false", None):
        return False
    raise RpcError(PARAMS_NOT_VALID, f"{name} must be true or false")


def _time_in_force(params: Mapping[str, Any]) -> str:
    ours = TIME_IN_FORCE.get(params.get("time_in_force", "good_til_cancelled"))
    if ours is None:
        raise RpcError(PARAMS_NOT_VALID, "unknown time_in_force")
    if _bool(params, "post_only"):
        if ours != "GTC" or params.get("type", "limit") != "limit":
            raise RpcError(PARAMS_NOT_VALID, "post_only needs a good_til_cancelled limit")
        return "POST_ONLY"
    return ours


def _order_id(params: Mapping[str, Any]) -> str:
    value = params.get("order_id")
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise RpcError(PARAMS_NOT_VALID, "order_id is required")
    return text


def _public(view: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in view.items() if key != "api_key"}
