"""A batch test of 50 paper connections over the six exchanges (perpetuals, which all six
offer), 245 ms of paper latency per request (the original system's single-test figure),
rate limits enforced by the paper exchange, through a real Celery worker; then the same
batch again at once.

For each batch it prints the wall time (batch enqueued -> every result stored) and the
physical bound: the larger of
  * the tests' latency in waves of 10 (the batch runs 10 at once): the mean test's
    requests x 245 ms, plus what its own account windows make it wait, times
    ceil(50 / 10);
  * the tightest window: for every window of every pool and key the batch used, the
    requests the paper exchange served in it (U units, H of them heavier than half the
    ceiling), our ceiling (L per S seconds, the table in force, S with
    RATE_LIMIT_WINDOW_MARGIN_MS): max(ceil(U / L) - 1, H - 1) x S until its last request
    may go (two heavy ones never fit one window), plus that request's 245 ms.
Targets: wall / bound <= 1.10 for both batches, and every test of both succeeds.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

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

LATENCY_MS = 245
SIZE = 50
CONCURRENCY = 10
TARGET_RATIO = 1.10
ORIGINAL_SECONDS = 12.0  # the original system, 50 connections
API_TYPE = "perpetual_futures"


def paper_stats(paper_url: str) -> dict[str, Any]:
    return requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]


def served_requests(stats: dict[str, Any]) -> dict[str, int]:
    return {name: sum(item["requests"].values()) for name, item in stats.items()}


def served_units(stats: dict[str, Any]) -> dict[tuple[str, str, str], Counter[int]]:
    """(exchange, window, scope) -> requests the paper exchange served there so far, by
    what each cost."""
    return {
        (exchange, window, scope): Counter(
            {int(cost): n for cost, n in figures["requestsByCost"].items()}
        )
        for exchange, item in stats.items()
        for window, data in item["windows"].items()
        for scope, figures in data["scopes"].items()
    }


def make_connections(owner: Any, count: int, exchanges: list[str]) -> list[Any]:
    from connections.services import ConnectionSpec, connection_create

    return [
        connection_create(
            owner=owner,
            actor=owner,
            spec=ConnectionSpec(
                name=f"bench {index}",
                exchange=exchanges[index % len(exchanges)],
                api_type=API_TYPE,
                environment="paper",
            ),
        )
        for index in range(count)
    ]


def requests_per_test(paper_url: str, owner: Any, exchanges: list[str]) -> dict[str, int]:
    """How many requests one connection test sends, per exchange (measured)."""
    from connections.health import connection_check

    per_test = {}
    for connection in make_connections(owner, len(exchanges), exchanges):
        before = served_requests(paper_stats(paper_url))
        connection_check(connection=connection, max_wait=10)
        after = served_requests(paper_stats(paper_url))
        per_test[connection.exchange] = after[connection.exchange] - before[connection.exchange]
    return per_test


def window_wait(costs: Counter[int], limit: int, seconds: float) -> float:
    """How long after the first request the last of them may go, ``limit`` per ``seconds``
    (sliding): the units need ceil(U / L) windows, and no two requests heavier than half
    the limit ever share one (Pionex's weight-5 calls under a ceiling of 8)."""
    units = sum(cost * n for cost, n in costs.items())
    heavy = sum(n for cost, n in costs.items() if cost * 2 > limit)
    return max(math.ceil(units / limit) - 1, heavy - 1, 0) * seconds


def physical_bound(
    spent: dict[tuple[str, str, str], Counter[int]], counts: Counter[str], per_test: dict[str, int]
) -> tuple[float, str]:
    """The shortest time any scheduler could take, and what sets it."""
    from django.conf import settings

    from connections.ratelimits import exchange_budget

    latency = LATENCY_MS / 1000
    margin = settings.RATE_LIMIT_WINDOW_MARGIN_MS / 1000  # our windows are this much longer
    account_waits: dict[str, float] = {}
    bounds: dict[str, float] = {}
    for (exchange, name, scope), costs in spent.items():
        window = exchange_budget(exchange).windows[name]
        wait = window_wait(costs, window.limit, window.seconds + margin)
        if window.scope == "account":
            # each connection has its own key: this is one test's own wait
            account_waits[exchange] = max(account_waits.get(exchange, 0.0), wait)
        bounds[f"{exchange} {name} ({scope})"] = wait + latency
    tests = [
        per_test[exchange] * latency + account_waits.get(exchange, 0.0)
        for exchange, n in counts.items()
        for _ in range(n)
    ]
    waves = math.ceil(sum(counts.values()) / CONCURRENCY)
    bounds[f"mean test x {waves} waves of {CONCURRENCY}"] = sum(tests) / len(tests) * waves
    reason = max(bounds, key=bounds.get)
    return bounds[reason], reason


def run_batch(owner: Any, connections: list[Any]) -> tuple[float, Any]:
    from connections.batches import batch_create
    from connections.selectors import batch_status

    started = time.monotonic()
    batch_id = batch_create(user=owner, connection_ids=[str(c.pk) for c in connections])
    while True:
        status = batch_status(user=owner, batch_id=batch_id)
        if status.finished:
            break
        if time.monotonic() - started > 300:
            raise RuntimeError("the batch did not finish in 300 s")
        time.sleep(0.005)
    return time.monotonic() - started, status


def main() -> None:
    with paper_exchange() as paper_url:
        os.environ["PAPER_EXCHANGE_URL"] = paper_url
        setup_django()
        flush_bench_redis()
        from exchanges.capabilities import EXCHANGES, capability

        exchanges = [e for e in EXCHANGES if capability(e).supports_api_type(API_TYPE)]
        for exchange in exchanges:
            requests.post(
                f"{paper_url}/_paper/faults",
                json={"exchange": exchange, "latencyMs": LATENCY_MS, "enforceRateLimits": True},
                timeout=5,
            ).raise_for_status()
        owner = bench_user("batch_test")
        per_test = requests_per_test(paper_url, owner, exchanges)
        flush_bench_redis()
        time.sleep(2.5)  # the measuring tests' windows (up to OKX's 2 s) are empty again
        connections = make_connections(owner, SIZE, exchanges)
        counts = Counter(c.exchange for c in connections)
        rows, failures = [], []
        with celery_workers(1, concurrency=16):
            for label in ("first", "again at once"):
                before = paper_stats(paper_url)
                wall, status = run_batch(owner, connections)
                after = paper_stats(paper_url)
                earlier = served_units(before)
                spent = {
                    key: costs - earlier.get(key, Counter())
                    for key, costs in served_units(after).items()
                }
                spent = {key: costs for key, costs in spent.items() if costs}
                bound, reason = physical_bound(spent, counts, per_test)
                violations = sum(
                    after[e]["rateLimitViolations"] - before[e]["rateLimitViolations"]
                    for e in after
                )
                failed = {
                    i: {"code": r.error.code, "message": r.error.message}
                    for i, r in status.results.items()
                    if r.error is not None
                }
                failures.append(failed)
                rows.append(
                    [
                        f"{SIZE} ({label})",
                        f"{wall:.2f}",
                        f"{bound:.2f}",
                        reason,
                        f"{wall / bound:.2f}",
                        status.successful,
                        len(failed),
                        violations,
                        status.queued_ms,
                    ]
                )
                print(
                    f"batch {label}: {wall:.2f} s, bound {bound:.2f} s ({reason}), ratio "
                    f"{wall / bound:.2f}, {len(failed)} failed, paper violations "
                    f"{violations}",
                    flush=True,
                )
        bench_user("batch_test")
        flush_bench_redis()
    worst = max(float(row[4]) for row in rows)
    ok = worst <= TARGET_RATIO and not any(failures)
    body = (
        f"{SIZE} paper connections ({API_TYPE}: "
        + ", ".join(f"{e} {n}" for e, n in counts.items())
        + f"), paper latency {LATENCY_MS} ms per request, every exchange's published "
        "table enforced by the paper exchange (ours: the same times "
        "RATE_LIMIT_SAFETY_FACTOR), one worker (threads, 16), at most "
        f"{CONCURRENCY} tests at once; the second batch is the same 50, started the "
        "moment the first completed. Requests per test: "
        + ", ".join(f"{e} {n}" for e, n in per_test.items())
        + ". Bound: the larger of the tests' latency in waves of 10 (each with its own "
        "account windows' waits) and the tightest window's requests at its rate "
        "(ceil(U / L) windows, and never two requests heavier than L / 2 in one: under "
        "our ceiling of 8 a second Pionex's weight-5 calls go one per second, see "
        "bench/batch_test.py).\n\n"
        + table(
            [
                "connections",
                "wall s",
                "bound s",
                "bound set by",
                "wall / bound",
                "successful",
                "failed",
                "paper violations",
                "queued ms",
            ],
            rows,
        )
        + f"\n\nTargets wall / bound <= {TARGET_RATIO} and no failure: "
        f"{'met' if ok else 'MISSED'} (worst {worst:.2f}). The original system took "
        f"{ORIGINAL_SECONDS:g} s for 50."
        + ("" if not any(failures) else f"\n\nFailures: {failures}")
    )
    write_results("batch_test", body)
    print(body)


if __name__ == "__main__":
    main()
