"""The API's one body parser: JSON, bounded in size and depth, numbers exact.

DRF's JSONParser reads the whole stream whatever its size, lets Python's recursive decoder
hit the recursion limit on a deeply nested body (a RecursionError, so a 500), and turns
numbers into floats (so ``0.1234567890123456789`` loses digits before a Decimal field sees
it). This one refuses what a hostile client sends with a 400 (413 for size) before decoding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError

# get_encoding (the Content-Type charset, else DEFAULT_CHARSET) is missing from the stubs
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]

# Our bodies nest three levels at most; a limit far below Python's recursion limit (1000)
# keeps the decoder's own recursion shallow whatever the body.
MAX_JSON_DEPTH = 32
# JSON strings (with escapes), removed before counting brackets, so "[[[" in a value is text.
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*+"', re.DOTALL)
JSON_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text, without parsing it."""
    brackets = JSON_BRACKET.findall(JSON_STRING.sub("", text))
    return max(accumulate(1 if bracket in "[{" else -1 for bracket in brackets), default=0)


def read_bounded(stream: IO[bytes]) -> bytes:
    """The body, or RequestDataTooBig past DATA_UPLOAD_MAX_MEMORY_SIZE (never read whole)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise RequestDataTooBig(f"the request body is larger than {limit} bytes")
    return raw


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class BoundedJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            raise ParseError("the request body is empty")
        encoding = get_encoding(parser_context or {})
        try:
            text = read_bounded(stream).decode(encoding)
        except UnicodeDecodeError:
            raise ParseError(f"the request body is not valid {encoding}") from None
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ParseError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise ParseError(
                f"the request body is not valid JSON ({exc.msg} at line "
                f"{exc.lineno} column {exc.colno})"
            ) from None
        except (ValueError, ArithmeticError, RecursionError):
            # NaN/Infinity, an integer past Python's digit limit, an exponent past Decimal's
            raise ParseError("the request body holds a number we cannot take") from None
