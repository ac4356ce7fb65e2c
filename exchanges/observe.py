"""What every exchange call tells once it is over: one log line and the registered observers.

``Connector.request`` hands one ``CallRecord`` to ``call_finished`` per call, whatever its
end (an answer, a mapped error, our own limiter's refusal, an exception while signing).
The record holds only what is safe anywhere: the exchange, the connection id the caller
gave the connector, the method, the endpoint's path template (never the query string, a
body, a header, a key, a secret or a signature), the HTTP status, the latency and the error
class and code. It is logged on ``exchanges.calls`` through the standard library (the
process's logging configuration formats it), then passed to every observer registered
with ``register``: the Django side registers the Prometheus counters there
(``core.metrics``), so this package needs neither Django nor a metrics library. An
observer that raises is logged and otherwise ignored: it never breaks a call.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("exchanges.calls")
# a library's manners: silent where the application configured no logging
logger.addHandler(logging.NullHandler())

# a path segment that is an id rather than a name: digits, or a long hex/uuid-like run
_ID_SEGMENT = re.compile(r"^(?:\d+|[0-9a-fA-F-]{16,})$")


@dataclass(frozen=True)
class CallRecord:
    exchange: str
    connection_id: str  # "" for calls made for no connection (public reads)
    method: str
    endpoint: str  # the path template: no query string, no ids
    status: int | None  # the HTTP status; None when no answer came
    latency_ms: float  # from the limiter's grant to the mapped outcome
    sent: bool  # False: refused before any byte could leave
    error: str = ""  # the error class name; "" on success
    error_code: str = ""  # the exchange's own code of the failure, if any

    @property
    def ok(self) -> bool:
        return not self.error


Observer = Callable[[CallRecord], None]
_observers: list[Observer] = []
_lock = threading.Lock()


def register(observer: Observer) -> None:
    """Call ``observer`` with every finished call in this process (once, however often it
    is registered)."""
    with _lock:
        if observer not in _observers:
            _observers.append(observer)


def unregister(observer: Observer) -> None:
    with _lock:
        if observer in _observers:
            _observers.remove(observer)


def endpoint_template(path: str) -> str:
    """``path`` without a query string and with id-like segments as ``{id}``: every exchange
    module passes constant paths, and this keeps a future one from turning an order id
    into a label or a log field."""
    path = path.split("?", 1)[0].split("#", 1)[0] or "/"
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def call_finished(record: CallRecord) -> None:
    """Log ``record`` and hand it to every observer."""
    _log(record)
    for observer in list(_observers):
        try:
            observer(record)
        except Exception:
            logger.exception(
                "exchange call observer failed",
                extra={"observer": getattr(observer, "__name__", "?")},
            )


def _log(record: CallRecord) -> None:
    fields = {
        "exchange": record.exchange,
        "connection_id": record.connection_id,
        "method": record.method,
        "endpoint": record.endpoint,
        "status": record.status,
        "latency_ms": round(record.latency_ms, 1),
        "sent": record.sent,
    }
    if record.ok:
        logger.info("exchange call", extra=fields)
        return
    fields.update(error=record.error, error_code=record.error_code)
    logger.warning("exchange call failed", extra=fields)
