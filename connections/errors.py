"""Domain errors raised by services and selectors; the API maps them to the one error body."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status = 400
    code = "validation_error"

    def __init__(self, message: str, *, code: str | None = None,
                 fields: dict[str, list[str]] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}
        self.extra = extra or {}


class ValidationFailed(ServiceError):
    status = 400
    code = "validation_error"


class NotAuthenticated(ServiceError):
    status = 401
    code = "not_authenticated"


class Forbidden(ServiceError):
    status = 403
    code = "permission_denied"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unprocessable(ServiceError):
    status = 422
    code = "unprocessable"


class Unavailable(ServiceError):
    status = 503
    code = "exchange_unavailable"
