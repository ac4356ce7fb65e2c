"""Rate budgets as the exchanges publish them (docs/rate-limits.md lists every figure and
its source).

A budget is a set of named windows, each "at most ``limit`` units per ``seconds``" in one of
two scopes: ``ip`` (one destination pool: the REST host group of one exchange product, seen
from one egress) or ``account`` (one API key, whatever address it calls from). A window
counts request weight, requests, or orders, and may apply only to some products, endpoints,
or to private (signed) or public requests; ``per_instrument`` windows count each instrument
apart. Each exchange module declares its published windows as ``Connector.rate_limits``;
``load_budgets`` turns them into the effective table: every published figure times
``RATE_LIMIT_SAFETY_FACTOR``, then ``EXCHANGE_RATE_PRESET`` and the ``EXCHANGE_RATE_LIMITS``
overrides, which are taken as given.

Window names follow one scheme in every module: ``[<pool>] <scope> <what> <interval>``, e.g.
``spot ip weight 1m``, ``account orders 2s``, ``linear account /v5/order/create 1s``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from exchanges.hosts import is_official_destination

Scope = Literal["ip", "account"]
Counts = Literal["weight", "requests", "orders"]
IP: Scope = "ip"
ACCOUNT: Scope = "account"

DEFAULT_SAFETY_FACTOR = 0.8  # the original system's "20% below official"
# No exchange publishes a cap on requests in flight; ours keeps a stalled host from piling
# up requests. The conservative preset restores the original system's caps.
DEFAULT_CONCURRENT = 20
LEGACY_FIELDS = {
    "per_second": "per_second",
    "perSecond": "per_second",
    "per_minute": "per_minute",
    "perMinute": "per_minute",
    "concurrent": "concurrent",
}


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
    source: str = ""

    def applies_to(self, charge: Charge) -> bool:
        if self.product is not None and charge.product != self.product:
            return False
        if self.signed is not None and charge.signed != self.signed:
            return False
        return self.endpoints is None or bool({charge.endpoint, charge.path} & self.endpoints)

    def cost(self, charge: Charge) -> int:
        return {"weight": charge.weight, "requests": 1, "orders": charge.orders}[self.counts]

    @property
    def rate(self) -> float:
        """Units per second it allows, sustained."""
        return self.limit / self.seconds


@dataclass(frozen=True)
class Charge:
    """What one request is to the budgets."""

    method: str
    path: str
    weight: int = 1
    product: str = "spot"
    signed: bool = False
    orders: int = 1  # orders the request places, amends or cancels (batches: n)
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
class UsageSignal:
    """The exchange says it counted ``used`` units over ``seconds`` in ``window``; when it
    says when that count ends (``expires_in`` seconds), our record of it ends then too."""

    window: str
    used: int
    seconds: float
    expires_in: float | None = None


@dataclass(frozen=True)
class Budget:
    """One exchange's layered table. ``pools`` names the destination pool of each product
    that has one of its own (Binance spot and USD-M); the others share the unnamed pool.
    ``host_groups`` maps a REST destination to the one whose budget it shares (Bybit counts
    api.bybit.com, api.bytick.com and its regional hosts as one)."""

    windows: Mapping[str, Window]
    pools: Mapping[str, str] = field(default_factory=dict)
    concurrent: int = DEFAULT_CONCURRENT
    host_groups: Mapping[str, str] = field(default_factory=dict)

    def pool_of(self, product: str) -> str:
        return self.pools.get(product, "")

    def pool_id(self, destination: str, product: str) -> str:
        """The destination pool a request to ``destination`` for ``product`` counts in:
        its host group, and the product's own pool where it has one."""
        group = self.host_groups.get(destination, destination)
        pool = self.pool_of(product)
        return f"{group} {pool}" if pool else group

    def uses(self, charge: Charge) -> list[Use]:
        """Every window ``charge`` counts against, with what it spends (nothing free)."""
        uses = []
        for name, window in self.windows.items():
            cost = window.cost(charge) if window.applies_to(charge) else 0
            if cost > 0:
                part = charge.instrument if window.per_instrument else ""
                uses.append(Use(name, cost, window.scope, part))
        return uses

    def pool_windows(self, pool: str) -> dict[str, Window]:
        """The ip windows of one destination pool."""
        products = {product for product, name in self.pools.items() if name == pool}
        return {
            name: window
            for name, window in self.windows.items()
            if window.scope == IP
            and (window.product is None or not self.pools or window.product in products)
        }

    def sustained_rate(self) -> float:
        """Requests (weight 1) per second the loosest pool allows for good, private or
        public: its tightest window counting all of them. 0 when no window does."""
        rates = [0.0]
        for pool in {self.pool_of(product) for product in self.pools} or {""}:
            shared = [
                w
                for w in self.pool_windows(pool).values()
                if w.endpoints is None and w.counts != "orders"
            ]
            for signed in (True, False):
                covering = [w.rate for w in shared if w.signed in (None, signed)]
                rates.append(min(covering, default=0.0))
        return max(rates)


def worker_rate_limit(table: Mapping[str, Budget]) -> str:
    """Celery's per-worker ``rate_limit`` for exchange tasks: the loosest pool's sustained
    request rate, so one worker alone never starts tasks faster than any budget allows."""
    return f"{max(1, math.floor(max(b.sustained_rate() for b in table.values())))}/s"


def scaled(window: Window, factor: float) -> Window:
    """``window`` at ``factor`` times its published figure, never below one unit."""
    return replace(window, limit=max(1, math.floor(window.limit * factor)))


def published_budget(budget: Budget, factor: float) -> Budget:
    return replace(
        budget, windows={name: scaled(window, factor) for name, window in budget.windows.items()}
    )


def with_run_time_windows(
    budget: Budget, product: str, windows: Mapping[str, Window], *, factor: float
) -> Budget:
    """``budget`` with ``product``'s published windows replaced by the ones the exchange
    serves at run time (Binance's exchangeInfo), times ``factor``. Overridden windows and
    the conservative preset's stay as they are."""
    if not windows:
        return budget
    legacy = LEGACY_SECOND in budget.windows or LEGACY_MINUTE in budget.windows
    kept = {
        name: window
        for name, window in budget.windows.items()
        if window.product != product or window.source in ("override", "legacy")
    }
    for name, window in windows.items():
        if name not in kept and not (legacy and window.scope == IP):
            kept[name] = scaled(window, factor)
    return replace(budget, windows=kept)


# -- the legacy shape: one weight budget per second and per minute, and a concurrency cap --


@dataclass(frozen=True)
class ExchangeLimit:
    """The original system's per-exchange figures (``EXCHANGE_RATE_PRESET=conservative``, and
    the old ``{"per_second", "per_minute", "concurrent"}`` override)."""

    per_second: int
    per_minute: int
    concurrent: int


CONSERVATIVE_LIMITS: dict[str, ExchangeLimit] = {
    "bybit": ExchangeLimit(per_second=8, per_minute=120, concurrent=5),
    "binance": ExchangeLimit(per_second=10, per_minute=1200, concurrent=10),
    "okx": ExchangeLimit(per_second=20, per_minute=600, concurrent=10),
    "bingx": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "pionex": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "orangex": ExchangeLimit(per_second=5, per_minute=100, concurrent=3),
}
LEGACY_SECOND = "ip weight 1s"
LEGACY_MINUTE = "ip weight 1m"


def with_legacy_limit(budget: Budget, limit: ExchangeLimit) -> Budget:
    """``budget`` whose destination windows are the legacy pair (every pool gets the
    same), its account windows kept."""
    windows = {name: window for name, window in budget.windows.items() if window.scope == ACCOUNT}
    windows[LEGACY_SECOND] = Window(limit.per_second, 1, IP, "weight", source="legacy")
    windows[LEGACY_MINUTE] = Window(limit.per_minute, 60, IP, "weight", source="legacy")
    return replace(budget, windows=windows, concurrent=limit.concurrent)


def legacy_budget(limit: ExchangeLimit) -> Budget:
    return with_legacy_limit(Budget(windows={}), limit)


def as_budget(value: Budget | ExchangeLimit) -> Budget:
    return value if isinstance(value, Budget) else legacy_budget(value)


# -- the effective table --------------------------------------------------------------------


def load_budgets(
    published: Mapping[str, Budget],
    *,
    overrides: str | Mapping[str, Any] | None = None,
    preset: str = "",
    safety_factor: float = DEFAULT_SAFETY_FACTOR,
) -> dict[str, Budget]:
    """The table in force: ``published`` times ``safety_factor``, or the conservative table
    (``preset``), then ``overrides``. Raises ValueError on anything malformed."""
    if not 0 < safety_factor <= 1:
        raise ValueError("RATE_LIMIT_SAFETY_FACTOR must be in (0, 1]")
    table = {name: published_budget(budget, safety_factor) for name, budget in published.items()}
    if preset == "conservative":
        table = {
            name: with_legacy_limit(budget, CONSERVATIVE_LIMITS[name])
            if name in CONSERVATIVE_LIMITS
            else budget
            for name, budget in table.items()
        }
    elif preset not in ("", "published"):
        raise ValueError(f"EXCHANGE_RATE_PRESET: unknown preset {preset!r}")
    for exchange, values in _override_items(overrides):
        if exchange not in table:
            raise ValueError(f"EXCHANGE_RATE_LIMITS: unknown exchange {exchange!r}")
        table[exchange] = apply_overrides(table[exchange], values, exchange=exchange)
    return table


def _override_items(
    overrides: str | Mapping[str, Any] | None,
) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if not overrides:
        return []
    data = json.loads(overrides) if isinstance(overrides, str) else overrides
    if not isinstance(data, Mapping):
        raise ValueError("EXCHANGE_RATE_LIMITS must be a JSON object keyed by exchange")
    for exchange, values in data.items():
        if not isinstance(values, Mapping):
            raise ValueError(f"EXCHANGE_RATE_LIMITS: {exchange} must map to an object")
    return data.items()


def apply_overrides(budget: Budget, values: Mapping[str, Any], *, exchange: str) -> Budget:
    """One exchange's overrides: any window by name (``{"spot ip weight 1m": 1200}`` or
    ``{"...": {"limit": 50, "seconds": 10}}``), ``concurrent``, and the legacy
    ``per_second`` / ``per_minute`` pair, which replaces every destination window."""
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
    if isinstance(value, Mapping):
        unknown = set(value) - {"limit", "seconds"}
        if unknown:
            raise ValueError(f"EXCHANGE_RATE_LIMITS: {label} takes limit and seconds")
        limit = _positive_int(label, "limit", value.get("limit", window.limit))
        seconds = value.get("seconds", window.seconds)
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"EXCHANGE_RATE_LIMITS: bad {label}.seconds={seconds!r}")
        return replace(window, limit=limit, seconds=float(seconds), source="override")
    return replace(window, limit=_positive_int(label, "limit", value), source="override")


def _positive_int(label: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"EXCHANGE_RATE_LIMITS: bad {label}.{key}={value!r}")
    return value


def endpoint_window(
    endpoint: str,
    limit: int,
    seconds: float,
    scope: Scope = ACCOUNT,
    *,
    product: str | None = None,
    counts: Counts = "requests",
    per_instrument: bool = False,
    source: str = "",
) -> tuple[str, Window]:
    """(name, window) of one endpoint's own budget ("METHOD /path" or "/path"), named by
    the one scheme: ``[<product>] <scope> <endpoint> <interval>``, e.g.
    ``linear account /v5/order/create 1s``, ``ip /api/v5/public/time 2s``."""
    name = " ".join(part for part in (product, scope, endpoint, interval_name(seconds)) if part)
    return name, Window(
        limit,
        seconds,
        scope,
        counts,
        product=product,
        endpoints=frozenset({endpoint}),
        per_instrument=per_instrument,
        source=source,
    )


def interval_name(seconds: float) -> str:
    """``10s``, ``1m``, ``5m``, ``1d``: the interval part of a window's name."""
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


# -- pauses: how long one rate-limit answer may hold a destination --------------------------

# The longest ban each exchange documents on its own hosts (docs/security.md lists them with
# their sources). A pause is never longer: a Retry-After of decades is a bug or a hostile
# answer, not a ban.
LONGEST_DOCUMENTED_BAN_SECONDS: dict[str, float] = {
    "binance": 3 * 24 * 3600.0,  # HTTP 418 IP bans "scale from 2 minutes to 3 days"
    "bybit": 600.0,  # HTTP 403 "access too frequent": wait 10 minutes
    # HTTP 403 firewall bans last "usually 5 minutes", the 418 ban has no published length;
    # the superseded 2023 limits suspended for 1 hour, the longest figure BingX has given
    "bingx": 3600.0,
    # HTTP 429 bans for 60 s and each request during the ban adds 10 s: room for the few a
    # connection may have had in flight when the ban began
    "pionex": 120.0,
    "okx": 600.0,  # documents no ban (50011 is its 2 s window): the general cap
    "orangex": 600.0,  # publishes no REST limits or bans: the general cap
}
# a host that is not the exchange's own (allowlisted, paper) pauses its pool at most this long
OTHER_HOST_PAUSE_CAP_SECONDS = 600.0
# the pause for an answer whose figure is unusable (negative, inf, nan, not a number)
DEFAULT_PAUSE_SECONDS = 1.0


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds, or None when it is missing or not a
    finite, non-negative number ("-5", "inf", "nan", "abc", "1e400", an HTTP date)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def bounded_pause_seconds(seconds: float, *, cap: float) -> float:
    """``seconds`` capped at ``cap``; the default pause for anything that is not a finite,
    non-negative number."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        return min(DEFAULT_PAUSE_SECONDS, cap)
    return min(float(seconds), cap)


def pause_cap_seconds(exchange: str, destination: str) -> float:
    """The longest pause a rate-limit answer from ``destination`` may set: the exchange's
    longest documented ban on its own hosts, OTHER_HOST_PAUSE_CAP_SECONDS anywhere else."""
    if is_official_destination(exchange, destination):
        return LONGEST_DOCUMENTED_BAN_SECONDS.get(exchange, OTHER_HOST_PAUSE_CAP_SECONDS)
    return OTHER_HOST_PAUSE_CAP_SECONDS
