"""Checks an order passes inside the request, before any row exists: instrument, sizing,
risk limits, position mode, reduce-only positions and margin. A refusal raises; nothing is
saved or sent.

What they read comes through an ``AccountView``: the ledger and the shared caches while the
connection's stream is live (``LedgerView``: no exchange call when the caches are warm), the
exchange otherwise (``RestView``: each read retried on a transient failure)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

from django.core.cache import cache
from django.utils import timezone

from connections.models import ExchangeConnection
from connections.selectors import Ledger
from core.errors import Unprocessable
from exchanges import errors
from exchanges.base import Connector, Instrument, Ticker
from exchanges.symbols import parse_symbol
from orders import margin, market_data

INSTRUMENT_CACHE_SECONDS = 300
MARKET_SLIPPAGE = Decimal("0.005")  # buffer on the ticker price for market orders
OPEN_STATUSES = margin.OPEN_STATUSES


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
    reference_price: Decimal  # the price the risk and margin checks use


def _instruments_key(connection: ExchangeConnection) -> str:
    return (
        f"ec:instruments:{connection.exchange}:{connection.environment}:"
        f"{connection.api_type}:{connection.base_url}"
    )


def instrument_for(
    *, connection: ExchangeConnection, connector: Connector, symbol: str
) -> Instrument:
    """The symbol's instrument, from a 5-minute Redis cache of the exchange's list (read
    from the exchange when the cache is cold)."""
    instrument = instrument_cached(connection=connection, symbol=symbol)
    if instrument is not None:
        return instrument
    instruments_refresh(connection=connection, connector=connector)
    instrument = instrument_cached(connection=connection, symbol=symbol)
    assert instrument is not None
    return instrument


def _instrument_dict(instrument: Instrument) -> dict[str, str]:
    return {name: str(getattr(instrument, name)) for name in Instrument.__dataclass_fields__}


def _instrument_of(item: dict[str, str]) -> Instrument:
    decimals = ("tick_size", "lot_size", "min_quantity", "min_notional", "contract_value")
    fields: dict[str, Any] = {
        name: Decimal(value) if name in decimals else value for name, value in item.items()
    }
    return Instrument(**fields)


def size_order(
    *,
    instrument: Instrument,
    ticker: Ticker,
    side: str,
    order_type: str,
    requested: Decimal,
    factor: Decimal,
    price: Decimal | None,
) -> Sized:
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
            f"minimum {instrument.min_quantity}",
            code="below_minimum",
            fields={"quantity": ["below the minimum"]},
        )
    if instrument.min_notional and quantity * reference < instrument.min_notional:
        raise Unprocessable(
            f"notional {quantity * reference:.8f} is below the minimum {instrument.min_notional}",
            code="below_minimum",
            fields={"quantity": ["below the minimum notional"]},
        )
    return Sized(quantity=quantity, price=price, reference_price=reference)


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def check_risk(
    *, connection: ExchangeConnection, sized: Sized, ticker: Ticker, order_type: str
) -> None:
    notional = sized.quantity * sized.reference_price
    if connection.max_order_notional is not None and notional > connection.max_order_notional:
        raise RiskLimit(
            f"order notional {notional:.2f} exceeds the connection's limit "
            f"{connection.max_order_notional}",
            extra={
                "limit": "max_order_notional",
                "value": str(notional),
                "maximum": str(connection.max_order_notional),
            },
        )
    if connection.max_open_orders is not None:
        open_count = connection.orders.filter(status__in=OPEN_STATUSES).count()
        if open_count >= connection.max_open_orders:
            raise RiskLimit(
                f"the connection already has {open_count} open orders",
                extra={
                    "limit": "max_open_orders",
                    "value": str(open_count),
                    "maximum": str(connection.max_open_orders),
                },
            )
    band = connection.price_band_percent
    if order_type == "limit" and band is not None and ticker.last > 0:
        distance = abs(sized.reference_price - ticker.last) / ticker.last * 100
        if distance > band:
            raise RiskLimit(
                f"limit price is {distance:.2f}% from the last price "
                f"{ticker.last}; the band is {band}%",
                extra={
                    "limit": "price_band_percent",
                    "value": f"{distance:.4f}",
                    "maximum": str(band),
                },
            )


class NoPositionToReduce(Unprocessable):
    code = "no_position_to_reduce"


# a REST read of the pre-checks that fails (a 5xx, a reset) is tried again this often,
# after these pauses: one failed read must not refuse the order
READ_TRIES = 3
READ_BACKOFF_SECONDS = (0.05, 0.2)
T = TypeVar("T")


def read_retrying(read: Callable[[], T]) -> T:
    """One exchange read, tried READ_TRIES times on the failures a read may be retried for
    (ExchangeUnavailable, NetworkError). A rate-limit answer is not retried here."""
    for attempt in range(READ_TRIES):
        try:
            return read()
        except (errors.ExchangeUnavailable, errors.NetworkError):
            if attempt == READ_TRIES - 1:
                raise
            time.sleep(READ_BACKOFF_SECONDS[min(attempt, len(READ_BACKOFF_SECONDS) - 1)])
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Figure:
    """An asset's available amount as the exchange or the ledger tells it. ``at``: when it
    was true; ``derived``: computed from the wallet (the exchange's own figure was not in
    the update), so no open order of ours is in it yet."""

    value: Decimal
    at: datetime | None
    derived: bool = False


class AccountView:
    """What the pre-checks read of an account and its market: the exchange (RestView) or
    the ledger and the shared caches (LedgerView). ``rest_reads`` names the reads that
    went to the exchange."""

    source = "rest"

    def __init__(self, connection: ExchangeConnection, connector: Connector) -> None:
        self.connection = connection
        self.connector = connector
        self.rest_reads: list[str] = []

    def report(self) -> dict[str, Any]:
        """What the order's first event says of its pre-checks."""
        data: dict[str, Any] = {"prechecks": self.source}
        if self.source == "ledger" and self.rest_reads:
            data["rest_reads"] = self.rest_reads
        return data

    def _rest(self, name: str, read: Callable[[], T]) -> T:
        self.rest_reads.append(name)
        return read_retrying(read)

    def instrument(self, symbol: str) -> Instrument:
        instrument = instrument_cached(connection=self.connection, symbol=symbol)
        if instrument is not None:
            return instrument
        return self._rest(
            "instruments",
            lambda: instrument_for(
                connection=self.connection, connector=self.connector, symbol=symbol
            ),
        )

    def ticker(self, symbol: str) -> Ticker:
        ticker = self._rest("ticker", lambda: self.connector.ticker(symbol))
        market_data.ticker_store(connection=self.connection, ticker=ticker)
        return ticker

    def hedge_mode(self) -> bool:
        return self._rest(
            "position_mode",
            lambda: market_data.position_mode_read(
                connection_id=self.connection.pk, connector=self.connector
            ),
        )

    def figure(self, asset: str) -> Figure:
        at = timezone.now()  # orders sent before the read are in the exchange's figure
        balances = self._rest("balances", self.connector.balances)
        free = {balance.asset: balance.free for balance in balances}
        return Figure(value=free.get(asset, Decimal("0")), at=at)

    def position(self, symbol: str) -> Decimal:
        positions = self._rest("positions", lambda: self.connector.positions(symbol))
        return sum((p.quantity for p in positions if p.symbol == symbol), Decimal("0"))

    def price_of(self, symbol: str, side: str) -> Decimal | None:
        """A price to value a market order in flight at: the cached touch plus slippage."""
        cached = market_data.ticker_cached(connection=self.connection, symbol=symbol)
        if cached is None:
            return None
        if side == "buy":
            return cached.ticker.ask * (1 + MARKET_SLIPPAGE)
        return cached.ticker.bid * (1 - MARKET_SLIPPAGE)


class RestView(AccountView):
    """The stream is not live: every figure is read from the exchange now."""

    def instrument(self, symbol: str) -> Instrument:
        return read_retrying(
            lambda: instrument_for(
                connection=self.connection, connector=self.connector, symbol=symbol
            )
        )


class LedgerView(AccountView):
    """The stream is live: balances and positions from the ledger, the ticker, instruments
    and position mode from the shared caches the runner keeps warm. A cold cache costs one
    REST read, named in ``rest_reads``."""

    source = "ledger"

    def __init__(
        self, connection: ExchangeConnection, connector: Connector, ledger: Ledger
    ) -> None:
        super().__init__(connection, connector)
        self.ledger = ledger

    def ticker(self, symbol: str) -> Ticker:
        cached = market_data.ticker_cached(connection=self.connection, symbol=symbol)
        return cached.ticker if cached is not None else super().ticker(symbol)

    def hedge_mode(self) -> bool:
        if any(p.position_side in ("LONG", "SHORT") and p.quantity for p in self.ledger.positions):
            return True
        cached = market_data.position_mode_cached(connection_id=self.connection.pk)
        return cached[0] if cached is not None else super().hedge_mode()

    def figure(self, asset: str) -> Figure:
        row = self.ledger.balances.get(asset)
        if row is None:  # the snapshot is the whole account: an asset it lacks is zero
            return Figure(value=Decimal("0"), at=self.ledger.stream.snapshot_at)
        kind = "linear" if self.connection.api_type == "perpetual_futures" else "spot"
        rule = margin.rule_of(self.connection.exchange, kind)
        if row.source == "rest" or (rule.stream_carries_available and row.free is not None):
            return Figure(value=row.free or Decimal("0"), at=row.updated_at)
        wallet = row.free if row.free is not None else (row.total or Decimal("0"))
        held = margin.positions_hold(
            margin.PositionMargin(p.quantity, p.entry_price, p.leverage, p.unrealized_pnl)
            for p in self.ledger.positions
            if parse_symbol(p.symbol).is_perpetual and parse_symbol(p.symbol).quote == asset
        )
        return Figure(value=wallet - held, at=row.updated_at, derived=True)

    def position(self, symbol: str) -> Decimal:
        if not margin.rule_for(self.connection.exchange, symbol).stream_carries_positions:
            return super().position(symbol)  # the ledger's is the last snapshot's
        return sum((p.quantity for p in self.ledger.positions if p.symbol == symbol), Decimal("0"))


def instrument_cached(*, connection: ExchangeConnection, symbol: str) -> Instrument | None:
    """The symbol's instrument from the shared cache, or None when the cache is cold."""
    cached = cache.get(_instruments_key(connection))
    if cached is None:
        return None
    for item in json.loads(cached):
        if item["symbol"] == symbol:
            return _instrument_of(item)
    raise Unprocessable(
        f"{symbol} is not traded on this connection",
        code="symbol_not_traded",
        fields={"symbol": ["unknown symbol"]},
    )


def instruments_refresh(*, connection: ExchangeConnection, connector: Connector) -> int:
    """Read the exchange's instrument list into the shared cache; how many it lists."""
    instruments = connector.instruments()
    cache.set(
        _instruments_key(connection),
        json.dumps([_instrument_dict(i) for i in instruments]),
        INSTRUMENT_CACHE_SECONDS,
    )
    return len(instruments)


def check_margin(
    *,
    view: AccountView,
    symbol: str,
    side: str,
    sized: Sized,
    leverage: int | None,
    reduce_only: bool,
) -> None:
    """Spot buy: quote for quantity x price plus the taker fee; spot sell: the base
    quantity; perpetual: quantity x price / leverage plus the fee (reduce-only needs none).
    Against the available figure less what our open orders hold that it may not count
    (orders/margin.py)."""
    connection = view.connection
    if parse_symbol(symbol).is_perpetual and reduce_only:
        return
    rule = margin.rule_for(connection.exchange, symbol)
    need = margin.order_need(
        symbol=symbol,
        side=side,
        quantity=sized.quantity,
        price=sized.reference_price,
        leverage=leverage,
        fee=rule.taker_fee,
    )
    figure = view.figure(need.asset)
    orders = margin.orders_to_count(
        connection.orders.all(), figure_at=figure.at, derived=figure.derived
    )

    def counts(order: Any) -> bool:
        return figure.derived or margin.not_yet_counted(order, figure_at=figure.at)

    held = margin.reserved(
        orders,
        asset=need.asset,
        exchange=connection.exchange,
        price_of=view.price_of,
        counts=counts,
    )
    available = figure.value - held
    if available < need.amount:
        required_text, available_text = _plain(need.amount), _plain(available)
        raise InsufficientMargin(
            f"{need.asset} available {available_text} is less than the {required_text} "
            f"this order needs",
            extra={
                "required": required_text,
                "available": available_text,
                "asset": need.asset,
                "reserved": _plain(held),
            },
        )


def check_reduce_only(
    *, view: AccountView, symbol: str, side: str, quantity: Decimal, reduce_only: bool
) -> None:
    """A reduce-only perpetual order needs an opposite position at least its size (a sell
    a long, a buy a short). Spot orders are left to the connector, which refuses them."""
    if not reduce_only or not parse_symbol(symbol).is_perpetual:
        return
    position = view.position(symbol)
    held = position if side == "sell" else -position
    if held < quantity:
        wanted = "long" if side == "sell" else "short"
        raise NoPositionToReduce(
            f"a reduce-only {side} of {_plain(quantity)} needs a {wanted} position of at "
            f"least that; the position is {_plain(position)}",
            extra={"position": _plain(position), "quantity": _plain(quantity)},
        )


def check_position_mode(*, view: AccountView, symbol: str) -> None:
    if parse_symbol(symbol).is_perpetual and view.hedge_mode():
        raise HedgeModeRefused(
            "the account is in hedge (two-way) position mode; switch it "
            "to one-way mode to trade here"
        )


def _plain(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.00000001")).normalize(), "f")


def order_request_hash(payload: dict[str, Any]) -> str:
    import hashlib

    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
