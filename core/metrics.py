"""The metrics a process records as things happen, in prometheus_client's multiprocess mode.

Every process that records (each gunicorn worker, the Celery worker and its threads, the
stream runner) writes its samples to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``
(settings; ``var/prometheus`` by default), one file per metric type and process, named
``<type>_<host>-<pid>.db``: the host keeps processes of several machines or containers
sharing one directory apart. ``/metrics`` (``config/metrics.py``) reads every file of the
directory at scrape time and adds what it computes then from the database and Redis.

The directory is wiped when a whole stack starts (``make run``), as prometheus_client asks;
while it runs, the files of a process that exited stay: its counters are part of the
totals, which never go backwards. Live gauges are the ones prometheus_client removes for a
dead process (``mark_process_dead``: gunicorn's ``child_exit`` in ``config/gunicorn.py``,
and for this host's dead processes whenever a process starts recording); none is recorded
here today, every gauge is computed at scrape time.

The metric objects are made on first use, not at import, so that the directory is the
one the settings name when something is first recorded (tests point it elsewhere), and a
process that never records (Flower, beat) never writes a file.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from prometheus_client import Counter, Histogram, values
from prometheus_client.multiprocess import mark_process_dead

PREFIX = "exchange_connect"
REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SETTLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

# the file names' separator is "_": the host part must not hold one
_HOST = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"
_FILE_ID = re.compile(r"^gauge_[a-z]+_(?P<id>.+)\.db$")


def process_identifier(pid: int | None = None) -> str:
    """This process's part of the file names: ``<host>-<pid>`` (cheap: called on every
    sample, to notice a fork)."""
    return f"{_HOST}-{os.getpid() if pid is None else pid}"


@dataclass(frozen=True)
class Recorded:
    exchange_requests: Counter
    exchange_request_seconds: Histogram
    exchange_errors: Counter
    order_settle_seconds: Histogram


_lock = threading.Lock()
_recorded: Recorded | None = None


def multiproc_dir() -> str:
    return str(settings.PROMETHEUS_MULTIPROC_DIR)


def recorded() -> Recorded:
    """The process's metric objects, made once, on the multiprocess files."""
    global _recorded
    if _recorded is None:
        with _lock:
            if _recorded is None:
                _recorded = _make()
    return _recorded


def _make() -> Recorded:
    directory = multiproc_dir()
    Path(directory).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    # chosen here, not by the environment at prometheus_client's import (another library
    # may have imported it first), with our file names
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)
    forget_dead_processes(directory)
    return Recorded(
        exchange_requests=Counter(
            f"{PREFIX}_exchange_requests",
            'Requests sent to an exchange, by answer status ("none": no answer came)',
            ["exchange", "method", "endpoint", "status"],
            registry=None,
        ),
        exchange_request_seconds=Histogram(
            f"{PREFIX}_exchange_request_duration_seconds",
            "Exchange request latency, from the rate limiter's grant to the mapped outcome",
            ["exchange", "endpoint"],
            buckets=REQUEST_BUCKETS,
            registry=None,
        ),
        exchange_errors=Counter(
            f"{PREFIX}_exchange_errors",
            "Exchange calls that failed, by error class (ours "
            "refused by the rate limiter included)",
            ["exchange", "endpoint", "error"],
            registry=None,
        ),
        order_settle_seconds=Histogram(
            f"{PREFIX}_order_settle_seconds",
            "From an order's creation to the known status "
            "it reaches on leaving submitting or unknown",
            ["exchange", "status"],
            buckets=SETTLE_BUCKETS,
            registry=None,
        ),
    )


def forget_dead_processes(directory: str) -> int:
    """prometheus_client's bookkeeping for processes of this host that are gone: their live
    gauges are removed (their counters and histograms stay in the totals)."""
    gone = set()
    for path in glob.glob(os.path.join(directory, "gauge_*.db")):
        match = _FILE_ID.match(os.path.basename(path))
        identifier = match.group("id") if match else ""
        host, _, pid = identifier.rpartition("-")
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            gone.add(identifier)
    for identifier in gone:
        mark_process_dead(identifier, directory)
    return len(gone)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- recording ---------------------------------------------------------------------------


class CallRecord(Protocol):
    """What exchanges.observe.CallRecord holds (core imports no exchanges module)."""

    @property
    def exchange(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def status(self) -> int | None: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def sent(self) -> bool: ...
    @property
    def error(self) -> str: ...


def exchange_call_observed(record: CallRecord) -> None:
    """The exchanges.observe observer: counters and the latency histogram of one call."""
    metrics = recorded()
    if record.sent:
        status = "none" if record.status is None else str(record.status)
        metrics.exchange_requests.labels(
            record.exchange, record.method, record.endpoint, status
        ).inc()
        metrics.exchange_request_seconds.labels(record.exchange, record.endpoint).observe(
            record.latency_ms / 1000
        )
    if record.error:
        metrics.exchange_errors.labels(record.exchange, record.endpoint, record.error).inc()


def order_settled(*, exchange: str, status: str, seconds: float) -> None:
    recorded().order_settle_seconds.labels(exchange, status).observe(max(seconds, 0.0))
