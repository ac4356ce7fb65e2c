"""Binance Spot on the paper exchange (``/api/v3``, ``/sapi/v1``), mounted by ``binance.py``.

Spot prints every amount with 8 decimals; a LIMIT answers FULL by default, anything else ACK;
a MARKET order is sized by ``quantity`` (base) or ``quoteOrderQty`` (quote).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar

from paper.engine import PaperFill, PaperInstrument, PaperOrder
from paper.protocols.binance_common import (
    COMMON_ORDER_PARAMS,
    NONE,
    SPOT,
    STATUS,
    TRADE,
    USER_DATA,
    ZERO,
    BinanceError,
    Ctx,
    ProductApi,
    Route,
    Weights,
    decimal_param,
    exchange_symbol,
    is_valid_lot,
    not_required,
    quote_filled,
    random_client_id,
    text_param,
    uid,
)
from paper.wire import fixed, plain

CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
ORDER_PARAMS = COMMON_ORDER_PARAMS | {
    "quoteOrderQty",
    "strategyId",
    "strategyType",
    "trailingDelta",
    "icebergQty",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
}

# (method, path) -> weight, or (weight with symbol, weight without) where a symbol matters.
# Since 2026-04-02 a *successful* place/cancel/cancel-all weighs 0 (failed ones 1); the
# weight is fixed before the answer here, so they count 0.
WEIGHTS: Weights = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/ticker/bookTicker"): (2, 4),
    ("GET", "/api/v3/ticker/price"): (2, 4),
    ("GET", "/api/v3/ticker/24hr"): (2, 80),
    ("GET", "/api/v3/account"): 20,
    ("GET", "/sapi/v1/account/apiRestrictions"): 1,
    ("POST", "/api/v3/order"): 0,
    ("POST", "/api/v3/order/test"): 1,
    ("DELETE", "/api/v3/order"): 0,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/openOrders"): (6, 80),
    ("DELETE", "/api/v3/openOrders"): 0,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,  # 5 with orderId (rest-api.md "Account trade list")
    ("GET", "/sapi/v1/capital/config/getall"): 10,
    ("GET", "/sapi/v1/margin/allPairs"): 1,
    ("GET", "/sapi/v1/margin/isolated/allPairs"): 10,
}
# PaperError kind -> (status, code, msg); quantity problems are told apart in quantity_error.
REFUSALS: dict[str, tuple[int, int, str]] = {
    "insufficient_funds": (400, -2010, "Account has insufficient balance for requested action."),
    "duplicate_client_order_id": (400, -2010, "Duplicate order sent."),
    "invalid_price": (400, -1013, "Filter failure: PRICE_FILTER"),
    "post_only_would_take": (400, -2010, "Order would immediately match and take."),
    "reduce_only_rejected": (400, -1106, "Parameter 'reduceOnly' sent when not required."),
}


def spot_number(value: Decimal | None) -> str:
    """Spot prints every amount with 8 decimals ("0.01000000")."""
    return fixed(value or ZERO, 8)


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
        "symbol": symbol,
        "orderId": int(order.order_id),
        "orderListId": -1,
        "clientOrderId": order.client_order_id or "",
        "price": spot_number(order.price),
        "origQty": spot_number(order.quantity),
        "executedQty": spot_number(order.filled_quantity),
        "cummulativeQuoteQty": spot_number(quote_filled(order)),
        "status": STATUS[order.status],
        "timeInForce": order.time_in_force if order.time_in_force in TIME_IN_FORCE else "GTC",
        "type": spot_type(order),
        "side": order.side.upper(),
        "stopPrice": spot_number(ZERO),
        "icebergQty": spot_number(ZERO),
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": True,
        "workingTime": order.created_ms,
        "origQuoteOrderQty": spot_number(ZERO),
        "selfTradePreventionMode": "NONE",
    }


def spot_placed(order: PaperOrder, symbol: str, response_type: str) -> dict[str, Any]:
    """POST /api/v3/order in the ACK, RESULT or FULL shape."""
    ack = {
        "symbol": symbol,
        "orderId": int(order.order_id),
        "orderListId": -1,
        "clientOrderId": order.client_order_id or "",
        "transactTime": order.created_ms,
    }
    if response_type == "ACK":
        return ack
    full = spot_order(order, symbol)
    result = {
        **ack,
        **{
            key: full[key]
            for key in (
                "price",
                "origQty",
                "executedQty",
                "origQuoteOrderQty",
                "cummulativeQuoteQty",
                "status",
                "timeInForce",
                "type",
                "side",
                "workingTime",
                "selfTradePreventionMode",
            )
        },
    }
    if response_type == "FULL":
        result["fills"] = (
            []
            if not order.filled_quantity
            else [
                {
                    "price": spot_number(order.average_price),
                    "qty": spot_number(order.filled_quantity),
                    "commission": spot_number(ZERO),
                    "commissionAsset": "USDT",
                    "tradeId": int(order.order_id),
                }
            ]
        )
    return result


def spot_canceled(order: PaperOrder, symbol: str, cancel_id: str, now_ms: int) -> dict[str, Any]:
    full = spot_order(order, symbol)
    return {
        "symbol": symbol,
        "origClientOrderId": full["clientOrderId"],
        "orderId": full["orderId"],
        "orderListId": -1,
        "clientOrderId": cancel_id,
        "transactTime": now_ms,
        **{
            key: full[key]
            for key in (
                "price",
                "origQty",
                "executedQty",
                "cummulativeQuoteQty",
                "status",
                "timeInForce",
                "type",
                "side",
                "selfTradePreventionMode",
            )
        },
    }


def spot_symbol_info(instrument: PaperInstrument) -> dict[str, Any]:
    return {
        "symbol": exchange_symbol(instrument),
        "status": "TRADING",
        "baseAsset": instrument.base,
        "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spot_number(instrument.tick_size),
                "maxPrice": spot_number(Decimal("10000000")),
                "tickSize": spot_number(instrument.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spot_number(instrument.min_quantity),
                "maxQty": spot_number(Decimal("9000000")),
                "stepSize": spot_number(instrument.lot_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": spot_number(instrument.min_notional),
                "applyMinToMarket": True,
                "maxNotional": spot_number(Decimal("9000000")),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
    }


class SpotApi(ProductApi):
    product: ClassVar[str] = SPOT
    weights: ClassVar[Weights] = WEIGHTS
    order_params: ClassVar[frozenset[str]] = ORDER_PARAMS
    client_id_pattern: ClassVar[re.Pattern[str]] = CLIENT_ID
    refusals = REFUSALS
    default_rate_limits: ClassVar[list[dict[str, Any]]] = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
    ]

    def routes(self) -> list[Route]:
        return [
            ("GET", "/api/v3/ping", self.ping, NONE),
            ("GET", "/api/v3/time", self.time, NONE),
            ("GET", "/api/v3/exchangeInfo", self.exchange_info, NONE),
            ("GET", "/api/v3/ticker/bookTicker", self.book_ticker, NONE),
            ("GET", "/api/v3/ticker/price", self.price_ticker, NONE),
            ("GET", "/api/v3/ticker/24hr", self.day_ticker, NONE),
            ("GET", "/api/v3/account", self.account, USER_DATA),
            ("GET", "/sapi/v1/account/apiRestrictions", self.api_restrictions, USER_DATA),
            ("POST", "/api/v3/order", self.place, TRADE),
            ("POST", "/api/v3/order/test", self.test_order, TRADE),
            ("DELETE", "/api/v3/order", self.cancel, TRADE),
            ("GET", "/api/v3/order", self.query, USER_DATA),
            ("GET", "/api/v3/openOrders", self.open_orders, USER_DATA),
            ("DELETE", "/api/v3/openOrders", self.cancel_all, TRADE),
            ("GET", "/api/v3/allOrders", self.all_orders, USER_DATA),
            ("GET", "/api/v3/myTrades", self.my_trades, USER_DATA),
            ("GET", "/sapi/v1/capital/config/getall", self.coins, USER_DATA),
            # no margin trading on the paper exchange: no cross or isolated margin pairs
            # (ccxt's market loading asks for both when it has a key)
            ("GET", "/sapi/v1/margin/allPairs", self.no_margin_pairs, NONE),
            ("GET", "/sapi/v1/margin/isolated/allPairs", self.no_margin_pairs, NONE),
        ]

    def number(self, value: Decimal | None) -> str:
        return spot_number(value)

    def trade_json(
        self, order: PaperOrder, fill: PaperFill, instrument: PaperInstrument
    ) -> dict[str, Any]:
        """{"symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1,
        "price": "4.00000100", "qty": "12.00000000", "quoteQty": "48.000012",
        "commission": "10.10000000", "commissionAsset": "BNB", "time": 1499865549590,
        "isBuyer": true, "isMaker": false, "isBestMatch": true}"""
        return {
            "symbol": exchange_symbol(instrument),
            "id": int(fill.trade_id),
            "orderId": int(order.order_id),
            "orderListId": -1,
            "price": spot_number(fill.price),
            "qty": spot_number(fill.quantity),
            "quoteQty": spot_number(fill.price * fill.quantity),
            "commission": spot_number(fill.fee),
            "commissionAsset": fill.fee_asset,
            "time": fill.time_ms,
            "isBuyer": order.side == "buy",
            "isMaker": fill.maker,
            "isBestMatch": True,
        }

    def exchange_info(self, ctx: Ctx) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.engine.now_ms(),
            "exchangeFilters": [],
            "rateLimits": self._rate_limits(),
            "symbols": [spot_symbol_info(item) for item in self._selected(ctx)],
        }

    # -- accounts -----------------------------------------------------------------------

    def account(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.owner
        omit_zero = ctx.params.get("omitZeroBalances") == "true"
        balances = [
            {"asset": asset, "free": spot_number(free), "locked": spot_number(locked)}
            for asset, (free, locked) in sorted(self._balances(account).items())
            if not (omit_zero and free == 0 and locked == 0)
        ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000",
                "taker": "0.00100000",
                "buyer": "0.00000000",
                "seller": "0.00000000",
            },
            "canTrade": "trade" in account.permissions,
            "canWithdraw": "withdraw" in account.permissions,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.engine.now_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": uid(account),
        }

    def coins(self, ctx: Ctx) -> list[dict[str, Any]]:
        """/sapi/v1/capital/config/getall: every coin of the paper universe with the
        account's balance, one network each named after the coin (nothing moves on chain)."""
        balances = self._balances(ctx.owner)
        instruments = self._instruments().values()
        coins = sorted({item.base for item in instruments} | {item.quote for item in instruments})
        rows = []
        for coin in coins:
            free, locked = balances.get(coin, (ZERO, ZERO))
            rows.append(
                {
                    "coin": coin,
                    "name": coin,
                    "depositAllEnable": True,
                    "withdrawAllEnable": True,
                    "free": plain(free),
                    "locked": plain(locked),
                    "freeze": "0",
                    "withdrawing": "0",
                    "ipoing": "0",
                    "ipoable": "0",
                    "storage": "0",
                    "isLegalMoney": False,
                    "trading": True,
                    "networkList": [
                        {
                            "network": coin,
                            "coin": coin,
                            "name": coin,
                            "isDefault": True,
                            "depositEnable": True,
                            "withdrawEnable": True,
                            "withdrawIntegerMultiple": "0.00000001",
                            "withdrawFee": "0",
                            "withdrawMin": "0",
                            "withdrawMax": "9999999999",
                            "depositDust": "0",
                            "minConfirm": 1,
                            "unLockConfirm": 0,
                            "sameAddress": False,
                            "withdrawTag": False,
                            "estimatedArrivalTime": 1,
                            "busy": False,
                            "addressRegex": "",
                            "memoRegex": "",
                            "resetAddressStatus": False,
                            "specialTips": "",
                            "contractAddressUrl": "",
                            "contractAddress": "",
                        }
                    ],
                }
            )
        return rows

    def _day_book(self, price: str) -> dict[str, str]:
        """Spot's FULL 24hr row has the previous close and the best bid and ask with their
        quantities (ccxt tells a spot row from a futures one by ``bidQty``)."""
        return {
            "prevClosePrice": price,
            "bidPrice": price,
            "bidQty": "1000",
            "askPrice": price,
            "askQty": "1000",
        }

    def no_margin_pairs(self, ctx: Ctx) -> list[dict[str, Any]]:
        return []

    def api_restrictions(self, ctx: Ctx) -> dict[str, Any]:
        granted = set(ctx.account.permissions) if ctx.account else set()
        restricted = bool(ctx.account and ctx.account.ip_whitelist)
        expiry = ctx.account.key_expires_at_ms if ctx.account else None
        return {
            "ipRestrict": restricted,
            "createTime": 1_700_000_000_000,
            **({"tradingAuthorityExpirationTime": expiry} if expiry else {}),
            "enableReading": "read" in granted,
            "enableSpotAndMarginTrading": "trade" in granted,
            "enableWithdrawals": "withdraw" in granted,
            "enableInternalTransfer": "transfer" in granted,
            "permitsUniversalTransfer": "transfer" in granted,
            "enableMargin": "margin" in granted,
            "enableFutures": "futures" in granted or "trade" in granted,
            "enableVanillaOptions": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
            "enablePortfolioMarginTrading": False,
        }

    # -- orders -------------------------------------------------------------------------

    def bad_client_id(self) -> BinanceError:
        return BinanceError(
            400,
            -1100,
            "Illegal characters found in parameter "
            "'newClientOrderId'; legal range is "
            "'^[a-zA-Z0-9-_]{1,36}$'.",
        )

    def order_args(self, ctx: Ctx, order_type: str, side: str) -> tuple[dict[str, Any], str]:
        params = ctx.params
        if order_type in ("LIMIT", "LIMIT_MAKER"):
            tif = text_param(params, "timeInForce", required=order_type == "LIMIT")
            if order_type == "LIMIT_MAKER" and tif is not None:
                raise not_required("timeInForce")
            if order_type == "LIMIT" and tif not in TIME_IN_FORCE:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            return {
                "type": "limit",
                "time_in_force": tif or "POST_ONLY",
                "quantity": decimal_param(params, "quantity", required=True),
                "price": decimal_param(params, "price", required=True),
            }, "FULL" if order_type == "LIMIT" else "ACK"
        if order_type == "MARKET":
            for extra in ("timeInForce", "price"):
                if text_param(params, extra) is not None:
                    raise not_required(extra)
            return {"type": "market", "time_in_force": "GTC", **self._market_size(ctx)}, "FULL"
        raise BinanceError(400, -1116, "Invalid orderType.")

    def _market_size(self, ctx: Ctx) -> dict[str, Any]:
        quantity = decimal_param(ctx.params, "quantity")
        quote = decimal_param(ctx.params, "quoteOrderQty")
        if quantity is None and quote is None:
            raise BinanceError(
                400,
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            )
        if quantity is not None and quote is not None:
            raise not_required("quoteOrderQty")
        if quantity is not None:
            return {"quantity": quantity}
        if ctx.params.get("side") == "BUY":
            return {"quote_quantity": quote}
        # A quote-sized sell sells as much base as that quote buys, rounded down to the lot.
        instrument = self._symbol(ctx)
        assert quote is not None
        price = self.engine.price(self.exchange, instrument.symbol)
        return {"quantity": quote / price // instrument.lot_size * instrument.lot_size}

    def quantity_error(self, instrument: PaperInstrument, quantity: Decimal | None) -> BinanceError:
        if is_valid_lot(instrument, quantity):
            return BinanceError(400, -1013, "Filter failure: NOTIONAL")
        return BinanceError(400, -1013, "Filter failure: LOT_SIZE")

    def placed(
        self, ctx: Ctx, order: PaperOrder, symbol: str, response_type: str
    ) -> dict[str, Any]:
        return spot_placed(order, symbol, response_type)

    def order_json(self, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        return spot_order(order, exchange_symbol(instrument))

    def mismatched_client_id(self) -> None:
        raise BinanceError(400, -2039, "Client order ID is not correct for this order ID.")

    def canceled(self, ctx: Ctx, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        cancel_id = text_param(ctx.params, "newClientOrderId") or random_client_id()
        return spot_canceled(order, exchange_symbol(instrument), cancel_id, self.engine.now_ms())

    def all_canceled(self, canceled: list[PaperOrder], instrument: PaperInstrument) -> Any:
        if not canceled:
            raise BinanceError(400, -2011, "Unknown order sent.")  # nothing was open
        now = self.engine.now_ms()
        return [
            spot_canceled(order, exchange_symbol(instrument), random_client_id(), now)
            for order in canceled
        ]
