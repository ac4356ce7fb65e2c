"""Budgets and pauses belong to a destination: a host's rate-limit answers pause only that
host, for a bounded time, and two hosts of one exchange never share a window."""

from __future__ import annotations

import pytest

from connections.health import connection_check
from connections.ratelimits import exchange_limiter, exchange_usage
from connections.services import ConnectionSpec, connection_create
from exchanges.hosts import rest_destination
from exchanges.limits import OTHER_HOST_PAUSE_CAP_SECONDS
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hostile(settings, hostile_host):
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({hostile_host.endpoint})
    return hostile_host


def paper_connection(owner, name, **values):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=name, exchange="bybit", api_type="spot", environment="paper", **values
        ),
    )


def test_a_decades_long_retry_after_pauses_only_that_host_and_only_ten_minutes(
    owner, hostile, paper
):
    victim = paper_connection(owner, "paper bybit")
    attacker = make_connection(owner, base_url=f"{hostile.url}/bybit")
    hostile.answer(429, "{}", {"Retry-After": "999999999"})
    result = connection_check(connection=attacker)
    assert result.error is not None and result.error.code == "rate_limited"

    limiter = exchange_limiter("bybit")
    hostile_pause = limiter.usage(rest_destination(hostile.url)).paused_for_seconds
    assert OTHER_HOST_PAUSE_CAP_SECONDS - 5 < hostile_pause <= OTHER_HOST_PAUSE_CAP_SECONDS
    assert limiter.usage(rest_destination(paper)).paused_for_seconds == 0
    assert connection_check(connection=victim).success is True, (
        "the paper exchange's pool was not paused by another host's answer"
    )
    usage = exchange_usage()["bybit"]
    assert usage.destinations == 2 and usage.paused_for_seconds <= OTHER_HOST_PAUSE_CAP_SECONDS


def test_a_second_paper_url_is_its_own_destination_for_windows_and_pauses(owner, paper, settings):
    # the same paper exchange under another name: the limiter must tell them apart
    second_url = paper.replace("127.0.0.1", "localhost")
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({second_url.removeprefix("http://")})
    first = paper_connection(owner, "paper one")
    second = paper_connection(owner, "paper two", base_url=f"{second_url}/bybit")
    assert connection_check(connection=first).success is True
    limiter = exchange_limiter("bybit")
    first_host, second_host = rest_destination(paper), rest_destination(second_url)
    assert limiter.usage(first_host).weight_last_minute > 0
    assert limiter.usage(second_host).weight_last_minute == 0

    limiter.pause(30, destination=first_host)
    assert connection_check(connection=second).success is True
    assert limiter.usage(second_host).paused_for_seconds == 0
    assert limiter.usage(second_host).weight_last_minute > 0


def test_a_read_refused_for_a_spent_budget_says_when_to_come_back_in_the_header(
    owner, owner_client, paper
):
    connection = paper_connection(owner, "paper bybit")
    exchange_limiter("bybit").pause(7, destination=rest_destination(f"{paper}/bybit"))
    response = owner_client.get(f"/api/settings/connections/{connection.pk}/balances")
    assert response.status_code == 429, response.json()
    assert response.json()["error"]["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 7
