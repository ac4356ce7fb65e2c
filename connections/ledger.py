"""The ledger of a connection's account (balances, positions) and its stream's state (writes).

Every ledger row carries the time its figure is true of (``updated_at``: the exchange's
time of a stream update, or the moment a REST snapshot was asked for). An upsert applies
only when it is not older than the row (one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE``),
so a late or reordered message never overwrites a newer figure, and a repeat changes
nothing. The stream runner (workers/user_streams.py) is the only writer of the stream state;
docs/live-session.md describes the whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from connections.models import ConnectionState, LedgerBalance, LedgerPosition, StreamState
from core.types import Id, as_uuid

# one-way positions are BOTH here whatever the exchange calls them
ONE_WAY_SIDES = frozenset({"BOTH", "NET", ""})


@dataclass(frozen=True)
class BalanceFigure:
    asset: str
    free: Decimal | None
    locked: Decimal | None
    total: Decimal | None


@dataclass(frozen=True)
class PositionFigure:
    symbol: str
    quantity: Decimal  # signed, base currency
    entry_price: Decimal | None = None
    leverage: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    position_side: str = "BOTH"


def position_side_of(raw: str) -> str:
    side = (raw or "").upper()
    return "BOTH" if side in ONE_WAY_SIDES else side


def _completed(figure: BalanceFigure) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """free, locked, total with the missing one derived where two are known (Bybit pushes
    the wallet total and what is locked)."""
    free, locked, total = figure.free, figure.locked, figure.total
    if free is None and total is not None and locked is not None:
        free = total - locked
    if total is None and free is not None:
        total = free + (locked or Decimal("0"))
    return free, locked, total


# table names written out (the models' default db_table), so the statements are constants
def _upsert(sql: str, params: list[Any]) -> bool:
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


_BALANCE_UPSERT = """
INSERT INTO connections_ledgerbalance
    (connection_id, asset, free, locked, total, updated_at, source, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (connection_id, asset) DO UPDATE SET
    free = EXCLUDED.free, locked = EXCLUDED.locked, total = EXCLUDED.total,
    updated_at = EXCLUDED.updated_at, source = EXCLUDED.source, recorded_at = now()
WHERE connections_ledgerbalance.updated_at <= EXCLUDED.updated_at
RETURNING id
"""

_POSITION_UPSERT = """
INSERT INTO connections_ledgerposition
    (connection_id, symbol, position_side, quantity, entry_price, leverage, unrealized_pnl,
     updated_at, source, recorded_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())
ON CONFLICT (connection_id, symbol, position_side) DO UPDATE SET
    quantity = EXCLUDED.quantity, entry_price = EXCLUDED.entry_price,
    leverage = COALESCE(EXCLUDED.leverage, connections_ledgerposition.leverage),
    unrealized_pnl = EXCLUDED.unrealized_pnl, updated_at = EXCLUDED.updated_at,
    source = EXCLUDED.source, recorded_at = now()
WHERE connections_ledgerposition.updated_at <= EXCLUDED.updated_at
RETURNING id
"""


def ledger_balance_apply(
    *, connection_id: Id, figure: BalanceFigure, at: datetime, source: str
) -> bool:
    """Upsert one asset unless the row is newer than ``at``; True when it was written."""
    free, locked, total = _completed(figure)
    return _upsert(_BALANCE_UPSERT, [connection_id, figure.asset, free, locked, total, at, source])


def ledger_position_apply(
    *, connection_id: Id, figure: PositionFigure, at: datetime, source: str
) -> bool:
    """Upsert one position unless the row is newer than ``at``; True when it was written.
    A flat position is kept with quantity 0."""
    entry = figure.entry_price if figure.quantity != 0 else None
    return _upsert(
        _POSITION_UPSERT,
        [
            connection_id,
            figure.symbol,
            position_side_of(figure.position_side),
            figure.quantity,
            entry,
            figure.leverage,
            figure.unrealized_pnl,
            at,
            source,
        ],
    )


def ledger_snapshot_apply(
    *,
    connection_id: Id,
    balances: Iterable[BalanceFigure],
    positions: Iterable[PositionFigure],
    at: datetime,
) -> None:
    """A REST snapshot taken at ``at`` is the whole account then: what it lists is upserted,
    and rows it does not list (an asset spent to nothing, a closed position) go to zero,
    unless a newer update already told otherwise."""
    balances, positions = list(balances), list(positions)
    with transaction.atomic():
        for balance in balances:
            ledger_balance_apply(connection_id=connection_id, figure=balance, at=at, source="rest")
        LedgerBalance.objects.filter(connection__pk=connection_id, updated_at__lte=at).exclude(
            asset__in=[balance.asset for balance in balances]
        ).update(
            free=Decimal("0"),
            locked=Decimal("0"),
            total=Decimal("0"),
            updated_at=at,
            source="rest",
            recorded_at=timezone.now(),
        )
        listed = set()
        for position in positions:
            ledger_position_apply(
                connection_id=connection_id, figure=position, at=at, source="rest"
            )
            listed.add((position.symbol, position_side_of(position.position_side)))
        for row in LedgerPosition.objects.filter(
            connection__pk=connection_id, updated_at__lte=at
        ).exclude(quantity=0):
            if (row.symbol, row.position_side) not in listed:
                LedgerPosition.objects.filter(pk=row.pk, updated_at__lte=at).update(
                    quantity=Decimal("0"),
                    entry_price=None,
                    unrealized_pnl=None,
                    updated_at=at,
                    source="rest",
                    recorded_at=timezone.now(),
                )


# -- the stream's state ---------------------------------------------------------------------


def stream_state_write(*, connection_id: Id, **fields: Any) -> None:
    """Set fields of the connection's stream state (the row is created on first write)."""
    updated = StreamState.objects.filter(connection__pk=connection_id).update(
        **fields, updated_at=timezone.now()
    )
    if not updated:
        StreamState.objects.get_or_create(connection_id=as_uuid(connection_id), defaults=fields)
        StreamState.objects.filter(connection__pk=connection_id).update(**fields)


def stream_alive(*, connection_id: Id, at: datetime) -> None:
    """A message arrived at ``at``: the stream's last message, and the connection's
    heartbeat (a live stream counts as one, DESIGN section 14)."""
    stream_state_write(connection_id=connection_id, last_message_at=at)
    ConnectionState.objects.filter(connection__pk=connection_id).update(last_heartbeat_at=at)
