"""The rate table: published windows, the safety factor, presets and overrides."""

from __future__ import annotations

import json
import re

import pytest

from exchanges import binance, bingx, bybit, okx, orangex, pionex
from exchanges.limits import (
    CONSERVATIVE_LIMITS,
    IP,
    Budget,
    Charge,
    Window,
    load_budgets,
    with_run_time_windows,
    worker_rate_limit,
)
from exchanges.registry import published_budgets

MODULES = (binance, bybit, okx, bingx, pionex, orangex)
NAME = re.compile(
    r"^((spot|usdm|linear) )?(ip|account) (\S+|(GET|POST|DELETE) \S+|"
    r"public requests|private requests) \d+[smhd]$"
)


def table(**kwargs):
    return load_budgets(published_budgets(), **kwargs)


def test_every_module_names_its_windows_one_way_and_says_where_each_comes_from():
    for module in MODULES:
        budget = module.CONNECTOR.rate_limits
        assert budget.windows, module.__name__
        for name, window in budget.windows.items():
            assert NAME.fullmatch(name), name
            assert window.source, f"{module.__name__} {name} names no source"
            assert window.limit > 0 and window.seconds > 0


def test_orangex_says_its_figure_is_unpublished_and_where_it_comes_from():
    (window,) = orangex.RATE_LIMITS.windows.values()
    assert (window.limit, window.seconds, window.scope) == (10, 1, IP)
    assert "unpublished" in window.source and "support" in window.source


def test_each_figure_is_the_published_one_times_the_safety_factor():
    default = table()
    assert default["bybit"].windows["ip requests 5s"].limit == 480  # 600 x 0.8
    assert default["binance"].windows["spot ip weight 1m"].limit == 4800  # 6000 x 0.8
    assert default["okx"].windows["account /api/v5/account/config 2s"].limit == 4  # 5 x 0.8
    assert (
        default["bingx"].windows["account /openApi/spot/v1/trade/cancelOpenOrders 1s"].limit == 1
    ), "never below one"
    half = table(safety_factor=0.5)
    assert half["pionex"].windows["account weight 1s"].limit == 5
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError):
            table(safety_factor=bad)


def test_the_conservative_preset_restores_the_original_table():
    conservative = table(preset="conservative")
    for exchange, limit in CONSERVATIVE_LIMITS.items():
        budget = conservative[exchange]
        destination = {n: (w.limit, w.seconds) for n, w in budget.windows.items() if w.scope == IP}
        assert destination == {
            "ip weight 1s": (limit.per_second, 1),
            "ip weight 1m": (limit.per_minute, 60),
        }, exchange
        assert budget.concurrent == limit.concurrent
    assert (CONSERVATIVE_LIMITS["bybit"].per_second, CONSERVATIVE_LIMITS["orangex"].concurrent) == (
        8,
        3,
    )
    assert "account /v5/order/create 1s" not in conservative["bybit"].windows
    assert conservative["bybit"].windows["spot account /v5/order/create 1s"].limit == 16, (
        "account windows are kept"
    )
    with pytest.raises(ValueError):
        table(preset="reckless")


def test_the_old_three_figure_override_still_works():
    overridden = table(
        overrides=json.dumps({"binance": {"per_second": 10, "per_minute": 1200, "concurrent": 10}})
    )
    budget = overridden["binance"]
    assert {n: w.limit for n, w in budget.windows.items() if w.scope == IP} == {
        "ip weight 1s": 10,
        "ip weight 1m": 1200,
    }
    assert budget.concurrent == 10
    assert budget.windows["spot account orders 10s"].limit == 40
    camel = table(overrides={"bybit": {"perSecond": 3}})["bybit"]
    assert camel.windows["ip weight 1s"].limit == 3


def test_any_named_window_can_be_overridden_as_given():
    overridden = table(
        overrides={
            "binance": {
                "spot ip weight 1m": 1200,
                "spot account orders 10s": {"limit": 20, "seconds": 5},
            },
            "okx": {"concurrent": 4},
        }
    )
    windows = overridden["binance"].windows
    assert windows["spot ip weight 1m"].limit == 1200, "an override is not scaled again"
    assert (
        windows["spot account orders 10s"].limit,
        windows["spot account orders 10s"].seconds,
    ) == (20, 5)
    assert overridden["okx"].concurrent == 4


@pytest.mark.parametrize(
    "overrides",
    [
        {"kraken": {"per_second": 1}},
        {"binance": {"no such window": 5}},
        {"binance": {"per_second": 0}},
        {"binance": {"spot ip weight 1m": True}},
        {"binance": {"spot ip weight 1m": {"limit": 5, "every": 2}}},
        {"binance": {"spot ip weight 1m": {"seconds": -1}}},
        {"binance": 5},
        [1],
    ],
)
def test_a_malformed_override_is_refused(overrides):
    with pytest.raises(ValueError):
        table(overrides=json.dumps(overrides))


def test_run_time_windows_replace_the_products_defaults_times_the_factor():
    budget = table()["binance"]
    served = binance.rate_limits_from_exchange_info(
        "spot",
        {
            "rateLimits": [
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
            ]
        },
    )
    merged = with_run_time_windows(budget, "spot", served, factor=0.8)
    spot = {n: w.limit for n, w in merged.windows.items() if w.product == "spot"}
    assert spot == {"spot account orders 10s": 80, "spot ip weight 1m": 4800}, (
        "the defaults it no longer lists are gone"
    )
    assert merged.windows["usdm ip weight 1m"] == budget.windows["usdm ip weight 1m"]


def test_run_time_windows_never_replace_an_override_or_the_conservative_preset():
    served = binance.rate_limits_from_exchange_info(
        "spot",
        {
            "rateLimits": [
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
            ]
        },
    )
    overridden = table(overrides={"binance": {"spot account orders 10s": 7}})["binance"]
    merged = with_run_time_windows(overridden, "spot", served, factor=0.8)
    assert merged.windows["spot account orders 10s"].limit == 7
    conservative = table(preset="conservative")["binance"]
    merged = with_run_time_windows(conservative, "spot", served, factor=0.8)
    assert {n for n, w in merged.windows.items() if w.scope == IP} == {
        "ip weight 1s",
        "ip weight 1m",
    }


def test_celery_workers_are_capped_at_the_loosest_pools_sustained_rate():
    default = table()
    assert default["bingx"].sustained_rate() == 160.0  # 2,000 private / 10 s x 0.8
    assert default["pionex"].sustained_rate() == 8.0
    assert worker_rate_limit(default) == "160/s"
    # okx 20/s but 600/min, binance 10/s: 10 a second is what any of them sustains
    assert worker_rate_limit(table(preset="conservative")) == "10/s"
    for budget in default.values():
        assert budget.sustained_rate() <= 160


def test_a_window_applies_by_product_endpoint_and_signature():
    window = Window(
        5, 1, "account", endpoints=frozenset({"POST /o", "/p"}), product="spot", signed=True
    )
    assert window.applies_to(Charge("POST", "/o", product="spot", signed=True))
    assert window.applies_to(Charge("GET", "/p", product="spot", signed=True))
    assert not window.applies_to(Charge("GET", "/o", product="spot", signed=True))
    assert not window.applies_to(Charge("POST", "/o", product="linear", signed=True))
    assert not window.applies_to(Charge("POST", "/o", product="spot"))


def test_a_free_request_spends_nothing():
    budget = Budget(windows={"usdm ip weight 1m": Window(10, 60, IP, "weight")})
    assert budget.uses(Charge("POST", "/fapi/v1/order", weight=0)) == []


def test_docs_rate_limits_lists_every_window_with_its_published_figure():
    from pathlib import Path

    from exchanges.limits import interval_name

    text = (Path(__file__).resolve().parents[2] / "docs" / "rate-limits.md").read_text()
    for exchange, budget in published_budgets().items():
        for name, window in budget.windows.items():
            row = f"| `{name}` |"
            assert row in text, f"{exchange} {name} is missing from docs/rate-limits.md"
            line = next(line for line in text.splitlines() if line.startswith(row))
            assert f"| {window.limit} / {interval_name(window.seconds)} |" in line, line
