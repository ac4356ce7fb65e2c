"""The one error hierarchy every connector raises, and the table-driven mapping helper.

Retryable and permanent errors are told apart by class (``retryable``). Messages never
carry credentials: connectors build them from exchange codes and exchange messages only.
Nor do they carry an exchange's raw body: a message is one printable line of at most
MAX_REASON_CHARS, a code at most MAX_CODE_CHARS, whatever the exchange (or a host posing as
one) answered, because both reach our API (test results, order errorMessage).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_REASON_CHARS = 200
MAX_CODE_CHARS = 40


def one_short_line(text: object, *, limit: int) -> str:
    """``text`` as one line of printable characters, cut to ``limit`` (with an ellipsis)."""
    printable = "".join(char if char.isprintable() else " " for char in str(text))
    line = " ".join(printable.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class ExchangeError(Exception):
    retryable = False

    def __init__(
        self,
        message: str = "",
        *,
        code: str | int | None = None,
        exchange: str = "",
        http_status: int | None = None,
    ) -> None:
        message = one_short_line(message, limit=MAX_REASON_CHARS)
        super().__init__(message)
        self.message = message
        self.code = None if code is None else one_short_line(code, limit=MAX_CODE_CHARS)
        self.exchange = exchange
        self.http_status = http_status

    def __str__(self) -> str:
        prefix = f"{self.exchange} " if self.exchange else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{prefix}{code}{self.message}".strip()


class AuthenticationError(ExchangeError):
    """Bad key, bad signature, expired key: the credentials themselves are wrong."""


class PermissionDenied(AuthenticationError):
    """The key is valid but lacks the permission (or IP whitelist) for this call."""


class InvalidRequest(ExchangeError):
    """The request is malformed or names an unknown symbol/parameter."""


class NotSupported(ExchangeError):
    """The exchange (or this api type / environment) does not offer the operation."""


class InsufficientFunds(ExchangeError):
    pass


class InvalidOrder(ExchangeError):
    """The order breaks a rule: size, price, filters, reduce-only, post-only."""


class OrderNotFound(InvalidOrder):
    pass


class DuplicateOrder(InvalidOrder):
    """The exchange refused a client order id it already holds (in its own scope)."""


class HedgeModeUnsupported(InvalidRequest):
    """The account is in hedge (two-way) position mode; we support one-way only."""


class DestinationNotAllowed(InvalidRequest):
    """The destination's address is not one a connection may reach."""


class RateLimited(ExchangeError):
    retryable = True

    def __init__(self, message: str = "", *, retry_after: float = 1.0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = float(retry_after)


class ExchangeUnavailable(ExchangeError):
    """Maintenance or overload, answered before anything was done."""

    retryable = True


class NetworkError(ExchangeError):
    """The request surely never reached the exchange: refused, DNS, connect timeout."""

    retryable = True


class OrderOutcomeUnknown(ExchangeError):
    """The request may have arrived: read timeout, reset, 5xx on a write, "status unknown" codes.

    ``deadline_ms`` is the exchange server time (ms) after which the original request can no
    longer be accepted (timestamp + recvWindow, OKX expTime ...), or None when it carried none.
    """

    def __init__(
        self, message: str = "", *, deadline_ms: int | None = None, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.deadline_ms = deadline_ms


class RequestTimeout(OrderOutcomeUnknown):
    pass


@dataclass(frozen=True)
class ErrorTable:
    """Exact code -> class, then message substrings as a last resort, then HTTP status.

    ``rate_limit_pause`` gives the pause (seconds) for codes that mean "slow down" when the
    exchange sends no Retry-After of its own.
    """

    exact: Mapping[str, type[ExchangeError]] = field(default_factory=dict)
    substrings: Sequence[tuple[str, type[ExchangeError]]] = ()
    http_status: Mapping[int, type[ExchangeError]] = field(default_factory=dict)
    rate_limit_pause: Mapping[str, float] = field(default_factory=dict)

    def classify(
        self, *, code: str | int | None, message: str, http_status: int | None
    ) -> type[ExchangeError]:
        if code is not None and str(code) in self.exact:
            return self.exact[str(code)]
        lowered = message.lower()
        for needle, error_class in self.substrings:
            if needle.lower() in lowered:
                return error_class
        if http_status is not None:
            if http_status in self.http_status:
                return self.http_status[http_status]
            if http_status >= 500:
                return ExchangeUnavailable
        return ExchangeError
