"""The one error body of the API, for every error: ``{success: false, error: {...}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, serializers, status
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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields, **exc.extra),
                        status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(error_body("server_error", "internal server error"),
                        status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    code, default_status = next(
        (value for cls, value in DRF_CODES.items() if isinstance(exc, cls)),
        ("error", response.status_code))
    assert isinstance(exc, exceptions.APIException)
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
    return JsonResponse(error_body("server_error", "internal server error"), status=500)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know, so a typo never passes silently."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise exceptions.ValidationError(
                {"non_field_errors": ["expected a JSON object"]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise exceptions.ValidationError({name: ["unknown field"] for name in unknown})
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string and only a string: 123 or true is a type error, not "123"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictDecimalField(serializers.DecimalField):
    """A number or a numeric string; never a boolean."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, float, str)):
            self.fail("invalid")
        return super().to_internal_value(data)
