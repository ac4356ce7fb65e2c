"""What /metrics computes at scrape time about orders (config/metrics.py serves it)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from core.metrics import PREFIX
from exchanges.capabilities import EXCHANGES
from orders.models import STATUSES, Order


def order_metrics() -> Iterator[Metric]:
    """Orders per exchange and status, and those flagged for an operator: one query (the
    (status, updated_at) index serves it), every status of every exchange present, zeros
    included, so a series never vanishes."""
    rows = (
        Order.objects.order_by()
        .values_list("connection__exchange", "status")
        .annotate(count=Count("id"), flagged=Count("id", filter=Q(flagged=True)))
    )
    counts: dict[tuple[str, str], int] = {}
    flagged: dict[str, int] = dict.fromkeys(EXCHANGES, 0)
    for exchange, status, count, flagged_count in rows:
        counts[(exchange, status)] = count
        flagged[exchange] = flagged.get(exchange, 0) + flagged_count
    by_status = GaugeMetricFamily(
        f"{PREFIX}_orders", "Orders by exchange and status", labels=["exchange", "status"]
    )
    for exchange in EXCHANGES:
        for status in STATUSES:
            by_status.add_metric([exchange, status], float(counts.get((exchange, status), 0)))
    needs_operator = GaugeMetricFamily(
        f"{PREFIX}_orders_flagged",
        "Orders flagged for an operator by reconciliation",
        labels=["exchange"],
    )
    for exchange, count in sorted(flagged.items()):
        needs_operator.add_metric([exchange], float(count))
    yield from (by_status, needs_operator)
