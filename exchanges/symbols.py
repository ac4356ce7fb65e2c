"""Unified (ccxt-style) symbols: ``BTC/USDT`` for spot, ``BTC/USDT:USDT`` for linear perpetuals."""

from __future__ import annotations

import re
from dataclasses import dataclass

from exchanges.errors import InvalidRequest

_SYMBOL = re.compile(r"^([A-Z0-9]{1,20})/([A-Z0-9]{1,20})(?::([A-Z0-9]{1,20}))?$")


@dataclass(frozen=True)
class Market:
    base: str
    quote: str
    settle: str | None = None

    @property
    def is_perpetual(self) -> bool:
        return self.settle is not None

    @property
    def kind(self) -> str:
        """``spot`` or ``linear``: the product a connector routes the symbol to."""
        return "linear" if self.is_perpetual else "spot"

    @property
    def symbol(self) -> str:
        unified = f"{self.base}/{self.quote}"
        return f"{unified}:{self.settle}" if self.settle else unified


def parse_symbol(symbol: str) -> Market:
    match = _SYMBOL.match(symbol.strip().upper()) if isinstance(symbol, str) else None
    if not match:
        raise InvalidRequest(
            f"symbol {symbol!r} is not in unified form (BTC/USDT or BTC/USDT:USDT)",
            code="bad_symbol",
        )
    base, quote, settle = match.groups()
    if settle is not None and settle != quote:
        raise InvalidRequest(f"only linear perpetuals are supported, not {symbol!r}",
                             code="bad_symbol")
    return Market(base=base, quote=quote, settle=settle)
