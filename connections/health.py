"""Connection tests, heartbeats, stale detection and the circuit breaker (writes).

Every check writes a HealthCheck row and updates the state row; every circuit transition,
auth disable and stale deactivation goes to the sync log. The circuit per connection:
CIRCUIT_FAILURE_THRESHOLD consecutive failures open it; while open, calls fail fast
(``CircuitOpen``, 409 ``circuit_open``); after CIRCUIT_COOLDOWN_SECONDS one probe
(half-open, claimed by a conditional update so only one runs) closes or reopens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from connections.alerts import (
    alert_circuit_opened,
    alert_connection_stale,
    alert_key_disabled,
)
from connections.models import (
    CircuitState,
    ConnectionState,
    ExchangeConnection,
    HealthCheck,
    HealthStatus,
)
from connections.results import TestError, TestResult
from connections.services import (
    actor_name,
    connection_connector,
    paper_account_resync,
    sync_log_write,
)
from core.errors import (
    Conflict,
    ExchangeFailed,
    ServiceError,
    Throttled,
    Unavailable,
    Unprocessable,
)
from core.types import Id
from exchanges import errors
from exchanges.base import Connector, KeyInfo

T = TypeVar("T")

DEGRADED_LATENCY_MS = 2000
PROBE_TIMEOUT_SECONDS = 120
# An API read may wait this long for the exchange's budget (a heavy request, such as
# Binance's all-symbol open orders, waits for a second of its own) before answering 429.
READ_MAX_WAIT_SECONDS = 2.5

# exchange error class -> our error code, most specific first
ERROR_CODES: tuple[tuple[type[errors.ExchangeError], str], ...] = (
    (errors.DestinationNotAllowed, "destination_not_allowed"),
    (errors.PermissionDenied, "permission_denied"),
    (errors.AuthenticationError, "authentication_failed"),
    (errors.RateLimited, "rate_limited"),
    (errors.RequestTimeout, "timeout"),
    (errors.NetworkError, "network_error"),
    (errors.ExchangeUnavailable, "exchange_unavailable"),
    (errors.OrderOutcomeUnknown, "exchange_unavailable"),
    (errors.NotSupported, "not_supported"),
    (errors.ExchangeError, "exchange_error"),
)


class CircuitOpen(Conflict):
    code = "circuit_open"


@dataclass(frozen=True)
class CheckOutcome:
    ok: bool
    latency_ms: int | None
    error_code: str = ""
    error_message: str = ""
    offset_ms: int | None = None
    permissions: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    key: KeyInfo | None = None


def error_code_of(exc: errors.ExchangeError) -> str:
    return next(code for cls, code in ERROR_CODES if isinstance(exc, cls))


def circuit_admit(*, connection: ExchangeConnection) -> bool:
    """Let a call through (True when it is the half-open probe), or raise CircuitOpen.

    After the cooldown the first caller claims the probe with a conditional update; everyone
    else still fails fast until it settles. A probe that never reported back (its worker
    died) can be claimed again after PROBE_TIMEOUT_SECONDS more.
    """
    state = ConnectionState.objects.get(connection=connection)
    if state.circuit == CircuitState.CLOSED:
        return False
    cooled_at = timezone.now() - timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
    abandoned_at = cooled_at - timedelta(seconds=PROBE_TIMEOUT_SECONDS)
    claimable = Q(circuit=CircuitState.OPEN, opened_at__lte=cooled_at) | Q(
        circuit=CircuitState.HALF_OPEN, opened_at__lte=abandoned_at
    )
    if ConnectionState.objects.filter(claimable, connection=connection).update(
        circuit=CircuitState.HALF_OPEN
    ):
        sync_log_write(connection_id=connection.pk, action="circuit_half_open", actor="system")
        return True
    raise CircuitOpen(
        "the circuit of this connection is open after repeated failures; "
        "it probes again after the cooldown",
        extra={"retry_after": _seconds_until_probe(state)},
    )


def _probe_abandon(connection: ExchangeConnection) -> None:
    """The probe could not run (our own throttle, a crash): back to open, same cooldown."""
    ConnectionState.objects.filter(connection=connection, circuit=CircuitState.HALF_OPEN).update(
        circuit=CircuitState.OPEN
    )


def _seconds_until_probe(state: ConnectionState) -> int:
    if state.opened_at is None:
        return settings.CIRCUIT_COOLDOWN_SECONDS
    due = state.opened_at + timedelta(seconds=settings.CIRCUIT_COOLDOWN_SECONDS)
    return max(0, int((due - timezone.now()).total_seconds()) + 1)


def connection_circuit_reset(*, connection: ExchangeConnection, actor: User | None) -> bool:
    """An operator closes the circuit by hand (the exchange is known to be back): closed,
    failures forgotten, health unknown until the next check; in the sync log with the
    actor and the circuit it was. False when it was closed already (nothing logged)."""
    with transaction.atomic():
        state = ConnectionState.objects.select_for_update().get(connection=connection)
        if state.circuit == CircuitState.CLOSED and not state.consecutive_failures:
            return False
        ConnectionState.objects.filter(pk=state.pk).update(
            circuit=CircuitState.CLOSED,
            consecutive_failures=0,
            opened_at=None,
            health_status=HealthStatus.UNKNOWN,
        )
        sync_log_write(
            connection_id=connection.pk,
            action="circuit_reset",
            actor=actor_name(actor),
            data={"from": state.circuit, "failures": state.consecutive_failures},
        )
    return True


def _run_check(connection: ExchangeConnection, kind: str, max_wait: float) -> CheckOutcome:
    connector = connection_connector(connection=connection, max_wait=max_wait)
    started = time.monotonic()
    try:
        if kind == "heartbeat":
            latency = connector.heartbeat()
            return CheckOutcome(ok=True, latency_ms=latency, offset_ms=connector.time_offset_ms)
        result = connector.test_connection()
    except errors.RateLimited as exc:
        if exc.code is None and exc.http_status is None:
            # our own limiter said "not now": not the connection's fault
            raise Throttled(
                "the exchange's rate budget is spent; retry shortly",
                extra={"retry_after": exc.retry_after},
            ) from None
        return CheckOutcome(
            ok=False,
            latency_ms=_elapsed_ms(started),
            error_code="rate_limited",
            error_message=str(exc),
        )
    except errors.ExchangeError as exc:
        return CheckOutcome(
            ok=False,
            latency_ms=_elapsed_ms(started),
            error_code=error_code_of(exc),
            error_message=str(exc)[:500],
        )
    return CheckOutcome(
        ok=True,
        latency_ms=result.latency_ms,
        offset_ms=result.server_time_offset_ms,
        permissions=result.permissions,
        warnings=result.warnings,
        key=result.key,
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


RETRYABLE_CODES = frozenset({"network_error", "timeout", "exchange_unavailable", "rate_limited"})


def _run_check_resyncing_paper(
    connection: ExchangeConnection, kind: str, max_wait: float
) -> CheckOutcome:
    """A paper exchange that lost its accounts (restarted without its file) refuses our
    generated keys; that is not the connection's fault, so upsert the account once more and
    test again before counting a failure."""
    outcome = _run_check(connection, kind, max_wait)
    if connection.environment != "paper" or outcome.error_code != "authentication_failed":
        return outcome
    try:
        paper_account_resync(connection=connection)
    except ServiceError:
        return outcome
    return _run_check(connection, kind, max_wait)


def connection_check(
    *,
    connection: ExchangeConnection,
    kind: str = "test",
    attempts: int = 1,
    backoff_seconds: float = 0.25,
    max_wait: float = 1.0,
) -> TestResult:
    """Test (or heartbeat) one connection through the circuit; record and return its
    TestResult. With ``attempts`` > 1, retryable failures (never an
    auth or request error) are tried again with exponential backoff; only the final
    outcome is recorded. ``max_wait`` is how long a request may wait for the exchange's
    budget before the check gives up with Throttled."""
    probing = circuit_admit(connection=connection)
    try:
        outcome = _run_check_resyncing_paper(connection, kind, max_wait)
        for attempt in range(1, attempts):
            if outcome.ok or outcome.error_code not in RETRYABLE_CODES:
                break
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
            outcome = _run_check_resyncing_paper(connection, kind, max_wait)
    except BaseException:
        if probing:
            _probe_abandon(connection)
        raise
    checked_at = timezone.now()
    result = test_result(connection=connection, outcome=outcome, tested_at=checked_at)
    _record(connection=connection, outcome=outcome, kind=kind, checked_at=checked_at, result=result)
    return result


def test_result(
    *, connection: ExchangeConnection, outcome: CheckOutcome, tested_at: datetime
) -> TestResult:
    error = (
        TestError(code=outcome.error_code, message=outcome.error_message)
        if not outcome.ok
        else None
    )
    return TestResult(
        connection_id=str(connection.pk),
        success=outcome.ok,
        latency_ms=outcome.latency_ms,
        server_time_offset_ms=outcome.offset_ms,
        permissions=tuple(outcome.permissions),
        warnings=tuple(outcome.warnings),
        error=error,
        tested_at=tested_at,
        key=outcome.key,
    )


def _record(
    *,
    connection: ExchangeConnection,
    outcome: CheckOutcome,
    kind: str,
    checked_at: datetime,
    result: TestResult,
) -> None:
    with transaction.atomic():
        HealthCheck.objects.create(
            connection=connection,
            checked_at=checked_at,
            kind=kind,
            ok=outcome.ok,
            latency_ms=outcome.latency_ms,
            error_code=outcome.error_code,
        )
        state = ConnectionState.objects.select_for_update().get(connection=connection)
        previous_circuit = state.circuit
        changes: dict[str, Any] = {
            "last_check_at": checked_at,
            "last_latency_ms": outcome.latency_ms,
            "total_requests": F("total_requests") + 1,
        }
        if kind != "heartbeat":
            changes["test_results"] = result.to_stored()
        if outcome.ok:
            changes.update(_success_changes(outcome, kind, checked_at))
        else:
            changes.update(_failure_changes(state, outcome))
        ConnectionState.objects.filter(pk=state.pk).update(**changes)
        _log_transitions(connection, previous_circuit, changes.get("circuit"), outcome)
        if outcome.error_code in ("authentication_failed", "permission_denied"):
            _disable_for_auth(connection, outcome)


def _success_changes(outcome: CheckOutcome, kind: str, checked_at: datetime) -> dict[str, Any]:
    slow = (outcome.latency_ms or 0) > DEGRADED_LATENCY_MS
    changes: dict[str, Any] = {
        "successful_requests": F("successful_requests") + 1,
        "consecutive_failures": 0,
        "health_status": HealthStatus.DEGRADED if slow else HealthStatus.HEALTHY,
        "circuit": CircuitState.CLOSED,
        "opened_at": None,
        "last_sync_at": checked_at,
        "last_error": "",
        "last_error_code": "",
    }
    if kind == "heartbeat":
        changes["last_heartbeat_at"] = checked_at
    return changes


def _failure_changes(state: ConnectionState, outcome: CheckOutcome) -> dict[str, Any]:
    failures = state.consecutive_failures + 1
    opens = (
        state.circuit == CircuitState.HALF_OPEN or failures >= settings.CIRCUIT_FAILURE_THRESHOLD
    )
    changes: dict[str, Any] = {
        "failed_requests": F("failed_requests") + 1,
        "consecutive_failures": failures,
        "last_error": outcome.error_message[:500],
        "last_error_code": outcome.error_code,
        "health_status": HealthStatus.UNHEALTHY if opens else HealthStatus.DEGRADED,
    }
    if opens:
        changes.update(circuit=CircuitState.OPEN, opened_at=timezone.now())
    return changes


def _log_transitions(
    connection: ExchangeConnection, before: str, after: str | None, outcome: CheckOutcome
) -> None:
    if after is None or after == before:
        return
    action = "circuit_opened" if after == CircuitState.OPEN else "circuit_closed"
    sync_log_write(
        connection_id=connection.pk,
        action=action,
        actor="system",
        data={"from": before, "error_code": outcome.error_code},
    )
    if after == CircuitState.OPEN:
        alert_circuit_opened(connection=connection, error_code=outcome.error_code)


def _disable_for_auth(connection: ExchangeConnection, outcome: CheckOutcome) -> None:
    """An authentication or permission failure disables the connection at once."""
    disabled = ExchangeConnection.objects.filter(pk=connection.pk, enabled=True).update(
        enabled=False, is_active=False
    )
    if disabled:
        sync_log_write(
            connection_id=connection.pk,
            action="disabled_auth_failure",
            actor="system",
            data={"error_code": outcome.error_code},
        )
        alert_key_disabled(connection=connection, error_code=outcome.error_code)


def connections_stale_deactivate() -> int:
    """Active connections without a heartbeat for STALE_AFTER_SECONDS lose active status
    (never reactivated automatically). Returns how many. The grace counts from the
    activation (a connection activated a moment ago has had no chance to beat yet), from
    the creation only for rows activated before activations were timed."""
    cutoff = timezone.now() - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    past_grace = Q(activated_at__lt=cutoff) | Q(activated_at__isnull=True, created_at__lt=cutoff)
    stale = list(
        ExchangeConnection.objects.filter(past_grace, is_active=True).exclude(
            state__last_heartbeat_at__gte=cutoff
        )
    )
    count = 0
    for connection in stale:
        pk = connection.pk
        with transaction.atomic():
            if not ExchangeConnection.objects.filter(pk=pk, is_active=True).update(is_active=False):
                continue
            ConnectionState.objects.filter(connection_id=pk).update(
                health_status=HealthStatus.UNKNOWN
            )
            sync_log_write(
                connection_id=pk,
                action="stale_deactivated",
                actor="system",
                data={"stale_after_seconds": settings.STALE_AFTER_SECONDS},
            )
            alert_connection_stale(
                connection=connection, stale_after_seconds=settings.STALE_AFTER_SECONDS
            )
            count += 1
    return count


def health_history_prune() -> int:
    """Delete HealthCheck rows older than HEALTH_RETENTION_DAYS."""
    cutoff = timezone.now() - timedelta(days=settings.HEALTH_RETENTION_DAYS)
    deleted, _ = HealthCheck.objects.filter(checked_at__lt=cutoff).delete()
    return deleted


def connection_exchange_call(
    *, connection: ExchangeConnection, call: Callable[[Connector], T]
) -> T:
    """Run one read against the exchange through the limiter, mapping exchange errors to
    API errors. An open circuit fails fast (reads never act as the half-open probe)."""
    state = ConnectionState.objects.get(connection=connection)
    if state.circuit != CircuitState.CLOSED:
        raise CircuitOpen(
            "the circuit of this connection is open after repeated failures",
            extra={"retry_after": _seconds_until_probe(state)},
        )
    if not connection.enabled:
        raise Conflict("this connection is disabled", code="connection_disabled")
    try:
        return call(connection_connector(connection=connection, max_wait=READ_MAX_WAIT_SECONDS))
    except errors.RateLimited as exc:
        raise Throttled(
            "the exchange's rate budget is spent; retry shortly",
            extra={"retry_after": exc.retry_after},
        ) from None
    except errors.NotSupported as exc:
        raise Unprocessable(
            exc.message or "not supported by this exchange", code="not_supported"
        ) from None
    except (errors.NetworkError, errors.ExchangeUnavailable, errors.OrderOutcomeUnknown):
        raise Unavailable("the exchange did not answer; try again") from None
    except errors.ExchangeError as exc:
        raise ExchangeFailed(
            f"the exchange refused: {exc}"[:300], extra={"exchange_code": exc.code}
        ) from None


def connection_stream_auth_refused(*, connection_id: Id, code: str, message: str) -> None:
    """The private stream's authentication was refused (a bad or revoked key): record a
    failed check and open the circuit at once, so the stream runner stops retrying the
    connection until the half-open probe (a REST check) closes it again. The probe's own
    auth failure then disables the connection (``_disable_for_auth``)."""
    connection = ExchangeConnection.objects.get(pk=connection_id)
    now = timezone.now()
    with transaction.atomic():
        HealthCheck.objects.create(
            connection=connection,
            checked_at=now,
            kind="stream",
            ok=False,
            error_code="authentication_failed",
        )
        state = ConnectionState.objects.select_for_update().get(connection=connection)
        ConnectionState.objects.filter(pk=state.pk).update(
            circuit=CircuitState.OPEN,
            opened_at=now,
            health_status=HealthStatus.UNHEALTHY,
            consecutive_failures=F("consecutive_failures") + 1,
            failed_requests=F("failed_requests") + 1,
            total_requests=F("total_requests") + 1,
            last_check_at=now,
            last_error=f"stream auth refused: [{code}] {message}"[:500],
            last_error_code="authentication_failed",
        )
        if state.circuit != CircuitState.OPEN:
            sync_log_write(
                connection_id=connection.pk,
                action="circuit_opened",
                actor="system",
                data={
                    "from": state.circuit,
                    "error_code": "authentication_failed",
                    "via": "stream",
                },
            )
            alert_circuit_opened(connection=connection, error_code="authentication_failed")
