"""Health sweeps of 100, 1,000 and 10,000 paper connections (issue 4), rate limits raised
for the run, through one real Celery worker (threads pool, 16 threads).

For each size: the wall time from triggering ``connections.health_sweep`` until every
connection of the bench user has a HealthCheck row of kind "sweep" newer than the trigger
(time of the last row written), connections/s, ms per connection, database queries per
connection (``connections.health_check`` run in-process for a sample under
CaptureQueriesContext), the worker's peak RSS while the sweep ran and its CPU time per
connection, Redis limiter calls, and the growth of the time per connection relative to the
100 sweep (linear or better: at most about 1.25).

Connections accumulate (100, then 900 more, then 9,000 more). The first 100 go through
``connection_create`` (its cost per connection is printed); the rest are made in bulk with
the same paper account upsert and the same three rows connection_create writes (checked
field by field against a service-made one). The paper exchange keeps its accounts in memory
(``--accounts ""``): its accounts file is rewritten whole on every upsert, which would make
creating 11,100 accounts quadratic and leave them for every later benchmark. The run has a
database and a Redis database of its own (dropped and flushed at the end): a sweep checks
every enabled connection in its database.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_user,
    celery_workers,
    flush_bench_redis,
    paper_exchange,
    setup_django,
    table,
    write_results,
)

NAME = "health_sweep"
OWN_DATABASE = "bench_health_sweep"
OWN_REDIS_DB = 13
SIZES = (100, 1_000, 10_000)
SERVICE_MADE = 100  # the first connections go through connection_create
CONCURRENCY = 16
EXCHANGES = ("bybit", "binance", "okx", "bingx", "pionex", "orangex")
RAISED = {"per_second": 1_000_000, "per_minute": 100_000_000, "concurrent": 1_000}
RATE_LIMITS = json.dumps({exchange: RAISED for exchange in EXCHANGES})
QUERY_SAMPLE = 12  # two per exchange
UPSERT_THREADS = 8
BULK_BATCH = 1_000
POLL_SECONDS = 0.2
SAMPLE_SECONDS = 0.05
PROBE_CALLS = 200
LINEAR_TOLERANCE = 1.25
# a sweep's checks expire after HEALTH_SWEEP_SECONDS (300 s): waiting longer is pointless
SWEEP_DEADLINE_SECONDS = 290


def api_type_of(exchange: str) -> str:
    return "perpetual_futures" if exchange == "orangex" else "spot"


def values_of(index: int) -> dict[str, str]:
    exchange = EXCHANGES[index % len(EXCHANGES)]
    return {
        "name": f"sweep {index}",
        "exchange": exchange,
        "api_type": api_type_of(exchange),
        "environment": "paper",
    }


# -- creating connections ------------------------------------------------------------------
def create_with_service(owner, start: int, count: int) -> float:
    """connection_create for each; returns ms per connection."""
    from connections.services import ConnectionSpec, connection_create

    began = time.perf_counter()
    for index in range(start, start + count):
        connection_create(owner=owner, actor=owner, spec=ConnectionSpec(**values_of(index)))
    return (time.perf_counter() - began) * 1000 / count


def create_in_bulk(owner, start: int, count: int) -> float:
    """The same paper upsert and the same connection, state and audit rows as
    connection_create, written with bulk_create; returns ms per connection."""
    from django.db import transaction

    from connections import crypto
    from connections.models import ConnectionState, ConnectionSyncLog, ExchangeConnection
    from connections.paper import paper_account_upsert, paper_credentials_generate

    began = time.perf_counter()
    values = [values_of(index) for index in range(start, start + count)]
    credentials = [paper_credentials_generate(exchange=v["exchange"]) for v in values]
    with ThreadPoolExecutor(UPSERT_THREADS) as pool:
        list(
            pool.map(
                lambda pair: paper_account_upsert(
                    exchange=pair[0]["exchange"], credentials=pair[1]
                ),
                zip(values, credentials, strict=True),
            )
        )
    connections = [
        ExchangeConnection(
            owner=owner,
            exchange=v["exchange"],
            name=v["name"],
            api_type=v["api_type"],
            environment=v["environment"],
            api_key_encrypted=crypto.encrypt(c.api_key),
            api_secret_encrypted=crypto.encrypt(c.api_secret),
            passphrase_encrypted=crypto.encrypt(c.passphrase),
            api_key_last4=c.api_key[-4:],
        )
        for v, c in zip(values, credentials, strict=True)
    ]
    logs = [
        ConnectionSyncLog(
            connection_id=str(connection.pk),
            action="created",
            actor=owner.get_username(),
            data={
                "fields": sorted(v),
                "exchange": v["exchange"],
                "api_type": v["api_type"],
                "environment": v["environment"],
            },
        )
        for connection, v in zip(connections, values, strict=True)
    ]
    with transaction.atomic():
        ExchangeConnection.objects.bulk_create(connections, batch_size=BULK_BATCH)
        ConnectionState.objects.bulk_create(
            [ConnectionState(connection=connection) for connection in connections],
            batch_size=BULK_BATCH,
        )
        ConnectionSyncLog.objects.bulk_create(logs, batch_size=BULK_BATCH)
    return (time.perf_counter() - began) * 1000 / count


def check_bulk_rows_match(owner, service_index: int) -> None:
    """A bulk-made connection's rows equal a service-made one's (same exchange, neither
    checked yet), but for what must differ."""
    from django.forms.models import model_to_dict

    from connections.models import ConnectionSyncLog, ExchangeConnection

    varying = {
        "id",
        "name",
        "api_key_encrypted",
        "api_secret_encrypted",
        "passphrase_encrypted",
        "api_key_last4",
        "connection",
    }
    mine = ExchangeConnection.objects.filter(owner=owner)
    service = mine.get(name=values_of(service_index)["name"])
    bulk = mine.get(name=values_of(service_index + len(EXCHANGES))["name"])
    for left, right in ((service, bulk), (service.state, bulk.state)):
        a, b = (
            {k: v for k, v in model_to_dict(row).items() if k not in varying}
            for row in (left, right)
        )
        assert a == b, f"bulk rows differ from connection_create's: {a} != {b}"
    assert bulk.has_passphrase == service.has_passphrase and bulk.created_at
    logs = [ConnectionSyncLog.objects.get(connection_id=str(row.pk)) for row in (service, bulk)]
    a, b = ((log.action, log.actor, log.data) for log in logs)
    assert a == b, f"audit rows differ: {a} != {b}"


# -- measuring one sweep -------------------------------------------------------------------
class WorkerSampler:
    """Samples the worker's RSS and open files while a sweep runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self.peak_fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            self.peak_fds = max(self.peak_fds, self.process.num_fds())
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> WorkerSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def limiter_probe() -> dict[str, float]:
    """Entries now in the six exchanges' 60 s limiter windows (this run's Redis database
    only), and the cost of one acquire + release against the fullest real window and
    against an empty one, measured back to back so the box's load cancels out."""
    from connections.ratelimits import exchange_limiter
    from core.redis import redis_client
    from exchanges.limits import LEGACY_MINUTE
    from exchanges.ratelimit import RateLimiter

    client = redis_client()
    entries: dict[tuple[str, str], int] = {}
    for exchange in EXCHANGES:
        limiter = exchange_limiter(exchange)
        for pool_id in limiter.destinations():
            key = f"{limiter.pool_key(pool_id)}:{LEGACY_MINUTE}"
            entries[exchange, pool_id] = client.zcard(key)
    exchange, pool_id = (
        max(entries, key=entries.get) if entries else (EXCHANGES[0], "http://probe.invalid:80")
    )
    destination = pool_id.split(" ")[0]  # the host; the probe's charge picks the spot pool
    fullest = exchange_limiter(exchange)
    empty = RateLimiter(client, fullest.exchange, fullest.budget, namespace="ec:rl-probe")
    return {
        "window_entries": sum(entries.values()),
        "acquire_us_full": _acquire_us(fullest, destination),
        "acquire_us_empty": _acquire_us(empty, destination),
    }


def _acquire_us(limiter, destination: str) -> float:
    from exchanges.limits import Charge

    began = time.perf_counter()
    for index in range(PROBE_CALLS):
        lease_id = f"probe-{index}"
        assert (
            limiter.try_acquire(Charge("GET", "/probe"), destination=destination, lease_id=lease_id)
            == 0
        )
        limiter.release(lease_id, destination=destination)
    return (time.perf_counter() - began) * 1e6 / PROBE_CALLS


def paper_requests(paper_url: str) -> int:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return sum(sum(item["requests"].values()) for item in stats.values())


def run_sweep(owner, size: int, worker_pid: int, paper_url: str) -> dict[str, float]:
    from django.db.models import Max
    from django.utils import timezone

    from connections.models import HealthCheck
    from connections.tasks import health_sweep_task
    from core.redis import redis_client

    redis_client().delete("ec:lock:health_sweep")
    worker = psutil.Process(worker_pid)
    rss_before = worker.memory_info().rss
    cpu_before = sum(worker.cpu_times()[:2])
    paper_before = paper_requests(paper_url)
    rows = HealthCheck.objects.filter(connection__owner=owner, kind="sweep")
    with WorkerSampler(worker_pid) as sampler:
        started = timezone.now()
        began = time.monotonic()
        sweep = health_sweep_task.apply_async()
        done = 0
        while done < size:
            if time.monotonic() - began > SWEEP_DEADLINE_SECONDS:
                raise RuntimeError(
                    f"sweep of {size}: {done} checked after {SWEEP_DEADLINE_SECONDS} s"
                )
            time.sleep(POLL_SECONDS)
            done = rows.filter(checked_at__gte=started).values("connection_id").distinct().count()
    fresh = rows.filter(checked_at__gte=started)
    wall = (fresh.aggregate(last=Max("checked_at"))["last"] - started).total_seconds()
    return {
        "wall": wall,
        "fanned_out": sweep.get(timeout=30),
        "failed": fresh.filter(ok=False).count(),
        "cpu_ms": (sum(worker.cpu_times()[:2]) - cpu_before) * 1000 / size,
        "rss_before": rss_before / 2**20,
        "peak_rss": sampler.peak_rss / 2**20,
        "peak_fds": sampler.peak_fds,
        **limiter_probe(),
        "paper_requests": (paper_requests(paper_url) - paper_before) / size,
    }


def queries_per_connection(owner) -> tuple[float, list[str]]:
    """connections.health_check run in-process for two connections of each exchange."""
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from connections.models import ExchangeConnection
    from connections.tasks import health_check_task

    sample = [
        str(pk)
        for exchange in EXCHANGES
        for pk in ExchangeConnection.objects.filter(owner=owner, exchange=exchange)
        .order_by("?")
        .values_list("pk", flat=True)[:2]
    ]
    counts, shape = [], []
    for connection_id in sample[:QUERY_SAMPLE]:
        with CaptureQueriesContext(db) as captured:
            result = health_check_task(connection_id)
        assert result and result["success"], result
        counts.append(len(captured))
        shape = [_statement(query["sql"]) for query in captured.captured_queries]
    return statistics.mean(counts), shape


def _statement(sql: str) -> str:
    """ "SELECT exchangeconnection" for a captured query."""
    table_name = re.search(r'"connections_(\w+)"', sql)
    return sql.split(" ", 1)[0] + (f" {table_name.group(1)}" if table_name else "")


# -- the run -------------------------------------------------------------------------------
@contextmanager
def own_stores() -> Iterator[dict[str, str]]:
    """A database and a Redis database of this benchmark's own, as setup_django overrides.

    The sweep checks every enabled connection in the database against this run's paper
    exchange: on the shared dev database it would check (and, as authentication failures,
    disable) the demo's and other benchmarks' paper connections. Its 10,000 tasks and
    limiter windows stay out of the shared bench Redis database too."""
    import psycopg

    from config.redis_urls import with_db

    shared = os.environ["DATABASE_URL"]
    parts = urlsplit(shared)
    with psycopg.connect(shared, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {OWN_DATABASE}")
    try:
        yield {
            "DATABASE_URL": urlunsplit(parts._replace(path=f"/{OWN_DATABASE}")),
            "REDIS_URL": with_db(
                os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), OWN_REDIS_DB
            ),
        }
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            from core.redis import redis_client

            redis_client().flushdb()
            connections.close_all()
        with psycopg.connect(shared, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {OWN_DATABASE} WITH (FORCE)")


def sweeps(
    owner, worker_pid: int, paper_url: str
) -> tuple[dict[int, dict[str, float]], dict[str, float], list[str]]:
    """Grow the connections to each size and sweep them."""
    results, creation, made, shape = {}, {}, 0, []
    for size in SIZES:
        if made < SERVICE_MADE:
            creation["connection_create"] = create_with_service(owner, made, SERVICE_MADE)
            made = SERVICE_MADE
        if made < size:
            if made == SERVICE_MADE:  # one more by the service, to compare rows with
                create_with_service(owner, made, 1)
                made += 1
            creation[f"bulk to {size:,}"] = create_in_bulk(owner, made, size - made)
            if made == SERVICE_MADE + 1:
                check_bulk_rows_match(owner, SERVICE_MADE)
            made = size
        figures = run_sweep(owner, size, worker_pid, paper_url)
        figures["queries"], shape = queries_per_connection(owner)
        results[size] = figures
        print(
            f"sweep of {size}: {figures['wall']:.2f} s, "
            f"{size / figures['wall']:.0f} connections/s, "
            f"{figures['queries']:.1f} queries/connection, peak RSS "
            f"{figures['peak_rss']:.0f} MB; {json.dumps(figures)}",
            flush=True,
        )
    return results, creation, shape


def main() -> None:
    os.environ["EXCHANGE_RATE_LIMITS"] = RATE_LIMITS  # the paper exchange reads it too
    with own_stores() as stores, paper_exchange("--accounts", "") as paper_url:
        os.environ["PAPER_EXCHANGE_URL"] = paper_url
        setup_django(EXCHANGE_RATE_LIMITS=RATE_LIMITS, **stores)
        flush_bench_redis()
        from config.celery import app

        owner = bench_user(NAME)
        with celery_workers(
            1, concurrency=CONCURRENCY, env={"EXCHANGE_RATE_LIMITS": RATE_LIMITS}
        ) as workers:
            replies = app.control.ping(timeout=1.0)
            if len(replies) != 1:
                print(f"WARNING: {len(replies)} workers answer on this broker: {replies}")
            results, creation, shape = sweeps(owner, workers[0].pid, paper_url)
            hwm = worker_hwm(workers[0].pid)
        began = time.monotonic()
        owner.delete()
        cleanup = time.monotonic() - began
    body = report(results, creation, shape, hwm, cleanup)
    write_results(NAME, body)
    print(body)


def worker_hwm(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(
    results: dict[int, dict[str, float]],
    creation: dict[str, float],
    shape: list[str],
    hwm: float,
    cleanup: float,
) -> str:
    base = results[SIZES[0]]["wall"] / SIZES[0]
    rows, growth = [], {}
    for size, f in results.items():
        per = f["wall"] / size
        growth[size] = per / base
        cpu_growth = f["cpu_ms"] / results[SIZES[0]]["cpu_ms"]
        rows.append(
            [
                f"{size:,}",
                f"{f['wall']:.2f}",
                f"{size / f['wall']:.0f}",
                f"{per * 1000:.2f}",
                f"{f['queries']:.1f}",
                f"{f['rss_before']:.0f}",
                f"{f['peak_rss']:.0f}",
                f"{f['cpu_ms']:.1f}",
                f"{cpu_growth:.2f}",
                f"{f['window_entries']:,}",
                f"{f['acquire_us_full']:.0f} / {f['acquire_us_empty']:.0f}",
                f"{growth[size]:.2f}",
            ]
        )
    worst = max(growth.values())
    verdict = (
        "linear or better"
        if worst <= LINEAR_TOLERANCE
        else f"WORSE THAN LINEAR (time per connection x{worst:.2f})"
    )
    last = results[SIZES[-1]]
    return (
        f"One worker, threads pool, {CONCURRENCY} threads (`-P threads -c {CONCURRENCY}`); "
        "all six exchanges' limits raised to "
        f"{RAISED['per_second']:,}/s, {RAISED['per_minute']:,}/min, {RAISED['concurrent']:,} "
        "concurrent; paper exchange without latency. Connections accumulate over the six "
        "exchanges. Wall = trigger of `connections.health_sweep` -> last sweep HealthCheck "
        "row. Queries: `connections.health_check` in-process for 12 connections under "
        f"CaptureQueriesContext ({' '.join(shape)}). RSS: the worker process, sampled every "
        f"{SAMPLE_SECONDS * 1000:.0f} ms (before the sweep / peak during it; VmHWM at the end "
        f"{hwm:.0f} MB). Paper requests per connection: {last['paper_requests']:.2f}. "
        "Limiter: entries in the six exchanges' 60 s windows right after the sweep, and µs "
        f"per acquire + release ({PROBE_CALLS} calls) against the fullest window / an empty "
        "one, back to back (each window keeps a running sum, so a call costs only what "
        "expired since the previous one).\n\n"
        + table(
            [
                "connections",
                "wall s",
                "connections/s",
                "ms/connection",
                "queries/connection",
                "RSS before MB",
                "peak RSS MB",
                "worker CPU ms/connection",
                "worker CPU growth",
                "limiter 60 s entries",
                "limiter µs/call full / empty",
                "growth vs 100",
            ],
            rows,
        )
        + f"\n\nCost per connection: {verdict} (worst growth {worst:.2f}, tolerance "
        f"{LINEAR_TOLERANCE}). Failed checks: "
        + ", ".join(f"{size:,}: {f['failed']}" for size, f in results.items())
        + ". Checks fanned out by the sweep: "
        + ", ".join(f"{size:,}: {f['fanned_out']:,}" for size, f in results.items())
        + ". Creating: "
        + ", ".join(f"{name} {ms:.1f} ms/connection" for name, ms in creation.items())
        + f"; deleting all {SIZES[-1]:,} and their history {cleanup:.1f} s."
    )


if __name__ == "__main__":
    main()
