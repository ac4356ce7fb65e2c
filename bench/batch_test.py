"""Batch connection tests of 1, 10 and 50 paper connections over the six exchanges, with
245 ms of paper latency per request (the original system's single-test figure), through
a real Celery worker.

For each size it prints the wall time (batch enqueued -> every result stored), the lower
bound that latency, the 10-at-once limit and each exchange's budget allow, and their ratio
(target: under 1.25). The original system took 2.5 s for 10 and 12 s for 50.
"""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path

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
SIZES = (1, 10, 50)
ORIGINAL_SECONDS = {10: 2.5, 50: 12.0}
CONCURRENCY = 10


def api_type_of(exchange: str) -> str:
    return "perpetual_futures" if exchange == "orangex" else "spot"


def served(paper_url: str) -> dict[str, int]:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return {name: sum(item["requests"].values()) for name, item in stats.items()}


def make_connections(owner, count: int, exchanges: list[str]) -> list:
    from connections.services import connection_create

    return [connection_create(owner=owner, actor=owner, values={
        "name": f"bench {index}", "exchange": exchanges[index % len(exchanges)],
        "api_type": api_type_of(exchanges[index % len(exchanges)]),
        "environment": "paper"}) for index in range(count)]


def requests_per_test(paper_url: str, owner, exchanges: list[str]) -> dict[str, int]:
    """How many requests one connection test sends, per exchange (measured)."""
    from connections.health import connection_check

    per_test = {}
    for connection in make_connections(owner, len(exchanges), exchanges):
        before = served(paper_url)
        connection_check(connection=connection)
        after = served(paper_url)
        per_test[connection.exchange] = after[connection.exchange] - before[connection.exchange]
    return per_test


def lower_bound(counts: dict[str, int], per_test: dict[str, int]) -> tuple[float, str]:
    """The shortest time any scheduler could achieve, and what sets it."""
    from django.conf import settings

    latency = LATENCY_MS / 1000
    durations = [per_test[e] * latency for e, n in counts.items() for _ in range(n)]
    bounds = {"one test's latency": max(durations),
              f"{CONCURRENCY} at once": sum(durations) / CONCURRENCY}
    for exchange, n in counts.items():
        limit = settings.EXCHANGE_RATE_LIMITS[exchange]
        sent = n * per_test[exchange]
        bounds[f"{exchange} budget"] = (math.ceil(sent / limit.per_second) - 1) + latency
        bounds[f"{exchange} concurrency"] = sent * latency / limit.concurrent
    reason = max(bounds, key=bounds.get)
    return bounds[reason], reason


def run_batch(owner, connections: list) -> float:
    from connections.batches import batch_create, batch_status

    started = time.monotonic()
    batch_id = batch_create(user=owner, connection_ids=[str(c.pk) for c in connections])
    while True:
        status = batch_status(user=owner, batch_id=batch_id)
        if status["status"] == "completed":
            break
        if time.monotonic() - started > 120:
            raise RuntimeError("the batch did not finish in 120 s")
        time.sleep(0.005)
    elapsed = time.monotonic() - started
    if status["successful"] != len(connections):
        raise RuntimeError(f"{status['failed']} tests failed: {status['results']}")
    print(f"  queued {status['queuedMs']} ms before the worker started it")
    return elapsed


def main() -> None:
    with paper_exchange() as paper_url:
        os.environ["PAPER_EXCHANGE_URL"] = paper_url
        setup_django()
        flush_bench_redis()
        from exchanges.capabilities import EXCHANGES

        exchanges = list(EXCHANGES)
        for exchange in exchanges:
            requests.post(f"{paper_url}/_paper/faults", json={
                "exchange": exchange, "latencyMs": LATENCY_MS, "enforceRateLimits": True},
                timeout=5)
        owner = bench_user("batch_test")
        per_test = requests_per_test(paper_url, owner, exchanges)
        rows = []
        with celery_workers(1, concurrency=16):
            for size in SIZES:
                flush_bench_redis()
                connections = make_connections(owner, size, exchanges)
                violations_before = _violations(paper_url)
                wall = run_batch(owner, connections)
                counts = {e: sum(1 for c in connections if c.exchange == e) for e in exchanges}
                counts = {e: n for e, n in counts.items() if n}
                bound, reason = lower_bound(counts, per_test)
                violations = _violations(paper_url) - violations_before
                original = ORIGINAL_SECONDS.get(size)
                rows.append([size, f"{wall:.2f}", f"{bound:.2f}", reason,
                             f"{wall / bound:.2f}", violations,
                             f"{original:.1f}" if original else "—"])
                print(f"batch of {size}: {wall:.2f} s, bound {bound:.2f} s ({reason}), "
                      f"ratio {wall / bound:.2f}, paper violations {violations}")
        bench_user("batch_test")
    worst = max(float(row[4]) for row in rows)
    verdict = "met" if worst < 1.25 else "MISSED"
    body = (f"Paper latency {LATENCY_MS} ms per request, rate limits enforced by the paper "
            f"exchange, one worker (threads, 16), at most {CONCURRENCY} tests at once. "
            f"Requests per test: "
            + ", ".join(f"{e} {n}" for e, n in per_test.items()) + ".\n\n"
            + table(["connections", "wall s", "lower bound s", "bound set by",
                     "ratio", "paper violations", "original system s"], rows)
            + f"\n\nTarget ratio < 1.25: {verdict} (worst {worst:.2f}).")
    write_results("batch_test", body)
    print(body)


def _violations(paper_url: str) -> int:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return sum(item["rateLimitViolations"] for item in stats.values())


if __name__ == "__main__":
    main()
