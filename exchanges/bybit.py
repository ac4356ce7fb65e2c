"""Bybit v5: one REST host for every product, chosen per request with ``category``.

Facts: docs/exchanges/bybit.md. Private calls carry ``X-BAPI-*`` headers signed with
lower-case hex HMAC-SHA256 of ``timestamp + apiKey + recvWindow + (query | body)``; every
answer is ``{retCode, retMsg, result, retExtInfo, time}`` with HTTP 200 even for business
errors. Place and cancel are acknowledged asynchronously, so the order's state is read back
with ``/v5/order/realtime`` right after the ack. Spot margin is spot with ``isLeverage=1``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from exchanges import errors
from exchanges.base import (
    Balance,
    Call,
    Connector,
    CredentialCheck,
    DeadManState,
    ExchangeOrder,
    FillUpdate,
    Instrument,
    KeyInfo,
    OrderRequest,
    Position,
    Response,
    Ticker,
    compact_json,
)
from exchanges.hosts import OFFICIAL_HOSTS
from exchanges.limits import IP, Budget, Charge, UsageSignal, Window, endpoint_window
from exchanges.parsing import (
    decimal_or_none,
    decimal_or_zero,
    format_decimal,
    int_or_none,
    iso_datetime_or_none,
    positive_or_none,
)
from exchanges.symbols import Market, joined_symbol, split_by_quote, unified

# -- hosts --------------------------------------------------------------------------------

# One host serves spot and linear; paper connections always pass base_url.
REST_HOSTS: dict[tuple[str, str], str] = {
    ("live", "spot"): "https://api.bybit.com",
    ("live", "linear"): "https://api.bybit.com",
    ("testnet", "spot"): "https://api-testnet.bybit.com",
    ("testnet", "linear"): "https://api-testnet.bybit.com",
}
WS_HOSTS: dict[tuple[str, str], str] = {
    ("live", "spot"): "wss://stream.bybit.com",
    ("live", "linear"): "wss://stream.bybit.com",
    ("testnet", "spot"): "wss://stream-testnet.bybit.com",
    ("testnet", "linear"): "wss://stream-testnet.bybit.com",
}
WS_PRIVATE_PATH = "/v5/private"
WS_PUBLIC_PATH = "/v5/public/{category}"

# -- endpoints ----------------------------------------------------------------------------

SERVER_TIME = "/v5/market/time"
API_KEY_INFO = "/v5/user/query-api"
ACCOUNT_INFO = "/v5/account/info"
WALLET_BALANCE = "/v5/account/wallet-balance"
ORDER_CREATE = "/v5/order/create"
ORDER_CANCEL = "/v5/order/cancel"
ORDER_CANCEL_ALL = "/v5/order/cancel-all"
ORDER_REALTIME = "/v5/order/realtime"
ORDER_HISTORY = "/v5/order/history"
POSITION_LIST = "/v5/position/list"
EXECUTION_LIST = "/v5/execution/list"  # "Get Trade History (2 years)", docs/v5/order/execution
# Not in the facts file; paths and fields read from Bybit's docs source
# (bybit-exchange/docs: v5/market/instrument.mdx, v5/market/tickers.mdx, v5/position/leverage.mdx).
INSTRUMENTS_INFO = "/v5/market/instruments-info"
TICKERS = "/v5/market/tickers"
SET_LEVERAGE = "/v5/position/set-leverage"
DCP = "/v5/order/disconnected-cancel-all"  # the dead-man switch (Disconnection Protect)
# DCP fires only for a private stream that subscribed this topic (facts: Dead-man switch)
DCP_TOPIC = "dcp"

# Bybit counts requests, not weights: each call costs 1 against the IP pool and 1 against
# its own per-UID endpoint budget, so nothing weighs other than 1.
WEIGHTS: dict[str, int] = {}

# -- rate limits (docs/rate-limits.md). Per IP: 600 requests per 5 s over api.bybit.com,
# api.bytick.com and the regional hosts together. Per UID: a rolling second per endpoint,
# counted per business type (spot apart from derivatives, /v5/apilimit/query's bizType). ---
_V5 = "bybit-exchange/docs v5/rate-limit (UTA 2.0 Pro table)"


def _uid(
    path: str, limit: int, product: str | None = None, source: str = _V5
) -> tuple[str, Window]:
    return endpoint_window(path, limit, 1, product=product, source=source)


RATE_LIMITS = Budget(
    windows=dict(
        [
            (
                "ip requests 5s",
                Window(600, 5, IP, source="bybit-exchange/docs v5/rate-limit, IP limit"),
            ),
            _uid(ORDER_CREATE, 20, "spot"),
            _uid(ORDER_CREATE, 10, "linear"),
            _uid(ORDER_CANCEL, 20, "spot"),
            _uid(ORDER_CANCEL, 10, "linear"),
            _uid(ORDER_CANCEL_ALL, 20, "spot"),
            _uid(ORDER_CANCEL_ALL, 10, "linear"),
            *(
                _uid(path, 50)
                for path in (
                    ORDER_REALTIME,
                    ORDER_HISTORY,
                    POSITION_LIST,
                    WALLET_BALANCE,
                    ACCOUNT_INFO,
                )
            ),
            # UNVERIFIED: execution/list is in the table's "Trade" group beside order/history (50/s)
            _uid(EXECUTION_LIST, 50),
            _uid(API_KEY_INFO, 10),
            # UNVERIFIED: set-leverage is absent from the facts; Hummingbot's 10/s default
            _uid(SET_LEVERAGE, 10, source="Hummingbot bybit_perpetual_constants.py"),
            # UNVERIFIED: the DCP endpoint's limit is not in the rate-limit table; 10/s as above
            _uid(DCP, 10, source="our assumption (absent from Bybit's table)"),
        ]
    ),
    host_groups={
        f"https://{host}:443": "https://api.bybit.com:443"
        for host in OFFICIAL_HOSTS["bybit"]["live"]["rest"]
        if host != "api.bybit.com"
    },
)

# -- statuses -----------------------------------------------------------------------------

STATUS_MAP: dict[str, str] = {
    "New": "open",
    "PartiallyFilled": "partially_filled",
    "Untriggered": "open",
    "Triggered": "open",
    "Filled": "filled",
    "Cancelled": "canceled",
    "PartiallyFilledCanceled": "canceled",
    "Rejected": "rejected",
    "Deactivated": "canceled",
}
SIDES = {"buy": "Buy", "sell": "Sell"}
ORDER_TYPES = {"market": "Market", "limit": "Limit"}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "PostOnly"}

ACCOUNT_TYPE = "UNIFIED"
# executions that are trades of ours (Funding and Settle move balances, not orders)
TRADE_EXEC_TYPES = ("Trade", "AdlTrade", "BustTrade", "Delivery")
FILLS_LOOKBACK_MS = 2 * 365 * 86_400_000  # "Get Trade History (2 years)"
FILLS_WINDOW_MS = 7 * 86_400_000  # startTime alone answers startTime .. +7 days
FILLS_PAGE_LIMIT = 100
SETTLE_COINS = ("USDT",)  # linear calls without a symbol need settleCoin
QUOTE_ASSETS = ("USDT", "USDC", "EUR", "BTC", "ETH")  # longest-suffix split of BTCUSDT
HEDGE_PROBE_SYMBOL = "BTCUSDT"
PAGE_LIMIT = 50
MAX_PAGES = 10
IP_BAN_PAUSE_SECONDS = 600.0
MIN_PAUSE_SECONDS = 0.1
# UNVERIFIED: "Set leverage not modified" (setting the leverage it already has) is 110043 in
# public client code, not in the facts file; it is treated as success.
LEVERAGE_NOT_MODIFIED = "110043"


# -- signing ------------------------------------------------------------------------------


def sign(secret: str, *, api_key: str, timestamp_ms: int, recv_window_ms: int, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``timestamp + apiKey + recvWindow + payload``.

    ``payload`` is the exact query string sent (GET) or the exact JSON body (POST)."""
    message = f"{timestamp_ms}{api_key}{recv_window_ms}{payload}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def ws_auth_signature(secret: str, expires_ms: int) -> str:
    """The private stream's ``auth`` signature: HMAC of ``"GET/realtime" + expires``."""
    return hmac.new(
        secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256
    ).hexdigest()


# -- symbols ------------------------------------------------------------------------------


def exchange_symbol(market: Market) -> str:
    return joined_symbol(market)


def unified_symbol(symbol: str, category: str) -> str:
    """``BTCUSDT`` + ``linear`` -> ``BTC/USDT:USDT``."""
    split = split_by_quote(symbol, QUOTE_ASSETS)
    if split is None:
        raise errors.InvalidRequest(f"cannot map Bybit symbol {symbol!r}", exchange="bybit")
    return unified(*split, category)


# -- request builders ---------------------------------------------------------------------


def order_body(order: OrderRequest, market: Market, *, spot_margin: bool) -> dict[str, Any]:
    """The /v5/order/create body; quantity stays in base currency on every product."""
    body: dict[str, Any] = {
        "category": market.kind,
        "symbol": exchange_symbol(market),
        "side": SIDES[order.side],
        "orderType": ORDER_TYPES[order.type],
        "qty": format_decimal(order.quantity),
    }
    if order.type == "limit" and order.price is not None:
        body["price"] = format_decimal(order.price)
        body["timeInForce"] = TIME_IN_FORCE[order.time_in_force]
    body["orderLinkId"] = order.client_order_id
    if market.kind == "linear":
        body["positionIdx"] = 0  # one-way mode; a hedge-mode account refuses it
        if order.reduce_only:
            body["reduceOnly"] = True
        return body
    if order.type == "market":
        body["marketUnit"] = "baseCoin"  # spot market buys are quote-sized by default
    if spot_margin:
        body["isLeverage"] = 1
    return body


def order_id_fields(
    client_order_id: str | None, exchange_order_id: str | None
) -> list[tuple[str, str]]:
    if exchange_order_id:
        return [("orderId", exchange_order_id)]
    return [("orderLinkId", str(client_order_id))]


# -- response parsers ---------------------------------------------------------------------


def order_status(raw: Mapping[str, Any]) -> str:
    """Map ``orderStatus``; Bybit has no Expired, so an IOC/FOK/market remainder the engine
    cancelled (not ``CancelByUser``) is ours ``expired``."""
    raw_status = str(raw.get("orderStatus", ""))
    if raw_status not in STATUS_MAP:
        raise errors.ExchangeError(f"unknown order status {raw_status!r}", exchange="bybit")
    status = STATUS_MAP[raw_status]
    immediate = raw.get("timeInForce") in ("IOC", "FOK") or raw.get("orderType") == "Market"
    if status == "canceled" and immediate and raw.get("cancelType") != "CancelByUser":
        return "expired"
    return status


# {"orderId": "1321003749386327552", "orderLinkId": "ec01...", "symbol": "BTCUSDT",
#  "price": "50000", "qty": "0.01", "side": "Buy", "orderStatus": "New", "cancelType": "UNKNOWN",
#  "avgPrice": "0", "cumExecQty": "0", "timeInForce": "GTC", "orderType": "Limit",
#  "createdTime": "1684738540559", "updatedTime": "1684738540561", ...}
def parse_order(raw: Mapping[str, Any], category: str) -> ExchangeOrder:
    order_type = "market" if raw.get("orderType") == "Market" else "limit"
    return ExchangeOrder(
        symbol=unified_symbol(str(raw["symbol"]), category),
        client_order_id=raw.get("orderLinkId") or None,
        exchange_order_id=str(raw["orderId"]),
        status=order_status(raw),
        side=str(raw.get("side", "")).lower(),
        type=order_type,
        quantity=decimal_or_zero(raw.get("qty")),
        filled_quantity=decimal_or_zero(raw.get("cumExecQty")),
        average_price=positive_or_none(raw.get("avgPrice")),
        price=positive_or_none(raw.get("price")) if order_type == "limit" else None,
        raw_status=str(raw.get("orderStatus", "")),
        created_at_ms=int_or_none(raw.get("createdTime")),
        updated_at_ms=int_or_none(raw.get("updatedTime")),
    )


# spot:   {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "status": "Trading",
#          "lotSizeFilter": {"basePrecision": "0.000001", "minOrderQty": "0.000048",
#                            "minOrderAmt": "1", ...}, "priceFilter": {"tickSize": "0.01"}}
# linear: {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
#          "baseCoin": "BTC", "quoteCoin": "USDT", "settleCoin": "USDT",
#          "lotSizeFilter": {"minOrderQty": "0.001", "qtyStep": "0.001",
#                            "minNotionalValue": "5", ...}, "priceFilter": {"tickSize": "0.10"}}
def parse_instrument(raw: Mapping[str, Any], category: str) -> Instrument | None:
    """None for what we do not trade: not Trading, dated futures, USDC ``...PERP`` names."""
    base, quote = str(raw.get("baseCoin", "")), str(raw.get("quoteCoin", ""))
    if raw.get("status") != "Trading" or raw.get("symbol") != f"{base}{quote}":
        return None
    if category == "linear" and (
        raw.get("contractType") != "LinearPerpetual" or raw.get("settleCoin") != quote
    ):
        return None
    lots = raw.get("lotSizeFilter") or {}
    spot = category == "spot"
    return Instrument(
        symbol=unified(base, quote, category),
        exchange_symbol=str(raw["symbol"]),
        base=base,
        quote=quote,
        kind=category,
        tick_size=decimal_or_zero((raw.get("priceFilter") or {}).get("tickSize")),
        lot_size=decimal_or_zero(lots.get("basePrecision" if spot else "qtyStep")),
        min_quantity=decimal_or_zero(lots.get("minOrderQty")),
        min_notional=decimal_or_zero(lots.get("minOrderAmt" if spot else "minNotionalValue")),
    )


# {"symbol": "BTCUSDT", "orderId": "1321052653536515584", "orderLinkId": "ec01",
#  "side": "Buy", "execId": "e0cbe81d-0f18-5866-9415-cf319b5dab3b", "execPrice": "30000",
#  "execQty": "0.01", "execFee": "0.18", "feeCurrency": "", "isMaker": false,
#  "execType": "Trade", "execTime": "1672282722429", ...}   (docs/v5/order/execution)
def parse_fill(raw: Mapping[str, Any], category: str) -> FillUpdate | None:
    """One execution; None for what is no trade of an order (Funding, Settle)."""
    if raw.get("execType", "Trade") not in TRADE_EXEC_TYPES:
        return None
    symbol = unified_symbol(str(raw["symbol"]), category)
    maker = raw.get("isMaker")
    # linear fees are in the settle coin; Bybit leaves feeCurrency empty there
    fee_asset = raw.get("feeCurrency") or (symbol.rsplit(":", 1)[1] if ":" in symbol else None)
    return FillUpdate(
        exchange="bybit",
        trade_id=str(raw["execId"]),
        exchange_order_id=str(raw["orderId"]),
        client_order_id=raw.get("orderLinkId") or None,
        symbol=symbol,
        side=str(raw["side"]).lower(),
        price=Decimal(str(raw["execPrice"])),
        quantity=Decimal(str(raw["execQty"])),
        fee=decimal_or_zero(raw.get("execFee")),
        fee_asset=fee_asset,
        liquidity=None if not isinstance(maker, bool) else ("maker" if maker else "taker"),
        time_ms=int_or_none(raw.get("execTime")),
    )


# {"list": [{"accountType": "UNIFIED", "coin": [{"coin": "USDT", "walletBalance": "1000",
#   "locked": "10", "totalOrderIM": "5", "totalPositionIM": "20", ...}]}]}
def parse_balances(result: Mapping[str, Any]) -> list[Balance]:
    """Locked = spot order locks + order margin + position margin; free = the rest."""
    balances = []
    for account in result.get("list") or []:
        for coin in account.get("coin") or []:
            wallet = decimal_or_zero(coin.get("walletBalance"))
            locked = (
                decimal_or_zero(coin.get("locked"))
                + decimal_or_zero(coin.get("totalOrderIM"))
                + decimal_or_zero(coin.get("totalPositionIM"))
            )
            locked = min(locked, max(wallet, Decimal("0")))
            balances.append(Balance(asset=str(coin["coin"]), free=wallet - locked, locked=locked))
    return balances


# {"symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "avgPrice": "60000", "leverage": "10",
#  "markPrice": "60100", "unrealisedPnl": "1", "positionIdx": 0, ...}
def parse_position(raw: Mapping[str, Any]) -> Position | None:
    size = decimal_or_zero(raw.get("size"))
    if not size or raw.get("side") not in ("Buy", "Sell"):
        return None
    return Position(
        symbol=unified_symbol(str(raw["symbol"]), "linear"),
        quantity=size if raw["side"] == "Buy" else -size,
        entry_price=positive_or_none(raw.get("avgPrice")),
        leverage=decimal_or_none(raw.get("leverage")),
        unrealized_pnl=decimal_or_none(raw.get("unrealisedPnl")),
        mark_price=decimal_or_none(raw.get("markPrice")),
    )


# {"readOnly": 0, "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
#  "Wallet": ["AccountTransfer", "SubMemberTransfer"], ...}, "ips": ["*"], "uta": 1, ...}
def parse_key_permissions(result: Mapping[str, Any]) -> CredentialCheck:
    groups = result.get("permissions") or {}
    read_only = str(result.get("readOnly", "0")) == "1"
    wallet = groups.get("Wallet") or []
    futures = bool(groups.get("ContractTrade") or groups.get("Derivatives"))
    permissions = ["read"]
    if not read_only and (futures or groups.get("Spot")):
        permissions.append("trade")
    if futures:
        permissions.append("futures")
    if "Withdraw" in wallet:
        permissions.append("withdraw")
    if {"AccountTransfer", "SubMemberTransfer"} & set(wallet):
        permissions.append("transfer")
    return CredentialCheck(
        permissions=tuple(permissions), warnings=tuple(_key_warnings(result, read_only, wallet))
    )


# GET /v5/user/query-api: "ips": ["*"] (or []) when no IP is bound; "expiredAt" (ISO 8601,
# "2023-12-01T02:36:06Z") only for keys without a bound IP (they expire), else "".
def parse_key_info(result: Mapping[str, Any]) -> KeyInfo:
    ips = tuple(str(ip) for ip in result.get("ips") or [] if str(ip) != "*")
    return KeyInfo(
        permissions=frozenset(parse_key_permissions(result).permissions),
        ip_restricted=bool(ips),
        ips=ips,
        expires_at=iso_datetime_or_none(result.get("expiredAt")),
    )


def _key_warnings(result: Mapping[str, Any], read_only: bool, wallet: list[str]) -> list[str]:
    warnings = []
    if read_only:
        warnings.append("read_only")
    if "Withdraw" in wallet:
        warnings.append("withdraw_enabled")
    ips = result.get("ips") or []
    if not ips or "*" in ips:
        warnings.append("no_ip_whitelist")
    if str(result.get("uta", "1")) == "0":
        warnings.append("not_unified_account")  # balances read accountType=UNIFIED
    return warnings


# -- errors -------------------------------------------------------------------------------

ERROR_TABLE = errors.ErrorTable(
    exact={
        "10001": errors.InvalidRequest,
        # Refused before processing; a later attempt (after a time sync) may pass.
        "10002": errors.ExchangeUnavailable,
        "10003": errors.AuthenticationError,
        "10004": errors.AuthenticationError,
        "10007": errors.AuthenticationError,
        "33004": errors.AuthenticationError,
        "-2015": errors.AuthenticationError,
        "10005": errors.PermissionDenied,
        "10008": errors.PermissionDenied,
        "10009": errors.PermissionDenied,
        "10010": errors.PermissionDenied,
        "10024": errors.PermissionDenied,
        "10027": errors.PermissionDenied,
        "10028": errors.InvalidRequest,
        "100028": errors.InvalidRequest,
        "10006": errors.RateLimited,
        "10018": errors.RateLimited,
        "429": errors.RateLimited,
        "10014": errors.DuplicateOrder,
        "110072": errors.DuplicateOrder,
        "170141": errors.DuplicateOrder,
        "12141": errors.DuplicateOrder,
        "10000": errors.OrderOutcomeUnknown,
        "10016": errors.OrderOutcomeUnknown,
        "170007": errors.OrderOutcomeUnknown,
        "110001": errors.OrderNotFound,
        "170213": errors.OrderNotFound,
        "110008": errors.OrderNotFound,
        "110010": errors.OrderNotFound,
        "170139": errors.OrderNotFound,
        "170142": errors.OrderNotFound,
        "110004": errors.InsufficientFunds,
        "110006": errors.InsufficientFunds,
        "110007": errors.InsufficientFunds,
        "110012": errors.InsufficientFunds,
        "110044": errors.InsufficientFunds,
        "110045": errors.InsufficientFunds,
        "170131": errors.InsufficientFunds,
        "170033": errors.InsufficientFunds,
        "110020": errors.InvalidOrder,
    },
    substrings=(
        ("too many visits", errors.RateLimited),
        ("access too frequent", errors.RateLimited),
        ("insufficient", errors.InsufficientFunds),
        ("order does not exist", errors.OrderNotFound),
    ),
    # 403 is the IP limit (600 requests per 5 s): a ban of at least ten minutes.
    http_status={
        400: errors.InvalidRequest,
        401: errors.AuthenticationError,
        403: errors.RateLimited,
        404: errors.InvalidRequest,
        429: errors.RateLimited,
    },
    rate_limit_pause={"10006": 1.0, "10018": 1.0, "429": 1.0},
)


# -- the connector ------------------------------------------------------------------------

# DCP (Disconnection Protect): timeWindow 3..300 s after the private stream is lost, per
# product (SPOT, DERIVATIVES, OPTIONS); the account must have DCP enabled by Bybit
DEAD_MAN_WINDOW_SECONDS = (3, 300)
DCP_PRODUCTS = {
    "spot": ("SPOT",),
    "margin": ("SPOT",),
    "perpetual_futures": ("DERIVATIVES",),
    "unified_account": ("SPOT", "DERIVATIVES"),
}


class BybitConnector(Connector):
    deadline_window_ms = 5000
    dead_man_switch = "disconnect"
    dead_man_window_seconds = DEAD_MAN_WINDOW_SECONDS
    name = "bybit"
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    rate_limits = RATE_LIMITS
    error_table = ERROR_TABLE
    rate_limit_statuses = frozenset({403, 418, 429})  # 403: the IP ban, often a bare page
    recv_window_ms = 5000
    client_order_id_pattern = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
    fills_lookback_ms = FILLS_LOOKBACK_MS

    # -- pipeline -------------------------------------------------------------------------

    def sign(self, call: Call) -> None:
        timestamp = self.now_ms()
        payload = (call.body or "") if call.method == "POST" else call.query_string
        call.headers.update(
            {
                "X-BAPI-API-KEY": self.credentials.api_key,
                "X-BAPI-TIMESTAMP": str(timestamp),
                "X-BAPI-RECV-WINDOW": str(self.recv_window_ms),
                "X-BAPI-SIGN": sign(
                    self.credentials.api_secret,
                    api_key=self.credentials.api_key,
                    timestamp_ms=timestamp,
                    recv_window_ms=self.recv_window_ms,
                    payload=payload,
                ),
            }
        )
        # Bybit drops a request whose timestamp is older than server time - recvWindow.
        call.deadline_ms = timestamp + self.recv_window_ms

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        payload = response.payload if isinstance(response.payload, dict) else {}
        code = payload.get("retCode")
        if response.status < 400 and str(code) == "0":
            return None
        # never the raw body of a non-JSON answer (a gateway page): only the status
        message = payload.get("retMsg") or payload.get("message") or f"HTTP {response.status}"
        return (None if code in (None, 0, "0") else code), str(message)

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        if response.status == 403:
            return IP_BAN_PAUSE_SECONDS
        reset_ms = response.headers.get("X-Bapi-Limit-Reset-Timestamp")
        if str(code) == "10006" and reset_ms and reset_ms.isdigit():
            return max((int(reset_ms) - self.now_ms()) / 1000, MIN_PAUSE_SECONDS)
        return super().pause_seconds(response, code)

    def usage_signals(self, charge: Charge, headers: Mapping[str, str]) -> list[UsageSignal]:
        """``X-Bapi-Limit: 10``, ``X-Bapi-Limit-Status: 0`` (remaining) and
        ``X-Bapi-Limit-Reset-Timestamp`` (ms; "now" unless the limit was hit): the UID's
        count on this endpoint, held until the reset when nothing is left."""
        window = self.account_window(charge)
        limit, remaining = headers.get("X-Bapi-Limit"), headers.get("X-Bapi-Limit-Status")
        if window is None or not (limit and remaining and limit.isdigit() and remaining.isdigit()):
            return []
        reset_ms = headers.get("X-Bapi-Limit-Reset-Timestamp", "")
        expires_in = None
        if int(remaining) == 0 and reset_ms.isdigit():
            expires_in = max((int(reset_ms) - self.now_ms()) / 1000, 0.0)
        name, published = window
        return [
            UsageSignal(name, max(int(limit) - int(remaining), 0), published.seconds, expires_in)
        ]

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        product: str | None = None,
        signed: bool = True,
        write: bool = False,
    ) -> dict[str, Any]:
        call = Call(
            method,
            path,
            params=params or [],
            signed=signed,
            write=write,
            product=product or self.default_product(),
            body=compact_json(body) if body is not None else None,
        )
        if body is not None:
            call.headers["Content-Type"] = "application/json"
        payload = self.request(call).payload
        return payload.get("result") or {}

    def _pages(
        self, path: str, params: list[tuple[str, str]], *, product: str, signed: bool = True
    ) -> list[dict[str, Any]]:
        """Follow ``nextPageCursor`` (at most MAX_PAGES pages)."""
        items: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            page_params = params + ([("cursor", cursor)] if cursor else [])
            page = self._call("GET", path, params=page_params, product=product, signed=signed)
            rows = page.get("list") or []
            items.extend(rows)
            next_cursor = page.get("nextPageCursor") or ""
            if not rows or not next_cursor or next_cursor == cursor:
                break
            cursor = next_cursor
        return items

    def _categories(self) -> tuple[str, ...]:
        return {"spot": ("spot",), "margin": ("spot",), "perpetual_futures": ("linear",)}.get(
            self.api_type, ("spot", "linear")
        )

    def _scopes(self, symbol: str | None) -> list[tuple[str, list[tuple[str, str]]]]:
        """(category, filter params) to cover one symbol or everything this connection trades."""
        if symbol:
            market = self.market(symbol)
            return [(market.kind, [("category", market.kind), ("symbol", exchange_symbol(market))])]
        scopes = []
        for category in self._categories():
            if category == "spot":
                scopes.append(("spot", [("category", "spot")]))
            else:
                scopes.extend(
                    ("linear", [("category", "linear"), ("settleCoin", coin)])
                    for coin in SETTLE_COINS
                )
        return scopes

    # -- account --------------------------------------------------------------------------

    def server_time(self) -> int:
        # {"retCode": 0, "result": {"timeSecond": "1688639403", "timeNano": "1688639403423213947"},
        #  "time": 1688639403423}
        call = Call("GET", SERVER_TIME, product=self.default_product())
        payload = self.request(call).payload
        result = payload.get("result") or {}
        if result.get("timeNano"):
            return int(result["timeNano"]) // 1_000_000
        if result.get("timeSecond"):
            return int(result["timeSecond"]) * 1000
        return int(payload["time"])

    def check_credentials(self) -> CredentialCheck:
        result = self._call("GET", API_KEY_INFO)
        return replace(parse_key_permissions(result), key=parse_key_info(result))

    def key_info(self) -> KeyInfo:
        return parse_key_info(self._call("GET", API_KEY_INFO))

    def heartbeat_read(self) -> None:
        self._call("GET", ACCOUNT_INFO)  # 50/s per UID, the lightest signed read

    def is_hedge_mode(self) -> bool:
        """positionIdx 1/2 only exist in hedge mode. Open positions answer for their coin;
        with none, the probe symbol's (empty) legs show the mode."""
        if "linear" not in self._categories():
            return False
        for params in ([("settleCoin", SETTLE_COINS[0])], [("symbol", HEDGE_PROBE_SYMBOL)]):
            result = self._call(
                "GET", POSITION_LIST, product="linear", params=[("category", "linear"), *params]
            )
            rows = result.get("list") or []
            if rows:
                return any(str(row.get("positionIdx", "0")) in ("1", "2") for row in rows)
        return False

    def balances(self) -> list[Balance]:
        return parse_balances(
            self._call("GET", WALLET_BALANCE, params=[("accountType", ACCOUNT_TYPE)])
        )

    def positions(self, symbol: str | None = None) -> list[Position]:
        if "linear" not in self._categories():
            return []  # spot and spot margin hold balances, not positions
        if symbol and not self.market(symbol).is_perpetual:
            return []
        rows: list[dict[str, Any]] = []
        for category, params in self._scopes(symbol):
            if category == "linear":
                rows += self._pages(POSITION_LIST, [*params, ("limit", "200")], product="linear")
        return [position for row in rows if (position := parse_position(row))]

    # -- market data ----------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        found: list[Instrument] = []
        for category in self._categories():
            params = [("category", category)]
            if category == "linear":  # spot does not paginate
                params.append(("limit", "1000"))
            rows = self._pages(INSTRUMENTS_INFO, params, product=category, signed=False)
            found += [item for row in rows if (item := parse_instrument(row, category))]
        return found

    def ticker(self, symbol: str) -> Ticker:
        # {"list": [{"symbol": "BTCUSDT", "bid1Price": "20517.96", "ask1Price": "20527.77",
        #            "lastPrice": "20533.13", ...}]}
        market = self.market(symbol)
        result = self._call(
            "GET",
            TICKERS,
            product=market.kind,
            signed=False,
            params=[("category", market.kind), ("symbol", exchange_symbol(market))],
        )
        rows = result.get("list") or []
        if not rows:
            raise errors.InvalidRequest(f"no ticker for {symbol}", exchange=self.name)
        row = rows[0]
        return Ticker(
            symbol=market.symbol,
            bid=decimal_or_zero(row.get("bid1Price")),
            ask=decimal_or_zero(row.get("ask1Price")),
            last=decimal_or_zero(row.get("lastPrice")),
        )

    # -- trading --------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> None:
        market = self.market(symbol)
        if not market.is_perpetual:
            raise errors.NotSupported(
                "Bybit sets leverage per perpetual symbol; spot margin leverage is account-wide",
                exchange=self.name,
            )
        if int(leverage) < 1:
            raise errors.InvalidRequest("leverage must be at least 1", exchange=self.name)
        body = {
            "category": "linear",
            "symbol": exchange_symbol(market),
            "buyLeverage": str(int(leverage)),
            "sellLeverage": str(int(leverage)),
        }
        try:
            self._call("POST", SET_LEVERAGE, body=body, product="linear", write=True)
        except errors.ExchangeError as exc:
            if exc.code != LEVERAGE_NOT_MODIFIED:
                raise

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        body = order_body(order, market, spot_margin=self.api_type == "margin" or order.margin)
        result = self._call("POST", ORDER_CREATE, body=body, product=market.kind, write=True)
        acknowledged = ExchangeOrder(
            symbol=market.symbol,
            client_order_id=result.get("orderLinkId") or None,
            exchange_order_id=str(result.get("orderId", "")),
            status="open",
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            price=order.price,
        )
        return self._read_back(market, acknowledged)

    def _read_back(self, market: Market, acknowledged: ExchangeOrder) -> ExchangeOrder:
        """The ack only says "accepted": read the order's state once. A failing read must not
        turn an accepted write into an error, so the ack is returned then."""
        try:
            return self.get_order(
                market.symbol,
                exchange_order_id=acknowledged.exchange_order_id or None,
                client_order_id=acknowledged.client_order_id,
            )
        except errors.ExchangeError:
            return acknowledged

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        body: dict[str, Any] = {"category": market.kind, "symbol": exchange_symbol(market)}
        body.update(order_id_fields(client_order_id, exchange_order_id))
        result = self._call("POST", ORDER_CANCEL, body=body, product=market.kind, write=True)
        acknowledged = ExchangeOrder(
            symbol=market.symbol,
            client_order_id=result.get("orderLinkId") or client_order_id,
            exchange_order_id=str(result.get("orderId") or exchange_order_id or ""),
            status="canceled",
            side="",
            type="",
            quantity=Decimal("0"),
        )
        return self._read_back(market, acknowledged)

    def cancel_all(self, symbol: str | None = None) -> int:
        canceled = 0
        for category, params in self._scopes(symbol):
            result = self._call(
                "POST", ORDER_CANCEL_ALL, body=dict(params), product=category, write=True
            )
            canceled += len(result.get("list") or [])
        return canceled

    # -- the dead-man switch --------------------------------------------------------------

    def _arm_dead_man_switch(self, seconds: int, markets: list[Market]) -> DeadManState:
        """Set the DCP window of each product this connection trades. The answer is
        ``{"retCode":0,"retMsg":"success"}``; sent as a read (the base class says why).
        DCP then fires when every private stream that subscribed ``dcp`` stays away
        ``seconds``: the live session must subscribe it."""
        for product in DCP_PRODUCTS.get(self.api_type, ("SPOT",)):
            self._call(
                "POST",
                DCP,
                body={"product": product, "timeWindow": seconds},
                product="linear" if product == "DERIVATIVES" else "spot",
            )
        return DeadManState(armed=True, kind="disconnect", seconds=seconds)

    def _disarm_dead_man_switch(self, markets: list[Market]) -> DeadManState:
        """Bybit turns DCP on and off per account (its account manager), not over the API:
        disarming is the live session no longer subscribing ``dcp``, so nothing is sent."""
        return DeadManState(armed=False, kind="disconnect")

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        """Open and recent orders first, then history (closed orders, up to 7 days back)."""
        params = [
            ("category", market.kind),
            ("symbol", exchange_symbol(market)),
            *order_id_fields(client_order_id, exchange_order_id),
        ]
        for path in (ORDER_REALTIME, ORDER_HISTORY):
            rows = self._call("GET", path, params=params, product=market.kind).get("list")
            if rows:
                return parse_order(rows[0], market.kind)
        raise errors.OrderNotFound(
            f"no order {exchange_order_id or client_order_id} on {market.symbol}",
            exchange=self.name,
        )

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        orders = []
        for category, params in self._scopes(symbol):
            rows = self._pages(
                ORDER_REALTIME,
                [*params, ("openOnly", "0"), ("limit", str(PAGE_LIMIT))],
                product=category,
            )
            orders += [parse_order(row, category) for row in rows]
        return [order for order in orders if order.status in ("open", "partially_filled")]

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        [(category, params)] = self._scopes(symbol)
        if since_ms is not None:
            params.append(("startTime", str(int(since_ms))))
        rows = self._pages(ORDER_HISTORY, [*params, ("limit", str(PAGE_LIMIT))], product=category)
        return [parse_order(row, category) for row in rows]

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """``/v5/execution/list`` per category (and symbol), newest first, following the
        cursor. ``startTime`` alone answers seven days from it."""
        fills: list[FillUpdate] = []
        symbol = market.symbol if market else None
        for category, params in self._scopes(symbol):
            params = [p for p in params if p[0] != "settleCoin"]  # not a filter here
            if since_ms is not None:
                params.append(("startTime", str(since_ms)))
            rows = self._pages(
                EXECUTION_LIST,
                [*params, ("limit", str(min(limit, FILLS_PAGE_LIMIT)))],
                product=category,
            )
            fills += [fill for row in rows if (fill := parse_fill(row, category))]
        return fills


CONNECTOR = BybitConnector
