"""Thin order tasks: ids in, one service call, a short status string out."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from connections.health import CircuitOpen, Throttled
from exchanges import errors

# surely-not-applied or unknown answers: the task runs again with backoff
RETRYABLE = (errors.RateLimited, errors.NetworkError, errors.ExchangeUnavailable,
             errors.OrderOutcomeUnknown, Throttled)


@shared_task(name="orders.submit", bind=True, acks_late=True, soft_time_limit=60,
             time_limit=90)
def submit_task(self: Any, order_id: str) -> str:
    from orders.submission import order_submit

    outcome = order_submit(order_id=order_id)
    if outcome == "retry" or outcome.startswith("retry:"):
        countdown = float(outcome.split(":", 1)[1]) if ":" in outcome else 1.0
        submit_task.apply_async(args=[order_id], priority=0,
                                countdown=min(max(countdown, 0.5), 60))
    return outcome


@shared_task(name="orders.settle", acks_late=True, soft_time_limit=60, time_limit=90)
def settle_task(order_id: str) -> str:
    from orders.models import Order
    from orders.submission import order_settle

    order = Order.objects.select_related("connection").get(pk=order_id)
    try:
        return order_settle(order=order, source="reconcile")
    except CircuitOpen:
        return "circuit open"


@shared_task(name="orders.refresh", acks_late=True, soft_time_limit=30, time_limit=45)
def refresh_task(order_id: str) -> str:
    from connections.services import connection_connector
    from orders.models import Order
    from orders.submission import order_refresh

    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in ("open", "partially_filled"):
        return order.status
    return order_refresh(order=order, connector=connection_connector(
        connection=order.connection), source="reconcile")


@shared_task(name="orders.cancel", bind=True, acks_late=True, soft_time_limit=30,
             time_limit=45, autoretry_for=RETRYABLE, retry_backoff=1, retry_backoff_max=30,
             max_retries=6)
def cancel_task(self: Any, order_id: str) -> str:
    """Idempotent: a cancel the exchange already applied is read back on the retry."""
    from orders.submission import order_cancel_on_exchange

    outcome = order_cancel_on_exchange(order_id=order_id)
    if outcome == "cancel pending":
        raise self.retry(countdown=1, max_retries=6)
    return outcome


@shared_task(name="orders.cancel_all", acks_late=True, soft_time_limit=60, time_limit=90,
             autoretry_for=RETRYABLE, retry_backoff=1, retry_backoff_max=30, max_retries=6)
def cancel_all_task(connection_id: str, symbol: str | None) -> int:
    from connections.models import ExchangeConnection
    from connections.services import connection_connector

    connection = ExchangeConnection.objects.get(pk=connection_id)
    return connection_connector(connection=connection).cancel_all(symbol)


@shared_task(name="orders.reconcile")
def reconcile_task() -> dict[str, int]:
    from connections.ratelimits import redis_client
    from orders.reconcile import connections_with_recent_orders, orders_reconcile

    if not redis_client().set("ec:lock:orders_reconcile", "1", nx=True, ex=50):
        return {}
    result = orders_reconcile()
    for connection_id in connections_with_recent_orders():
        orphans_task.apply_async(args=[connection_id], priority=6)
    return result


@shared_task(name="orders.orphans", acks_late=True, soft_time_limit=60, time_limit=90)
def orphans_task(connection_id: str) -> int:
    from orders.reconcile import orphans_record

    return orphans_record(connection_id=connection_id)
