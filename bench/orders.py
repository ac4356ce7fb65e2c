"""500 limit orders through the order service, a real Celery worker and the paper exchange,
twice in one run: with no stream (the pre-checks read the exchange over REST) and with the
stream runner holding every connection's private stream (the pre-checks read the ledger and
the shared caches), side by side with 500 direct ``connector.place_order`` calls (issues 5
and 12).

The orders are placed with ``orders.services.order_place`` called in-process (what POST
/api/orders runs after validation, pre-checks included), from 8 threads, over 10 paper
Binance connections. The IP weight budget is raised (EXCHANGE_RATE_LIMITS) so that the
figures show the pipeline; Binance's per-key order budget (`spot account orders 10s`, 50 / 10 s
per connection) stays in force, and so does every other part of the limiter.

Measured per order, on the machine's wall clock (the paper exchange runs on the same host
and stamps each stored order with ``time.time()``; its ``created_at_ms`` is read back with
``open_orders``):
  * API: from the ``order_place`` call to its return (the 202),
  * to send: from the call to ``Order.last_sent_at`` (the worker about to send),
  * to exchange: from the call to the paper exchange storing the order.
The direct figure is from the ``connector.place_order`` call to the paper exchange storing
the order (and the call's round trip). The weight each order spends is counted from the
paper's per-endpoint request counts and Binance's WEIGHTS, and set against the default
budget (exchanges/limits.py) to give the orders per second that budget allows.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_user,
    celery_workers,
    clean_user_orders,
    flush_bench_redis,
    paper_exchange,
    setup_django,
    stream_runner,
    table,
    wait_live,
    write_results,
)

ORDERS = 500
CONNECTIONS = 10
THREADS = 8
SYMBOL = "BTC/USDT"
QUANTITY = Decimal("0.0002")
PRICE = Decimal("59000")  # below the 60000 start price, inside the 5% band: rests
SETTLE_LIMIT_SECONDS = 180
RAISED = {"binance": {"per_second": 100000, "per_minute": 10000000, "concurrent": 100}}


def paper_requests(paper_url: str) -> dict[str, int]:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return dict(stats["binance"]["requests"])


def weight_spent(before: dict[str, int], after: dict[str, int]) -> tuple[int, dict[str, int]]:
    from exchanges.binance import WEIGHTS

    diff = {
        key: after[key] - before.get(key, 0) for key in after if after[key] - before.get(key, 0)
    }
    return sum(WEIGHTS.get(key, 1) * n for key, n in diff.items()), diff


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def paced(index: int, started: float, rate: float | None) -> None:
    """Hold call ``index`` until its slot when placing at ``rate`` per second."""
    if rate:
        time.sleep(max(0.0, started + index / rate - time.time()))


def place_via_service(
    owner,
    connections: list,
    *,
    count: int = ORDERS,
    threads: int = THREADS,
    rate: float | None = None,
) -> list[tuple[str, float, float]]:
    from django.db import connection as db

    from orders.services import OrderSpec, order_place

    started = time.time()

    def one(index: int) -> tuple[str, float, float]:
        paced(index, started, rate)
        called = time.time()
        placement = order_place(
            owner=owner,
            idempotency_key=None,
            spec=OrderSpec(
                connection_id=connections[index % len(connections)].pk,
                symbol=SYMBOL,
                side="buy",
                type="limit",
                quantity=QUANTITY,
                price=PRICE,
            ),
        )
        returned = time.time()
        if index >= count - threads:
            db.close()
        return str(placement.order.pk), called, returned

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def wait_settled(ids: list[str]) -> None:
    from orders.models import Order

    deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
    while Order.objects.filter(pk__in=ids, status__in=("pending", "submitting")).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"orders not sent within {SETTLE_LIMIT_SECONDS} s")
        time.sleep(0.2)


def exchange_times(connections: list) -> dict[str, int]:
    """client order id -> the paper exchange's stored time (ms), for every open order."""
    from connections.services import connection_connector

    created = {}
    for connection in connections:
        for order in connection_connector(connection=connection).open_orders(SYMBOL):
            created[order.client_order_id] = order.created_at_ms
    return created


def place_direct(
    connections: list, *, count: int = ORDERS, threads: int = THREADS, rate: float | None = None
) -> list[tuple[float, float, int]]:
    from connections.services import connection_connector
    from exchanges.base import OrderRequest
    from exchanges.errors import RateLimited
    from orders.services import client_order_id_new

    connectors: dict[tuple[int, int], object] = {}
    started = time.time()

    def one(index: int) -> tuple[float, float, int]:
        from threading import get_ident

        paced(index, started, rate)
        key = (get_ident(), index % len(connections))
        if key not in connectors:
            connectors[key] = connection_connector(connection=connections[key[1]])
        request = OrderRequest(
            symbol=SYMBOL,
            side="buy",
            type="limit",
            quantity=QUANTITY,
            price=PRICE,
            client_order_id=client_order_id_new(),
        )
        while True:
            called = time.time()
            try:
                placed = connectors[key].place_order(request)
            except RateLimited as exc:  # the per-key order window: wait, time afresh
                time.sleep(exc.retry_after or 0.5)
                continue
            returned = time.time()
            return called, returned, placed.created_at_ms

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


PACED_ORDERS = 100
PACED_RATE = 10.0  # orders per second, one at a time: latency, not saturation
BACKGROUND_SECONDS = 10.0
WINDOW_PAUSE_SECONDS = 10  # lets the per-key order window (50 / 10 s) clear between phases


@dataclass
class Phase:
    label: str
    placed: list[tuple[str, float, float]]
    started: float
    api_done: float
    weight: int
    per_endpoint: dict[str, int]
    sources: dict[str, int] = field(default_factory=dict)


def service_phase(
    label: str,
    owner,
    connections: list,
    paper_url: str,
    *,
    count: int = ORDERS,
    threads: int = THREADS,
    rate: float | None = None,
) -> Phase:
    """``count`` placements through the service, settled; the paper's request counts
    around them."""
    before = paper_requests(paper_url)
    started = time.time()
    placed = place_via_service(owner, connections, count=count, threads=threads, rate=rate)
    api_done = time.time()
    wait_settled([order_id for order_id, _, _ in placed])
    weight, per_endpoint = weight_spent(before, paper_requests(paper_url))
    return Phase(
        label,
        placed,
        started,
        api_done,
        weight,
        per_endpoint,
        prechecks_sources([order_id for order_id, _, _ in placed]),
    )


def background_weight(paper_url: str) -> tuple[float, dict[str, int]]:
    """What the runner reads on its own (the ticker refresh), idle: weight per second."""
    before = paper_requests(paper_url)
    time.sleep(BACKGROUND_SECONDS)
    weight, per_endpoint = weight_spent(before, paper_requests(paper_url))
    return weight / BACKGROUND_SECONDS, per_endpoint


def prechecks_sources(ids: list[str]) -> dict[str, int]:
    """How many orders' pre-checks read the ledger, the ledger with a cold cache, REST."""
    from orders.models import OrderEvent

    counts: dict[str, int] = {}
    for data in OrderEvent.objects.filter(order_id__in=ids, to_status="pending").values_list(
        "data", flat=True
    ):
        name = data.get("prechecks", "?") + (
            " (cold: " + ", ".join(data["rest_reads"]) + ")" if data.get("rest_reads") else ""
        )
        counts[name] = counts.get(name, 0) + 1
    return counts


def phase_row(
    phase: Phase, created: dict[str, int], rows: dict, *, background_per_second: float = 0.0
) -> tuple[list[str], dict]:
    api_ms, send_ms, exchange_ms = [], [], []
    for order_id, called, returned in phase.placed:
        order = rows[order_id]
        api_ms.append((returned - called) * 1000)
        send_ms.append((order.last_sent_at.timestamp() - called) * 1000)
        exchange_ms.append(created[order.client_order_id] - called * 1000)
    count = len(phase.placed)
    last_on_exchange = max(created[rows[i].client_order_id] for i, _, _ in phase.placed) / 1000
    span = last_on_exchange - phase.started
    # the runner's own reads over the same time, at its idle rate
    request_weight = (phase.weight - background_per_second * span) / count
    figures = {
        "api_p50": statistics.median(api_ms),
        "api_p99": pct(api_ms, 0.99),
        "exchange_p50": statistics.median(exchange_ms),
        "weight": phase.weight / count,
        "request_weight": request_weight,
    }
    row = [
        phase.label,
        f"{count / span:.1f}",
        f"{figures['api_p50']:.0f} / {figures['api_p99']:.0f}",
        f"{statistics.median(send_ms):.0f} / {pct(send_ms, 0.99):.0f}",
        f"{figures['exchange_p50']:.0f} / {pct(exchange_ms, 0.99):.0f}",
        f"{request_weight:.2f}",
    ]
    return row, figures


def direct_row(
    label: str, direct: list[tuple[float, float, int]], wall: float
) -> tuple[list[str], float]:
    to_exchange = [created_ms - called * 1000 for called, _, created_ms in direct]
    round_trip = [(returned - called) * 1000 for called, returned, _ in direct]
    p50 = statistics.median(to_exchange)
    return [
        label,
        f"{len(direct) / wall:.1f}",
        f"{statistics.median(round_trip):.0f} / {pct(round_trip, 0.99):.0f} (round trip)",
        "—",
        f"{p50:.0f} / {pct(to_exchange, 0.99):.0f}",
        "1.00",
    ], p50


def main() -> None:
    with paper_exchange() as paper_url:
        os.environ["PAPER_EXCHANGE_URL"] = paper_url
        raised = json.dumps(RAISED)
        setup_django(EXCHANGE_RATE_LIMITS=raised)
        flush_bench_redis()
        from connections.services import ConnectionSpec, connection_create
        from exchanges.limits import load_budgets
        from exchanges.registry import published_budgets
        from orders import market_data
        from orders.models import Order
        from orders.services import OrderSpec, order_place

        clean_user_orders("orders")
        owner = bench_user("orders")
        connections = [
            connection_create(
                owner=owner,
                actor=owner,
                spec=ConnectionSpec(
                    name=f"bench orders {i}",
                    exchange="binance",
                    api_type="spot",
                    environment="paper",
                ),
            )
            for i in range(CONNECTIONS)
        ]
        paced_label = f"{PACED_ORDERS} at {PACED_RATE:.0f}/s, 1 thread"
        busy_label = f"{ORDERS} from {THREADS} threads"
        with celery_workers(1, concurrency=16, env={"EXCHANGE_RATE_LIMITS": raised}):
            # warm-up: one order per connection fills the instrument cache and the pools
            warm = [
                str(
                    order_place(
                        owner=owner,
                        idempotency_key=None,
                        spec=OrderSpec(
                            connection_id=c.pk,
                            symbol=SYMBOL,
                            side="buy",
                            type="limit",
                            quantity=QUANTITY,
                            price=PRICE,
                        ),
                    ).order.pk
                )
                for c in connections
            ]
            wait_settled(warm)
            rest_busy = service_phase(f"REST, {busy_label}", owner, connections, paper_url)
            time.sleep(WINDOW_PAUSE_SECONDS)
            rest_paced = service_phase(
                f"REST, {paced_label}",
                owner,
                connections,
                paper_url,
                count=PACED_ORDERS,
                threads=1,
                rate=PACED_RATE,
            )
            with stream_runner(
                {
                    "EXCHANGE_RATE_LIMITS": raised,
                    "STREAM_SCAN_SECONDS": "0.5",
                    "MARKET_REFRESH_SECONDS": "1",
                },
                name="orders-streams",
            ):
                live_after = wait_live(connections)
                while market_data.ticker_cached(connection=connections[0], symbol=SYMBOL) is None:
                    time.sleep(0.2)
                background, background_endpoints = background_weight(paper_url)
                live_paced = service_phase(
                    f"ledger, {paced_label}",
                    owner,
                    connections,
                    paper_url,
                    count=PACED_ORDERS,
                    threads=1,
                    rate=PACED_RATE,
                )
                time.sleep(WINDOW_PAUSE_SECONDS)
                live_busy = service_phase(f"ledger, {busy_label}", owner, connections, paper_url)
        phases = (live_paced, live_busy, rest_paced, rest_busy)
        ids = [order_id for phase in phases for order_id, _, _ in phase.placed]
        rows = {str(o.pk): o for o in Order.objects.filter(pk__in=ids)}
        statuses: dict[str, int] = {}
        for order in rows.values():
            statuses[order.status] = statuses.get(order.status, 0) + 1
        created = exchange_times(connections)
        table_rows, figures = [], {}
        for phase in phases:
            row, figures[phase.label] = phase_row(
                phase,
                created,
                rows,
                background_per_second=background if phase.label.startswith("ledger") else 0,
            )
            table_rows.append(row)

        flush_bench_redis()
        time.sleep(WINDOW_PAUSE_SECONDS)
        direct_started = time.time()
        direct_paced = place_direct(connections, count=PACED_ORDERS, threads=1, rate=PACED_RATE)
        row, direct_paced_p50 = direct_row(
            f"connector.place_order, {paced_label}", direct_paced, time.time() - direct_started
        )
        table_rows.append(row)
        time.sleep(WINDOW_PAUSE_SECONDS)
        direct_started = time.time()
        direct_busy = place_direct(connections)
        row, _ = direct_row(
            f"connector.place_order, {busy_label}", direct_busy, time.time() - direct_started
        )
        table_rows.append(row)
        clean_user_orders("orders")

    spot_weight = load_budgets(published_budgets())["binance"].windows["spot ip weight 1m"]
    live_p, live_b = figures[live_paced.label], figures[live_busy.label]
    rest_p, rest_b = figures[rest_paced.label], figures[rest_busy.label]

    def endpoints(counts: dict[str, int]) -> str:
        return ", ".join(f"`{k}` x{v}" for k, v in sorted(counts.items())) or "none"

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    def sources(phase: Phase) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(phase.sources.items()))

    gap = live_p["exchange_p50"] - direct_paced_p50
    body = (
        f"Limit buys ({SYMBOL} {QUANTITY} @ {PRICE}, resting) over {CONNECTIONS} paper Binance "
        "spot connections through `orders.services.order_place` in-process (pre-checks "
        "included), one worker (threads, 16), all in one run: first with no stream (the REST "
        "pre-checks), then with `manage.py run_user_streams` holding the 10 private streams "
        f"(all live {live_after:.1f} s after it started) and refreshing the shared ticker "
        f"cache every second (ledger pre-checks). Each way {PACED_ORDERS} orders one at a "
        f"time at {PACED_RATE:.0f}/s (latency) and {ORDERS} from {THREADS} threads "
        "(saturation: 8 placers in one process share its GIL and the 2 cores with the "
        "worker, the runner, the paper exchange and PostgreSQL, so the API time there is "
        "mostly queueing); the direct connector calls the same two ways. IP weight budget "
        "raised for the run; the per-key order budget (50 / 10 s per connection) kept, "
        f"{WINDOW_PAUSE_SECONDS} s between phases. Times from the call, on the host's clock "
        "(the paper stamps stored orders with the same clock).\n\n"
        + table(
            [
                "path",
                "orders/s",
                "API call ms p50 / p99",
                "to worker send ms p50 / p99",
                "to exchange stored ms p50 / p99",
                "weight per order",
            ],
            table_rows,
        )
        + "\n\nPre-checks as the orders' first events tell: "
        + "; ".join(f"{phase.label}: {sources(phase)}" for phase in phases)
        + ". Final states: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + ".\n\n"
        f"Weight per order with streams live is the order's own path: what the paper counted "
        f"while placing ({endpoints(live_busy.per_endpoint)} for the {ORDERS}) less the "
        f"runner's ticker refresh, which spends {background:.1f} weight/s whatever the order "
        f"rate (counted idle over {BACKGROUND_SECONDS:.0f} s: "
        f"{endpoints(background_endpoints)}). Without a stream: "
        f"{endpoints(rest_busy.per_endpoint)}. Binance's default IP budget (`spot ip weight "
        f"1m` {spot_weight.limit}/min) allows "
        f"{spot_weight.rate / max(live_b['request_weight'], 0.01):.1f} orders/s with streams "
        f"live against {spot_weight.rate / rest_b['weight']:.2f} without.\n\n"
        f"Targets, streams live: API p50 < 25 ms: {verdict(live_p['api_p50'] < 25)} "
        f"({live_p['api_p50']:.0f} ms one at a time, {live_b['api_p50']:.0f} ms from "
        f"{THREADS} threads; REST {rest_p['api_p50']:.0f} / {rest_b['api_p50']:.0f} ms); "
        f"to exchange p50 within 30 ms of the direct call: {verdict(gap <= 30)} "
        f"({live_p['exchange_p50']:.0f} ms against {direct_paced_p50:.0f} ms, {gap:+.0f} ms; "
        f"REST {rest_p['exchange_p50']:.0f} ms); weight <= 2 per order: "
        f"{verdict(live_b['request_weight'] <= 2)} ({live_b['request_weight']:.2f})."
    )
    write_results("orders", body)
    print(body)


if __name__ == "__main__":
    main()
