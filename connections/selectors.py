"""Reads: every query scoped to the caller (staff see all)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet

from connections.errors import NotFound
from connections.models import ExchangeConnection

LIST_FILTERS = ("exchange", "api_type", "environment", "is_active", "enabled")


def connections_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ExchangeConnection]:
    queryset = ExchangeConnection.objects.select_related("state")
    if getattr(user, "is_staff", False):
        return queryset
    return queryset.filter(owner_id=user.pk)


def connection_list(*, user: AbstractBaseUser, filters: dict[str, Any]
                    ) -> QuerySet[ExchangeConnection]:
    applied = {name: value for name, value in filters.items()
               if name in LIST_FILTERS and value is not None}
    return connections_visible_to(user).filter(**applied)


def connection_get(*, user: AbstractBaseUser, connection_id: object) -> ExchangeConnection:
    """A malformed id and another user's id are both simply not found."""
    try:
        parsed = uuid.UUID(str(connection_id))
    except ValueError:
        raise NotFound("connection not found") from None
    connection = connections_visible_to(user).filter(pk=parsed).first()
    if connection is None:
        raise NotFound("connection not found")
    return connection


def connection_counts(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Totals for /api/system/status in two queries whatever the number of connections."""
    queryset = connections_visible_to(user)
    totals = queryset.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)),
                                enabled=Count("id", filter=Q(enabled=True)))
    by_exchange = dict(queryset.order_by().values_list("exchange").annotate(n=Count("id")))
    return {"total": totals["total"], "active": totals["active"],
            "enabled": totals["enabled"], "byExchange": by_exchange}
