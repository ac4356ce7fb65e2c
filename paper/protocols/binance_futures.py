"""Binance USD-M futures on the paper exchange (``/fapi/v1|v2|v3``), mounted by ``binance.py``.

Numbers are plain ("0.01"); orders answer ACK by default; a one-way account sends
``positionSide`` BOTH (or nothing), a hedge-mode account LONG or SHORT. Conditional orders
live in the Algo Order API now and are refused here (facts section 3).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar

from paper.engine import MAX_LEVERAGE, PaperAccount, PaperFill, PaperInstrument, PaperOrder
from paper.protocols.binance_common import (
    COMMON_ORDER_PARAMS,
    LINEAR,
    NO_SUCH_ORDER,
    NONE,
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
    int_param,
    is_valid_lot,
    mandatory,
    not_required,
    quote_filled,
    text_param,
)
from paper.wire import decimal_places, plain

CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "POST_ONLY"}
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
ORDER_PARAMS = COMMON_ORDER_PARAMS | {
    "positionSide",
    "reduceOnly",
    "closePosition",
    "activationPrice",
    "callbackRate",
    "workingType",
    "priceProtect",
    "priceMatch",
    "goodTillDate",
}

# (method, path) -> weight, or (weight with symbol, weight without) where a symbol matters.
# Placing costs no IP weight.
WEIGHTS: Weights = {
    ("GET", "/fapi/v1/ping"): 1,
    ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/ticker/bookTicker"): (2, 5),
    ("GET", "/fapi/v1/ticker/price"): (1, 2),
    ("GET", "/fapi/v2/ticker/price"): (1, 2),
    ("GET", "/fapi/v1/ticker/24hr"): (1, 40),
    ("GET", "/fapi/v1/premiumIndex"): (1, 10),
    ("GET", "/fapi/v1/accountConfig"): 5,
    ("GET", "/fapi/v2/account"): 5,
    ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v3/balance"): 5,
    ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5,
    ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("POST", "/fapi/v1/positionSide/dual"): 1,
    ("POST", "/fapi/v1/leverage"): 1,
    ("POST", "/fapi/v1/order"): 0,
    ("DELETE", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/order"): 1,
    ("GET", "/fapi/v1/openOrders"): (1, 40),
    ("DELETE", "/fapi/v1/allOpenOrders"): 1,
    ("GET", "/fapi/v1/allOrders"): 5,
    ("POST", "/fapi/v1/countdownCancelAll"): 10,
    ("GET", "/fapi/v1/userTrades"): 5,
    ("GET", "/fapi/v1/leverageBracket"): 1,
    ("GET", "/dapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/openOrder"): 1,
}
# PaperError kind -> (status, code, msg); quantity problems are told apart in quantity_error.
REFUSALS: dict[str, tuple[int, int, str]] = {
    "insufficient_funds": (400, -2019, "Margin is insufficient."),
    "duplicate_client_order_id": (400, -4116, "ClientOrderId is duplicated."),
    "invalid_price": (400, -4014, "Price not increased by tick size."),
    "post_only_would_take": (
        400,
        -5022,
        "Due to the order could not be executed as "
        "maker, the Post Only order will be rejected. The "
        "order will not be recorded in the order history",
    ),
    "reduce_only_rejected": (400, -2022, "ReduceOnly Order is rejected."),
}


def futures_number(value: Decimal | None) -> str:
    return plain(value or ZERO)


def futures_order(
    order: PaperOrder, symbol: str, position_side: str = "BOTH", as_accepted: bool = False
) -> dict[str, Any]:
    """{"orderId":..,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"..","price":"50000",
    "avgPrice":"0","origQty":"0.01","executedQty":"0","cumQty":"0","cumQuote":"0",
    "timeInForce":"GTC","type":"LIMIT","reduceOnly":false,"side":"BUY","positionSide":"BOTH",
    ...,"time":..,"updateTime":..}. ``as_accepted``: the ACK snapshot (NEW, nothing filled)."""
    filled = ZERO if as_accepted else order.filled_quantity
    order_type = order.type.upper()
    return {
        "orderId": int(order.order_id),
        "symbol": symbol,
        "status": "NEW" if as_accepted else STATUS[order.status],
        "clientOrderId": order.client_order_id or "",
        "price": futures_number(order.price),
        "avgPrice": futures_number(None if as_accepted else order.average_price),
        "origQty": futures_number(order.quantity),
        "executedQty": futures_number(filled),
        "cumQty": futures_number(filled),
        "cumQuote": futures_number(ZERO if as_accepted else quote_filled(order)),
        "timeInForce": "GTX" if order.time_in_force == "POST_ONLY" else order.time_in_force,
        "type": order_type,
        "reduceOnly": order.reduce_only,
        "closePosition": False,
        "side": order.side.upper(),
        "positionSide": position_side,
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": order_type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
        "time": order.created_ms,
        "updateTime": order.updated_ms,
    }


def futures_symbol_info(instrument: PaperInstrument) -> dict[str, Any]:
    return {
        "symbol": exchange_symbol(instrument),
        "pair": exchange_symbol(instrument),
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "baseAsset": instrument.base,
        "quoteAsset": instrument.quote,
        "marginAsset": instrument.quote,
        "pricePrecision": decimal_places(instrument.tick_size),
        "quantityPrecision": decimal_places(instrument.lot_size),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "settlePlan": 0,
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": futures_number(instrument.tick_size),
                "maxPrice": "10000000",
                "tickSize": futures_number(instrument.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "stepSize": futures_number(instrument.lot_size),
                "maxQty": "1000000",
                "minQty": futures_number(instrument.min_quantity),
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "stepSize": futures_number(instrument.lot_size),
                "maxQty": "1000000",
                "minQty": futures_number(instrument.min_quantity),
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": futures_number(instrument.min_notional)},
        ],
    }


class FuturesApi(ProductApi):
    product: ClassVar[str] = LINEAR
    weights: ClassVar[Weights] = WEIGHTS
    order_params: ClassVar[frozenset[str]] = ORDER_PARAMS
    client_id_pattern: ClassVar[re.Pattern[str]] = CLIENT_ID
    refusals = REFUSALS
    trade_span_ms: ClassVar[int] = 7 * 86_400_000
    default_rate_limits: ClassVar[list[dict[str, Any]]] = [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    ]

    def __init__(self, protocol: Any) -> None:
        super().__init__(protocol)
        self._position_sides: dict[str, str] = {}  # order id -> positionSide sent

    def routes(self) -> list[Route]:
        return [
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
            ("GET", "/fapi/v2/account", self.account, USER_DATA),
            ("GET", "/fapi/v3/account", self.account, USER_DATA),
            ("GET", "/fapi/v2/balance", self.balance, USER_DATA),
            ("GET", "/fapi/v3/balance", self.balance, USER_DATA),
            ("GET", "/fapi/v2/positionRisk", self.position_risk_v2, USER_DATA),
            ("GET", "/fapi/v3/positionRisk", self.position_risk_v3, USER_DATA),
            ("POST", "/fapi/v1/leverage", self.leverage, TRADE),
            ("GET", "/fapi/v1/leverageBracket", self.leverage_brackets, USER_DATA),
            ("POST", "/fapi/v1/order", self.place, TRADE),
            ("DELETE", "/fapi/v1/order", self.cancel, TRADE),
            ("GET", "/fapi/v1/order", self.query, USER_DATA),
            ("GET", "/fapi/v1/openOrders", self.open_orders, USER_DATA),
            ("GET", "/fapi/v1/openOrder", self.open_order, USER_DATA),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all, TRADE),
            ("GET", "/fapi/v1/allOrders", self.all_orders, USER_DATA),
            ("POST", "/fapi/v1/countdownCancelAll", self.countdown_cancel_all, TRADE),
            ("GET", "/fapi/v1/userTrades", self.my_trades, USER_DATA),
            # COIN-M: the paper exchange lists no coin-margined contracts (ccxt's market
            # loading asks for them)
            ("GET", "/dapi/v1/exchangeInfo", self.coin_margined_info, NONE),
        ]

    def number(self, value: Decimal | None) -> str:
        return futures_number(value)

    def _stamped(self, row: dict[str, Any]) -> dict[str, Any]:
        return row | {"time": self.engine.now_ms()}

    def exchange_info(self, ctx: Ctx) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.engine.now_ms(),
            "futuresType": "U_MARGINED",
            "exchangeFilters": [],
            "rateLimits": self._rate_limits(),
            "assets": [{"asset": "USDT", "marginAvailable": True}],
            "symbols": [futures_symbol_info(item) for item in self._instruments().values()],
        }

    def coin_margined_info(self, ctx: Ctx) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.engine.now_ms(),
            "exchangeFilters": [],
            "rateLimits": [],
            "symbols": [],
        }

    def premium_index(self, ctx: Ctx) -> Any:
        now = self.engine.now_ms()
        rows = [
            {
                "symbol": exchange_symbol(item),
                "markPrice": self._price(item),
                "indexPrice": self._price(item),
                "estimatedSettlePrice": self._price(item),
                "lastFundingRate": "0",
                "interestRate": "0",
                "nextFundingTime": now - now % 28_800_000 + 28_800_000,
                "time": now,
            }
            for item in self._selected(ctx)
        ]
        return self._one_or_list(ctx, rows)

    # -- accounts -----------------------------------------------------------------------

    def account_config(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        return {
            "feeTier": 0,
            "canTrade": "trade" in account.permissions,
            "canDeposit": True,
            "canWithdraw": "withdraw" in account.permissions,
            "dualSidePosition": account.hedge_mode,
            "updateTime": 0,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
        }

    def position_mode(self, ctx: Ctx) -> dict[str, Any]:
        assert ctx.account is not None
        return {"dualSidePosition": ctx.account.hedge_mode}

    def change_position_mode(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        wanted = text_param(ctx.params, "dualSidePosition", required=True)
        if wanted not in ("true", "false"):
            raise BinanceError(
                400, -1130, "Data sent for parameter 'dualSidePosition' is not valid."
            )
        if (wanted == "true") == account.hedge_mode:
            raise BinanceError(400, -4059, "No need to change position side.")
        if self._open_positions(account):
            raise BinanceError(
                400, -4068, "Position side cannot be changed if there exists position."
            )
        if self._linear_open_orders(account):
            raise BinanceError(
                400, -4067, "Position side cannot be changed if there exists open orders."
            )
        self.engine.set_hedge_mode(account, wanted == "true")
        return {"code": 200, "msg": "success"}

    def _open_positions(self, account: PaperAccount) -> list[Any]:
        return [
            held for held in self.engine.positions(self.exchange, account) if held.quantity != 0
        ]

    def _linear_open_orders(self, account: PaperAccount) -> list[PaperOrder]:
        linear = {item.symbol for item in self._instruments().values()}
        return [
            order
            for order in self.engine.open_orders(self.exchange, account)
            if order.symbol in linear
        ]

    def _upl(self, account: PaperAccount) -> Decimal:
        return sum((held.unrealized_pnl for held in self._open_positions(account)), ZERO)

    def balance(self, ctx: Ctx) -> list[dict[str, Any]]:
        account = ctx.account
        assert account is not None
        upl = self._upl(account)
        return [
            {
                "accountAlias": "SgsR",
                "asset": asset,
                "balance": futures_number(free + locked),
                "crossWalletBalance": futures_number(free + locked),
                "crossUnPnl": futures_number(upl if asset == "USDT" else ZERO),
                "availableBalance": futures_number(free),
                "maxWithdrawAmount": futures_number(free),
                "marginAvailable": True,
                "updateTime": self.engine.now_ms(),
            }
            for asset, (free, locked) in sorted(self._balances(account).items())
        ]

    def account(self, ctx: Ctx) -> dict[str, Any]:
        account = ctx.account
        assert account is not None
        free, locked = self._balances(account).get("USDT", (ZERO, ZERO))
        upl, wallet = self._upl(account), free + locked
        totals = {
            "totalInitialMargin": locked,
            "totalMaintMargin": ZERO,
            "totalWalletBalance": wallet,
            "totalUnrealizedProfit": upl,
            "totalMarginBalance": wallet + upl,
            "totalPositionInitialMargin": locked,
            "totalOpenOrderInitialMargin": ZERO,
            "totalCrossWalletBalance": wallet,
            "totalCrossUnPnl": upl,
            "availableBalance": free,
            "maxWithdrawAmount": free,
        }
        assets = [
            {
                "asset": asset,
                "walletBalance": futures_number(f + lk),
                "unrealizedProfit": futures_number(upl if asset == "USDT" else ZERO),
                "marginBalance": futures_number(f + lk + (upl if asset == "USDT" else 0)),
                "maintMargin": "0",
                "initialMargin": futures_number(lk),
                "positionInitialMargin": futures_number(lk),
                "openOrderInitialMargin": "0",
                "crossWalletBalance": futures_number(f + lk),
                "crossUnPnl": futures_number(upl if asset == "USDT" else ZERO),
                "availableBalance": futures_number(f),
                "maxWithdrawAmount": futures_number(f),
                "marginAvailable": True,
                "updateTime": self.engine.now_ms(),
            }
            for asset, (f, lk) in sorted(self._balances(account).items())
        ]
        return {
            "feeTier": 0,
            "canTrade": "trade" in account.permissions,
            "canDeposit": True,
            "canWithdraw": "withdraw" in account.permissions,
            "multiAssetsMargin": False,
            "tradeGroupId": -1,
            "updateTime": 0,
            **{key: futures_number(value) for key, value in totals.items()},
            "assets": assets,
            "positions": self._position_rows(ctx, every_symbol=False),
        }

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
        for item in self._instruments().values():
            position = held.get(item.symbol)
            if wanted is not None and item.symbol != wanted.symbol:
                continue
            if not every_symbol and position is None and item.symbol not in with_orders:
                continue
            rows.append(self._position_row(account, item, position))
        return rows

    def _position_row(
        self, account: PaperAccount, item: PaperInstrument, position: Any
    ) -> dict[str, Any]:
        mark = self.engine.price(self.exchange, item.symbol)
        amount = position.quantity if position else ZERO
        entry = position.entry_price if position else ZERO
        return {
            "symbol": exchange_symbol(item),
            "positionSide": "BOTH",
            "positionAmt": futures_number(amount),
            "entryPrice": futures_number(entry),
            "breakEvenPrice": futures_number(entry),
            "markPrice": futures_number(mark),
            "unRealizedProfit": futures_number(position.unrealized_pnl if position else ZERO),
            "liquidationPrice": "0",
            "leverage": str(self.engine.leverage(account, item.symbol)),
            "marginType": "cross",
            "isolatedMargin": "0",
            "isAutoAddMargin": "false",
            "notional": futures_number(amount * mark),
            "marginAsset": item.quote,
            "isolatedWallet": "0",
            "initialMargin": "0",
            "maintMargin": "0",
            "updateTime": self.engine.now_ms(),
        }

    def open_order(self, ctx: Ctx) -> dict[str, Any]:
        """One current open order by orderId or origClientOrderId; a filled or canceled
        one is "Order does not exist" (-2013), as Binance documents."""
        instrument = self._symbol(ctx)
        order = self._find(ctx, instrument)
        if order is None or not order.is_open:
            raise BinanceError(*NO_SUCH_ORDER)
        return self.order_json(order, instrument)

    def leverage_brackets(self, ctx: Ctx) -> Any:
        """One bracket per symbol, matching what ``/fapi/v1/leverage`` answers (up to the
        engine's top leverage, a cap of 1,000,000 notional) and the engine's margin, which
        keeps no maintenance margin; a list, or one object when ``symbol`` is sent."""
        rows = [
            {
                "symbol": exchange_symbol(item),
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": MAX_LEVERAGE,
                        "notionalCap": 1_000_000,
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.0,
                        "cum": 0.0,
                    }
                ],
            }
            for item in self._selected(ctx)
        ]
        return self._one_or_list(ctx, rows)

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
        return {
            "leverage": value,
            "maxNotionalValue": "1000000",
            "symbol": exchange_symbol(instrument),
        }

    def countdown_cancel_all(self, ctx: Ctx) -> dict[str, Any]:
        """The dead-man switch, per symbol: ``countdownTime`` ms (0 stops it); when it
        elapses unrefreshed, every open order of the symbol is cancelled."""
        assert ctx.account is not None
        instrument = self._instrument(ctx)
        assert instrument is not None
        countdown = int_param(ctx.params, "countdownTime")
        if countdown is None or countdown < 0:
            raise mandatory("countdownTime")
        if countdown == 0:
            self.engine.dead_man.disarm(ctx.account, symbol=instrument.symbol)
        else:
            self.engine.dead_man.arm(
                ctx.account, seconds=countdown / 1000, symbol=instrument.symbol
            )
        return {"symbol": exchange_symbol(instrument), "countdownTime": str(countdown)}

    # -- orders -------------------------------------------------------------------------

    def bad_client_id(self) -> BinanceError:
        return BinanceError(400, -4015, "Client order id is not valid.")

    def order_args(self, ctx: Ctx, order_type: str, side: str) -> tuple[dict[str, Any], str]:
        params = ctx.params
        if order_type in ALGO_TYPES:
            raise BinanceError(400, -4120, "Order type not supported. Use Algo Order API")
        if order_type not in ("LIMIT", "MARKET"):
            raise BinanceError(400, -1116, "Invalid orderType.")
        reduce_only = self._reduce_only(ctx, side)
        args: dict[str, Any] = {
            "quantity": decimal_param(params, "quantity", required=True),
            "reduce_only": reduce_only,
        }
        if order_type == "LIMIT":
            tif = text_param(params, "timeInForce", required=True) or ""
            if tif not in TIME_IN_FORCE:
                raise BinanceError(400, -1115, "Invalid timeInForce.")
            args |= {
                "type": "limit",
                "time_in_force": TIME_IN_FORCE[tif],
                "price": decimal_param(params, "price", required=True),
            }
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
        if position_side not in ("BOTH", "LONG", "SHORT") or (position_side == "BOTH") == hedge:
            raise BinanceError(400, -4061, "Order's position side does not match user's setting.")
        if hedge:
            if raw is not None:
                raise not_required("reduceOnly")
            return (position_side, side) in (("LONG", "SELL"), ("SHORT", "BUY"))
        return raw == "true"

    def quantity_error(self, instrument: PaperInstrument, quantity: Decimal | None) -> BinanceError:
        if is_valid_lot(instrument, quantity):
            return BinanceError(
                400,
                -4164,
                f"Order's notional must be no smaller than "
                f"{instrument.min_notional} (unless you choose "
                "reduce only).",
            )
        if quantity is None or quantity <= 0:
            return BinanceError(400, -4003, "Quantity less than or equal to zero.")
        if quantity % instrument.lot_size != 0:
            return BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        return BinanceError(400, -4004, "Quantity less than min quantity.")

    def placed(
        self, ctx: Ctx, order: PaperOrder, symbol: str, response_type: str
    ) -> dict[str, Any]:
        side = ctx.params.get("positionSide") or "BOTH"
        self._position_sides[order.order_id] = side
        return futures_order(order, symbol, side, as_accepted=response_type == "ACK")

    def trade_json(
        self, order: PaperOrder, fill: PaperFill, instrument: PaperInstrument
    ) -> dict[str, Any]:
        """{"buyer": false, "commission": "-0.07819010", "commissionAsset": "USDT",
        "id": 698759, "maker": false, "orderId": 25851813, "price": "7819.01", "qty": "0.002",
        "quoteQty": "15.63802", "realizedPnl": "-0.91539999", "side": "SELL",
        "positionSide": "SHORT", "symbol": "BTCUSDT", "time": 1569514978020}"""
        return {
            "buyer": order.side == "buy",
            "commission": futures_number(fill.fee),
            "commissionAsset": fill.fee_asset,
            "id": int(fill.trade_id),
            "maker": fill.maker,
            "orderId": int(order.order_id),
            "price": futures_number(fill.price),
            "qty": futures_number(fill.quantity),
            "quoteQty": futures_number(fill.price * fill.quantity),
            "realizedPnl": "0",
            "side": order.side.upper(),
            "positionSide": self._position_sides.get(order.order_id, "BOTH"),
            "symbol": exchange_symbol(instrument),
            "time": fill.time_ms,
        }

    def order_json(self, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        return futures_order(
            order, exchange_symbol(instrument), self._position_sides.get(order.order_id, "BOTH")
        )

    def canceled(self, ctx: Ctx, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        return self.order_json(order, instrument)

    def all_canceled(self, canceled: list[PaperOrder], instrument: PaperInstrument) -> Any:
        return {"code": 200, "msg": "The operation of cancel all open order is done."}
