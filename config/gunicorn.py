"""gunicorn's settings beside its command line (``gunicorn -c python:config.gunicorn``).

- Logs: gunicorn's own loggers (``gunicorn.error``, ``gunicorn.access``) hand their records
  to the root handler of settings.LOGGING, so they come out in the same structured format
  as Django's and ours. An access line names the method, the path without its query
  string, the status, the size and the time taken.
- Metrics: prometheus_client's multiprocess mode asks the master to say when a worker
  exits, so that the worker's live gauges leave the totals (its counters and histograms
  stay in them): ``child_exit``. core/metrics.py has the rest of the story.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _logconfig_dict() -> dict[str, Any]:
    from django.conf import settings

    config = dict(settings.LOGGING)
    through_root = {"level": "INFO", "handlers": [], "propagate": True}
    config["loggers"] = {
        **config.get("loggers", {}),
        "gunicorn.error": through_root,
        "gunicorn.access": through_root,
    }
    return config


logconfig_dict = _logconfig_dict()
# no query string (%(U)s is the path alone), no referer, no user agent
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(L)ss'


def child_exit(server: Any, worker: Any) -> None:
    from django.conf import settings
    from prometheus_client.multiprocess import mark_process_dead

    from core.metrics import process_identifier

    mark_process_dead(process_identifier(worker.pid), settings.PROMETHEUS_MULTIPROC_DIR)
