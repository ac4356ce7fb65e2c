"""The health list and the system status render dataclasses through serializers: the keys,
their order and each number's JSON type (an int stays an int, ``"seconds": 5``, a
percentage is a float, ``0.0``) are those the dict-built answers had."""

from __future__ import annotations

from typing import Any

import pytest

from connections.health import connection_check
from connections.services import ConnectionSpec, connection_create

pytestmark = pytest.mark.django_db(transaction=True)


def shape(value: Any) -> Any:
    """Keys in order and the JSON type of each leaf."""
    if isinstance(value, dict):
        return [(key, shape(inner)) for key, inner in value.items()]
    if isinstance(value, list):
        return [shape(inner) for inner in value]
    return type(value).__name__


def checked_and_unchecked(owner: Any) -> None:
    checked, _ = (
        connection_create(
            owner=owner,
            actor=owner,
            spec=ConnectionSpec(
                name=f"paper {exchange}", exchange=exchange, api_type="spot", environment="paper"
            ),
        )
        for exchange in ("bybit", "bingx")
    )
    connection_check(connection=checked)


def test_the_health_list_keeps_its_keys_and_number_types(owner_client, owner, paper):
    checked_and_unchecked(owner)
    body = owner_client.get("/api/settings/connections/health").json()
    assert [key for key, _ in shape(body)] == ["success", "summary", "connections", "rateLimits"]
    assert shape(body["summary"]) == [
        ("total", "int"),
        ("healthy", "int"),
        ("degraded", "int"),
        ("unhealthy", "int"),
        ("unknown", "int"),
        ("averageUptimePercent", "float"),
        ("averageResponseTimeMs", "int"),
    ]
    unchecked, checked = body["connections"]  # by name: paper bingx, paper bybit
    assert shape(checked) == [
        ("connectionId", "str"),
        ("name", "str"),
        ("exchange", "str"),
        ("status", "str"),
        ("circuit", "str"),
        ("lastCheckAt", "str"),
        ("averageResponseTimeMs", "int"),
        ("successCount", "int"),
        ("errorCount", "int"),
        ("uptimePercent24h", "float"),
        ("rateLimitUsagePercent", "float"),
        (
            "stream",
            [
                ("state", "str"),
                ("since", "NoneType"),
                ("reconnects", "int"),
                ("lastMessageAgeMs", "NoneType"),
                ("holder", "NoneType"),
                ("snapshotAt", "NoneType"),
                ("lastError", "str"),
            ],
        ),
        (
            "deadManSwitch",
            [
                ("enabled", "bool"),
                ("seconds", "NoneType"),
                ("armed", "bool"),
                ("armedUntil", "NoneType"),
                ("supported", "bool"),
                ("kind", "str"),
                ("minSeconds", "int"),
                ("maxSeconds", "int"),
                ("lastError", "NoneType"),
            ],
        ),
    ]
    assert checked["lastCheckAt"].endswith("Z")
    assert unchecked["lastCheckAt"] is None and unchecked["rateLimitUsagePercent"] == 0.0
    bybit = body["rateLimits"]["bybit"]
    numbers = [("usagePercent", "float"), ("weightLastMinute", "int"), ("inFlight", "int")]
    assert shape({k: v for k, v in bybit.items() if k != "pools"}) == [
        *numbers,
        ("pausedForSeconds", "float"),
        ("destinations", "int"),
    ]
    pool = bybit["pools"][0]
    assert shape({k: v for k, v in pool.items() if k != "windows"}) == [
        ("egress", "str"),
        ("destination", "str"),
        *numbers,
        ("concurrent", "int"),
        ("pausedForSeconds", "float"),
    ]
    assert shape(pool["windows"][0]) == [
        ("name", "str"),
        ("used", "int"),
        ("limit", "int"),
        ("seconds", "int"),
        ("percent", "float"),
    ]
    assert shape(body["rateLimits"]["pionex"]) == [
        *numbers,
        ("pausedForSeconds", "float"),
        ("destinations", "int"),
        ("pools", []),
    ]


def test_the_system_status_keeps_its_keys_and_number_types(owner_client, owner, paper):
    checked_and_unchecked(owner)
    body = owner_client.get("/api/system/status").json()
    assert [key for key, _ in shape(body)] == [
        "status",
        "connections",
        "health",
        "metrics",
        "batch",
        "features",
    ]
    assert shape(body["connections"]) == [
        ("total", "int"),
        ("active", "int"),
        ("enabled", "int"),
        ("byExchange", [("bingx", "int"), ("bybit", "int")]),
    ]
    assert shape(body["health"]) == [
        ("healthy", "int"),
        ("degraded", "int"),
        ("unhealthy", "int"),
        ("unknown", "int"),
        ("uptimePercent24h", "float"),
    ]
    assert shape(body["metrics"]) == [
        ("totalRequests", "int"),
        ("successRate", "float"),
        ("averageResponseTime", "int"),
    ]
    assert body["batch"] == {"running": 0, "maxBatchSize": 50, "maxConcurrent": 10}
    assert list(body["features"]) == ["exchanges"]
    assert shape(body["features"]["exchanges"]["okx"]) == [
        ("apiTypes", ["str"] * 4),
        ("environments", ["str"] * 3),
        ("transports", ["str"] * 2),
        ("testnetApiTypes", ["str"] * 4),
        ("needsPassphrase", "bool"),
    ]
