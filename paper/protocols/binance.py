"""Binance on the paper exchange: Spot (``/api/v3``, ``/sapi/v1``) and USD-M futures
(``/fapi/v1|v2|v3``), served under one ``/binance`` prefix.

Written from the facts file (docs/exchanges/binance.md) alone, never from ``exchanges/binance.py``:
the signature check here is independent of the connector's signing. Signed requests carry
``X-MBX-APIKEY``, ``timestamp`` (+ optional ``recvWindow``) and ``signature`` = hex
HMAC-SHA256(secret, query string + body), in the query, the form body or split across both.
Errors are ``{"code": <negative int>, "msg": ...}`` with a 4xx status.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from paper.engine import (
    DuplicateScope,
    PaperAccount,
    PaperError,
    PaperInstrument,
    PaperOrder,
)
from paper.protocol import Protocol
from paper.windows import Window

ZERO = Decimal("0")
KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS = Decimal("5000")
MAX_RECV_WINDOW_MS = Decimal("60000")
AHEAD_TOLERANCE_MS = 1000          # timestamp may be at most 1 s ahead of the server
SPOT_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
FUTURES_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"

NONE, USER_DATA, TRADE = "NONE", "USER_DATA", "TRADE"   # endpoint security types
SPOT, LINEAR = "spot", "linear"

STATUS = {"new": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED",
          "canceled": "CANCELED", "rejected": "REJECTED", "expired": "EXPIRED"}
SPOT_TIME_IN_FORCE = ("GTC", "IOC", "FOK")
FUTURES_TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "POST_ONLY"}
# Conditional futures orders live in the Algo Order API now (facts section 3).
FUTURES_ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                      "TRAILING_STOP_MARKET")
# What each place-order endpoint reads; anything else is refused with -1104 as on Binance.
_COMMON_ORDER_PARAMS = {"symbol", "side", "type", "timeInForce", "quantity", "price",
                        "newClientOrderId", "stopPrice", "newOrderRespType",
                        "selfTradePreventionMode", "recvWindow", "timestamp", "signature"}
ORDER_PARAMS = {
    "spot": _COMMON_ORDER_PARAMS | {"quoteOrderQty", "strategyId", "strategyType",
                                    "trailingDelta", "icebergQty", "pegPriceType",
                                    "pegOffsetValue", "pegOffsetType"},
    "linear": _COMMON_ORDER_PARAMS | {"positionSide", "reduceOnly", "closePosition",
                                      "activationPrice", "callbackRate", "workingType",
                                      "priceProtect", "priceMatch", "goodTillDate"},
}

# (method, path) -> weight, or (weight with symbol, weight without) where a symbol matters.
# Since 2026-04-02 a *successful* spot place/cancel/cancel-all weighs 0 (failed ones 1); the
# weight is fixed before the answer here, so they count 0. Futures placing costs no IP weight.
WEIGHTS: dict[tuple[str, str], int | tuple[int, int]] = {
    ("GET", "/api/v3/ping"): 1, ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20, ("GET", "/api/v3/ticker/bookTicker"): (2, 4),
    ("GET", "/api/v3/ticker/price"): (2, 4), ("GET", "/api/v3/ticker/24hr"): (2, 80),
    ("GET", "/api/v3/account"): 20, ("GET", "/sapi/v1/account/apiRestrictions"): 1,
    ("POST", "/api/v3/order"): 0, ("POST", "/api/v3/order/test"): 1,
    ("DELETE", "/api/v3/order"): 0, ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/openOrders"): (6, 80), ("DELETE", "/api/v3/openOrders"): 0,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/fapi/v1/ping"): 1, ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1, ("GET", "/fapi/v1/ticker/bookTicker"): (2, 5),
    ("GET", "/fapi/v1/ticker/price"): (1, 2), ("GET", "/fapi/v2/ticker/price"): (1, 2),
    ("GET", "/fapi/v1/ticker/24hr"): (1, 40), ("GET", "/fapi/v1/premiumIndex"): (1, 10),
    ("GET", "/fapi/v1/accountConfig"): 5, ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5, ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v3/balance"): 5, ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5, ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("POST", "/fapi/v1/positionSide/dual"): 1, ("POST", "/fapi/v1/leverage"): 1,
    ("POST", "/fapi/v1/order"): 0, ("DELETE", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/order"): 1, ("GET", "/fapi/v1/openOrders"): (1, 40),
    ("DELETE", "/fapi/v1/allOpenOrders"): 1, ("GET", "/fapi/v1/allOrders"): 5,
}
_REAL_PATH = re.compile(r"(/(?:api|sapi|fapi)/.*)$")


# -- signing (from the facts, independent of the connector) ---------------------------------

def signature_for(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def split_signature(raw: str) -> tuple[str, str | None]:
    """(the raw text without its ``signature=`` parameter, that signature)."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), signature


def signed_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """What Binance signs: the query string then the body, no separator (facts S3)."""
    query, query_signature = split_signature(raw_query)
    body, body_signature = split_signature(raw_body)
    return query + body, query_signature or body_signature


# -- errors ----------------------------------------------------------------------------------

class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str, *, auth: bool = False) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg, self.auth = status, code, msg, auth


def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was "
                                    "empty/null, or malformed.")


def not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
UNKNOWN_ORDER = (400, -2011, "Unknown order sent.")
NO_SUCH_ORDER = (400, -2013, "Order does not exist.")
BAD_SYMBOL = (400, -1121, "Invalid symbol.")

# PaperError kind -> (status, code, msg) per product; quantity problems are told apart in
# _quantity_error, and not-found depends on whether it was a query or a cancel.
REFUSALS: dict[str, dict[str, tuple[int, int, str]]] = {
    SPOT: {
        "insufficient_funds": (400, -2010, "Account has insufficient balance for requested "
                                           "action."),
        "duplicate_client_order_id": (400, -2010, "Duplicate order sent."),
        "invalid_price": (400, -1013, "Filter failure: PRICE_FILTER"),
        "post_only_would_take": (400, -2010, "Order would immediately match and take."),
        "reduce_only_rejected": (400, -1106, "Parameter 'reduceOnly' sent when not required."),
    },
    LINEAR: {
        "insufficient_funds": (400, -2019, "Margin is insufficient."),
        "duplicate_client_order_id": (400, -4116, "ClientOrderId is duplicated."),
        "invalid_price": (400, -4014, "Price not increased by tick size."),
        "post_only_would_take": (400, -5022, "Due to the order could not be executed as "
                                             "maker, the Post Only order will be rejected. The "
                                             "order will not be recorded in the order history"),
        "reduce_only_rejected": (400, -2022, "ReduceOnly Order is rejected."),
    },
}
COMMON_REFUSALS = {"unknown_symbol": BAD_SYMBOL, "permission_denied": BAD_KEY,
                   "order_not_found": UNKNOWN_ORDER, "order_not_cancelable": UNKNOWN_ORDER}


def refusal(product: str, error: PaperError) -> BinanceError:
    status, code, msg = REFUSALS[product].get(error.kind) or COMMON_REFUSALS.get(
        error.kind, (400, -1013, error.message))
    return BinanceError(status, code, msg)


def _quantity_error(product: str, instrument: PaperInstrument, quantity: Decimal | None,
                    price: Decimal | None) -> BinanceError:
    """Which filter an invalid quantity broke, in each product's own words."""
    if quantity is not None and quantity > 0 and quantity % instrument.lot_size == 0 \
            and quantity >= instrument.min_quantity:
        if product == SPOT:
            return BinanceError(400, -1013, "Filter failure: NOTIONAL")
        return BinanceError(400, -4164, f"Order's notional must be no smaller than "
                                        f"{instrument.min_notional} (unless you choose reduce "
                                        "only).")
    if product == SPOT:
        return BinanceError(400, -1013, "Filter failure: LOT_SIZE")
    if quantity is None or quantity <= 0:
        return BinanceError(400, -4003, "Quantity less than or equal to zero.")
    if quantity % instrument.lot_size != 0:
        return BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
    return BinanceError(400, -4004, "Quantity less than min quantity.")


# -- wire formats ----------------------------------------------------------------------------

def spot_number(value: Decimal | None) -> str:
    """Spot prints every amount with 8 decimals ("0.01000000")."""
    return f"{(value or ZERO):.8f}"


def futures_number(value: Decimal | None) -> str:
    text = format((value or ZERO).normalize(), "f")
    return "0" if text in ("-0", "") else text


def exchange_symbol(instrument: PaperInstrument) -> str:
    return f"{instrument.base}{instrument.quote}"


def _precision(step: Decimal) -> int:
    return max(-step.normalize().as_tuple().exponent, 0)  # type: ignore[operator]


def _quote_filled(order: PaperOrder) -> Decimal:
    return (order.average_price or ZERO) * order.filled_quantity


def spot_type(order: PaperOrder) -> str:
    if order.time_in_force == "POST_ONLY":
        return "LIMIT_MAKER"
    return order.type.upper()


def spot_order(order: PaperOrder, symbol: str) -> dict[str, Any]:
    """GET /api/v3/order: {"symbol":"BTCUSDT","orderId":28,"orderListId":-1,
    "clientOrderId":"..","price":"50000.00000000","origQty":"0.01000000",
    "executedQty":"0.00000000","cummulativeQuoteQty":"0.00000000","status":"NEW",
    "timeInForce":"GTC","type":"LIMIT","side":"BUY","time":..,"updateTime":..,..}"""
    return {
        "symbol": symbol, "orderId": int(order.order_id), "orderListId": -1,
        "clientOrderId": order.client_order_id or "", "price": spot_number(order.price),
        "origQty": spot_number(order.quantity), "executedQty": spot_number(order.filled_quantity),
        "cummulativeQuoteQty": spot_number(_quote_filled(order)), "status": STATUS[order.status],
        "timeInForce": order.time_in_force if order.time_in_force in SPOT_TIME_IN_FORCE
        else "GTC",
        "type": spot_type(order), "side": order.side.upper(), "stopPrice": spot_number(ZERO),
        "icebergQty": spot_number(ZERO), "time": order.created_ms,
        "updateTime": order.updated_ms, "isWorking": True, "workingTime": order.created_ms,
        "origQuoteOrderQty": spot_number(ZERO), "selfTradePreventionMode": "NONE",
    }


def spot_placed(order: PaperOrder, symbol: str, response_type: str) -> dict[str, Any]:
    """POST /api/v3/order in the ACK, RESULT or FULL shape."""
    ack = {"symbol": symbol, "orderId": int(order.order_id), "orderListId": -1,
           "clientOrderId": order.client_order_id or "", "transactTime": order.created_ms}
    if response_type == "ACK":
        return ack
    full = spot_order(order, symbol)
    result = {**ack, **{key: full[key] for key in (
        "price", "origQty", "executedQty", "origQuoteOrderQty", "cummulativeQuoteQty",
        "status", "timeInForce", "type", "side", "workingTime", "selfTradePreventionMode")}}
    if response_type == "FULL":
        result["fills"] = [] if not order.filled_quantity else [{
            "price": spot_number(order.average_price), "qty": spot_number(order.filled_quantity),
            "commission": spot_number(ZERO), "commissionAsset": "USDT",
            "tradeId": int(order.order_id)}]
    return result


def spot_canceled(order: PaperOrder, symbol: str, cancel_id: str, now_ms: int
                  ) -> dict[str, Any]:
    full = spot_order(order, symbol)
    return {"symbol": symbol, "origClientOrderId": full["clientOrderId"],
            "orderId": full["orderId"], "orderListId": -1, "clientOrderId": cancel_id,
            "transactTime": now_ms, **{key: full[key] for key in (
                "price", "origQty", "executedQty", "cummulativeQuoteQty", "status",
                "timeInForce", "type", "side", "selfTradePreventionMode")}}


def futures_order(order: PaperOrder, symbol: str, position_side: str = "BOTH",
                  as_accepted: bool = False) -> dict[str, Any]:
    """{"orderId":..,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"..","price":"50000",
    "avgPrice":"0","origQty":"0.01","executedQty":"0","cumQty":"0","cumQuote":"0",
    "timeInForce":"GTC","type":"LIMIT","reduceOnly":false,"side":"BUY","positionSide":"BOTH",
    ...,"time":..,"updateTime":..}. ``as_accepted``: the ACK snapshot (NEW, nothing filled)."""
    filled = ZERO if as_accepted else order.filled_quantity
    order_type = order.type.upper()
    return {
        "orderId": int(order.order_id), "symbol": symbol,
        "status": "NEW" if as_accepted else STATUS[order.status],
        "clientOrderId": order.client_order_id or "", "price": futures_number(order.price),
        "avgPrice": futures_number(None if as_accepted else order.average_price),
        "origQty": futures_number(order.quantity), "executedQty": futures_number(filled),
        "cumQty": futures_number(filled),
        "cumQuote": futures_number(ZERO if as_accepted else _quote_filled(order)),
        "timeInForce": "GTX" if order.time_in_force == "POST_ONLY" else order.time_in_force,
        "type": order_type, "reduceOnly": order.reduce_only, "closePosition": False,
        "side": order.side.upper(), "positionSide": position_side, "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": order_type,
        "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
        "time": order.created_ms, "updateTime": order.updated_ms,
    }


def spot_symbol_info(instrument: PaperInstrument) -> dict[str, Any]:
    return {
        "symbol": exchange_symbol(instrument), "status": "TRADING",
        "baseAsset": instrument.base, "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False,
        "ocoAllowed": False, "quoteOrderQtyMarketAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False, "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": spot_number(instrument.tick_size),
             "maxPrice": spot_number(Decimal("10000000")),
             "tickSize": spot_number(instrument.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": spot_number(instrument.min_quantity),
             "maxQty": spot_number(Decimal("9000000")),
             "stepSize": spot_number(instrument.lot_size)},
            {"filterType": "NOTIONAL", "minNotional": spot_number(instrument.min_notional),
             "applyMinToMarket": True, "maxNotional": spot_number(Decimal("9000000")),
             "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
    }


def futures_symbol_info(instrument: PaperInstrument) -> dict[str, Any]:
    return {
        "symbol": exchange_symbol(instrument), "pair": exchange_symbol(instrument),
        "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "baseAsset": instrument.base,
        "quoteAsset": instrument.quote, "marginAsset": instrument.quote,
        "pricePrecision": _precision(instrument.tick_size),
        "quantityPrecision": _precision(instrument.lot_size), "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "settlePlan": 0,
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": futures_number(instrument.tick_size),
             "maxPrice": "10000000", "tickSize": futures_number(instrument.tick_size)},
            {"filterType": "LOT_SIZE", "stepSize": futures_number(instrument.lot_size),
             "maxQty": "1000000", "minQty": futures_number(instrument.min_quantity)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": futures_number(instrument.lot_size),
             "maxQty": "1000000", "minQty": futures_number(instrument.min_quantity)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": futures_number(instrument.min_notional)},
        ],
    }


# -- request parsing -------------------------------------------------------------------------

@dataclass
class Ctx:
    request: web.Request
    product: str
    params: dict[str, str]
    account: PaperAccount | None


def text_param(params: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise mandatory(name)
        return None
    return value


def decimal_param(params: Mapping[str, str], name: str, *, required: bool = False
                  ) -> Decimal | None:
    value = text_param(params, name, required=required)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", value) or not number.is_finite():
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                       "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    return number


def int_param(params: Mapping[str, str], name: str) -> int | None:
    value = text_param(params, name)
    if value is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", value):
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'; legal "
                                       "range is '^-?[0-9]{1,20}$'.")
    return int(value)


# the docs' values, served when no table is enforced (an adapter run on its own)
DEFAULT_RATE_LIMITS = {
    SPOT: [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": 6000},
           {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
           {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
           {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
            "limit": 300000}],
    LINEAR: [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
              "limit": 2400},
             {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}],
}
RULE_TYPES = {("ip", "weight"): "REQUEST_WEIGHT", ("ip", "requests"): "RAW_REQUESTS",
              ("account", "orders"): "ORDERS"}
INTERVALS = (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60), ("SECOND", 1))


def rate_limit_type(window: Window) -> str | None:
    return RULE_TYPES.get((window.scope, window.counts))


def rate_limit_rule(window: Window) -> dict[str, Any]:
    seconds = int(window.seconds)
    interval, size = next((name, size) for name, size in INTERVALS if seconds % size == 0)
    return {"rateLimitType": rate_limit_type(window), "interval": interval,
            "intervalNum": seconds // size, "limit": window.limit}


class UsedWeight:
    """Weight served in the last minute, reported back in X-MBX-USED-WEIGHT-1M."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, weight: int) -> int:
        now = self._clock()
        while self._events and self._events[0][0] <= now - 60:
            self._total -= self._events.popleft()[1]
        self._events.append((now, weight))
        self._total += weight
        return self._total


# -- the adapter -----------------------------------------------------------------------------

Handler = Callable[[Ctx], Any]


class BinanceProtocol(Protocol):
    exchange: ClassVar[str] = "binance"
    key_header: ClassVar[str] = KEY_HEADER
    # A client order id is refused only while an order with it is open (spot and futures).
    duplicate_scope: ClassVar[DuplicateScope] = "open"
    write_routes: ClassVar[frozenset[str]] = frozenset({
        "POST /api/v3/order", "DELETE /api/v3/order", "DELETE /api/v3/openOrders",
        "POST /fapi/v1/order", "DELETE /fapi/v1/order", "DELETE /fapi/v1/allOpenOrders",
    })

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        # per product and client address: Binance counts IP weight per IP
        self._used: dict[tuple[str, str], UsedWeight] = {}
        self._position_sides: dict[str, str] = {}   # futures order id -> positionSide sent

    # -- routing ------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        spot: list[tuple[str, str, Handler, str]] = [
            ("GET", "/api/v3/ping", self.ping, NONE),
            ("GET", "/api/v3/time", self.time, NONE),
            ("GET", "/api/v3/exchangeInfo", self.exchange_info, NONE),
            ("GET", "/api/v3/ticker/bookTicker", self.book_ticker, NONE),
            ("GET", "/api/v3/ticker/price", self.price_ticker, NONE),
            ("GET", "/api/v3/ticker/24hr", self.day_ticker, NONE),
            ("GET", "/api/v3/account", self.spot_account, USER_DATA),
            ("GET", "/sapi/v1/account/apiRestrictions", self.api_restrictions, USER_DATA),
            ("POST", "/api/v3/order", self.place, TRADE),
            ("POST", "/api/v3/order/test", self.test_order, TRADE),
            ("DELETE", "/api/v3/order", self.cancel, TRADE),
            ("GET", "/api/v3/order", self.query, USER_DATA),
            ("GET", "/api/v3/openOrders", self.open_orders, USER_DATA),
            ("DELETE", "/api/v3/openOrders", self.cancel_all, TRADE),
            ("GET", "/api/v3/allOrders", self.all_orders, USER_DATA),
        ]
        futures: list[tuple[str, str, Handler, str]] = [
            ("GET", "/fapi/v1/ping", self.ping, NONE),
            ("GET", "/fapi/v1/time", self.time, NONE),
            ("GET", "/fapi/v1/exchangeInfo", self.exchange_info, NONE),
            ("GET", "/fapi/v1/ticker/bookTicker", self.book_ticker, NONE),
            ("GET", "/fapi/v1/ticker/price", self.price_ticker, NONE),
            ("GET", "/fapi/v2/ticker/price", self.price_ticker, NONE),
            ("GET", "/fapi/v1/ticker/24hr", self.day_ticker, NONE),
            ("GET", "/fapi/v1/premiumIndex", self.premium_index, NONE),
            ("GET", "/fapi/v1/accountConfig", self.account_config, USER_DATA),
            ("GET", "/fapi/v1/positionSide/dual", self.position_mode, USER_DATA),
            ("POST", "/fapi/v1/positionSide/dual", self.change_position_mode, TRADE),
            ("GET", "/fapi/v2/account", self.futures_account, USER_DATA),
            ("GET", "/fapi/v3/account", self.futures_account, USER_DATA),
            ("GET", "/fapi/v2/balance", self.futures_balance, USER_DATA),
            ("GET", "/fapi/v3/balance", self.futures_balance, USER_DATA),
            ("GET", "/fapi/v2/positionRisk", self.position_risk_v2, USER_DATA),
            ("GET", "/fapi/v3/positionRisk", self.position_risk_v3, USER_DATA),
            ("POST", "/fapi/v1/leverage", self.leverage, TRADE),
            ("POST", "/fapi/v1/order", self.place, TRADE),
            ("DELETE", "/fapi/v1/order", self.cancel, TRADE),
            ("GET", "/fapi/v1/order", self.query, USER_DATA),
            ("GET", "/fapi/v1/openOrders", self.open_orders, USER_DATA),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all, TRADE),
            ("GET", "/fapi/v1/allOrders", self.all_orders, USER_DATA),
        ]
        return [web.route(method, path, self._endpoint(handler, security, product))
                for product, table in ((SPOT, spot), (LINEAR, futures))
                for method, path, handler, security in table]

    def _endpoint(self, handler: Handler, security: str,
                  product: str) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            counter = self._used.setdefault((product, request.remote or ""), UsedWeight())
            used = counter.add(self.request_weight(request))
            try:
                body = await request.text()
                params = dict(parse_qsl(request.rel_url.raw_query_string,
                                        keep_blank_values=True))
                params.update(parse_qsl(body, keep_blank_values=True))
                account = None
                if security != NONE:
                    account = self._authenticate(request, params, body, security)
                status, payload = 200, handler(Ctx(request, product, params, account))
            except BinanceError as exc:
                if exc.auth:
                    request["signature_failed"] = True
                status, payload = exc.status, {"code": exc.code, "msg": exc.msg}
            return web.json_response(payload, status=status,
                                     headers={USED_WEIGHT_HEADER: str(used)})
        return serve

    async def request_product(self, request: web.Request, path: str) -> str:
        return LINEAR if path.startswith("/fapi/") else SPOT

    def request_weight(self, request: web.Request) -> int:
        match = _REAL_PATH.search(request.path)
        weight = WEIGHTS.get((request.method, match.group(1) if match else request.path), 1)
        if isinstance(weight, tuple):
            with_symbol = "symbol" in request.query or "symbols" in request.query
            return weight[0] if with_symbol else weight[1]
        return weight

    def rate_limited(self, retry_after: float) -> web.Response:
        seconds = max(math.ceil(retry_after), 1)
        return web.json_response(
            {"code": -1003, "msg": "Too much request weight used; current limit is 6000 "
                                   "request weight per 1 MINUTE. Please use WebSocket Streams "
                                   "for live updates to avoid polling the API."},
            status=429, headers={"Retry-After": str(seconds)})

    def server_error(self) -> web.Response:
        # 5xx: "the execution status is UNKNOWN and could have been a success".
        return web.json_response({"code": -1001, "msg": "Internal error; unable to process "
                                                        "your request. Please try again."},
                                 status=503)

    # -- authentication -----------------------------------------------------------------

    def _authenticate(self, request: web.Request, params: Mapping[str, str], body: str,
                      security: str) -> PaperAccount:
        key = request.headers.get(KEY_HEADER, "")
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.", auth=True)
        timestamp = self._timestamp(params)
        account = self.engine.account(self.exchange, key)
        if account is None:
            raise BinanceError(*BAD_KEY, auth=True)
        self._check_window(timestamp, params)
        payload, signature = signed_payload(request.rel_url.raw_query_string, body)
        if not signature:
            raise BinanceError(400, -1102, "Mandatory parameter 'signature' was not sent, was "
                                           "empty/null, or malformed.", auth=True)
        if not hmac.compare_digest(signature.lower(),
                                   signature_for(account.api_secret, payload)):
            raise BinanceError(400, -1022, "Signature for this request is not valid.",
                               auth=True)
        if security == TRADE and "trade" not in account.permissions:
            raise BinanceError(*BAD_KEY, auth=True)
        return account

    @staticmethod
    def _timestamp(params: Mapping[str, str]) -> int:
        raw = params.get("timestamp", "")
        if not raw.isdigit():
            raise BinanceError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was "
                                           "empty/null, or malformed.", auth=True)
        stamp = int(raw)
        return stamp // 1000 if stamp >= 10**15 else stamp   # spot also takes microseconds

    def _check_window(self, timestamp: int, params: Mapping[str, str]) -> None:
        try:
            window = Decimal(params.get("recvWindow") or DEFAULT_RECV_WINDOW_MS)
        except InvalidOperation:
            window = Decimal("-1")
        if not window.is_finite() or window <= 0 or window > MAX_RECV_WINDOW_MS:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000", auth=True)
        server_ms = self.engine.now_ms()
        if timestamp >= server_ms + AHEAD_TOLERANCE_MS:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of "
                                           "the server's time.", auth=True)
        if server_ms - timestamp > window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the "
                                           "recvWindow.", auth=True)

    # -- symbols ------------------------------------------------------------------------

    def _instruments(self, product: str) -> dict[str, PaperInstrument]:
        return {exchange_symbol(item): item for item in self.engine.instruments(self.exchange)
                if item.kind == product}

    def _instrument(self, ctx: Ctx, *, required: bool = True) -> PaperInstrument | None:
        name = text_param(ctx.params, "symbol", required=required)
        if name is None:
            return None
        found = self._instruments(ctx.product).get(name)
        if found is None:
            raise BinanceError(*BAD_SYMBOL)
        return found

    def _selected(self, ctx: Ctx) -> list[PaperInstrument]:
        """``symbol`` or ``symbols`` (a JSON array) or everything."""
        if "symbols" in ctx.params:
            try:
                names = json.loads(ctx.params["symbols"])
            except ValueError:
                names = None
            if not isinstance(names, list) or not names:
                raise BinanceError(400, -1100, "Illegal characters found in parameter "
                                               "'symbols'.")
            table = self._instruments(ctx.product)
            if any(name not in table for name in names):
                raise BinanceError(*BAD_SYMBOL)
            return [table[name] for name in names]
        one = self._instrument(ctx, required=False)
        return [one] if one else list(self._instruments(ctx.product).values())

    def _one_or_list(self, ctx: Ctx, rows: list[dict[str, Any]]) -> Any:
        single = "symbol" in ctx.params and "symbols" not in ctx.params
        return rows[0] if single else rows

    # -- market data --------------------------------------------------------------------

    def ping(self, ctx: Ctx) -> dict[str, Any]:
        return {}

    def time(self, ctx: Ctx) -> dict[str, Any]:
        return {"serverTime": self.engine.now_ms()}

    def exchange_info(self, ctx: Ctx) -> dict[str, Any]:
        now = self.engine.now_ms()
        if ctx.product == SPOT:
            return {"timezone": "UTC", "serverTime": now, "exchangeFilters": [],
                    "rateLimits": self._rate_limits(SPOT),
                    "symbols": [spot_symbol_info(item) for item in self._selected(ctx)]}
        return {"timezone": "UTC", "serverTime": now, "futuresType": "U_MARGINED",
                "exchangeFilters": [],
                "rateLimits": self._rate_limits(LINEAR),
                "assets": [{"asset": "USDT", "marginAvailable": True}],
                "symbols": [futures_symbol_info(item)
                            for item in self._instruments(LINEAR).values()]}

    def _rate_limits(self, product: str) -> list[dict[str, Any]]:
        """The rules the gate enforces for ``product``, as exchangeInfo lists them, e.g.
        ``{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50}``."""
        if self.budget is None:
            return DEFAULT_RATE_LIMITS[product]
        return [rate_limit_rule(window) for window in self.budget.windows.values()
                if window.product in (None, product) and rate_limit_type(window)]

    def _price(self, instrument: PaperInstrument, ctx: Ctx) -> str:
        price = self.engine.price(self.exchange, instrument.symbol)
        return spot_number(price) if ctx.product == SPOT else futures_number(price)

    def book_ticker(self, ctx: Ctx) -> Any:
        rows = []
        for item in self._selected(ctx):
            price = self._price(item, ctx)  # no spread on the paper exchange
            row = {"symbol": exchange_symbol(item), "bidPrice": price, "bidQty": "1000",
                   "askPrice": price, "askQty": "1000"}
            if ctx.product == LINEAR:
                row["time"] = self.engine.now_ms()
            rows.append(row)
        return self._one_or_list(ctx, rows)

    def price_ticker(self, ctx: Ctx) -> Any:
        rows = [{"symbol": exchange_symbol(item), "price": self._price(item, ctx)}
                | ({"time": self.engine.now_ms()} if ctx.product == LINEAR else {})
                for item in self._selected(ctx)]
        return self._one_or_list(ctx, rows)

    def day_ticker(self, ctx: Ctx) -> Any:
        now = self.engine.now_ms()
        rows = []
        for item in self._selected(ctx):
            price = self._price(item, ctx)
            rows.append({"symbol": exchange_symbol(item), "priceChange": "0",
                         "priceChangePercent": "0", "weightedAvgPrice": price,
                         "lastPrice": price, "lastQty": "0", "bidPrice": price,
                         "askPrice": price, "openPrice": price, "highPrice": price,
                         "lowPrice": price, "volume": "0", "quoteVolume": "0",
                         "openTime": now - 86_400_000, "closeTime": now, "firstId": -1,
                         "lastId": -1, "count": 0})
        return self._one_or_list(ctx, rows)

    def premium_index(self, ctx: Ctx) -> Any:
        now = self.engine.now_ms()
        rows = [{"symbol": exchange_symbol(item), "markPrice": self._price(item, ctx),
                 "indexPrice": self._price(item, ctx), "estimatedSettlePrice":
                 self._price(item, ctx), "lastFundingRate": "0", "interestRate": "0",
                 "nextFundingTime": now - now % 28_800_000 + 28_800_000, "time": now}
                for item in self._selected(ctx)]
        return self._one_or_list(ctx, rows)

    # -- accounts -----------------------------------------------------------------------

    def _balances(self, account: PaperAccount) -> dict[str, tuple[Decimal, Decimal]]:
        return self.engine.balances(self.exchange, account)

    def spot_account(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        omit_zero = ctx.params.get("omitZeroBalances") == "true"
        balances = [{"asset": asset, "free": spot_number(free), "locked": spot_number(locked)}
                    for asset, (free, locked) in sorted(self._balances(account).items())
                    if not (omit_zero and free == 0 and locked == 0)]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000",
                                    "buyer": "0.00000000", "seller": "0.00000000"},
                "canTrade": "trade" in account.permissions,
                "canWithdraw": "withdraw" in account.permissions, "canDeposit": True,
                "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": self.engine.now_ms(), "accountType": "SPOT",
                "balances": balances, "permissions": ["SPOT"], "uid": _uid(account)}

    def api_restrictions(self, ctx: Ctx) -> dict[str, Any]:
        granted = set(ctx.account.permissions) if ctx.account else set()
        return {"ipRestrict": False, "createTime": 1_700_000_000_000,
                "enableReading": "read" in granted,
                "enableSpotAndMarginTrading": "trade" in granted,
                "enableWithdrawals": "withdraw" in granted,
                "enableInternalTransfer": "transfer" in granted,
                "permitsUniversalTransfer": "transfer" in granted,
                "enableMargin": "margin" in granted,
                "enableFutures": "futures" in granted or "trade" in granted,
                "enableVanillaOptions": False, "enableFixApiTrade": False,
                "enableFixReadOnly": False, "enablePortfolioMarginTrading": False}

    def account_config(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        return {"feeTier": 0, "canTrade": "trade" in account.permissions, "canDeposit": True,
                "canWithdraw": "withdraw" in account.permissions,
                "dualSidePosition": account.hedge_mode, "updateTime": 0,
                "multiAssetsMargin": False, "tradeGroupId": -1}

    def position_mode(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.account is not None
        return {"dualSidePosition": ctx.account.hedge_mode}

    def change_position_mode(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        wanted = text_param(ctx.params, "dualSidePosition", required=True)
        if wanted not in ("true", "false"):
            raise BinanceError(400, -1130, "Data sent for parameter 'dualSidePosition' is not "
                                           "valid.")
        if (wanted == "true") == account.hedge_mode:
            raise BinanceError(400, -4059, "No need to change position side.")
        if self._open_positions(account):
            raise BinanceError(400, -4068, "Position side cannot be changed if there exists "
                                           "position.")
        if self._linear_open_orders(account):
            raise BinanceError(400, -4067, "Position side cannot be changed if there exists "
                                           "open orders.")
        self.engine.set_hedge_mode(account, wanted == "true")
        return {"code": 200, "msg": "success"}

    def _open_positions(self, account: PaperAccount) -> list[Any]:
        return [held for held in self.engine.positions(self.exchange, account)
                if held.quantity != 0]

    def _linear_open_orders(self, account: PaperAccount) -> list[PaperOrder]:
        linear = {item.symbol for item in self._instruments(LINEAR).values()}
        return [order for order in self.engine.open_orders(self.exchange, account)
                if order.symbol in linear]

    def _upl(self, account: PaperAccount) -> Decimal:
        return sum((held.unrealized_pnl for held in self._open_positions(account)), ZERO)

    def futures_balance(self, ctx: Ctx) -> list[dict[str, Any]]:
        account = ctx.account
        assert account is not None
        upl = self._upl(account)
        return [{"accountAlias": "SgsR", "asset": asset,
                 "balance": futures_number(free + locked),
                 "crossWalletBalance": futures_number(free + locked),
                 "crossUnPnl": futures_number(upl if asset == "USDT" else ZERO),
                 "availableBalance": futures_number(free),
                 "maxWithdrawAmount": futures_number(free), "marginAvailable": True,
                 "updateTime": self.engine.now_ms()}
                for asset, (free, locked) in sorted(self._balances(account).items())]

    def futures_account(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        free, locked = self._balances(account).get("USDT", (ZERO, ZERO))
        upl, wallet = self._upl(account), free + locked
        totals = {"totalInitialMargin": locked, "totalMaintMargin": ZERO,
                  "totalWalletBalance": wallet, "totalUnrealizedProfit": upl,
                  "totalMarginBalance": wallet + upl, "totalPositionInitialMargin": locked,
                  "totalOpenOrderInitialMargin": ZERO, "totalCrossWalletBalance": wallet,
                  "totalCrossUnPnl": upl, "availableBalance": free, "maxWithdrawAmount": free}
        assets = [{"asset": asset, "walletBalance": futures_number(f + lk),
                   "unrealizedProfit": futures_number(upl if asset == "USDT" else ZERO),
                   "marginBalance": futures_number(f + lk + (upl if asset == "USDT" else 0)),
                   "maintMargin": "0", "initialMargin": futures_number(lk),
                   "positionInitialMargin": futures_number(lk), "openOrderInitialMargin": "0",
                   "crossWalletBalance": futures_number(f + lk),
                   "crossUnPnl": futures_number(upl if asset == "USDT" else ZERO),
                   "availableBalance": futures_number(f), "maxWithdrawAmount": futures_number(f),
                   "marginAvailable": True, "updateTime": self.engine.now_ms()}
                  for asset, (f, lk) in sorted(self._balances(account).items())]
        return {"feeTier": 0, "canTrade": "trade" in account.permissions, "canDeposit": True,
                "canWithdraw": "withdraw" in account.permissions, "multiAssetsMargin": False,
                "tradeGroupId": -1, "updateTime": 0,
                **{key: futures_number(value) for key, value in totals.items()},
                "assets": assets, "positions": self._position_rows(ctx, every_symbol=False)}

    def position_risk_v2(self, ctx: Ctx) -> list[dict[str, Any]]:
        return self._position_rows(ctx, every_symbol=True)

    def position_risk_v3(self, ctx: Ctx) -> list[dict[str, Any]]:
        rows = self._position_rows(ctx, every_symbol=False)
        for row in rows:
            row.pop("leverage", None)  # v3 no longer reports leverage
        return rows

    def _position_rows(self, ctx: Ctx, *, every_symbol: bool) -> list[dict[str, Any]]:
        """v2 lists every symbol (flat ones with zeros); v3 only those with a position or
        open orders: {"symbol":"BTCUSDT","positionSide":"BOTH","positionAmt":"0.01",
        "entryPrice":"60000","markPrice":"60000","unRealizedProfit":"0",..}"""
        account = ctx.account
        assert account is not None
        wanted = self._instrument(ctx, required=False)
        held = {p.symbol: p for p in self.engine.positions(self.exchange, account)}
        with_orders = {order.symbol for order in self._linear_open_orders(account)}
        rows = []
        for item in self._instruments(LINEAR).values():
            position = held.get(item.symbol)
            if wanted is not None and item.symbol != wanted.symbol:
                continue
            if not every_symbol and position is None and item.symbol not in with_orders:
                continue
            rows.append(self._position_row(account, item, position))
        return rows

    def _position_row(self, account: PaperAccount, item: PaperInstrument,
                      position: Any) -> dict[str, Any]:
        mark = self.engine.price(self.exchange, item.symbol)
        amount = position.quantity if position else ZERO
        entry = position.entry_price if position else ZERO
        return {"symbol": exchange_symbol(item), "positionSide": "BOTH",
                "positionAmt": futures_number(amount), "entryPrice": futures_number(entry),
                "breakEvenPrice": futures_number(entry), "markPrice": futures_number(mark),
                "unRealizedProfit": futures_number(position.unrealized_pnl if position
                                                   else ZERO),
                "liquidationPrice": "0", "leverage": str(self.engine.leverage(account,
                                                                               item.symbol)),
                "marginType": "cross", "isolatedMargin": "0", "isAutoAddMargin": "false",
                "notional": futures_number(amount * mark), "marginAsset": item.quote,
                "isolatedWallet": "0", "initialMargin": "0", "maintMargin": "0",
                "updateTime": self.engine.now_ms()}

    def leverage(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.account is not None
        instrument = self._instrument(ctx)
        assert instrument is not None
        value = int_param(ctx.params, "leverage")
        if value is None:
            raise mandatory("leverage")
        try:
            self.engine.set_leverage(self.exchange, ctx.account, instrument.symbol, value)
        except ValueError:
            raise BinanceError(400, -4028, f"Leverage {value} is not valid") from None
        return {"leverage": value, "maxNotionalValue": "1000000",
                "symbol": exchange_symbol(instrument)}

    # -- orders -------------------------------------------------------------------------

    def place(self, ctx: Ctx) -> dict[str, Any]:
        instrument, order_args, response_type = self._order_args(ctx)
        assert ctx.account is not None
        try:
            order = self.engine.place_order(self.exchange, ctx.account,
                                            symbol=instrument.symbol, **order_args)
        except PaperError as error:
            if error.kind == "invalid_quantity":
                raise _quantity_error(ctx.product, instrument, order_args.get("quantity"),
                                      order_args.get("price")) from None
            raise refusal(ctx.product, error) from None
        ctx.request["order_accepted"] = True
        symbol = exchange_symbol(instrument)
        if ctx.product == SPOT:
            return spot_placed(order, symbol, response_type)
        side = ctx.params.get("positionSide") or "BOTH"
        self._position_sides[order.order_id] = side
        return futures_order(order, symbol, side, as_accepted=response_type == "ACK")

    def test_order(self, ctx: Ctx) -> dict[str, Any]:
        self._order_args(ctx)
        return {}

    def _order_args(self, ctx: Ctx) -> tuple[PaperInstrument, dict[str, Any], str]:
        """Validate the wire parameters; (instrument, engine.place_order kwargs, resp type)."""
        unread = set(ctx.params) - ORDER_PARAMS[ctx.product]
        if unread:
            raise BinanceError(400, -1104, f"Not all sent parameters were read; read "
                                           f"'{len(ctx.params) - len(unread)}' parameter(s) "
                                           f"but was sent '{len(ctx.params)}'.")
        instrument = self._instrument(ctx)
        assert instrument is not None
        side = text_param(ctx.params, "side", required=True)
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        order_type = text_param(ctx.params, "type", required=True) or ""
        client_id = text_param(ctx.params, "newClientOrderId") or _random_client_id()
        if ctx.product == SPOT:
            args, default_response = self._spot_args(ctx, order_type, client_id)
        else:
            args, default_response = self._futures_args(ctx, order_type, side, client_id)
        response_type = ctx.params.get("newOrderRespType") or default_response
        if response_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(400, -1100, "Illegal characters found in parameter "
                                           "'newOrderRespType'.")
        return instrument, {"side": side.lower(), "client_order_id": client_id, **args}, \
            response_type

    def _spot_args(self, ctx: Ctx, order_type: str, client_id: str
                   ) -> tuple[dict[str, Any], str]:
        if not SPOT_CLIENT_ID.fullmatch(client_id):
            raise BinanceError(400, -1100, "Illegal characters found in parameter "
                                           "'newClientOrderId'; legal range is "
                                           "'^[a-zA-Z0-9-_]{1,36}$'.")
        params = ctx.params
        if order_type in ("LIMIT", "LIMIT_MAKER"):
            tif = text_param(params, "timeInForce", required=order_type == "LIMIT")
            if order_type == "LIMIT_MAKER" and tif is not None:
                raise not_required("timeInForce")
            if order_type == "LIMIT" and tif not in SPOT_TIME_IN_FORCE:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            return {"type": "limit", "time_in_force": tif or "POST_ONLY",
                    "quantity": decimal_param(params, "quantity", required=True),
                    "price": decimal_param(params, "price", required=True)}, \
                "FULL" if order_type == "LIMIT" else "ACK"
        if order_type == "MARKET":
            for extra in ("timeInForce", "price"):
                if text_param(params, extra) is not None:
                    raise not_required(extra)
            return {"type": "market", "time_in_force": "GTC",
                    **self._market_size(ctx)}, "FULL"
        raise BinanceError(400, -1116, "Invalid orderType.")

    def _market_size(self, ctx: Ctx) -> dict[str, Any]:
        quantity = decimal_param(ctx.params, "quantity")
        quote = decimal_param(ctx.params, "quoteOrderQty")
        if quantity is None and quote is None:
            raise BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                           "but both were empty/null!")
        if quantity is not None and quote is not None:
            raise not_required("quoteOrderQty")
        if quantity is not None:
            return {"quantity": quantity}
        if ctx.params.get("side") == "BUY":
            return {"quote_quantity": quote}
        # A quote-sized sell sells as much base as that quote buys, rounded down to the lot.
        instrument = self._instrument(ctx)
        assert instrument is not None and quote is not None
        price = self.engine.price(self.exchange, instrument.symbol)
        return {"quantity": quote / price // instrument.lot_size * instrument.lot_size}

    def _futures_args(self, ctx: Ctx, order_type: str, side: str, client_id: str
                      ) -> tuple[dict[str, Any], str]:
        params = ctx.params
        if not FUTURES_CLIENT_ID.fullmatch(client_id):
            raise BinanceError(400, -4015, "Client order id is not valid.")
        if order_type in FUTURES_ALGO_TYPES:
            raise BinanceError(400, -4120, "Order type not supported. Use Algo Order API")
        if order_type not in ("LIMIT", "MARKET"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        reduce_only = self._reduce_only(ctx, side)
        args: dict[str, Any] = {"quantity": decimal_param(params, "quantity", required=True),
                                "reduce_only": reduce_only}
        if order_type == "LIMIT":
            tif = text_param(params, "timeInForce", required=True) or ""
            if tif not in FUTURES_TIME_IN_FORCE:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            args |= {"type": "limit", "time_in_force": FUTURES_TIME_IN_FORCE[tif],
                     "price": decimal_param(params, "price", required=True)}
        else:
            if text_param(params, "price") is not None:
                raise not_required("price")
            args |= {"type": "market", "time_in_force": "GTC"}
        return args, "ACK"

    def _reduce_only(self, ctx: Ctx, side: str) -> bool:
        """One-way accounts send positionSide BOTH (or nothing) and may send reduceOnly; hedge
        accounts must send LONG/SHORT and never reduceOnly. The paper engine nets one
        position, so in hedge mode a closing leg (SELL LONG, BUY SHORT) becomes reduce-only."""
        assert ctx.account is not None
        position_side = ctx.params.get("positionSide") or "BOTH"
        raw = text_param(ctx.params, "reduceOnly")
        if raw not in (None, "true", "false"):
            raise BinanceError(400, -1130, "Data sent for parameter 'reduceOnly' is not valid.")
        hedge = ctx.account.hedge_mode
        if position_side not in ("BOTH", "LONG", "SHORT") or \
                (position_side == "BOTH") == hedge:
            raise BinanceError(400, -4061, "Order's position side does not match user's "
                                           "setting.")
        if hedge:
            if raw is not None:
                raise not_required("reduceOnly")
            return (position_side, side) in (("LONG", "SELL"), ("SHORT", "BUY"))
        return raw == "true"

    def _find(self, ctx: Ctx, instrument: PaperInstrument) -> PaperOrder | None:
        """The order named by orderId and/or origClientOrderId on this symbol."""
        order_id = int_param(ctx.params, "orderId")
        client_id = text_param(ctx.params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be "
                                           "sent, but both were empty/null!")
        assert ctx.account is not None
        for order in self.engine.order_history(self.exchange, ctx.account, instrument.symbol):
            if order_id is not None and order.order_id == str(order_id):
                if client_id is not None and order.client_order_id != client_id:
                    if ctx.product == SPOT:
                        raise BinanceError(400, -2039, "Client order ID is not correct for "
                                                       "this order ID.")
                    return None
                return order
            if order_id is None and order.client_order_id == client_id:
                return order   # the newest order carrying that client id
        return None

    def query(self, ctx: Ctx) -> dict[str, Any]:
        instrument = self._instrument(ctx)
        assert instrument is not None
        order = self._find(ctx, instrument)
        if order is None:
            raise BinanceError(*NO_SUCH_ORDER)
        return self._order_json(ctx, order, instrument)

    def _order_json(self, ctx: Ctx, order: PaperOrder,
                    instrument: PaperInstrument) -> dict[str, Any]:
        symbol = exchange_symbol(instrument)
        if ctx.product == SPOT:
            return spot_order(order, symbol)
        return futures_order(order, symbol, self._position_sides.get(order.order_id, "BOTH"))

    def cancel(self, ctx: Ctx) -> dict[str, Any]:
        instrument = self._instrument(ctx)
        assert instrument is not None and ctx.account is not None
        order = self._find(ctx, instrument)
        if order is None or not order.is_open:
            raise BinanceError(*UNKNOWN_ORDER)
        try:
            self.engine.cancel_order(self.exchange, ctx.account, symbol=instrument.symbol,
                                     order_id=order.order_id)
        except PaperError as error:
            raise refusal(ctx.product, error) from None
        ctx.request["cancel_applied"] = True
        if ctx.product == LINEAR:
            return self._order_json(ctx, order, instrument)
        cancel_id = text_param(ctx.params, "newClientOrderId") or _random_client_id()
        return spot_canceled(order, exchange_symbol(instrument), cancel_id,
                             self.engine.now_ms())

    def cancel_all(self, ctx: Ctx) -> Any:
        instrument = self._instrument(ctx)
        assert instrument is not None and ctx.account is not None
        canceled = self.engine.cancel_all(self.exchange, ctx.account, instrument.symbol)
        if canceled:
            ctx.request["cancel_applied"] = True
        if ctx.product == LINEAR:
            return {"code": 200, "msg": "The operation of cancel all open order is done."}
        if not canceled:
            raise BinanceError(*UNKNOWN_ORDER)   # spot answers -2011 when nothing is open
        now = self.engine.now_ms()
        return [spot_canceled(order, exchange_symbol(instrument), _random_client_id(), now)
                for order in canceled]

    def open_orders(self, ctx: Ctx) -> list[dict[str, Any]]:
        assert ctx.account is not None
        wanted = self._instrument(ctx, required=False)
        table = {item.symbol: item for item in self._instruments(ctx.product).values()}
        return [self._order_json(ctx, order, table[order.symbol])
                for order in self.engine.open_orders(self.exchange, ctx.account)
                if order.symbol in table and (wanted is None or order.symbol == wanted.symbol)]

    def all_orders(self, ctx: Ctx) -> list[dict[str, Any]]:
        """Oldest first; from orderId/startTime forwards, else the newest ``limit``."""
        instrument = self._instrument(ctx)
        assert instrument is not None and ctx.account is not None
        from_id = int_param(ctx.params, "orderId")
        start, end = int_param(ctx.params, "startTime"), int_param(ctx.params, "endTime")
        limit = min(int_param(ctx.params, "limit") or 500, 1000)
        orders = [order for order in reversed(self.engine.order_history(
                      self.exchange, ctx.account, instrument.symbol))
                  if (from_id is None or int(order.order_id) >= from_id)
                  and (start is None or order.created_ms >= start)
                  and (end is None or order.created_ms <= end)]
        forwards = from_id is not None or start is not None
        chosen = orders[:limit] if forwards else orders[-limit:]
        return [self._order_json(ctx, order, instrument) for order in chosen]


def _random_client_id() -> str:
    """Binance makes up a client order id when none is sent."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(22))


def _uid(account: PaperAccount) -> int:
    return int(hashlib.sha256(account.api_key.encode()).hexdigest()[:8], 16)
