"""Exchange name -> connector class. Modules are imported on first use."""

from __future__ import annotations

import importlib

from exchanges.base import Connector
from exchanges.capabilities import EXCHANGES
from exchanges.limits import Budget


def connector_class(exchange: str) -> type[Connector]:
    if exchange not in EXCHANGES:
        raise KeyError(f"unknown exchange {exchange!r}")
    module = importlib.import_module(f"exchanges.{exchange}")
    return module.CONNECTOR


def published_budgets() -> dict[str, Budget]:
    """Every exchange's rate windows as it publishes them (``Connector.rate_limits``)."""
    return {exchange: connector_class(exchange).rate_limits for exchange in EXCHANGES}
