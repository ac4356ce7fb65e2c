"""Reading exchange payloads: strings and numbers to ``Decimal`` and ``int``, written once.

Exchanges send amounts as strings (``"0.010"``), numbers (``0.01``), empty strings or not at
all; every parser in every module reads them through these helpers so that an empty field
means the same thing everywhere. Floats are read through ``str`` so that ``0.1`` stays
``Decimal("0.1")``.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


def iso_datetime_or_none(value: Any) -> datetime | None:
    """An ISO 8601 time (``2023-12-01T02:36:06Z``) as UTC; None when missing, empty or not
    a time (a key-info field we must not fail a connection test over)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def epoch_ms_datetime_or_none(value: Any) -> datetime | None:
    """Epoch milliseconds as a UTC time; None when missing, empty, zero or not a number."""
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(millis / 1000, tz=UTC) if millis > 0 else None


def format_decimal(value: Decimal) -> str:
    """Plain notation for the wire: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"
