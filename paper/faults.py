"""Per-exchange fault injection, rate-limit enforcement and request statistics.

One ``ExchangeGate`` per exchange holds its fault settings (``POST /_paper/faults``), the
sliding weight windows and the counters of ``/_paper/stats``. ``gate_middleware`` wraps
that exchange's adapter routes and only reads request metadata (method, path, query,
headers) before the handler: the body stays unread for it.

SCOPES. Faults are set for the whole exchange (no ``endpoint``), for ``"writes"`` (the
adapter's ``write_routes``: every placement and cancel route), for a real path of the
exchange (``"/api/v3/order"``: every method on it) or for one method on it
(``"DELETE /api/v3/order"``). A request uses only the most specific config that exists:
method and path, else path, else ``writes`` when it is a write route, else the exchange's
own. Each config has its own random generator, seeded by its ``seed``.

In the order they act on a request:
- ``latencyMs``: wait this long before anything else.
- ``enforceRateLimits``: over any window of the exchange's layered table (``budgets.py``:
  per client address and product pool, per API key, per endpoint and instrument, order
  counts) or the pool's concurrency cap, the adapter's ``rate_limited()`` answer with a
  whole-second Retry-After; nothing is served.
- ``rateLimit429Rate`` / ``retryAfterSeconds``: the adapter's ``rate_limited()`` answer.
- ``error5xxRate``: the adapter's ``server_error()`` answer; nothing is served.

After the handler APPLIED the request (stored a new order: ``order_accepted``; canceled
one or more orders: ``cancel_applied``), at most one after-accept fault, rolled in this
order, the first hit wins:
1. ``dropAfterAcceptRate`` (a stored order or an applied cancel): the connection is
   aborted with no reply (a FIN, no byte of the answer).
2. ``resetAfterAcceptRate``: SO_LINGER on with 0 s, then close: a TCP RST before any byte.
3. ``truncateAfterAcceptRate``: the real answer's status line and headers, with the
   Content-Length of the whole body, then the first half of the body (len // 2 bytes, so
   at least one byte short), then the connection is closed (FIN). ``requests`` raises
   ChunkedEncodingError (urllib3 IncompleteRead / ProtocolError) reading the body.
4. ``htmlAfterAcceptRate``: instead of the real answer, a 502 ``Content-Type: text/html``
   nginx "502 Bad Gateway" page (``Server: nginx``).
5. ``stallAfterAcceptMs`` (no roll: whenever set and nothing above hit): the real answer
   is held this long, then sent if the client is still connected.

``trickleMs`` then applies to ANY answer of the scope (normal answers, refusals, the fault
answers above, a truncated answer): its bytes, status line and headers included, are
written 8 at a time with ``trickleMs`` between pieces and the connection is closed after
the last one, so a per-read socket timeout never fires and only a whole-request deadline
catches it.

A wire fault that writes the bytes itself (truncate, trickle) answers with
``Connection: close``. Every fault that fires is counted in the stats.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aiohttp import web

from paper import network
from paper.budgets import Caller, PaperLimiter
from paper.protocol import Protocol
from paper.windows import Budget, Charge

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AfterApply = Literal["drop", "reset", "truncate", "html", "stall"]

# camelCase wire name -> (field name, type)
_FAULT_FIELDS: dict[str, tuple[str, type]] = {
    "latencyMs": ("latency_ms", int),
    "error5xxRate": ("error_5xx_rate", float),
    "rateLimit429Rate": ("rate_limit_429_rate", float),
    "retryAfterSeconds": ("retry_after_seconds", float),
    "dropAfterAcceptRate": ("drop_after_accept_rate", float),
    "truncateAfterAcceptRate": ("truncate_after_accept_rate", float),
    "resetAfterAcceptRate": ("reset_after_accept_rate", float),
    "stallAfterAcceptMs": ("stall_after_accept_ms", int),
    "htmlAfterAcceptRate": ("html_after_accept_rate", float),
    "trickleMs": ("trickle_ms", int),
    "enforceRateLimits": ("enforce_rate_limits", bool),
    "seed": ("seed", int),
}
_RATES = (
    "error5xxRate",
    "rateLimit429Rate",
    "dropAfterAcceptRate",
    "truncateAfterAcceptRate",
    "resetAfterAcceptRate",
    "htmlAfterAcceptRate",
)
MAX_LATENCY_MS = 120_000
MAX_STALL_MS = 120_000
MAX_TRICKLE_MS = 5_000
_MILLISECONDS = {
    "latencyMs": MAX_LATENCY_MS,
    "stallAfterAcceptMs": MAX_STALL_MS,
    "trickleMs": MAX_TRICKLE_MS,
}
_ADDRESS_KEYS = {"exchange", "endpoint"}  # where a POST /_paper/faults body applies

EXCHANGE_WIDE = "*"  # the scope label of faults set without an endpoint
WRITES = "writes"
_METHODS = ("GET", "POST", "PUT", "DELETE")
_PATH = re.compile(r"/[^\s?#]{0,255}")
# the after-accept faults that are rolled, in rolling order (drop comes first, on its own)
_ROLLED_AFTER_APPLY: tuple[tuple[AfterApply, str], ...] = (
    ("reset", "reset_after_accept_rate"),
    ("truncate", "truncate_after_accept_rate"),
    ("html", "html_after_accept_rate"),
)
AFTER_APPLY_STATS: dict[AfterApply, str] = {
    "drop": "droppedAfterAccept",
    "reset": "resetAfterAccept",
    "truncate": "truncatedAfterAccept",
    "html": "htmlAfterAccept",
    "stall": "stalledAfterAccept",
}


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: int = 0
    error_5xx_rate: float = 0.0
    rate_limit_429_rate: float = 0.0
    retry_after_seconds: float = 1.0
    drop_after_accept_rate: float = 0.0
    truncate_after_accept_rate: float = 0.0
    reset_after_accept_rate: float = 0.0
    stall_after_accept_ms: int = 0
    html_after_accept_rate: float = 0.0
    trickle_ms: int = 0
    enforce_rate_limits: bool = False
    seed: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Unknown keys, wrong types and out-of-range values raise ValueError."""
        unknown = set(data) - set(_FAULT_FIELDS) - _ADDRESS_KEYS
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for wire_name, (name, kind) in _FAULT_FIELDS.items():
            if wire_name in data:
                values[name] = _typed(wire_name, data[wire_name], kind)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for wire_name in _RATES:
            if not 0.0 <= self._value(wire_name) <= 1.0:
                raise ValueError(f"{wire_name} must be between 0 and 1")
        for wire_name, most in _MILLISECONDS.items():
            if not 0 <= self._value(wire_name) <= most:
                raise ValueError(f"{wire_name} must be 0..{most}")
        if self.retry_after_seconds <= 0:
            raise ValueError("retryAfterSeconds must be positive")

    def _value(self, wire_name: str) -> Any:
        return getattr(self, _FAULT_FIELDS[wire_name][0])

    def to_json(self) -> dict[str, Any]:
        plain = asdict(self)
        return {wire_name: plain[name] for wire_name, (name, _) in _FAULT_FIELDS.items()}


def _typed(wire_name: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{wire_name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{wire_name} must be a number")
    if kind is int and value != int(value):
        raise ValueError(f"{wire_name} must be a whole number")
    return kind(value)


def scope_of(endpoint: Any) -> str:
    """The scope label for the ``endpoint`` of POST /_paper/faults (absent: the whole
    exchange). Raises ValueError for anything but "writes", "/path" or "METHOD /path"."""
    if endpoint is None:
        return EXCHANGE_WIDE
    if endpoint == WRITES:
        return WRITES
    if isinstance(endpoint, str):
        method, _, path = endpoint.rpartition(" ")
        if method in ("", *_METHODS) and _PATH.fullmatch(path):
            return endpoint
    raise ValueError(
        'endpoint must be "writes", a real path such as "/api/v3/order", or a '
        'method and path such as "DELETE /api/v3/order"'
    )


@dataclass
class ScopedFaults:
    """One scope's fault settings and the random generator its rolls use."""

    config: FaultConfig
    rng: random.Random

    @classmethod
    def of(cls, config: FaultConfig) -> ScopedFaults:
        return cls(config, random.Random(config.seed))

    def chance(self, rate: float) -> bool:
        # no draw for a fault that is off, so adding faults never shifts a seeded sequence
        return rate > 0 and self.rng.random() < rate

    def after_apply_fault(self, request: web.Request) -> AfterApply | None:
        """The after-accept fault this request gets, if it applied anything."""
        if not (request.get("order_accepted") or request.get("cancel_applied")):
            return None
        if self.chance(self.config.drop_after_accept_rate):
            return "drop"
        for fault, rate_field in _ROLLED_AFTER_APPLY:
            if self.chance(getattr(self.config, rate_field)):
                return fault
        return "stall" if self.config.stall_after_accept_ms else None


class WeightWindows:
    """Request weight served in the last 1 s and 60 s, and the highest sums seen."""

    SPANS = (1.0, 60.0)

    def __init__(self) -> None:
        self._events: dict[float, deque[tuple[float, int]]] = {s: deque() for s in self.SPANS}
        self._sums: dict[float, int] = dict.fromkeys(self.SPANS, 0)
        self.max_sums: dict[float, int] = dict.fromkeys(self.SPANS, 0)

    def _prune(self, now: float) -> None:
        for span, events in self._events.items():
            while events and events[0][0] <= now - span:
                self._sums[span] -= events.popleft()[1]

    def record(self, now: float, weight: int) -> None:
        self._prune(now)
        for span, events in self._events.items():
            events.append((now, weight))
            self._sums[span] += weight
            self.max_sums[span] = max(self.max_sums[span], self._sums[span])


@dataclass
class ExchangeGate:
    """Everything the middleware of one exchange keeps between requests."""

    exchange: str
    budget: Budget | None
    protocol: Protocol | None = None
    scopes: dict[str, ScopedFaults] = field(
        default_factory=lambda: {EXCHANGE_WIDE: ScopedFaults.of(FaultConfig())}
    )
    requests: dict[str, int] = field(default_factory=dict)
    signature_failures: int = 0
    rate_limit_violations: int = 0
    cancels_applied: int = 0
    trickled: int = 0
    after_apply: Counter[AfterApply] = field(default_factory=Counter)
    windows: WeightWindows = field(default_factory=WeightWindows)
    limiter: PaperLimiter | None = None

    def __post_init__(self) -> None:
        self.limiter = PaperLimiter(self.budget) if self.budget is not None else None

    def set_faults(self, faults: FaultConfig, scope: str = EXCHANGE_WIDE) -> None:
        self.scopes[scope] = ScopedFaults.of(faults)

    def clear_faults(self) -> None:
        self.scopes = {EXCHANGE_WIDE: ScopedFaults.of(FaultConfig())}

    def active_faults(self) -> dict[str, dict[str, Any]]:
        """Scope label -> config. Any scoped config counts (an all-zero one shields its
        scope from the exchange-wide faults); the exchange-wide one when it sets anything."""
        return {
            scope: faults.config.to_json()
            for scope, faults in self.scopes.items()
            if scope != EXCHANGE_WIDE or faults.config != FaultConfig()
        }

    def faults_for(self, method: str, path: str) -> ScopedFaults:
        """The most specific config for this request (see SCOPES above)."""
        route = f"{method} {path}"
        writes = self.protocol.write_routes if self.protocol is not None else frozenset()
        for scope in (route, path, WRITES if route in writes else None):
            if scope in self.scopes:
                return self.scopes[scope]
        return self.scopes[EXCHANGE_WIDE]

    def clear_stats(self) -> None:
        self.requests = {}
        self.signature_failures = self.rate_limit_violations = 0
        self.cancels_applied = self.trickled = 0
        self.after_apply = Counter()
        self.windows = WeightWindows()
        self.limiter = PaperLimiter(self.budget) if self.budget is not None else None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "signatureFailures": self.signature_failures,
            "maxWeightPer1s": self.windows.max_sums[1.0],
            "maxWeightPer60s": self.windows.max_sums[60.0],
            "rateLimitViolations": self.rate_limit_violations,
            **{key: self.after_apply[fault] for fault, key in AFTER_APPLY_STATS.items()},
            "trickled": self.trickled,
            "cancelsApplied": self.cancels_applied,
            "windows": self.limiter.stats() if self.limiter is not None else {},
        }

    def over_budget(self, faults: FaultConfig, charge: Charge, caller: Caller) -> float:
        """Seconds to wait when enforcement is on and this request would overfill a window
        (or the pool's concurrency cap); 0 when it may go ahead (it is then counted)."""
        if not faults.enforce_rate_limits or self.limiter is None:
            return 0.0
        return self.limiter.admit(time.monotonic(), charge, caller)

    def pool_of(self, charge: Charge, caller: Caller) -> str:
        return self.limiter.pool(charge, caller) if self.limiter is not None else ""


def gate_middleware(gate: ExchangeGate, protocol: Protocol, prefix: str) -> Any:
    """The one middleware of an exchange's sub-application."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path[len(prefix) :] if request.path.startswith(prefix) else request.path
        key = f"{request.method} {path}"
        gate.requests[key] = gate.requests.get(key, 0) + 1
        faults = gate.faults_for(request.method, path)
        try:
            response = await _answer(gate, faults, protocol, request, handler, path)
        except web.HTTPException as refusal:  # the router's 404 / 405, as aiohttp builds it
            response = web.Response(
                status=refusal.status,
                reason=refusal.reason,
                text=refusal.text,
                headers=refusal.headers,
            )
        return await _deliver(gate, faults, request, response)

    return middleware


async def _answer(
    gate: ExchangeGate,
    faults: ScopedFaults,
    protocol: Protocol,
    request: web.Request,
    handler: Handler,
    path: str,
) -> web.StreamResponse:
    config = faults.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    charge, api_key = await protocol.request_charge(request, path)
    caller = Caller(request.remote or "", api_key)
    wait = gate.over_budget(config, charge, caller)
    if wait > 0:
        gate.rate_limit_violations += 1
        # whole seconds, as real Retry-After headers give them
        return protocol.rate_limited(float(math.ceil(wait)))
    gate.windows.record(time.monotonic(), charge.weight)
    if faults.chance(config.rate_limit_429_rate):
        return protocol.rate_limited(config.retry_after_seconds)
    if faults.chance(config.error_5xx_rate):
        return protocol.server_error()
    return await _serve(gate, request, handler, gate.pool_of(charge, caller))


async def _serve(
    gate: ExchangeGate, request: web.Request, handler: Handler, pool: str
) -> web.StreamResponse:
    in_flight = gate.limiter.in_flight if gate.limiter is not None else Counter()
    in_flight[pool] += 1
    try:
        return await handler(request)
    finally:
        in_flight[pool] -= 1
        if request.get("signature_failed"):
            gate.signature_failures += 1
        if request.get("cancel_applied"):
            gate.cancels_applied += 1


async def _deliver(
    gate: ExchangeGate, faults: ScopedFaults, request: web.Request, response: web.StreamResponse
) -> web.StreamResponse:
    """The answer as the faults let it reach the client. Whatever ``network`` wrote itself
    (or cut off) leaves aiohttp a closed connection to write ``response`` to, in vain."""
    fault = faults.after_apply_fault(request)
    if fault is not None:
        gate.after_apply[fault] += 1
    if fault == "drop":
        network.drop(request)
        return response
    if fault == "reset":
        network.reset(request)
        return response
    if fault == "html":
        response = network.gateway_error()
    elif fault == "stall":
        await asyncio.sleep(faults.config.stall_after_accept_ms / 1000)
    return await _write(gate, faults.config, request, response, cut=fault == "truncate")


async def _write(
    gate: ExchangeGate,
    config: FaultConfig,
    request: web.Request,
    response: web.StreamResponse,
    *,
    cut: bool,
) -> web.StreamResponse:
    """Left to aiohttp, unless the body is cut short or the bytes trickle out."""
    if not (cut or config.trickle_ms):
        return response
    answer = network.answer_bytes(request, response)
    if answer is None:
        return response
    head, body = answer
    if cut:
        body = body[: len(body) // 2]  # about half, and at least one byte short
    if config.trickle_ms:
        gate.trickled += 1
    await network.send_and_close(request, head + body, pause_seconds=config.trickle_ms / 1000)
    return response
