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
        raise InvalidRequest(
            f"only linear perpetuals are supported, not {symbol!r}", code="bad_symbol"
        )
    return Market(base=base, quote=quote, settle=settle)


# -- exchange names ------------------------------------------------------------------------
# Each module names its markets one way (BTCUSDT, BTC-USDT, BTC_USDT_PERP ...); these build
# and split such names so that no module writes the unified form by hand.


def unified(base: str, quote: str, kind: str) -> str:
    """``BTC``, ``USDT``, ``spot`` -> ``BTC/USDT``; ``linear`` -> ``BTC/USDT:USDT``."""
    return f"{base}/{quote}:{quote}" if kind == "linear" else f"{base}/{quote}"


def joined_symbol(market: Market, separator: str = "", perpetual_suffix: str = "") -> str:
    """The exchange's name: base and quote joined, plus a suffix for perpetuals
    (``BTCUSDT``; ``BTC-USDT-SWAP`` with ``-`` and ``-SWAP``)."""
    name = f"{market.base}{separator}{market.quote}"
    return f"{name}{perpetual_suffix}" if market.is_perpetual else name


def split_by_quote(name: str, quotes: tuple[str, ...]) -> tuple[str, str] | None:
    """(base, quote) of a name without separator (``BTCUSDT``): the first of ``quotes``
    it ends with, so list longer quotes first; None when none fits."""
    for quote in quotes:
        if name.endswith(quote) and len(name) > len(quote):
            return name[: -len(quote)], quote
    return None


def split_by_separator(name: str, separator: str) -> tuple[str, str] | None:
    """(base, quote) of ``BTC-USDT`` (or ``BTC_USDT``); None unless exactly two parts."""
    parts = name.split(separator)
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
