"""The beat schedule defaults, written as django-celery-beat PeriodicTask rows by a data
migration (operators' edits in the admin survive restarts). Entries arrive with the health
and orders issues."""

from __future__ import annotations

DEFAULT_SCHEDULE: dict[str, dict[str, object]] = {}
