"""The rate-limit table (docs/architecture.md): budgets shared by everything behind one IP.

Per exchange: request weight per second and per minute (simple requests weigh 1) and a
concurrency cap. Each exchange module adds its per-endpoint weights (``Connector.weights``)
and per-key limits (``KEY_LIMITS`` in the module). ``EXCHANGE_RATE_LIMITS`` (JSON) overrides
any number: ``{"binance": {"per_second": 20}}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from exchanges.hosts import is_official_destination


@dataclass(frozen=True)
class ExchangeLimit:
    per_second: int
    per_minute: int
    concurrent: int


DEFAULT_LIMITS: dict[str, ExchangeLimit] = {
    "bybit": ExchangeLimit(per_second=8, per_minute=120, concurrent=5),
    "binance": ExchangeLimit(per_second=10, per_minute=1200, concurrent=10),
    "okx": ExchangeLimit(per_second=20, per_minute=600, concurrent=10),
    "bingx": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "pionex": ExchangeLimit(per_second=8, per_minute=100, concurrent=3),
    "orangex": ExchangeLimit(per_second=5, per_minute=100, concurrent=3),
}


def load_limits(overrides: str | Mapping[str, Mapping[str, int]] | None = None
                ) -> dict[str, ExchangeLimit]:
    """The table with overrides applied; raises ValueError on a malformed override."""
    table = dict(DEFAULT_LIMITS)
    if not overrides:
        return table
    data = json.loads(overrides) if isinstance(overrides, str) else overrides
    if not isinstance(data, Mapping):
        raise ValueError("EXCHANGE_RATE_LIMITS must be a JSON object keyed by exchange")
    for exchange, values in data.items():
        if exchange not in table or not isinstance(values, Mapping):
            raise ValueError(f"EXCHANGE_RATE_LIMITS: unknown exchange {exchange!r}")
        changes: dict[str, int] = {}
        for key, value in values.items():
            field_name = key if key in ("per_second", "per_minute", "concurrent") else {
                "perSecond": "per_second", "perMinute": "per_minute"}.get(key)
            if field_name is None or not isinstance(value, int) or value <= 0:
                raise ValueError(f"EXCHANGE_RATE_LIMITS: bad {exchange}.{key}={value!r}")
            changes[field_name] = value
        table[exchange] = replace(table[exchange], **changes)
    return table


# -- pauses: how long one rate-limit answer may hold a destination --------------------------

# The longest ban each exchange documents on its own hosts (docs/security.md lists them with
# their sources). A pause is never longer: a Retry-After of decades is a bug or a hostile
# answer, not a ban.
LONGEST_DOCUMENTED_BAN_SECONDS: dict[str, float] = {
    "binance": 3 * 24 * 3600.0,  # HTTP 418 IP bans "scale from 2 minutes to 3 days"
    "bybit": 600.0,              # HTTP 403 "access too frequent": wait 10 minutes
    # HTTP 403 firewall bans last "usually 5 minutes", the 418 ban has no published length;
    # the superseded 2023 limits suspended for 1 hour, the longest figure BingX has given
    "bingx": 3600.0,
    # HTTP 429 bans for 60 s and each request during the ban adds 10 s: room for the few a
    # connection may have had in flight when the ban began
    "pionex": 120.0,
    "okx": 600.0,                # documents no ban (50011 is its 2 s window): the general cap
    "orangex": 600.0,            # publishes no REST limits or bans: the general cap
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
