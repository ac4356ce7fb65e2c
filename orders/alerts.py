"""The orders' alerts sweep: orders ``unknown`` or flagged for longer than
ALERT_ORDER_STUCK_SECONDS, one alert per connection (connections/alerts.py sends it)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from connections.alerts import alert_orders_stuck
from connections.models import ExchangeConnection
from orders.models import Order


def orders_stuck_alert() -> int:
    """Raise one alert per connection with stuck orders; returns how many (before the
    ten-minute dedupe). Two queries, whatever the number of connections."""
    older_than = settings.ALERT_ORDER_STUCK_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than)
    unknown, flagged = Q(status="unknown"), Q(flagged=True)
    counts = {
        row["connection_id"]: row
        for row in (
            Order.objects.filter(unknown | flagged, updated_at__lt=cutoff)
            .values("connection_id")
            .annotate(unknown=Count("pk", filter=unknown), flagged=Count("pk", filter=flagged))
        )
    }
    for connection in ExchangeConnection.objects.filter(pk__in=counts):
        row = counts[connection.pk]
        alert_orders_stuck(
            connection=connection,
            unknown=row["unknown"],
            flagged=row["flagged"],
            older_than_seconds=older_than,
        )
    return len(counts)
