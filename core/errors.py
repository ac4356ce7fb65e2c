"""Domain errors raised by services and selectors. Each class names a kind of refusal and
its code; which HTTP status answers it is the API layer's business (config.api)."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """``fields`` and ``extra`` are keyed by domain (snake_case) names, and the extras named
    in ``field_extras`` hold a field's name as their value (``limit: max_order_notional``);
    the API layer spells all of them its own way."""

    code = "validation_error"
    field_extras: tuple[str, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ServiceError):
    code = "validation_error"


class NotAuthenticated(ServiceError):
    code = "not_authenticated"


class Forbidden(ServiceError):
    code = "permission_denied"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class Unprocessable(ServiceError):
    code = "unprocessable"


class Unavailable(ServiceError):
    code = "exchange_unavailable"


class Throttled(ServiceError):
    """A rate budget (the exchange's, as our limiter counts it) is spent for now."""

    code = "throttled"


class ExchangeFailed(ServiceError):
    """The exchange answered and refused the request."""

    code = "exchange_error"
