"""The rate budgets as Django uses them: the table in force, Binance's run-time figures,
egresses, the health view's pools and the Celery annotations."""

from __future__ import annotations

import importlib
import time

import pytest
import requests
import responses
from django_celery_beat.models import PeriodicTask

from connections.health import connection_check
from connections.ratelimits import (
    RUN_TIME_LIMITS_KEY,
    exchange_budget,
    exchange_limiter,
    run_time_limits_forget,
)
from connections.services import ConnectionSpec, connection_create, exchange_rate_limits_refresh
from core.redis import redis_client
from exchanges.limits import worker_rate_limit

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/settings/connections"
SPOT_INFO = {
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ]
}
FUTURES_INFO = {
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
    ]
}


def paper_connection(owner, exchange="bybit", api_type="spot", name=None):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=name or f"paper {exchange}",
            exchange=exchange,
            api_type=api_type,
            environment="paper",
        ),
    )


def test_the_table_in_force_is_the_published_one_times_the_safety_factor(settings):
    assert settings.RATE_LIMIT_SAFETY_FACTOR == 0.8
    budget = exchange_budget("bybit")
    assert budget.windows["ip requests 5s"].limit == 480
    assert budget.windows["linear account /v5/order/create 1s"].limit == 8
    assert exchange_limiter("bybit").budget == budget


@responses.activate
def test_binance_run_time_limits_replace_the_defaults_in_every_process(settings):
    settings.BINANCE_RATE_LIMITS_SOURCE = "live"
    responses.add(responses.GET, "https://api.binance.com/api/v3/exchangeInfo", json=SPOT_INFO)
    responses.add(responses.GET, "https://fapi.binance.com/fapi/v1/exchangeInfo", json=FUTURES_INFO)
    assert exchange_rate_limits_refresh() == {"spot": 3, "linear": 3}
    assert redis_client().ttl(RUN_TIME_LIMITS_KEY) > 3600, "shared for two refreshes"
    run_time_limits_forget()  # another process: it reads the shared copy
    windows = exchange_budget("binance").windows
    assert windows["spot account orders 10s"].limit == 80  # 100 x 0.8
    assert windows["spot account orders 1d"].limit == 160000  # 200,000 x 0.8
    assert "spot ip requests 5m" not in windows, "Binance no longer lists it"
    assert windows["usdm account orders 10s"].limit == 240
    assert exchange_limiter("binance").budget.windows == windows


@responses.activate
def test_an_unreachable_exchange_info_keeps_the_figures_in_force(settings):
    settings.BINANCE_RATE_LIMITS_SOURCE = "live"
    responses.add(
        responses.GET, "https://api.binance.com/api/v3/exchangeInfo", status=503, body="down"
    )
    responses.add(
        responses.GET,
        "https://fapi.binance.com/fapi/v1/exchangeInfo",
        json={"rateLimits": "garbled"},
    )
    assert exchange_rate_limits_refresh() == {}
    assert redis_client().get(RUN_TIME_LIMITS_KEY) is None
    assert exchange_budget("binance") == settings.EXCHANGE_RATE_LIMITS["binance"]


def test_the_paper_source_reads_what_the_paper_exchange_enforces(settings, paper):
    settings.BINANCE_RATE_LIMITS_SOURCE = "paper"
    assert exchange_rate_limits_refresh() == {"spot": 4, "linear": 3}
    limits = {name: window.limit for name, window in exchange_budget("binance").windows.items()}
    assert limits == {
        name: window.limit
        for name, window in settings.EXCHANGE_RATE_LIMITS["binance"].windows.items()
    }, "the paper enforces the published figures: ours are the same, times the factor"


def test_an_off_source_reads_nothing(settings):
    settings.BINANCE_RATE_LIMITS_SOURCE = "off"
    assert exchange_rate_limits_refresh() == {}


def test_beat_reads_binance_rate_limits_hourly():
    from django.apps import apps

    migration = importlib.import_module("workers.migrations.0003_binance_rate_limits")
    PeriodicTask.objects.all().delete()  # transactional tests flush migration data
    migration.add_binance_rate_limits(apps, None)
    migration.add_binance_rate_limits(apps, None)
    task = PeriodicTask.objects.get(name="binance rate limits")
    assert task.task == "connections.rate_limits_refresh"
    assert (task.interval.every, task.interval.period) == (3600, "seconds")
    assert task.queue == "maintenance" and task.expire_seconds == 3600


def test_a_starting_worker_reads_binance_rate_limits(paper, celery_worker):
    from workers.signals import read_rate_limits_at_worker_start

    read_rate_limits_at_worker_start()
    deadline = time.monotonic() + 20
    while redis_client().get(RUN_TIME_LIMITS_KEY) is None:
        assert time.monotonic() < deadline, "the worker did not read them"
        time.sleep(0.1)


def test_celery_annotations_come_from_the_same_table(settings):
    expected = worker_rate_limit(settings.EXCHANGE_RATE_LIMITS)
    for name in (
        "connections.test",
        "connections.health_check",
        "connections.heartbeat",
        "orders.submit",
        "orders.cancel",
    ):
        assert settings.CELERY_TASK_ANNOTATIONS[name] == {"rate_limit": expected}
    per_second = float(expected.split("/")[0])
    assert per_second <= max(
        budget.sustained_rate() for budget in settings.EXCHANGE_RATE_LIMITS.values()
    )


def test_each_egress_has_pools_of_its_own_and_the_health_view_shows_them_all(
    owner, owner_client, paper, settings
):
    connection = paper_connection(owner)
    for egress in ("eu-1", "us-1"):
        settings.EGRESS_ID = egress
        assert connection_check(connection=connection).success is True
    settings.EGRESS_ID = "eu-1"
    assert connection_check(connection=connection).success is True
    bybit = owner_client.get(f"{URL}/health").json()["rateLimits"]["bybit"]
    pools = {(pool["egress"], pool["destination"]): pool for pool in bybit["pools"]}
    host = paper.removesuffix("/")
    assert set(pools) == {("eu-1", host), ("us-1", host)}
    eu, us = pools["eu-1", host], pools["us-1", host]
    assert {w["name"]: (w["limit"], w["seconds"]) for w in eu["windows"]} == {
        "ip requests 5s": (480, 5.0)
    }
    assert eu["windows"][0]["used"] == 2 * us["windows"][0]["used"] > 0
    assert eu["concurrent"] == 20 and eu["inFlight"] == 0 and eu["pausedForSeconds"] == 0
    assert bybit["destinations"] == 2 and bybit["usagePercent"] > 0


def test_binance_spot_and_usd_m_pools_show_apart_in_the_health_view(owner, owner_client, paper):
    for api_type in ("spot", "perpetual_futures"):
        connection = paper_connection(owner, "binance", api_type, name=f"binance {api_type}")
        assert connection_check(connection=connection).success is True
    binance = owner_client.get(f"{URL}/health").json()["rateLimits"]["binance"]
    by_destination = {pool["destination"]: pool for pool in binance["pools"]}
    assert set(by_destination) == {f"{paper} spot", f"{paper} usdm"}
    usdm = {w["name"] for w in by_destination[f"{paper} usdm"]["windows"]}
    assert usdm == {"usdm ip weight 1m"}, "account windows are the key's, not the pool's"


def test_the_paper_exchange_served_nothing_over_its_published_table(owner, paper):
    requests.post(
        f"{paper}/_paper/faults", json={"exchange": "all", "enforceRateLimits": True}, timeout=5
    )
    connection = paper_connection(owner, "pionex", "perpetual_futures")
    for _ in range(2):  # more weight than one second allows: the second waits in our limiter
        assert connection_check(connection=connection, max_wait=10).success is True
    stats = requests.get(f"{paper}/_paper/stats", timeout=5).json()["exchanges"]["pionex"]
    assert stats["windows"]["ip weight 1s"]["maxUsed"] <= 10
    assert stats["windows"]["ip weight 1s"]["violations"] == 0
