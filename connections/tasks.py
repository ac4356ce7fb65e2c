"""Thin Celery tasks: ids in, one service call, nothing secret in arguments or results.

What bounds each task: Celery's time limits do nothing under the threads pool, so none is
set. Each exchange call ends within EXCHANGE_TIMEOUT_SECONDS (the connector's whole-request
deadline) and the limiter never holds a task more than about a second (it retries with a
countdown instead). A test or heartbeat makes a handful of calls; a batch test runs at most
BATCH_MAX_SIZE tests, BATCH_CONCURRENCY at a time, each test waiting for budget a bounded time
(connections/batches.py).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from connections.health import CircuitOpen
from core.errors import Throttled

log = logging.getLogger(__name__)

MAX_COUNTDOWN_SECONDS = 60
HEALTH_SWEEP_SECONDS = 300
ALERT_SEND_RETRIES = 2
ALERT_RETRY_SECONDS = 5


def _countdown(exc: Throttled) -> float:
    return min(max(float(exc.extra.get("retry_after", 1.0)), 1.0), MAX_COUNTDOWN_SECONDS)


def _check(task: Any, connection_id: str, kind: str) -> dict[str, Any] | None:
    from connections.health import connection_check
    from connections.models import ExchangeConnection

    connection = ExchangeConnection.objects.filter(pk=connection_id, enabled=True).first()
    if connection is None:
        return None
    try:
        # the task's result is JSON: the TestResult as stored
        return connection_check(connection=connection, kind=kind).to_stored()
    except CircuitOpen:
        return None  # fails fast; the probe after the cooldown decides
    except Throttled as exc:
        # waiting would hold a worker thread: come back when the budget has room
        raise task.retry(countdown=_countdown(exc), max_retries=5) from None


@shared_task(name="connections.test", bind=True, acks_late=True)
def test_task(self: Any, connection_id: str) -> dict[str, Any] | None:
    return _check(self, connection_id, "test")


@shared_task(name="connections.batch_test", acks_late=True)
def batch_test_task(batch_id: str) -> None:
    from connections.batches import batch_run

    batch_run(batch_id=batch_id)


@shared_task(name="connections.health_check", bind=True, acks_late=True)
def health_check_task(self: Any, connection_id: str) -> dict[str, Any] | None:
    return _check(self, connection_id, "sweep")


@shared_task(name="connections.heartbeat", bind=True, acks_late=True)
def heartbeat_task(self: Any, connection_id: str) -> dict[str, Any] | None:
    return _check(self, connection_id, "heartbeat")


def _fan_out(lock_name: str, task: Any, ids: list[str], *, priority: int, interval: int) -> int:
    """Enqueue one small task per id, unless a sweep already ran in this interval (a
    duplicate beat, a redelivered sweep): the lock lives for most of the interval."""
    from core.redis import redis_client

    lock_seconds = max(1, int(interval * 0.8))
    if not redis_client().set(f"ec:lock:{lock_name}", "1", nx=True, ex=lock_seconds):
        return 0
    for connection_id in ids:
        task.apply_async(args=[connection_id], priority=priority, expires=interval)
    return len(ids)


@shared_task(name="connections.health_sweep")
def health_sweep_task() -> int:
    from connections.selectors import connection_ids_for_sweep

    return _fan_out(
        "health_sweep",
        health_check_task,
        connection_ids_for_sweep(),
        priority=6,
        interval=HEALTH_SWEEP_SECONDS,
    )


@shared_task(name="connections.heartbeat_sweep")
def heartbeat_sweep_task() -> int:
    from connections.selectors import connection_ids_for_heartbeat

    interval = settings.HEARTBEAT_INTERVAL_SECONDS
    return _fan_out(
        "heartbeat_sweep",
        heartbeat_task,
        connection_ids_for_heartbeat(),
        priority=5,
        interval=interval,
    )


@shared_task(name="connections.rate_limits_refresh", acks_late=True)
def rate_limits_refresh_task() -> dict[str, int]:
    """Binance's own rate limits, shared with every process (hourly and at worker start)."""
    from connections.services import exchange_rate_limits_refresh

    return exchange_rate_limits_refresh()


@shared_task(name="connections.stale_sweep")
def stale_sweep_task() -> int:
    from connections.health import connections_stale_deactivate

    return connections_stale_deactivate()


@shared_task(name="connections.cleanup")
def cleanup_task() -> dict[str, int]:
    from connections.batches import batches_forget_expired
    from connections.health import health_history_prune

    return {
        "health_checks_deleted": health_history_prune(),
        "batches_forgotten": batches_forget_expired(),
    }


@shared_task(name="connections.alert_send", bind=True, max_retries=ALERT_SEND_RETRIES)
def alert_send_task(self: Any, alert_id: str) -> bool:
    """POST the alert claimed for subject ``alert_id`` (its JSON, nothing secret); two
    retries, then a log line and done. The webhook's URL is never logged (it can be a
    credential), nor the exception's text (it names the URL)."""
    import requests

    from connections.alerts import AlertNotDelivered, alert_payload, alert_post

    payload = alert_payload(subject=alert_id)
    if payload is None:
        log.warning("alert %s expired before it was sent", alert_id)
        return False
    try:
        alert_post(payload=payload)
    except (requests.RequestException, AlertNotDelivered) as exc:
        reason = str(exc) if isinstance(exc, AlertNotDelivered) else type(exc).__name__
        if self.request.retries < ALERT_SEND_RETRIES:
            raise self.retry(
                countdown=ALERT_RETRY_SECONDS * 2**self.request.retries, exc=exc
            ) from None
        log.warning(
            "alert %s not delivered after %d attempts (%s); giving up",
            payload.get("subject"),
            self.request.retries + 1,
            reason,
        )
        return False
    return True


@shared_task(name="connections.stream_alerts_sweep")
def alerts_streams_sweep_task() -> int:
    from connections.alerts import streams_down_alert

    return streams_down_alert()
