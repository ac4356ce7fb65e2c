"""Admin columns that show a decimal as the number it is: ``0.5``, not
``0.500000000000000000`` (a DecimalField with 18 places renders every place)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db import models


def plain_decimal(value: Decimal | None) -> str | None:
    """Plain notation, no exponent, no trailing zeros; None stays None (the admin's dash)."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


# the admin types its columns loosely (a column may answer any value); so do these
Column = Callable[[Any], Any]


def decimal_column(name: str, description: str | None = None) -> Column:
    """A list_display / readonly_fields callable showing field ``name`` plainly."""

    @admin.display(description=description or name.replace("_", " "), ordering=name)
    def column(obj: Any) -> str | None:
        return plain_decimal(getattr(obj, name))

    column.__name__ = f"{name}_plain"
    return column


_COLUMNS: dict[Any, tuple[str | Column, ...]] = {}


def readonly_columns(model: type[models.Model]) -> tuple[str | Column, ...]:
    """Every field of ``model`` as a read-only entry, its decimals shown plainly. Kept per
    model: the admin matches the callables of ``get_fields`` and ``get_readonly_fields`` by
    identity."""
    if model not in _COLUMNS:
        _COLUMNS[model] = tuple(
            decimal_column(field.name, str(field.verbose_name))
            if isinstance(field, models.DecimalField)
            else field.name
            for field in model._meta.fields
        )
    return _COLUMNS[model]
