"""``manage.py connections``: list, test, halt, reduce-only, resume, against the paper
exchange: a table or JSON on stdout, exit status 1 (CommandError) when anything failed,
never a secret."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.services import ConnectionSpec, connection_create, connection_credentials
from tests.django_fixtures import set_faults
from tests.paper import clear_faults

pytestmark = pytest.mark.django_db


def paper_connection(owner: Any, exchange: str = "okx", **fields: Any) -> ExchangeConnection:
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"{exchange} desk", exchange=exchange, api_type="spot", environment="paper"
        ),
    )
    if fields:
        ExchangeConnection.objects.filter(pk=connection.pk).update(**fields)
        connection.refresh_from_db()
    return connection


def run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("connections", *args, stdout=out, stderr=err)
    return out.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("connections", *args, stdout=out, stderr=err)
    assert raised.value.returncode == 1
    return out.getvalue(), str(raised.value)


def test_list_prints_a_table_with_the_masked_key_and_no_secret(owner, paper):
    connection = paper_connection(owner)
    secrets = connection_credentials(connection=connection)
    table = run("list")
    assert "okx desk" in table and "halted" not in table
    assert f"••••{connection.api_key_last4}" in table
    for secret in (secrets["api_key"], secrets["api_secret"], secrets["passphrase"]):
        assert secret not in table
    assert connection.api_secret_encrypted not in table


def test_list_json_has_stable_keys(owner, paper):
    connection = paper_connection(owner, trading_state="reduce_only")
    paper_connection(owner, "bybit")
    body = json.loads(run("list", "--json", "--exchange", "okx"))
    assert [row["id"] for row in body["connections"]] == [str(connection.pk)]
    assert set(body["connections"][0]) == {
        "id",
        "name",
        "owner",
        "exchange",
        "api_type",
        "environment",
        "enabled",
        "is_active",
        "trading_state",
        "health",
        "circuit",
        "api_key_last4",
    }
    assert body["connections"][0]["trading_state"] == "reduce_only"


def test_test_by_id_passes_and_exits_zero(owner, paper):
    connection = paper_connection(owner)
    body = json.loads(run("test", str(connection.pk), "--json"))
    assert body["total"] == 1 and body["successful"] == 1 and body["failed"] == 0
    result = body["results"][0]
    assert result["id"] == str(connection.pk) and result["success"] is True
    assert result["error_code"] is None and isinstance(result["latency_ms"], int)


def test_test_all_and_by_exchange_test_the_enabled_ones(owner, paper):
    okx = paper_connection(owner)
    bybit = paper_connection(owner, "bybit")
    paper_connection(owner, "binance", enabled=False)
    everything = json.loads(run("test", "--all", "--json"))
    assert sorted(row["id"] for row in everything["results"]) == sorted(
        [str(okx.pk), str(bybit.pk)]
    )
    only = json.loads(run("test", "--exchange", "bybit", "--json"))
    assert [row["id"] for row in only["results"]] == [str(bybit.pk)]


def test_a_failed_test_is_in_the_table_and_exits_non_zero(owner, paper):
    connection = paper_connection(owner)
    set_faults(paper, "okx", error5xxRate=1.0)
    try:
        out, message = run_failing("test", str(connection.pk))
    finally:
        clear_faults(paper)
    assert "FAILED" in out and "okx desk" in out
    assert message == "1 of 1 test(s) failed"


def test_an_unknown_id_exits_non_zero_and_tests_nothing(owner, paper):
    connection = paper_connection(owner)
    _, message = run_failing(
        "test", str(connection.pk), "not-an-id", "00000000-0000-4000-8000-000000000000"
    )
    assert "unknown connection id(s): not-an-id, 00000000-0000-4000-8000-000000000000" in message
    assert not connection.health_checks.exists()


def test_test_needs_exactly_one_way_of_naming_connections(owner, paper):
    run_failing("test")
    run_failing("test", "--all", "--exchange", "okx")


def test_halt_and_resume_set_the_state_with_the_cli_as_actor(owner, paper):
    first, second = paper_connection(owner), paper_connection(owner, "bybit")
    body = json.loads(run("halt", str(first.pk), str(second.pk), "--json"))
    assert body["failed"] == 0
    assert [row["trading_state"] for row in body["connections"]] == ["halted", "halted"]
    assert set(ExchangeConnection.objects.values_list("trading_state", flat=True)) == {"halted"}
    assert set(
        ConnectionSyncLog.objects.filter(action="trading_state_set").values_list("actor", flat=True)
    ) == {"cli"}
    table = run("resume", str(first.pk), "--actor", "ops-alice")
    assert "halted" in table and "active" in table
    assert ExchangeConnection.objects.get(pk=first.pk).trading_state == "active"
    assert ConnectionSyncLog.objects.filter(action="trading_state_set", actor="ops-alice").exists()


def test_reduce_only_and_halt_with_cancel(owner, paper):
    connection = paper_connection(owner)
    run("reduce-only", str(connection.pk))
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "reduce_only"
    body = json.loads(run("halt", str(connection.pk), "--cancel-open-orders", "--json"))
    assert body["connections"][0]["canceled_orders"] == 0
    assert body["connections"][0]["previous"] == "reduce_only"


def test_halt_of_an_unknown_id_changes_nothing_and_exits_non_zero(owner, paper):
    connection = paper_connection(owner)
    _, message = run_failing("halt", str(connection.pk), "nope")
    assert "unknown connection id(s): nope" in message
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "active"
