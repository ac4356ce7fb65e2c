"""The paper exchange's published rate tables (paper/published.py) and the connectors'
(``Connector.rate_limits``) are written apart from the same facts; here they must agree,
figure by figure, so that a drift between the two is caught."""

from __future__ import annotations

from typing import Any

import pytest

from exchanges import limits
from exchanges.capabilities import EXCHANGES
from exchanges.registry import published_budgets
from paper.published import CONSERVATIVE_LIMITS, PUBLISHED, budgets_in_force
from paper.server import EXCHANGES as PAPER_EXCHANGES


def figures(budget: Any) -> dict[str, Any]:
    """What a budget enforces (not where a figure comes from, nor host groups)."""
    return {
        "pools": dict(budget.pools),
        "concurrent": budget.concurrent,
        "windows": [
            (
                name,
                w.limit,
                w.seconds,
                w.scope,
                w.counts,
                w.product,
                w.endpoints,
                w.signed,
                w.per_instrument,
            )
            for name, w in budget.windows.items()
        ],
    }


def test_the_paper_serves_every_exchange_the_library_knows() -> None:
    assert PAPER_EXCHANGES == EXCHANGES
    assert set(PUBLISHED) == set(EXCHANGES)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_the_paper_enforces_the_figures_our_connector_publishes(exchange: str) -> None:
    assert figures(PUBLISHED[exchange]) == figures(published_budgets()[exchange])


def test_the_conservative_preset_is_the_same_on_both_sides() -> None:
    def rows(table: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
        return {
            name: (limit.per_second, limit.per_minute, limit.concurrent)
            for name, limit in table.items()
        }

    assert rows(CONSERVATIVE_LIMITS) == rows(limits.CONSERVATIVE_LIMITS)


@pytest.mark.parametrize("preset", ["", "conservative"])
def test_presets_and_overrides_give_both_sides_the_same_table(preset: str) -> None:
    overrides: dict[str, Any] = {
        "pionex": {"concurrent": 4},
        "okx": {"per_second": 3},
        "binance": {"usdm account orders 1m": 100000},
    }
    if not preset:
        overrides["bybit"] = {"ip requests 5s": {"limit": 40, "seconds": 10}}
    ours = limits.load_budgets(
        published_budgets(), overrides=overrides, preset=preset, safety_factor=1.0
    )
    paper = budgets_in_force(overrides=overrides, preset=preset)
    assert {name: figures(budget) for name, budget in paper.items()} == {
        name: figures(budget) for name, budget in ours.items()
    }


def test_a_malformed_override_is_refused_by_the_paper_too() -> None:
    with pytest.raises(ValueError, match="no window"):
        budgets_in_force(overrides={"okx": {"no such window": 1}})
    with pytest.raises(ValueError, match="unknown exchange"):
        budgets_in_force(overrides='{"nowhere": {}}')
    with pytest.raises(ValueError, match="unknown preset"):
        budgets_in_force(preset="generous")
