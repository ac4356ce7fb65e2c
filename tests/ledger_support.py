"""A connection made live the way the stream runner leaves it (state connected, a snapshot
after the connect, a fresh message, the lease held), with ledger rows as a stream or a
snapshot writes them, and the market caches warm: for tests of what reads the ledger, without
running a stream."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.utils import timezone

from connections.ledger import (
    BalanceFigure,
    PositionFigure,
    ledger_balance_apply,
    ledger_position_apply,
    stream_state_write,
)
from connections.models import ExchangeConnection
from connections.selectors import STREAM_LEASE_PREFIX
from core.redis import redis_client
from exchanges.base import Instrument, Ticker
from exchanges.symbols import parse_symbol
from orders import market_data
from orders.prechecks import INSTRUMENT_CACHE_SECONDS, _instrument_dict, _instruments_key

HOLDER = "test-runner"


def make_live(connection: ExchangeConnection, *, at: datetime | None = None) -> datetime:
    """Connected since a second ago, snapshot in, a message now, our lease held."""
    now = at or timezone.now()
    stream_state_write(
        connection_id=connection.pk,
        state="connected",
        since=now - timedelta(seconds=1),
        snapshot_at=now - timedelta(milliseconds=500),
        last_message_at=now,
        holder=HOLDER,
    )
    redis_client().set(f"{STREAM_LEASE_PREFIX}{connection.pk}", HOLDER, px=60_000)
    return now


def balance(
    connection: ExchangeConnection,
    asset: str,
    *,
    free: str | None = None,
    locked: str | None = None,
    total: str | None = None,
    source: str = "stream",
    at: datetime | None = None,
) -> None:
    figure = BalanceFigure(
        asset=asset,
        free=None if free is None else Decimal(free),
        locked=None if locked is None else Decimal(locked),
        total=None if total is None else Decimal(total),
    )
    ledger_balance_apply(
        connection_id=connection.pk,
        figure=figure,
        at=at or timezone.now() - timedelta(seconds=2),
        source=source,
    )


def position(
    connection: ExchangeConnection,
    symbol: str,
    quantity: str,
    *,
    entry: str | None = None,
    leverage: str | None = None,
    pnl: str | None = None,
    side: str = "BOTH",
    source: str = "stream",
) -> None:
    ledger_position_apply(
        connection_id=connection.pk,
        figure=PositionFigure(
            symbol=symbol,
            quantity=Decimal(quantity),
            entry_price=None if entry is None else Decimal(entry),
            leverage=None if leverage is None else Decimal(leverage),
            unrealized_pnl=None if pnl is None else Decimal(pnl),
            position_side=side,
        ),
        at=timezone.now() - timedelta(seconds=2),
        source=source,
    )


def warm(
    connection: ExchangeConnection,
    symbol: str,
    *,
    last: str = "60000",
    tick: str = "0.1",
    lot: str = "0.0001",
    position_mode_hedge: bool = False,
) -> None:
    """The caches the runner keeps: the instrument, a ticker at ``last`` (bid = ask =
    last), the position mode."""
    market = parse_symbol(symbol)
    instrument = Instrument(
        symbol=symbol,
        exchange_symbol=symbol,
        base=market.base,
        quote=market.quote,
        kind="linear" if market.is_perpetual else "spot",
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
    )
    cache.set(
        _instruments_key(connection),
        json.dumps([_instrument_dict(instrument)]),
        INSTRUMENT_CACHE_SECONDS,
    )
    price = Decimal(last)
    market_data.ticker_store(
        connection=connection, ticker=Ticker(symbol=symbol, bid=price, ask=price, last=price)
    )
    market_data.position_mode_store(connection_id=connection.pk, hedge=position_mode_hedge)
