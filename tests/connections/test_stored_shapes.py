"""What is stored is domain data (snake_case keys), what the API answers is camelCase: the
last test result on the state row, a batch's results in Redis, the sync log, and the
migration that converts rows stored before."""

from __future__ import annotations

import importlib
import json
import time

import pytest
from django.db import connection as db
from django.db.migrations.executor import MigrationExecutor

from connections.models import ConnectionState, ConnectionSyncLog
from connections.selectors import batch_meta_key, batch_results_key
from connections.services import ConnectionSpec, connection_create
from core.redis import redis_client
from tests.orders.conftest import wait_until

URL = "/api/settings/connections"
CAMEL_TO_SNAKE = {
    "connectionId": "connection_id",
    "success": "success",
    "latencyMs": "latency_ms",
    "serverTimeOffsetMs": "server_time_offset_ms",
    "permissions": "permissions",
    "warnings": "warnings",
    "error": "error",
    "testedAt": "tested_at",
    "key": "key",
}
OLD_RESULT = {
    "connectionId": "0b6f5b9e-0000-4000-8000-000000000001",
    "success": False,
    "latencyMs": 182,
    "serverTimeOffsetMs": -12,
    "permissions": ["read", "trade"],
    "warnings": ["no_ip_whitelist"],
    "error": {"code": "timeout", "message": "bybit: timed out"},
    "testedAt": "2026-11-20T10:01:02.345678Z",
}
BEFORE = ("connections", "0003_live_session")
AFTER = ("connections", "0004_stored_domain_keys")
migration = importlib.import_module("connections.migrations.0004_stored_domain_keys")


def paper_connection(owner, exchange="bybit"):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"paper {exchange}", exchange=exchange, api_type="spot", environment="paper"
        ),
    )


@pytest.mark.django_db(transaction=True)
def test_the_stored_test_result_is_snake_case_and_the_api_answers_camel_case(
    owner_client, owner, paper
):
    connection = paper_connection(owner)
    answered = owner_client.post(f"{URL}/{connection.pk}/test").json()["result"]
    stored = ConnectionState.objects.get(connection=connection).test_results
    assert set(answered) == set(CAMEL_TO_SNAKE)
    assert set(stored) == set(CAMEL_TO_SNAKE.values())
    for camel, snake in CAMEL_TO_SNAKE.items():
        if camel not in ("testedAt", "key"):
            assert answered[camel] == stored[snake], camel
    assert set(stored["key"]) == {"permissions", "ip_restricted", "ips", "expires_at"}
    assert answered["key"] == {
        "permissions": stored["key"]["permissions"],
        "ipRestricted": stored["key"]["ip_restricted"],
        "expiresAt": stored["key"]["expires_at"],
    }
    assert answered["testedAt"].endswith("Z")
    assert stored["tested_at"] == answered["testedAt"].replace("Z", "+00:00")


@pytest.mark.django_db(transaction=True)
def test_a_batch_keeps_snake_case_results_in_redis_and_answers_camel_case(
    owner_client, owner, paper, celery_worker
):
    connection = paper_connection(owner)
    response = owner_client.post(
        f"{URL}/batch-test", {"connectionIds": [str(connection.pk)]}, format="json"
    )
    assert response.status_code in (200, 202), response.content
    batch_id = response.json()["batchId"]
    body = wait_until(
        lambda: (
            answer
            if (answer := owner_client.get(f"{URL}/batch-test/{batch_id}").json())["status"]
            == "completed"
            else None
        ),
        timeout=30,
    )
    assert list(body) == [
        "success",
        "batchId",
        "status",
        "totalConnections",
        "completed",
        "successful",
        "failed",
        "duration",
        "queuedMs",
        "results",
    ]
    answered = body["results"][str(connection.pk)]
    assert set(answered) == set(CAMEL_TO_SNAKE) and answered["success"] is True
    client = redis_client()
    meta = json.loads(client.get(batch_meta_key(body["batchId"])))
    assert set(meta) == {"owner_id", "ids", "started_at", "finished_at", "run_started_at"}
    stored = json.loads(client.hget(batch_results_key(body["batchId"]), str(connection.pk)))
    assert set(stored) == set(CAMEL_TO_SNAKE.values())


@pytest.mark.django_db
def test_a_batch_stored_with_camel_case_keys_still_answers_the_same(owner_client, owner):
    # written by a process from before the domain keys (a batch lives an hour)
    batch_id, started = "0123456789abcdef0123456789abcdef", float(int(time.time()) - 2)
    client = redis_client()
    client.set(
        batch_meta_key(batch_id),
        json.dumps(
            {
                "ownerId": owner.pk,
                "ids": [OLD_RESULT["connectionId"]],
                "startedAt": started,
                "finishedAt": started + 1,
                "runStartedAt": started + 0.25,
            }
        ),
        ex=60,
    )
    client.hset(batch_results_key(batch_id), OLD_RESULT["connectionId"], json.dumps(OLD_RESULT))
    client.expire(batch_results_key(batch_id), 60)
    body = owner_client.get(f"{URL}/batch-test/{batch_id}").json()
    assert body == {
        "success": True,
        "batchId": batch_id,
        "status": "completed",
        "totalConnections": 1,
        "completed": 1,
        "successful": 0,
        "failed": 1,
        "duration": 1000,
        "queuedMs": 250,
        "results": {OLD_RESULT["connectionId"]: {**OLD_RESULT, "key": None}},
    }


def test_the_conversion_spells_keys_and_listed_fields_both_ways():
    stored = migration.stored_result_converted(OLD_RESULT, migration.snake_case)
    assert stored == {
        "connection_id": OLD_RESULT["connectionId"],
        "success": False,
        "latency_ms": 182,
        "server_time_offset_ms": -12,
        "permissions": ["read", "trade"],
        "warnings": ["no_ip_whitelist"],
        "error": {"code": "timeout", "message": "bybit: timed out"},
        "tested_at": "2026-11-20T10:01:02.345678Z",
    }
    assert migration.stored_result_converted(stored, migration.camel_case) == OLD_RESULT
    assert migration.stored_result_converted(stored, migration.snake_case) == stored
    old_log = {
        "fields": ["apiKey", "apiSecret", "apiType", "name"],
        "apiType": "spot",
        "forOwner": "owner",
        "exchange": "okx",
    }
    new_log = migration.sync_log_data_converted(old_log, migration.snake_case)
    assert new_log == {
        "fields": ["api_key", "api_secret", "api_type", "name"],
        "api_type": "spot",
        "for_owner": "owner",
        "exchange": "okx",
    }
    assert migration.sync_log_data_converted(new_log, migration.camel_case) == old_log


@pytest.mark.django_db(transaction=True)
def test_the_migration_converts_rows_stored_before_it(owner):
    executor = MigrationExecutor(db)
    executor.migrate([BEFORE])
    try:
        apps = executor.loader.project_state([BEFORE]).apps
        connection = apps.get_model("connections", "ExchangeConnection").objects.create(
            owner_id=owner.pk, name="old", exchange="bybit", api_type="spot", environment="live"
        )
        apps.get_model("connections", "ConnectionState").objects.create(
            connection=connection, test_results=OLD_RESULT
        )
        apps.get_model("connections", "ConnectionSyncLog").objects.create(
            connection_id=str(connection.pk),
            action="created",
            actor="staff",
            data={"fields": ["apiType", "name"], "apiType": "spot", "forOwner": "owner"},
        )
    finally:
        executor = MigrationExecutor(db)
        executor.migrate(executor.loader.graph.leaf_nodes())
    state = ConnectionState.objects.get(connection_id=connection.pk)
    assert state.test_results["latency_ms"] == 182
    assert state.test_results["error"] == {"code": "timeout", "message": "bybit: timed out"}
    assert "latencyMs" not in state.test_results
    log = ConnectionSyncLog.objects.get(connection_id=str(connection.pk))
    assert log.data == {"fields": ["api_type", "name"], "api_type": "spot", "for_owner": "owner"}
