"""BingX: spot and USDT-M perpetual swaps, one REST host, HMAC-SHA256 query-string signing.

Facts: docs/exchanges/bingx.md. Every private call carries ``timestamp`` + ``recvWindow``;
the parameters are sorted a-z, signed as ``k=v&...`` over the raw values and sent in the
query string (GET, POST and DELETE alike, empty body), with ``signature`` last and the key in
``X-BX-APIKEY``. Responses are ``{code, msg, data}``; ``code`` 0 means success even though
errors usually come with HTTP 200. The VST demo (testnet) simulates only the perpetuals.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_UP, Decimal
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
)
from exchanges.limits import (
    IP,
    Budget,
    Charge,
    UsageSignal,
    Window,
    endpoint_window,
    retry_after_seconds,
)
from exchanges.parsing import (
    decimal_or_none,
    decimal_or_zero,
    format_decimal,
    int_or_none,
    positive_or_none,
)
from exchanges.symbols import Market, joined_symbol, unified

# -- URLs ---------------------------------------------------------------------------------

LIVE_REST = "https://open-api.bingx.com"
VST_REST = "https://open-api-vst.bingx.com"
# (environment, product) -> REST root. Paper connections always bring their own base_url.
REST_HOSTS = {
    ("live", "spot"): LIVE_REST,
    ("live", "linear"): LIVE_REST,
    ("testnet", "linear"): VST_REST,  # VST has no spot
}
WS_HOSTS = {
    ("live", "spot"): "wss://open-api-ws.bingx.com",
    ("live", "linear"): "wss://open-api-swap.bingx.com",
    ("testnet", "linear"): "wss://vst-open-api-ws.bingx.com",
}
WS_PATHS = {"spot": "/market", "linear": "/swap-market"}  # ?listenKey=<key> for private

# -- endpoint paths -----------------------------------------------------------------------

SERVER_TIME = "/openApi/swap/v2/server/time"  # same host for both products
API_PERMISSIONS = "/openApi/v1/account/apiPermissions"
SPOT_SYMBOLS = "/openApi/spot/v1/common/symbols"
SPOT_TICKER = "/openApi/spot/v1/ticker/24hr"
SPOT_BALANCE = "/openApi/spot/v1/account/balance"
SPOT_ORDER = "/openApi/spot/v1/trade/order"
SPOT_CANCEL = "/openApi/spot/v1/trade/cancel"
SPOT_CANCEL_ALL = "/openApi/spot/v1/trade/cancelOpenOrders"
SPOT_QUERY = "/openApi/spot/v1/trade/query"
SPOT_OPEN_ORDERS = "/openApi/spot/v1/trade/openOrders"
SPOT_HISTORY = "/openApi/spot/v1/trade/historyOrders"
SPOT_CANCEL_ALL_AFTER = "/openApi/spot/v1/trade/cancelAllAfter"  # the dead-man switch
SWAP_CONTRACTS = "/openApi/swap/v2/quote/contracts"
SWAP_TICKER = "/openApi/swap/v2/quote/ticker"
SWAP_BALANCE = "/openApi/swap/v3/user/balance"
SWAP_ORDER = "/openApi/swap/v2/trade/order"  # POST place, DELETE cancel, GET query
SWAP_CANCEL_ALL = "/openApi/swap/v2/trade/allOpenOrders"
SWAP_OPEN_ORDERS = "/openApi/swap/v2/trade/openOrders"
SWAP_HISTORY = "/openApi/swap/v2/trade/allOrders"
SWAP_POSITIONS = "/openApi/swap/v2/user/positions"
SWAP_POSITION_MODE = "/openApi/swap/v1/positionSide/dual"
SWAP_LEVERAGE = "/openApi/swap/v2/trade/leverage"
SWAP_CANCEL_ALL_AFTER = "/openApi/swap/v2/trade/cancelAllAfter"  # the dead-man switch
CANCEL_ALL_AFTER = {"spot": SPOT_CANCEL_ALL_AFTER, "linear": SWAP_CANCEL_ALL_AFTER}
# our trades, per symbol: spot "Query transaction details"; swap "historical transaction
# details" (v1 fillHistory carries the trade id; v2 allFillOrders does not)
SPOT_MY_TRADES = "/openApi/spot/v1/trade/myTrades"
SWAP_FILL_HISTORY = "/openApi/swap/v1/trade/fillHistory"
FILLS_LOOKBACK_MS = 7 * 86_400_000  # spot myTrades: "only the past 7 days"
FILLS_WINDOW_MS = 86_400_000  # UNVERIFIED: queries kept within one day each
FILLS_PAGE_LIMIT = 1000


@dataclass(frozen=True)
class Endpoints:
    """What differs between the two products: paths, methods and client-id parameter names."""

    instruments: str
    ticker: str
    balance: str
    place: str
    cancel: tuple[str, str]  # (method, path)
    cancel_all: tuple[str, str]
    query: str
    open_orders: str
    history: str
    new_client_id: str  # parameter naming our id when placing
    client_id: str  # parameter naming it in cancel / query


ENDPOINTS = {
    "spot": Endpoints(
        SPOT_SYMBOLS,
        SPOT_TICKER,
        SPOT_BALANCE,
        SPOT_ORDER,
        ("POST", SPOT_CANCEL),
        ("POST", SPOT_CANCEL_ALL),
        SPOT_QUERY,
        SPOT_OPEN_ORDERS,
        SPOT_HISTORY,
        new_client_id="newClientOrderId",
        client_id="clientOrderID",
    ),
    "linear": Endpoints(
        SWAP_CONTRACTS,
        SWAP_TICKER,
        SWAP_BALANCE,
        SWAP_ORDER,
        ("DELETE", SWAP_ORDER),
        ("DELETE", SWAP_CANCEL_ALL),
        SWAP_ORDER,
        SWAP_OPEN_ORDERS,
        SWAP_HISTORY,
        new_client_id="clientOrderId",
        client_id="clientOrderId",
    ),
}

# -- rate limits (docs/rate-limits.md) ----------------------------------------------------

# BingX counts requests, not weights (facts section 5): every endpoint weighs 1.
WEIGHTS: dict[str, int] = {}

_ARTICLE = "bingx.com support article 31103871611289 (2025-10-16)"
# UNVERIFIED: docs-v3 gives most swap trade/account endpoints 5/s and many spot ones 10/s;
# each endpoint (method and path) is assumed to count apart, per the docs' "independent".
_DOCS_V3 = "bingx-api.github.io docs-v3 (per-endpoint UID limit; UNVERIFIED per endpoint)"


def _uid(endpoint: str, limit: int, source: str = _DOCS_V3) -> tuple[str, Window]:
    return endpoint_window(endpoint, limit, 1, source=source)


RATE_LIMITS = Budget(
    windows=dict(
        [
            # every spot and futures market-data endpoint shares 500 / 10 s per IP; the account
            # endpoints share 2,000 / 10 s per IP (since 2025-09-10)
            ("ip public requests 10s", Window(500, 10, IP, signed=False, source=_ARTICLE)),
            ("ip private requests 10s", Window(2000, 10, IP, signed=True, source=_ARTICLE)),
            _uid(f"POST {SWAP_ORDER}", 10, _ARTICLE),
            _uid(f"DELETE {SWAP_ORDER}", 5),
            _uid(f"GET {SWAP_ORDER}", 5),
            *(
                _uid(path, 5)
                for path in (
                    SWAP_CANCEL_ALL,
                    SWAP_OPEN_ORDERS,
                    SWAP_HISTORY,
                    SWAP_BALANCE,
                    SWAP_POSITIONS,
                    SWAP_POSITION_MODE,
                    SWAP_LEVERAGE,
                    API_PERMISSIONS,
                )
            ),
            _uid(SPOT_ORDER, 5, _ARTICLE),
            _uid(SPOT_CANCEL, 5, _ARTICLE),
            _uid(SPOT_CANCEL_ALL, 2, _ARTICLE),
            _uid(SPOT_QUERY, 10, _ARTICLE),
            *(_uid(path, 10) for path in (SPOT_BALANCE, SPOT_OPEN_ORDERS, SPOT_HISTORY)),
            # cancelAllAfter: "rate limitation by UID: 2/s" on both products (the spot page also
            # says 1 time/1s; 2/s is the table's)
            _uid(SPOT_CANCEL_ALL_AFTER, 2),
            _uid(SWAP_CANCEL_ALL_AFTER, 2),
            _uid(SPOT_MY_TRADES, 5),
            _uid(SWAP_FILL_HISTORY, 5),
        ]
    ),
    host_groups={
        # UNVERIFIED: .io and .pro are documented as backup domains of the one service
        "https://open-api.bingx.io:443": "https://open-api.bingx.com:443",
        "https://open-api.bingx.pro:443": "https://open-api.bingx.com:443",
    },
)

# Pauses for bare HTTP answers: 429 waits out BingX's 10 s IP window; 403 (firewall) and
# 418 (auto-ban after ignoring 429s) "recover after 5 minutes".
# UNVERIFIED: BingX states no pause for 429 or 418; 10 s and 300 s are our reading.
HTTP_PAUSE_SECONDS = {429: 10.0, 418: 300.0, 403: 300.0}
# The UID's remaining requests on this endpoint and when its window ends (UNVERIFIED: the
# unit of -Expire is not documented; epoch milliseconds is what clients read it as).
REMAIN_HEADER = "X-RateLimit-Requests-Remain"
EXPIRE_HEADER = "X-RateLimit-Requests-Expire"
EPOCH_MS_FLOOR = 10**12  # anything smaller is not a millisecond timestamp of our era

# -- order status -------------------------------------------------------------------------

STATUS_MAP = {
    "NEW": "open",
    "PENDING": "open",
    "WORKING": "open",  # UNVERIFIED (JKorf enum, trigger orders)
    "RUNNING": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "CANCELLED": "canceled",  # swap cancel responses spell it this way
    "FAILED": "rejected",
    "EXPIRED": "expired",
}

TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "PostOnly"}
SPOT_MARKET_BUY_BUFFER = Decimal("1.01")  # quote amount = quantity x ask x 1.01
QUOTE_STEP = Decimal("0.00000001")
HISTORY_SPAN_MS = 7 * 24 * 3600 * 1000  # allOrders refuses ranges over 7 days (80014)

# -- signing (pure) -----------------------------------------------------------------------


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256 of the parameter string."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signing_payload(params: Sequence[tuple[str, str]]) -> str:
    """``k=v&...`` over the raw, un-encoded values, in the order they are sent."""
    return "&".join(f"{key}={value}" for key, value in params)


def signed_params(
    params: Sequence[tuple[str, str]], *, secret: str, timestamp_ms: int, recv_window_ms: int
) -> list[tuple[str, str]]:
    """The parameters sorted a-z with recvWindow and timestamp, then ``signature`` last."""
    ordered = sorted(
        [*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))]
    )
    return [*ordered, ("signature", sign(secret, signing_payload(ordered)))]


# -- symbols ------------------------------------------------------------------------------


def to_exchange_symbol(market: Market) -> str:
    """BTC/USDT and BTC/USDT:USDT are both BTC-USDT; the endpoint tells the product."""
    return joined_symbol(market, "-")


def to_unified_symbol(exchange_symbol: str, kind: str) -> str:
    base, _, quote = str(exchange_symbol).upper().partition("-")
    if not base or not quote:
        raise errors.InvalidRequest(f"not a BingX symbol: {exchange_symbol!r}", exchange="bingx")
    return unified(base, quote, kind)


# -- parsers ------------------------------------------------------------------------------


def _stamp(value: Any) -> int | None:
    """BingX sends 0 for a time it does not know."""
    return int_or_none(value) or None


# Spot (data.fills): {"symbol": "BTC-USDT", "id": 36237072, "orderId": 1674069326895775744,
#   "price": "30000", "qty": "0.0001", "quoteQty": "3", "commission": "-0.00000012",
#   "commissionAsset": "BTC", "time": 1687962766000, "isBuyer": true, "isMaker": false}
# Swap (data.fill_orders): {"symbol": "BTC-USDT", "orderId": 1735950529123455000,
#   "tradeId": "97244351", "price": "50000.0", "qty": "0.0100", "quoteQty": "500.00",
#   "commission": "-0.2500", "commissionAsset": "USDT", "filledTime": 1700000000120,
#   "side": "BUY", "positionSide": "BOTH", "role": "taker"}
def parse_fill(raw: Mapping[str, Any], kind: str) -> FillUpdate:
    """One trade of ours. The commission is printed as a balance change (negative) in the
    samples; ours is what was paid (UNVERIFIED: no rebate case is documented)."""
    spot = kind == "spot"
    if spot:
        side = "buy" if raw.get("isBuyer") else "sell"
        maker = raw.get("isMaker")
        liquidity = None if not isinstance(maker, bool) else ("maker" if maker else "taker")
    else:
        side = str(raw["side"]).lower()
        liquidity = {"maker": "maker", "taker": "taker"}.get(str(raw.get("role", "")).lower())
    return FillUpdate(
        exchange="bingx",
        trade_id=str(raw["id"] if spot else raw["tradeId"]),
        exchange_order_id=str(raw["orderId"]),
        client_order_id=None,
        symbol=to_unified_symbol(str(raw["symbol"]), kind),
        side=side,
        price=Decimal(str(raw["price"])),
        quantity=Decimal(str(raw["qty"])),
        fee=abs(decimal_or_zero(raw.get("commission"))),
        fee_asset=raw.get("commissionAsset") or None,
        liquidity=liquidity,
        time_ms=_fill_time(raw.get("time") if spot else raw.get("filledTime")),
    )


def _fill_time(value: Any) -> int | None:
    """Milliseconds, or the ISO text some swap answers carry (``2023-08-01T08:00:00Z``)."""
    if isinstance(value, str) and "T" in value:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
    return _stamp(value)


# Swap (data.order):   {"symbol": "BTC-USDT", "orderId": 1735950529123455000, "side": "BUY",
#   "positionSide": "BOTH", "type": "LIMIT", "origQty": "0.0100", "price": "50000.0",
#   "executedQty": "0.0000", "avgPrice": "0.0", "cumQuote": "0", "status": "PENDING",
#   "time": 1700000000000, "updateTime": 1700000000000, "clientOrderId": "ec0123..."}
# Spot (data):         {"symbol": "BTC-USDT", "orderId": 1735950529123455000, "price": "50000",
#   "origQty": "0.01", "executedQty": "0", "cummulativeQuoteQty": "0", "status": "PENDING",
#   "type": "LIMIT", "side": "BUY", "time": ..., "updateTime": ..., "clientOrderID": "ec01..."}
def parse_order(raw: Mapping[str, Any], kind: str) -> ExchangeOrder:
    """One order in our shape. A missing status (swap place answers) means just accepted."""
    raw_status = str(raw.get("status") or "NEW").upper()
    executed = decimal_or_zero(raw.get("executedQty"))
    # quote-sized spot market buys report origQty 0: the base amount is what was filled
    quantity = positive_or_none(raw.get("origQty")) or executed
    quote = positive_or_none(raw.get("cumQuote")) or positive_or_none(
        raw.get("cummulativeQuoteQty")
    )
    average = positive_or_none(raw.get("avgPrice"))
    if average is None and quote is not None and executed > 0:
        average = quote / executed
    client_id = raw.get("clientOrderId") or raw.get("clientOrderID") or None
    return ExchangeOrder(
        symbol=to_unified_symbol(raw.get("symbol", ""), kind),
        client_order_id=client_id,
        exchange_order_id=str(raw.get("orderId", "")),
        status=STATUS_MAP.get(raw_status, "open"),
        side=str(raw.get("side", "")).lower(),
        type=str(raw.get("type", "")).lower(),
        quantity=quantity,
        filled_quantity=executed,
        average_price=average,
        price=positive_or_none(raw.get("price")),
        raw_status=raw_status,
        created_at_ms=_stamp(raw.get("time") or raw.get("transactTime")),
        updated_at_ms=_stamp(raw.get("updateTime")),
    )


# {"symbol": "BTC-USDT", "minQty": 0.0001, "maxQty": 100, "minNotional": 5,
#  "maxNotional": 200000, "status": 1, "tickSize": 0.01, "stepSize": 0.000001,
#  "apiStateSell": true, "apiStateBuy": true}
def parse_spot_instrument(raw: Mapping[str, Any]) -> Instrument:
    symbol = to_unified_symbol(raw["symbol"], "spot")
    lot = Decimal(str(raw["stepSize"]))
    return Instrument(
        symbol=symbol,
        exchange_symbol=raw["symbol"],
        base=symbol.split("/")[0],
        quote=symbol.split("/")[1],
        kind="spot",
        tick_size=Decimal(str(raw["tickSize"])),
        lot_size=lot,
        min_quantity=positive_or_none(raw.get("minQty")) or lot,
        min_notional=decimal_or_zero(raw.get("minNotional")),
    )


# {"contractId": "100", "symbol": "BTC-USDT", "quantityPrecision": "4", "pricePrecision": "1",
#  "tradeMinQuantity": "0.0001", "tradeMinUSDT": "2", "currency": "USDT", "asset": "BTC",
#  "status": "1", "apiStateOpen": "true", "apiStateClose": "true"}
def parse_swap_instrument(raw: Mapping[str, Any]) -> Instrument:
    symbol = to_unified_symbol(raw["symbol"], "linear")
    base, rest = symbol.split("/")
    lot = Decimal(1).scaleb(-int(raw["quantityPrecision"]))
    return Instrument(
        symbol=symbol,
        exchange_symbol=raw["symbol"],
        base=base,
        quote=rest.split(":")[0],
        kind="linear",
        tick_size=Decimal(1).scaleb(-int(raw["pricePrecision"])),
        lot_size=lot,
        min_quantity=positive_or_none(raw.get("tradeMinQuantity")) or lot,
        min_notional=decimal_or_zero(raw.get("tradeMinUSDT")),
    )


def _is_trading(raw: Mapping[str, Any]) -> bool:
    """Both products report ``status`` 1 for a tradable symbol (int on spot, str on swap)."""
    return str(raw.get("status", "1")) == "1"


# {"balances": [{"asset": "USDT", "free": "1000.5", "locked": "20"}]}
def parse_spot_balances(data: Mapping[str, Any]) -> list[Balance]:
    return [
        Balance(
            asset=row["asset"], free=Decimal(str(row["free"])), locked=Decimal(str(row["locked"]))
        )
        for row in data.get("balances") or []
    ]


# v3: [{"asset": "USDT", "balance": "1000", "equity": "1001", "unrealizedProfit": "1",
#       "availableMargin": "900", "usedMargin": "100", "freezedMargin": "0"}]
# v2 wraps one such object as {"balance": {...}}.
def parse_swap_balances(data: Any) -> list[Balance]:
    rows = [data["balance"]] if isinstance(data, Mapping) and "balance" in data else data or []
    return [
        Balance(
            asset=row["asset"],
            free=Decimal(str(row["availableMargin"])),
            locked=Decimal(str(row.get("usedMargin") or 0))
            + Decimal(str(row.get("freezedMargin") or 0)),
        )
        for row in rows
    ]


# [{"symbol": "BTC-USDT", "positionSide": "SHORT", "positionAmt": "0.0100",
#   "avgPrice": "60000.0", "leverage": 10, "unrealizedProfit": "1.2", "markPrice": "59880"}]
def parse_position(raw: Mapping[str, Any]) -> Position:
    amount = Decimal(str(raw["positionAmt"]))
    side = str(raw.get("positionSide", "")).upper()
    quantity = -abs(amount) if side == "SHORT" else abs(amount) if side == "LONG" else amount
    return Position(
        symbol=to_unified_symbol(raw["symbol"], "linear"),
        quantity=quantity,
        entry_price=positive_or_none(raw.get("avgPrice")),
        leverage=decimal_or_none(raw.get("leverage")),
        unrealized_pnl=decimal_or_none(raw.get("unrealizedProfit")),
        mark_price=positive_or_none(raw.get("markPrice")),
    )


# spot: [{"symbol": "BTC-USDT", "lastPrice": "60000", "bidPrice": "59999", "askPrice": "60001"}]
# swap: {"symbol": "BTC-USDT", "lastPrice": "60000", "bidPrice": "59999", "askPrice": "60001"}
def parse_ticker(data: Any, symbol: str) -> Ticker:
    row = data[0] if isinstance(data, list) and data else data
    if not isinstance(row, Mapping) or row.get("lastPrice") in (None, ""):
        raise errors.ExchangeError(f"no ticker for {symbol}", exchange="bingx")
    last = Decimal(str(row["lastPrice"]))
    return Ticker(
        symbol=symbol,
        bid=positive_or_none(row.get("bidPrice")) or last,
        ask=positive_or_none(row.get("askPrice")) or last,
        last=last,
    )


# Key permission numbers: 1 spot trading, 2 read, 3 perpetual trading, 4 universal transfer,
# 5 withdraw, 7 sub-account transfer. {"permissions": [1, 2, 3], "ipAddresses": ["1.2.3.4"]}
PERMISSION_NAMES = {
    1: "trade",
    2: "read",
    3: "futures",
    4: "transfer",
    5: "withdraw",
    7: "transfer",
}
PRODUCT_TRADE_PERMISSION = {"spot": 1, "linear": 3}


def parse_permissions(data: Mapping[str, Any], product: str) -> CredentialCheck:
    """Our permissions; ``trade`` only when the key may trade this connection's product."""
    numbers = {int(number) for number in data.get("permissions") or []}
    names = {PERMISSION_NAMES[n] for n in numbers if n in PERMISSION_NAMES} - {"trade"}
    if PRODUCT_TRADE_PERMISSION[product] in numbers:
        names.add("trade")
    warnings = []
    if 5 in numbers:
        warnings.append("withdraw_enabled")
    if "trade" not in names:
        warnings.append("read_only")
    if not data.get("ipAddresses"):
        warnings.append("no_ip_whitelist")
    return CredentialCheck(permissions=tuple(sorted(names)), warnings=tuple(warnings))


def parse_key_info(data: Mapping[str, Any], product: str) -> KeyInfo:
    """``ipAddresses``: the bound addresses, [] for none; BingX reports no expiry."""
    ips = tuple(str(ip) for ip in data.get("ipAddresses") or [])
    return KeyInfo(
        permissions=frozenset(parse_permissions(data, product).permissions),
        ip_restricted=bool(ips),
        ips=ips,
    )


# -- errors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BingxErrorTable(errors.ErrorTable):
    """BingX reuses some codes for unrelated failures (100421: stale timestamp or an API
    trading ban; 109400: bad parameter, margin shortfall or position-mode mismatch). For
    those codes the message is read first; the exact table gives the default."""

    by_message: Mapping[str, Sequence[tuple[str, type[errors.ExchangeError]]]] = field(
        default_factory=dict
    )

    def classify(
        self, *, code: str | int | None, message: str, http_status: int | None
    ) -> type[errors.ExchangeError]:
        lowered = message.lower()
        for needle, error_class in self.by_message.get(str(code), ()):
            if needle in lowered:
                return error_class
        return super().classify(code=code, message=message, http_status=http_status)


_MARGIN_SHORT = (
    ("margin is not enough", errors.InsufficientFunds),
    ("insufficient", errors.InsufficientFunds),
)

# BingX reports internal failures with HTTP 200 and one of these codes: on a write the
# order (or cancel) may have gone through, so the caller must look before it resends.
STATUS_UNKNOWN_CODES = frozenset({"100500", "100503", "109500", "80012"})

ERROR_TABLE = BingxErrorTable(
    exact={
        "100001": errors.AuthenticationError,  # signature verification failed
        "100412": errors.AuthenticationError,  # null signature
        "100413": errors.AuthenticationError,  # incorrect apiKey
        "100421": errors.InvalidRequest,  # null timestamp or timestamp mismatch
        "100004": errors.PermissionDenied,
        "100419": errors.PermissionDenied,  # IP not whitelisted
        "100414": errors.PermissionDenied,  # risk control / KYC
        "80020": errors.PermissionDenied,
        "101204": errors.InsufficientFunds,
        "100202": errors.InsufficientFunds,  # spot "Insufficient assets"
        "80016": errors.OrderNotFound,
        "109414": errors.OrderNotFound,
        "109421": errors.OrderNotFound,
        "80018": errors.InvalidOrder,  # order already filled
        "109422": errors.InvalidOrder,
        "80001": errors.InvalidRequest,
        "80014": errors.InvalidRequest,
        "100400": errors.InvalidRequest,
        "109400": errors.InvalidRequest,
        "101400": errors.InvalidOrder,  # below minimum notional
        "110425": errors.InvalidOrder,
        "80017": errors.InvalidOrder,  # position does not exist
        "101205": errors.InvalidOrder,  # no position to close
        "80013": errors.InvalidOrder,  # open-order limit reached
        "101215": errors.InvalidOrder,  # post-only would cross
        # UNVERIFIED: no documented duplicate-client-id code; this is "the same order number
        # can only be submitted once within 1 second".
        "109201": errors.DuplicateOrder,
        "101209": errors.DuplicateOrder,
        "80019": errors.OrderOutcomeUnknown,  # order is being processed
        "101500": errors.RequestTimeout,  # rpc timeout behind the gateway
        "100500": errors.ExchangeUnavailable,
        "100503": errors.ExchangeUnavailable,
        "109500": errors.ExchangeUnavailable,
        "80012": errors.ExchangeUnavailable,
        "100410": errors.RateLimited,
        "109429": errors.RateLimited,
    },
    by_message={
        "100421": (("prohibit", errors.PermissionDenied), ("restrict", errors.PermissionDenied)),
        "109400": (
            *_MARGIN_SHORT,
            ("temporarily disabled", errors.PermissionDenied),
            ("hedge mode", errors.HedgeModeUnsupported),
        ),
        "80014": (("temporarily disabled", errors.PermissionDenied),),
        "80001": _MARGIN_SHORT,
        "80012": _MARGIN_SHORT,
        "100400": (("volume", errors.InvalidOrder), ("minimum", errors.InvalidOrder)),
    },
    substrings=(
        ("insufficient", errors.InsufficientFunds),
        ("order not exist", errors.OrderNotFound),
        ("order does not exist", errors.OrderNotFound),
    ),
    http_status={
        401: errors.AuthenticationError,
        403: errors.RateLimited,
        418: errors.RateLimited,
        429: errors.RateLimited,
    },
    rate_limit_pause={"100410": 10.0, "109429": 10.0},
)

# -- the connector ------------------------------------------------------------------------


# cancelAllAfter: type ACTIVATE (timeOut 10..120 s) or CLOSE, spot and swap apart; every
# open order of that product when it fires (facts: Dead-man switch)
DEAD_MAN_WINDOW_SECONDS = (10, 120)


class BingxConnector(Connector):
    deadline_window_ms = 5000
    dead_man_switch = "countdown"
    dead_man_window_seconds = DEAD_MAN_WINDOW_SECONDS
    name = "bingx"
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    rate_limits = RATE_LIMITS
    error_table = ERROR_TABLE
    rate_limit_statuses = frozenset({403, 418, 429})  # 403: the IP ban, often a bare page
    status_unknown_codes = STATUS_UNKNOWN_CODES
    recv_window_ms = 5000
    # Spot takes letters, digits and "_" (1-40); swap lowercases whatever it gets, so only
    # lowercase ids can be looked up again.
    client_order_id_pattern = re.compile(r"^[a-z0-9_]{1,40}$")
    fills_lookback_ms = FILLS_LOOKBACK_MS
    fills_per_symbol = True

    # -- pipeline -----------------------------------------------------------------------

    def sign(self, call: Call) -> None:
        timestamp = self.now_ms()
        call.params = signed_params(
            call.params,
            secret=self.credentials.api_secret,
            timestamp_ms=timestamp,
            recv_window_ms=self.recv_window_ms,
        )
        call.headers["X-BX-APIKEY"] = self.credentials.api_key
        call.deadline_ms = timestamp + self.recv_window_ms

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        payload = response.payload if isinstance(response.payload, Mapping) else {}
        code = payload.get("code")
        # never the raw body of a non-JSON answer (a gateway page): only the status
        message = str(payload.get("msg") or payload.get("message") or f"HTTP {response.status}")
        if code is not None and str(code) != "0":
            return code, message
        if response.status >= 400:
            return None, message
        return None

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None or str(code) in ERROR_TABLE.rate_limit_pause:
            return super().pause_seconds(response, code)
        return HTTP_PAUSE_SECONDS.get(response.status, super().pause_seconds(response, code))

    def usage_signals(self, charge: Charge, headers: Mapping[str, str]) -> list[UsageSignal]:
        """``X-RateLimit-Requests-Remain: 3`` on an endpoint published at 10/s: the UID
        used 7; ``X-RateLimit-Requests-Expire`` says when that count ends."""
        window = self.account_window(charge)
        remain = (headers.get(REMAIN_HEADER) or "").strip()
        if window is None or not remain.isdigit():
            return []
        name, published = window
        return [
            UsageSignal(
                name,
                max(published.limit - int(remain), 0),
                published.seconds,
                self._expires_in(headers.get(EXPIRE_HEADER)),
            )
        ]

    def _expires_in(self, value: str | None) -> float | None:
        text = (value or "").strip()
        if not text.isdigit() or int(text) < EPOCH_MS_FLOOR:
            return None
        return max((int(text) - self.now_ms()) / 1000, 0.0)

    def _call(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        product: str,
        signed: bool = True,
        write: bool = False,
    ) -> Any:
        """Send one request and return its ``data``."""
        call = Call(method, path, params=list(params), signed=signed, write=write, product=product)
        payload = self.request(call).payload
        return payload.get("data") if isinstance(payload, Mapping) else None

    def _route(self, symbol: str | None) -> tuple[str, list[tuple[str, str]]]:
        """(product, [("symbol", exchange symbol)]) for an optional unified symbol."""
        if symbol is None:
            return self.default_product(), []
        return self._product_of(self.market(symbol))

    def _product_of(self, market: Market) -> tuple[str, list[tuple[str, str]]]:
        return market.kind, [("symbol", to_exchange_symbol(market))]

    # -- account --------------------------------------------------------------------------

    def server_time(self) -> int:
        data = self._call("GET", SERVER_TIME, product=self.default_product(), signed=False)
        return int(data["serverTime"])

    def check_credentials(self) -> CredentialCheck:
        # UNVERIFIED envelope: the docs show this answer without {code, data}; read both.
        data = self._key_permissions()
        return replace(
            parse_permissions(data, self.default_product()),
            key=parse_key_info(data, self.default_product()),
        )

    def key_info(self) -> KeyInfo:
        return parse_key_info(self._key_permissions(), self.default_product())

    def _key_permissions(self) -> Mapping[str, Any]:
        call = Call("GET", API_PERMISSIONS, signed=True, product=self.default_product())
        payload = self.request(call).payload or {}
        data = payload.get("data", payload) if isinstance(payload, Mapping) else {}
        return data or {}

    def heartbeat_read(self) -> None:
        product = self.default_product()
        self._call("GET", ENDPOINTS[product].balance, product=product)

    def is_hedge_mode(self) -> bool:
        if self.default_product() != "linear":
            return False
        data = self._call("GET", SWAP_POSITION_MODE, product="linear") or {}
        return str(data.get("dualSidePosition", "false")).lower() == "true"

    def balances(self) -> list[Balance]:
        product = self.default_product()
        data = self._call("GET", ENDPOINTS[product].balance, product=product)
        return parse_swap_balances(data) if product == "linear" else parse_spot_balances(data)

    def positions(self, symbol: str | None = None) -> list[Position]:
        product, params = self._route(symbol)
        if product != "linear":
            return []  # spot holds balances, not positions
        rows = self._call("GET", SWAP_POSITIONS, params, product="linear") or []
        positions = [parse_position(row) for row in rows]
        return [position for position in positions if position.quantity != 0]

    def set_leverage(self, symbol: str, leverage: int) -> None:
        product, params = self._route(symbol)
        if product != "linear":
            raise errors.NotSupported("spot has no leverage on BingX", exchange=self.name)
        if int(leverage) < 1:
            raise errors.InvalidRequest("leverage must be at least 1", exchange=self.name)
        # UNVERIFIED: one-way mode takes side=BOTH (hedge mode would need LONG and SHORT).
        self._call(
            "POST",
            SWAP_LEVERAGE,
            [*params, ("side", "BOTH"), ("leverage", str(int(leverage)))],
            product="linear",
            write=True,
        )

    # -- market data ------------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        product = self.default_product()
        data = self._call(
            "GET",
            ENDPOINTS[product].instruments,
            self._public_params(product),
            product=product,
            signed=False,
        )
        if product == "linear":
            return [parse_swap_instrument(row) for row in data or [] if _is_trading(row)]
        rows = (data or {}).get("symbols") or []
        return [parse_spot_instrument(row) for row in rows if _is_trading(row)]

    def ticker(self, symbol: str) -> Ticker:
        product, params = self._route(symbol)
        data = self._call(
            "GET",
            ENDPOINTS[product].ticker,
            [*params, *self._public_params(product)],
            product=product,
            signed=False,
        )
        return parse_ticker(data, self.market(symbol).symbol)

    def _public_params(self, product: str) -> list[tuple[str, str]]:
        # The spot market endpoints list ``timestamp`` as a required (unsigned) parameter.
        return [("timestamp", str(self.now_ms()))] if product == "spot" else []

    # -- orders -----------------------------------------------------------------------------

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        if market.is_perpetual:
            params = self._swap_order_params(order, market)
        else:
            params = self._spot_order_params(order, market)
        data = (
            self._call(
                "POST", ENDPOINTS[market.kind].place, params, product=market.kind, write=True
            )
            or {}
        )
        placed = parse_order(
            data.get("order", data) | {"symbol": to_exchange_symbol(market)}, market.kind
        )
        # The swap answer echoes only ids and sides; the rest is what we asked for.
        return replace(
            placed,
            client_order_id=placed.client_order_id or order.client_order_id,
            side=order.side,
            type=order.type,
            quantity=placed.quantity or order.quantity,
            price=placed.price or order.price,
        )

    def _swap_order_params(self, order: OrderRequest, market: Market) -> list[tuple[str, str]]:
        # One-way mode needs positionSide=BOTH (the default LONG fails with 109400).
        params = [
            ("symbol", to_exchange_symbol(market)),
            ("side", order.side.upper()),
            ("positionSide", "BOTH"),
            ("type", order.type.upper()),
            ("quantity", format_decimal(order.quantity)),
            ("clientOrderId", order.client_order_id),
        ]
        if order.type == "limit":
            params += [
                ("price", format_decimal(order.price or Decimal(0))),
                ("timeInForce", TIME_IN_FORCE[order.time_in_force]),
            ]
        if order.reduce_only:
            params.append(("reduceOnly", "true"))
        return params

    def _spot_order_params(self, order: OrderRequest, market: Market) -> list[tuple[str, str]]:
        params = [
            ("symbol", to_exchange_symbol(market)),
            ("side", order.side.upper()),
            ("type", order.type.upper()),
            ("newClientOrderId", order.client_order_id),
        ]
        if order.type == "limit":
            params += [
                ("quantity", format_decimal(order.quantity)),
                ("price", format_decimal(order.price or Decimal(0))),
                ("timeInForce", TIME_IN_FORCE[order.time_in_force]),
            ]
        elif order.side == "sell":
            params.append(("quantity", format_decimal(order.quantity)))
        else:
            # Spot market buys are sized in quote (quoteOrderQty is required).
            ask = self.ticker(order.symbol).ask
            amount = order.quantity * ask * SPOT_MARKET_BUY_BUFFER
            params.append(("quoteOrderQty", format_decimal(amount.quantize(QUOTE_STEP, ROUND_UP))))
        return params

    def _id_params(
        self, product: str, client_order_id: str | None, exchange_order_id: str | None
    ) -> list[tuple[str, str]]:
        if exchange_order_id:
            return [("orderId", str(exchange_order_id))]
        return [(ENDPOINTS[product].client_id, str(client_order_id))]

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        product, params = self._product_of(market)
        method, path = ENDPOINTS[product].cancel
        params += self._id_params(product, client_order_id, exchange_order_id)
        data = self._call(method, path, params, product=product, write=True) or {}
        return parse_order(data.get("order", data), product)

    def cancel_all(self, symbol: str | None = None) -> int:
        product, params = self._route(symbol)
        method, path = ENDPOINTS[product].cancel_all
        data = self._call(method, path, params, product=product, write=True) or {}
        # swap: {"success": [...], "failed": null}; spot: {"orders": [...]}
        return len(data.get("success") or data.get("orders") or [])

    # -- the dead-man switch ------------------------------------------------------------

    def _arm_dead_man_switch(self, seconds: int, markets: list[Market]) -> DeadManState:
        trigger_ms = self._cancel_all_after("ACTIVATE", seconds)
        return DeadManState(
            armed=True,
            kind="countdown",
            seconds=seconds,
            trigger_at_ms=trigger_ms or self.now_ms() + seconds * 1000,
        )

    def _disarm_dead_man_switch(self, markets: list[Market]) -> DeadManState:
        self._cancel_all_after("CLOSE", self.dead_man_window_seconds[0])
        return DeadManState(armed=False, kind="countdown")

    def _cancel_all_after(self, kind: str, seconds: int) -> int | None:
        """``{"code":0,"msg":"","data":{"triggerTime":1710000120000,"status":"ACTIVATED",
        "note":""}}``; ``status`` FAILED (the exchange is still cancelling from the last
        trigger, it refuses ACTIVATE and CLOSE meanwhile) is retryable. timeOut is
        required with CLOSE too. Sent as a read (the base class says why)."""
        product = self.default_product()
        params = [("type", kind), ("timeOut", str(seconds))]
        data = self._call("POST", CANCEL_ALL_AFTER[product], params, product=product) or {}
        if str(data.get("status", "")).upper() == "FAILED":
            raise errors.ExchangeUnavailable(
                f"cancelAllAfter {kind} failed: {data.get('note') or 'no reason given'}",
                exchange=self.name,
            )
        trigger = int_or_none(data.get("triggerTime"))
        return trigger or None

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        product, params = self._product_of(market)
        params += self._id_params(product, client_order_id, exchange_order_id)
        data = self._call("GET", ENDPOINTS[product].query, params, product=product)
        raw = data.get("order", data) if isinstance(data, Mapping) else None
        if not raw:
            raise errors.OrderNotFound("no such order", exchange=self.name)
        return parse_order(raw, product)

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """Per symbol: spot ``myTrades`` (startTime/endTime, limit), swap ``fillHistory``
        (startTs/endTs, pageSize), in windows of one day from ``since_ms`` (default: the
        exchange's own, the last 24 hours)."""
        assert market is not None  # fills_per_symbol
        product, params = self._product_of(market)
        spot = product == "spot"
        path = SPOT_MY_TRADES if spot else SWAP_FILL_HISTORY
        start, end = ("startTime", "endTime") if spot else ("startTs", "endTs")
        size = [("limit" if spot else "pageSize", str(min(limit, FILLS_PAGE_LIMIT)))]
        windows: list[list[tuple[str, str]]] = [[]]
        if since_ms is not None:
            now, windows = self.now_ms(), []
            for low in range(since_ms, now + 1, FILLS_WINDOW_MS):
                high = min(low + FILLS_WINDOW_MS - 1, now)
                windows.append([(start, str(low)), (end, str(high))])
        fills = []
        for window in windows:
            data = self._call("GET", path, [*params, *window, *size], product=product) or {}
            rows = (
                data.get("fills" if spot else "fill_orders") if isinstance(data, Mapping) else data
            )
            fills += [parse_fill(row, product) for row in rows or []]
        return fills

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        product, params = self._route(symbol)
        data = self._call("GET", ENDPOINTS[product].open_orders, params, product=product) or {}
        return [parse_order(row, product) for row in data.get("orders") or []]

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        product, params = self._route(symbol)
        if since_ms is not None:
            end = self.now_ms()
            # swap refuses spans over 7 days; older history needs several windows
            params += [
                ("startTime", str(max(since_ms, end - HISTORY_SPAN_MS))),
                ("endTime", str(end)),
            ]
        if product == "linear":
            params.append(("limit", "1000"))
        else:
            params += [("pageIndex", "1"), ("pageSize", "100")]
        data = self._call("GET", ENDPOINTS[product].history, params, product=product) or {}
        return [parse_order(row, product) for row in data.get("orders") or []]


CONNECTOR = BingxConnector
