"""The project's OpenAPI wiring: the AutoSchema drf-spectacular uses (DEFAULT_SCHEMA_CLASS).
What the apps' views and serializers describe themselves with is in core.schema."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import PolymorphicProxySerializer

import core.schema  # noqa: F401  (registers the strict fields' schema extensions)


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema (the DEFAULT_SCHEMA_CLASS). A polymorphic body (the
    order's limit-or-market oneOf) is required when each of its serializers has a required
    field, as a plain serializer's is: drf-spectacular leaves it optional, so an empty POST
    would look valid."""

    def _get_request_for_media_type(
        self, serializer: Any, direction: str = "request"
    ) -> tuple[Any, bool]:
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, PolymorphicProxySerializer) and schema is not None:
            choices = serializer.serializers
            choices = choices.values() if isinstance(choices, dict) else choices
            required = all(
                any(field.required for field in force_instance(choice).fields.values())
                for choice in choices
            )
        return schema, required
