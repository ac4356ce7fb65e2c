"""The one error body of the API, for every error: ``{success: false, error: {...}}``.

This module holds the error table (what each exception answers), the DRF exception handler
that applies it, the Django-level handlers (404, 500, CSRF failure) and the strict
serializer fields. Error messages never echo a request body: they name the field and the
rule, not the value.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from decimal import Decimal
from typing import Any

import kombu.exceptions
import psycopg
import redis.exceptions
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views import csrf
from rest_framework import exceptions, serializers, status
from rest_framework.fields import empty
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from connections.errors import ServiceError

logger = logging.getLogger(__name__)

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
    OperationalError, InterfaceError, psycopg.OperationalError,
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
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


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None,
               **extra: Any) -> dict[str, Any]:
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
    return Response(error_body("service_unavailable", "a database or Redis we depend on "
                               "refused the request; retry later"),
                    status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(SERVICE_RETRY_AFTER_SECONDS)})


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


# Answers that ask the client to come back later carry Retry-After (the error's own
# retryAfter when it knows how long, else the service default).
RETRY_STATUSES = (429, 503)


def api_field_name(name: str) -> str:
    """A domain (model, service) field name as the API spells it: ``api_type`` ->
    ``apiType``. Services name fields in domain terms; the error body names them so."""
    return _SNAKE_SEPARATOR.sub(lambda match: match.group(1).upper(), name)


_SNAKE_SEPARATOR = re.compile(r"_([a-z0-9])")


def _service_error_response(exc: ServiceError) -> Response:
    extra = dict(exc.extra)
    if "retryAfter" in extra:  # a number JSON can carry: never inf or nan
        extra["retryAfter"] = _seconds(extra["retryAfter"])
    fields = {api_field_name(name): messages for name, messages in exc.fields.items()}
    response = Response(error_body(exc.code, exc.message, fields, **extra),
                        status=exc.status)
    if exc.status in RETRY_STATUSES:
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
    if isinstance(exc, ServiceError):
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
        return Response(error_body("server_error", "internal server error"),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if not isinstance(exc, exceptions.APIException):
        return response
    code, default_status = next(
        (value for cls, value in DRF_CODES.items() if isinstance(exc, cls)),
        ("error", response.status_code))
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
        return JsonResponse(error_body("service_unavailable", "a database or Redis we depend "
                                       "on refused the request; retry later"), status=503,
                            headers={"Retry-After": str(SERVICE_RETRY_AFTER_SECONDS)})
    return JsonResponse(error_body("server_error", "internal server error"), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: under /api/ the JSON 403, elsewhere (the admin) Django's page."""
    if is_api_path(request.path_info):
        return JsonResponse(error_body("permission_denied", f"CSRF check failed: {reason}"),
                            status=403)
    return csrf.csrf_failure(request, reason=reason)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, so a typo never passes silently."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["expected a JSON object"]})
        repeated = sorted(name for name in data if len(_values_of(data, name)) > 1)
        if repeated:
            raise exceptions.ValidationError(
                {name: ["give this parameter once"] for name in repeated})
        # a query string's blank value (?exchange=) is no value: DRF would drop it silently
        blank = sorted(name for name in data if hasattr(data, "getlist") and data[name] == "")
        if blank:
            raise exceptions.ValidationError(
                {name: ["give a value, or leave the parameter out"] for name in blank})
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
WHITESPACE = ("\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a"
              "\\u2028\\u2029\\u202f\\u205f\\u3000")
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class StrictCharField(serializers.CharField):
    """A string and only a string: 123 or true is a type error, not "123". The length is
    judged on the string as sent (before trimming), and ``pattern``, when given, must match
    it whole: the rules the schema states (config.openapi) are exactly the ones applied."""

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


def decimal_pattern(*, whole_digits: int, decimal_places: int, positive: bool,
                    at_most: int | None) -> str:
    """A decimal string in plain notation (no sign, exponent or spaces): at most
    ``whole_digits`` digits before the point and ``decimal_places`` after it; above zero
    when ``positive``; at most ``at_most`` (a power of ten) when given."""
    fraction = f"(?:\\.[0-9]{{1,{decimal_places}}})?"
    nonzero = "(?=[0.]*[1-9])" if positive else ""
    if at_most is None:
        return f"^{nonzero}[0-9]{{1,{whole_digits}}}{fraction}$"
    digits = len(str(at_most)) - 1
    return (f"^(?:{at_most}(?:\\.0{{1,{decimal_places}}})?"
            f"|{nonzero}[0-9]{{1,{digits}}}{fraction})$")


class StrictDecimalField(serializers.DecimalField):
    """A decimal amount in a request: a string in plain notation matching
    ``decimal_pattern``, or a JSON number that is a multiple of 10^-decimal_places within
    the bounds (JSON numbers arrive as Decimal, config.parsers, so no digit is lost to a
    float). Never a boolean. The schema states both forms (config.openapi)."""

    def __init__(self, *, whole_digits: int, decimal_places: int, positive: bool = True,
                 at_most: int | None = None, **kwargs: Any) -> None:
        self.whole_digits = whole_digits
        self.positive = positive
        self.at_most = at_most
        self.pattern = decimal_pattern(whole_digits=whole_digits, decimal_places=decimal_places,
                                       positive=positive, at_most=at_most)
        super().__init__(max_digits=whole_digits + decimal_places,
                         decimal_places=decimal_places, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        # DRF's DecimalField takes a blank string for null; a blank string is no number
        return serializers.Field.validate_empty_values(self, data)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            if not re.fullmatch(self.pattern, data):
                raise serializers.ValidationError(
                    f"a decimal string matching {self.pattern}, or a JSON number")
            return super().to_internal_value(data)
        if isinstance(data, bool) or not isinstance(data, (int, Decimal)):
            self.fail("invalid")
        return super().to_internal_value(self._checked_number(Decimal(data)))

    def _checked_number(self, value: Decimal) -> Decimal:
        if not value.is_finite():
            self.fail("invalid")
        if value < 0 or (self.positive and value == 0):
            raise serializers.ValidationError("must be greater than 0" if self.positive
                                              else "must not be negative")
        limit = self.at_most if self.at_most is not None else 10 ** self.whole_digits
        if value > limit or (self.at_most is None and value == limit):
            raise serializers.ValidationError(f"must be less than {limit}" if self.at_most
                                              is None else f"must be at most {limit}")
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
            bounds.update(maximum=10 ** self.whole_digits, exclusiveMaximum=True)
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


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds (RFC 9110), at least 1 for a wait still running; a
    wait that is no finite number gets the service default."""
    if not math.isfinite(seconds):
        seconds = SERVICE_RETRY_AFTER_SECONDS
    return str(min(max(1, math.ceil(seconds)), MAX_RETRY_AFTER_SECONDS))
