"""/metrics: Prometheus's text format behind a bearer token, every recording process's samples
(multiprocess files) plus what is read at scrape time, in queries constant in the number of
connections, labelled by connection id and exchange and never by a name or a key."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config.metrics import KOMBU_PRIORITY_SEPARATOR, celery_queues
from connections.health import connection_check
from connections.models import ConnectionState, ExchangeConnection, StreamState
from connections.services import ConnectionSpec, connection_create
from core.redis import redis_client
from orders.models import Order
from orders.transitions import order_transition
from tests.config.processes import ROOT
from tests.orders.conftest import wait_until

pytestmark = pytest.mark.django_db
TOKEN = "metrics-test-token-0123456789abcdef"


@pytest.fixture(autouse=True)
def metrics_token(settings: Any) -> None:
    settings.METRICS_TOKEN = TOKEN


def scrape(token: str | None = TOKEN) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return Client().get("/metrics", **headers)


def samples(text: str | None = None) -> list[tuple[str, dict[str, str], float]]:
    body = scrape().content.decode() if text is None else text
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    ]


def value(name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        found
        for sample, sample_labels, found in samples()
        if sample == name and labels.items() <= sample_labels.items()
    )


def paper_connection(owner: Any, exchange: str = "okx", name: str = "Desk") -> Any:
    api_type = "perpetual_futures" if exchange == "orangex" else "spot"
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(name=name, exchange=exchange, api_type=api_type, environment="paper"),
    )


# -- the token ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer wrong-token",
        f"Token {TOKEN}",
        TOKEN,
        f"Basic {TOKEN}",
        "Bearer",
        f"Bearer {TOKEN}x",
    ],
)
def test_metrics_without_the_right_bearer_token_is_401(header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = Client().get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"exchange_connect" not in response.content


def test_with_no_token_configured_metrics_is_always_401(settings):
    settings.METRICS_TOKEN = ""
    assert scrape("").status_code == 401
    assert scrape("anything").status_code == 401


def test_the_right_token_gets_the_prometheus_text_format():
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    names = {name for name, _, _ in samples(response.content.decode())}
    assert {
        "exchange_connect_scrape_ok",
        "exchange_connect_celery_queue_length",
        "exchange_connect_orders",
    } <= names


def test_metrics_answers_only_reads():
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405


def test_metrics_is_not_in_the_api_schema(staff_client):
    schema = staff_client.get("/api/schema/?format=json").json()
    assert not [path for path in schema["paths"] if "metrics" in path]


# -- what is recorded as it happens --------------------------------------------------------


def test_an_exchange_call_is_counted_with_its_path_template_status_and_latency(owner, paper):
    connection = paper_connection(owner, "okx")
    # counters are the process's totals: other tests' calls are in them too
    before = value("exchange_connect_exchange_requests_total", exchange="okx", status="200")
    assert connection_check(connection=connection).success is True
    requests = [
        (labels, found)
        for name, labels, found in samples()
        if name == "exchange_connect_exchange_requests_total" and labels["exchange"] == "okx"
    ]
    assert sum(found for labels, found in requests if labels["status"] == "200") > before
    endpoints = {labels["endpoint"] for labels, _ in requests}
    assert "/api/v5/public/time" in endpoints
    assert all("?" not in endpoint and "=" not in endpoint for endpoint in endpoints)
    assert (
        value(
            "exchange_connect_exchange_request_duration_seconds_count",
            exchange="okx",
            endpoint="/api/v5/public/time",
        )
        >= 1
    )


def test_a_failed_exchange_call_is_an_error_by_class(owner, paper):
    connection = paper_connection(owner, "bybit")
    ExchangeConnection.objects.filter(pk=connection.pk).update(
        api_secret_encrypted=ExchangeConnection.objects.get(
            pk=paper_connection(owner, "binance", "other").pk
        ).api_secret_encrypted
    )  # a secret of another key
    before = value(
        "exchange_connect_exchange_errors_total", exchange="bybit", error="AuthenticationError"
    )
    # the paper account is then provisioned again and the check passes: one failed call
    connection_check(connection=ExchangeConnection.objects.get(pk=connection.pk))
    assert (
        value(
            "exchange_connect_exchange_errors_total", exchange="bybit", error="AuthenticationError"
        )
        == before + 1
    )


def test_samples_of_another_process_are_served_after_it_exited():
    """Multiprocess mode: a process that recorded and exited still counts in the totals."""
    code = (
        "import django; django.setup()\n"
        "from core.metrics import exchange_call_observed\n"
        "from exchanges.observe import CallRecord\n"
        "for _ in range(3):\n"
        "    exchange_call_observed(CallRecord(exchange='pionex', connection_id='',"
        " method='GET', endpoint='/api/v1/other-process', status=200, latency_ms=12.0,"
        " sent=True))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        value(
            "exchange_connect_exchange_requests_total",
            exchange="pionex",
            endpoint="/api/v1/other-process",
        )
        == 3
    )


def test_settle_time_is_observed_when_an_order_leaves_submitting(
    owner, paper, django_capture_on_commit_callbacks
):
    connection = paper_connection(owner, "okx")
    order = Order.objects.create(
        owner=owner,
        connection=connection,
        client_order_id="ec0000metricssettle",
        request_hash="x",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.01"),
        volume_factor=1,
        quantity=Decimal("0.01"),
        price=Decimal("59000"),
    )
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(seconds=3))

    def settled(**labels: str) -> float:
        return value(
            "exchange_connect_order_settle_seconds_" + labels.pop("sample"),
            exchange="okx",
            **labels,
        )

    # the histogram holds the process's totals: other tests' orders may be in it too
    before = {
        "any": settled(sample="count"),
        "open": settled(sample="count", status="open"),
        "5": settled(sample="bucket", status="open", le="5.0"),
        "2.5": settled(sample="bucket", status="open", le="2.5"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order_id=order.pk, to_status="submitting", source="task")
    assert settled(sample="count") == before["any"]
    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order_id=order.pk, to_status="open", source="task")
    assert settled(sample="count", status="open") == before["open"] + 1
    # 3 s after its creation: in the 5 s bucket, not in the 2.5 s one
    assert settled(sample="bucket", status="open", le="5.0") == before["5"] + 1
    assert settled(sample="bucket", status="open", le="2.5") == before["2.5"]


# -- what is read at scrape time -----------------------------------------------------------


def test_connection_states_are_labelled_by_id_and_exchange_never_by_name(make_user, paper):
    owner = make_user("desk-owner-7f3a")
    connection = paper_connection(owner, "bingx", name="Secretive Desk Name")
    ConnectionState.objects.filter(connection=connection).update(
        circuit="open", health_status="unhealthy"
    )
    text = scrape().content.decode()
    assert "Secretive Desk Name" not in text and owner.username not in text
    labels = {"connection": str(connection.pk), "exchange": "bingx"}
    found = {
        (name, sample.get("state") or sample.get("status")): got
        for name, sample, got in samples(text)
        if {k: sample.get(k) for k in labels} == labels
    }
    assert found[("exchange_connect_connection_circuit_state", "open")] == 1
    assert found[("exchange_connect_connection_circuit_state", "closed")] == 0
    assert found[("exchange_connect_connection_health_status", "unhealthy")] == 1
    assert found[("exchange_connect_connection_enabled", None)] == 1


def test_stream_lag_is_the_age_of_the_last_message(owner, paper):
    connection = paper_connection(owner, "bybit")
    StreamState.objects.create(
        connection=connection,
        state="connected",
        last_message_at=timezone.now() - timedelta(seconds=30),
    )
    lag = value("exchange_connect_stream_lag_seconds", connection=str(connection.pk))
    assert 29 <= lag < 60
    assert (
        value(
            "exchange_connect_connection_stream_state",
            connection=str(connection.pk),
            state="connected",
        )
        == 1
    )


def test_orders_are_counted_by_exchange_and_status(owner, paper):
    connection = paper_connection(owner, "okx")
    for index, (status, flagged) in enumerate(
        [("open", False), ("open", False), ("unknown", True)]
    ):
        Order.objects.create(
            owner=owner,
            connection=connection,
            client_order_id=f"ec0000metrics{index}",
            request_hash="x",
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            status=status,
            requested_quantity=Decimal("0.01"),
            volume_factor=1,
            quantity=Decimal("0.01"),
            price=Decimal("59000"),
            flagged=flagged,
        )
    assert value("exchange_connect_orders", exchange="okx", status="open") == 2
    assert value("exchange_connect_orders", exchange="okx", status="unknown") == 1
    assert value("exchange_connect_orders", exchange="okx", status="filled") == 0
    assert value("exchange_connect_orders_flagged", exchange="okx") == 1


def test_the_celery_queues_are_the_workers():
    assert (
        {
            labels["queue"]
            for name, labels, _ in samples()
            if name == "exchange_connect_celery_queue_length"
        }
        == set(celery_queues())
        == {"orders", "connections", "health", "maintenance"}
    )


def test_celery_queue_lengths_add_up_every_priority_of_each_queue(settings):
    # queues of their own: the session's worker (if started) consumes the real ones
    settings.METRICS_CELERY_QUEUES = ("metrics-test-a", "metrics-test-b")
    client = redis_client()
    keys = [
        "metrics-test-a",
        f"metrics-test-a{KOMBU_PRIORITY_SEPARATOR}3",
        f"metrics-test-b{KOMBU_PRIORITY_SEPARATOR}9",
    ]
    try:
        client.rpush(keys[0], "a", "b")
        client.rpush(keys[1], "c")
        client.rpush(keys[2], "d")
        assert value("exchange_connect_celery_queue_length", queue="metrics-test-a") == 3
        assert value("exchange_connect_celery_queue_length", queue="metrics-test-b") == 1
    finally:
        client.delete(*keys)


def test_rate_limit_usage_per_pool_is_read_from_the_limiter(owner, paper):
    connection = paper_connection(owner, "okx")
    assert connection_check(connection=connection).success is True
    pools = [
        (labels, found)
        for name, labels, found in samples()
        if name == "exchange_connect_rate_limit_used" and labels["exchange"] == "okx"
    ]
    assert pools, "the pool the check used is listed"
    assert sum(found for _, found in pools) > 0
    assert all(labels["pool"].startswith("http://127.0.0.1") for labels, _ in pools)
    assert value("exchange_connect_rate_limit_limit", exchange="okx") > 0


def test_scrape_queries_are_constant_in_the_number_of_connections(owner, paper):
    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert scrape().status_code == 200
        return len(captured)

    paper_connection(owner, "okx", name="first")
    one = queries()
    for index in range(4):
        connection = paper_connection(owner, "bybit", name=f"more {index}")
        StreamState.objects.create(
            connection=connection, state="connected", last_message_at=timezone.now()
        )
    assert queries() == one == 2  # the connections and the orders


def test_a_part_that_cannot_be_read_is_left_out_and_said_so(monkeypatch):
    from config import metrics

    def broken() -> Any:
        raise ConnectionError("redis away")

    monkeypatch.setitem(metrics.PARTS, "celery_queues", broken)
    assert value("exchange_connect_scrape_ok", part="celery_queues") == 0
    assert value("exchange_connect_scrape_ok", part="orders") == 1


@pytest.mark.django_db(transaction=True)
def test_the_workers_exchange_calls_are_served_by_the_web_process(owner, paper, celery_worker):
    """The worker is another process: its counters reach this process's /metrics."""
    from connections.tasks import test_task

    connection = paper_connection(owner, "pionex")
    before = value("exchange_connect_exchange_requests_total", exchange="pionex", status="200")
    test_task.delay(str(connection.pk)).get(timeout=30)
    wait_until(
        lambda: (
            value("exchange_connect_exchange_requests_total", exchange="pionex", status="200")
            > before
        )
    )


def test_gunicorn_forgets_an_exited_workers_live_gauges_and_keeps_its_counters(settings, tmp_path):
    from types import SimpleNamespace

    from config.gunicorn import child_exit
    from core.metrics import process_identifier

    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    identifier = process_identifier(424242)
    for name in (
        f"gauge_livesum_{identifier}.db",
        f"gauge_liveall_{identifier}.db",
        f"counter_{identifier}.db",
        f"histogram_{identifier}.db",
    ):
        (tmp_path / name).write_bytes(b"")
    child_exit(None, SimpleNamespace(pid=424242))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"counter_{identifier}.db",
        f"histogram_{identifier}.db",
    ]


def test_a_starting_process_forgets_the_live_gauges_of_this_hosts_dead_processes(tmp_path):
    from core.metrics import forget_dead_processes, process_identifier

    dead, alive = process_identifier(2**22 + 7), process_identifier()
    elsewhere = "another-host-1"
    for identifier in (dead, alive, elsewhere):
        (tmp_path / f"gauge_livesum_{identifier}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead}.db").write_bytes(b"")
    assert forget_dead_processes(str(tmp_path)) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livesum_{alive}.db", f"gauge_livesum_{elsewhere}.db"]
    )


@pytest.mark.django_db(transaction=True)
def test_every_gunicorn_worker_serves_every_processs_samples_and_logs_json(
    test_database_url, redis_url, tmp_path
):
    """Two gunicorn workers scraped six times, whichever answers: each answer has the samples
    this process recorded; gunicorn's own lines come out as JSON, the access lines without
    the query string."""
    import http.client
    import json
    import time

    from core.metrics import exchange_call_observed
    from exchanges.observe import CallRecord
    from tests.config.processes import child_env, closed_port

    for _ in range(5):
        exchange_call_observed(
            CallRecord(
                exchange="orangex",
                connection_id="",
                method="POST",
                endpoint="/api/v1/gunicorn",
                status=200,
                latency_ms=5.0,
                sent=True,
            )
        )
    port = closed_port()
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "-c",
                "python:config.gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(
                {
                    "DATABASE_URL": test_database_url,
                    "REDIS_URL": redis_url,
                    "METRICS_TOKEN": TOKEN,
                    "ALLOWED_HOSTS": "127.0.0.1",
                    "PROMETHEUS_MULTIPROC_DIR": os.environ["PROMETHEUS_MULTIPROC_DIR"],
                }
            ),
        )
    try:
        bodies, deadline = [], time.monotonic() + 60
        while len(bodies) < 6:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request(
                    "GET", "/metrics?probe=1", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                response = connection.getresponse()
                assert response.status == 200
                bodies.append(response.read().decode())
            except OSError:
                assert process.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=20)
    for body in bodies:
        assert (
            sum(
                found
                for name, labels, found in samples(body)
                if name == "exchange_connect_exchange_requests_total"
                and labels["endpoint"] == "/api/v1/gunicorn"
            )
            == 5
        )
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert access and all("/metrics" in line["event"] for line in access)
    assert not any("probe=1" in line["event"] for line in access)
    assert not [
        line
        for line in log_path.read_text().splitlines()
        if line.strip() and not line.startswith("{")
    ], "every line is JSON"
