"""The rate-limit table of DESIGN.md section 6: budgets shared by everything behind one IP.

Per exchange: request weight per second and per minute (simple requests weigh 1) and a
concurrency cap. Each exchange module adds its per-endpoint weights (``Connector.weights``)
and per-key limits (``KEY_LIMITS`` in the module). ``EXCHANGE_RATE_LIMITS`` (JSON) overrides
any number: ``{"binance": {"per_second": 20}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace


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
