"""Connection tests, the circuit breaker, auth disabling, heartbeats and stale detection,
against the real paper exchange."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connections.health import connection_check, connections_stale_deactivate
from connections.models import ConnectionState, ConnectionSyncLog, HealthCheck
from connections.services import ConnectionSpec, connection_create
from exchanges.hosts import url_endpoint
from tests.connections.factories import make_connection
from tests.django_fixtures import set_faults
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/settings/connections"


def paper_connection(owner, exchange="bybit", api_type="spot", **values):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"paper {exchange}",
            exchange=exchange,
            api_type=api_type,
            environment="paper",
            **values,
        ),
    )


def live_connection_on_paper(
    owner, paper_url, settings, exchange="bybit", *, permissions=None, api_secret=None
):
    """A live connection whose keys live on the paper exchange, allowlisted for this test
    (paper's host is otherwise a host for paper connections only)."""
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({url_endpoint(paper_url)})
    credentials = make_paper_credentials(paper_url, exchange, permissions=permissions)
    return make_connection(
        owner,
        exchange=exchange,
        base_url=f"{paper_url}/{exchange}",
        api_key=credentials.api_key,
        api_secret=api_secret or credentials.api_secret,
        passphrase=credentials.passphrase,
    )


def test_test_endpoint_returns_the_result_and_records_it(owner_client, owner, paper):
    connection = paper_connection(owner)
    response = owner_client.post(f"{URL}/{connection.pk}/test")
    assert response.status_code == 200, response.json()
    result = response.json()["result"]
    assert set(result) == {
        "connectionId",
        "success",
        "latencyMs",
        "serverTimeOffsetMs",
        "permissions",
        "warnings",
        "error",
        "testedAt",
        "key",
    }
    assert result["success"] is True and result["error"] is None
    assert "trade" in result["permissions"] and result["latencyMs"] >= 0
    state = ConnectionState.objects.get(connection=connection)
    assert state.health_status == "healthy" and state.successful_requests == 1
    assert state.test_results["success"] is True
    assert state.last_latency_ms == result["latencyMs"]
    check = HealthCheck.objects.get(connection=connection)
    assert check.ok and check.kind == "test"


def test_every_test_is_fresh(owner_client, owner, paper, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    connection = paper_connection(owner)
    first = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    time_machine.shift(timedelta(seconds=1))
    second = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    tested_at = [datetime.fromisoformat(r["testedAt"]) for r in (first, second)]
    assert tested_at[1] - tested_at[0] == timedelta(seconds=1)
    assert HealthCheck.objects.filter(connection=connection).count() == 2


def test_a_key_that_can_withdraw_is_warned_about(owner, paper, settings):
    connection = live_connection_on_paper(
        owner, paper, settings, "binance", permissions=["read", "trade", "withdraw"]
    )
    result = connection_check(connection=connection)
    assert result.success is True
    assert "withdraw_enabled" in result.warnings


def test_an_authentication_failure_disables_the_connection_at_once(owner, paper, settings):
    connection = live_connection_on_paper(owner, paper, settings, "okx", api_secret="wrong-secret")
    connection.is_active = True
    connection.save(update_fields=["is_active"])
    result = connection_check(connection=connection)
    assert result.success is False
    assert result.error is not None and result.error.code == "authentication_failed"
    assert "wrong-secret" not in str(result)
    connection.refresh_from_db()
    assert connection.enabled is False and connection.is_active is False
    assert ConnectionSyncLog.objects.filter(
        connection_id=str(connection.pk), action="disabled_auth_failure"
    ).exists()
    state = ConnectionState.objects.get(connection=connection)
    assert state.last_error_code == "authentication_failed"
    assert "wrong-secret" not in state.last_error


def test_the_circuit_opens_after_failures_answers_409_and_closes_after_recovery(
    owner_client, owner, paper, settings, time_machine
):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_COOLDOWN_SECONDS = 60
    # our clock frozen (the paper exchange keeps its own: each test measures the offset)
    time_machine.move_to(timezone.now(), tick=False)
    connection = paper_connection(owner, "pionex")
    set_faults(paper, "pionex", error5xxRate=1.0)
    for _ in range(3):
        result = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
        assert result["error"]["code"] == "exchange_unavailable"
    state = ConnectionState.objects.get(connection=connection)
    assert state.circuit == "open" and state.health_status == "unhealthy"

    refused = owner_client.post(f"{URL}/{connection.pk}/test")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "circuit_open"
    balances = owner_client.get(f"{URL}/{connection.pk}/balances")
    assert balances.status_code == 409

    set_faults(paper, "pionex", error5xxRate=0.0)
    time_machine.shift(timedelta(seconds=59))
    assert owner_client.post(f"{URL}/{connection.pk}/test").status_code == 409, "cooling"
    time_machine.shift(timedelta(seconds=1))
    probe = owner_client.post(f"{URL}/{connection.pk}/test")
    assert probe.status_code == 200 and probe.json()["result"]["success"] is True
    state.refresh_from_db()
    assert state.circuit == "closed" and state.consecutive_failures == 0
    actions = list(
        ConnectionSyncLog.objects.filter(connection_id=str(connection.pk))
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions[-3:] == ["circuit_opened", "circuit_half_open", "circuit_closed"]


def test_a_failed_probe_reopens_the_circuit(owner, paper, settings, time_machine):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    settings.CIRCUIT_COOLDOWN_SECONDS = 60
    time_machine.move_to(timezone.now(), tick=False)
    connection = paper_connection(owner, "bingx")
    set_faults(paper, "bingx", error5xxRate=1.0)
    connection_check(connection=connection)
    time_machine.shift(timedelta(seconds=60))
    result = connection_check(connection=connection)
    assert result.success is False
    state = ConnectionState.objects.get(connection=connection)
    assert state.circuit == "open"
    assert (
        ConnectionSyncLog.objects.filter(
            connection_id=str(connection.pk), action="circuit_opened"
        ).count()
        == 2
    )


def test_a_heartbeat_records_its_time(owner, paper):
    connection = paper_connection(owner, "okx")
    connection_check(connection=connection, kind="heartbeat")
    state = ConnectionState.objects.get(connection=connection)
    assert state.last_heartbeat_at is not None and state.health_status == "healthy"
    assert HealthCheck.objects.get(connection=connection).kind == "heartbeat"


def test_a_stale_active_connection_is_deactivated_and_never_reactivated(owner, settings):
    settings.STALE_AFTER_SECONDS = 60
    stale, fresh = (
        make_connection(owner, name="stale"),
        make_connection(outsider_user(), name="fresh"),
    )
    old = timezone.now() - timedelta(seconds=120)
    type(stale).objects.filter(pk__in=[stale.pk, fresh.pk]).update(created_at=old, is_active=True)
    ConnectionState.objects.filter(connection=stale).update(
        last_heartbeat_at=old, health_status="healthy"
    )
    ConnectionState.objects.filter(connection=fresh).update(last_heartbeat_at=timezone.now())
    assert connections_stale_deactivate() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.is_active is False and fresh.is_active is True
    assert ConnectionState.objects.get(connection=stale).health_status == "unknown"
    assert (
        ConnectionSyncLog.objects.filter(
            connection_id=str(stale.pk), action="stale_deactivated"
        ).count()
        == 1
    )
    assert connections_stale_deactivate() == 0


def outsider_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("someone-else")


def test_balances_positions_and_open_orders_come_through_the_limiter(owner_client, owner, paper):
    connection = paper_connection(owner, "binance", "perpetual_futures")
    balances = owner_client.get(f"{URL}/{connection.pk}/balances")
    assert balances.status_code == 200, balances.json()
    usdt = next(b for b in balances.json()["balances"] if b["asset"] == "USDT")
    assert usdt["free"] == "100000" and isinstance(usdt["total"], str)
    positions = owner_client.get(f"{URL}/{connection.pk}/positions")
    assert positions.status_code == 200 and positions.json()["positions"] == []
    orders = owner_client.get(f"{URL}/{connection.pk}/open-orders")
    assert orders.status_code == 200 and orders.json()["orders"] == []
    from connections.ratelimits import exchange_usage

    assert exchange_usage()["binance"].weight_last_minute > 0


@pytest.mark.parametrize("path", ["test", "balances", "positions", "open-orders"])
def test_exchange_endpoints_are_not_found_for_outsiders(outsider_client, owner, path):
    connection = make_connection(owner)
    method = outsider_client.post if path == "test" else outsider_client.get
    response = method(f"{URL}/{connection.pk}/{path}")
    assert response.status_code == 404
    assert not HealthCheck.objects.exists()


def test_health_lists_status_uptime_and_usage(owner_client, owner, paper):
    healthy = paper_connection(owner, "bybit")
    connection_check(connection=healthy)
    make_connection(owner, name="never tested")
    body = owner_client.get(f"{URL}/health").json()
    assert body["success"] is True
    assert body["summary"]["total"] == 2 and body["summary"]["healthy"] == 1
    assert body["summary"]["unknown"] == 1
    item = next(i for i in body["connections"] if i["connectionId"] == str(healthy.pk))
    assert item["uptimePercent24h"] == 100.0 and item["successCount"] == 1
    assert item["rateLimitUsagePercent"] > 0
    assert body["rateLimits"]["bybit"]["usagePercent"] > 0
    assert body["rateLimits"]["bybit"]["pausedForSeconds"] == 0
    assert set(body["rateLimits"]) == {"bybit", "binance", "okx", "bingx", "pionex", "orangex"}
    assert set(item) == {
        "connectionId",
        "name",
        "exchange",
        "status",
        "circuit",
        "lastCheckAt",
        "averageResponseTimeMs",
        "successCount",
        "errorCount",
        "uptimePercent24h",
        "rateLimitUsagePercent",
        "stream",
        "deadManSwitch",
    }


def test_outsiders_health_shows_none_of_the_owners(outsider_client, owner):
    make_connection(owner)
    assert outsider_client.get(f"{URL}/health").json()["summary"]["total"] == 0


def queries_for_status(client) -> int:
    with CaptureQueriesContext(db) as captured:
        assert client.get("/api/system/status").status_code == 200
    return len(captured)


def test_system_status_costs_the_same_queries_for_10_and_200_connections(staff_client, owner):
    for index in range(10):
        make_connection(owner, name=f"c{index}")
    at_ten = queries_for_status(staff_client)
    from connections.models import ExchangeConnection

    for index in range(190):
        make_connection(owner, name=f"d{index}")
    assert ExchangeConnection.objects.count() == 200
    assert queries_for_status(staff_client) == at_ten


def test_system_status_reports_health_and_metrics(owner_client, owner, paper):
    connection = paper_connection(owner, "okx")
    connection_check(connection=connection)
    body = owner_client.get("/api/system/status").json()
    assert body["status"] == "ok"
    assert body["health"]["healthy"] == 1 and body["health"]["uptimePercent24h"] == 100.0
    assert body["metrics"]["totalRequests"] == 1 and body["metrics"]["successRate"] == 100.0
    assert body["batch"]["maxBatchSize"] == 50


def test_cleanup_prunes_health_history_past_retention(owner, settings):
    from connections.tasks import cleanup_task

    settings.HEALTH_RETENTION_DAYS = 7
    connection = make_connection(owner)
    HealthCheck.objects.create(
        connection=connection, ok=True, checked_at=timezone.now() - timedelta(days=8)
    )
    recent = HealthCheck.objects.create(
        connection=connection, ok=True, checked_at=timezone.now() - timedelta(days=1)
    )
    assert cleanup_task()["health_checks_deleted"] == 1
    assert list(HealthCheck.objects.all()) == [recent]


def test_the_default_schedule_is_written_once_and_operator_edits_survive():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    migration = importlib.import_module("workers.migrations.0001_default_schedule")
    PeriodicTask.objects.all().delete()  # transactional tests flush migration data
    migration.create_default_schedule(apps, None)
    importlib.import_module(
        "workers.migrations.0002_order_reconciliation"
    ).add_order_reconciliation(apps, None)
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    assert tasks["health sweep"] == "connections.health_sweep"
    assert tasks["heartbeat sweep"] == "connections.heartbeat_sweep"
    assert tasks["stale sweep"] == "connections.stale_sweep"
    assert tasks["order reconciliation"] == "orders.reconcile"
    sweep = PeriodicTask.objects.get(name="health sweep")
    assert sweep.interval.every == 300 and sweep.expire_seconds == 300
    PeriodicTask.objects.filter(name="health sweep").update(enabled=False)
    migration.create_default_schedule(apps, None)
    assert PeriodicTask.objects.filter(name="health sweep").count() == 1
    assert PeriodicTask.objects.get(name="health sweep").enabled is False


def test_a_paper_exchange_that_lost_its_accounts_does_not_disable_paper_connections(owner, paper):
    import requests

    from connections import crypto

    connection = paper_connection(owner, "binance")
    # as after a paper restart without its accounts file: our key is unknown there
    unknown_key = "paperkeythepaperexchangeforgot01"
    type(connection).objects.filter(pk=connection.pk).update(
        api_key_encrypted=crypto.encrypt(unknown_key)
    )
    connection.refresh_from_db()
    result = connection_check(connection=connection)
    assert result.success is True, result
    connection.refresh_from_db()
    assert connection.enabled is True
    accounts = requests.get(
        f"{paper}/_paper/accounts", params={"exchange": "binance", "apiKey": unknown_key}, timeout=5
    ).json()
    assert unknown_key in str(accounts), "the account was upserted again"
