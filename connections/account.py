"""A connection's balances and positions as the API shows them: from the ledger while its
stream is live (``selectors.ledger_if_live``), else read from the exchange now.

Each row says when its figure was last told (``as_of``: the exchange's time of the stream
update, or of the REST snapshot) and its age. The whole says its source and the moment it
is known true as of: the read's, or, from a live stream, its last message or heartbeat
(nothing changed since, or the stream would have said).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from connections.health import connection_exchange_call
from connections.models import ExchangeConnection
from connections.selectors import ledger_if_live


@dataclass(frozen=True)
class BalanceRow:
    asset: str
    free: Decimal | None  # None: the stream told only the wallet (Binance USD-M, BingX)
    locked: Decimal | None
    total: Decimal | None
    as_of: datetime
    age_ms: int


@dataclass(frozen=True)
class PositionRow:
    symbol: str
    quantity: Decimal
    entry_price: Decimal | None
    leverage: Decimal | None
    unrealized_pnl: Decimal | None
    mark_price: Decimal | None
    as_of: datetime
    age_ms: int


@dataclass(frozen=True)
class AccountRead:
    source: str  # ledger | exchange
    as_of: datetime  # known true as of: the read, or the stream's last message
    age_ms: int
    balances: tuple[BalanceRow, ...] = ()
    positions: tuple[PositionRow, ...] = ()


def _age_ms(now: datetime, at: datetime) -> int:
    return max(0, int((now - at).total_seconds() * 1000))


def _from_ledger(last_message_at: datetime | None, now: datetime, **rows: tuple) -> AccountRead:
    as_of = last_message_at or now  # a live stream has one (ledger_if_live)
    return AccountRead(source="ledger", as_of=as_of, age_ms=_age_ms(now, as_of), **rows)


def connection_balances(*, connection: ExchangeConnection) -> AccountRead:
    """Non-zero balances: the ledger's while live, else the exchange's."""
    ledger = ledger_if_live(connection=connection)
    now = timezone.now()
    if ledger is not None:
        rows = tuple(
            BalanceRow(
                asset=row.asset,
                free=row.free,
                locked=row.locked,
                total=row.total,
                as_of=row.updated_at,
                age_ms=_age_ms(now, row.updated_at),
            )
            for row in sorted(ledger.balances.values(), key=lambda r: r.asset)
            if row.total or row.free or row.locked
        )
        return _from_ledger(ledger.stream.last_message_at, now, balances=rows)
    read = connection_exchange_call(
        connection=connection, call=lambda connector: connector.balances()
    )
    return AccountRead(
        source="exchange",
        as_of=now,
        age_ms=0,
        balances=tuple(
            BalanceRow(
                asset=b.asset, free=b.free, locked=b.locked, total=b.total, as_of=now, age_ms=0
            )
            for b in read
        ),
    )


def connection_positions(*, connection: ExchangeConnection) -> AccountRead:
    """Open positions (signed base quantity): the ledger's while live, else the exchange's.
    Spot connections have none."""
    ledger = ledger_if_live(connection=connection)
    now = timezone.now()
    if ledger is not None:
        rows = tuple(
            PositionRow(
                symbol=p.symbol,
                quantity=p.quantity,
                entry_price=p.entry_price,
                leverage=p.leverage,
                unrealized_pnl=p.unrealized_pnl,
                mark_price=None,
                as_of=p.updated_at,
                age_ms=_age_ms(now, p.updated_at),
            )
            for p in ledger.positions
            if p.quantity
        )
        return _from_ledger(ledger.stream.last_message_at, now, positions=rows)
    read = connection_exchange_call(
        connection=connection, call=lambda connector: connector.positions()
    )
    return AccountRead(
        source="exchange",
        as_of=now,
        age_ms=0,
        positions=tuple(
            PositionRow(
                symbol=p.symbol,
                quantity=p.quantity,
                entry_price=p.entry_price,
                leverage=p.leverage,
                unrealized_pnl=p.unrealized_pnl,
                mark_price=p.mark_price,
                as_of=now,
                age_ms=0,
            )
            for p in read
        ),
    )
