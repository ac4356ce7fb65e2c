"""Strict serializer fields: each accepts exactly what the schema states (core.schema
describes them), so a typo, a wrong type or a stray key never passes silently."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from rest_framework import exceptions, serializers
from rest_framework.fields import empty


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, so a typo never passes silently."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise exceptions.ValidationError({"non_field_errors": ["expected a JSON object"]})
        repeated = sorted(name for name in data if len(_values_of(data, name)) > 1)
        if repeated:
            raise exceptions.ValidationError(
                {name: ["give this parameter once"] for name in repeated}
            )
        # a query string's blank value (?exchange=) is no value: DRF would drop it silently
        blank = sorted(name for name in data if hasattr(data, "getlist") and data[name] == "")
        if blank:
            raise exceptions.ValidationError(
                {name: ["give a value, or leave the parameter out"] for name in blank}
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise exceptions.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


def _values_of(data: Any, name: str) -> list[Any]:
    """Every value given for a name: a query string may repeat one (``limit=abc&limit=``),
    which a QueryDict would silently reduce to its last value."""
    return data.getlist(name) if hasattr(data, "getlist") else [data[name]]


# Python's whitespace (what str.strip() removes and re's \s matches), spelled out: regex
# engines disagree on \s, and a schema pattern must mean the same to every client.
WHITESPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class StrictCharField(serializers.CharField):
    """A string and only a string: 123 or true is a type error, not "123". The length is
    judged on the string as sent (before trimming), and ``pattern``, when given, must match
    it whole: the rules the schema states (core.schema) are exactly the ones applied."""

    def __init__(self, *, pattern: str | None = None, **kwargs: Any) -> None:
        self.pattern = pattern
        super().__init__(**kwargs)

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and not (data == "" and self.allow_blank):
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
            if self.pattern is not None and not re.fullmatch(self.pattern, data):
                raise serializers.ValidationError(f"must match {self.pattern}")
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    def schema_pattern(self) -> str:
        """The pattern the schema states for a string that is not blank (drf-spectacular
        adds the blank string beside it where it is allowed): the field's own, else what
        CharField enforces (no NUL character; something besides whitespace, when trimming
        and no blank is allowed)."""
        if self.pattern is not None:
            return self.pattern
        if self.trim_whitespace and not self.allow_blank:
            return f"^[^\\x00]*[^\\x00{WHITESPACE}][^\\x00]*$"
        return "^[^\\x00]+$"


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as 8-4-4-4-12 hex digits, and only that: DRF's UUIDField also takes
    32 bare hex digits, braces, a ``urn:uuid:`` prefix, and turns the JSON number 5 into
    00000000-0000-0000-0000-000000000005 (a 404 instead of a 400)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not re.fullmatch(UUID_PATTERN, data):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF's IntegerField also takes "5", 5.0 and "1_0"."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """An integer in a query string: ASCII digits with an optional minus sign, nothing else
    (Python's int() would take " 5", "+5", "1_0" and other scripts' digits)."""

    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, str) or not re.fullmatch(r"-?[0-9]{1,20}", data):
            self.fail("invalid")
        return super().to_internal_value(data)


def decimal_pattern(
    *, whole_digits: int, decimal_places: int, positive: bool, at_most: int | None
) -> str:
    """A decimal string in plain notation (no sign, exponent or spaces): at most
    ``whole_digits`` digits before the point and ``decimal_places`` after it; above zero
    when ``positive``; at most ``at_most`` (a power of ten) when given."""
    fraction = f"(?:\\.[0-9]{{1,{decimal_places}}})?"
    nonzero = "(?=[0.]*[1-9])" if positive else ""
    if at_most is None:
        return f"^{nonzero}[0-9]{{1,{whole_digits}}}{fraction}$"
    digits = len(str(at_most)) - 1
    return f"^(?:{at_most}(?:\\.0{{1,{decimal_places}}})?|{nonzero}[0-9]{{1,{digits}}}{fraction})$"


class StrictDecimalField(serializers.DecimalField):
    """A decimal amount in a request: a string in plain notation matching
    ``decimal_pattern``, or a JSON number that is a multiple of 10^-decimal_places within
    the bounds (the API parses JSON numbers as Decimal, so no digit is lost to a
    float). Never a boolean. The schema states both forms (core.schema)."""

    def __init__(
        self,
        *,
        whole_digits: int,
        decimal_places: int,
        positive: bool = True,
        at_most: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.whole_digits = whole_digits
        self.positive = positive
        self.at_most = at_most
        self.pattern = decimal_pattern(
            whole_digits=whole_digits,
            decimal_places=decimal_places,
            positive=positive,
            at_most=at_most,
        )
        super().__init__(
            max_digits=whole_digits + decimal_places, decimal_places=decimal_places, **kwargs
        )

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # DRF's DecimalField takes a blank string for null; a blank string is no number
        return serializers.Field.validate_empty_values(self, data)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            if not re.fullmatch(self.pattern, data):
                raise serializers.ValidationError(
                    f"a decimal string matching {self.pattern}, or a JSON number"
                )
            return super().to_internal_value(data)
        if isinstance(data, bool) or not isinstance(data, (int, Decimal)):
            self.fail("invalid")
        return super().to_internal_value(self._checked_number(Decimal(data)))

    def _checked_number(self, value: Decimal) -> Decimal:
        if not value.is_finite():
            self.fail("invalid")
        if value < 0 or (self.positive and value == 0):
            raise serializers.ValidationError(
                "must be greater than 0" if self.positive else "must not be negative"
            )
        limit = self.at_most if self.at_most is not None else 10**self.whole_digits
        if value > limit or (self.at_most is None and value == limit):
            raise serializers.ValidationError(
                f"must be less than {limit}" if self.at_most is None else f"must be at most {limit}"
            )
        exact = _without_trailing_zeros(value)
        if exact.as_tuple().exponent < -self.decimal_places:  # type: ignore[operator]
            self.fail("max_decimal_places", max_decimal_places=self.decimal_places)
        return exact

    def number_bounds(self) -> dict[str, Any]:
        """The JSON-number form's bounds, as OpenAPI 3.0 spells them."""
        bounds: dict[str, Any] = {"minimum": 0}
        if self.positive:
            bounds["exclusiveMinimum"] = True
        if self.at_most is not None:
            bounds["maximum"] = self.at_most
        else:
            bounds.update(maximum=10**self.whole_digits, exclusiveMaximum=True)
        bounds["multipleOf"] = float(f"1e-{self.decimal_places}") if self.decimal_places else 1
        return bounds


def _without_trailing_zeros(value: Decimal) -> Decimal:
    """The same number with its trailing zeros dropped, exactly: Decimal.normalize() rounds
    to the context's precision and flushes tiny exponents to zero (1e-999999999 -> 0)."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the caller
    if not any(digits):
        return Decimal(0)
    kept = len(digits)
    while kept > 1 and digits[kept - 1] == 0:
        kept -= 1
    return Decimal((sign, digits[:kept], exponent + len(digits) - kept))
