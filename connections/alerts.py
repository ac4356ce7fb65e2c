"""Alerts to the operators' webhook (ALERT_WEBHOOK_URL): what broke, once per subject per
ALERT_DEDUPE_SECONDS, never in the way of the work that noticed it.

The place that notices (a circuit opening, a key disabled, a stale sweep, a rate-limit
pause, the alerts sweeps) calls ``alert_raise``. Once its transaction commits, a Redis
``SET NX EX`` claims the subject for ten minutes and the ``connections.alert_send`` task is queued
(``retry=False``: a broker that is down costs the caller nothing but a log line). The task
POSTs with a short timeout, retries twice, then gives up with a log line. Nothing secret
is in an alert: names, ids, the exchange, error codes; never an exchange's message, a key
or the webhook URL itself (a Slack webhook URL is a credential).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections.models import ExchangeConnection, StreamState
from exchanges.capabilities import exchange_display_name
from exchanges.ratelimit import PauseStarted

log = logging.getLogger(__name__)

KINDS = (
    "circuit_opened",
    "key_disabled",
    "connection_stale",
    "stream_down",
    "rate_limit_pause",
    "orders_stuck",
)
CONNECT_TIMEOUT_SECONDS = 2.0
DEDUPE_KEY = "ec:alert:{subject}"
STREAM_DOWN_STATES = ("down", "reconnecting")


class AlertNotDelivered(Exception):
    """The webhook answered, but not with a 2xx."""


@dataclass(frozen=True)
class Alert:
    kind: str  # one of KINDS
    subject: str  # what the ten-minute dedupe is per
    text: str  # Slack's ``text``: one readable line
    connection_id: str | None = None
    exchange: str | None = None
    details: Mapping[str, str | int | float | None] = field(default_factory=dict)
    at: datetime = field(default_factory=timezone.now)

    def payload(self) -> dict[str, Any]:
        """The JSON POSTed: Slack-compatible ``text`` plus the structured fields."""
        return {
            "text": self.text,
            "subject": self.subject,
            "kind": self.kind,
            "connectionId": self.connection_id,
            "exchange": self.exchange,
            "time": self.at.isoformat().replace("+00:00", "Z"),
            "details": dict(self.details),
        }


def alert_raise(alert: Alert) -> None:
    """Queue ``alert`` once the surrounding transaction commits (at once outside one);
    nothing when no webhook is configured. Never raises."""
    if not settings.ALERT_WEBHOOK_URL:
        return
    try:
        transaction.on_commit(partial(_claim_and_enqueue, alert), robust=True)
    except Exception:  # an alert never fails the work that raised it
        log.warning("alert %s for %s not queued", alert.kind, alert.subject, exc_info=True)


def _claim_and_enqueue(alert: Alert) -> None:
    from connections.tasks import alert_send_task
    from core.redis import redis_client

    try:
        # the claim holds the alert's JSON: the task is handed only the subject (Flower
        # shows a task's arguments; tasks take ids)
        claimed = redis_client().set(
            DEDUPE_KEY.format(subject=alert.subject),
            json.dumps(alert.payload()),
            nx=True,
            ex=settings.ALERT_DEDUPE_SECONDS,
        )
        if not claimed:
            return  # the same subject alerted within the dedupe window
        alert_send_task.apply_async(args=[alert.subject], retry=False)
    except Exception:  # Redis or the broker down: a log line, no more
        log.warning("alert %s for %s not queued", alert.kind, alert.subject, exc_info=True)


def alert_payload(*, subject: str) -> dict[str, Any] | None:
    """The JSON of the alert claimed for ``subject`` (None once its claim has lapsed)."""
    from core.redis import redis_client

    raw = redis_client().get(DEDUPE_KEY.format(subject=subject))
    return json.loads(raw) if raw else None


def alert_post(*, payload: Mapping[str, Any]) -> None:
    """POST one alert (the ``connections.alert_send`` task's work). Raises on a failure to retry."""
    response = requests.post(
        settings.ALERT_WEBHOOK_URL,
        json=dict(payload),
        timeout=(CONNECT_TIMEOUT_SECONDS, settings.ALERT_TIMEOUT_SECONDS),
        allow_redirects=False,
    )
    if not 200 <= response.status_code < 300:
        raise AlertNotDelivered(f"HTTP {response.status_code}")


# -- the alerts, one builder each ------------------------------------------------------------


def _about(connection: ExchangeConnection) -> str:
    return (
        f"{connection.name} ({exchange_display_name(connection.exchange)} "
        f"{connection.api_type} {connection.environment})"
    )


def _for(kind: str, connection: ExchangeConnection, text: str, **details: Any) -> Alert:
    return Alert(
        kind=kind,
        subject=f"{kind}:{connection.pk}",
        text=text,
        connection_id=str(connection.pk),
        exchange=connection.exchange,
        details=details,
    )


def alert_circuit_opened(*, connection: ExchangeConnection, error_code: str) -> None:
    alert_raise(
        _for(
            "circuit_opened",
            connection,
            f"Circuit opened: {_about(connection)} after repeated failures "
            f"({error_code or 'error'}); calls fail fast until the probe passes",
            error_code=error_code,
        )
    )


def alert_key_disabled(*, connection: ExchangeConnection, error_code: str) -> None:
    alert_raise(
        _for(
            "key_disabled",
            connection,
            f"Key refused, connection disabled: {_about(connection)} "
            f"({error_code}); check the API key and enable it again",
            error_code=error_code,
        )
    )


def alert_connection_stale(*, connection: ExchangeConnection, stale_after_seconds: int) -> None:
    alert_raise(
        _for(
            "connection_stale",
            connection,
            f"Connection went stale and was deactivated: {_about(connection)} "
            f"(no heartbeat for {stale_after_seconds} s)",
            stale_after_seconds=stale_after_seconds,
        )
    )


def alert_rate_limit_pause(*, pause: PauseStarted) -> None:
    """A limiter hook (``RedisThrottle.on_pause_start``): one alert per pool."""
    pool = f"{pause.exchange}:{pause.destination}:{pause.product}"
    alert_raise(
        Alert(
            kind="rate_limit_pause",
            subject=f"rate_limit_pause:{pool}",
            text=f"Rate-limit pause: {exchange_display_name(pause.exchange)} "
            f"{pause.product} at {pause.destination} paused for "
            f"{pause.seconds:g} s ({pause.reason})",
            exchange=pause.exchange,
            details={
                "destination": pause.destination,
                "product": pause.product,
                "seconds": pause.seconds,
                "reason": pause.reason,
            },
        )
    )


def streams_down_alert() -> int:
    """The alerts sweep: an active connection's private stream down or reconnecting for
    longer than ALERT_STREAM_DOWN_SECONDS. Returns how many were raised (before dedupe)."""
    since = timezone.now() - timedelta(seconds=settings.ALERT_STREAM_DOWN_SECONDS)
    down = StreamState.objects.filter(
        state__in=STREAM_DOWN_STATES,
        since__lt=since,
        connection__is_active=True,
        connection__enabled=True,
    ).select_related("connection")
    count = 0
    for stream in down:
        down_since = stream.since or since  # the filter only matches rows with a since
        minutes = int((timezone.now() - down_since).total_seconds() // 60)
        alert_raise(
            _for(
                "stream_down",
                stream.connection,
                f"Private stream {stream.state} for {minutes} min: "
                f"{_about(stream.connection)} ({stream.reconnects} reconnects)",
                state=stream.state,
                reconnects=stream.reconnects,
            )
        )
        count += 1
    return count


def alert_orders_stuck(
    *, connection: ExchangeConnection, unknown: int, flagged: int, older_than_seconds: int
) -> None:
    """Orders of one connection ``unknown`` or flagged for longer than the threshold (the
    orders app's sweep counts them)."""
    parts = [f"{unknown} unknown"] if unknown else []
    parts += [f"{flagged} flagged"] if flagged else []
    alert_raise(
        _for(
            "orders_stuck",
            connection,
            f"Orders need an operator: {' and '.join(parts)} for over "
            f"{older_than_seconds // 60} min on {_about(connection)}",
            unknown=unknown,
            flagged=flagged,
        )
    )
