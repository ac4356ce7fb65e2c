"""What every benchmark shares: the paper exchange and Celery workers as subprocesses, a
Django setup on the dev stack's database, and the sections of bench/RESULTS.md.

Benchmarks run through the Makefile (``make bench-<name>``), which brings the dev stack up
and exports DATABASE_URL / REDIS_URL. Each benchmark owns a user named ``bench-<name>``
whose connections it deletes before and after, and a Redis database of its own (db 12, or
BENCH_REDIS_DB).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
# another checkout benchmarking against the same Redis server picks its own database
BENCH_REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))


def setup_django(**overrides: str) -> None:
    """Configure Django for a benchmark process (and the workers it starts)."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.redis_urls import with_db

    os.environ["REDIS_URL"] = with_db(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), BENCH_REDIS_DB
    )
    # Binance's run-time rate limits come from the paper exchange: no internet here
    os.environ.setdefault("BINANCE_RATE_LIMITS_SOURCE", "paper")
    os.environ.update(overrides)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def flush_bench_redis() -> None:
    from core.redis import redis_client

    redis_client().flushdb()


@contextmanager
def paper_exchange(*args: str) -> Iterator[str]:
    """A paper exchange on a free port; yields its URL and stops it afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paper",
            "--port",
            "0",
            "--accounts",
            str(ROOT / "var" / "bench-paper-accounts.json"),
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PAPER_READY "):
            raise RuntimeError("the paper exchange did not start")
        yield line.split(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def celery_workers(
    count: int = 1,
    *,
    concurrency: int = 16,
    queues: str = "orders,connections,health,maintenance",
    env: dict[str, str] | None = None,
) -> Iterator[list[subprocess.Popen]]:
    """``count`` worker processes (threads pool); waits until every one answers a ping."""
    from config.celery import app

    log_dir = ROOT / "var" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(count):
        log = (log_dir / f"worker-{index}.log").open("w")
        processes.append(
            subprocess.Popen(
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
                    str(concurrency),
                    "-Q",
                    queues,
                    "-l",
                    "warning",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"bench{index}-{os.getpid()}@%h",
                ],
                cwd=ROOT,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5)) < count:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start (see var/bench-logs)")
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def bench_user(name: str) -> Any:
    """A fresh user owning this benchmark's connections (old ones removed)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model.objects.filter(username=f"bench-{name}").delete()
    return user_model.objects.create_user(username=f"bench-{name}")


def clean_user_orders(name: str) -> None:
    """Orders protect their owner and connections: remove a previous run's orders first."""
    from orders.models import Order

    Order.objects.filter(owner__username=f"bench-{name}").delete()


def write_results(name: str, body: str) -> None:
    """Replace this benchmark's section of bench/RESULTS.md (others are kept)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {name}\n\n_Last run: {stamp}._\n\n{body.strip()}\n"
        f"<!-- /bench:{name} -->"
    )
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by the benchmarks in `bench/` (`make bench`, "
            "`make bench-<name>`). Figures are from one run on the 2-core development machine, "
            "compared as ratios within that run.\n"
        )
    )
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.DOTALL
    )
    text = pattern.sub(section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    RESULTS.write_text(text)


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@contextmanager
def stream_runner(
    env: dict[str, str] | None = None, *, name: str = "streams"
) -> Iterator[subprocess.Popen]:
    """``manage.py run_user_streams`` as a subprocess (its log in var/bench-logs); yields
    once it printed STREAMS_READY, stops it (SIGTERM: streams down, leases released)."""
    log_dir = ROOT / "var" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = (log_dir / f"{name}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_user_streams", "--holder", f"bench-{name}"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("STREAMS_READY"):
            raise RuntimeError(f"the stream runner did not start (see {log.name})")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_live(connections: list[Any], timeout: float = 120) -> float:
    """Until every connection's stream is live (ledger_if_live); the seconds it took."""
    from connections.selectors import ledger_if_live

    started = time.monotonic()
    pending = list(connections)
    while pending:
        pending = [c for c in pending if ledger_if_live(connection=c) is None]
        if pending and time.monotonic() - started > timeout:
            raise RuntimeError(f"{len(pending)} streams not live after {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def process_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds used, resident MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = (
        next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        / 1024
    )
    return cpu, rss
