"""Eight worker processes, two egresses, three API keys drive one paper Binance for 30 s.

Four processes per egress id; each process uses all three keys (paper connections) and
mixes four calls: spot ``GET /sapi/v1/account/apiRestrictions`` (weight 1) and
``GET /api/v3/account`` (weight 20), USD-M ``GET /fapi/v1/accountConfig`` (weight 5) and a
resting USD-M limit buy (weight 0, one order on the key's order count). The processes of the
second egress bind their sockets to 127.0.0.2, so the paper exchange, which counts
destination windows per client address as an exchange counts per IP, sees two addresses.

The budgets (EXCHANGE_RATE_LIMITS, the same for the paper exchange and our processes, taken
as given on both sides) are Binance's windows reshaped to bind within the run: spot weight
400 per 10 s and USD-M weight 200 per 10 s per address, 40 USD-M orders per 10 s per key.
So there are four destination pools (spot and USD-M from each egress) and three account
windows, each binding. Achieved = units the paper exchange served in that window's scope
(``/_paper/stats`` windows); allowed = its limit x ceil(T / span). Targets for run A:
achieved / allowed >= 0.97 for each, 0 violations.

Run A: every process builds its connectors with ``connection_connector`` (the cluster-wide
Redis limiter, ``max_wait`` 0: a call that would wait is set aside for its retry_after and
another call is tried).
Run B: the same processes with ``NoThrottle``, each capped only by Celery's per-worker
``rate_limit`` as configured (``CELERY_TASK_ANNOTATIONS``, kombu's ``TokenBucket``).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_user,
    flush_bench_redis,
    paper_exchange,
    setup_django,
    table,
    write_results,
)

EXCHANGE = "binance"
EGRESSES = {"egress-a": "127.0.0.1", "egress-b": "127.0.0.2"}
PROCESSES_PER_EGRESS = 4
KEYS = 3
DURATION_SECONDS = 30.0
TARGET_RATIO = 0.97
WINDOWS = {
    "spot ip weight 1m": {"limit": 400, "seconds": 10},
    "usdm ip weight 1m": {"limit": 200, "seconds": 10},
    "usdm account orders 10s": {"limit": 40, "seconds": 10},
    # not meant to bind: as given on both sides
    "usdm account orders 1m": 100_000,
    "spot account orders 10s": 100_000,
}
BINDING = ("spot ip weight 1m", "usdm ip weight 1m", "usdm account orders 10s")
CALLS = ("spot restrictions", "spot account", "usdm config", "usdm order")
PRICE = Decimal("30000")  # far below the paper's 60,000: the buys rest


def bind_source(connector: Any, address: str) -> None:
    """Leave from ``address`` (a loopback alias): the paper exchange's 'IP'."""
    for adapter in connector.session.adapters.values():
        adapter.poolmanager.connection_pool_kw["source_address"] = (address, 0)


def make_calls(connection: Any, *, source: str, throttle: Any) -> dict[str, Any]:
    from connections.services import connection_connector
    from exchanges.base import OrderRequest

    spot = connection_connector(connection=connection, max_wait=0.0, throttle=throttle)
    connection.api_type = "perpetual_futures"  # in memory only: the same key's USD-M
    usdm = connection_connector(connection=connection, max_wait=0.0, throttle=throttle)
    for connector in (spot, usdm):
        bind_source(connector, source)

    def order() -> None:
        usdm.place_order(
            OrderRequest(
                symbol="BTC/USDT:USDT",
                side="buy",
                type="limit",
                quantity=Decimal("0.001"),
                price=PRICE,
                client_order_id=("ec" + uuid.uuid4().hex)[:32],
            )
        )

    return {
        "spot restrictions": spot.check_credentials,
        "spot account": spot.balances,
        "usdm config": usdm.is_hedge_mode,
        "usdm order": order,
    }


def drive(
    index: int,
    egress: str,
    connection_ids: list[str],
    per_worker_rate: float | None,
    start_queue: Any,
    result_queue: Any,
) -> None:
    """One worker process. ``per_worker_rate`` None: the Redis limiter; else NoThrottle
    behind a Celery-style token bucket of that many calls per second."""
    os.environ["EGRESS_ID"] = egress
    import django

    django.setup()
    from django.db import connections as databases
    from kombu.utils.limits import TokenBucket

    from connections.models import ExchangeConnection
    from exchanges.base import NoThrottle
    from exchanges.errors import ExchangeError, RateLimited

    throttle = None if per_worker_rate is None else NoThrottle()
    calls = [
        make_calls(connection, source=EGRESSES[egress], throttle=throttle)
        for connection in ExchangeConnection.objects.filter(pk__in=connection_ids)
    ]
    databases.close_all()
    bucket = TokenBucket(per_worker_rate, capacity=1) if per_worker_rate else None
    rng = random.Random(index)
    counts: Counter[str] = Counter()
    # (call, key) -> when our limiter said to come back: another call is tried meanwhile,
    # and the process sleeps only when every one of them must wait
    blocked: dict[tuple[str, int], float] = {}
    choices = [(name, key) for name in CALLS for key in range(len(calls))]
    result_queue.put(("ready", index))
    start = start_queue.get(timeout=120)
    time.sleep(max(0.0, start - time.time()))
    deadline, last_grant = start + DURATION_SECONDS, 0.0
    while (now := time.time()) < deadline:
        if bucket is not None and not bucket.can_consume(1):
            time.sleep(min(bucket.expected_time(1), deadline - now))
            continue
        ready = [choice for choice in choices if blocked.get(choice, 0.0) <= now]
        if not ready:
            time.sleep(max(0.0, min(min(blocked.values()), deadline) - now))
            continue
        name, key = rng.choice(ready)
        try:
            calls[key][name]()
            counts[f"ok {name}"] += 1
            last_grant = time.time()
        except RateLimited as exc:
            if exc.http_status is None and exc.code is None:  # our limiter: never sent
                counts["deferred"] += 1
                blocked[name, key] = time.time() + exc.retry_after
            else:
                counts["refused"] += 1
        except ExchangeError as exc:
            counts[f"error {type(exc).__name__}"] += 1
    result_queue.put(("done", index, dict(counts), last_grant - start))


def paper_post(url: str, path: str, body: dict[str, Any] | None = None) -> None:
    requests.post(f"{url}{path}", json=body or {}, timeout=5).raise_for_status()


def paper_stats(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/_paper/stats", timeout=5).json()["exchanges"][EXCHANGE]


def run(url: str, connection_ids: list[str], per_worker_rate: float | None) -> dict[str, Any]:
    paper_post(url, "/_paper/reset")
    paper_post(url, "/_paper/faults", {"exchange": EXCHANGE, "enforceRateLimits": True})
    flush_bench_redis()
    context = multiprocessing.get_context("spawn")
    start_queue, result_queue = context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=drive,
            args=(index, egress, connection_ids, per_worker_rate, start_queue, result_queue),
        )
        for index, egress in enumerate(
            egress for egress in EGRESSES for _ in range(PROCESSES_PER_EGRESS)
        )
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            if result_queue.get(timeout=180)[0] != "ready":
                raise RuntimeError("a worker process did not start")
        start = time.time() + 1.0
        for _ in processes:
            start_queue.put(start)
        done = [result_queue.get(timeout=DURATION_SECONDS + 120) for _ in processes]
        stats = paper_stats(url)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
    counts: Counter[str] = Counter()
    for _, _, process_counts, _ in done:
        counts.update(process_counts)
    return {"counts": counts, "stats": stats, "last_grant": max(item[3] for item in done)}


def scopes(result: dict[str, Any]) -> list[tuple[str, str, int, int]]:
    """(window, scope, served, allowed) for each binding window's scope."""
    rows = []
    for name in BINDING:
        window = result["stats"]["windows"][name]
        allowed = window["limit"] * math.ceil(DURATION_SECONDS / window["seconds"])
        for scope, figures in sorted(window["scopes"].items()):
            rows.append((name, scope, figures["served"], allowed))
    return rows


def violations_by_window(result: dict[str, Any]) -> dict[str, int]:
    """The paper's refusals, by the window (or ``concurrency``) that refused."""
    windows = result["stats"]["windows"]
    return {name: window["violations"] for name, window in windows.items() if window["violations"]}


def main() -> None:
    overrides = json.dumps({EXCHANGE: WINDOWS})
    os.environ["EXCHANGE_RATE_LIMITS"] = overrides
    # the paper publishes the reshaped windows; ours are the overrides already
    os.environ["BINANCE_RATE_LIMITS_SOURCE"] = "off"
    with paper_exchange() as url:
        os.environ["PAPER_EXCHANGE_URL"] = url
        setup_django()
        from django.conf import settings

        from connections.services import ConnectionSpec, connection_create

        celery_rate = settings.CELERY_TASK_ANNOTATIONS["connections.test"]["rate_limit"]
        user = bench_user("rate_limit")
        try:
            ids = [
                str(
                    connection_create(
                        owner=user,
                        actor=user,
                        spec=ConnectionSpec(
                            name=f"bench rate limit {key}",
                            exchange=EXCHANGE,
                            api_type="spot",
                            environment="paper",
                        ),
                    ).pk
                )
                for key in range(KEYS)
            ]
            results = []
            for label, rate in (
                ("A: Redis limiter", None),
                (
                    f"B: rate_limit={celery_rate} per worker (as configured)",
                    float(celery_rate.split("/")[0]),
                ),
            ):
                print(f"running {label} ...", flush=True)
                results.append((label, run(url, ids, rate)))
        finally:
            user.delete()
            flush_bench_redis()
    report(results, celery_rate)


def report(results: list[tuple[str, dict[str, Any]]], celery_rate: str) -> None:
    rows, verdicts = [], []
    for label, result in results:
        counts, stats = result["counts"], result["stats"]
        for name, scope, served, allowed in scopes(result):
            rows.append([label, name, scope, served, allowed, f"{served / allowed:.3f}"])
        ok = sum(n for key, n in counts.items() if key.startswith("ok "))
        errors = {key: n for key, n in counts.items() if key.startswith("error")}
        verdicts.append(
            f"{label}: {ok} calls served, {counts['deferred']} deferred by the limiter, "
            f"{stats['rateLimitViolations']} refused by the exchange (429; by window "
            f"{violations_by_window(result) or 'none'}), other errors "
            f"{errors or 0}; last grant {result['last_grant']:.2f} s after the start; paper "
            f"maxWeightPer1s {stats['maxWeightPer1s']}, maxWeightPer60s "
            f"{stats['maxWeightPer60s']}."
        )
    a_rows = scopes(results[0][1])
    worst = min(served / allowed for _, _, served, allowed in a_rows)
    violations = results[0][1]["stats"]["rateLimitViolations"]
    body = "\n".join(
        [
            f"{len(EGRESSES) * PROCESSES_PER_EGRESS} OS processes ({PROCESSES_PER_EGRESS} per "
            f"egress id; the second egress binds to 127.0.0.2) x {KEYS} API keys drive the paper "
            f"Binance for {DURATION_SECONDS:g} s with a random mix of spot "
            "`GET /sapi/v1/account/apiRestrictions` (weight 1), `GET /api/v3/account` (20), USD-M "
            "`GET /fapi/v1/accountConfig` (5) and resting USD-M limit buys (weight 0, 1 order). "
            "Both sides enforce `EXCHANGE_RATE_LIMITS` = "
            f"`{json.dumps(WINDOWS)}` (Binance's windows reshaped to bind within the run); the "
            "paper exchange counts destination windows per client address and product, account "
            "windows per key. Allowed = limit x ceil(T / span), T = the "
            f"{DURATION_SECONDS:g} s of sending from a common start. Run A: "
            "`connection_connector` (the Redis limiter, every window of a call in one Lua call; "
            "`max_wait` 0: a deferred call waits out its retry_after while the process tries "
            "the others). Run B: `NoThrottle`, each "
            f"process capped by Celery's per-worker `rate_limit` as configured ({celery_rate}, "
            "kombu's `TokenBucket`).",
            "",
            table(
                [
                    "run",
                    "window",
                    "scope (address pool / key)",
                    "achieved",
                    "allowed",
                    "achieved / allowed",
                ],
                rows,
            ),
            "",
            *[f"{line}\n" for line in verdicts],
            f"Run A: target achieved/allowed >= {TARGET_RATIO} in every binding window of every "
            f"pool: {'met' if worst >= TARGET_RATIO else 'MISSED'} (worst {worst:.3f}); target 0 "
            f"violations: {'met' if violations == 0 else 'MISSED'} ({violations}).",
        ]
    )
    print()
    print(body)
    write_results("rate_limit", body)


if __name__ == "__main__":
    main()
