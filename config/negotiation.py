"""Content negotiation for the API (its own module: rest_framework.views imports it while
config.api imports rest_framework.views)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer


class JSONFallbackNegotiation(DefaultContentNegotiation):
    """An Accept header we cannot serve (text/html with the browsable API off) gets the
    first renderer, JSON, not a 406: the API speaks JSON to browsers too."""

    def select_renderer(
        self, request: Any, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type
