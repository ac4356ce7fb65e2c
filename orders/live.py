"""The live session's writes on orders: stream updates and REST snapshots applied to the
order rows, their fills and the connection's ledger, idempotent and order-safe.

- An order update goes through ``order_transition`` (source ``stream``), and only forward:
  a status the order has passed (a late ``open`` after ``filled``) is ignored, the filled
  quantity never shrinks, a repeat changes nothing and records no event.
- A fill is a row of its own, unique per (connection, trade id): a repeat is
  ``ON CONFLICT DO NOTHING``. The order's filled quantity and average price then follow
  from its fills, never below what the exchange's own order update said.
- A fill whose order is not known yet is kept with no order and attached when the order
  is (an order update, a snapshot, or the next fill naming it).
- Every change of one order is made under that order's advisory lock, the one the sender
  and the settlers hold: a stream message about an order on the wire waits until the send's
  own answer is applied, then applies after it.

docs/live-session.md has the whole picture.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.db.models import Max, Q
from django.utils import timezone

from connections.ledger import (
    BalanceFigure,
    PositionFigure,
    ledger_balance_apply,
    ledger_position_apply,
    ledger_snapshot_apply,
    stream_state_write,
)
from connections.models import ExchangeConnection, StreamState
from core.locks import advisory_lock
from core.types import Id, as_uuid
from exchanges import errors
from exchanges.base import Connector, ExchangeOrder
from exchanges.streams.base import (
    BalanceUpdate,
    FillUpdate,
    OrderUpdate,
    PositionUpdate,
    Update,
)
from orders.models import TERMINAL, Fill, Order
from orders.submission import closed_status, order_lock_name
from orders.transitions import ALLOWED, order_transition

log = logging.getLogger(__name__)

# how far along an order is: a message that would move it to a lower rank is stale
RANK = {
    "pending": 0,
    "submitting": 1,
    "unknown": 1,
    "open": 2,
    "partially_filled": 3,
    **{status: 4 for status in TERMINAL},
}
# a snapshot reads back at most this many of our open orders the open list did not show
SNAPSHOT_READ_BACK_LIMIT = 100
# the snapshot's read of recent fills: how many per symbol, how far back at most, and the
# margin before the last known point (clock skew, messages received but not applied)
SNAPSHOT_FILLS_LIMIT = 1000
SNAPSHOT_FILLS_MAX_AGE = timedelta(days=7)
SNAPSHOT_FILLS_DEFAULT_AGE = timedelta(days=1)
SNAPSHOT_FILLS_MARGIN = timedelta(minutes=5)
PRICE_PLACES = Decimal("1e-18")  # the order row's decimal places


class RemoteOrder(Protocol):
    """What an OrderUpdate (stream) and an ExchangeOrder (REST) both say of an order."""

    # read-only members, so frozen dataclasses match
    @property
    def exchange_order_id(self) -> str: ...
    @property
    def client_order_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def raw_status(self) -> str: ...
    @property
    def filled_quantity(self) -> Decimal: ...
    @property
    def average_price(self) -> Decimal | None: ...


@dataclass
class Applied:
    """What one batch of updates changed (for logs and tests)."""

    orders: int = 0
    fills: int = 0
    balances: int = 0
    positions: int = 0
    ignored: int = 0


def _time(ms: int | None) -> datetime:
    if ms is None:
        return timezone.now()
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _order_for(
    connection_id: Id, client_order_id: str | None, exchange_order_id: str | None
) -> Order | None:
    """Our row of an exchange's order: by client id (ours, lower case on BingX), else by the
    exchange's id."""
    orders = Order.objects.filter(connection__pk=connection_id)
    if client_order_id:
        found = orders.filter(
            client_order_id__in={client_order_id, client_order_id.lower()}
        ).first()
        if found is not None:
            return found
    if exchange_order_id:
        return orders.filter(exchange_order_id=exchange_order_id).first()
    return None


# -- orders --------------------------------------------------------------------------------


def _target(order: Order, remote: RemoteOrder | None, filled: Decimal) -> str | None:
    """The status to move to, or None when the message is stale (a status the order has
    passed, or one the transition table does not allow from here). Without ``remote`` (a
    fill) the order's own status, moved on by what its fills add up to."""
    if remote is None:
        status = order.status
    elif isinstance(remote, ExchangeOrder):
        status = closed_status(order, remote)  # Pionex's CLOSED refined
    else:
        status = remote.status
    if status in ("open", "submitting", "unknown") and filled > 0:
        status = "partially_filled"
    if status == "partially_filled" and filled >= order.quantity:
        status = "filled"
    if RANK[status] < RANK[order.status]:
        return None
    if status != order.status and status not in ALLOWED.get(order.status, frozenset()):
        return None
    return status


def _fills_total(order: Order) -> tuple[Decimal, Decimal | None]:
    """The quantity the order's fills add up to, and their volume-weighted price."""
    rows = list(order.fills.values_list("quantity", "price"))
    quantity = sum((q for q, _ in rows), Decimal("0"))
    if not quantity:
        return Decimal("0"), None
    average = sum((q * p for q, p in rows), Decimal("0")) / quantity
    return quantity, average.quantize(PRICE_PLACES)


def _move(order: Order, remote: RemoteOrder | None, source: str, reason: str) -> bool:
    """Bring one order (its lock held) forward to what ``remote`` and its fills say
    (``remote`` None: only its fills). True when the row changed."""
    order.refresh_from_db()
    if order.is_terminal:
        return False
    fills_quantity, fills_price = _fills_total(order)
    told = remote.filled_quantity if remote is not None else Decimal("0")
    filled = min(max(order.filled_quantity, told, fills_quantity), order.quantity)
    status = _target(order, remote, filled)
    if status is None:
        return False
    average: Decimal | None
    if fills_price is not None and fills_quantity >= filled:
        average = fills_price
    else:
        average = (remote.average_price if remote is not None else None) or order.average_price
    exchange_id = order.exchange_order_id or (remote.exchange_order_id if remote else "")
    if (status, filled, average, exchange_id) == (
        order.status,
        order.filled_quantity,
        order.average_price,
        order.exchange_order_id,
    ):
        return False  # a repeat: nothing changes, no event
    data: dict[str, Any] = {"reason": reason}
    if remote is not None and remote.raw_status:
        data["raw_status"] = remote.raw_status
    order_transition(
        order_id=order.pk,
        to_status=status,
        source=source,
        data=data,
        filled_quantity=filled,
        average_price=average,
        exchange_order_id=exchange_id,
    )
    return True


def _attach_fills(order: Order) -> int:
    """Fills that arrived before their order was known, now attached."""
    match = Q(exchange_order_id=order.exchange_order_id) if order.exchange_order_id else Q()
    match |= Q(client_order_id=order.client_order_id)
    return Fill.objects.filter(match, connection_id=order.connection_id, order__isnull=True).update(
        order=order
    )


def order_update_apply(
    *,
    connection_id: Id,
    remote: RemoteOrder,
    source: str = "stream",
    reason: str = "stream order update",
) -> bool:
    """Apply what the exchange says of one order (stream or REST). True when the row
    changed; an order we have no row of is left to orphan detection (orders/reconcile.py)."""
    order = _order_for(connection_id, remote.client_order_id, remote.exchange_order_id)
    if order is None or order.is_terminal:
        return False
    with advisory_lock(order_lock_name(order.pk)):
        if not order.exchange_order_id and remote.exchange_order_id:
            Order.objects.filter(pk=order.pk, exchange_order_id="").update(
                exchange_order_id=remote.exchange_order_id
            )
            order.exchange_order_id = remote.exchange_order_id
        _attach_fills(order)
        return _move(order, remote, source, reason)


# -- fills ---------------------------------------------------------------------------------


def fill_apply(*, connection_id: Id, update: FillUpdate, source: str = "stream") -> bool:
    """Record one fill and bring its order's totals forward. True when the fill was new;
    a repeat (same trade id on this connection) changes nothing."""
    fill, created = Fill.objects.get_or_create(
        connection_id=as_uuid(connection_id),
        trade_id=update.trade_id,
        defaults=_fill_values(connection_id, update, source),
    )
    if not created:
        return False
    if fill.order is not None:
        with advisory_lock(order_lock_name(fill.order.pk)):
            _move(fill.order, None, source, "fill")
    return True


def _fill_values(connection_id: Id, update: FillUpdate, source: str) -> dict[str, Any]:
    order = _order_for(connection_id, update.client_order_id, update.exchange_order_id)
    return {
        "order": order,
        "exchange_order_id": update.exchange_order_id or "",
        "client_order_id": update.client_order_id or "",
        "symbol": update.symbol,
        "side": update.side,
        "price": update.price,
        "quantity": update.quantity,
        "fee": update.fee,
        "fee_asset": update.fee_asset or "",
        "liquidity": update.liquidity or "unknown",
        "traded_at": _time(update.time_ms),
        "source": source,
    }


# -- a batch of stream updates ---------------------------------------------------------------


def updates_apply(
    *, connection_id: Id, updates: Iterable[Update], source: str = "stream"
) -> Applied:
    """Apply one batch of parsed stream updates in their order. A refused update is logged
    and skipped; the rest still apply."""
    applied = Applied()
    for update in updates:
        try:
            _apply_one(connection_id, update, source, applied)
        except Exception:  # one bad update must not stop the stream of the account
            log.exception("stream update not applied on %s: %r", connection_id, update)
            applied.ignored += 1
    return applied


def _apply_one(connection_id: Id, update: Update, source: str, applied: Applied) -> None:
    if isinstance(update, OrderUpdate):
        changed = order_update_apply(connection_id=connection_id, remote=update, source=source)
        applied.orders += changed
    elif isinstance(update, FillUpdate):
        changed = fill_apply(connection_id=connection_id, update=update, source=source)
        applied.fills += changed
    elif isinstance(update, BalanceUpdate):
        changed = ledger_balance_apply(
            connection_id=connection_id,
            figure=BalanceFigure(
                asset=update.asset, free=update.free, locked=update.locked, total=update.total
            ),
            at=_time(update.time_ms),
            source="stream",
        )
        applied.balances += changed
    elif isinstance(update, PositionUpdate):
        changed = ledger_position_apply(
            connection_id=connection_id,
            figure=PositionFigure(
                symbol=update.symbol,
                quantity=update.quantity,
                entry_price=update.entry_price,
                unrealized_pnl=update.unrealized_pnl,
                position_side=update.position_side,
            ),
            at=_time(update.time_ms),
            source="stream",
        )
        applied.positions += changed
    else:
        changed = False
    applied.ignored += not changed


# -- the REST snapshot on every (re)connect --------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    open_orders: int
    read_back: int
    fills: int | None  # None: the connector offers no fills read
    balances: int
    positions: int


def connection_snapshot_reconcile(
    *, connection_id: Id, connector: Connector, symbols: Iterable[str] = ()
) -> Snapshot:
    """Read the account over REST and reconcile it into the rows, before live messages apply
    (the runner buffers them meanwhile): open orders; our open orders the list no longer
    shows, read back one by one (a fill or cancel made while the stream was down); recent
    fills where the connector offers them (``recent_fills``); balances and positions.

    Orders still on the wire (submitting, unknown) are left to their settlers: only what
    the exchange says of them applies, and "not listed" proves nothing."""
    connection = ExchangeConnection.objects.get(pk=connection_id)
    at = _time(connector.now_ms())
    since = fills_since(connection, now=at)  # before this snapshot moves snapshot_at
    listed = _open_orders(connection, connector)
    for remote in listed:
        order_update_apply(
            connection_id=connection_id,
            remote=remote,
            source="reconcile",
            reason="stream snapshot: open orders",
        )
    read_back = _read_back_missing(connection, connector, listed)
    fills = _recent_fills(
        connection, connector, since=since, symbols=_fill_symbols(connection, since, symbols)
    )
    balances = [
        BalanceFigure(asset=b.asset, free=b.free, locked=b.locked, total=b.total)
        for b in connector.balances()
    ]
    positions = [
        PositionFigure(
            symbol=p.symbol,
            quantity=p.quantity,
            entry_price=p.entry_price,
            leverage=p.leverage,
            unrealized_pnl=p.unrealized_pnl,
        )
        for p in connector.positions()
    ]
    ledger_snapshot_apply(
        connection_id=connection_id, balances=balances, positions=positions, at=at
    )
    stream_state_write(connection_id=connection_id, snapshot_at=timezone.now())
    return Snapshot(
        at=at,
        open_orders=len(listed),
        read_back=read_back,
        fills=fills,
        balances=len(balances),
        positions=len(positions),
    )


def _open_orders(connection: ExchangeConnection, connector: Connector) -> list[ExchangeOrder]:
    try:
        return connector.open_orders()
    except errors.NotSupported:  # Pionex spot lists per symbol only
        symbols = sorted(
            set(
                Order.objects.filter(connection=connection)
                .exclude(status__in=TERMINAL)
                .values_list("symbol", flat=True)
            )
        )
        return [found for symbol in symbols for found in connector.open_orders(symbol)]


def _read_back_missing(
    connection: ExchangeConnection, connector: Connector, listed: list[ExchangeOrder]
) -> int:
    """Our open orders the exchange's open list does not show: filled, canceled or expired
    while we were not listening. Each is read back and its state taken."""
    shown_ids = {o.exchange_order_id for o in listed}
    shown_clients = {(o.client_order_id or "").lower() for o in listed}
    missing = [
        order
        for order in Order.objects.filter(
            connection=connection, status__in=("open", "partially_filled")
        ).order_by("-updated_at")[:SNAPSHOT_READ_BACK_LIMIT]
        if order.exchange_order_id not in shown_ids
        and order.client_order_id.lower() not in shown_clients
    ]
    for order in missing:
        found = _lookup(order, connector)
        if found is not None:
            order_update_apply(
                connection_id=connection.pk,
                remote=found,
                source="reconcile",
                reason="stream snapshot: read back",
            )
    return len(missing)


def _lookup(order: Order, connector: Connector) -> ExchangeOrder | None:
    try:
        return connector.get_order(
            order.symbol,
            client_order_id=order.client_order_id,
            exchange_order_id=order.exchange_order_id or None,
        )
    except errors.OrderNotFound:
        return None


def _recent_fills(
    connection: ExchangeConnection, connector: Connector, *, since: datetime, symbols: Iterable[str]
) -> int | None:
    """Fills the exchange lists since ``since`` (our trade history over REST), applied like
    stream fills: a trade id already stored changes nothing. None where the connector reads
    no fills. Per-symbol exchanges are asked for each of ``symbols``. A failed read (other
    than authentication) is logged and leaves the rest of the snapshot to apply: the order
    rows were already brought forward by the read-back."""
    if connector.fills_lookback_ms is None:
        return None
    since_ms = int(since.timestamp() * 1000)
    scopes: list[str | None] = [None]
    if connector.fills_per_symbol:
        scopes = [*sorted(set(symbols))]
    applied = 0
    for symbol in scopes:
        try:
            fills = connector.recent_fills(symbol, since_ms=since_ms, limit=SNAPSHOT_FILLS_LIMIT)
        except errors.AuthenticationError:
            raise
        except errors.ExchangeError as exc:
            log.warning("recent fills of %s on %s not read: %s", connection.pk, symbol, exc)
            continue
        applied += sum(
            fill_apply(connection_id=connection.pk, update=fill, source="reconcile")
            for fill in fills
        )
    return applied


def fills_since(connection: ExchangeConnection, *, now: datetime) -> datetime:
    """Where the gap's fills start at the latest: the previous snapshot (the stream was live
    from then until it dropped), else the newest fill stored, else a day ago; less a margin
    for clock skew and messages received but never applied, and never more than
    SNAPSHOT_FILLS_MAX_AGE back (the connector caps it again at the exchange's lookback)."""
    state = StreamState.objects.filter(connection=connection).first()
    known = state.snapshot_at if state is not None else None
    if known is None:
        known = Fill.objects.filter(connection=connection).aggregate(newest=Max("traded_at"))[
            "newest"
        ]
    if known is None:
        known = now - SNAPSHOT_FILLS_DEFAULT_AGE
    return max(known - SNAPSHOT_FILLS_MARGIN, now - SNAPSHOT_FILLS_MAX_AGE)


def _fill_symbols(
    connection: ExchangeConnection, since: datetime, symbols: Iterable[str]
) -> set[str]:
    """The symbols a per-symbol exchange is asked about: the runner's, our unfinished
    orders', and those of orders that moved since ``since`` (filled during the gap)."""
    orders = Order.objects.filter(connection=connection)
    return (
        set(symbols)
        | set(orders.exclude(status__in=TERMINAL).values_list("symbol", flat=True))
        | set(orders.filter(updated_at__gte=since).values_list("symbol", flat=True))
    )
