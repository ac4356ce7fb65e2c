"""The API's outer guards: under /api/ every error is the one JSON error body, whatever
produced it, and a request whose charset is not a text encoding never reaches Django."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.http import parse_header_parameters

from config.api import error_body, is_api_path, status_error_body

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# kept from the response being replaced; the body's own headers are the new body's
BODY_HEADERS = ("content-type", "content-length", "content-disposition", "content-encoding")


def charset_refusal(content_type: str) -> str | None:
    """Why a Content-Type's charset cannot be read as text (``rot13``, ``zlib``, ``base64``
    are codecs Python knows, but not text encodings), or None when it can or has none."""
    _, params = parse_header_parameters(content_type)
    charset = params.get("charset")
    if charset is None:
        return None
    try:
        "".encode(charset)
    except (LookupError, UnicodeError, ValueError):
        return "the Content-Type names a charset that is not a text encoding"
    return None


class ApiErrorBodyMiddleware:
    """Outermost middleware. Django answers some failures before or around DRF with its
    own pages (a disallowed Host's 400, the CSRF 403, a technical page with DEBUG on, a
    schema view's YAML); under /api/ those become the JSON error body with their status
    and headers (Retry-After, Allow, CORS) kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        refusal = charset_refusal(request.META.get("CONTENT_TYPE", ""))
        if refusal is not None:
            return JsonResponse(error_body("unsupported_media_type", refusal), status=415)
        response = self.get_response(request)
        if (
            is_api_path(request.path_info)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _as_error_body(response)
        return response


def _as_error_body(response: HttpResponseBase) -> JsonResponse:
    replacement = JsonResponse(status_error_body(response.status_code), status=response.status_code)
    for name, value in response.items():
        if name.lower() not in BODY_HEADERS:
            replacement[name] = value
    replacement.cookies = response.cookies
    return replacement


def refuse_non_text_charsets(application: WSGIApp) -> WSGIApp:
    """Django builds its request before any middleware runs, and building one that has a
    query string and a non-text charset raises LookupError inside WSGIRequest() (setting
    the encoding decodes the query string with it): gunicorn would answer its own HTML
    500. Such a request is refused here, before Django, with the JSON 415."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        refusal = charset_refusal(environ.get("CONTENT_TYPE", ""))
        if refusal is None:
            return application(environ, start_response)
        body = json.dumps(error_body("unsupported_media_type", refusal)).encode()
        start_response(
            "415 Unsupported Media Type",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return guarded
