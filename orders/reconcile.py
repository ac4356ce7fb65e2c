"""Reconciliation (beat every minute, and at worker start): the database and the
exchanges agree again after lost answers, dead workers and orders placed elsewhere."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from connections.models import ExchangeConnection
from connections.services import connection_connector
from core.types import Id
from exchanges import errors
from orders.models import Order, OrderEvent

ORPHAN_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class Reconciliation:
    """What one run handed to tasks, by kind of work."""

    pending_resubmitted: int
    settling: int
    refreshing: int
    cancels_redriven: int


def orders_reconcile() -> Reconciliation:
    """Fan out the work; each order is settled by its own task."""
    from orders.tasks import cancel_task, refresh_task, settle_task, submit_task

    now = timezone.now()
    untouched_since = now - timedelta(seconds=settings.ORDER_PENDING_STALE_SECONDS)
    stale_pending = list(
        Order.objects.filter(status="pending", updated_at__lt=untouched_since).values_list(
            "pk", flat=True
        )
    )
    for pk in stale_pending:
        submit_task.apply_async(args=[str(pk)], priority=0)
    # staleness is judged from the last send: a claim or an event says nothing of the wire
    sent_before = now - timedelta(seconds=settings.ORDER_SUBMITTING_STALE_SECONDS)
    unsettled = list(Order.objects.filter(status="unknown").values_list("pk", flat=True)) + list(
        Order.objects.filter(status="submitting")
        .filter(
            Q(last_sent_at__lt=sent_before)
            | Q(last_sent_at__isnull=True, updated_at__lt=sent_before)
        )
        .values_list("pk", flat=True)
    )
    for pk in unsettled:
        settle_task.apply_async(args=[str(pk)], priority=1)
    open_ids = list(
        Order.objects.filter(status__in=("open", "partially_filled"))
        .order_by(F("refreshed_at").asc(nulls_first=True), "created_at")
        .values_list("pk", flat=True)[: settings.ORDER_OPEN_REFRESH_LIMIT]
    )
    Order.objects.filter(pk__in=open_ids).update(refreshed_at=now)
    for pk in open_ids:
        refresh_task.apply_async(args=[str(pk)], priority=4)
    cancels = list(
        Order.objects.filter(
            cancel_requested=True, status__in=("open", "partially_filled")
        ).values_list("pk", flat=True)
    )
    for pk in cancels:
        cancel_task.apply_async(args=[str(pk)], priority=0)
    return Reconciliation(
        pending_resubmitted=len(stale_pending),
        settling=len(unsettled),
        refreshing=len(open_ids),
        cancels_redriven=len(cancels),
    )


def order_reconcile(*, order_id: uuid.UUID | str) -> str:
    """Bring one order up to date now (an operator asked: the admin, the command line):
    a submitting or unknown order is settled, an open one read back, a pending one handed
    to the submit task again; a settled one is left. Returns what was done, in words.
    Exchange errors are raised (the caller reports them)."""
    from orders.submission import order_refresh, order_settle
    from orders.tasks import submit_task

    order = Order.objects.get(pk=order_id)
    if order.status == "pending":
        submit_task.apply_async(args=[str(order.pk)], priority=0)
        return "pending: submit queued"
    if order.status in ("submitting", "unknown"):
        outcome = order_settle(order_id=order.pk, source="reconcile")
    elif order.status in ("open", "partially_filled"):
        outcome = order_refresh(order_id=order.pk, source="reconcile")
    else:
        return f"{order.status}: settled, nothing to do"
    now = Order.objects.get(pk=order.pk).status
    if outcome.status == "busy":
        return f"{now}: another worker holds it; try again shortly"
    return f"{order.status} -> {now}" if now != order.status else f"{now}: unchanged"


def orphans_record(*, connection_id: Id) -> int:
    """Exchange orders carrying our client-id prefix with no row: recorded and flagged.
    Checks the symbols this connection traded in the last ORPHAN_LOOKBACK_DAYS."""
    connection = ExchangeConnection.objects.get(pk=connection_id)
    since = timezone.now() - timedelta(days=ORPHAN_LOOKBACK_DAYS)
    symbols = set(
        Order.objects.filter(connection=connection, created_at__gte=since).values_list(
            "symbol", flat=True
        )
    )
    prefix = settings.CLIENT_ORDER_ID_PREFIX.lower()
    connector = connection_connector(connection=connection)
    recorded = 0
    for symbol in sorted(symbols):
        try:
            found = connector.open_orders(symbol)
        except errors.ExchangeError:
            continue
        for remote in found:
            client_id = (remote.client_order_id or "").lower()
            if (
                not client_id.startswith(prefix)
                or Order.objects.filter(connection=connection, client_order_id=client_id).exists()
            ):
                continue
            _record_orphan(connection, remote, client_id)
            recorded += 1
    return recorded


def _record_orphan(connection: ExchangeConnection, remote: Any, client_id: str) -> None:
    order = Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=client_id,
        request_hash="",
        symbol=remote.symbol,
        side=remote.side,
        type=remote.type,
        requested_quantity=remote.quantity,
        volume_factor=1,
        quantity=remote.quantity,
        price=remote.price,
        status=remote.status,
        exchange_order_id=remote.exchange_order_id,
        filled_quantity=remote.filled_quantity,
        average_price=remote.average_price,
        flagged=True,
        flag_reason="on the exchange with our prefix but no row here",
    )
    OrderEvent.objects.create(
        order=order, to_status=order.status, source="reconcile", data={"reason": "orphan recorded"}
    )


def connections_with_recent_orders() -> list[str]:
    since = timezone.now() - timedelta(days=ORPHAN_LOOKBACK_DAYS)
    return [
        str(pk)
        for pk in Order.objects.filter(created_at__gte=since, connection__enabled=True)
        .values_list("connection_id", flat=True)
        .distinct()
    ]
