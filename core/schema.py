"""What the apps' views and serializers tell drf-spectacular that it cannot see by itself:
the one error body, the answers every operation may give, and what the strict fields and
serializers of core.fields accept (so the schema states exactly the rules the server
applies).

Views describe an operation with ``api_operation(ok={...}, errors=...)``: their success
bodies, plus one error response per status listing the codes that operation can answer,
all with the ``Error`` component, and Retry-After on 429 and 503.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.fields import empty

from core.fields import UUID_PATTERN

ErrorCodes = Mapping[int, Sequence[str]]

# Answers that ask the client to come back later carry Retry-After (the error's own
# retryAfter when it knows how long, else the service default).
RETRY_STATUSES = (429, 503)

# What each status means, whatever code it carries.
STATUS_MEANINGS = {
    400: "The request breaks a rule this schema states (validation_error; fields names "
    "each field and its messages), or is malformed below the API (bad_request: too "
    "many query fields, a Host we do not serve).",
    401: "No valid credentials: no token, an unknown, revoked or expired one.",
    403: "Authenticated, but not allowed: a staff member changing another owner's object, "
    "or a session request without its CSRF token.",
    404: "No such object for this caller: unknown, malformed, or another user's id.",
    409: "The object's state refuses the request now; it may succeed later.",
    413: "The request body is larger than the server takes.",
    415: "The body is not JSON, or its charset is no text encoding.",
    422: "Well formed and allowed by this schema, but refused by a rule it cannot state (what "
    "the exchange, the instrument or the account allows).",
    429: "Too many requests: wait for Retry-After seconds (the error's retryAfter says the "
    "same, unrounded).",
    502: "The exchange refused the request (exchangeCode is the exchange's own code).",
    503: "Retry after Retry-After seconds: exchange_unavailable (the exchange did not answer) "
    "or service_unavailable (our database or Redis refused).",
}

# Answers any operation may give: nobody logged in; a request Django refuses before the
# view (too many query fields, a bad Host); our own database or Redis refusing.
COMMON: ErrorCodes = {
    400: ["bad_request"],
    401: ["not_authenticated"],
    503: ["service_unavailable"],
}
# Operations that change something: staff act only on their own objects, and a session
# request needs its CSRF token.
WRITE: ErrorCodes = {403: ["permission_denied"]}
# Operations that read a JSON body.
BODY: ErrorCodes = {
    400: ["validation_error"],
    413: ["request_too_large"],
    415: ["unsupported_media_type"],
}
# Operations with validated query parameters.
QUERY: ErrorCodes = {400: ["validation_error"]}
# Operations on one object named in the path.
FOUND: ErrorCodes = {404: ["not_found"]}
# Operations that call the exchange with a connection (circuit, budget, the exchange).
EXCHANGE: ErrorCodes = {
    409: ["circuit_open", "connection_disabled"],
    429: ["throttled"],
    503: ["exchange_unavailable"],
}


def error_codes(*groups: ErrorCodes) -> dict[int, list[str]]:
    """Merge groups of status -> codes, each code once, in the order given."""
    merged: dict[int, list[str]] = {}
    for group in groups:
        for status, codes in group.items():
            merged.setdefault(status, [])
            merged[status] += [code for code in codes if code not in merged[status]]
    return dict(sorted(merged.items()))


def error_responses(codes: ErrorCodes) -> dict[int, OpenApiResponse]:
    """One response per status, all with the Error component, naming the codes."""
    return {
        status: OpenApiResponse(
            response=ErrorOut,
            description=f"{STATUS_MEANINGS.get(status, '')} Codes: "
            + ", ".join(f"`{code}`" for code in status_codes),
        )
        for status, status_codes in codes.items()
    }


def retry_after_headers(codes: ErrorCodes) -> list[OpenApiParameter]:
    statuses = [status for status in codes if status in RETRY_STATUSES]
    if not statuses:
        return []
    return [
        OpenApiParameter(
            "Retry-After",
            {"type": "integer", "minimum": 1},
            location=OpenApiParameter.HEADER,
            response=statuses,
            required=True,
            description="Seconds to wait before trying again.",
        )
    ]


def api_operation(
    *,
    ok: Mapping[int, Any],
    errors: Iterable[ErrorCodes] = (),
    request: Any = empty,
    parameters: Sequence[Any] = (),
    description: str | None = None,
) -> Callable[[Any], Any]:
    """extend_schema for one operation: its success bodies by status, and the error
    groups it can answer besides COMMON, each status with its codes."""
    codes = error_codes(COMMON, *errors)
    kwargs: dict[str, Any] = {
        "responses": {**ok, **error_responses(codes)},
        "parameters": [*parameters, *retry_after_headers(codes)],
    }
    if request is not empty:
        kwargs["request"] = request
    if description is not None:
        kwargs["description"] = description
    return extend_schema(**kwargs)


# -- the one error body --------------------------------------------------------------------


class ConstantBooleanField(serializers.BooleanField):
    """A boolean the schema pins to one value (the envelope's ``success``)."""

    def __init__(self, value: bool, **kwargs: Any) -> None:
        self.value = value
        super().__init__(**kwargs)

    def get_attribute(self, instance: Any) -> bool:
        return self.value  # whatever the envelope renders, its success is the constant


class ErrorDetailOut(serializers.Serializer):
    code = serializers.CharField(
        help_text="What went wrong, for programs; each operation's "
        "responses list the codes it answers."
    )
    message = serializers.CharField(
        help_text="One line for people; never echoes a value that was sent."
    )
    # "fields" and "required" are keys of the error body; DRF's serializer metaclass moves
    # declared fields off the class, so they shadow nothing at run time
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        help_text="{camelCaseField: [messages]}; {} when no field is to blame.",
    )
    retryAfter = serializers.FloatField(
        required=False, help_text="429, 503 and circuit_open: seconds until a retry may pass."
    )
    required = serializers.CharField(
        required=False,  # type: ignore[assignment]
        help_text="insufficient_margin: what the order needs.",
    )
    available = serializers.CharField(
        required=False, help_text="insufficient_margin: what the account has free."
    )
    asset = serializers.CharField(required=False, help_text="insufficient_margin: in which asset.")
    limit = serializers.CharField(required=False, help_text="risk_limit: which limit.")
    value = serializers.CharField(required=False, help_text="risk_limit: the order's value.")
    maximum = serializers.CharField(required=False, help_text="risk_limit: the limit's value.")
    exchangeCode = serializers.CharField(
        required=False, allow_null=True, help_text="exchange_error: the exchange's own code."
    )


class ErrorOut(serializers.Serializer):
    """Every error: ``{success: false, error: {code, message, fields}}``."""

    success = ConstantBooleanField(False)
    error = ErrorDetailOut()

    class Meta:
        ref_name = "Error"


class SuccessOut(serializers.Serializer):
    success = ConstantBooleanField(True)


# -- what the strict fields and serializers accept --------------------------------------------


class ConstantBooleanFieldSchema(OpenApiSerializerFieldExtension):
    """``Succeeded`` (true) and ``Failed`` (false): components of their own, so each
    envelope's success refers to one instead of repeating an enum."""

    target_class = ConstantBooleanField

    def get_name(self) -> str:
        return "Succeeded" if self.target.value else "Failed"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "boolean", "enum": [self.target.value]}


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "core.fields.StrictCharField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["pattern"] = self.target.schema_pattern()
        return schema


class StrictUUIDFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "core.fields.StrictUUIDField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {**(build_basic_type(OpenApiTypes.UUID) or {}), "pattern": UUID_PATTERN}


class QueryIntegerFieldSchema(OpenApiSerializerFieldExtension):
    target_class = "core.fields.QueryIntegerField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)


class StrictDecimalFieldSchema(OpenApiSerializerFieldExtension):
    """A decimal string in plain notation, or a JSON number on the same grid."""

    target_class = "core.fields.StrictDecimalField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field = self.target
        return {
            "anyOf": [
                {"type": "string", "format": "decimal", "pattern": field.pattern},
                {"type": "number", **field.number_bounds()},
            ]
        }


class StrictSerializerSchema(OpenApiSerializerExtension):
    """A StrictSerializer refuses keys it does not know: additionalProperties false."""

    target_class = "core.fields.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema
