"""The one way an order changes status: legal moves only, terminal states never move,
filled quantity never shrinks, and every change leaves an OrderEvent with its source."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from connections.models import ExchangeConnection
from core.errors import Conflict
from core.metrics import order_settled
from core.types import Id
from orders.models import TERMINAL, Order, OrderEvent

ALLOWED: dict[str, frozenset[str]] = {
    "pending": frozenset({"submitting", "canceled", "failed"}),
    # back to pending only when the exchange surely did not get it (a rate-limit refusal)
    "submitting": frozenset(
        {
            "pending",
            "open",
            "partially_filled",
            "filled",
            "canceled",
            "rejected",
            "expired",
            "failed",
            "unknown",
        }
    ),
    "unknown": frozenset(
        {
            "submitting",
            "open",
            "partially_filled",
            "filled",
            "canceled",
            "rejected",
            "expired",
            "failed",
        }
    ),
    "open": frozenset({"partially_filled", "filled", "canceled", "expired"}),
    "partially_filled": frozenset({"partially_filled", "filled", "canceled", "expired"}),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def order_transition(
    *,
    order_id: Id,
    to_status: str,
    source: str,
    expected: tuple[str, ...] | None = None,
    data: dict[str, Any] | None = None,
    quiet: bool = False,
    **fields: Any,
) -> Order | None:
    """Move the order to ``to_status`` (and set ``fields``) under a row lock.

    With ``expected``, an order in another status is left alone and None returned (a claim
    that lost a race). Without it, an illegal move raises IllegalTransition. ``quiet``
    records no event (a move that repeats one already told, such as a wait for budget).
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if expected is not None and order.status not in expected:
            return None
        _check_move(order, to_status, fields)
        before = order.status
        filled_before = order.filled_quantity
        for name, value in fields.items():
            setattr(order, name, value)
        order.status = to_status
        order.save()
        # a same-status move is recorded only when it says why (a resend, for one)
        if quiet:
            return order
        if before != to_status or order.filled_quantity != filled_before or data:
            OrderEvent.objects.create(
                order=order,
                from_status=before,
                to_status=to_status,
                source=source,
                data=_event_data(order, fields, data),
            )
        if before in IN_DOUBT and to_status not in UNSETTLED:
            transaction.on_commit(partial(_observe_settled, order, to_status))
        return order


# sent, outcome not yet known: leaving these for a status that is not UNSETTLED settles it
IN_DOUBT = frozenset({"submitting", "unknown"})
UNSETTLED = frozenset({"pending", *IN_DOUBT})


def _observe_settled(order: Order, status: str) -> None:
    """The settle-time histogram: from the order's creation to its known status."""
    exchange = (
        ExchangeConnection.objects.filter(pk=order.connection_id)
        .values_list("exchange", flat=True)
        .first()
        or ""
    )
    order_settled(
        exchange=exchange,
        status=status,
        seconds=(timezone.now() - order.created_at).total_seconds(),
    )


def _check_move(order: Order, to_status: str, fields: dict[str, Any]) -> None:
    if order.status in TERMINAL:
        if to_status == order.status and not _changes_fills(order, fields):
            return
        raise IllegalTransition(f"order {order.pk} is {order.status} and cannot change")
    if to_status != order.status and to_status not in ALLOWED[order.status]:
        raise IllegalTransition(f"order {order.pk} cannot go from {order.status} to {to_status}")
    filled = fields.get("filled_quantity")
    if filled is not None and Decimal(filled) < order.filled_quantity:
        raise IllegalTransition(f"order {order.pk}: filled quantity never shrinks")


def _changes_fills(order: Order, fields: dict[str, Any]) -> bool:
    filled = fields.get("filled_quantity")
    return filled is not None and Decimal(filled) != order.filled_quantity


def _event_data(
    order: Order, fields: dict[str, Any], data: dict[str, Any] | None
) -> dict[str, Any]:
    event = {
        name: str(value)
        for name, value in fields.items()
        if name in ("exchange_order_id", "filled_quantity", "average_price", "error_message")
    }
    event.update(data or {})
    return event
