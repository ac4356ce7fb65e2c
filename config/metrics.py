"""``GET /metrics``: Prometheus's text format, behind ``Authorization: Bearer <METRICS_TOKEN>``.

One scrape is the samples every recording process left in PROMETHEUS_MULTIPROC_DIR
(``core.metrics``: exchange requests, latencies, errors, settle times), plus what is read
now: connection states and stream lag (one query), orders by status (one query), the
rate-limit pools (the limiter's Redis state) and the Celery queues (one Redis pipeline).
A part that cannot be read (the database or Redis away) is left out and said so by
``exchange_connect_scrape_ok{part}``; the rest is still served. docs/operations.md lists
every name and label.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from connections.metrics import connection_metrics, rate_limit_metrics
from core.metrics import PREFIX, multiproc_dir, recorded
from core.redis import redis_client
from orders.metrics import order_metrics

logger = logging.getLogger(__name__)

# the queues are settings.METRICS_CELERY_QUEUES (celery_queues); kombu keeps one Redis list
# per priority step of a queue: the queue's own name for step 0, "<queue>\x06\x16<step>"
# for the others
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"


def celery_queues() -> tuple[str, ...]:
    """The worker's queues, as /metrics reports them (the worker's -Q)."""
    return tuple(settings.METRICS_CELERY_QUEUES)


def celery_queue_metrics() -> Iterator[Metric]:
    """Messages waiting in each queue (every priority step added up): one pipeline."""
    queues = celery_queues()
    pipe = redis_client().pipeline(transaction=False)
    for queue in queues:
        for step in KOMBU_PRIORITY_STEPS:
            pipe.llen(queue if step == 0 else f"{queue}{KOMBU_PRIORITY_SEPARATOR}{step}")
    lengths = iter(pipe.execute())
    family = GaugeMetricFamily(
        f"{PREFIX}_celery_queue_length",
        "Messages waiting in a Celery queue (every priority)",
        labels=["queue"],
    )
    for queue in queues:
        family.add_metric([queue], float(sum(next(lengths) for _ in KOMBU_PRIORITY_STEPS)))
    yield family


PARTS: dict[str, Callable[[], Iterable[Metric]]] = {
    "connections": connection_metrics,
    "orders": order_metrics,
    "rate_limits": rate_limit_metrics,
    "celery_queues": celery_queue_metrics,
}


class ScrapeTimeCollector:
    """Everything computed at scrape time; each part on its own, so one failing leaves the
    others served."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        ok = GaugeMetricFamily(
            f"{PREFIX}_scrape_ok", "1: this part of the scrape was read", labels=["part"]
        )
        for part, read in PARTS.items():
            try:
                metrics = list(read())
            except Exception:
                logger.exception("a part of /metrics could not be read", extra={"part": part})
                ok.add_metric([part], 0.0)
                continue
            ok.add_metric([part], 1.0)
            yield from metrics
        yield ok
        yield GaugeMetricFamily(
            f"{PREFIX}_scrape_duration_seconds",
            "Time this scrape spent reading the database and Redis",
            value=time.perf_counter() - started,
        )


def authorized(request: HttpRequest) -> bool:
    """``Authorization: Bearer <METRICS_TOKEN>``, compared in constant time; never with
    no token configured."""
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not authorized(request):
        return HttpResponse(
            "401 Unauthorized: Authorization: Bearer <METRICS_TOKEN>\n",
            status=401,
            content_type="text/plain; charset=utf-8",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    recorded()  # this process's files (and the directory) exist before they are read
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiproc_dir())
    registry.register(ScrapeTimeCollector())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
