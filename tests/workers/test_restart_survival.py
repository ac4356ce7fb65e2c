"""The live state survives a restart of web, worker and stream runner (issue 12): against
the session's paper exchange, a stream runner and a Celery worker of the test's own (real
processes, SIGKILLed mid-session) and the Django test client as the stateless web side.
Every fill the paper exchange made is one Fill row, nothing is sent twice and the ledger
matches the paper account after the restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from connections.models import ExchangeConnection, LedgerBalance, StreamState
from connections.services import (
    ConnectionSpec,
    connection_connector,
    connection_create,
    connection_credentials,
)
from orders.models import Fill, Order
from tests.conftest import TEST_WINDOW_MARGIN_MS, _client_for, _database_url_for
from tests.django_fixtures import paper_stats
from tests.workers.conftest import LEASE_SECONDS, SCAN_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)
REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 30.0
START_SECONDS = 60.0
QUANTITY = Decimal("0.01")


def poll(check: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met within {timeout} s"
        time.sleep(0.1)


class Processes:
    """The runner and worker processes the test starts, kills and starts again."""

    def __init__(self, paper_url: str, directory: Path) -> None:
        from django.db import connection as db_connection

        self.directory = directory
        self.started: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url_for(db_connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "PAPER_EXCHANGE_URL": paper_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "STREAM_LEASE_SECONDS": str(LEASE_SECONDS),
            "STREAM_SCAN_SECONDS": str(SCAN_SECONDS),
            "STREAM_STATE_WRITE_SECONDS": "0.1",
            "RATE_LIMIT_WINDOW_MARGIN_MS": str(TEST_WINDOW_MARGIN_MS),
            "BINANCE_RATE_LIMITS_SOURCE": "paper",
            "EXCHANGE_HOST_ALLOWLIST": ",".join(settings.EXCHANGE_HOST_ALLOWLIST),
            "ALERT_WEBHOOK_URL": "",
        }

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log_path = self.directory / f"{name}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.logs[process.pid] = log_path
        self.started.append(process)
        return process

    def runner(self, holder: str) -> subprocess.Popen:
        return self._start(
            f"runner-{holder}",
            [sys.executable, "manage.py", "run_user_streams"],
            {**self.env, "STREAM_HOLDER_ID": holder},
        )

    def worker(self, name: str) -> tuple[subprocess.Popen, str]:
        node = f"{name}-{os.getpid()}@{socket.gethostname()}"
        process = self._start(
            f"worker-{name}",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "threads",
                "-c",
                "4",
                "-Q",
                "orders,connections,health,maintenance",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "-n",
                node,
            ],
            self.env,
        )
        return process, node

    def log(self, process: subprocess.Popen) -> Path:
        return self.logs[process.pid]

    def worker_ready(self, process: subprocess.Popen, node: str) -> None:
        from config.celery import app

        def answered() -> bool:
            assert process.poll() is None, self.log(process).read_text()[-3000:]
            return any(node in reply for reply in app.control.ping([node], timeout=0.5))

        poll(answered, f"worker {node} answers", timeout=START_SECONDS)

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)  # no release, no goodbye, no acknowledgement
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def open_order(pk: str) -> Order:
    """The order's row once the worker has sent it and the exchange took it."""
    return poll(lambda: Order.objects.filter(pk=pk, status="open").first(), f"order {pk} open")


def paper_fill(paper: str, order: Order, quantity: str) -> dict[str, Any]:
    answer = requests.post(
        f"{paper}/_paper/fill",
        json={"exchange": "bybit", "clientOrderId": order.client_order_id, "quantity": quantity},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["order"]


def connected_as(connection: ExchangeConnection, holder: str) -> bool:
    return StreamState.objects.filter(
        connection=connection, holder=holder, state="connected", snapshot_at__isnull=False
    ).exists()


def filled_to(order: Order, quantity: Decimal, fills: int) -> bool:
    row = Order.objects.get(pk=order.pk)
    count = Fill.objects.filter(order_id=order.pk).count()
    return row.filled_quantity == quantity and count >= fills


def ledger_matches(connection: ExchangeConnection, paper_balances: dict[str, Any]) -> bool:
    """Every asset of the paper account as the ledger has it (free and locked where the
    row has them, else the total)."""
    for asset, figures in paper_balances.items():
        free, locked = Decimal(figures["free"]), Decimal(figures["locked"])
        row = LedgerBalance.objects.filter(connection=connection, asset=asset).first()
        if row is None or (row.free, row.locked, row.total) == (None, None, None):
            return False
        if row.free is not None and row.free != free:
            return False
        if row.locked is not None and row.locked != locked:
            return False
        if row.free is None and row.total != free + locked:
            return False
    return True


def test_the_live_state_survives_a_killed_runner_and_worker_with_no_fill_lost_or_doubled(
    owner, paper, tmp_path
):
    settings.STREAM_LEASE_SECONDS = LEASE_SECONDS
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="bybit-restart", exchange="bybit", api_type="spot", environment="paper"
        ),
    )
    api_key = connection_credentials(connection=connection)["api_key"]
    processes = Processes(paper, tmp_path)
    try:
        runner = processes.runner("before")
        worker, node = processes.worker("before")
        processes.worker_ready(worker, node)
        poll(lambda: connected_as(connection, "before"), f"stream up ({processes.log(runner)})")

        # the web side: two orders through the API, sent by the worker
        web = _client_for(owner)
        orders = []
        for price in ("59000", "58900"):
            response = web.post(
                "/api/orders",
                {
                    "connectionId": str(connection.pk),
                    "symbol": "BTC/USDT",
                    "side": "buy",
                    "type": "limit",
                    "quantity": str(QUANTITY),
                    "price": price,
                },
                format="json",
            )
            assert response.status_code == 202, response.json()
            orders.append(response.json()["order"]["id"])
        first, second = (open_order(pk) for pk in orders)

        # a partial fill while everything runs: it arrives through the stream
        paper_orders = {first.pk: paper_fill(paper, first, "0.004")}
        poll(lambda: filled_to(first, Decimal("0.004"), 1), "the live fill")
        assert Fill.objects.get(order_id=first.pk).source == "stream"

        # everything goes down at once; the exchange goes on filling
        processes.kill(runner)
        processes.kill(worker)
        web = None
        paper_orders[first.pk] = paper_fill(paper, first, "0.003")
        paper_orders[second.pk] = paper_fill(paper, second, "0.002")

        # and comes back: a new runner, a new worker, a new web client
        runner = processes.runner("after")
        worker, node = processes.worker("after")
        processes.worker_ready(worker, node)
        poll(lambda: connected_as(connection, "after"), f"stream back ({processes.log(runner)})")
        poll(lambda: filled_to(first, Decimal("0.007"), 2), "the first order's gap fill")
        poll(lambda: filled_to(second, Decimal("0.002"), 1), "the second order's gap fill")
        paper_balances = requests.get(
            f"{paper}/_paper/accounts", params={"exchange": "bybit", "apiKey": api_key}, timeout=5
        ).json()["accounts"][0]["balances"]
        poll(lambda: ledger_matches(connection, paper_balances), "the ledger matches the paper")
        web = _client_for(owner)
        read = {pk: web.get(f"/api/orders/{pk}").json()["order"] for pk in orders}
        time.sleep(3 * SCAN_SECONDS)  # a late duplicate has time to land
        state = StreamState.objects.get(connection=connection)
    finally:
        processes.stop_all()

    # every fill the paper exchange made is exactly one Fill row
    paper_trades = connection_connector(connection=connection).recent_fills("BTC/USDT")
    fills = list(Fill.objects.filter(connection=connection))
    assert len(paper_trades) == 3
    assert sorted(f.trade_id for f in fills) == sorted(t.trade_id for t in paper_trades)
    assert len({f.trade_id for f in fills}) == len(fills) == 3
    assert sorted(f.source for f in fills) == ["reconcile", "reconcile", "stream"]
    # each order's filled quantity is the paper's, in the row and through the new web client
    for order in (first, second):
        row = Order.objects.get(pk=order.pk)
        paper_filled = Decimal(paper_orders[order.pk]["filledQuantity"])
        assert row.filled_quantity == paper_filled
        assert Decimal(read[str(order.pk)]["filledQuantity"]) == paper_filled
        assert sum(f.quantity for f in fills if f.order_id == order.pk) == paper_filled
        assert (row.status, row.attempts) == ("partially_filled", 1)
    # nothing was sent twice
    sent = paper_stats(paper, "bybit")["ordersByClientId"]
    assert [sent[o.client_order_id] for o in (first, second)] == [1, 1]
    # the ledger still matches the paper account, and the stream is the new holder's
    assert ledger_matches(connection, paper_balances)
    assert (state.holder, state.state) == ("after", "connected")
