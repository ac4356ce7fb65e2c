"""Reads on orders, scoped to the caller (staff see all; they cancel only their own, see
``order_get_for_write``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from connections.models import ExchangeConnection
from core.errors import Forbidden, NotFound, ValidationFailed
from core.types import Id
from orders.filters import OrderFilterSet
from orders.models import TERMINAL, Fill, Order


def orders_visible_to(user: User | AnonymousUser) -> QuerySet[Order]:
    queryset = Order.objects.select_related("connection")
    return queryset if getattr(user, "is_staff", False) else queryset.filter(owner_id=user.pk)


def order_list(*, user: User, filters: dict[str, Any]) -> QuerySet[Order]:
    """The caller's orders matching ``filters`` (connection_id, status, symbol; others,
    such as the page's limit and offset, are not filters), newest first."""
    filterset = OrderFilterSet(filters, queryset=orders_visible_to(user))
    if not filterset.is_valid():
        raise ValidationFailed(
            "invalid filters",
            fields={name: list(messages) for name, messages in filterset.errors.items()},
        )
    return filterset.qs


def order_get(*, user: User, order_id: Id) -> Order:
    try:
        parsed = uuid.UUID(str(order_id))
    except ValueError:
        raise NotFound("order not found") from None
    order = orders_visible_to(user).filter(pk=parsed).first()
    if order is None:
        raise NotFound("order not found")
    return order


def order_get_for_write(*, user: User, order_id: Id) -> Order:
    """An order the caller may cancel: their own. Another owner's is a 403 for staff (who
    can see it) and a 404 for everyone else; acting for an owner happens in the admin."""
    order = order_get(user=user, order_id=order_id)
    if order.owner_id != user.pk:
        raise Forbidden(
            "staff read every owner's orders but cancel only their own; act for "
            "the owner in the admin"
        )
    return order


def connection_live_order_symbols(connection: ExchangeConnection) -> set[str]:
    """The symbols of the connection's orders that are not terminal: a per-symbol
    dead-man switch is armed for these (connections.dead_man)."""
    return set(
        Order.objects.filter(connection=connection)
        .exclude(status__in=TERMINAL)
        .values_list("symbol", flat=True)
        .distinct()
    )


def connection_has_orders_in_flight(connection: ExchangeConnection) -> bool:
    """Any order of the connection that is not terminal (pending, on the wire, unknown,
    or resting on the exchange)."""
    return Order.objects.filter(connection=connection).exclude(status__in=TERMINAL).exists()


def order_fills(*, user: User, order_id: Id) -> QuerySet[Fill]:
    """The trades of one of the caller's orders, oldest first (another owner's: 404)."""
    order = order_get(user=user, order_id=order_id)
    return Fill.objects.filter(order=order).order_by("traded_at", "id")


# the orders reconciliation brings up to date (the command line's default set)
UNSETTLED = ("submitting", "unknown", "open", "partially_filled")


def orders_for_operator(
    *,
    connection_ids: list[Any] | None = None,
    statuses: list[str] | None = None,
    flagged: bool | None = None,
    limit: int | None = None,
) -> list[Order]:
    """Every owner's orders for the command line (an operator on the host), newest
    first."""
    queryset = Order.objects.select_related("connection").order_by("-created_at")
    if connection_ids is not None:
        queryset = queryset.filter(connection_id__in=connection_ids)
    if statuses:
        queryset = queryset.filter(status__in=statuses)
    if flagged is not None:
        queryset = queryset.filter(flagged=flagged)
    return list(queryset[:limit] if limit else queryset)


def orders_by_ids(*, order_ids: list[str]) -> tuple[list[Order], list[str]]:
    """The orders the ids name, in the order given, and the ids that name none."""
    wanted = [value.strip().lower() for value in order_ids]
    valid = [value for value in wanted if _is_uuid(value)]
    found = {
        str(each.pk): each
        for each in Order.objects.select_related("connection").filter(pk__in=valid)
    }
    return [found[value] for value in wanted if value in found], [
        value for value in wanted if value not in found
    ]


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
