"""What the paper exchange's rate table is made of, written apart from ``exchanges/limits.py``.

A budget is a set of named windows, each "at most ``limit`` units per ``seconds``" in one of
two scopes: ``ip`` (one client address and product pool) or ``account`` (one API key). A
window counts request weight, requests or orders, and may apply only to some products,
endpoints, or to private (signed) or public requests; ``per_instrument`` windows count each
instrument apart. The figures are the ones the exchanges publish (``published.py``); the
overrides of ``EXCHANGE_RATE_LIMITS`` and the legacy one-second / one-minute pair are read
here the way our side reads them, so both enforce the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Scope = Literal["ip", "account"]
Counts = Literal["weight", "requests", "orders"]
IP: Scope = "ip"
ACCOUNT: Scope = "account"

# No exchange publishes a cap on requests in flight; this is the one our side holds too.
DEFAULT_CONCURRENT = 20
LEGACY_FIELDS = {
    "per_second": "per_second",
    "perSecond": "per_second",
    "per_minute": "per_minute",
    "perMinute": "per_minute",
    "concurrent": "concurrent",
}
LEGACY_SECOND = "ip weight 1s"
LEGACY_MINUTE = "ip weight 1m"


@dataclass(frozen=True)
class Window:
    """At most ``limit`` units per ``seconds`` (sliding)."""

    limit: int
    seconds: float
    scope: Scope
    counts: Counts = "requests"
    product: str | None = None  # None: every product
    endpoints: frozenset[str] | None = None  # "METHOD /path" or "/path"; None: all
    signed: bool | None = None  # True: private requests only; False: public
    per_instrument: bool = False

    def applies_to(self, charge: Charge) -> bool:
        if self.product is not None and charge.product != self.product:
            return False
        if self.signed is not None and charge.signed != self.signed:
            return False
        return self.endpoints is None or bool({charge.endpoint, charge.path} & self.endpoints)

    def cost(self, charge: Charge) -> int:
        return {"weight": charge.weight, "requests": 1, "orders": charge.orders}[self.counts]


@dataclass(frozen=True)
class Charge:
    """What one request is to the budgets."""

    method: str
    path: str
    weight: int = 1
    product: str = "spot"
    signed: bool = False
    orders: int = 1  # orders the request places or cancels (batches: n)
    instrument: str = ""  # for per-instrument windows

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Use:
    """What one request spends in one window; ``part`` splits a window (an instrument)."""

    window: str
    cost: int
    scope: Scope
    part: str = ""


@dataclass(frozen=True)
class Budget:
    """One exchange's layered table. ``pools`` names the pool of each product that has one
    of its own (Binance spot and USD-M); the others share the unnamed pool."""

    windows: Mapping[str, Window]
    pools: Mapping[str, str] = field(default_factory=dict)
    concurrent: int = DEFAULT_CONCURRENT

    def pool_of(self, product: str) -> str:
        return self.pools.get(product, "")

    def uses(self, charge: Charge) -> list[Use]:
        """Every window ``charge`` counts against, with what it spends (nothing free)."""
        uses = []
        for name, window in self.windows.items():
            cost = window.cost(charge) if window.applies_to(charge) else 0
            if cost > 0:
                part = charge.instrument if window.per_instrument else ""
                uses.append(Use(name, cost, window.scope, part))
        return uses


@dataclass(frozen=True)
class ExchangeLimit:
    """The legacy figures: weight per second and per minute, requests in flight."""

    per_second: int
    per_minute: int
    concurrent: int


def with_legacy_limit(budget: Budget, limit: ExchangeLimit) -> Budget:
    """``budget`` whose ip windows are the legacy pair, its account windows kept."""
    windows = {name: window for name, window in budget.windows.items() if window.scope == ACCOUNT}
    windows[LEGACY_SECOND] = Window(limit.per_second, 1, IP, "weight")
    windows[LEGACY_MINUTE] = Window(limit.per_minute, 60, IP, "weight")
    return replace(budget, windows=windows, concurrent=limit.concurrent)


def legacy_budget(limit: ExchangeLimit) -> Budget:
    return with_legacy_limit(Budget(windows={}), limit)


def as_budget(value: Budget | ExchangeLimit) -> Budget:
    return legacy_budget(value) if isinstance(value, ExchangeLimit) else value


# -- EXCHANGE_RATE_LIMITS, read as our side reads it ------------------------------------------


def apply_overrides(budget: Budget, values: Mapping[str, Any], *, exchange: str) -> Budget:
    """One exchange's overrides: any window by name (``{"spot ip weight 1m": 1200}`` or
    ``{"...": {"limit": 50, "seconds": 10}}``), ``concurrent``, and the legacy
    ``per_second`` / ``per_minute`` pair, which replaces every ip window."""
    legacy = {
        LEGACY_FIELDS[key]: _positive_int(exchange, key, value)
        for key, value in values.items()
        if key in LEGACY_FIELDS
    }
    if "per_second" in legacy or "per_minute" in legacy:
        second = budget.windows.get(LEGACY_SECOND)
        minute = budget.windows.get(LEGACY_MINUTE)
        budget = with_legacy_limit(
            budget,
            ExchangeLimit(
                per_second=legacy.get("per_second", second.limit if second else 10**9),
                per_minute=legacy.get("per_minute", minute.limit if minute else 10**9),
                concurrent=budget.concurrent,
            ),
        )
    if "concurrent" in legacy:
        budget = replace(budget, concurrent=legacy["concurrent"])
    windows = dict(budget.windows)
    for name, value in values.items():
        if name in LEGACY_FIELDS:
            continue
        if name not in windows:
            raise ValueError(f"EXCHANGE_RATE_LIMITS: {exchange} has no window {name!r}")
        windows[name] = _overridden(windows[name], value, f"{exchange}.{name}")
    return replace(budget, windows=windows)


def _overridden(window: Window, value: Any, label: str) -> Window:
    if not isinstance(value, Mapping):
        return replace(window, limit=_positive_int(label, "limit", value))
    unknown = set(value) - {"limit", "seconds"}
    if unknown:
        raise ValueError(f"EXCHANGE_RATE_LIMITS: {label} takes limit and seconds")
    limit = _positive_int(label, "limit", value.get("limit", window.limit))
    seconds = value.get("seconds", window.seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise ValueError(f"EXCHANGE_RATE_LIMITS: bad {label}.seconds={seconds!r}")
    return replace(window, limit=limit, seconds=float(seconds))


def _positive_int(label: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"EXCHANGE_RATE_LIMITS: bad {label}.{key}={value!r}")
    return value
