"""Reading exchange payloads: strings and numbers to ``Decimal`` and ``int``, written once.

Exchanges send amounts as strings (``"0.010"``), numbers (``0.01``), empty strings or not at
all; every parser in every module reads them through these helpers so that an empty field
means the same thing everywhere. Floats are read through ``str`` so that ``0.1`` stays
``Decimal("0.1")``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

ZERO = Decimal("0")


def decimal_or_none(value: Any) -> Decimal | None:
    """``None`` for a missing or empty field, else the value as a Decimal."""
    if value in (None, ""):
        return None
    return Decimal(str(value))


def decimal_or_zero(value: Any) -> Decimal:
    """A missing or empty field as zero (balances, fills)."""
    return decimal_or_none(value) or ZERO


def positive_or_none(value: Any) -> Decimal | None:
    """The value when above zero, else None: exchanges send ``"0"`` for "no price yet"."""
    number = decimal_or_none(value)
    return number if number is not None and number > 0 else None


def int_or_none(value: Any) -> int | None:
    """A millisecond timestamp or count, None when missing or empty."""
    return None if value in (None, "") else int(value)


def format_decimal(value: Decimal) -> str:
    """Plain notation for the wire: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"
