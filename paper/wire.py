"""What every adapter reads from and writes to the wire, written once.

Each exchange keeps its own words: an adapter builds its ``Refusal``s (code, message, HTTP
status) and hands ``Params`` the function that refuses a bad parameter in its own terms.
What is the same everywhere lives here: the refusal type, plain decimal notation, reading
strings, decimals, integers and choices, the timestamp window, and HMAC signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from aiohttp import web

# -- refusals ---------------------------------------------------------------------------------


class Refusal(Exception):
    """The exchange's own error answer: its code, its message, the HTTP status it comes
    with, and whether authentication failed (counted in the stats as a signature failure)."""

    def __init__(self, code: Any, message: str, *, status: int = 200, auth: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.auth = code, message, status, auth


def note_refusal(request: web.Request, refusal: Refusal) -> None:
    """Tell the gate about a failed authentication (``request["signature_failed"]``)."""
    if refusal.auth:
        request["signature_failed"] = True


# -- numbers out ------------------------------------------------------------------------------


def plain(value: Decimal | int | None, absent: str = "") -> str:
    """Plain notation: no exponent, no trailing zeros, "0" for any zero; ``absent`` for
    None."""
    if value is None:
        return absent
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def fixed(value: Decimal, places: int) -> str:
    """Exactly ``places`` decimals ("0.01000000")."""
    return f"{value:.{places}f}"


def decimal_places(step: Decimal) -> int:
    """Decimal places of a step: 0.01 -> 2, 1 -> 0."""
    exponent = step.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


# -- parameters in ----------------------------------------------------------------------------

Problem = Literal[
    "missing", "not_a_number", "not_positive", "not_an_integer", "out_of_range", "not_allowed"
]
MISSING: Problem = "missing"
NOT_A_NUMBER: Problem = "not_a_number"
NOT_POSITIVE: Problem = "not_positive"
NOT_AN_INTEGER: Problem = "not_an_integer"
OUT_OF_RANGE: Problem = "out_of_range"
NOT_ALLOWED: Problem = "not_allowed"
_INTEGER = re.compile(r"-?[0-9]+")


class Params:
    """One request's parameters, read the way one exchange reads them: ``refuse(name,
    problem)`` is its refusal of a parameter that is missing, malformed or out of range.
    ``blank`` are the values that count as not sent."""

    def __init__(
        self,
        values: Mapping[str, Any],
        refuse: Callable[[str, Problem], Refusal],
        *,
        blank: Collection[Any] = (None, ""),
    ) -> None:
        self.values, self.refuse, self.blank = values, refuse, blank

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def _sent(self, name: str, required: bool) -> Any:
        value = self.values.get(name)
        if value in self.blank:
            if required:
                raise self.refuse(name, MISSING)
            return None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._sent(name, required)
        return None if value is None else str(value)

    def decimal(
        self, name: str, *, required: bool = False, positive: bool = False
    ) -> Decimal | None:
        """A finite decimal, from a string or a JSON number (never true/false)."""
        value = self._sent(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise self.refuse(name, NOT_A_NUMBER)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.refuse(name, NOT_A_NUMBER) from None
        if not number.is_finite():
            raise self.refuse(name, NOT_A_NUMBER)
        if positive and number <= 0:
            raise self.refuse(name, NOT_POSITIVE)
        return number

    def integer(
        self,
        name: str,
        *,
        default: int | None = None,
        low: int | None = None,
        high: int | None = None,
    ) -> int | None:
        """A whole number in digits (``default`` when not sent), within ``low``..``high``."""
        value = self._sent(name, False)
        if value is None:
            return default
        if isinstance(value, bool) or not _INTEGER.fullmatch(str(value)):
            raise self.refuse(name, NOT_AN_INTEGER)
        number = int(str(value))
        if (low is not None and number < low) or (high is not None and number > high):
            raise self.refuse(name, OUT_OF_RANGE)
        return number

    def choice(self, name: str, allowed: Collection[str], *, default: str | None = None) -> str:
        """One of ``allowed`` (``default`` when not sent and there is one)."""
        value = self._sent(name, default is None)
        if value is None:
            return str(default)
        if value not in allowed:
            raise self.refuse(name, NOT_ALLOWED)
        return str(value)


# -- time and signatures ----------------------------------------------------------------------

Staleness = Literal["ahead", "behind"]


def millis(text: str) -> int | None:
    """A millisecond timestamp in digits, or None."""
    return int(text) if text.isdigit() else None


def staleness(
    sent_ms: int, now_ms: int, *, behind_ms: int | Decimal, ahead_ms: int
) -> Staleness | None:
    """None when a request stamped ``sent_ms`` is fresh: at most ``behind_ms`` old and at
    most ``ahead_ms`` ahead of the server's ``now_ms`` (both inclusive)."""
    if sent_ms - now_ms > ahead_ms:
        return "ahead"
    if now_ms - sent_ms > behind_ms:
        return "behind"
    return None


def hmac_sha256(secret: str, payload: str) -> bytes:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()


def hmac_sha256_hex(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256: the signature of every exchange but OKX."""
    return hmac_sha256(secret, payload).hex()


def hmac_sha256_base64(secret: str, payload: str) -> str:
    return base64.b64encode(hmac_sha256(secret, payload)).decode()


def same_secret(given: str, expected: str) -> bool:
    """A signature, passphrase or secret compared in constant time."""
    return hmac.compare_digest(given.encode(), expected.encode())
