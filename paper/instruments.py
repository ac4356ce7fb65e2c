"""The paper exchange's instrument universe, shared by every exchange.

Five coins against USDT, each as spot (``BTC/USDT``) and as a linear perpetual
(``BTC/USDT:USDT``). Tick, lot and minimum quantity follow what the large exchanges list
for these pairs; the minimum notional is 5 USDT everywhere. Exchanges that count contracts
(OKX swaps) get their contract value from ``CONTRACT_OVERRIDES``; 1 elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

QUOTE = "USDT"
MIN_NOTIONAL = Decimal("5")

START_PRICES: dict[str, Decimal] = {
    "BTC": Decimal("60000"),
    "ETH": Decimal("3000"),
    "SOL": Decimal("150"),
    "XRP": Decimal("0.5"),
    "DOGE": Decimal("0.1"),
}

# base -> (tick size, lot size = minimum quantity), in base currency
_SPOT_RULES: dict[str, tuple[str, str]] = {
    "BTC": ("0.01", "0.00001"),
    "ETH": ("0.01", "0.0001"),
    "SOL": ("0.01", "0.001"),
    "XRP": ("0.0001", "0.1"),
    "DOGE": ("0.00001", "1"),
}
_LINEAR_RULES: dict[str, tuple[str, str]] = {
    "BTC": ("0.1", "0.001"),
    "ETH": ("0.01", "0.01"),
    "SOL": ("0.01", "0.1"),
    "XRP": ("0.0001", "1"),
    "DOGE": ("0.00001", "1"),
}

# exchange -> unified symbol -> field overrides. OKX swaps count contracts of ctVal base
# each, traded in lots of 0.01 contracts (DOGE: 0.01 x 1000 = 10 DOGE).
CONTRACT_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = {
    "okx": {
        "BTC/USDT:USDT": {"contract_value": Decimal("0.01")},
        "ETH/USDT:USDT": {"contract_value": Decimal("0.1")},
        "SOL/USDT:USDT": {"contract_value": Decimal("1")},
        "XRP/USDT:USDT": {"contract_value": Decimal("100")},
        "DOGE/USDT:USDT": {
            "contract_value": Decimal("1000"),
            "lot_size": Decimal("10"),
            "min_quantity": Decimal("10"),
        },
    },
}


@dataclass(frozen=True)
class InstrumentSpec:
    """The fields of ``engine.PaperInstrument`` (kept here so this module imports nothing)."""

    symbol: str
    base: str
    quote: str
    kind: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal
    contract_value: Decimal


def _spec(base: str, kind: str, tick: str, lot: str) -> InstrumentSpec:
    symbol = f"{base}/{QUOTE}" if kind == "spot" else f"{base}/{QUOTE}:{QUOTE}"
    return InstrumentSpec(
        symbol=symbol,
        base=base,
        quote=QUOTE,
        kind=kind,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_quantity=Decimal(lot),
        min_notional=MIN_NOTIONAL,
        contract_value=Decimal("1"),
    )


UNIVERSE: tuple[InstrumentSpec, ...] = tuple(
    [_spec(base, "spot", *rules) for base, rules in _SPOT_RULES.items()]
    + [_spec(base, "linear", *rules) for base, rules in _LINEAR_RULES.items()]
)


def specs_for(exchange: str) -> list[InstrumentSpec]:
    """The universe as ``exchange`` lists it, with its contract overrides applied."""
    overrides = CONTRACT_OVERRIDES.get(exchange, {})
    return [replace(spec, **overrides.get(spec.symbol, {})) for spec in UNIVERSE]


def start_price(symbol: str) -> Decimal:
    """The fixed start price of a unified symbol (spot and perpetual start alike)."""
    return START_PRICES[symbol.split("/", 1)[0]]
