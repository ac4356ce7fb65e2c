"""The beat schedule defaults, written as django-celery-beat PeriodicTask rows by the data
migration ``workers/migrations/0001_default_schedule`` (get_or_create: operators' edits in
the admin survive restarts and deploys). Each entry expires within its own interval, so a
backlog never replays stale sweeps."""

from __future__ import annotations

from django.conf import settings


def default_schedule() -> dict[str, dict[str, object]]:
    heartbeat = settings.HEARTBEAT_INTERVAL_SECONDS
    return {
        # every 5 minutes: test every enabled connection (fans out one task each)
        "health sweep": {"task": "connections.health_sweep", "every": 300, "queue": "health"},
        # every HEARTBEAT_INTERVAL_SECONDS: heartbeat the active connections
        "heartbeat sweep": {
            "task": "connections.heartbeat_sweep",
            "every": heartbeat,
            "queue": "health",
        },
        # every minute: deactivate active connections without a recent heartbeat
        "stale sweep": {"task": "connections.stale_sweep", "every": 60, "queue": "maintenance"},
        # every minute: settle submitting/unknown orders, refresh open ones, find orphans
        "order reconciliation": {"task": "orders.reconcile", "every": 60, "queue": "orders"},
        # hourly: prune health history past retention, forget expired batches
        "cleanup": {"task": "connections.cleanup", "every": 3600, "queue": "maintenance"},
        # every minute: alert on private streams down and orders unknown or flagged for
        # longer than their thresholds (connections/alerts.py; one alert per 10 minutes)
        "alerts streams": {
            "task": "connections.stream_alerts_sweep",
            "every": 60,
            "queue": "maintenance",
        },
        "alerts orders": {"task": "orders.alerts_sweep", "every": 60, "queue": "maintenance"},
        # hourly: Binance's own rate limits (exchangeInfo.rateLimits) replace our defaults
        "binance rate limits": {
            "task": "connections.rate_limits_refresh",
            "every": 3600,
            "queue": "maintenance",
        },
    }
