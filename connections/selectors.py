"""Reads: every query scoped to the caller (staff see all).

Staff read every owner's connections but change only their own: the ``_for_write``
lookups answer another owner's connection with a 403 permission_denied (staff can see it,
so a 404 would be untrue; an outsider, who cannot, still gets the 404). Acting for another
owner happens in the admin, where the sync log names the staff member.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from connections.dead_man import dead_man_view
from connections.filters import ConnectionFilterSet
from connections.models import ExchangeConnection, HealthCheck
from connections.ratelimits import connection_usage_percent, exchange_usage
from core.errors import Forbidden, NotFound, ValidationFailed
from core.redis import redis_client
from exchanges.capabilities import matrix

# Batch tests (connections.batches runs them): their size, how many tests run at once, and
# their bookkeeping in Redis, read here.
MAX_BATCH_SIZE = 50
BATCH_CONCURRENCY = 10
BATCH_RUNNING_SET = "ec:batch:running"


def connections_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ExchangeConnection]:
    queryset = ExchangeConnection.objects.select_related("state")
    if getattr(user, "is_staff", False):
        return queryset
    return queryset.filter(owner_id=user.pk)


def connection_list(*, user: AbstractBaseUser, filters: dict[str, Any]
                    ) -> QuerySet[ExchangeConnection]:
    """The caller's connections matching ``filters`` (model field names; None: any)."""
    filterset = ConnectionFilterSet(filters, queryset=connections_visible_to(user))
    if not filterset.is_valid():
        raise ValidationFailed("invalid filters", fields={
            name: list(messages) for name, messages in filterset.errors.items()})
    return filterset.qs


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


STAFF_WRITE_REFUSAL = ("staff read every owner's connections but change only their own; "
                       "act for the owner in the admin")


def connection_get_for_write(*, user: AbstractBaseUser,
                             connection_id: object) -> ExchangeConnection:
    """A connection the caller may change, test, trade on or delete: their own."""
    connection = connection_get(user=user, connection_id=connection_id)
    if connection.owner_id != user.pk:
        raise Forbidden(STAFF_WRITE_REFUSAL)
    return connection


def connection_owner_ids(*, user: AbstractBaseUser, connection_ids: list[str]
                         ) -> dict[str, object]:
    """Visible connection id -> owner id, for the ids given (malformed ones left out)."""
    parsed = [value for value in connection_ids if _is_uuid(value)]
    rows = connections_visible_to(user).filter(pk__in=parsed).values_list("pk", "owner_id")
    return {str(pk): owner_id for pk, owner_id in rows}


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def connection_counts(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Totals for /api/system/status in two queries whatever the number of connections."""
    queryset = connections_visible_to(user)
    totals = queryset.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)),
                                enabled=Count("id", filter=Q(enabled=True)))
    by_exchange = dict(queryset.order_by().values_list("exchange").annotate(n=Count("id")))
    return {"total": totals["total"], "active": totals["active"],
            "enabled": totals["enabled"], "byExchange": by_exchange}


def connection_ids_for_sweep() -> list[str]:
    return [str(pk) for pk in ExchangeConnection.objects.filter(enabled=True)
            .values_list("pk", flat=True)]


def connection_ids_for_heartbeat() -> list[str]:
    return [str(pk) for pk in ExchangeConnection.objects.filter(enabled=True, is_active=True)
            .values_list("pk", flat=True)]


def _uptime_by_connection(connection_ids: list[object]) -> dict[object, dict[str, Any]]:
    """Checks in the last 24 h per connection, in one query."""
    since = timezone.now() - timedelta(hours=24)
    rows = (HealthCheck.objects.filter(connection_id__in=connection_ids, checked_at__gte=since)
            .values("connection_id")
            .annotate(total=Count("id"), passed=Count("id", filter=Q(ok=True)),
                      latency=Avg("latency_ms", filter=Q(ok=True))))
    return {row["connection_id"]: row for row in rows}


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def connection_health_list(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Health of the caller's connections and a summary, in two queries plus Redis."""
    connections = list(connections_visible_to(user).order_by("name"))
    checks = _uptime_by_connection([c.pk for c in connections])
    usage = connection_usage_percent([(str(c.pk), c.exchange) for c in connections])
    items = []
    for connection in connections:
        state, day = connection.state, checks.get(connection.pk)
        items.append({
            "connectionId": str(connection.pk), "name": connection.name,
            "exchange": connection.exchange, "status": state.health_status,
            "circuit": state.circuit, "lastCheckAt": state.last_check_at,
            "averageResponseTimeMs": round(day["latency"]) if day and day["latency"] else None,
            "successCount": state.successful_requests, "errorCount": state.failed_requests,
            "uptimePercent24h": _percent(day["passed"], day["total"]) if day else None,
            "rateLimitUsagePercent": usage.get(str(connection.pk), 0.0),
            "deadManSwitch": dead_man_view(connection),
        })
    return {"summary": _health_summary(items), "connections": items,
            "rateLimits": exchange_rate_limit_usage()}


def exchange_rate_limit_usage() -> dict[str, dict[str, Any]]:
    """Per exchange, over its destination pools in use from every egress: the fullest
    window's % of its ceiling, weight and requests in flight summed, the longest pause
    left, and each pool (egress, destination) with every window and its ceiling."""
    return {exchange: {"usagePercent": usage.busiest_percent_of_minute,
                       "weightLastMinute": usage.weight_last_minute,
                       "inFlight": usage.in_flight,
                       "pausedForSeconds": usage.paused_for_seconds,
                       "destinations": usage.destinations,
                       "pools": [_pool_usage(pool) for pool in usage.pools]}
            for exchange, usage in exchange_usage().items()}


def _pool_usage(pool: Any) -> dict[str, Any]:
    usage = pool.usage
    return {"egress": pool.egress, "destination": pool.destination,
            "usagePercent": usage.busiest_percent, "weightLastMinute": usage.weight_last_minute,
            "inFlight": usage.in_flight, "concurrent": usage.concurrent,
            "pausedForSeconds": usage.paused_for_seconds,
            "windows": [{"name": window.name, "used": window.used, "limit": window.limit,
                         "seconds": window.seconds, "percent": window.percent}
                        for window in usage.windows]}


def _health_summary(items: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"total": len(items)}
    for status in ("healthy", "degraded", "unhealthy", "unknown"):
        summary[status] = sum(1 for item in items if item["status"] == status)
    uptimes = [i["uptimePercent24h"] for i in items if i["uptimePercent24h"] is not None]
    latencies = [i["averageResponseTimeMs"] for i in items
                 if i["averageResponseTimeMs"] is not None]
    summary["averageUptimePercent"] = round(sum(uptimes) / len(uptimes), 2) if uptimes else None
    summary["averageResponseTimeMs"] = (round(sum(latencies) / len(latencies))
                                        if latencies else None)
    return summary


def system_status(*, user: AbstractBaseUser) -> dict[str, Any]:
    """Totals for the caller (staff: everyone) in a fixed number of queries."""
    counts = connection_counts(user=user)
    queryset = connections_visible_to(user).order_by()
    by_status = dict(queryset.values_list("state__health_status").annotate(n=Count("id")))
    totals = queryset.aggregate(
        requests=Sum("state__total_requests"), successes=Sum("state__successful_requests"))
    since = timezone.now() - timedelta(hours=24)
    day = HealthCheck.objects.filter(connection__in=queryset, checked_at__gte=since).aggregate(
        total=Count("id"), passed=Count("id", filter=Q(ok=True)),
        latency=Avg("latency_ms", filter=Q(ok=True)))
    health = {status: by_status.get(status, 0)
              for status in ("healthy", "degraded", "unhealthy", "unknown")}
    health["uptimePercent24h"] = _percent(day["passed"], day["total"])
    requests = totals["requests"] or 0
    return {
        "status": _overall_status(counts["enabled"], health),
        "connections": counts, "health": health,
        "metrics": {"totalRequests": requests,
                    "successRate": _percent(totals["successes"] or 0, requests),
                    "averageResponseTime": round(day["latency"]) if day["latency"] else None},
        "batch": {"running": batches_running(), "maxBatchSize": MAX_BATCH_SIZE,
                  "maxConcurrent": BATCH_CONCURRENCY},
        "features": {"exchanges": matrix()},
    }


def _overall_status(enabled: int, health: dict[str, Any]) -> str:
    if enabled and health["unhealthy"] >= enabled:
        return "down"
    if health["unhealthy"] or health["degraded"]:
        return "degraded"
    return "ok"


# -- batch tests --------------------------------------------------------------------------

def batch_meta_key(batch_id: str) -> str:
    return f"ec:batch:{batch_id}:meta"


def batch_results_key(batch_id: str) -> str:
    return f"ec:batch:{batch_id}:results"


def batch_status(*, user: AbstractBaseUser, batch_id: str) -> dict[str, Any]:
    client = redis_client()
    raw = client.get(batch_meta_key(batch_id)) if batch_id.isalnum() else None
    meta = json.loads(raw) if raw else None
    if meta is None or (meta["ownerId"] != user.pk and not user.is_staff):
        raise NotFound("batch not found")
    results = {key.decode(): json.loads(value)
               for key, value in client.hgetall(batch_results_key(batch_id)).items()}
    finished = meta["finishedAt"]
    successful = sum(1 for result in results.values() if result["success"])
    ended = finished or time.time()
    return {
        "batchId": batch_id, "status": "completed" if finished else "running",
        "totalConnections": len(meta["ids"]), "completed": len(results),
        "successful": successful, "failed": len(results) - successful,
        "duration": int((ended - meta["startedAt"]) * 1000),
        "queuedMs": (int((meta["runStartedAt"] - meta["startedAt"]) * 1000)
                     if meta.get("runStartedAt") else None),
        "results": {i: results[i] for i in meta["ids"] if i in results},
    }


def batch_wait(*, user: AbstractBaseUser, batch_id: str, timeout: float) -> dict[str, Any]:
    """Poll until the batch completes or ``timeout`` passes; the last status either way."""
    deadline = time.monotonic() + timeout
    while True:
        status = batch_status(user=user, batch_id=batch_id)
        if status["status"] == "completed" or time.monotonic() >= deadline:
            return status
        time.sleep(0.025)


def batches_running() -> int:
    return int(redis_client().scard(BATCH_RUNNING_SET))
