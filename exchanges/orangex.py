"""OrangeX: USDT-margined perpetuals over JSON-RPC 2.0 on HTTPS, with bearer-token auth.

Every call is ``POST <root>/api/v1<method>`` with ``{"jsonrpc":"2.0","id":n,"method":..,
"params":..}``; failures come back as HTTP 200 with an ``error`` member. Private calls carry
``Authorization: bearer <access_token>`` from ``/public/auth``; the token is cached (per REST
root and key) until shortly before it expires. OrangeX has no testnet, no recvWindow (so no
request deadline), no server-time method (the envelope's ``usOut`` is the clock) and no
lookup by client order id. Facts: docs/exchanges/orangex.md.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from exchanges import errors
from exchanges.base import (
    Balance,
    Call,
    Connector,
    CredentialCheck,
    Credentials,
    ExchangeOrder,
    FillUpdate,
    Instrument,
    KeyInfo,
    OrderRequest,
    Position,
    Response,
    Ticker,
    compact_json,
    unrestricted_key,
)
from exchanges.limits import IP, Budget, Window
from exchanges.parsing import decimal_or_none, decimal_or_zero, format_decimal, int_or_none
from exchanges.symbols import Market, joined_symbol, unified

# -- URLs ---------------------------------------------------------------------------------

# No testnet or demo exists; paper connections always pass base_url.
REST_HOSTS = {("live", "linear"): "https://api.orangex.com"}
WS_HOSTS = {("live", "linear"): "wss://api.orangex.com"}
API_PREFIX = "/api/v1"
WS_PATH = "/ws/api/v1"

# -- JSON-RPC methods (the REST path is API_PREFIX + method) --------------------------------

AUTH = "/public/auth"
TICKERS = "/public/tickers"
INSTRUMENTS = "/public/get_instruments"
ASSETS = "/private/get_assets_info"
BUY = "/private/buy"
SELL = "/private/sell"
CANCEL = "/private/cancel"
CANCEL_BY_INSTRUMENT = "/private/cancel_by_instrument"
ORDER_STATE = "/private/get_order_state"
OPEN_ORDERS = "/private/get_open_orders_by_instrument"
ORDER_HISTORY = "/private/get_order_history_by_instrument"
POSITIONS = "/private/get_user_position"
# UNVERIFIED: the SDK's name; the docs list /private/modify_perpetual_instrument_leverage.
LEVERAGE = "/private/adjust_perpetual_leverage"
# UNVERIFIED: documented but never seen live; the plural-by-currency form is inferred from
# the live plural-by-instrument name.
CANCEL_BY_CURRENCY = "/private/cancel_by_currency"
OPEN_ORDERS_ALL = "/private/get_open_orders_by_currency"
# UNVERIFIED: our trades per instrument, by the Deribit-family name the SDK's other methods
# follow (no OrangeX page was readable); parameters and reply as Deribit documents them
USER_TRADES = "/private/get_user_trades_by_instrument"
USER_TRADES_MAX_COUNT = 1000
FILLS_LOOKBACK_MS = 7 * 86_400_000  # UNVERIFIED: no retention is published
ROLES = {"maker": "maker", "taker": "taker"}
# UNVERIFIED: get_user_position is undocumented; that empty params list every position is a
# guess (the documented /private/get_positions answered [] with positions open).
ALL_POSITIONS_PARAMS: dict[str, Any] = {}

# OrangeX publishes no per-method weights (facts section 5): every call weighs 1.
WEIGHTS: dict[str, int] = {}
# OrangeX publishes no REST limits. The best source is its support's answer to the dyomini
# project (docs/api-notes.md there): "10 requests/second", not said per IP or per account;
# we hold it per IP, the stricter of the two for one key. No usage headers were observed.
RATE_LIMITS = Budget(
    windows={
        "ip requests 1s": Window(
            10,
            1,
            IP,
            source="OrangeX support via dyomini/auto-trading_"
            "OrangeX docs/api-notes.md (unpublished)",
        ),
    }
)

# The live server spells "canceled"; the docs "cancelled". Unknown states fail loudly.
STATUS_MAP = {
    "open": "open",
    "filled": "filled",
    "rejected": "rejected",
    "canceled": "canceled",
    "cancelled": "canceled",
}
TIME_IN_FORCE = {
    "GTC": "good_til_cancelled",
    "IOC": "immediate_or_cancel",
    "FOK": "fill_or_kill",
    "POST_ONLY": "good_til_cancelled",  # plus post_only=true
}
# error_code on an order the system auto-cancelled because position_side was missing in hedge
# mode (facts section 3); we always send BOTH, so seeing it means the account is in hedge mode.
HEDGE_MODE_CANCEL_CODE = 5998
ONE_WAY_POSITION_SIDE = "BOTH"
SETTLE = "USDT"
PERPETUAL_SUFFIX = "-PERPETUAL"
ACCOUNT_AREA = "PERPETUAL"
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")

# UNVERIFIED: client_signature (the SDK's double-hex form) is not confirmed live by any source;
# "client_credentials" (sends the secret itself) is the proven fallback.
AUTH_GRANT_TYPE = "client_signature"
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
DEFAULT_TOKEN_LIFETIME_SECONDS = 600.0
# UNVERIFIED meaning of the token scope: wallet:read_write is taken to allow withdrawals.
SCOPE_PERMISSIONS = {
    "trade:read_write": ("trade", "futures"),
    "wallet:read_write": ("withdraw",),
}
# No time method exists; the cheapest public reply's usOut is the server clock.
TIME_PROBE_INSTRUMENT = "BTC-USDT-PERPETUAL"
MALFORMED_REPLY = "malformed_reply"  # our own code: HTTP 200 with neither result nor error


# -- signing -------------------------------------------------------------------------------


def string_to_sign(client_id: str, timestamp_ms: int, nonce: str) -> str:
    return f"{client_id}\n{timestamp_ms}\n{nonce}\n"


def sign(client_secret: str, client_id: str, timestamp_ms: int, nonce: str) -> str:
    """The client_signature of /public/auth: HMAC-SHA256 hex, hex-encoded a second time
    (the official SDK sends the hex of the ASCII of the hex digest, 128 characters)."""
    digest = hmac.new(
        client_secret.encode(),
        string_to_sign(client_id, timestamp_ms, nonce).encode(),
        hashlib.sha256,
    ).hexdigest()
    return digest.encode().hex()


def auth_params(
    credentials: Credentials, timestamp_ms: int, nonce: str, grant_type: str = AUTH_GRANT_TYPE
) -> dict[str, str]:
    if grant_type == "client_credentials":
        return {
            "grant_type": grant_type,
            "client_id": credentials.api_key,
            "client_secret": credentials.api_secret,
        }
    return {
        "grant_type": "client_signature",
        "client_id": credentials.api_key,
        "timestamp": str(timestamp_ms),
        "nonce": nonce,
        "signature": sign(credentials.api_secret, credentials.api_key, timestamp_ms, nonce),
    }


# -- symbols -------------------------------------------------------------------------------


def to_exchange_symbol(market: Market) -> str:
    if market.quote != SETTLE or not market.is_perpetual:
        raise errors.InvalidRequest(
            f"OrangeX lists USDT-margined perpetuals only, not {market.symbol}",
            code="bad_symbol",
            exchange="orangex",
        )
    return joined_symbol(market, "-", PERPETUAL_SUFFIX)


def to_unified_symbol(instrument_name: str) -> str | None:
    """BTC-USDT-PERPETUAL -> BTC/USDT:USDT; None for spot or sandbox names."""
    parts = instrument_name.split("-")
    if len(parts) != 3 or f"-{parts[2]}" != PERPETUAL_SUFFIX or not parts[0]:
        return None
    return unified(parts[0], parts[1], "linear")


def _unified(instrument_name: str) -> str:
    unified = to_unified_symbol(instrument_name)
    if unified is None:
        raise errors.ExchangeError(f"unexpected instrument {instrument_name!r}", exchange="orangex")
    return unified


# {"trade_id": "...", "order_id": "828610767077068800", "instrument_name": "BTC-USDT-PERPETUAL",
#  "direction": "buy", "amount": "0.01", "price": "50000", "timestamp": 1700000000000,
#  "role": "taker", "fee": "0.3", "fee_coin_type": "USDT", ...}   (the stream's user.trades)
def parse_fill(raw: Mapping[str, Any]) -> FillUpdate:
    """One trade of ours, the shape the private stream pushes; the fee is what was paid."""
    return FillUpdate(
        exchange="orangex",
        trade_id=str(raw["trade_id"]),
        exchange_order_id=str(raw["order_id"]),
        client_order_id=None,
        symbol=_unified(str(raw["instrument_name"])),
        side=str(raw["direction"]).lower(),
        price=Decimal(str(raw["price"])),
        quantity=Decimal(str(raw["amount"])),
        fee=decimal_or_zero(raw.get("fee")),
        fee_asset=raw.get("fee_coin_type") or None,
        liquidity=ROLES.get(str(raw.get("role", "")).lower()),
        time_ms=int_or_none(raw.get("timestamp")),
    )


# -- request builders ----------------------------------------------------------------------


def rpc_body(request_id: int, method: str, params: Mapping[str, Any]) -> str:
    return compact_json(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": dict(params)}
    )


def order_params(order: OrderRequest, instrument_name: str) -> dict[str, Any]:
    """/private/buy and /private/sell params of an order ``Connector.check_order`` passed;
    amount is in the base coin (contract size 1)."""
    params: dict[str, Any] = {
        "instrument_name": instrument_name,
        "amount": format_decimal(order.quantity),
        "type": order.type,
        "custom_order_id": order.client_order_id,
        "position_side": ONE_WAY_POSITION_SIDE,
    }
    if order.type == "limit":
        params["price"] = format_decimal(order.price)  # type: ignore[arg-type]
        params["time_in_force"] = TIME_IN_FORCE[order.time_in_force]
    if order.time_in_force == "POST_ONLY":
        params["post_only"] = True
    if order.reduce_only:
        params["reduce_only"] = True
    return params


# -- response parsers ----------------------------------------------------------------------


# {"jsonrpc":"2.0","id":1,"usIn":1700000000120,"usOut":1700000000125,"usDiff":5,"result":..}
def envelope_time_ms(payload: Mapping[str, Any]) -> int:
    """usOut is documented as microseconds but is milliseconds on the wire; accept both."""
    value = payload.get("usOut")
    if value is None:
        raise errors.ExchangeError("reply carries no usOut clock", exchange="orangex")
    stamp = int(value)
    return stamp // 1000 if stamp > 10**14 else stamp


def order_status(state: str, amount: Decimal, filled: Decimal, error_code: int) -> str:
    if state not in STATUS_MAP:
        raise errors.ExchangeError(f"unknown OrangeX order_state {state!r}", exchange="orangex")
    status = STATUS_MAP[state]
    if status == "open" and 0 < filled < amount:
        return "partially_filled"
    if status == "canceled" and error_code == HEDGE_MODE_CANCEL_CODE:
        return "rejected"
    return status


# {"order_id":"828610767077068800","order_state":"open","instrument_name":"BTC-USDT-PERPETUAL",
#  "direction":"buy","amount":"0.01","price":"50000","filled_amount":"0","average_price":"0",
#  "order_type":"limit","custom_order_id":"","error_code":0,"position_side":"BOTH",
#  "creation_timestamp":1700000000000,"last_update_timestamp":1700000000000}
def parse_order(raw: Mapping[str, Any]) -> ExchangeOrder:
    amount = Decimal(str(raw["amount"]))
    filled = decimal_or_zero(raw.get("filled_amount"))
    price = decimal_or_none(raw.get("price"))
    average = decimal_or_none(raw.get("average_price"))
    state = str(raw.get("order_state", ""))
    order_type = raw.get("order_type") or ("limit" if price else "market")
    return ExchangeOrder(
        symbol=_unified(str(raw["instrument_name"])),
        client_order_id=raw.get("custom_order_id") or None,
        exchange_order_id=str(raw["order_id"]),
        status=order_status(state, amount, filled, int(raw.get("error_code") or 0)),
        side=str(raw["direction"]).lower(),
        type=str(order_type).lower(),
        quantity=amount,
        filled_quantity=filled,
        average_price=average if average else None,
        price=price if price else None,
        raw_status=state,
        created_at_ms=int_or_none(raw.get("creation_timestamp")),
        updated_at_ms=int_or_none(raw.get("last_update_timestamp")),
    )


# {"instrument_name":"BTC-USDT-PERPETUAL","kind":"perpetual","is_active":true,"tick_size":"0.1",
#  "min_trade_amount":"0.001","min_qty":"0.001","min_notional":"10",
#  "base_currency":"USDT","quote_currency":"BTC", ...}   (base/quote swapped on OrangeX)
def parse_instrument(raw: Mapping[str, Any]) -> Instrument | None:
    unified = to_unified_symbol(str(raw.get("instrument_name", "")))
    if unified is None or raw.get("is_active") is False:
        return None
    step = Decimal(str(raw["min_trade_amount"]))
    base, quote = unified.split(":")[0].split("/")
    return Instrument(
        symbol=unified,
        exchange_symbol=str(raw["instrument_name"]),
        base=base,
        quote=quote,
        kind="linear",
        tick_size=Decimal(str(raw["tick_size"])),
        lot_size=step,
        min_quantity=decimal_or_none(raw.get("min_qty")) or step,
        min_notional=decimal_or_none(raw.get("min_notional")) or Decimal("0"),
    )


# {"PERPETUAL":{"available_funds":"9800","wallet_balance":"10000","total_margin_balance":"10010",
#  "total_upl":"10","total_initial_margin_cross":"210", ...}}
def parse_balances(result: Mapping[str, Any]) -> list[Balance]:
    area = result.get(ACCOUNT_AREA) or {}
    if not area:
        return []
    free = decimal_or_zero(area.get("available_funds"))
    total = decimal_or_none(area.get("total_margin_balance"))
    if total is None:
        total = decimal_or_none(area.get("wallet_balance")) or free
    return [Balance(asset=SETTLE, free=free, locked=max(total - free, Decimal("0")))]


# [{"instrument_name":"BTC-USDT-PERPETUAL","position_side":"SHORT","size":"-0.01",
#   "average_price":"60000","leverage":"10","floating_profit_loss":"-1.2", ...}]   flat -> []
def parse_position(raw: Mapping[str, Any]) -> Position | None:
    size = decimal_or_zero(raw.get("size"))
    if size == 0:
        return None
    if str(raw.get("position_side", "")).upper() == "SHORT" and size > 0:
        size = -size  # defensive: the live reply is signed, but a SHORT row is never long
    return Position(
        symbol=_unified(str(raw["instrument_name"])),
        quantity=size,
        entry_price=decimal_or_none(raw.get("average_price")),
        leverage=decimal_or_none(raw.get("leverage")),
        unrealized_pnl=decimal_or_none(raw.get("floating_profit_loss")),
        mark_price=decimal_or_none(raw.get("mark_price")),
    )


def is_hedged(rows: list[Mapping[str, Any]]) -> bool:
    """Hedge mode shows as a LONG and a SHORT row on one instrument."""
    sides: dict[str, set[str]] = {}
    for row in rows:
        if decimal_or_zero(row.get("size")) != 0:
            sides.setdefault(str(row.get("instrument_name")), set()).add(
                str(row.get("position_side", "")).upper()
            )
    return any({"LONG", "SHORT"} <= found for found in sides.values())


# [{"instrument_name":"BTC-USDT-PERPETUAL","best_bid_price":"59999.9",
#   "best_ask_price":"60000.1","last_price":"60000","mark_price":"60000.2", ...}]
def parse_ticker(result: Any, unified: str) -> Ticker:
    rows = result if isinstance(result, list) else [result]
    if not rows or not isinstance(rows[0], Mapping):
        raise errors.InvalidRequest(f"no ticker for {unified}", exchange="orangex")
    row = rows[0]
    return Ticker(
        symbol=unified,
        bid=Decimal(str(row["best_bid_price"])),
        ask=Decimal(str(row["best_ask_price"])),
        last=Decimal(str(row["last_price"])),
    )


def credential_check(scope: str) -> CredentialCheck:
    """scope like "account:read_write trade:read_write wallet:read_write"."""
    grants = set(scope.split())
    permissions: list[str] = []
    if any(grant.endswith((":read", ":read_write")) for grant in grants):
        permissions.append("read")
    for grant, implied in SCOPE_PERMISSIONS.items():
        if grant in grants:
            permissions.extend(implied)
    warnings = []
    if "withdraw" in permissions:
        warnings.append("withdraw_enabled")
    if "trade" not in permissions:
        warnings.append("read_only")
    return CredentialCheck(permissions=tuple(permissions), warnings=tuple(warnings))


def cancel_count(result: Any) -> int:
    """cancel_by_* answers a count (Deribit style) or the canceled orders (UNVERIFIED)."""
    if isinstance(result, list):
        return len(result)
    if isinstance(result, int | str) and str(result).isdigit():
        return int(result)
    return 0


# -- errors --------------------------------------------------------------------------------

# OrangeX answers failures with HTTP 200: "system error" and a reply with neither result
# nor error leave a write's outcome open.
STATUS_UNKNOWN_CODES = frozenset({"9999", MALFORMED_REPLY})

ERROR_TABLE = errors.ErrorTable(
    exact={
        "10000": errors.AuthenticationError,  # Authentication Failure (key, signature, token)
        "2033": errors.PermissionDenied,  # Access denied (scope lacks write)
        "1000": errors.NotSupported,  # No service found (unknown method)
        "1001": errors.InvalidRequest,  # Bad requested
        "8000": errors.InvalidRequest,  # Request params not valid!
        "10001": errors.InvalidRequest,  # invalid params
        "5001": errors.InvalidRequest,  # Instrument does not exist.
        "9902": errors.InvalidRequest,  # json parse error
        "9999": errors.ExchangeUnavailable,  # System error: outcome unknown on a write
        MALFORMED_REPLY: errors.ExchangeUnavailable,
        # UNVERIFIED: Deribit's codes. OrangeX's API is Deribit's and shares its 10000/10001,
        # but no source shows OrangeX answering these.
        "10004": errors.OrderNotFound,  # order_not_found
        "10009": errors.InsufficientFunds,  # not_enough_funds
        "10028": errors.RateLimited,  # too_many_requests
        "11044": errors.InvalidOrder,  # not_open_order
        "11054": errors.InvalidOrder,  # post_only_reject
    },
    # UNVERIFIED: no OrangeX code is documented or observed for these; matched on the text.
    substrings=(
        ("order not found", errors.OrderNotFound),
        ("order_not_found", errors.OrderNotFound),
        ("order does not exist", errors.OrderNotFound),
        ("insufficient", errors.InsufficientFunds),
        ("not_enough_funds", errors.InsufficientFunds),
        ("duplicate", errors.DuplicateOrder),
        ("too many requests", errors.RateLimited),
        ("too_many_requests", errors.RateLimited),
    ),
    # UNVERIFIED: the over-limit answer is unknown; a plain HTTP 429 is taken as "slow down"
    # (Retry-After honoured when sent, else the base's 1 s pause).
    http_status={
        429: errors.RateLimited,
        401: errors.AuthenticationError,
        403: errors.PermissionDenied,
    },
)


# -- the token cache -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    access_token: str = field(repr=False)
    scope: str
    expires_at: float  # local clock, seconds


_TOKENS: dict[tuple[str, str], _Token] = {}
_TOKENS_LOCK = threading.Lock()


def clear_token_cache() -> None:
    with _TOKENS_LOCK:
        _TOKENS.clear()


def parse_token(result: Mapping[str, Any], now: float) -> _Token:
    # {"access_token":"..","token_type":"bearer","refresh_token":"..","expires_in":43199,
    #  "scope":"account:read_write trade:read_write wallet:read_write"}
    if not isinstance(result, Mapping) or not result.get("access_token"):
        raise errors.AuthenticationError("auth reply carries no access_token", exchange="orangex")
    lifetime = float(result.get("expires_in") or DEFAULT_TOKEN_LIFETIME_SECONDS)
    return _Token(
        access_token=str(result["access_token"]),
        scope=str(result.get("scope", "")),
        expires_at=now + max(lifetime - TOKEN_REFRESH_MARGIN_SECONDS, 1.0),
    )


# -- the connector -------------------------------------------------------------------------


class OrangexConnector(Connector):
    name = "orangex"
    # no dead-man switch documented (Deribit's cancel-on-disconnect is not among OrangeX's
    # known methods; facts: Dead-man switch), so arming raises NotSupported
    dead_man_switch = None
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    rate_limits = RATE_LIMITS
    error_table = ERROR_TABLE
    status_unknown_codes = STATUS_UNKNOWN_CODES
    client_order_id_pattern = CLIENT_ORDER_ID_PATTERN
    fills_lookback_ms = FILLS_LOOKBACK_MS
    fills_per_symbol = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ids = itertools.count(1)
        self._token: _Token | None = None

    # -- transport: JSON-RPC and the bearer token -------------------------------------------

    def _rpc_envelope(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        private: bool = True,
        write: bool = False,
    ) -> dict[str, Any]:
        call = Call(
            "POST",
            API_PREFIX + method,
            body=rpc_body(next(self._ids), method, params or {}),
            headers={"Content-Type": "application/json"},
            signed=private,
            write=write,
            product="linear",
        )
        return self.request(call).payload

    def _rpc(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        private: bool = True,
        write: bool = False,
    ) -> Any:
        return self._rpc_envelope(method, params, private=private, write=write)["result"]

    def request(self, call: Call) -> Response:
        """Private calls get a token first (outside the throttle lease); a cached token the
        exchange no longer accepts is dropped and the call sent once more with a fresh one
        (an auth refusal means nothing was done, so resending is safe)."""
        if not call.signed:
            return super().request(call)
        fresh = self._ensure_token()
        try:
            return super().request(call)
        except errors.AuthenticationError as exc:
            if fresh or isinstance(exc, errors.PermissionDenied):
                raise
            self._forget_token()
            self._ensure_token()
            return super().request(call)

    def sign(self, call: Call) -> None:
        assert self._token is not None
        call.headers["Authorization"] = f"bearer {self._token.access_token}"

    def _token_key(self) -> tuple[str, str]:
        material = f"{self.credentials.api_key}\n{self.credentials.api_secret}".encode()
        return self.rest_root("linear"), hashlib.sha256(material).hexdigest()

    def _ensure_token(self) -> bool:
        """Use the cached token or get one; True when a new one was just granted."""
        with _TOKENS_LOCK:
            cached = _TOKENS.get(self._token_key())
        if cached is not None and cached.expires_at > self.clock():
            self._token = cached
            return False
        nonce = str(secrets.randbelow(10**18))  # digits, like the SDK's vector
        result = self._rpc(AUTH, auth_params(self.credentials, self.now_ms(), nonce), private=False)
        self._token = parse_token(result, now=self.clock())
        with _TOKENS_LOCK:
            _TOKENS[self._token_key()] = self._token
        return True

    def _forget_token(self) -> None:
        self._token = None
        with _TOKENS_LOCK:
            _TOKENS.pop(self._token_key(), None)

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        payload = response.payload
        if isinstance(payload, Mapping):
            failure = payload.get("error")
            if isinstance(failure, Mapping):
                return failure.get("code"), str(failure.get("message") or "")
            if "result" in payload and response.status < 300:
                return None
        if response.status >= 300:
            return None, f"HTTP {response.status}"
        return MALFORMED_REPLY, "reply with neither result nor error"

    def _instrument_name(self, symbol: str) -> str:
        return to_exchange_symbol(self.market(symbol))

    # -- operations --------------------------------------------------------------------------

    def server_time(self) -> int:
        return envelope_time_ms(
            self._rpc_envelope(TICKERS, {"instrument_name": TIME_PROBE_INSTRUMENT}, private=False)
        )

    def check_credentials(self) -> CredentialCheck:
        self._forget_token()  # a fresh grant: its scope is the key's permissions
        self._ensure_token()
        assert self._token is not None
        scope = self._token.scope
        self.heartbeat_read()
        check = credential_check(scope)
        # the token's scope is all OrangeX says of a key: IP binding and expiry unknown
        return replace(check, key=unrestricted_key(check.permissions))

    def key_info(self) -> KeyInfo:
        return super().key_info()

    def heartbeat_read(self) -> None:
        self._rpc(ASSETS, {"asset_type": [ACCOUNT_AREA]})

    def is_hedge_mode(self) -> bool:
        """OrangeX exposes no position-mode read; hedge mode shows as two-sided positions
        (and as orders auto-cancelled with error_code 5998, see place_order)."""
        return is_hedged(self._rpc(POSITIONS, ALL_POSITIONS_PARAMS) or [])

    def balances(self) -> list[Balance]:
        return parse_balances(self._rpc(ASSETS, {"asset_type": [ACCOUNT_AREA]}) or {})

    def instruments(self) -> list[Instrument]:
        rows = self._rpc(INSTRUMENTS, {"currency": ACCOUNT_AREA}, private=False) or []
        return [parsed for parsed in map(parse_instrument, rows) if parsed is not None]

    def ticker(self, symbol: str) -> Ticker:
        name = self._instrument_name(symbol)
        result = self._rpc(TICKERS, {"instrument_name": name}, private=False)
        return parse_ticker(result, self.market(symbol).symbol)

    def set_leverage(self, symbol: str, leverage: int) -> None:
        if not isinstance(leverage, int) or leverage < 1:
            raise errors.InvalidRequest(f"bad leverage {leverage!r}", exchange=self.name)
        self._rpc(
            LEVERAGE,
            {"instrument_name": self._instrument_name(symbol), "leverage": str(leverage)},
            write=True,
        )

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        params = order_params(order, to_exchange_symbol(market))
        result = self._rpc(BUY if order.side == "buy" else SELL, params, write=True)
        # {"order": {"order_id": "828610767077068800", "custom_order_id": ""}}
        placed = result.get("order") if isinstance(result, Mapping) else None
        order_id = placed.get("order_id") if isinstance(placed, Mapping) else None
        if not order_id:
            raise errors.OrderOutcomeUnknown("accepted without an order_id", exchange=self.name)
        return self._state_after_place(order, market, str(order_id))

    def _state_after_place(
        self, order: OrderRequest, market: Market, order_id: str
    ) -> ExchangeOrder:
        """The buy/sell reply has no state: ask once. Right after placing, OrangeX may answer
        stale or malformed; then report the order as accepted and let a refresh settle it."""
        state = self._query_quietly(order_id)
        if state is None:
            return ExchangeOrder(
                symbol=market.symbol,
                client_order_id=order.client_order_id,
                exchange_order_id=order_id,
                status="open",
                side=order.side,
                type=order.type,
                quantity=order.quantity,
                price=order.price,
                raw_status="accepted",
            )
        found, error_code = state
        if error_code == HEDGE_MODE_CANCEL_CODE:
            raise errors.HedgeModeUnsupported(
                "OrangeX cancelled the order: the account is in hedge mode",
                code=HEDGE_MODE_CANCEL_CODE,
                exchange=self.name,
            )
        return replace(found, client_order_id=order.client_order_id)

    def _query_quietly(self, order_id: str) -> tuple[ExchangeOrder, int] | None:
        """(the order, its error_code), or None when the reply is an error or unreadable."""
        try:
            raw = self._rpc(ORDER_STATE, {"order_id": order_id})
            return parse_order(raw), int(raw.get("error_code") or 0)
        except (
            errors.ExchangeError,
            AttributeError,
            KeyError,
            TypeError,
            ValueError,
            ArithmeticError,
        ):
            return None

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        order_id = self._needs_exchange_id(exchange_order_id)
        self._rpc(CANCEL, {"order_id": order_id}, write=True)
        # The reply is {order_id}; the state flips a moment later, so report what a query
        # says now (possibly still open) rather than assume "canceled".
        state = self._query_quietly(order_id)
        if state is None:
            return ExchangeOrder(
                symbol=market.symbol,
                client_order_id=client_order_id,
                exchange_order_id=order_id,
                status="open",
                side="",
                type="",
                quantity=Decimal("0"),
                raw_status="cancel_requested",
            )
        return replace(state[0], client_order_id=client_order_id)

    def cancel_all(self, symbol: str | None = None) -> int:
        if symbol is None:
            return cancel_count(
                self._rpc(CANCEL_BY_CURRENCY, {"currency": ACCOUNT_AREA}, write=True)
            )
        return cancel_count(
            self._rpc(
                CANCEL_BY_INSTRUMENT, {"instrument_name": self._instrument_name(symbol)}, write=True
            )
        )

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        order_id = self._needs_exchange_id(exchange_order_id)
        raw = self._rpc(ORDER_STATE, {"order_id": order_id})
        if not raw:
            raise errors.OrderNotFound(f"no order {order_id}", exchange=self.name)
        found = parse_order(raw)
        return replace(found, client_order_id=client_order_id or found.client_order_id)

    def _needs_exchange_id(self, exchange_order_id: str | None) -> str:
        if not exchange_order_id:
            raise errors.NotSupported(
                "OrangeX cannot look orders up by client order id (custom_order_id is not "
                "echoed reliably and no method takes it); use the exchange order id",
                exchange=self.name,
            )
        return exchange_order_id

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        if symbol is None:
            rows = self._rpc(OPEN_ORDERS_ALL, {"currency": ACCOUNT_AREA})
        else:
            rows = self._rpc(OPEN_ORDERS, {"instrument_name": self._instrument_name(symbol)})
        return [parse_order(row) for row in rows or []]

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        rows = self._rpc(ORDER_HISTORY, {"instrument_name": self._instrument_name(symbol)})
        orders = [parse_order(row) for row in rows or []]
        if since_ms is None:
            return orders
        return [
            order
            for order in orders
            if order.created_at_ms is None or order.created_at_ms >= since_ms
        ]

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """Per instrument, newest first; the reply is ``{"trades": [...], "has_more"}`` or a
        bare list."""
        assert market is not None  # fills_per_symbol
        params: dict[str, Any] = {
            "instrument_name": to_exchange_symbol(market),
            "count": min(limit, USER_TRADES_MAX_COUNT),
            "sorting": "desc",
        }
        if since_ms is not None:
            params["start_timestamp"] = since_ms
        result = self._rpc(USER_TRADES, params)
        rows = result.get("trades", []) if isinstance(result, Mapping) else result
        return [parse_fill(row) for row in rows or []]

    def positions(self, symbol: str | None = None) -> list[Position]:
        params = (
            ALL_POSITIONS_PARAMS
            if symbol is None
            else {"instrument_name": self._instrument_name(symbol)}
        )
        rows = self._rpc(POSITIONS, params) or []
        return [parsed for parsed in map(parse_position, rows) if parsed is not None]


CONNECTOR = OrangexConnector
