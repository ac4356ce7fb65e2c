"""What /metrics computes at scrape time about connections (config/metrics.py serves it).

Connections are labelled by id and exchange only: never the owner's or the connection's
name, never a key. Each reading is one database query or a fixed number of Redis calls,
however many connections there are.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from connections.models import (
    STREAM_STATES,
    CircuitState,
    ExchangeConnection,
    HealthStatus,
)
from connections.ratelimits import exchange_usage
from core.metrics import PREFIX

CONNECTION = ["connection", "exchange"]
# the trading state (active | reduce_only | halted), once the model has it
TRADING_STATES = ("active", "reduce_only", "halted")


def _has_field(name: str) -> bool:
    return any(field.name == name for field in ExchangeConnection._meta.get_fields())


def connection_metrics() -> Iterator[Metric]:
    """Circuit, health, trading and stream state (one-hot per state), enabled and active,
    and the stream's lag: one query over every connection."""
    trading = _has_field("trading_state")
    columns = [
        "pk",
        "exchange",
        "enabled",
        "is_active",
        "state__circuit",
        "state__health_status",
        "stream_state__state",
        "stream_state__last_message_at",
    ]
    rows = list(
        ExchangeConnection.objects.order_by("pk").values_list(
            *columns, *(["trading_state"] if trading else [])
        )
    )
    circuit = _family(
        "connection_circuit_state",
        "The connection's circuit breaker (1 for its current state)",
        "state",
    )
    health = _family(
        "connection_health_status",
        "The connection's health as the last check left it (1 for its current status)",
        "status",
    )
    stream = _family(
        "connection_stream_state",
        "The connection's private stream as its holder last wrote it (1 for its current state)",
        "state",
    )
    trade = _family(
        "connection_trading_state",
        "What the connection may send: active, reduce_only, halted (1 for its current state)",
        "state",
    )
    enabled = GaugeMetricFamily(
        f"{PREFIX}_connection_enabled", "1: the connection is enabled", labels=CONNECTION
    )
    active = GaugeMetricFamily(
        f"{PREFIX}_connection_active", "1: the owner's active connection", labels=CONNECTION
    )
    lag = GaugeMetricFamily(
        f"{PREFIX}_stream_lag_seconds",
        "Age of the last message of the connection's private stream",
        labels=CONNECTION,
    )
    now = timezone.now()
    for row in rows:
        pk, exchange, is_enabled, is_active, circuit_state, health_status = row[:6]
        stream_state, last_message_at = row[6:8]
        labels = [str(pk), exchange]
        _one_hot(circuit, labels, circuit_state or CircuitState.CLOSED, CircuitState.values)
        _one_hot(health, labels, health_status or HealthStatus.UNKNOWN, HealthStatus.values)
        if stream_state is not None:
            _one_hot(stream, labels, stream_state, STREAM_STATES)
        if trading:
            _one_hot(trade, labels, row[8], TRADING_STATES)
        enabled.add_metric(labels, 1.0 if is_enabled else 0.0)
        active.add_metric(labels, 1.0 if is_active else 0.0)
        if last_message_at is not None:
            lag.add_metric(labels, max((now - last_message_at).total_seconds(), 0.0))
    yield from (circuit, health, stream, enabled, active, lag)
    if trading:
        yield trade


def rate_limit_metrics() -> Iterator[Metric]:
    """Each destination pool in use, per egress: every window's use against its ceiling,
    the weight of the last minute, requests in flight and the pause left, from the
    limiter's Redis state (a fixed number of calls per exchange and egress)."""
    pool = ["exchange", "egress", "pool"]
    used = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_used",
        "Units counted in a window of a rate-limit pool",
        labels=[*pool, "window"],
    )
    limit = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_limit",
        "The window's ceiling (published figure times the safety factor)",
        labels=[*pool, "window"],
    )
    ratio = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_usage_ratio",
        "used / limit of a window of a rate-limit pool",
        labels=[*pool, "window"],
    )
    weight = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_weight_last_minute",
        "Request weight the pool sent in the last minute",
        labels=pool,
    )
    in_flight = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_in_flight",
        "Requests of the pool holding a concurrency lease",
        labels=pool,
    )
    paused = GaugeMetricFamily(
        f"{PREFIX}_rate_limit_paused_seconds",
        "Seconds left of the pool's pause after a rate-limit answer",
        labels=pool,
    )
    for exchange, usage in sorted(exchange_usage().items()):
        for pool_usage in usage.pools:
            labels = [exchange, pool_usage.egress, pool_usage.destination]
            figures = pool_usage.usage
            for window in figures.windows:
                used.add_metric([*labels, window.name], float(window.used))
                limit.add_metric([*labels, window.name], float(window.limit))
                ratio.add_metric(
                    [*labels, window.name], window.used / window.limit if window.limit else 0.0
                )
            weight.add_metric(labels, float(figures.weight_last_minute))
            in_flight.add_metric(labels, float(figures.in_flight))
            paused.add_metric(labels, float(figures.paused_for_seconds))
    yield from (used, limit, ratio, weight, in_flight, paused)


def _family(name: str, documentation: str, state_label: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=[*CONNECTION, state_label])


def _one_hot(
    family: GaugeMetricFamily, labels: list[str], current: str, states: tuple[str, ...] | list[str]
) -> None:
    for state in states:
        family.add_metric([*labels, state], 1.0 if state == current else 0.0)
