"""Checks an order passes inside the request, before any row exists: instrument, sizing,
risk limits, margin and position mode. A refusal raises; nothing is saved or sent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from django.core.cache import cache

from connections.models import ExchangeConnection
from core.errors import Unprocessable
from exchanges.base import Connector, Instrument, Ticker
from exchanges.symbols import parse_symbol

INSTRUMENT_CACHE_SECONDS = 300
FEE_RATE = Decimal("0.001")          # taker fee assumed by the margin check
MARKET_SLIPPAGE = Decimal("0.005")   # buffer on the ticker price for market orders
OPEN_STATUSES = ("pending", "submitting", "unknown", "open", "partially_filled")


class RiskLimit(Unprocessable):
    code = "risk_limit"
    field_extras = ("limit",)  # the connection field whose limit the order breaks


class InsufficientMargin(Unprocessable):
    code = "insufficient_margin"


class HedgeModeRefused(Unprocessable):
    code = "hedge_mode_unsupported"


@dataclass(frozen=True)
class Sized:
    quantity: Decimal
    price: Decimal | None
    reference_price: Decimal   # the price the risk and margin checks use


def instrument_for(*, connection: ExchangeConnection, connector: Connector,
                   symbol: str) -> Instrument:
    """The symbol's instrument, from a 5-minute Redis cache of the exchange's list."""
    key = (f"ec:instruments:{connection.exchange}:{connection.environment}:"
           f"{connection.api_type}:{connection.base_url}")
    cached = cache.get(key)
    if cached is None:
        instruments = connector.instruments()
        cached = json.dumps([_instrument_dict(i) for i in instruments])
        cache.set(key, cached, INSTRUMENT_CACHE_SECONDS)
    for item in json.loads(cached):
        if item["symbol"] == symbol:
            return _instrument_of(item)
    raise Unprocessable(f"{symbol} is not traded on this connection",
                        code="symbol_not_traded", fields={"symbol": ["unknown symbol"]})


def _instrument_dict(instrument: Instrument) -> dict[str, str]:
    return {name: str(getattr(instrument, name)) for name in Instrument.__dataclass_fields__}


def _instrument_of(item: dict[str, str]) -> Instrument:
    decimals = ("tick_size", "lot_size", "min_quantity", "min_notional", "contract_value")
    fields: dict[str, Any] = {name: Decimal(value) if name in decimals else value
                              for name, value in item.items()}
    return Instrument(**fields)


def size_order(*, instrument: Instrument, ticker: Ticker, side: str, order_type: str,
               requested: Decimal, factor: Decimal, price: Decimal | None) -> Sized:
    """Quantity x factor rounded down to the lot; a limit price rounded to the tick on the
    safe side (buys down, sells up); minimums checked."""
    quantity = _floor_to(requested * factor, instrument.lot_size)
    if order_type == "limit":
        assert price is not None
        rounding = ROUND_FLOOR if side == "buy" else ROUND_CEILING
        price = (price / instrument.tick_size).to_integral_value(rounding) * instrument.tick_size
        reference = price
    else:
        price = None
        touch = ticker.ask if side == "buy" else ticker.bid
        reference = touch * (1 + MARKET_SLIPPAGE if side == "buy" else 1 - MARKET_SLIPPAGE)
    if quantity <= 0 or quantity < instrument.min_quantity:
        raise Unprocessable(
            f"quantity {quantity} after the volume factor and lot rounding is below the "
            f"minimum {instrument.min_quantity}", code="below_minimum",
            fields={"quantity": ["below the minimum"]})
    if instrument.min_notional and quantity * reference < instrument.min_notional:
        raise Unprocessable(
            f"notional {quantity * reference:.8f} is below the minimum "
            f"{instrument.min_notional}", code="below_minimum",
            fields={"quantity": ["below the minimum notional"]})
    return Sized(quantity=quantity, price=price, reference_price=reference)


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def check_risk(*, connection: ExchangeConnection, sized: Sized, ticker: Ticker,
               order_type: str) -> None:
    notional = sized.quantity * sized.reference_price
    if connection.max_order_notional is not None and notional > connection.max_order_notional:
        raise RiskLimit(f"order notional {notional:.2f} exceeds the connection's limit "
                        f"{connection.max_order_notional}",
                        extra={"limit": "max_order_notional", "value": str(notional),
                               "maximum": str(connection.max_order_notional)})
    if connection.max_open_orders is not None:
        open_count = connection.orders.filter(status__in=OPEN_STATUSES).count()
        if open_count >= connection.max_open_orders:
            raise RiskLimit(f"the connection already has {open_count} open orders",
                            extra={"limit": "max_open_orders", "value": str(open_count),
                                   "maximum": str(connection.max_open_orders)})
    band = connection.price_band_percent
    if order_type == "limit" and band is not None and ticker.last > 0:
        distance = abs(sized.reference_price - ticker.last) / ticker.last * 100
        if distance > band:
            raise RiskLimit(f"limit price is {distance:.2f}% from the last price "
                            f"{ticker.last}; the band is {band}%",
                            extra={"limit": "price_band_percent", "value": f"{distance:.4f}",
                                   "maximum": str(band)})


def check_margin(*, connector: Connector, symbol: str, side: str, sized: Sized,
                 leverage: int | None, reduce_only: bool) -> None:
    """Spot buy: quote for quantity x price plus fees; spot sell: the base quantity;
    perpetual: quantity x price / leverage plus fees (reduce-only needs none)."""
    market = parse_symbol(symbol)
    if market.is_perpetual and reduce_only:
        return
    free = {balance.asset: balance.free for balance in connector.balances()}
    notional = sized.quantity * sized.reference_price
    if not market.is_perpetual and side == "sell":
        required, asset = sized.quantity, market.base
    elif market.is_perpetual:
        required, asset = notional / Decimal(leverage or 1) + notional * FEE_RATE, market.quote
    else:
        required, asset = notional * (1 + FEE_RATE), market.quote
    available = free.get(asset, Decimal("0"))
    if available < required:
        raise InsufficientMargin(
            # the message and the fields spell each amount the same way (_plain)
            f"{asset} available {_plain(available)} is less than the {_plain(required)} "
            "this order needs",
            extra={"required": _plain(required), "available": _plain(available),
                   "asset": asset})


def check_position_mode(*, connector: Connector, symbol: str) -> None:
    if parse_symbol(symbol).is_perpetual and connector.is_hedge_mode():
        raise HedgeModeRefused("the account is in hedge (two-way) position mode; switch it "
                               "to one-way mode to trade here")


def _plain(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")


def order_request_hash(payload: dict[str, Any]) -> str:
    import hashlib

    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
