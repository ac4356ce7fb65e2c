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
        raise ValidationFailed("invalid filters", fields={
            name: list(messages) for name, messages in filterset.errors.items()})
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
        raise Forbidden("staff read every owner's orders but cancel only their own; act for "
                        "the owner in the admin")
    return order


def connection_has_orders_in_flight(connection: ExchangeConnection) -> bool:
    """Any order of the connection that is not terminal (pending, on the wire, unknown,
    or resting on the exchange)."""
    return Order.objects.filter(connection=connection).exclude(status__in=TERMINAL).exists()


def order_fills(*, user: User, order_id: Id) -> QuerySet[Fill]:
    """The trades of one of the caller's orders, oldest first (another owner's: 404)."""
    order = order_get(user=user, order_id=order_id)
    return Fill.objects.filter(order=order).order_by("traded_at", "id")
