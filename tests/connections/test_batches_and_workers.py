"""Batch tests and sweeps on a real Celery worker against the paper exchange."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import requests
from celery.result import AsyncResult
from django.db.models import F

from connections.models import ConnectionState, HealthCheck
from connections.services import ConnectionSpec, connection_create
from exchanges.capabilities import CAPABILITIES
from tests.connections.factories import make_connection
from tests.django_fixtures import paper_stats, set_faults
from tests.orders.conftest import wait_until

URL = "/api/settings/connections"
BATCH = f"{URL}/batch-test"
EXCHANGES = list(CAPABILITIES)


def paper_connections(owner, count):
    made = []
    for index in range(count):
        exchange = EXCHANGES[index % len(EXCHANGES)]
        api_type = "perpetual_futures" if exchange == "orangex" else "spot"
        made.append(
            connection_create(
                owner=owner,
                actor=owner,
                spec=ConnectionSpec(
                    name=f"paper {index}", exchange=exchange, api_type=api_type, environment="paper"
                ),
            )
        )
    return made


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, message",
    [
        ({"connectionIds": []}, "at least one"),
        ({"connectionIds": [str(uuid.uuid4()) for _ in range(51)]}, "at most 50"),
        ({"connectionIds": "not-a-list"}, "list"),
        ({"connectionIds": [5]}, "valid UUID"),
        ({"connectionIds": ["not-a-uuid"]}, "connectionIds.0"),
        ({}, "required"),
        ({"connectionIds": [str(uuid.uuid4())], "async": "yes"}, "valid boolean"),
        ({"connectionIds": [str(uuid.uuid4())], "extra": 1}, "unknown field"),
    ],
)
def test_bad_batch_requests_are_400_naming_the_problem(owner_client, body, message):
    response = owner_client.post(BATCH, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert message in (error["message"] + str(error["fields"]))


@pytest.mark.django_db
def test_duplicate_unknown_and_foreign_ids_are_named(owner_client, owner, outsider):
    mine, theirs = make_connection(owner), make_connection(outsider)
    duplicate = owner_client.post(
        BATCH, {"connectionIds": [str(mine.pk), str(mine.pk)]}, format="json"
    )
    assert duplicate.status_code == 400 and str(mine.pk) in duplicate.json()["error"]["message"]
    foreign = owner_client.post(
        BATCH, {"connectionIds": [str(mine.pk), str(theirs.pk)]}, format="json"
    )
    assert foreign.status_code == 404  # another user's id is not found, like any unknown one
    assert str(theirs.pk) in foreign.json()["error"]["message"]
    assert str(mine.pk) not in foreign.json()["error"]["message"]
    assert not HealthCheck.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_50_completes_inside_every_exchanges_budget(
    owner_client, owner, paper, celery_worker
):
    for exchange in EXCHANGES:
        set_faults(paper, exchange, enforceRateLimits=True)
    before = {
        exchange: paper_stats(paper, exchange)["rateLimitViolations"] for exchange in EXCHANGES
    }
    connections = paper_connections(owner, 50)
    response = owner_client.post(
        BATCH, {"connectionIds": [str(c.pk) for c in connections]}, format="json"
    )
    body = response.json()
    assert response.status_code == 200, {k: v for k, v in body.items() if k != "results"}
    assert body["status"] == "completed" and body["totalConnections"] == 50
    failures = {i: r["error"] for i, r in body["results"].items() if not r["success"]}
    assert body["successful"] == 50, failures
    assert isinstance(body["duration"], int) and body["duration"] >= 0
    assert HealthCheck.objects.filter(kind="batch").count() == 50
    for exchange in EXCHANGES:
        stats = paper_stats(paper, exchange)
        assert stats["rateLimitViolations"] == before[exchange], (exchange, stats)


@pytest.mark.django_db(transaction=True)
def test_an_async_batch_answers_202_then_reports_progress(
    owner_client, owner, outsider_client, paper, celery_worker
):
    connections = paper_connections(owner, 6)
    response = owner_client.post(
        BATCH, {"connectionIds": [str(c.pk) for c in connections], "async": True}, format="json"
    )
    assert response.status_code == 202
    batch_id = response.json()["batchId"]
    assert response.json()["status"] == "running"
    assert outsider_client.get(f"{BATCH}/{batch_id}").status_code == 404
    deadline = time.monotonic() + 30
    while True:
        status = owner_client.get(f"{BATCH}/{batch_id}").json()
        if status["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status["status"] == "completed" and status["completed"] == 6
    assert status["successful"] == 6


@pytest.mark.django_db
def test_an_unknown_batch_is_404(owner_client):
    assert owner_client.get(f"{BATCH}/{uuid.uuid4().hex}").status_code == 404
    assert owner_client.get(f"{BATCH}/not..valid").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_health_sweep_fans_out_one_check_per_enabled_connection(owner, paper, celery_worker):
    from connections.tasks import health_sweep_task

    connections = paper_connections(owner, 4)
    disabled = connections[-1]
    type(disabled).objects.filter(pk=disabled.pk).update(enabled=False)
    assert health_sweep_task.delay().get(timeout=30) == 3
    assert health_sweep_task.delay().get(timeout=30) == 0, "the lock guards against overlap"
    deadline = time.monotonic() + 30
    while HealthCheck.objects.filter(kind="sweep").count() < 3:
        assert time.monotonic() < deadline, "the sweep's checks did not all run"
        time.sleep(0.2)
    assert not HealthCheck.objects.filter(connection=disabled).exists()


def sent_to_bybit(paper: str) -> int:
    return sum(paper_stats(paper, "bybit")["requests"].values())


@pytest.mark.django_db(transaction=True)
def test_a_rate_limit_answer_pauses_every_worker_for_that_destination(owner, paper, celery_worker):
    from connections.health import connection_check
    from connections.ratelimits import exchange_usage
    from connections.tasks import test_task

    first, second = paper_connections(owner, 1)[0], None
    second = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="second bybit", exchange="bybit", api_type="spot", environment="paper"
        ),
    )
    set_faults(paper, "bybit", rateLimit429Rate=1.0, retryAfterSeconds=5)
    result = connection_check(connection=first)  # this process meets the 429
    assert result.error is not None and result.error.code == "rate_limited"
    assert exchange_usage()["bybit"].paused_for_seconds > 1
    requests.delete(f"{paper}/_paper/faults", timeout=5)
    sent_before = sent_to_bybit(paper)

    task = test_task.delay(str(second.pk))  # runs in the worker process
    # the worker meets the pause: it sends nothing and retries once the pause is over
    wait_until(lambda: AsyncResult(task.id).state == "RETRY")
    sent_while_paused = sent_to_bybit(paper)
    assert exchange_usage()["bybit"].paused_for_seconds > 0, "read while the pause held"
    assert sent_while_paused == sent_before, "the worker held off while the pause lasted"
    outcome = task.get(timeout=60)
    assert outcome["success"] is True
    assert sent_to_bybit(paper) > sent_before
    state = ConnectionState.objects.get(connection=second)
    assert state.health_status == "healthy"


@pytest.mark.django_db(transaction=True)
def test_heartbeats_and_the_stale_sweep_run_on_the_worker(owner, paper, celery_worker, settings):
    from datetime import timedelta

    from django.utils import timezone

    from connections.models import ConnectionSyncLog, ExchangeConnection
    from connections.tasks import heartbeat_sweep_task, stale_sweep_task

    beating, silent = paper_connections(owner, 2)
    ExchangeConnection.objects.filter(pk=beating.pk).update(is_active=True)
    assert heartbeat_sweep_task.delay().get(timeout=30) == 1
    deadline = time.monotonic() + 30
    while ConnectionState.objects.get(connection=beating).last_heartbeat_at is None:
        assert time.monotonic() < deadline, "no heartbeat recorded"
        time.sleep(0.2)

    # the silent one was active for longer than STALE_AFTER_SECONDS (300) with no heartbeat
    long_ago = timezone.now() - timedelta(seconds=600)
    ExchangeConnection.objects.filter(pk=silent.pk).update(created_at=long_ago)
    ExchangeConnection.objects.filter(pk=beating.pk).update(is_active=False)
    ExchangeConnection.objects.filter(pk=silent.pk).update(is_active=True)
    assert stale_sweep_task.delay().get(timeout=30) == 1
    silent.refresh_from_db()
    assert silent.is_active is False
    assert ConnectionSyncLog.objects.filter(
        connection_id=str(silent.pk), action="stale_deactivated"
    ).exists()


@pytest.mark.django_db(transaction=True)
def test_the_circuit_opens_on_the_worker_refuses_with_409_and_closes_after_recovery(
    owner_client, owner, paper, celery_worker
):
    from connections.tasks import test_task
    from tests.conftest import WORKER_CIRCUIT_COOLDOWN_SECONDS, WORKER_CIRCUIT_THRESHOLD

    connection = paper_connections(owner, 1)[0]
    set_faults(paper, connection.exchange, error5xxRate=1.0)
    for _ in range(WORKER_CIRCUIT_THRESHOLD):
        result = test_task.delay(str(connection.pk)).get(timeout=30)
        assert result["success"] is False
    state = ConnectionState.objects.get(connection=connection)
    assert state.circuit == "open"
    refused = owner_client.post(f"{URL}/{connection.pk}/test")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "circuit_open"
    assert test_task.delay(str(connection.pk)).get(timeout=30) is None, "fails fast"

    requests.delete(f"{paper}/_paper/faults", timeout=5)
    # the cooldown passes for the worker: the circuit opened that long ago
    ConnectionState.objects.filter(connection=connection).update(
        opened_at=F("opened_at") - timedelta(seconds=WORKER_CIRCUIT_COOLDOWN_SECONDS)
    )
    probe = test_task.delay(str(connection.pk)).get(timeout=30)
    assert probe["success"] is True
    state.refresh_from_db()
    assert state.circuit == "closed" and state.health_status == "healthy"
