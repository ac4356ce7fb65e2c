"""Per-exchange fault injection, rate-limit enforcement and request statistics.

One ``ExchangeGate`` per exchange holds its fault settings (``POST /_paper/faults``), its
seeded random generator, the sliding weight windows and the counters of ``/_paper/stats``.
``gate_middleware`` wraps that exchange's adapter routes and only reads request metadata
(method, path, query, headers): the body stays unread for the handler.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import web

from exchanges.limits import ExchangeLimit
from exchanges.paper.protocol import Protocol

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# camelCase wire name -> (field name, type)
_FAULT_FIELDS: dict[str, tuple[str, type]] = {
    "latencyMs": ("latency_ms", int),
    "error5xxRate": ("error_5xx_rate", float),
    "rateLimit429Rate": ("rate_limit_429_rate", float),
    "retryAfterSeconds": ("retry_after_seconds", float),
    "dropAfterAcceptRate": ("drop_after_accept_rate", float),
    "enforceRateLimits": ("enforce_rate_limits", bool),
    "seed": ("seed", int),
}
_RATES = ("error_5xx_rate", "rate_limit_429_rate", "drop_after_accept_rate")
MAX_LATENCY_MS = 120_000


@dataclass(frozen=True)
class FaultConfig:
    latency_ms: int = 0
    error_5xx_rate: float = 0.0
    rate_limit_429_rate: float = 0.0
    retry_after_seconds: float = 1.0
    drop_after_accept_rate: float = 0.0
    enforce_rate_limits: bool = False
    seed: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Unknown keys, wrong types and out-of-range values raise ValueError."""
        unknown = set(data) - set(_FAULT_FIELDS) - {"exchange"}
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for wire, (name, kind) in _FAULT_FIELDS.items():
            if wire in data:
                values[name] = _typed(wire, data[wire], kind)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for name in _RATES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if not 0 <= self.latency_ms <= MAX_LATENCY_MS:
            raise ValueError(f"latencyMs must be 0..{MAX_LATENCY_MS}")
        if self.retry_after_seconds <= 0:
            raise ValueError("retryAfterSeconds must be positive")

    def to_json(self) -> dict[str, Any]:
        plain = asdict(self)
        return {wire: plain[name] for wire, (name, _) in _FAULT_FIELDS.items()}


def _typed(wire: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{wire} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{wire} must be a number")
    if kind is int and value != int(value):
        raise ValueError(f"{wire} must be a whole number")
    return kind(value)


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

    def wait_needed(self, now: float, weight: int, limit: ExchangeLimit) -> float:
        """0 when ``weight`` more fits both budgets, else the seconds until it would."""
        self._prune(now)
        wait = 0.0
        for span, budget in ((1.0, limit.per_second), (60.0, limit.per_minute)):
            if weight > budget and self._sums[span] == 0:
                continue  # heavier than the whole budget: served alone in an empty window
            excess = self._sums[span] + weight - budget
            for at, served in self._events[span]:
                if excess <= 0:
                    break
                excess -= served
                wait = max(wait, at + span - now)
            if excess > 0:  # heavier than the whole budget: one full window
                wait = max(wait, span)
        return wait

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
    limit: ExchangeLimit | None
    protocol: Protocol | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    requests: dict[str, int] = field(default_factory=dict)
    signature_failures: int = 0
    rate_limit_violations: int = 0
    dropped_after_accept: int = 0
    in_flight: int = 0
    windows: WeightWindows = field(default_factory=WeightWindows)

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)

    def clear_stats(self) -> None:
        self.requests = {}
        self.signature_failures = self.rate_limit_violations = self.dropped_after_accept = 0
        self.windows = WeightWindows()

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def stats(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "signatureFailures": self.signature_failures,
            "maxWeightPer1s": self.windows.max_sums[1.0],
            "maxWeightPer60s": self.windows.max_sums[60.0],
            "rateLimitViolations": self.rate_limit_violations,
            "droppedAfterAccept": self.dropped_after_accept,
        }

    def over_budget(self, weight: int) -> float:
        """Seconds to wait when enforcement is on and this request would break the budget
        (or the concurrency cap); 0 when it may go ahead."""
        if not self.faults.enforce_rate_limits or self.limit is None:
            return 0.0
        wait = self.windows.wait_needed(time.monotonic(), weight, self.limit)
        if wait == 0 and self.in_flight >= self.limit.concurrent:
            wait = 0.1
        return wait


def gate_middleware(gate: ExchangeGate, protocol: Protocol, prefix: str) -> Any:
    """The one middleware of an exchange's sub-application."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path[len(prefix):] if request.path.startswith(prefix) else request.path
        key = f"{request.method} {path}"
        gate.requests[key] = gate.requests.get(key, 0) + 1
        if gate.faults.latency_ms:
            await asyncio.sleep(gate.faults.latency_ms / 1000)
        weight = protocol.request_weight(request)
        wait = gate.over_budget(weight)
        if wait > 0:
            gate.rate_limit_violations += 1
            # whole seconds, as real Retry-After headers give them
            return protocol.rate_limited(float(math.ceil(wait)))
        gate.windows.record(time.monotonic(), weight)
        if gate.chance(gate.faults.rate_limit_429_rate):
            return protocol.rate_limited(gate.faults.retry_after_seconds)
        if gate.chance(gate.faults.error_5xx_rate):
            return protocol.server_error()
        return await _serve(gate, request, handler)

    return middleware


async def _serve(gate: ExchangeGate, request: web.Request,
                 handler: Handler) -> web.StreamResponse:
    gate.in_flight += 1
    try:
        response = await handler(request)
    finally:
        gate.in_flight -= 1
        if request.get("signature_failed"):
            gate.signature_failures += 1
    if request.get("order_accepted") and gate.chance(gate.faults.drop_after_accept_rate):
        gate.dropped_after_accept += 1
        if request.transport is not None:
            # The order is stored; the client gets no reply at all. aiohttp's attempt to
            # write the response then fails with a ConnectionError it handles quietly.
            request.transport.abort()
    return response
