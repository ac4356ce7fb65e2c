"""The one error body of the API, for every error: ``{success: false, error: {...}}``.

This module holds the error tables (what each exception answers: the domain errors of
core.errors and the apps, DRF's, Django's), the DRF exception handler that applies them and
the Django-level handlers (404, 500, CSRF failure). Error messages never echo a request
body: they name the field and the rule, not the value.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from typing import Any

import kombu.exceptions
import psycopg
import redis.exceptions
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views import csrf
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core import errors
from core.schema import RETRY_STATUSES

logger = logging.getLogger(__name__)

# The HTTP status of each domain error (core.errors): the nearest class in an error's MRO
# decides, so an app's own error (orders.prechecks.RiskLimit, an Unprocessable) answers as
# its kind does. The error's code and body come from the error itself.
SERVICE_ERROR_STATUSES: dict[type[errors.ServiceError], int] = {
    errors.ServiceError: 400,
    errors.ValidationFailed: 400,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unprocessable: 422,
    errors.Throttled: 429,
    errors.ExchangeFailed: 502,
    errors.Unavailable: 503,
}

DRF_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", 401),
    exceptions.AuthenticationFailed: ("not_authenticated", 401),
    exceptions.PermissionDenied: ("permission_denied", 403),
    exceptions.NotFound: ("not_found", 404),
    exceptions.MethodNotAllowed: ("method_not_allowed", 405),
    exceptions.NotAcceptable: ("not_acceptable", 406),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", 415),
    exceptions.Throttled: ("throttled", 429),
    exceptions.ParseError: ("validation_error", 400),
    exceptions.ValidationError: ("validation_error", 400),
}

# How long a client should wait before retrying when our own database or Redis refused.
SERVICE_RETRY_AFTER_SECONDS = 5
# the longest wait a Retry-After names (the longest pause the limiter applies, 10 minutes)
MAX_RETRY_AFTER_SECONDS = 600
# Our own infrastructure refusing: the database (Django wraps psycopg's errors, including
# psycopg_pool's PoolTimeout, an OperationalError), Redis (the cache, throttles, locks) and
# the Celery broker (kombu, when a task cannot be enqueued). A 503 with Retry-After.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)

# Django-level failures (not DRF's), most specific first: what the request itself got wrong.
DJANGO_CODES: tuple[tuple[type[BaseException], str, int, str], ...] = (
    (RequestDataTooBig, "request_too_large", 413, "the request body is too large"),
    (UnreadablePostError, "validation_error", 400, "the request body could not be read"),
    (SuspiciousOperation, "bad_request", 400, "bad request"),  # e.g. too many fields
    (BadRequest, "bad_request", 400, "bad request"),
)

# An error status with no richer cause at hand (a response built outside DRF): its code.
STATUS_CODES = {
    400: ("bad_request", "bad request"),
    401: ("not_authenticated", "authentication credentials were not provided"),
    403: ("permission_denied", "permission denied"),
    404: ("not_found", "not found"),
    405: ("method_not_allowed", "method not allowed"),
    406: ("not_acceptable", "not acceptable"),
    413: ("request_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "unsupported media type"),
    429: ("throttled", "too many requests"),
    503: ("service_unavailable", "the service is unavailable; retry later"),
}


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    error.update(extra)
    return {"success": False, "error": error}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail -> {camelCaseField: [messages]}."""
    if not isinstance(detail, dict):
        return {}
    fields: dict[str, list[str]] = {}
    for name, messages in detail.items():
        if isinstance(messages, dict):
            for inner, inner_messages in _flatten(messages).items():
                fields[f"{name}.{inner}"] = inner_messages
        elif isinstance(messages, list):
            fields[name] = [str(message) for message in messages]
        else:
            fields[name] = [str(messages)]
    return fields


def _message(exc: exceptions.APIException, fields: dict[str, list[str]]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if fields:
            first = next(iter(fields.items()))
            return f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        detail = exc.detail
        if isinstance(detail, list) and detail:
            return str(detail[0])
    return str(exc.detail) if not isinstance(exc.detail, (dict, list)) else "invalid input"


def status_error_body(status_code: int) -> dict[str, Any]:
    code, message = STATUS_CODES.get(status_code, ("server_error", "internal server error"))
    return error_body(code, message)


def service_unavailable_response() -> Response:
    return Response(
        error_body(
            "service_unavailable",
            "a database or Redis we depend on refused the request; retry later",
        ),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(SERVICE_RETRY_AFTER_SECONDS)},
    )


def _django_error(exc: Exception) -> Response | None:
    for cls, code, status_code, message in DJANGO_CODES:
        if isinstance(exc, cls):
            return Response(error_body(code, message), status=status_code)
    if isinstance(exc, INFRASTRUCTURE_ERRORS):
        logger.warning("infrastructure refused: %s", type(exc).__name__)
        return service_unavailable_response()
    return None


def _as_json(context: dict[str, Any]) -> None:
    """Errors render as JSON whatever was negotiated (the schema view's YAML, text/html)."""
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def service_error_status(exc: errors.ServiceError) -> int:
    return next(
        SERVICE_ERROR_STATUSES[cls] for cls in type(exc).__mro__ if cls in SERVICE_ERROR_STATUSES
    )


def api_field_name(name: str) -> str:
    """A domain (model, service) field name as the API spells it: ``api_type`` ->
    ``apiType``. Services name fields in domain terms; the error body names them so."""
    return _SNAKE_SEPARATOR.sub(lambda match: match.group(1).upper(), name)


_SNAKE_SEPARATOR = re.compile(r"_([a-z0-9])")


def _api_extra(exc: errors.ServiceError) -> dict[str, Any]:
    """An error's extra keys as the API spells them (``retry_after`` -> ``retryAfter``), and
    the values that name a field too (``limit: max_order_notional`` -> ``maxOrderNotional``)."""
    return {
        api_field_name(name): api_field_name(value) if name in exc.field_extras else value
        for name, value in exc.extra.items()
    }


def _service_error_response(exc: errors.ServiceError) -> Response:
    extra = _api_extra(exc)
    if "retryAfter" in extra:  # a number JSON can carry: never inf or nan
        extra["retryAfter"] = _seconds(extra["retryAfter"])
    status_code = service_error_status(exc)
    fields = {api_field_name(name): messages for name, messages in exc.fields.items()}
    response = Response(error_body(exc.code, exc.message, fields, **extra), status=status_code)
    if status_code in RETRY_STATUSES:
        wait = extra.get("retryAfter", SERVICE_RETRY_AFTER_SECONDS)
        response["Retry-After"] = retry_after_header(wait)
    return response


def _seconds(value: Any) -> float:
    """A wait in seconds, finite and within MAX_RETRY_AFTER_SECONDS."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return float(SERVICE_RETRY_AFTER_SECONDS)
    if not math.isfinite(seconds):
        return float(SERVICE_RETRY_AFTER_SECONDS)
    return min(max(seconds, 0.0), float(MAX_RETRY_AFTER_SECONDS))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    _as_json(context)
    if isinstance(exc, errors.ServiceError):
        return _service_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        response = _django_error(exc)
    if response is None:
        logger.error("unhandled API error", exc_info=exc)
        return Response(
            error_body("server_error", "internal server error"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if not isinstance(exc, exceptions.APIException):
        return response
    code, default_status = next(
        (value for cls, value in DRF_CODES.items() if isinstance(exc, cls)),
        ("error", response.status_code),
    )
    fields = _flatten(exc.detail) if isinstance(exc, exceptions.ValidationError) else {}
    fields.pop("non_field_errors", None) if len(fields) > 1 else None
    if isinstance(exc, exceptions.ValidationError) and set(fields) == {"non_field_errors"}:
        message = fields.pop("non_field_errors")[0]
    else:
        message = _message(exc, fields)
    response.data = error_body(code, message, fields)
    response.status_code = default_status if code != "error" else response.status_code
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "not found"), status=404)


def json_server_error(request: HttpRequest) -> JsonResponse:
    """Django's handler500, called while the exception is being handled: our database or
    Redis refusing is a 503 with Retry-After, anything else the plain 500."""
    if isinstance(sys.exc_info()[1], INFRASTRUCTURE_ERRORS):
        return JsonResponse(
            error_body(
                "service_unavailable",
                "a database or Redis we depend on refused the request; retry later",
            ),
            status=503,
            headers={"Retry-After": str(SERVICE_RETRY_AFTER_SECONDS)},
        )
    return JsonResponse(error_body("server_error", "internal server error"), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: under /api/ the JSON 403, elsewhere (the admin) Django's page."""
    if is_api_path(request.path_info):
        return JsonResponse(
            error_body("permission_denied", f"CSRF check failed: {reason}"), status=403
        )
    return csrf.csrf_failure(request, reason=reason)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds (RFC 9110), at least 1 for a wait still running; a
    wait that is no finite number gets the service default."""
    if not math.isfinite(seconds):
        seconds = SERVICE_RETRY_AFTER_SECONDS
    return str(min(max(1, math.ceil(seconds)), MAX_RETRY_AFTER_SECONDS))
