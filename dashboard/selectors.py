"""The health dashboard's figures: per exchange and per connection, over one range.

A fixed number of queries whatever the number of connections: the connections with their
state and stream (1), the health checks (1) and the orders (1) of the range, each grouped
once by GROUPING SETS into per-connection series, per-connection totals, per-exchange
totals and all-connection series, and the orders that need an operator now (1). Rate-limit
usage comes from Redis (the health endpoint's readers), one read per exchange and egress.
Percentiles are PostgreSQL's ``percentile_cont``; time buckets are ``date_bin``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection as db
from django.db.models import Count, Q
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection, HealthCheck
from connections.ratelimits import exchange_usage
from connections.selectors import (
    connection_stream,
    connection_usage_percent,
    connections_visible_to,
)
from connections.serializers import ExchangeUsageOut, StreamOut
from core.errors import ValidationFailed
from orders.models import Order, OrderEvent


@dataclass(frozen=True)
class Range:
    name: str
    span: timedelta
    step: timedelta  # one bucket of the charts

    @property
    def buckets(self) -> int:
        return int(self.span / self.step)


RANGES = {
    r.name: r
    for r in (
        Range("1h", timedelta(hours=1), timedelta(minutes=5)),
        Range("24h", timedelta(hours=24), timedelta(hours=1)),
        Range("7d", timedelta(days=7), timedelta(hours=6)),
    )
}
DEFAULT_RANGE = "24h"
# date_bin's origin: buckets fall on whole multiples of the step from here (UTC)
BUCKET_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)

# Order outcomes for the success rate: accepted by the exchange (whatever happened next)
# against refused or failed; `unknown` counts against (we cannot say it was placed).
# pending and submitting are still in flight and count for neither.
ACCEPTED = ("open", "partially_filled", "filled", "canceled", "expired")
REFUSED = ("rejected", "failed")
IN_FLIGHT = ("pending", "submitting")


def dashboard_range(*, name: str | None) -> Range:
    """The range named by the ``range`` parameter (absent: 24 h)."""
    if name in (None, ""):
        return RANGES[DEFAULT_RANGE]
    if name not in RANGES:
        choices = ", ".join(RANGES)
        raise ValidationFailed(
            f"range must be one of {choices}", fields={"range": [f"one of {choices}"]}
        )
    return RANGES[name]


def _window(span: Range, now: datetime) -> tuple[datetime, datetime, list[datetime]]:
    """The buckets' starts, the last one holding ``now``; [start, end) covers them all."""
    steps = (now - BUCKET_ORIGIN) // span.step
    end = BUCKET_ORIGIN + (steps + 1) * span.step
    start = end - span.buckets * span.step
    return start, end, [start + i * span.step for i in range(span.buckets)]


# -- the grouped queries ----------------------------------------------------------------------

# GROUPING(connection_id, exchange, bucket): which grouping set a row belongs to
BY_CONNECTION_BUCKET, BY_CONNECTION, BY_EXCHANGE, BY_BUCKET = 0b010, 0b011, 0b101, 0b110
GROUPING_SETS = "GROUPING SETS ((connection_id, bucket), (connection_id), (exchange), (bucket))"

HEALTH_SQL = f"""
WITH checks AS (
    SELECT h.connection_id, c.exchange, h.ok, h.latency_ms,
           date_bin(%(step)s, h.checked_at, %(origin)s) AS bucket
    FROM {HealthCheck._meta.db_table} h
    JOIN {ExchangeConnection._meta.db_table} c ON c.id = h.connection_id
    WHERE h.connection_id = ANY(%(ids)s) AND h.checked_at >= %(start)s
      AND h.checked_at < %(end)s
)
SELECT GROUPING(connection_id, exchange, bucket), connection_id, exchange, bucket,
       count(*), count(*) FILTER (WHERE ok),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok)
FROM checks
GROUP BY {GROUPING_SETS}
"""  # noqa: S608 (table names from the models; every value is a parameter)

# Placement latency: from the order's row to its first event out of pending/submitting
# (the exchange accepted, refused, or we stopped knowing).
ORDERS_SQL = f"""
WITH placed AS (
    SELECT o.connection_id, c.exchange, o.status,
           date_bin(%(step)s, o.created_at, %(origin)s) AS bucket,
           (SELECT extract(epoch FROM min(e.created_at) - o.created_at) * 1000
            FROM {OrderEvent._meta.db_table} e
            WHERE e.order_id = o.id AND NOT e.to_status = ANY(%(in_flight)s)) AS placement_ms
    FROM {Order._meta.db_table} o
    JOIN {ExchangeConnection._meta.db_table} c ON c.id = o.connection_id
    WHERE o.connection_id = ANY(%(ids)s) AND o.created_at >= %(start)s
      AND o.created_at < %(end)s
)
SELECT GROUPING(connection_id, exchange, bucket), connection_id, exchange, bucket,
       count(*), count(*) FILTER (WHERE status = ANY(%(accepted)s)),
       count(*) FILTER (WHERE status = ANY(%(refused)s)),
       count(*) FILTER (WHERE status = 'unknown'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY placement_ms),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY placement_ms)
FROM placed
GROUP BY {GROUPING_SETS}
"""  # noqa: S608


@dataclass
class Grouped:
    """One grouped query's rows, by grouping set."""

    by_connection_bucket: dict[tuple[str, datetime], tuple[Any, ...]]
    by_connection: dict[str, tuple[Any, ...]]
    by_exchange: dict[str, tuple[Any, ...]]
    by_bucket: dict[datetime, tuple[Any, ...]]


def _grouped(sql: str, params: dict[str, Any]) -> Grouped:
    grouped = Grouped({}, {}, {}, {})
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        for level, connection_id, exchange, bucket, *figures in cursor.fetchall():
            if level == BY_CONNECTION_BUCKET:
                grouped.by_connection_bucket[(str(connection_id), bucket)] = tuple(figures)
            elif level == BY_CONNECTION:
                grouped.by_connection[str(connection_id)] = tuple(figures)
            elif level == BY_EXCHANGE:
                grouped.by_exchange[exchange] = tuple(figures)
            elif level == BY_BUCKET:
                grouped.by_bucket[bucket] = tuple(figures)
    return grouped


def _attention_by_connection(ids: list[Any]) -> dict[str, dict[str, int]]:
    """Orders an operator must look at now, whatever their age: unknown, flagged."""
    rows = (
        Order.objects.filter(connection_id__in=ids)
        .filter(Q(status="unknown") | Q(flagged=True))
        .order_by()
        .values("connection_id")
        .annotate(
            unknown=Count("id", filter=Q(status="unknown")),
            flagged=Count("id", filter=Q(flagged=True)),
        )
    )
    return {
        str(row["connection_id"]): {"unknown": row["unknown"], "flagged": row["flagged"]}
        for row in rows
    }


# -- figures ----------------------------------------------------------------------------------


def _ms(value: float | None) -> int | None:
    return None if value is None else round(value)


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _health_figures(row: tuple[Any, ...] | None) -> dict[str, Any]:
    total, passed, p50, p99 = row or (0, 0, None, None)
    return {
        "checks": total,
        "failedChecks": total - passed,
        "uptimePercent": _percent(passed, total),
        "latencyP50Ms": _ms(p50),
        "latencyP99Ms": _ms(p99),
    }


def _order_figures(row: tuple[Any, ...] | None) -> dict[str, Any]:
    total, accepted, refused, unknown, p50, p99 = row or (0, 0, 0, 0, None, None)
    return {
        "total": total,
        "accepted": accepted,
        "refused": refused,
        "unknown": unknown,
        "successRate": _percent(accepted, accepted + refused + unknown),
        "placementP50Ms": _ms(p50),
        "placementP99Ms": _ms(p99),
    }


def _health_series(rows: dict[Any, tuple[Any, ...]], keys: list[Any]) -> dict[str, list[Any]]:
    series: dict[str, list[Any]] = {"checks": [], "failed": [], "p50": [], "p99": []}
    for key in keys:
        figures = _health_figures(rows.get(key))
        series["checks"].append(figures["checks"])
        series["failed"].append(figures["failedChecks"])
        series["p50"].append(figures["latencyP50Ms"])
        series["p99"].append(figures["latencyP99Ms"])
    return series


def _order_series(rows: dict[Any, tuple[Any, ...]], keys: list[Any]) -> dict[str, list[Any]]:
    series: dict[str, list[Any]] = {"accepted": [], "refused": [], "unknown": []}
    for key in keys:
        figures = _order_figures(rows.get(key))
        for name in series:
            series[name].append(figures[name])
    return series


def _state_of(connection: ExchangeConnection) -> ConnectionState:
    try:
        return connection.state
    except ConnectionState.DoesNotExist:
        return ConnectionState(connection=connection)


def _connection_item(
    connection: ExchangeConnection,
    *,
    health: Grouped,
    orders: Grouped,
    attention: dict[str, dict[str, int]],
    usage: dict[str, float],
    buckets: list[datetime],
) -> dict[str, Any]:
    key, state = str(connection.pk), _state_of(connection)
    keys = [(key, bucket) for bucket in buckets]
    return {
        "id": key,
        "name": connection.name,
        "exchange": connection.exchange,
        "apiType": connection.api_type,
        "environment": connection.environment,
        "enabled": connection.enabled,
        "isActive": connection.is_active,
        "status": state.health_status,
        "circuit": state.circuit,
        "circuitOpenedAt": state.opened_at,
        "consecutiveFailures": state.consecutive_failures,
        "lastError": state.last_error,
        "lastErrorCode": state.last_error_code,
        "lastCheckAt": state.last_check_at,
        "lastLatencyMs": state.last_latency_ms,
        **_health_figures(health.by_connection.get(key)),
        "series": _health_series(health.by_connection_bucket, keys),
        "orders": {
            **_order_figures(orders.by_connection.get(key)),
            "unknownNow": attention.get(key, {}).get("unknown", 0),
            "flaggedNow": attention.get(key, {}).get("flagged", 0),
            "series": _order_series(orders.by_connection_bucket, keys),
        },
        "rateLimitUsagePercent": usage.get(key, 0.0),
        "stream": _stream(connection),
    }


def _exchange_item(
    exchange: str,
    items: list[dict[str, Any]],
    *,
    health: Grouped,
    orders: Grouped,
    rate_limits: dict[str, Any],
) -> dict[str, Any]:
    return {
        "exchange": exchange,
        "connections": len(items),
        "healthy": sum(1 for item in items if item["status"] == "healthy"),
        "circuitsOpen": sum(1 for item in items if item["circuit"] != "closed"),
        **_health_figures(health.by_exchange.get(exchange)),
        "orders": {
            **_order_figures(orders.by_exchange.get(exchange)),
            "unknownNow": sum(item["orders"]["unknownNow"] for item in items),
            "flaggedNow": sum(item["orders"]["flaggedNow"] for item in items),
        },
        "rateLimits": rate_limits.get(exchange) or {"usagePercent": 0.0, "pools": []},
    }


def _summary(
    items: list[dict[str, Any]], *, health: Grouped, orders: Grouped, buckets: list[datetime]
) -> dict[str, Any]:
    summary: dict[str, Any] = {"connections": len(items)}
    for status in ("healthy", "degraded", "unhealthy", "unknown"):
        summary[status] = sum(1 for item in items if item["status"] == status)
    checks = sum(item["checks"] for item in items)
    failed = sum(item["failedChecks"] for item in items)
    summary.update(
        {
            "circuitsOpen": sum(1 for item in items if item["circuit"] != "closed"),
            "checks": checks,
            "failedChecks": failed,
            "uptimePercent": _percent(checks - failed, checks),
            "ordersUnknown": sum(item["orders"]["unknownNow"] for item in items),
            "ordersFlagged": sum(item["orders"]["flaggedNow"] for item in items),
            "healthSeries": _health_series(health.by_bucket, buckets),
            "orderSeries": _order_series(orders.by_bucket, buckets),
        }
    )
    return summary


SEVERITY = {"unhealthy": 1, "degraded": 2, "unknown": 3, "healthy": 4}


def _worst_first(item: dict[str, Any]) -> tuple[int, str, str]:
    """Trouble at the top: an open circuit, then unhealthy, degraded, unknown, healthy."""
    severity = 0 if item["circuit"] == "open" else SEVERITY.get(item["status"], 3)
    return severity, item["exchange"], item["name"]


def dashboard_overview(
    *, user: User | AnonymousUser, range_name: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """Everything the dashboard draws for the connections ``user`` sees, over one range."""
    span = dashboard_range(name=range_name)
    now = now or timezone.now()
    start, end, buckets = _window(span, now)
    connections = list(connections_visible_to(user).order_by("exchange", "name"))
    ids = [connection.pk for connection in connections]
    params = {
        "step": span.step,
        "origin": BUCKET_ORIGIN,
        "ids": ids,
        "start": start,
        "end": end,
        "in_flight": list(IN_FLIGHT),
        "accepted": list(ACCEPTED),
        "refused": list(REFUSED),
    }
    health, orders = _grouped(HEALTH_SQL, params), _grouped(ORDERS_SQL, params)
    attention = _attention_by_connection(ids)
    usage = connection_usage_percent([(str(c.pk), c.exchange) for c in connections])
    items = sorted(
        (
            _connection_item(
                c, health=health, orders=orders, attention=attention, usage=usage, buckets=buckets
            )
            for c in connections
        ),
        key=_worst_first,
    )
    rate_limits = {
        exchange: ExchangeUsageOut(usage).data for exchange, usage in exchange_usage().items()
    }
    exchanges = [
        _exchange_item(
            exchange,
            [i for i in items if i["exchange"] == exchange],
            health=health,
            orders=orders,
            rate_limits=rate_limits,
        )
        for exchange in sorted({item["exchange"] for item in items})
    ]
    return {
        "range": span.name,
        "ranges": list(RANGES),
        "generatedAt": now,
        "start": start,
        "end": end,
        "bucketSeconds": int(span.step.total_seconds()),
        "buckets": buckets,
        "summary": _summary(items, health=health, orders=orders, buckets=buckets),
        "exchanges": exchanges,
        "connections": items,
    }


def _stream(connection: ExchangeConnection) -> dict[str, Any] | None:
    stream = connection_stream(connection=connection)
    return None if stream is None else dict(StreamOut(stream).data)
