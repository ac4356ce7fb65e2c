"""Rate-limit pauses are parsed defensively and capped: the exchange's longest documented
ban on its own hosts, 10 minutes on any other host (real Redis for the throttle)."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator

import pytest
import redis
import responses

from exchanges import binance, bybit, errors, pionex
from exchanges.base import Credentials, NoThrottle
from exchanges.limits import (
    DEFAULT_PAUSE_SECONDS,
    LONGEST_DOCUMENTED_BAN_SECONDS,
    OTHER_HOST_PAUSE_CAP_SECONDS,
    ExchangeLimit,
    bounded_pause_seconds,
    pause_cap_seconds,
    retry_after_seconds,
)
from exchanges.ratelimit import RateLimiter, RedisThrottle

THREE_DAYS = 3 * 24 * 3600.0
PAPER = "http://127.0.0.1:8900"
HOSTILE_RETRY_AFTER = [
    "999999999",
    "-5",
    "inf",
    "nan",
    "abc",
    "1e400",
    "-inf",
    "",
    "Wed, 21 Oct 2015 07:28:00 GMT",
]


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"test:pause:{uuid.uuid4().hex}"
    yield name
    client = redis_client()
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


# -- parsing and bounding ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["-5", "inf", "nan", "abc", "1e400", "-inf", "", "0x10", "Wed, 21 Oct 2015 07:28:00 GMT", None],
)
def test_retry_after_that_is_not_a_finite_non_negative_number_is_ignored(value):
    assert retry_after_seconds(value) is None


@pytest.mark.parametrize(
    "value, seconds", [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("999999999", 999999999.0)]
)
def test_retry_after_in_seconds_is_read(value, seconds):
    assert retry_after_seconds(value) == seconds


@pytest.mark.parametrize("seconds", [float("inf"), float("nan"), -5.0, float("-inf")])
def test_an_unusable_pause_becomes_the_default(seconds):
    assert bounded_pause_seconds(seconds, cap=600) == DEFAULT_PAUSE_SECONDS


@pytest.mark.parametrize("seconds", [999999999.0, 1e308])
def test_a_huge_pause_is_capped(seconds):
    assert bounded_pause_seconds(seconds, cap=600) == 600


def test_a_pause_within_the_cap_is_kept():
    assert bounded_pause_seconds(42.5, cap=600) == 42.5


@pytest.mark.parametrize(
    "exchange, host, cap",
    [
        ("binance", "https://api.binance.com:443", THREE_DAYS),
        ("binance", "https://fapi.binance.com:443", THREE_DAYS),
        ("binance", "https://testnet.binance.vision:443", THREE_DAYS),
        ("bybit", "https://api.bybit.com:443", 600.0),
        ("bingx", "https://open-api.bingx.com:443", 3600.0),
        ("pionex", "https://api.pionex.com:443", 120.0),
        ("okx", "https://www.okx.com:443", 600.0),
        ("orangex", "https://api.orangex.com:443", 600.0),
    ],
)
def test_the_cap_on_an_exchanges_own_host_is_its_longest_documented_ban(exchange, host, cap):
    assert pause_cap_seconds(exchange, host) == cap == LONGEST_DOCUMENTED_BAN_SECONDS[exchange]


@pytest.mark.parametrize(
    "exchange, host",
    [
        ("binance", PAPER),
        ("binance", "https://proxy.internal:443"),
        ("binance", "https://api.bybit.com:443"),
        ("binance", "http://api.binance.com:80"),
        ("binance", "https://api.binance.com.attacker.example:443"),
    ],
)
def test_the_cap_anywhere_else_is_ten_minutes(exchange, host):
    assert pause_cap_seconds(exchange, host) == OTHER_HOST_PAUSE_CAP_SECONDS == 600


def test_no_throttle_bounds_its_answer_too():
    assert NoThrottle().pause(float("inf"), reason="x", destination=PAPER) == 1.0
    assert NoThrottle().pause(1e9, reason="x", destination=PAPER) == 600


# -- through a connector: the applied pause is the error's retry_after --------------------


def connector(module, namespace: str, *, base_url: str | None = None, **kwargs):
    limiter = RateLimiter(
        redis_client(),
        module.__name__.split(".")[-1],
        ExchangeLimit(100, 1000, 10),
        namespace=namespace,
    )
    connector_class = {
        binance: binance.BinanceConnector,
        bybit: bybit.BybitConnector,
        pionex: pionex.PionexConnector,
    }[module]
    made = connector_class(
        credentials=Credentials("key", "secret"),
        base_url=base_url,
        throttle=RedisThrottle(limiter),
        **kwargs,
    )
    return made, limiter


def rate_limited(made, rsps, url: str, status: int, body, headers) -> errors.RateLimited:
    rsps.add(responses.GET, url, json=body, status=status, headers=headers)
    with pytest.raises(errors.RateLimited) as caught:
        made.server_time()
    return caught.value


@pytest.mark.parametrize("retry_after", HOSTILE_RETRY_AFTER)
@pytest.mark.parametrize("status", [429, 418])
def test_a_hostile_retry_after_from_binance_gives_a_bounded_pause(namespace, retry_after, status):
    made, limiter = connector(binance, namespace)
    with responses.RequestsMock() as rsps:
        error = rate_limited(
            made,
            rsps,
            "https://api.binance.com/api/v3/time",
            status,
            {"code": -1003, "msg": "Too much request weight used"},
            {"Retry-After": retry_after},
        )
    assert math.isfinite(error.retry_after) and 0 < error.retry_after <= THREE_DAYS
    paused = limiter.usage("https://api.binance.com:443").paused_for_seconds
    assert error.retry_after - 2 < paused <= error.retry_after


@pytest.mark.parametrize("retry_after", HOSTILE_RETRY_AFTER)
def test_a_hostile_retry_after_from_an_allowlisted_host_pauses_at_most_ten_minutes(
    namespace, retry_after
):
    made, limiter = connector(binance, namespace, base_url=f"{PAPER}/binance")
    with responses.RequestsMock() as rsps:
        error = rate_limited(
            made, rsps, f"{PAPER}/binance/api/v3/time", 429, {}, {"Retry-After": retry_after}
        )
    assert 0 < error.retry_after <= 600
    assert limiter.usage(PAPER).paused_for_seconds <= 600
    assert limiter.usage("https://api.binance.com:443").paused_for_seconds == 0


def test_a_decades_long_binance_ban_is_held_for_three_days_on_its_own_host(namespace):
    made, _ = connector(binance, namespace)
    with responses.RequestsMock() as rsps:
        error = rate_limited(
            made,
            rsps,
            "https://api.binance.com/api/v3/time",
            418,
            {"code": -1003, "msg": "IP banned"},
            {"Retry-After": "999999999"},
        )
    assert error.retry_after == THREE_DAYS


def test_a_bybit_reset_timestamp_far_in_the_future_is_capped_at_ten_minutes(namespace):
    made, _ = connector(bybit, namespace, clock=lambda: 1_700_000_000.0)
    with responses.RequestsMock() as rsps:
        error = rate_limited(
            made,
            rsps,
            "https://api.bybit.com/v5/market/time",
            200,
            {"retCode": 10006, "retMsg": "Too many visits", "result": {}},
            {"X-Bapi-Limit-Reset-Timestamp": "99999999999999999"},
        )
    assert error.retry_after == 600


def test_a_pionex_retry_after_of_decades_is_capped_by_its_60_second_ban(namespace):
    made, _ = connector(pionex, namespace)
    with responses.RequestsMock() as rsps:
        error = rate_limited(
            made,
            rsps,
            f"https://api.pionex.com{pionex.TICKERS}",
            429,
            {"result": False, "code": "TOO_MANY", "message": "slow"},
            {"Retry-After": "999999999"},
        )
    assert error.retry_after == 120
