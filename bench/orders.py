"""500 limit orders through the order service, a real Celery worker and the paper exchange,
side by side with 500 direct ``connector.place_order`` calls (issue 5).

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
    table,
    write_results,
)

ORDERS = 500
CONNECTIONS = 10
THREADS = 8
SYMBOL = "BTC/USDT"
QUANTITY = Decimal("0.0002")
PRICE = Decimal("59000")          # below the 60000 start price, inside the 5% band: rests
SETTLE_LIMIT_SECONDS = 180
RAISED = {"binance": {"per_second": 100000, "per_minute": 10000000, "concurrent": 100}}


def paper_requests(paper_url: str) -> dict[str, int]:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return dict(stats["binance"]["requests"])


def weight_spent(before: dict[str, int], after: dict[str, int]) -> tuple[int, dict[str, int]]:
    from exchanges.binance import WEIGHTS

    diff = {key: after[key] - before.get(key, 0) for key in after
            if after[key] - before.get(key, 0)}
    return sum(WEIGHTS.get(key, 1) * n for key, n in diff.items()), diff


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def place_via_service(owner, connections: list) -> list[tuple[str, float, float]]:
    from django.db import connection as db

    from orders.services import OrderSpec, order_place

    def one(index: int) -> tuple[str, float, float]:
        called = time.time()
        placement = order_place(owner=owner, idempotency_key=None, spec=OrderSpec(
            connection_id=connections[index % len(connections)].pk, symbol=SYMBOL,
            side="buy", type="limit", quantity=QUANTITY, price=PRICE))
        returned = time.time()
        if index >= ORDERS - THREADS:
            db.close()
        return str(placement.order.pk), called, returned

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(ORDERS)))


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


def place_direct(connections: list) -> list[tuple[float, float, int]]:
    from connections.services import connection_connector
    from exchanges.base import OrderRequest
    from orders.services import client_order_id_new

    connectors: dict[tuple[int, int], object] = {}

    def one(index: int) -> tuple[float, float, int]:
        from threading import get_ident

        key = (get_ident(), index % len(connections))
        if key not in connectors:
            connectors[key] = connection_connector(connection=connections[key[1]])
        request = OrderRequest(symbol=SYMBOL, side="buy", type="limit", quantity=QUANTITY,
                               price=PRICE, client_order_id=client_order_id_new())
        called = time.time()
        placed = connectors[key].place_order(request)
        returned = time.time()
        return called, returned, placed.created_at_ms

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(ORDERS)))



def main() -> None:
    with paper_exchange() as paper_url:
        os.environ["PAPER_EXCHANGE_URL"] = paper_url
        raised = json.dumps(RAISED)
        setup_django(EXCHANGE_RATE_LIMITS=raised)
        flush_bench_redis()
        from connections.services import ConnectionSpec, connection_create
        from exchanges.limits import load_budgets
        from exchanges.registry import published_budgets
        from orders.models import Order
        from orders.services import OrderSpec, order_place

        clean_user_orders("orders")
        owner = bench_user("orders")
        connections = [connection_create(owner=owner, actor=owner, spec=ConnectionSpec(
            name=f"bench orders {i}", exchange="binance", api_type="spot",
            environment="paper")) for i in range(CONNECTIONS)]
        with celery_workers(1, concurrency=16, env={"EXCHANGE_RATE_LIMITS": raised}):
            # warm-up: one order per connection fills the instrument cache and the pools
            warm = [str(order_place(owner=owner, idempotency_key=None, spec=OrderSpec(
                connection_id=c.pk, symbol=SYMBOL, side="buy", type="limit",
                quantity=QUANTITY, price=PRICE)).order.pk) for c in connections]
            wait_settled(warm)
            before = paper_requests(paper_url)
            started = time.time()
            placed = place_via_service(owner, connections)
            api_done = time.time()
            ids = [order_id for order_id, _, _ in placed]
            wait_settled(ids)
            after = paper_requests(paper_url)
        rows = {str(o.pk): o for o in Order.objects.filter(pk__in=ids)}
        statuses = {}
        for order in rows.values():
            statuses[order.status] = statuses.get(order.status, 0) + 1
        created = exchange_times(connections)
        api_ms, send_ms, exchange_ms = [], [], []
        for order_id, called, returned in placed:
            order = rows[order_id]
            api_ms.append((returned - called) * 1000)
            send_ms.append((order.last_sent_at.timestamp() - called) * 1000)
            exchange_ms.append(created[order.client_order_id] - called * 1000)
        last_on_exchange = max(created[rows[i].client_order_id] for i in ids) / 1000
        service_rate = ORDERS / (last_on_exchange - started)
        api_rate = ORDERS / (api_done - started)
        weight, per_endpoint = weight_spent(before, after)
        per_order_weight = weight / ORDERS

        flush_bench_redis()
        direct_started = time.time()
        direct = place_direct(connections)
        direct_wall = time.time() - direct_started
        direct_exchange = [created_ms - called * 1000 for called, _, created_ms in direct]
        direct_round = [(returned - called) * 1000 for called, returned, _ in direct]
        direct_rate = ORDERS / direct_wall
        clean_user_orders("orders")

    # the table a deployment runs with (published x RATE_LIMIT_SAFETY_FACTOR), not the
    # raised one of this run
    spot_weight = load_budgets(published_budgets())["binance"].windows["spot ip weight 1m"]
    ip_budget = spot_weight.rate / per_order_weight
    key_budget = CONNECTIONS * 50 / 10
    rows_out = [
        ["service -> worker -> exchange", f"{service_rate:.1f}",
         f"{statistics.median(api_ms):.0f} / {pct(api_ms, 0.99):.0f}",
         f"{statistics.median(send_ms):.0f} / {pct(send_ms, 0.99):.0f}",
         f"{statistics.median(exchange_ms):.0f} / {pct(exchange_ms, 0.99):.0f}"],
        ["connector.place_order", f"{direct_rate:.1f}",
         f"{statistics.median(direct_round):.0f} / {pct(direct_round, 0.99):.0f} (round trip)",
         "—",
         f"{statistics.median(direct_exchange):.0f} / {pct(direct_exchange, 0.99):.0f}"],
    ]
    body = (
        f"{ORDERS} limit buys ({SYMBOL} {QUANTITY} @ {PRICE}, resting) over {CONNECTIONS} "
        f"paper Binance connections, placed from {THREADS} threads with "
        "`orders.services.order_place` in-process (pre-checks included), one worker "
        "(threads, 16). IP weight budget raised for the run; the per-key order budget "
        f"(50 / 10 s per connection) kept, but {ORDERS // CONNECTIONS} orders per connection "
        "fit one 10 s window, so it did not bind. Times from the call, on the host's clock "
        "(the paper stamps stored orders with the same clock).\n\n"
        + table(["path", "orders/s", "API call ms p50 / p99",
                 "to worker send ms p50 / p99", "to exchange stored ms p50 / p99"], rows_out)
        + f"\n\nAPI placement alone: {api_rate:.1f} orders/s. Final states: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) + ".\n\n"
        f"Budget: per-key order budget {key_budget:.0f} orders/s over {CONNECTIONS} "
        f"connections (5/s each). Weight spent per order through the service: "
        f"{per_order_weight:.1f} ("
        + ", ".join(f"`{k}` x{v}" for k, v in sorted(per_endpoint.items())) + "); "
        f"Binance's default IP budget (`spot ip weight 1m` {spot_weight.limit}/min) "
        f"therefore allows {ip_budget:.2f} orders/s for the whole deployment.")
    write_results("orders", body)
    print(body)


if __name__ == "__main__":
    main()
