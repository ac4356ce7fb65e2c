"""One holder per connection across runners: the Redis lease (workers/user_streams.py),
proved with two runners in one loop and with a runner process killed outright. The local
Bybit stream server counts authenticated sockets per API key: never more than one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from connections.models import StreamState
from core.redis import redis_client
from tests.conftest import _database_url_for
from tests.workers.bybit_stream_server import BybitStreamServer
from tests.workers.conftest import LEASE_SECONDS, SCAN_SECONDS, db, point_stream_at, until
from workers.user_streams import StreamRunner, lease_key

pytestmark = pytest.mark.django_db(transaction=True)
REPO_ROOT = Path(__file__).resolve().parents[2]
# two shared cores: a process's scheduling and a reconnect's backoff, beyond the lease
SLACK_SECONDS = 4.0


def runner(holder: str) -> StreamRunner:
    return StreamRunner(holder=holder, lease_seconds=LEASE_SECONDS, scan_seconds=SCAN_SECONDS)


async def watch_exclusive(runners: list[StreamRunner], connection_id: str, seconds: float) -> int:
    """Sample who runs the stream every 10 ms; returns the most runners seen at once."""
    most = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, sum(connection_id in r.held() for r in runners))
        await asyncio.sleep(0.01)
    return most


def test_two_runners_never_hold_one_connection_at_once_and_the_other_takes_over_on_stop(
    bybit_connection,
):
    connection_id = str(bybit_connection.pk)

    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        runners = [runner("r1"), runner("r2")]
        stops = [asyncio.Event(), asyncio.Event()]
        tasks = [asyncio.create_task(r.run(s)) for r, s in zip(runners, stops, strict=True)]
        await until(lambda: server.connected(key) == 1, in_thread=False, what="connected")
        most = await watch_exclusive(runners, connection_id, 3 * LEASE_SECONDS)
        holder = next(i for i, r in enumerate(runners) if connection_id in r.held())
        stops[holder].set()  # a clean stop releases the lease
        await tasks[holder]
        other = runners[1 - holder]
        await until(
            lambda: connection_id in other.held() and server.connected(key) == 1,
            in_thread=False,
            timeout=LEASE_SECONDS,
            what="taken over",
        )
        most = max(most, await watch_exclusive(runners, connection_id, LEASE_SECONDS))
        stops[1 - holder].set()
        await tasks[1 - holder]
        await server.stop()
        return most, server.max_concurrent[key]

    most, sockets = asyncio.run(scenario())
    assert (most, sockets) == (1, 1)
    assert not redis_client().exists(lease_key(connection_id))  # released on shutdown


def test_a_runner_whose_lease_is_lost_stops_its_stream_at_once_and_does_not_take_it_back(
    bybit_connection,
):
    connection_id = str(bybit_connection.pk)

    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        holder = runner("r1")
        stop = asyncio.Event()
        task = asyncio.create_task(holder.run(stop))
        await until(lambda: server.connected(key) == 1, in_thread=False, what="connected")
        # someone else holds it now (as after a pause longer than the lease)
        redis_client().set(lease_key(connection_id), "intruder", px=60_000)
        await until(
            lambda: server.connected(key) == 0 and not holder.held(),
            in_thread=False,
            timeout=LEASE_SECONDS,
            what="stream stopped",
        )
        await asyncio.sleep(5 * SCAN_SECONDS)
        retaken = server.connected(key) or bool(holder.held())
        redis_client().delete(lease_key(connection_id))
        await until(
            lambda: server.connected(key) == 1,
            in_thread=False,
            timeout=LEASE_SECONDS + SLACK_SECONDS,
            what="taken again once free",
        )
        stop.set()
        await task
        await server.stop()
        return retaken

    assert asyncio.run(scenario()) is False
    assert redis_client().get(lease_key(connection_id)) is None


def test_a_killed_runner_process_loses_its_stream_to_another_within_one_lease_period(
    bybit_connection, paper, tmp_path
):
    from django.db import connection as db_connection

    connection_id = str(bybit_connection.pk)
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for(db_connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "PAPER_EXCHANGE_URL": paper,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        "STREAM_LEASE_SECONDS": str(LEASE_SECONDS),
        "STREAM_SCAN_SECONDS": str(SCAN_SECONDS),
        "STREAM_HOLDER_ID": "doomed",
        "BINANCE_RATE_LIMITS_SOURCE": "paper",
    }
    log_path = tmp_path / "streams.log"

    async def scenario():
        server = BybitStreamServer()
        url = await server.start()
        key, secret = await db(point_stream_at, bybit_connection, url)
        server.allow(key, secret)
        env["EXCHANGE_HOST_ALLOWLIST"] = ",".join(settings.EXCHANGE_HOST_ALLOWLIST)
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "run_user_streams"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            await until(
                lambda: server.connected(key) == 1,
                in_thread=False,
                timeout=60,
                what=f"the process's stream ({log_path})",
            )
            survivor = runner("survivor")
            stop = asyncio.Event()
            task = asyncio.create_task(survivor.run(stop))
            most = await watch_exclusive([survivor], connection_id, 2 * LEASE_SECONDS)
            process.send_signal(signal.SIGKILL)  # no release, no goodbye
            killed_at = time.monotonic()
            await until(
                lambda: connection_id in survivor.held() and server.connected(key),
                in_thread=False,
                timeout=LEASE_SECONDS + SCAN_SECONDS + SLACK_SECONDS,
                what="taken over",
            )
            took = time.monotonic() - killed_at
            await until(
                lambda: StreamState.objects.filter(
                    connection_id=connection_id, holder="survivor", state="connected"
                ).exists(),
                what="state names the survivor",
            )
            stop.set()
            await task
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            await server.stop()
        return most, took, server.max_concurrent[key]

    most, took, sockets = asyncio.run(scenario())
    assert most == 0  # the survivor never ran it while the process held it
    assert sockets == 1  # never two sockets of the account at once
    assert took <= LEASE_SECONDS + SCAN_SECONDS + SLACK_SECONDS
