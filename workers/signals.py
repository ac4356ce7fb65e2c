"""Celery signal hooks of the worker side."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready


@worker_ready.connect
def reconcile_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts (or restarts after a crash) settles what was left in flight."""
    from orders.tasks import reconcile_task

    reconcile_task.apply_async(priority=1, countdown=2)


@worker_ready.connect
def read_rate_limits_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """Binance's own rate limits are read when a worker starts, then hourly (beat)."""
    from connections.tasks import rate_limits_refresh_task

    rate_limits_refresh_task.apply_async(priority=1)
