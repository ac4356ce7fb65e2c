"""Thin order tasks: ids in, one service call, and the one execution policy: what happens
next is decided here from the service's typed ``Outcome`` (retry with a countdown, the fast
settle path, a read-back), each bounded.

What bounds each task: Celery's soft and hard time limits do nothing under the threads
pool, so none is relied on. Every exchange call ends within EXCHANGE_TIMEOUT_SECONDS (the
connector's whole-request deadline), the limiter never holds a task longer than about a
second (it raises RateLimited and the task retries with a countdown instead), and each task
makes a small fixed number of calls: submit at most a leverage call, a place and a settle
(a lookup, a server time, at most one resend); settle the same without the place; cancel a
cancel and a lookup; refresh one lookup.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from celery import shared_task

from connections.health import CircuitOpen

# a deferred send retries (Flower shows RETRY, not a success) at most this often; after
# that, reconciliation re-enqueues the still-pending order
MAX_SUBMIT_RETRIES = 100
MAX_CANCEL_RETRIES = 8
MAX_REFRESH_RETRIES = 4
# the fast path settles an unknown order this many times, then leaves it to the minute
# reconciliation
FAST_SETTLE_RUNS = 20
MAX_COUNTDOWN_SECONDS = 60.0
MIN_COUNTDOWN_SECONDS = 0.2


def _countdown(seconds: float) -> float:
    return min(max(seconds, MIN_COUNTDOWN_SECONDS), MAX_COUNTDOWN_SECONDS)


def _follow_up(order_id: str, outcome: Any, *, settle_run: int = 0, resubmit: bool = False) -> None:
    """Schedule what the outcome asks for. ``resubmit``: a run other than submit's own put
    the order back to pending (a resend that met a wait for budget), so submit must come
    back for it; submit itself retries instead."""
    if resubmit and outcome.retry_in is not None:
        submit_task.apply_async(args=[order_id], priority=0, countdown=_countdown(outcome.retry_in))
    if outcome.settle_in is not None and settle_run < FAST_SETTLE_RUNS:
        # later runs back off: a lookup that keeps failing is not hammered
        delay = outcome.settle_in * (1 + settle_run // 5)
        settle_task.apply_async(
            args=[order_id], kwargs={"run": settle_run + 1}, priority=1, countdown=_countdown(delay)
        )
    if outcome.refresh_in is not None:
        refresh_task.apply_async(
            args=[order_id], priority=4, countdown=_countdown(outcome.refresh_in)
        )


@shared_task(name="orders.submit", bind=True, acks_late=True, max_retries=MAX_SUBMIT_RETRIES)
def submit_task(self: Any, order_id: str) -> str:
    from orders.submission import order_submit

    outcome = order_submit(order_id=order_id)
    _follow_up(order_id, outcome)
    if outcome.retry_in is not None:
        raise self.retry(countdown=_countdown(outcome.retry_in))
    return outcome.status


@shared_task(name="orders.settle", acks_late=True)
def settle_task(order_id: str, run: int = 0) -> str:
    """``run`` > 0 is the fast path after an ambiguous send; 0 is reconciliation's."""
    from orders.submission import Outcome, order_settle

    try:
        outcome = order_settle(order_id=order_id, source="task" if run else "reconcile")
    except CircuitOpen:
        return "circuit open"
    if outcome.status == "busy" and run:
        outcome = Outcome("busy", settle_in=1.0)  # another settler holds it: look again
    # reconciliation's settle starts a fast path of its own when the order needs another look
    _follow_up(order_id, outcome, settle_run=run, resubmit=True)
    return outcome.status


@shared_task(name="orders.refresh", bind=True, acks_late=True, max_retries=MAX_REFRESH_RETRIES)
def refresh_task(self: Any, order_id: str) -> str:
    """A read: one the exchange could not answer is tried again a few times with backoff
    (the read-back of a market order should not wait for reconciliation's next turn)."""
    from exchanges import errors
    from orders.submission import order_refresh

    try:
        outcome = order_refresh(order_id=order_id, source="reconcile")
    except errors.ExchangeError as exc:
        if not exc.retryable and not isinstance(exc, errors.OrderOutcomeUnknown):
            raise
        if self.request.retries >= MAX_REFRESH_RETRIES:
            return "not refreshed; reconciliation's next turn"
        raise self.retry(
            countdown=_countdown(max(getattr(exc, "retry_after", 0), 2.0**self.request.retries))
        ) from None
    return outcome.status


@shared_task(name="orders.cancel", bind=True, acks_late=True, max_retries=MAX_CANCEL_RETRIES)
def cancel_task(self: Any, order_id: str) -> str:
    """Idempotent: a cancel the exchange already applied is read back on the retry."""
    from orders.submission import order_cancel_gave_up, order_cancel_on_exchange

    outcome = order_cancel_on_exchange(order_id=order_id)
    if outcome.retry_in is None:
        return outcome.status
    if self.request.retries >= MAX_CANCEL_RETRIES:
        order_cancel_gave_up(order_id=order_id)
        return "gave up; flagged"
    # 1, 2, 4 ... seconds, or the exchange's own retry-after when longer
    raise self.retry(countdown=_countdown(max(outcome.retry_in, 2.0**self.request.retries)))


@shared_task(name="orders.cancel_all", bind=True, acks_late=True, max_retries=6)
def cancel_all_task(self: Any, connection_id: str, symbol: str | None) -> int:
    from exchanges import errors
    from orders.services import order_cancel_all_on_exchange

    try:
        return order_cancel_all_on_exchange(connection_id=connection_id, symbol=symbol)
    except errors.ExchangeError as exc:
        if not exc.retryable and not isinstance(exc, errors.OrderOutcomeUnknown):
            raise
        raise self.retry(
            countdown=_countdown(getattr(exc, "retry_after", 0) or 2.0**self.request.retries)
        ) from None


@shared_task(name="orders.reconcile")
def reconcile_task() -> dict[str, int]:
    from core.redis import redis_client
    from orders.reconcile import connections_with_recent_orders, orders_reconcile

    if not redis_client().set("ec:lock:orders_reconcile", "1", nx=True, ex=50):
        return {}
    result = orders_reconcile()
    for connection_id in connections_with_recent_orders():
        orphans_task.apply_async(args=[connection_id], priority=6)
    return asdict(result)  # a task's result is JSON


@shared_task(name="orders.orphans", acks_late=True)
def orphans_task(connection_id: str) -> int:
    from orders.reconcile import orphans_record

    return orphans_record(connection_id=connection_id)


@shared_task(name="orders.alerts_sweep")
def alerts_orders_sweep_task() -> int:
    from orders.alerts import orders_stuck_alert

    return orders_stuck_alert()
