"""Binance: Spot (``/api/v3`` on api.binance.com) and USD-M futures (``/fapi`` on
fapi.binance.com), facts: docs/exchanges/binance.md.

Signed requests carry ``recvWindow`` and ``timestamp`` as ordinary parameters plus
``signature`` = hex HMAC-SHA256(secret, queryString + body). Errors are a 4xx/5xx with
``{"code": <negative>, "msg": ...}``; several reasons share -2010/-2011 and differ only in
``msg``. Quantities are base currency on both products (USD-M contracts are 1 base unit).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, TypeGuard
from urllib.parse import urlencode

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
    ACCOUNT,
    IP,
    Budget,
    Charge,
    Counts,
    Scope,
    UsageSignal,
    Window,
    interval_name,
    retry_after_seconds,
)
from exchanges.parsing import (
    decimal_or_none,
    decimal_or_zero,
    epoch_ms_datetime_or_none,
    format_decimal,
    int_or_none,
    positive_or_none,
)
from exchanges.symbols import Market, joined_symbol, split_by_quote, unified

NAME = "binance"

# -- base URLs: (environment, product) -> root. Paper connections always bring base_url,
# which then serves both products; paper otherwise behaves like live. -------------------
REST_HOSTS: dict[tuple[str, str], str] = {
    ("live", "spot"): "https://api.binance.com",
    ("live", "linear"): "https://fapi.binance.com",
    ("testnet", "spot"): "https://testnet.binance.vision",
    ("testnet", "linear"): "https://testnet.binancefuture.com",
}
WS_HOSTS: dict[tuple[str, str], str] = {
    ("live", "spot"): "wss://ws-api.binance.com:443/ws-api/v3",
    ("live", "linear"): "wss://fstream.binance.com",
    ("testnet", "spot"): "wss://ws-api.testnet.binance.vision/ws-api/v3",
    # UNVERIFIED: whether the futures testnet serves the routed /private path (2026 change).
    ("testnet", "linear"): "wss://fstream.binancefuture.com",
}

# -- endpoint paths ---------------------------------------------------------------------
API_RESTRICTIONS = "/sapi/v1/account/apiRestrictions"  # live (and paper) only
SPOT_ACCOUNT = "/api/v3/account"
FUTURES_ACCOUNT_CONFIG = "/fapi/v1/accountConfig"
FUTURES_BALANCE = "/fapi/v3/balance"
FUTURES_POSITIONS = "/fapi/v3/positionRisk"
FUTURES_LEVERAGE = "/fapi/v1/leverage"
FUTURES_COUNTDOWN_CANCEL_ALL = "/fapi/v1/countdownCancelAll"  # the dead-man switch
# our trades, per symbol: spot "Account trade list", USD-M "Account Trade List"
MY_TRADES = {"spot": "/api/v3/myTrades", "linear": "/fapi/v1/userTrades"}


@dataclass(frozen=True)
class ProductPaths:
    time: str
    exchange_info: str
    book_ticker: str
    price: str
    order: str
    open_orders: str
    cancel_all: str
    all_orders: str


PATHS: dict[str, ProductPaths] = {
    "spot": ProductPaths(
        time="/api/v3/time",
        exchange_info="/api/v3/exchangeInfo",
        book_ticker="/api/v3/ticker/bookTicker",
        price="/api/v3/ticker/price",
        order="/api/v3/order",
        open_orders="/api/v3/openOrders",
        cancel_all="/api/v3/openOrders",
        all_orders="/api/v3/allOrders",
    ),
    "linear": ProductPaths(
        time="/fapi/v1/time",
        exchange_info="/fapi/v1/exchangeInfo",
        book_ticker="/fapi/v1/ticker/bookTicker",
        price="/fapi/v1/ticker/price",
        order="/fapi/v1/order",
        open_orders="/fapi/v1/openOrders",
        cancel_all="/fapi/v1/allOpenOrders",
        all_orders="/fapi/v1/allOrders",
    ),
}

# -- request weights (IP weight), keyed "METHOD path": Binance weighs GET and DELETE of one
# path differently (the base class looks "METHOD path" up first). ------------------------
WEIGHTS: dict[str, int] = {
    "GET /api/v3/time": 1,
    "GET /sapi/v1/account/apiRestrictions": 1,
    "GET /api/v3/account": 20,
    "POST /api/v3/order": 1,  # 0 when successful since 2026-04-02; failures are charged
    "GET /api/v3/order": 4,
    "DELETE /api/v3/order": 1,
    "GET /api/v3/openOrders": 6,
    "DELETE /api/v3/openOrders": 1,
    "GET /fapi/v1/time": 1,
    "GET /fapi/v1/accountConfig": 5,
    "GET /fapi/v3/balance": 5,
    "POST /fapi/v1/order": 0,  # counts on the account's order counters only
    "GET /fapi/v1/order": 1,
    "DELETE /fapi/v1/order": 1,
    "GET /fapi/v1/openOrders": 1,
    "DELETE /fapi/v1/allOpenOrders": 1,
    "GET /fapi/v3/positionRisk": 5,
    # UNVERIFIED: absent from the facts file (market data, history, leverage); values from
    # Binance's public endpoint docs as known, to be checked against the live exchange.
    "GET /api/v3/exchangeInfo": 20,
    "GET /api/v3/ticker/bookTicker": 2,
    "GET /api/v3/ticker/price": 2,
    "GET /api/v3/allOrders": 20,
    "GET /fapi/v1/exchangeInfo": 1,
    "GET /fapi/v1/ticker/bookTicker": 2,
    "GET /fapi/v1/ticker/price": 1,
    "GET /fapi/v1/allOrders": 5,
    "POST /fapi/v1/leverage": 1,
    "POST /fapi/v1/countdownCancelAll": 10,  # per symbol (facts: Dead-man switch)
    # rest-api.md "Account trade list": 20 without orderId (5 with); USD-M: 5
    "GET /api/v3/myTrades": 20,
    "GET /fapi/v1/userTrades": 5,
}
# The same requests without a symbol (every symbol at once) weigh more.
ALL_SYMBOLS_WEIGHTS: dict[str, int] = {
    "GET /api/v3/openOrders": 80,
    "GET /fapi/v1/openOrders": 40,
}

# -- rate limits (docs/rate-limits.md): REQUEST_WEIGHT per IP, ORDERS per account, per
# product. These are the defaults; exchangeInfo.rateLimits, read at run time, replaces them
# (rate_limits_from_exchange_info). Spot and USD-M are separate pools (separate hosts). ----
POOLS = {"spot": "spot", "linear": "usdm"}
ORDER_ENDPOINTS = {
    "spot": frozenset({"POST /api/v3/order"}),
    "linear": frozenset({"POST /fapi/v1/order"}),
}
# exchangeInfo's rateLimitType -> (scope, what it counts)
RATE_LIMIT_TYPES: dict[str, tuple[Scope, Counts]] = {
    "REQUEST_WEIGHT": (IP, "weight"),
    "RAW_REQUESTS": (IP, "requests"),
    "ORDERS": (ACCOUNT, "orders"),
}
INTERVAL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EXCHANGE_INTERVALS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_SPOT_DOCS = "binance-spot-api-docs rest-api.md LIMITS (example values; exchangeInfo rules)"
_FUTURES_DOCS = "developers.binance.com USDⓈ-M General Info, LIMITS"


def rate_window(product: str, kind: str, limit: int, seconds: float, source: str) -> Window:
    """The window of one exchangeInfo rate limit of ``product``."""
    scope, counts = RATE_LIMIT_TYPES[kind]
    return Window(
        limit,
        seconds,
        scope,
        counts,
        product=product,
        source=source,
        endpoints=ORDER_ENDPOINTS[product] if counts == "orders" else None,
    )


def window_name(product: str, kind: str, seconds: float) -> str:
    """``spot ip weight 1m``, ``usdm account orders 10s`` ..."""
    scope, counts = RATE_LIMIT_TYPES[kind]
    return f"{POOLS[product]} {scope} {counts} {interval_name(seconds)}"


def _default(
    product: str, kind: str, limit: int, seconds: float, source: str
) -> tuple[str, Window]:
    return window_name(product, kind, seconds), rate_window(product, kind, limit, seconds, source)


RATE_LIMITS = Budget(
    pools=POOLS,
    windows=dict(
        [
            _default("spot", "REQUEST_WEIGHT", 6000, 60, _SPOT_DOCS),
            # raised to 300,000 / 5 min on 2026-04-02 (CHANGELOG)
            _default("spot", "RAW_REQUESTS", 300_000, 300, _SPOT_DOCS),
            _default("spot", "ORDERS", 50, 10, _SPOT_DOCS),
            _default("spot", "ORDERS", 160_000, 86400, _SPOT_DOCS),
            _default("linear", "REQUEST_WEIGHT", 2400, 60, _FUTURES_DOCS),
            _default("linear", "ORDERS", 1200, 60, _FUTURES_DOCS),
            # UNVERIFIED: not in the official text; Hummingbot's value from exchangeInfo
            _default("linear", "ORDERS", 300, 10, "Hummingbot binance_perpetual_constants.py"),
        ]
    ),
    host_groups={
        # one cluster behind several names: the docs offer api1-api4 and api-gcp as
        # alternatives to api.binance.com, limits "per IP" across them
        **{
            f"https://{host}:443": "https://api.binance.com:443"
            for host in (
                "api-gcp.binance.com",
                "api1.binance.com",
                "api2.binance.com",
                "api3.binance.com",
                "api4.binance.com",
            )
        }
    },
)


def rate_limits_from_exchange_info(product: str, raw: Any) -> dict[str, Window]:
    """The windows ``exchangeInfo.rateLimits`` publishes for ``product``; {} when it
    holds none we understand. Sample entry:
    ``{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50}``."""
    entries = raw.get("rateLimits") if isinstance(raw, Mapping) else None
    windows: dict[str, Window] = {}
    for entry in entries if isinstance(entries, list) else []:
        parsed = _rate_limit_entry(entry)
        if parsed is not None:
            kind, seconds, limit = parsed
            windows[window_name(product, kind, seconds)] = rate_window(
                product, kind, limit, seconds, "exchangeInfo.rateLimits"
            )
    return windows


def _rate_limit_entry(entry: Any) -> tuple[str, float, int] | None:
    if not isinstance(entry, Mapping) or entry.get("rateLimitType") not in RATE_LIMIT_TYPES:
        return None
    unit = EXCHANGE_INTERVALS.get(str(entry.get("interval")))
    number, limit = entry.get("intervalNum", 1), entry.get("limit")
    if unit is None or not _positive_int(number) or not _positive_int(limit):
        return None
    return str(entry["rateLimitType"]), float(unit * number), int(limit)


def _positive_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# -- order status: Binance -> ours ------------------------------------------------------
STATUS_MAP: dict[str, str] = {
    "NEW": "open",
    "PENDING_NEW": "open",
    "PARTIALLY_FILLED": "partially_filled",
    "FILLED": "filled",
    "CANCELED": "canceled",
    "PENDING_CANCEL": "canceled",  # "currently unused"; a cancel in progress
    "REJECTED": "rejected",
    "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired",  # self-trade prevention
    # UNVERIFIED: futures liquidation/ADL legs seen only in third-party code.
    "NEW_INSURANCE": "open",
    "NEW_ADL": "open",
}
ORDER_TYPES = {"LIMIT": "limit", "LIMIT_MAKER": "limit", "MARKET": "market"}

# UNVERIFIED: the spot regex is stated for FIX ClOrdID (REST -1100 shows it too, per third
# parties); futures allow also '.', ':' and '/'. The spot rule is the stricter of the two.
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")

RECV_WINDOW_MS = 5000
# Orders canceled without fills vanish after 90 days; history is never asked further back.
HISTORY_LIMIT_MS = 90 * 86_400_000
HISTORY_SPAN_MS = {"spot": 86_400_000 - 1, "linear": 7 * 86_400_000 - 1}
# UNVERIFIED: USD-M keeps trades for 6 months (spot documents no limit; we read no further)
FILLS_LOOKBACK_MS = 180 * 86_400_000
MY_TRADES_LIMIT = 1000


def sign(secret: str, query_string: str, body: str = "") -> str:
    """Lower-case hex HMAC-SHA256 of the query string followed by the body, no separator."""
    payload = (query_string + body).encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


# -- symbols ----------------------------------------------------------------------------
# Longest first, so "FDUSD" wins over "USD"-like tails and "BTCUSDT" splits as BTC + USDT.
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def exchange_symbol(market: Market) -> str:
    """BTC/USDT and BTC/USDT:USDT are both BTCUSDT (on different hosts)."""
    return joined_symbol(market)


def unified_symbol(name: str, kind: str) -> str:
    """BTCUSDT -> BTC/USDT (spot) or BTC/USDT:USDT (linear)."""
    split = split_by_quote(name, QUOTE_ASSETS)
    if split is None:
        raise errors.InvalidRequest(f"cannot split Binance symbol {name!r}", exchange=NAME)
    return unified(*split, kind)


def _listed_symbol(name: str, kind: str) -> str:
    """For listings: an exotic quote keeps the exchange's name rather than failing the list."""
    try:
        return unified_symbol(name, kind)
    except errors.InvalidRequest:
        return name


# -- request builders -------------------------------------------------------------------
SIDES = {"buy": "BUY", "sell": "SELL"}


def order_params(order: OrderRequest, market: Market) -> list[tuple[str, str]]:
    """POST /api/v3/order or /fapi/v1/order parameters (before timestamp and signature)
    of an order ``Connector.check_order`` passed."""
    params = [("symbol", exchange_symbol(market)), ("side", SIDES[order.side])]
    if order.type == "market":
        params.append(("type", "MARKET"))
    elif order.time_in_force == "POST_ONLY" and market.kind == "spot":
        params.append(("type", "LIMIT_MAKER"))  # spot post-only is its own type
    else:
        tif = "GTX" if order.time_in_force == "POST_ONLY" else order.time_in_force
        params += [("type", "LIMIT"), ("timeInForce", tif)]
    params.append(("quantity", format_decimal(order.quantity)))
    if order.type == "limit" and order.price is not None:
        params.append(("price", format_decimal(order.price)))
    if order.reduce_only:
        params.append(("reduceOnly", "true"))
    # RESULT (not the futures default ACK) so the answer carries status and fills.
    params += [("newClientOrderId", order.client_order_id), ("newOrderRespType", "RESULT")]
    return params


def id_params(
    market: Market, client_order_id: str | None, exchange_order_id: str | None
) -> list[tuple[str, str]]:
    params = [("symbol", exchange_symbol(market))]
    if exchange_order_id:
        params.append(("orderId", str(exchange_order_id)))
    else:
        params.append(("origClientOrderId", str(client_order_id)))
    return params


# spot:  {"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
#         "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
#         "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
#         "isBuyer": true, "isMaker": false, "isBestMatch": true}
# USD-M: {"buyer": false, "commission": "-0.07819010", "commissionAsset": "USDT",
#         "id": 698759, "maker": false, "orderId": 25851813, "price": "7819.01",
#         "qty": "0.002", "quoteQty": "15.63802", "realizedPnl": "-0.91539999",
#         "side": "SELL", "positionSide": "SHORT", "symbol": "BTCUSDT", "time": 1569514978020}
def parse_fill(raw: Mapping[str, Any], kind: str) -> FillUpdate:
    """One trade of ours; no client order id is listed (the order is found by its id). The
    USD-M example prints the commission negative where the stream's ``n`` is positive:
    both are taken as paid (UNVERIFIED: no rebate on USD-M for ordinary accounts)."""
    spot = kind == "spot"
    buyer = raw.get("isBuyer") if spot else raw.get("buyer")
    side = ("buy" if buyer else "sell") if spot else str(raw["side"]).lower()
    maker = raw.get("isMaker") if spot else raw.get("maker")
    commission = decimal_or_zero(raw.get("commission"))
    return FillUpdate(
        exchange=NAME,
        trade_id=str(raw["id"]),
        exchange_order_id=str(raw["orderId"]),
        client_order_id=None,
        symbol=unified_symbol(str(raw["symbol"]), kind),
        side=side,
        price=Decimal(str(raw["price"])),
        quantity=Decimal(str(raw["qty"])),
        fee=commission if spot else abs(commission),
        fee_asset=raw.get("commissionAsset") or None,
        liquidity=None if not isinstance(maker, bool) else ("maker" if maker else "taker"),
        time_ms=int_or_none(raw.get("time")),
    )


def history_windows(since_ms: int, now_ms: int, span_ms: int) -> list[tuple[int, int]]:
    """[start, end] slices no longer than the exchange allows (spot 24 h, futures 7 days)."""
    start = max(since_ms, now_ms - HISTORY_LIMIT_MS)
    windows = []
    while start <= now_ms:
        end = min(start + span_ms, now_ms)
        windows.append((start, end))
        start = end + 1
    return windows


# -- response parsers -------------------------------------------------------------------
def _average_price(raw: Mapping[str, Any], filled: Decimal) -> Decimal | None:
    average = positive_or_none(raw.get("avgPrice"))
    if average is not None or filled <= 0:
        return average
    quote = positive_or_none(raw.get("cummulativeQuoteQty", raw.get("cumQuote")))
    return quote / filled if quote is not None else None


# Spot GET /api/v3/order (POST with newOrderRespType=RESULT has transactTime instead of time;
# DELETE adds origClientOrderId, and its clientOrderId is then the cancel's own id):
# {"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"ec0f...","price":"50000.00",
#  "origQty":"0.01000000","executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000",
#  "status":"NEW","timeInForce":"GTC","type":"LIMIT","side":"BUY","time":1700000000000,
#  "updateTime":1700000000000,"isWorking":true,"workingTime":1700000000000}
# Futures: the same plus "avgPrice":"0.00","cumQuote":"0","reduceOnly":false,
#  "positionSide":"BOTH","origType":"LIMIT" (no cummulativeQuoteQty).
def parse_order(raw: Mapping[str, Any], kind: str) -> ExchangeOrder:
    raw_status = str(raw.get("status", ""))
    filled = decimal_or_zero(raw.get("executedQty"))
    order_type = str(raw.get("type", ""))
    return ExchangeOrder(
        symbol=_listed_symbol(str(raw.get("symbol", "")), kind),
        client_order_id=raw.get("origClientOrderId") or raw.get("clientOrderId") or None,
        exchange_order_id=str(raw["orderId"]),
        status=STATUS_MAP.get(raw_status, "open"),  # unknown values: open until terminal
        side=str(raw.get("side", "")).lower(),
        type=ORDER_TYPES.get(order_type, order_type.lower()),
        quantity=decimal_or_zero(raw.get("origQty")),
        filled_quantity=filled,
        average_price=_average_price(raw, filled),
        price=positive_or_none(raw.get("price")),
        raw_status=raw_status,
        created_at_ms=int_or_none(raw.get("time", raw.get("transactTime"))),
        updated_at_ms=int_or_none(raw.get("updateTime", raw.get("transactTime"))),
    )


# GET /api/v3/account?omitZeroBalances=true:
# {"canTrade":true,"canWithdraw":false,"accountType":"SPOT","permissions":["SPOT"],
#  "balances":[{"asset":"BTC","free":"0.50000000","locked":"0.10000000"}], ...}
def parse_spot_balances(raw: Mapping[str, Any]) -> list[Balance]:
    rows = [
        Balance(asset=row["asset"], free=Decimal(row["free"]), locked=Decimal(row["locked"]))
        for row in raw.get("balances", [])
    ]
    return [row for row in rows if row.total != 0]


# GET /fapi/v3/balance:
# [{"accountAlias":"SgsR","asset":"USDT","balance":"1000.00","crossWalletBalance":"1000.00",
#   "crossUnPnl":"0.00","availableBalance":"900.00","maxWithdrawAmount":"900.00",
#   "marginAvailable":true,"updateTime":1700000000000}]
def parse_futures_balances(raw: Sequence[Mapping[str, Any]]) -> list[Balance]:
    balances = []
    for row in raw:
        wallet = Decimal(row["balance"])
        available = Decimal(row["availableBalance"])
        if wallet == 0 and available == 0:
            continue
        balances.append(
            Balance(
                asset=row["asset"], free=available, locked=max(wallet - available, Decimal("0"))
            )
        )
    return balances


# GET /api/v3/exchangeInfo (futures: /fapi/v1/exchangeInfo adds contractType, marginAsset and
# a MIN_NOTIONAL filter keyed "notional"):
# {"symbols":[{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
#   "filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01","tickSize":"0.01"},
#              {"filterType":"LOT_SIZE","minQty":"0.00001","maxQty":"9000","stepSize":"0.00001"},
#              {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true}]}]}
def parse_instruments(raw: Mapping[str, Any], kind: str) -> list[Instrument]:
    instruments = []
    for row in raw.get("symbols", []):
        if row.get("status") != "TRADING":
            continue
        if kind == "linear" and (
            row.get("contractType") != "PERPETUAL"
            or row.get("marginAsset", row["quoteAsset"]) != row["quoteAsset"]
        ):
            continue
        instruments.append(_instrument(row, kind))
    return instruments


def _instrument(row: Mapping[str, Any], kind: str) -> Instrument:
    filters = {item.get("filterType"): item for item in row.get("filters", [])}
    lot = filters.get("LOT_SIZE", {})
    notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
    base, quote = row["baseAsset"], row["quoteAsset"]
    return Instrument(
        symbol=unified(base, quote, kind),
        exchange_symbol=row["symbol"],
        base=base,
        quote=quote,
        kind=kind,
        tick_size=Decimal(filters.get("PRICE_FILTER", {}).get("tickSize", "0")),
        lot_size=Decimal(lot.get("stepSize", "0")),
        min_quantity=Decimal(lot.get("minQty", "0")),
        min_notional=Decimal(notional.get("minNotional", notional.get("notional", "0"))),
    )


# bookTicker: {"symbol":"BTCUSDT","bidPrice":"59999.99","bidQty":"1.2","askPrice":"60000.00",
#              "askQty":"0.8"}   price: {"symbol":"BTCUSDT","price":"60000.00"}
def parse_ticker(symbol: str, book: Mapping[str, Any], price: Mapping[str, Any]) -> Ticker:
    return Ticker(
        symbol=symbol,
        bid=Decimal(book["bidPrice"]),
        ask=Decimal(book["askPrice"]),
        last=Decimal(price["price"]),
    )


# GET /fapi/v3/positionRisk (only symbols with a position or open orders; one-way rows are
# positionSide BOTH with a signed positionAmt; v3 has no leverage field):
# [{"symbol":"BTCUSDT","positionSide":"BOTH","positionAmt":"-0.010","entryPrice":"60000.0",
#   "breakEvenPrice":"60030.0","markPrice":"60100.00","unRealizedProfit":"-1.00000000",
#   "liquidationPrice":"0","isolatedMargin":"0","marginAsset":"USDT","initialMargin":"60.1",
#   "maintMargin":"2.4","notional":"-601.00","updateTime":1700000000000}]
def parse_positions(raw: Sequence[Mapping[str, Any]]) -> list[Position]:
    positions = []
    for row in raw:
        quantity = Decimal(row["positionAmt"])
        if quantity == 0:
            continue
        positions.append(
            Position(
                symbol=_listed_symbol(row["symbol"], "linear"),
                quantity=quantity,
                entry_price=positive_or_none(row.get("entryPrice")),
                leverage=decimal_or_none(row.get("leverage")),
                unrealized_pnl=decimal_or_none(row.get("unRealizedProfit")),
                mark_price=decimal_or_none(row.get("markPrice")),
            )
        )
    return positions


# GET /sapi/v1/account/apiRestrictions:
# {"ipRestrict":false,"createTime":1623840271000,"enableReading":true,"enableWithdrawals":false,
#  "enableInternalTransfer":false,"permitsUniversalTransfer":false,"enableMargin":false,
#  "enableFutures":true,"enableSpotAndMarginTrading":true,"enableVanillaOptions":false}
PERMISSION_FLAGS = (
    ("enableReading", "read"),
    ("enableWithdrawals", "withdraw"),
    ("enableInternalTransfer", "transfer"),
    ("permitsUniversalTransfer", "transfer"),
    ("enableMargin", "margin"),
    ("enableFutures", "futures"),
)
TRADE_FLAG = {"spot": "enableSpotAndMarginTrading", "perpetual_futures": "enableFutures"}


def parse_api_restrictions(raw: Mapping[str, Any], api_type: str) -> CredentialCheck:
    granted = [name for flag, name in PERMISSION_FLAGS if raw.get(flag)]
    if raw.get(TRADE_FLAG[api_type]):
        granted.append("trade")
    permissions = tuple(dict.fromkeys(granted))
    warnings = []
    if "withdraw" in permissions:
        warnings.append("withdraw_enabled")
    if not raw.get("ipRestrict"):
        warnings.append("no_ip_whitelist")
    if "trade" not in permissions:
        warnings.append("read_only")
    return CredentialCheck(permissions=permissions, warnings=tuple(warnings))


# ipRestrict is the IP binding (the addresses are not listed); tradingAuthorityExpiration-
# Time (epoch ms) is when the spot and margin trading permission of an unbound key lapses.
def parse_key_info(raw: Mapping[str, Any], api_type: str) -> KeyInfo:
    return KeyInfo(
        permissions=frozenset(parse_api_restrictions(raw, api_type).permissions),
        ip_restricted=bool(raw.get("ipRestrict")),
        expires_at=epoch_ms_datetime_or_none(raw.get("tradingAuthorityExpirationTime")),
    )


# Testnets have no /sapi: the account flags of GET /api/v3/account or /fapi/v1/accountConfig
# ({"canTrade":true,"canDeposit":true,"canWithdraw":true,"dualSidePosition":false,...}).
def parse_account_flags(raw: Mapping[str, Any]) -> CredentialCheck:
    permissions = ["read"]
    if raw.get("canTrade"):
        permissions.append("trade")
    if raw.get("canWithdraw"):
        permissions.append("withdraw")
    warnings = []
    if raw.get("canWithdraw"):
        warnings.append("withdraw_enabled")
    if not raw.get("canTrade"):
        warnings.append("read_only")
    return CredentialCheck(permissions=tuple(permissions), warnings=tuple(warnings))


# -- errors -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BinanceErrorTable(errors.ErrorTable):
    """The shared table plus a per-code fallback consulted after the message table:
    -2010 (order rejected) and -2011 (cancel rejected) carry their real reason in ``msg``."""

    after_messages: Mapping[str, type[errors.ExchangeError]] = field(default_factory=dict)

    def classify(
        self, *, code: str | int | None, message: str, http_status: int | None
    ) -> type[errors.ExchangeError]:
        found = super().classify(code=code, message=message, http_status=None)
        if found is not errors.ExchangeError:
            return found
        if code is not None and str(code) in self.after_messages:
            return self.after_messages[str(code)]
        return super().classify(code=None, message="", http_status=http_status)


_QTY_PRICE_CHECKS = {str(code): errors.InvalidOrder for code in range(-4014, -4002)}

ERROR_TABLE = BinanceErrorTable(
    exact={
        "-1002": errors.PermissionDenied,
        "-1003": errors.RateLimited,
        "-1006": errors.ExchangeUnavailable,  # execution status unknown on a write
        "-1007": errors.ExchangeUnavailable,  # backend timeout, status unknown: ditto
        "-1013": errors.InvalidOrder,
        "-1015": errors.RateLimited,
        "-1021": errors.InvalidRequest,  # clock outside recvWindow: resync, not bad keys
        "-1022": errors.AuthenticationError,
        "-1100": errors.InvalidRequest,
        "-1102": errors.InvalidRequest,
        "-1111": errors.InvalidOrder,
        "-1118": errors.InvalidRequest,
        "-1121": errors.InvalidRequest,
        "-2008": errors.AuthenticationError,
        "-2013": errors.OrderNotFound,
        "-2014": errors.AuthenticationError,
        "-2015": errors.AuthenticationError,
        "-2018": errors.InsufficientFunds,
        "-2019": errors.InsufficientFunds,
        "-2021": errors.InvalidOrder,
        "-2022": errors.InvalidOrder,
        "-2026": errors.OrderNotFound,  # archived after 90 days
        "-2028": errors.InsufficientFunds,
        "-2039": errors.InvalidRequest,
        **_QTY_PRICE_CHECKS,
        "-4015": errors.InvalidRequest,
        "-4116": errors.DuplicateOrder,
        "-4120": errors.InvalidOrder,  # conditional types moved to the algo API
        "-5022": errors.InvalidOrder,
    },
    substrings=(
        ("insufficient balance", errors.InsufficientFunds),
        ("duplicate order sent", errors.DuplicateOrder),
        ("unknown order sent", errors.OrderNotFound),
        ("order does not exist", errors.OrderNotFound),
        ("this action is disabled on this account", errors.PermissionDenied),
        ("rest api trading is not enabled", errors.PermissionDenied),
    ),
    after_messages={"-2010": errors.InvalidOrder, "-2011": errors.InvalidOrder},
    http_status={
        400: errors.InvalidRequest,
        401: errors.AuthenticationError,
        403: errors.ExchangeUnavailable,  # WAF block: refused before any processing
        404: errors.InvalidRequest,
        408: errors.ExchangeUnavailable,  # backend timeout: the base's outcome rule
        418: errors.RateLimited,
        429: errors.RateLimited,
    },
    rate_limit_pause={"-1003": 60.0, "-1015": 10.0},
)
# Without Retry-After: a 429 without a known code waits a minute; an IP ban (418) lasts at
# least 2 minutes whatever the code says.
HTTP_PAUSE_SECONDS = {418: 120.0, 429: 60.0}
BAN_STATUS = 418
# On a write these mean the order may exist (docs/orders.md).
STATUS_UNKNOWN_CODES = frozenset({"-1006", "-1007"})
# X-MBX-USED-WEIGHT-1M (IP weight of this pool) and X-MBX-ORDER-COUNT-10S (the account's)
USAGE_HEADER = re.compile(r"^x-mbx-(used-weight|order-count)-(\d+)([smhd])$", re.IGNORECASE)
USAGE_KINDS = {"used-weight": "REQUEST_WEIGHT", "order-count": "ORDERS"}


# USD-M's countdownCancelAll: per symbol, countdownTime in ms, 0 stops it. Binance states no
# range for USD-M; 5 s is the minimum its options endpoint states, 3600 s our own ceiling.
DEAD_MAN_WINDOW_SECONDS = (5, 3600)


class BinanceConnector(Connector):
    deadline_window_ms = RECV_WINDOW_MS
    dead_man_switch = "countdown"
    dead_man_window_seconds = DEAD_MAN_WINDOW_SECONDS
    dead_man_per_symbol = True
    dead_man_api_types = frozenset({"perpetual_futures"})
    name = NAME
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    rate_limits = RATE_LIMITS
    error_table = ERROR_TABLE
    status_unknown_codes = STATUS_UNKNOWN_CODES
    recv_window_ms = RECV_WINDOW_MS
    client_order_id_pattern = CLIENT_ORDER_ID_PATTERN
    fills_lookback_ms = FILLS_LOOKBACK_MS
    fills_per_symbol = True

    # -- plumbing -----------------------------------------------------------------------

    def sign(self, call: Call) -> None:
        timestamp = self.now_ms()
        call.params += [("recvWindow", str(self.recv_window_ms)), ("timestamp", str(timestamp))]
        call.deadline_ms = timestamp + self.recv_window_ms
        call.headers["X-MBX-APIKEY"] = self.credentials.api_key
        secret = self.credentials.api_secret
        if call.method == "POST":
            # A form body (the docs' example 1); the signature covers exactly the bytes sent.
            body = urlencode(call.params)
            call.params = []
            call.body = f"{body}&signature={sign(secret, '', body)}"
            call.headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            call.params.append(("signature", sign(secret, call.query_string)))

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
        call = Call(
            method=method,
            path=path,
            params=list(params),
            signed=signed,
            write=write,
            product=product,
        )
        return self.request(call).payload

    def weight(self, call: Call) -> int:
        """A list without a symbol (every symbol at once) weighs more."""
        endpoint = f"{call.method} {call.path}"
        if endpoint in ALL_SYMBOLS_WEIGHTS and all(key != "symbol" for key, _ in call.params):
            return ALL_SYMBOLS_WEIGHTS[endpoint]
        return super().weight(call)

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        payload = response.payload
        code = payload.get("code") if isinstance(payload, dict) else None
        # Futures answers some successes as {"code": 200, "msg": "success"}.
        failed_in_body = isinstance(code, int) and code < 0
        if response.status < 400 and not failed_in_body:
            return None
        if isinstance(payload, dict) and "code" in payload:
            return code, str(payload.get("msg", ""))
        return None, f"HTTP {response.status}"

    def usage_signals(self, charge: Charge, headers: Mapping[str, str]) -> list[UsageSignal]:
        """``X-MBX-USED-WEIGHT-1M: 1187`` -> ``spot ip weight 1m`` used 1187;
        ``X-MBX-ORDER-COUNT-10S: 3`` -> ``spot account orders 10s`` used 3."""
        signals = []
        for name, value in headers.items():
            match = USAGE_HEADER.match(name)
            if match and str(value).isdigit():
                seconds = int(match.group(2)) * INTERVAL_SECONDS[match.group(3).lower()]
                kind = USAGE_KINDS[match.group(1).lower()]
                signals.append(
                    UsageSignal(window_name(charge.product, kind, seconds), int(value), seconds)
                )
        return signals

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        if retry_after_seconds(response.headers.get("Retry-After")) is not None:
            return super().pause_seconds(response, code)
        by_status = HTTP_PAUSE_SECONDS.get(response.status, 1.0)
        pause = self.error_table.rate_limit_pause.get(str(code), by_status)
        return max(pause, by_status) if response.status == BAN_STATUS else pause

    # -- account ------------------------------------------------------------------------

    def server_time(self) -> int:
        product = self.default_product()
        raw = self._call("GET", PATHS[product].time, product=product, signed=False)
        return int(raw["serverTime"])

    def check_credentials(self) -> CredentialCheck:
        if self.environment != "testnet":
            raw = self._call("GET", API_RESTRICTIONS, product="spot")
            return replace(
                parse_api_restrictions(raw, self.api_type), key=parse_key_info(raw, self.api_type)
            )
        # UNVERIFIED (facts): /sapi is assumed absent on the testnets.
        if self.api_type == "perpetual_futures":
            return parse_account_flags(self._account_config())
        return parse_account_flags(self._spot_account())

    def key_info(self) -> KeyInfo:
        """apiRestrictions on live (and paper); the testnets' account flags say nothing of
        IPs or expiry (unknown)."""
        if self.environment != "testnet":
            return parse_key_info(
                self._call("GET", API_RESTRICTIONS, product="spot"), self.api_type
            )
        return super().key_info()

    def heartbeat_read(self) -> None:
        if self.api_type == "perpetual_futures":
            self._account_config()  # weight 5
        elif self.environment != "testnet":
            self._call("GET", API_RESTRICTIONS, product="spot")  # weight 1
        else:
            self._spot_account()  # weight 20

    def is_hedge_mode(self) -> bool:
        if self.api_type != "perpetual_futures":
            return False
        return bool(self._account_config().get("dualSidePosition"))

    def balances(self) -> list[Balance]:
        if self.api_type == "perpetual_futures":
            return parse_futures_balances(self._call("GET", FUTURES_BALANCE, product="linear"))
        return parse_spot_balances(self._spot_account())

    def _spot_account(self) -> Any:
        return self._call("GET", SPOT_ACCOUNT, [("omitZeroBalances", "true")], product="spot")

    def _account_config(self) -> Any:
        return self._call("GET", FUTURES_ACCOUNT_CONFIG, product="linear")

    # -- market data --------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        kind = self.default_product()
        raw = self._call("GET", PATHS[kind].exchange_info, product=kind, signed=False)
        return parse_instruments(raw, kind)

    def rate_limit_rules(self, product: str) -> list[Any]:
        """``exchangeInfo.rateLimits`` of ``product``, the limits Binance enforces now.
        Spot asks for one symbol: the rules come whole, the symbol list stays short."""
        params = [("symbol", "BTCUSDT")] if product == "spot" else []
        raw = self._call("GET", PATHS[product].exchange_info, params, product=product, signed=False)
        rules = raw.get("rateLimits") if isinstance(raw, Mapping) else None
        return rules if isinstance(rules, list) else []

    def ticker(self, symbol: str) -> Ticker:
        market = self.market(symbol)
        paths, params = PATHS[market.kind], [("symbol", exchange_symbol(market))]
        book = self._call("GET", paths.book_ticker, params, product=market.kind, signed=False)
        price = self._call("GET", paths.price, params, product=market.kind, signed=False)
        return parse_ticker(market.symbol, book, price)

    # -- trading ------------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: int) -> None:
        market = self.market(symbol)
        if market.kind != "linear":
            raise errors.NotSupported("Binance spot has no leverage", exchange=NAME)
        if not 1 <= int(leverage) <= 125:
            raise errors.InvalidRequest(f"leverage {leverage} outside 1..125", exchange=NAME)
        params = [("symbol", exchange_symbol(market)), ("leverage", str(int(leverage)))]
        self._call("POST", FUTURES_LEVERAGE, params, product="linear", write=True)

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        params = order_params(order, market)
        raw = self._call("POST", PATHS[market.kind].order, params, product=market.kind, write=True)
        return parse_order(raw, market.kind)

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        params = id_params(market, client_order_id, exchange_order_id)
        raw = self._call(
            "DELETE", PATHS[market.kind].order, params, product=market.kind, write=True
        )
        return parse_order(raw, market.kind)

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancels every open order (of one symbol); returns how many were open."""
        if symbol is None:
            symbols = sorted({order.symbol for order in self.open_orders()})
            return sum(self.cancel_all(each) for each in symbols)
        market = self.market(symbol)
        params = [("symbol", exchange_symbol(market))]
        if market.kind == "spot":
            try:
                canceled = self._call(
                    "DELETE", PATHS["spot"].cancel_all, params, product="spot", write=True
                )
            except errors.OrderNotFound:  # spot answers -2011 when nothing was open
                return 0
            return len(canceled)
        # Futures answers only {"code":200,"msg":"..."}: count what was open first.
        open_count = len(self.open_orders(symbol))
        if open_count:
            self._call("DELETE", PATHS["linear"].cancel_all, params, product="linear", write=True)
        return open_count

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        params = id_params(market, client_order_id, exchange_order_id)
        raw = self._call("GET", PATHS[market.kind].order, params, product=market.kind)
        return parse_order(raw, market.kind)

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        if symbol is None:
            kind, params = self.default_product(), []
        else:
            market = self.market(symbol)
            kind, params = market.kind, [("symbol", exchange_symbol(market))]
        raw = self._call("GET", PATHS[kind].open_orders, params, product=kind)
        return [parse_order(row, kind) for row in raw]

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        market = self.market(symbol)
        path, base = PATHS[market.kind].all_orders, [("symbol", exchange_symbol(market))]
        if since_ms is None:
            windows: list[list[tuple[str, str]]] = [[]]
        else:
            windows = [
                [("startTime", str(start)), ("endTime", str(end))]
                for start, end in history_windows(
                    since_ms, self.now_ms(), HISTORY_SPAN_MS[market.kind]
                )
            ]
        orders = []
        for window in windows:
            raw = self._call("GET", path, [*base, *window, ("limit", "1000")], product=market.kind)
            orders += [parse_order(row, market.kind) for row in raw]
        return orders

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """Per symbol only: the latest ``limit`` trades, or every window (spot 24 h, USD-M
        7 days) from ``since_ms``."""
        assert market is not None  # fills_per_symbol
        path, base = MY_TRADES[market.kind], [("symbol", exchange_symbol(market))]
        count = [("limit", str(min(max(limit, 1), MY_TRADES_LIMIT)))]
        windows: list[list[tuple[str, str]]] = [[]]
        if since_ms is not None:
            windows = [
                [("startTime", str(start)), ("endTime", str(end))]
                for start, end in history_windows(
                    since_ms, self.now_ms(), HISTORY_SPAN_MS[market.kind]
                )
            ]
        fills = []
        for window in windows:
            raw = self._call("GET", path, [*base, *window, *count], product=market.kind)
            fills += [parse_fill(row, market.kind) for row in raw]
        return fills

    def positions(self, symbol: str | None = None) -> list[Position]:
        if self.api_type != "perpetual_futures":
            return []  # spot holdings are balances, never positions
        params = [("symbol", exchange_symbol(self.market(symbol)))] if symbol else []
        return parse_positions(self._call("GET", FUTURES_POSITIONS, params, product="linear"))

    # -- the dead-man switch ------------------------------------------------------------

    def _arm_dead_man_switch(self, seconds: int, markets: list[Market]) -> DeadManState:
        armed_at = self.now_ms()
        for market in markets:
            self._countdown(market, seconds * 1000)
        return DeadManState(
            armed=True,
            kind="countdown",
            seconds=seconds,
            trigger_at_ms=armed_at + seconds * 1000,
            symbols=tuple(m.symbol for m in markets),
        )

    def _disarm_dead_man_switch(self, markets: list[Market]) -> DeadManState:
        for market in markets:
            self._countdown(market, 0)
        return DeadManState(armed=False, kind="countdown", symbols=tuple(m.symbol for m in markets))

    def _countdown(self, market: Market, countdown_ms: int) -> None:
        """``POST /fapi/v1/countdownCancelAll`` answers ``{"symbol": "BTCUSDT",
        "countdownTime": "100000"}``; sent as a read (the base class says why)."""
        if market.kind != "linear":
            raise errors.NotSupported(
                "Binance's countdown cancel is USD-M only",
                code="dead_man_not_supported",
                exchange=NAME,
            )
        params = [("symbol", exchange_symbol(market)), ("countdownTime", str(countdown_ms))]
        self._call("POST", FUTURES_COUNTDOWN_CANCEL_ALL, params, product="linear")


CONNECTOR = BinanceConnector
