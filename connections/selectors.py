"""Reads: every query scoped to the caller (staff see all).

Staff read every owner's connections but change only their own: the ``_for_write``
lookups answer another owner's connection with a 403 permission_denied (staff can see it,
so a 404 would be untrue; an outsider, who cannot, still gets the 404). Acting for another
owner happens in the admin, where the sync log names the staff member.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Avg, Count, Q, QuerySet, Sum
from django.utils import timezone

from connections.dead_man import DeadManStatus, dead_man_view
from connections.filters import ConnectionFilterSet
from connections.models import (
    ExchangeConnection,
    HealthCheck,
    LedgerBalance,
    LedgerPosition,
    StreamState,
)
from connections.ratelimits import ExchangeUsage, connection_usage_percent, exchange_usage
from connections.results import BatchStatus, TestResult, batch_stored
from core.errors import Forbidden, NotFound, ValidationFailed
from core.redis import redis_client, redis_text
from core.types import Id
from exchanges.capabilities import matrix
from exchanges.errors import NotSupported
from exchanges.streams import PROTOCOLS, protocol_for
from exchanges.streams.base import Heartbeat

# Batch tests (connections.batches runs them): their size, how many tests run at once, and
# their bookkeeping in Redis, read here. Their size is settings.BATCH_MAX_SIZE (max_batch_size).
BATCH_CONCURRENCY = 10


def max_batch_size() -> int:
    return int(settings.BATCH_MAX_SIZE)


BATCH_RUNNING_SET = "ec:batch:running"


def connections_visible_to(user: User | AnonymousUser) -> QuerySet[ExchangeConnection]:
    queryset = ExchangeConnection.objects.select_related("state", "stream_state")
    if getattr(user, "is_staff", False):
        return queryset
    return queryset.filter(owner_id=user.pk)


def connection_list(*, user: User, filters: dict[str, Any]) -> QuerySet[ExchangeConnection]:
    """The caller's connections matching ``filters`` (model field names; None: any)."""
    filterset = ConnectionFilterSet(filters, queryset=connections_visible_to(user))
    if not filterset.is_valid():
        raise ValidationFailed(
            "invalid filters",
            fields={name: list(messages) for name, messages in filterset.errors.items()},
        )
    return filterset.qs


def connection_get(*, user: User, connection_id: Id) -> ExchangeConnection:
    """A malformed id and another user's id are both simply not found."""
    try:
        parsed = uuid.UUID(str(connection_id))
    except ValueError:
        raise NotFound("connection not found") from None
    connection = connections_visible_to(user).filter(pk=parsed).first()
    if connection is None:
        raise NotFound("connection not found")
    return connection


STAFF_WRITE_REFUSAL = (
    "staff read every owner's connections but change only their own; act for the owner in the admin"
)


def connection_get_for_write(*, user: User, connection_id: Id) -> ExchangeConnection:
    """A connection the caller may change, test, trade on or delete: their own."""
    connection = connection_get(user=user, connection_id=connection_id)
    if connection.owner_id != user.pk:
        raise Forbidden(STAFF_WRITE_REFUSAL)
    return connection


def connections_for_operator(
    *,
    exchange: str | None = None,
    enabled: bool | None = None,
    connection_ids: list[str] | None = None,
) -> tuple[list[ExchangeConnection], list[str]]:
    """Every owner's connections for the command line (an operator on the host), oldest
    first: those matching, and the ids given that name none (malformed ones too)."""
    queryset = ExchangeConnection.objects.select_related("state", "owner").order_by("created_at")
    if exchange is not None:
        queryset = queryset.filter(exchange=exchange)
    if enabled is not None:
        queryset = queryset.filter(enabled=enabled)
    if connection_ids is None:
        return list(queryset), []
    wanted = [value.strip().lower() for value in connection_ids]
    found = {
        str(each.pk): each
        for each in queryset.filter(pk__in=[value for value in wanted if _is_uuid(value)])
    }
    return [found[value] for value in wanted if value in found], [
        value for value in wanted if value not in found
    ]


def connection_owner_ids(*, user: User, connection_ids: list[str]) -> dict[str, object]:
    """Visible connection id -> owner id, for the ids given (malformed ones left out)."""
    parsed = [value for value in connection_ids if _is_uuid(value)]
    rows = connections_visible_to(user).filter(pk__in=parsed).values_list("pk", "owner_id")
    return {str(pk): owner_id for pk, owner_id in rows}


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


@dataclass(frozen=True)
class ConnectionCounts:
    total: int
    active: int
    enabled: int
    by_exchange: dict[str, int]


def connection_counts(*, user: User) -> ConnectionCounts:
    """Totals for /api/system/status in two queries whatever the number of connections."""
    queryset = connections_visible_to(user)
    totals = queryset.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(is_active=True)),
        enabled=Count("id", filter=Q(enabled=True)),
    )
    by_exchange = dict(queryset.order_by().values_list("exchange").annotate(n=Count("id")))
    return ConnectionCounts(
        total=totals["total"],
        active=totals["active"],
        enabled=totals["enabled"],
        by_exchange=by_exchange,
    )


def connection_ids_for_sweep() -> list[str]:
    return [
        str(pk)
        for pk in ExchangeConnection.objects.filter(enabled=True).values_list("pk", flat=True)
    ]


def connection_ids_for_heartbeat() -> list[str]:
    return [
        str(pk)
        for pk in ExchangeConnection.objects.filter(enabled=True, is_active=True).values_list(
            "pk", flat=True
        )
    ]


def _uptime_by_connection(connection_ids: list[Id]) -> dict[Id, Any]:
    """Checks in the last 24 h per connection, in one query."""
    since = timezone.now() - timedelta(hours=24)
    rows = (
        HealthCheck.objects.filter(connection__pk__in=connection_ids, checked_at__gte=since)
        .values("connection_id")
        .annotate(
            total=Count("id"),
            passed=Count("id", filter=Q(ok=True)),
            latency=Avg("latency_ms", filter=Q(ok=True)),
        )
    )
    return {row["connection_id"]: row for row in rows}


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


@dataclass(frozen=True)
class ConnectionHealth:
    """One connection's state row and its last 24 h of checks."""

    connection_id: str
    name: str
    exchange: str
    status: str
    circuit: str
    last_check_at: datetime | None
    average_response_time_ms: int | None  # of the passed checks in the last 24 h
    success_count: int
    error_count: int
    uptime_percent_24h: float | None  # None: no check in the last 24 h
    rate_limit_usage_percent: float
    stream: StreamStatus | None  # None: the exchange has no private stream
    dead_man_switch: DeadManStatus


@dataclass(frozen=True)
class HealthSummary:
    total: int
    healthy: int
    degraded: int
    unhealthy: int
    unknown: int
    average_uptime_percent: float | None
    average_response_time_ms: int | None


@dataclass(frozen=True)
class HealthList:
    summary: HealthSummary
    connections: tuple[ConnectionHealth, ...]
    # per exchange, over its destination pools in use from every egress: the fullest
    # window's % of its ceiling, weight and requests in flight summed, the longest pause
    # left, and each pool (egress, destination) with every window and its ceiling
    rate_limits: dict[str, ExchangeUsage]


HEALTH_STATUSES = ("healthy", "degraded", "unhealthy", "unknown")


def connection_health_list(*, user: User) -> HealthList:
    """Health of the caller's connections and a summary, in two queries plus Redis."""
    connections = list(connections_visible_to(user).order_by("name"))
    checks = _uptime_by_connection([c.pk for c in connections])
    usage = connection_usage_percent([(str(c.pk), c.exchange) for c in connections])
    items = []
    for connection in connections:
        state, day = connection.state, checks.get(connection.pk)
        items.append(
            ConnectionHealth(
                connection_id=str(connection.pk),
                name=connection.name,
                exchange=connection.exchange,
                status=state.health_status,
                circuit=state.circuit,
                last_check_at=state.last_check_at,
                average_response_time_ms=(
                    round(day["latency"]) if day and day["latency"] else None
                ),
                success_count=state.successful_requests,
                error_count=state.failed_requests,
                uptime_percent_24h=_percent(day["passed"], day["total"]) if day else None,
                rate_limit_usage_percent=usage.get(str(connection.pk), 0.0),
                stream=connection_stream(connection=connection),
                dead_man_switch=dead_man_view(connection),
            )
        )
    return HealthList(
        summary=_health_summary(items), connections=tuple(items), rate_limits=exchange_usage()
    )


def _health_summary(items: list[ConnectionHealth]) -> HealthSummary:
    uptimes = [i.uptime_percent_24h for i in items if i.uptime_percent_24h is not None]
    latencies = [
        i.average_response_time_ms for i in items if i.average_response_time_ms is not None
    ]
    counts = {
        status: sum(1 for item in items if item.status == status) for status in HEALTH_STATUSES
    }
    return HealthSummary(
        total=len(items),
        **counts,
        average_uptime_percent=round(sum(uptimes) / len(uptimes), 2) if uptimes else None,
        average_response_time_ms=(round(sum(latencies) / len(latencies)) if latencies else None),
    )


@dataclass(frozen=True)
class HealthCounts:
    healthy: int
    degraded: int
    unhealthy: int
    unknown: int
    uptime_percent_24h: float | None


@dataclass(frozen=True)
class RequestMetrics:
    total_requests: int
    success_rate: float | None
    average_response_time: int | None  # milliseconds, of the passed checks in 24 h


@dataclass(frozen=True)
class BatchCapacity:
    running: int
    max_batch_size: int
    max_concurrent: int


@dataclass(frozen=True)
class SystemStatus:
    status: str  # ok, degraded or down
    connections: ConnectionCounts
    health: HealthCounts
    metrics: RequestMetrics
    batch: BatchCapacity
    exchanges: dict[str, Any]  # the capability matrix (exchanges.capabilities.matrix)


def system_status(*, user: User) -> SystemStatus:
    """Totals for the caller (staff: everyone) in a fixed number of queries."""
    counts = connection_counts(user=user)
    queryset = connections_visible_to(user).order_by()
    by_status = dict(queryset.values_list("state__health_status").annotate(n=Count("id")))
    totals = queryset.aggregate(
        requests=Sum("state__total_requests"), successes=Sum("state__successful_requests")
    )
    since = timezone.now() - timedelta(hours=24)
    day = HealthCheck.objects.filter(connection__in=queryset, checked_at__gte=since).aggregate(
        total=Count("id"),
        passed=Count("id", filter=Q(ok=True)),
        latency=Avg("latency_ms", filter=Q(ok=True)),
    )
    health = HealthCounts(
        **{status: by_status.get(status, 0) for status in HEALTH_STATUSES},
        uptime_percent_24h=_percent(day["passed"], day["total"]),
    )
    requests = totals["requests"] or 0
    return SystemStatus(
        status=_overall_status(counts.enabled, health),
        connections=counts,
        health=health,
        metrics=RequestMetrics(
            total_requests=requests,
            success_rate=_percent(totals["successes"] or 0, requests),
            average_response_time=round(day["latency"]) if day["latency"] else None,
        ),
        batch=BatchCapacity(
            running=batches_running(),
            max_batch_size=max_batch_size(),
            max_concurrent=BATCH_CONCURRENCY,
        ),
        exchanges=matrix(),
    )


def _overall_status(enabled: int, health: HealthCounts) -> str:
    if enabled and health.unhealthy >= enabled:
        return "down"
    if health.unhealthy or health.degraded:
        return "degraded"
    return "ok"


# -- batch tests --------------------------------------------------------------------------


def batch_meta_key(batch_id: str) -> str:
    return f"ec:batch:{batch_id}:meta"


def batch_results_key(batch_id: str) -> str:
    return f"ec:batch:{batch_id}:results"


def batch_status(*, user: User, batch_id: str) -> BatchStatus:
    """A batch the caller started (staff: any batch); a batch stored with the old camelCase
    keys reads the same."""
    client = redis_client()
    raw = client.get(batch_meta_key(batch_id)) if batch_id.isalnum() else None
    meta = batch_stored(raw) if raw else None
    if meta is None or (meta["owner_id"] != user.pk and not user.is_staff):
        raise NotFound("batch not found")
    results = {
        redis_text(key): TestResult.from_stored(batch_stored(value))
        for key, value in client.hgetall(batch_results_key(batch_id)).items()
    }
    finished = meta["finished_at"]
    ended = finished or time.time()
    return BatchStatus(
        batch_id=batch_id,
        total_connections=len(meta["ids"]),
        finished=bool(finished),
        duration_ms=int((ended - meta["started_at"]) * 1000),
        queued_ms=(
            int((meta["run_started_at"] - meta["started_at"]) * 1000)
            if meta.get("run_started_at")
            else None
        ),
        results={i: results[i] for i in meta["ids"] if i in results},
    )


def batch_wait(*, user: User, batch_id: str, timeout: float) -> BatchStatus:
    """Poll until the batch completes or ``timeout`` passes; the last status either way."""
    deadline = time.monotonic() + timeout
    while True:
        status = batch_status(user=user, batch_id=batch_id)
        if status.finished or time.monotonic() >= deadline:
            return status
        time.sleep(0.025)


def batches_running() -> int:
    return int(redis_client().scard(BATCH_RUNNING_SET))


# -- the live session's stream (issue 12) -------------------------------------------------


def stream_supported(*, exchange: str, api_type: str, environment: str) -> bool:
    """Whether the exchange offers a private stream for this api type and environment (the
    paper exchange serves every protocol)."""
    if exchange not in PROTOCOLS:
        return False
    try:
        protocol = protocol_for(exchange, api_type)
    except NotSupported:
        return False
    return environment == "paper" or (environment, protocol.product) in protocol.ws_roots


def connection_ids_for_streams() -> list[str]:
    """Enabled connections whose exchange streams and whose circuit is closed: the stream
    runner's candidates. An open circuit (a refused stream auth, repeated failures) keeps a
    connection out until its half-open probe closes it."""
    rows = (
        ExchangeConnection.objects.filter(enabled=True)
        .filter(Q(state__circuit="closed") | Q(state__isnull=True))
        .values_list("pk", "exchange", "api_type", "environment")
    )
    return [
        str(pk)
        for pk, exchange, api_type, environment in rows
        if stream_supported(exchange=exchange, api_type=api_type, environment=environment)
    ]


@dataclass(frozen=True)
class StreamStatus:
    """A connection's private stream: its state, since when, reconnects, the last message's
    age, the runner holding its lease and when the last REST snapshot was reconciled."""

    state: str
    since: datetime | None = None
    reconnects: int = 0
    last_message_age_ms: int | None = None
    holder: str | None = None
    snapshot_at: datetime | None = None
    last_error: str = ""


def connection_stream(*, connection: ExchangeConnection) -> StreamStatus | None:
    """The ``stream`` of a connection (DESIGN section 8); None where the exchange has no
    stream, down where no runner has held it yet."""
    if not stream_supported(
        exchange=connection.exchange,
        api_type=connection.api_type,
        environment=connection.environment,
    ):
        return None
    try:
        state = connection.stream_state
    except StreamState.DoesNotExist:
        return StreamStatus(state="down")
    age = None
    if state.last_message_at is not None:
        age = max(0, int((timezone.now() - state.last_message_at).total_seconds() * 1000))
    return StreamStatus(
        state=state.state,
        since=state.since,
        reconnects=state.reconnects,
        last_message_age_ms=age,
        holder=state.holder or None,
        snapshot_at=state.snapshot_at,
        last_error=state.last_error,
    )


# the stream runner's lease of a connection (workers/user_streams.py names it the same; a
# test holds the two equal): a runner that died holds none after one lease period
STREAM_LEASE_PREFIX = "ec:stream:lease:"


@dataclass(frozen=True)
class Ledger:
    """A connection's account as its live stream keeps it: what the pre-checks and the
    balance and position reads use instead of asking the exchange."""

    connection_id: str
    stream: StreamState
    balances: dict[str, LedgerBalance]
    positions: tuple[LedgerPosition, ...]


def stream_heartbeat(*, exchange: str) -> Heartbeat:
    """The exchange's stream heartbeat; with STREAM_HEARTBEAT_SECONDS set, the same rhythm
    at that interval, its dead-stream deadline scaled alike (a stream against a paper
    exchange that runs its clock faster)."""
    heartbeat = PROTOCOLS[exchange].heartbeat
    interval = settings.STREAM_HEARTBEAT_SECONDS
    if not interval:
        return heartbeat
    factor = heartbeat.interval_seconds / interval
    return dataclasses.replace(
        heartbeat,
        interval_seconds=interval,
        dead_after_seconds=heartbeat.dead_after_seconds / factor,
    )


def stream_silence_seconds(*, exchange: str) -> float:
    """How long a live stream may say nothing (no data, pong or ping) before it counts as
    dead: the heartbeat's own deadline, plus the throttle on writing the last message's
    time (STREAM_STATE_WRITE_SECONDS)."""
    heartbeat = stream_heartbeat(exchange=exchange)
    return heartbeat.dead_after_seconds + settings.STREAM_STATE_WRITE_SECONDS


def stream_is_live(
    *, connection: ExchangeConnection, state: StreamState | None, now: datetime | None = None
) -> bool:
    """The one definition of "live": the exchange streams this connection; its stream is
    ``connected``; the REST snapshot was reconciled after the current connect (so nothing
    from a gap is missing); a message or heartbeat came within the protocol's silence
    deadline; and a runner still holds the connection's lease, the one named on the
    state (a runner that died stops counting within one lease period, not the deadline)."""
    if state is None or state.state != "connected" or state.since is None:
        return False
    if not stream_supported(
        exchange=connection.exchange,
        api_type=connection.api_type,
        environment=connection.environment,
    ):
        return False
    if state.snapshot_at is None or state.snapshot_at < state.since:
        return False
    now = now or timezone.now()
    if state.last_message_at is None or (
        now - state.last_message_at
    ).total_seconds() > stream_silence_seconds(exchange=connection.exchange):
        return False
    holder = redis_client().get(f"{STREAM_LEASE_PREFIX}{connection.pk}")
    return holder is not None and redis_text(holder) == state.holder


def ledger_if_live(*, connection: ExchangeConnection, now: datetime | None = None) -> Ledger | None:
    """The connection's ledger while its stream is live (``stream_is_live``), else None:
    then the exchange must be asked."""
    state = StreamState.objects.filter(connection=connection).first()
    if not stream_is_live(connection=connection, state=state, now=now):
        return None
    assert state is not None
    balances = {row.asset: row for row in LedgerBalance.objects.filter(connection=connection)}
    positions = (
        tuple(LedgerPosition.objects.filter(connection=connection))
        if connection.api_type == "perpetual_futures"
        else ()
    )  # spot holds balances only
    return Ledger(
        connection_id=str(connection.pk), stream=state, balances=balances, positions=positions
    )
