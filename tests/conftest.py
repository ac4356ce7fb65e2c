"""Shared fixtures: API clients for an owner, an outsider and staff, on real PostgreSQL.

Tests use their own Redis database (db 9 of the configured server) so a developer's running
stack is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from config.redis_urls import with_db

pytest_plugins = [
    "tests.paper",
    "tests.django_fixtures",
    "tests.hostile_host",
    "tests.alert_receiver",
]

# another test run on the same server (a second checkout) picks its own with TEST_REDIS_DB;
# each pytest-xdist process takes the next one (its worker, paper exchange and test database
# are its own too: pytest-django suffixes the database name per process)
_XDIST_INDEX = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "9")) + _XDIST_INDEX
# pytest, a worker, the paper exchange and PostgreSQL share 2 cores here: a request can reach
# the paper exchange well over 50 ms after its grant, so the tests' limiter allows for more
# arrival jitter than the default (the benchmarks measure the default)
TEST_WINDOW_MARGIN_MS = 200
WORKER_CIRCUIT_THRESHOLD = 3
# long enough that no machine is slow enough to pass it by accident: a test that wants the
# cooldown over moves the circuit's opening back by it (the worker's clock cannot be frozen)
WORKER_CIRCUIT_COOLDOWN_SECONDS = 60
WORKER_EXCHANGE_TIMEOUT_SECONDS = 3


def pytest_configure(config: pytest.Config) -> None:
    """Point Redis users at the test database. Django is set up by now, but the cache and
    the Celery app read their settings lazily, on first use."""
    from django.conf import settings

    from config.redis_urls import celery_broker_url

    if not settings.configured:  # a Django-free run (-p no:django)
        return

    test_url = with_db(settings.REDIS_URL, TEST_REDIS_DB)
    # what an earlier run left (alert dedupe keys under the same primary keys, pauses, leases)
    # must not decide this run: the database is this process's alone, and nothing uses it yet
    redis.Redis.from_url(test_url).flushdb()
    os.environ["REDIS_URL"] = test_url  # inherited by workers the tests start
    settings.REDIS_URL = test_url
    settings.CACHES["default"]["LOCATION"] = test_url
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = celery_broker_url(test_url)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RATE_LIMIT_WINDOW_MARGIN_MS = TEST_WINDOW_MARGIN_MS
    settings.BINANCE_RATE_LIMITS_SOURCE = "paper"
    # the session's own metrics directory (core.metrics makes its files on first use), which
    # the workers and runners the tests start inherit
    metrics_dir = tempfile.mkdtemp(prefix="ec-test-metrics-")
    settings.PROMETHEUS_MULTIPROC_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    config.add_cleanup(lambda: shutil.rmtree(metrics_dir, ignore_errors=True))
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def make_user(django_user_model: Any):
    def make(username: str, *, staff: bool = False, password: str = "correct-horse-9") -> Any:
        return django_user_model.objects.create_user(
            username=username, password=password, is_staff=staff, is_superuser=staff
        )

    return make


@pytest.fixture
def owner(make_user: Any) -> Any:
    return make_user("owner")


@pytest.fixture
def outsider(make_user: Any) -> Any:
    return make_user("outsider")


@pytest.fixture
def staff(make_user: Any) -> Any:
    return make_user("staff", staff=True)


def _client_for(user: Any) -> Any:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client


@pytest.fixture
def owner_client(owner: Any) -> Any:
    return _client_for(owner)


@pytest.fixture
def outsider_client(outsider: Any) -> Any:
    return _client_for(outsider)


@pytest.fixture
def staff_client(staff: Any) -> Any:
    return _client_for(staff)


@pytest.fixture
def anonymous_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


def _database_url_for(settings_dict: dict[str, Any]) -> str:
    host = quote(settings_dict.get("HOST") or "127.0.0.1", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    password = (
        f":{quote(settings_dict['PASSWORD'], safe='')}" if settings_dict.get("PASSWORD") else ""
    )
    return (
        f"postgres://{settings_dict.get('USER') or 'postgres'}{password}@{host}{port}/"
        f"{settings_dict['NAME']}"
    )


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: Any,
    django_db_blocker: Any,
    paper_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    alert_receiver: Any,
) -> Iterator[subprocess.Popen]:
    """A real Celery worker (threads, 8) on the test database, the test Redis database and
    the session's paper exchange."""
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "PAPER_EXCHANGE_URL": paper_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
        # shrunk for tests that drive the circuit through the worker
        "CIRCUIT_FAILURE_THRESHOLD": str(WORKER_CIRCUIT_THRESHOLD),
        "CIRCUIT_COOLDOWN_SECONDS": str(WORKER_CIRCUIT_COOLDOWN_SECONDS),
        "RATE_LIMIT_WINDOW_MARGIN_MS": str(TEST_WINDOW_MARGIN_MS),
        # a stalled or trickling answer meets the whole-request deadline quickly
        "EXCHANGE_TIMEOUT_SECONDS": str(WORKER_EXCHANGE_TIMEOUT_SECONDS),
        # the worker reads Binance's rate limits at start: from the paper, no internet
        "BINANCE_RATE_LIMITS_SOURCE": "paper",
        # the worker posts alerts to the session's local receiver, quickly given up on
        "ALERT_WEBHOOK_URL": alert_receiver.url,
        "ALERT_TIMEOUT_SECONDS": "1",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
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
                "8",
                "-Q",
                "orders,connections,health,maintenance",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    process.log_path = log_path  # type: ignore[attr-defined]  (tests read what it logged)
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _retrying_on_deadlock(teardown: Any) -> Any:
    """A transactional test's teardown empties every table (TRUNCATE) while the session's
    Celery worker, a real concurrent process, may still be finishing a task the test set
    off; PostgreSQL then breaks the lock cycle by failing one side. The worker's side is
    retried by its task; this retries ours."""

    def teardown_retried(self: Any) -> Any:
        for attempt in range(5):
            try:
                return teardown(self)
            except Exception as exc:
                cause = exc.__cause__ or exc
                if "deadlock detected" not in str(cause) or attempt == 4:
                    raise
                time.sleep(0.5 * (attempt + 1))
        return None

    return teardown_retried


def _patch_transactional_teardown() -> None:
    from django.test import TransactionTestCase

    TransactionTestCase._fixture_teardown = _retrying_on_deadlock(  # type: ignore[method-assign]
        TransactionTestCase._fixture_teardown
    )


_patch_transactional_teardown()
