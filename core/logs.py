"""Structured logs: one structlog formatter for every record of the process.

Django, Celery, our apps and ``exchanges`` all log through the standard library; the root
handler formats each record with structlog's ``ProcessorFormatter``, so every line has the
same fields: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``event`` (the message),
the record's ``extra`` fields (an exchange call's ``exchange``, ``connection_id``,
``endpoint``, ``status``, ``latency_ms``, ``error``; a Celery task's ``task``, ``task_id``)
and ``exception`` (the plain traceback: frames and the message, never local variables).
``LOG_FORMAT`` picks the renderer: ``json`` (one JSON object per line, the default unless
DEBUG) or ``console`` (aligned ``key=value``, DEBUG's default).

Nothing secret reaches a line: the exchange call log carries no query string, body, header
or credential (``exchanges.observe``); a request object is cut to its method and path; and,
should a message or a traceback still quote one, the last step masks the values of
``signature=``, ``secret=``, ``passphrase=``, ``apiKey=`` and the exchanges' signing and key
headers (``mask_secrets``).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("json", "console")
MASK = "***"

# names whose values are secret wherever they appear: query strings, forms, headers, JSON,
# reprs of dicts. The exchanges' own header names are covered by their parts (SIGN, KEY,
# PASSPHRASE: X-BAPI-SIGN, OK-ACCESS-SIGN, X-MBX-APIKEY, OK-ACCESS-PASSPHRASE, ...).
# A name is dash- or underscore-separated parts, one of them secret: "signed" is not.
_SECRET_PART = (
    r"(?:sign|signature|secret|passphrase|passwd|password|apikey|key|token|"
    r"authorization)"
)
_SECRET_NAME = rf"(?:[A-Za-z0-9]+[-_])*{_SECRET_PART}(?:[-_][A-Za-z0-9]+)*"
_SECRET_PAIRS = (
    # JSON or a dict repr: "name": "value" / 'name': 'value'
    re.compile(rf"""(?i)(["']{_SECRET_NAME}["']\s*:\s*["'])([^"']*)"""),
    # query strings, forms, key=value and header lines: name=value / name: value
    re.compile(rf"""(?i)(\b{_SECRET_NAME}\s*[=:]\s*(?:bearer\s+|token\s+)?)([^\s&"',;)}}\]]+)"""),
)
_SECRET_KEY = re.compile(rf"(?i)^{_SECRET_NAME}$")
# extra fields whose values are never logged as they are
_REQUEST_KEYS = ("request",)


def mask_secrets(_: WrappedLogger, __: str, rendered: Any) -> str:
    """The last step, on the rendered line (a str): the values of secret-named pairs
    masked."""
    rendered = str(rendered)
    for pattern in _SECRET_PAIRS:
        rendered = pattern.sub(lambda match: match.group(1) + MASK, rendered)
    return rendered


def drop_unsafe_fields(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """A request object becomes its method and path (no query string, no headers); a
    field named like a secret is masked; Celery's ``data`` becomes ``task``/``task_id``."""
    for key in _REQUEST_KEYS:
        request = event_dict.get(key)
        if request is not None and hasattr(request, "method"):
            event_dict[key] = f"{request.method} {getattr(request, 'path', '')}"
    for key in list(event_dict):
        if key != "event" and _SECRET_KEY.match(key) and event_dict[key]:
            event_dict[key] = MASK
    data = event_dict.pop("data", None)
    if isinstance(data, dict) and str(event_dict.get("logger", "")).startswith("celery"):
        event_dict.update(
            {
                name: data[field]
                for field, name in (("name", "task"), ("id", "task_id"), ("runtime", "runtime_s"))
                if field in data
            }
        )
    return event_dict


def _shared_processors() -> list[Processor]:
    """What every record goes through, stdlib or structlog, before rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(log_format: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The root handler's formatter (``logging_config`` names it by this function)."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    renderer: Processor
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer(default=repr)
        exceptions: list[Processor] = [structlog.processors.format_exc_info]
    else:
        # plain_traceback, never rich's: rich shows every frame's local variables
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        exceptions = []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            drop_unsafe_fields,
            *exceptions,
            renderer,
            mask_secrets,
        ],
    )


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """settings.LOGGING: one handler on stderr, every record through ``formatter``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": "core.logs.formatter", "log_format": log_format}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"urllib3": {"level": "WARNING"}},
    }


def configure_structlog() -> None:
    """structlog's own loggers (``structlog.get_logger()``) hand their events to the
    standard library, so they meet the same handler and formatter."""
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def format_record(record: logging.LogRecord, log_format: str = "json") -> str:
    """One record as the production handler writes it (tests, tools)."""
    return formatter(log_format).format(record)
