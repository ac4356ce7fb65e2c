"""The Redis limiter holds every process to one budget (real Redis, real processes)."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid

import pytest
import redis

from exchanges import binance, bybit
from exchanges.errors import RateLimited
from exchanges.limits import (
    ACCOUNT,
    IP,
    Budget,
    Charge,
    ExchangeLimit,
    UsageSignal,
    Window,
)
from exchanges.ratelimit import WINDOW_MARGIN_MS, RateLimiter, RedisThrottle

MARGIN = WINDOW_MARGIN_MS / 1000
HOST = "https://api.bybit.com:443"


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"))


@pytest.fixture
def namespace():
    name = f"test:rl:{uuid.uuid4().hex}"
    yield name
    client = redis_client()
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def limiter(namespace, **limits) -> RateLimiter:
    values = {"per_second": 5, "per_minute": 100, "concurrent": 10}
    values.update(limits)
    return RateLimiter(redis_client(), "bybit", ExchangeLimit(**values), namespace=namespace)


def charge(weight: int = 1, path: str = "/x", **values) -> Charge:
    return Charge("GET", path, weight=weight, **values)


def grant(rl: RateLimiter, weight: int = 1, destination: str = HOST, **values) -> float:
    return rl.try_acquire(
        charge(weight, **values), destination=destination, lease_id=uuid.uuid4().hex
    )


def take(rl: RateLimiter, request: Charge, destination: str = HOST, key_id: str = "") -> float:
    """Acquire and release at once (the request is done): leases never pile up."""
    lease = uuid.uuid4().hex
    wait = rl.try_acquire(request, destination=destination, lease_id=lease, key_id=key_id)
    rl.release(lease, destination=destination, product=request.product)
    return wait


def window_used(rl: RateLimiter, name: str, destination: str = HOST) -> int:
    return next(w.used for w in rl.usage(destination).windows if w.name == name)


def grant_times_ms(rl: RateLimiter, window: str) -> list[int]:
    """When each grant counted against ``window``, as Redis recorded it (the limiter's own
    clock)."""
    return sorted(
        int(score)
        for _, score in redis_client().zrange(f"{rl.pool(HOST)}:{window}", 0, -1, withscores=True)
    )


def test_requests_within_the_per_second_budget_are_granted_and_the_next_waits(namespace):
    rl = limiter(namespace, per_second=5)
    assert [grant(rl) for _ in range(5)] == [0, 0, 0, 0, 0]
    wait = grant(rl)
    granted = grant_times_ms(rl, "ip weight 1m")  # the 1 s window forgets older grants
    if wait > 0:
        assert len(granted) == 5 and 0 < wait <= 1.0 + MARGIN
    else:  # granted only because the first grant had left the window (a loaded machine)
        assert len(granted) == 6 and granted[5] - granted[0] >= 1000


def test_weights_count_against_the_budget(namespace):
    rl = limiter(namespace, per_second=10)
    assert grant(rl, weight=8) == 0
    assert grant(rl, weight=3) > 0
    assert grant(rl, weight=2) == 0


def test_the_minute_budget_holds_across_seconds(namespace):
    rl = limiter(namespace, per_second=100, per_minute=6)
    assert [grant(rl, 2) for _ in range(3)] == [0, 0, 0]
    wait = grant(rl, 1)
    assert 1.0 < wait <= 60.002 + MARGIN


def test_a_request_heavier_than_the_budget_goes_alone_into_an_empty_window(namespace):
    rl = limiter(namespace, per_second=5)
    assert grant(rl, weight=1) == 0
    assert grant(rl, weight=6) > 0, "it waits for the window to empty"
    rl2 = limiter(namespace + ":b", per_second=5)
    assert grant(rl2, weight=6) == 0
    assert grant(rl2, weight=1) > 0, "nothing joins it in its second"


def test_concurrency_leases_cap_in_flight_requests_and_expire(namespace):
    rl = RateLimiter(
        redis_client(), "okx", ExchangeLimit(100, 1000, 2), namespace=namespace, lease_seconds=0.3
    )
    assert grant(rl) == 0 and grant(rl) == 0
    assert grant(rl) > 0, "a third request must wait for a lease"
    time.sleep(0.35)  # a killed holder's lease expires by itself
    assert grant(rl) == 0


def test_releasing_a_lease_frees_the_slot(namespace):
    rl = limiter(namespace, concurrent=1)
    assert rl.try_acquire(charge(), destination=HOST, lease_id="a") == 0
    assert grant(rl) > 0
    rl.release("a", destination=HOST)
    assert grant(rl) == 0


def test_a_pause_holds_every_limiter_on_the_same_destination(namespace):
    first, second = limiter(namespace), limiter(namespace)
    first.pause(2.0, destination=HOST)
    wait = grant(second)
    assert 1.5 < wait <= 2.0
    assert second.usage(HOST).paused_for_seconds > 1.5


def test_a_shorter_pause_never_shortens_a_longer_one(namespace):
    rl = limiter(namespace)
    rl.pause(5.0, destination=HOST)
    rl.pause(1.0, destination=HOST)
    assert grant(rl) > 4.0


def test_usage_headers_tighten_the_budget_when_the_exchange_counted_more(namespace):
    rl = limiter(namespace, per_second=100, per_minute=50)
    assert grant(rl, 5) == 0
    minute = UsageSignal("ip weight 1m", 48, 60)
    assert rl.reconcile(minute, charge=charge(), destination=HOST) == 43, (
        "the exchange's 48 includes our own 5"
    )
    assert window_used(rl, "ip weight 1m") == 48
    assert rl.usage(HOST).weight_last_minute == 5, "what we sent ourselves"
    assert grant(rl, 3) > 0
    assert grant(rl, 2) == 0
    lower = UsageSignal("ip weight 1m", 10, 60)
    assert rl.reconcile(lower, charge=charge(), destination=HOST) == 0, (
        "a lower count never loosens our own"
    )


def test_a_usage_signal_that_says_when_it_ends_is_held_until_then(namespace):
    rl = limiter(namespace, per_second=10, per_minute=1000)
    full = UsageSignal("ip weight 1s", 10, 1, expires_in=0.3)
    assert rl.reconcile(full, charge=charge(), destination=HOST) == 10
    assert 0 < grant(rl) <= 0.3 + MARGIN + 0.01
    time.sleep(0.3 + MARGIN + 0.02)
    assert grant(rl) == 0, "the exchange's count ended at its reset, not a whole span later"


def test_a_usage_signal_for_a_window_we_do_not_keep_is_ignored(namespace):
    rl = limiter(namespace)
    unknown = UsageSignal("ip weight 1h", 5000, 3600)
    assert rl.reconcile(unknown, charge=charge(), destination=HOST) == 0
    assert grant(rl) == 0


def test_usage_reports_percent_of_the_minute_budget(namespace):
    rl = limiter(namespace, per_second=100, per_minute=200)
    for _ in range(10):
        grant(rl, 5)
    usage = rl.usage(HOST)
    assert usage.weight_last_minute == 50 and usage.percent_of_minute == 25.0


def test_throttle_waits_briefly_then_raises_rate_limited_with_retry_after(namespace):
    rl = limiter(namespace, per_second=100, per_minute=2)
    throttle = RedisThrottle(rl, max_wait=1.0)
    with throttle(charge(), destination=HOST), throttle(charge(path="/y"), destination=HOST):
        pass
    with pytest.raises(RateLimited) as caught, throttle(charge(path="/z"), destination=HOST):
        pass
    assert 1.0 < caught.value.retry_after <= 61.0 + MARGIN


def test_throttle_releases_its_lease_even_when_the_request_fails(namespace):
    rl = limiter(namespace, concurrent=1)
    throttle = RedisThrottle(rl)
    with pytest.raises(ValueError), throttle(charge(), destination=HOST):
        raise ValueError("request failed")
    assert rl.usage(HOST).in_flight == 0


def keyed_budget(**windows: Window) -> Budget:
    return Budget(
        windows={
            "ip weight 1s": Window(100, 1, IP, "weight"),
            "account /balance 2s": Window(2, 2, ACCOUNT, endpoints=frozenset({"/balance"})),
            **windows,
        }
    )


def keyed(namespace, budget: Budget | None = None, egress: str = "default") -> RateLimiter:
    return RateLimiter(
        redis_client(), "bybit", budget or keyed_budget(), namespace=namespace, egress=egress
    )


def test_per_key_limits_apply_to_one_key_and_endpoint_only(namespace):
    rl = keyed(namespace)
    slept: list[float] = []
    throttle = RedisThrottle(rl, key_id="k1", max_wait=0.0, sleep=slept.append)
    for _ in range(2):
        with throttle(charge(path="/balance"), destination=HOST):
            pass
    with pytest.raises(RateLimited) as caught, throttle(charge(path="/balance"), destination=HOST):
        pass
    assert "account /balance 2s" in str(caught.value), "the refusal names its window"
    with throttle(charge(path="/other"), destination=HOST):
        pass
    other_key = RedisThrottle(rl, key_id="k2")
    with other_key(charge(path="/balance"), destination=HOST):
        pass


def _hammer(namespace: str, seconds: float, queue) -> None:
    rl = RateLimiter(redis_client(), "binance", ExchangeLimit(10, 1200, 10), namespace=namespace)
    granted: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lease = uuid.uuid4().hex
        if rl.try_acquire(charge(), destination=HOST, lease_id=lease) == 0:
            granted.append(int(time.time() * 1000))
            rl.release(lease, destination=HOST)
    queue.put(granted)


def test_four_processes_together_never_exceed_the_per_second_budget(namespace):
    queue = multiprocessing.get_context("spawn").Queue()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(namespace, 2.5, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    counts = [len(queue.get(timeout=30)) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    assert sum(counts) >= 20 and all(counts), "every process got a share of the budget"
    # the grant times as Redis recorded them (its own clock, one for every process)
    grants = sorted(
        int(score)
        for _, score in redis_client().zrange(
            f"{namespace}:default:binance:{HOST}:ip weight 1m", 0, -1, withscores=True
        )
    )
    assert len(grants) == sum(counts)
    for index, start in enumerate(grants):
        assert len([t for t in grants[index:] if t < start + 1000]) <= 10


def test_usage_is_readable_per_connection(namespace):
    rl = limiter(namespace, per_second=100, per_minute=200)
    first = RedisThrottle(rl, usage_scope="conn-a")
    second = RedisThrottle(rl, usage_scope="conn-b")
    for _ in range(4):
        with first(charge(5), destination=HOST):
            pass
    with second(charge(10, "/y"), destination=HOST):
        pass
    assert rl.scope_usage_percent(["conn-a", "conn-b", "conn-c"]) == {
        "conn-a": 10.0,
        "conn-b": 5.0,
        "conn-c": 0.0,
    }
    assert rl.usage(HOST).percent_of_minute == 15.0


def test_a_heavy_request_is_not_starved_by_light_ones(namespace):
    rl = limiter(namespace, per_second=10)
    assert grant(rl, weight=3) == 0
    heavy_wait = rl.try_acquire(charge(20), destination=HOST, lease_id="heavy")
    assert heavy_wait > 0, "the window is not empty yet"
    assert grant(rl, weight=1) > 0, "light requests queue behind the reservation"
    time.sleep(heavy_wait + 0.01)
    assert rl.try_acquire(charge(20), destination=HOST, lease_id="heavy") == 0
    rl.release("heavy", destination=HOST)
    time.sleep(1.1)
    assert grant(rl, weight=1) == 0, "the reservation ends with the heavy request"


# -- destinations: every window, lease and pause belongs to one host seen from one egress --

OTHER_HOST = "https://api.bytick.com:443"


def test_two_destinations_of_one_exchange_do_not_share_a_window(namespace):
    rl = limiter(namespace, per_second=2)
    assert [grant(rl), grant(rl)] == [0, 0]
    assert grant(rl) > 0, "the first host's second is full"
    assert grant(rl, destination=OTHER_HOST) == 0


def test_binance_spot_and_usd_m_hosts_are_separate_pools(namespace):
    rl = RateLimiter(redis_client(), "binance", ExchangeLimit(1, 100, 10), namespace=namespace)
    assert grant(rl, destination="https://api.binance.com:443") == 0
    assert grant(rl, destination="https://api.binance.com:443") > 0
    assert grant(rl, destination="https://fapi.binance.com:443") == 0


def test_a_pause_on_one_destination_leaves_another_untouched(namespace):
    rl = limiter(namespace)
    rl.pause(30.0, destination=HOST)
    assert grant(rl) > 29
    assert grant(rl, destination=OTHER_HOST) == 0
    assert rl.usage(OTHER_HOST).paused_for_seconds == 0


def test_concurrency_leases_belong_to_one_destination(namespace):
    rl = limiter(namespace, concurrent=1)
    assert rl.try_acquire(charge(), destination=HOST, lease_id="held") == 0
    assert grant(rl) > 0
    assert grant(rl, destination=OTHER_HOST) == 0


def test_two_egresses_do_not_share_a_pool_for_the_same_host(namespace):
    limit = ExchangeLimit(1, 100, 10)
    first = RateLimiter(redis_client(), "bybit", limit, namespace=namespace, egress="eu-1")
    second = RateLimiter(redis_client(), "bybit", limit, namespace=namespace, egress="us-1")
    first.pause(30.0, destination=HOST)
    assert grant(first) > 0
    assert grant(second) == 0


def test_every_key_of_a_pool_names_the_egress_and_the_destination(namespace):
    rl = keyed(namespace, egress="eu-1")
    throttle = RedisThrottle(rl, key_id="k1", usage_scope="conn-a")
    with throttle(charge(path="/balance"), destination=HOST):  # holding its lease
        rl.pause(5.0, destination=HOST)
        keys = {key.decode() for key in redis_client().scan_iter(f"{namespace}:*")}
    pool = f"{namespace}:eu-1:bybit:{HOST}"
    assert {f"{pool}:ip weight 1s", f"{pool}:leases", f"{pool}:pause", f"{pool}:weight"} <= keys
    outside = {key for key in keys if not key.startswith(pool + ":")}
    assert outside == {
        f"{namespace}:eu-1:bybit:destinations",
        f"{namespace}:egresses",
        f"{namespace}:bybit:usage:conn-a",
        f"{namespace}:bybit:account:k1:account /balance 2s",
        f"{namespace}:bybit:account:k1:account /balance 2s:sum",
    }, "an account's windows and a connection's record belong to no egress"


def test_usage_lists_each_destination_in_use_and_a_paused_one(namespace):
    rl = limiter(namespace, per_second=100, per_minute=200)
    for _ in range(4):
        grant(rl, 5)
    grant(rl, 10, destination=OTHER_HOST)
    rl.pause(120.0, destination="https://api.bybit.nl:443")
    by_destination = rl.usage_by_destination()
    assert sorted(by_destination) == [
        "https://api.bybit.com:443",
        "https://api.bybit.nl:443",
        "https://api.bytick.com:443",
    ]
    assert by_destination[HOST].weight_last_minute == 20
    assert by_destination[OTHER_HOST].percent_of_minute == 5.0
    assert by_destination["https://api.bybit.nl:443"].paused_for_seconds > 119


def test_per_connection_usage_counts_whichever_host_it_used(namespace):
    rl = limiter(namespace, per_second=100, per_minute=200)
    throttle = RedisThrottle(rl, usage_scope="conn-a")
    with throttle(charge(10), destination=HOST):
        pass
    with throttle(charge(10), destination=OTHER_HOST):
        pass
    assert rl.scope_usage_percent(["conn-a"]) == {"conn-a": 10.0}


# -- bounded pauses ------------------------------------------------------------------------

BINANCE = "https://api.binance.com:443"
ALLOWLISTED = "http://127.0.0.1:8900"


def binance_throttle(namespace) -> RedisThrottle:
    return RedisThrottle(
        RateLimiter(redis_client(), "binance", ExchangeLimit(10, 1200, 10), namespace=namespace)
    )


@pytest.mark.parametrize("hostile", [999999999, float("inf"), float("nan"), -5, 1e308])
def test_a_hostile_pause_is_bounded_and_what_is_applied_is_returned(namespace, hostile):
    throttle = binance_throttle(namespace)
    applied = throttle.pause(hostile, reason="test", destination=ALLOWLISTED)
    assert 0 < applied <= 600
    paused = throttle.limiter.usage(ALLOWLISTED).paused_for_seconds
    assert applied - 1 < paused <= applied


def test_a_huge_pause_on_the_exchanges_own_host_is_capped_by_its_longest_ban(namespace):
    throttle = binance_throttle(namespace)
    assert throttle.pause(999999999, reason="418", destination=BINANCE) == 3 * 24 * 3600
    assert throttle.limiter.usage(BINANCE).paused_for_seconds > 3 * 24 * 3600 - 5


def test_the_same_pause_on_an_allowlisted_host_is_capped_at_ten_minutes(namespace):
    throttle = binance_throttle(namespace)
    assert throttle.pause(3600, reason="429", destination=ALLOWLISTED) == 600
    assert throttle.pause(3600, reason="429", destination=BINANCE) == 3600


def test_a_reasonable_pause_is_applied_as_asked(namespace):
    assert binance_throttle(namespace).pause(7, reason="429", destination=BINANCE) == 7


# -- layers: every window a request counts against, taken at once -------------------------


def test_a_request_refused_by_one_window_takes_nothing_from_the_others(namespace):
    rl = keyed(namespace)
    for _ in range(2):
        assert (
            rl.try_acquire(
                charge(path="/balance"), destination=HOST, lease_id=uuid.uuid4().hex, key_id="k1"
            )
            == 0
        )
    decision = rl.decide(charge(path="/balance"), destination=HOST, lease_id="refused", key_id="k1")
    assert decision.wait > 0 and decision.binding == "account /balance 2s"
    assert window_used(rl, "ip weight 1s") == 2, "the pool's window kept only the two granted"


def test_an_accounts_windows_are_shared_by_every_egress_and_host(namespace):
    first, second = keyed(namespace, egress="eu-1"), keyed(namespace, egress="us-1")
    for rl, destination in ((first, HOST), (second, OTHER_HOST)):
        assert (
            rl.try_acquire(
                charge(path="/balance"),
                destination=destination,
                lease_id=uuid.uuid4().hex,
                key_id="k1",
            )
            == 0
        )
    assert (
        second.try_acquire(charge(path="/balance"), destination=HOST, lease_id="third", key_id="k1")
        > 0
    ), "two of two used by this key, wherever it called"
    assert (
        second.try_acquire(charge(path="/other"), destination=HOST, lease_id="fourth", key_id="k1")
        == 0
    )


def test_per_instrument_windows_count_each_instrument_apart(namespace):
    budget = Budget(
        windows={
            "account POST /order 2s": Window(
                1, 2, ACCOUNT, endpoints=frozenset({"POST /order"}), per_instrument=True
            )
        }
    )
    rl = keyed(namespace, budget)
    place = Charge("POST", "/order", instrument="BTC-USDT")
    assert rl.try_acquire(place, destination=HOST, lease_id="a", key_id="k1") == 0
    assert rl.try_acquire(place, destination=HOST, lease_id="b", key_id="k1") > 0
    other = Charge("POST", "/order", instrument="ETH-USDT")
    assert rl.try_acquire(other, destination=HOST, lease_id="c", key_id="k1") == 0


def test_order_count_windows_count_orders_of_the_placement_endpoint_only(namespace):
    rl = RateLimiter(redis_client(), "binance", binance.RATE_LIMITS, namespace=namespace)
    place = Charge("POST", "/api/v3/order", weight=1, product="spot", signed=True)
    for _ in range(50):
        assert take(rl, place, BINANCE, key_id="k1") == 0
    refused = rl.decide(place, destination=BINANCE, lease_id="51st", key_id="k1")
    assert refused.binding == "spot account orders 10s" and 9 < refused.wait <= 10 + MARGIN
    read = Charge("GET", "/api/v3/order", weight=4, product="spot", signed=True)
    assert rl.try_acquire(read, destination=BINANCE, lease_id="read", key_id="k1") == 0


def test_binance_spot_and_usd_m_are_separate_pools_even_on_one_paper_host(namespace):
    budget = Budget(
        pools={"spot": "spot", "linear": "usdm"},
        windows={
            "spot ip weight 1m": Window(10, 60, IP, "weight", product="spot"),
            "usdm ip weight 1m": Window(10, 60, IP, "weight", product="linear"),
        },
    )
    rl = RateLimiter(redis_client(), "binance", budget, namespace=namespace)
    assert grant(rl, 10, ALLOWLISTED, product="spot") == 0
    assert grant(rl, 1, ALLOWLISTED, product="spot") > 0
    assert grant(rl, 10, ALLOWLISTED, product="linear") == 0
    assert rl.destinations() == [f"{ALLOWLISTED} spot", f"{ALLOWLISTED} usdm"]
    rl.pause(30, destination=ALLOWLISTED, product="linear")
    assert rl.usage(ALLOWLISTED, "spot").paused_for_seconds == 0, "a pause holds its pool only"


def test_bybits_live_hosts_share_one_ip_budget(namespace):
    rl = RateLimiter(redis_client(), "bybit", bybit.RATE_LIMITS, namespace=namespace)
    assert rl.pool_id(OTHER_HOST) == rl.pool_id("https://api.bybit.nl:443") == HOST
    assert rl.pool_id("https://api-testnet.bybit.com:443") == "https://api-testnet.bybit.com:443"
    for _ in range(3):
        grant(rl, destination=OTHER_HOST)
    assert window_used(rl, "ip requests 5s") == 3


def test_usage_shows_every_window_of_a_pool_with_its_ceiling(namespace):
    rl = RateLimiter(redis_client(), "bybit", bybit.RATE_LIMITS, namespace=namespace)
    for _ in range(48):
        take(rl, charge())
    usage = rl.usage(HOST)
    (window,) = usage.windows
    assert (window.name, window.used, window.limit, window.seconds) == (
        "ip requests 5s",
        48,
        600,
        5.0,
    )
    assert usage.busiest_percent == 8.0 and usage.concurrent == 20
    assert rl.egresses() == ["default"]


def test_a_count_over_another_span_leaves_a_reshaped_window_alone(namespace):
    reshaped = Budget(windows={"spot ip weight 1m": Window(40, 10, IP, "weight")})
    rl = RateLimiter(redis_client(), "binance", reshaped, namespace=namespace)
    minute = UsageSignal("spot ip weight 1m", 400, 60)  # X-MBX-USED-WEIGHT-1M
    assert rl.reconcile(minute, charge=charge(), destination=HOST) == 0
    assert grant(rl, 40) == 0, "the exchange's minute says nothing of our 10 s"


def test_the_legacy_pair_still_learns_from_binances_used_weight(namespace):
    rl = RateLimiter(redis_client(), "binance", ExchangeLimit(100, 50, 10), namespace=namespace)
    minute = UsageSignal("spot ip weight 1m", 48, 60)
    assert rl.reconcile(minute, charge=charge(), destination=BINANCE) == 48
    assert grant(rl, 3, BINANCE) > 0


def test_the_window_margin_alone_never_turns_a_one_second_wait_into_a_refusal(namespace):
    rl = RateLimiter(
        redis_client(), "orangex", ExchangeLimit(2, 100, 10), namespace=namespace, margin_ms=200
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    throttle = RedisThrottle(rl, max_wait=1.0, sleep=sleep)
    for _ in range(2):
        with throttle(charge(), destination=HOST):
            pass
    with throttle(charge(), destination=HOST):  # waits about 1.2 s: granted, not refused
        pass
    assert slept and sum(slept) <= 1.2 + 0.05
