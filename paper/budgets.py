"""The layered rate table as the paper exchange enforces it, the way an exchange would.

The windows of ``windows.Budget`` (our limiter takes the same shape), at the published figures
(no safety factor) unless overridden, counted by arrival over exact spans: destination
windows per client address and product pool (the exchange sees an IP, not our egress id),
account windows per API key (and instrument where the window says so). A request that
would overfill any window is refused whole and counted as a violation of the window that
bound; nothing of it is recorded.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from paper.windows import IP, Budget, Charge, Use, Window


@dataclass
class SlidingCount:
    """Units counted in the last ``span`` seconds of one window partition."""

    span: float
    events: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0
    highest: int = 0
    served: int = 0
    costs: Counter[int] = field(default_factory=Counter)  # requests served, by cost

    def _prune(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - self.span:
            self.total -= self.events.popleft()[1]

    def wait_for(self, now: float, cost: int, limit: int) -> float:
        """0 when ``cost`` more fits, else the seconds until it would."""
        self._prune(now)
        if self.total + cost <= limit or (cost > limit and self.total == 0):
            return 0.0
        excess = min(self.total + cost - limit, self.total)
        for at, units in self.events:
            excess -= units
            if excess <= 0:
                return at + self.span - now
        return self.span

    def add(self, now: float, cost: int) -> None:
        self._prune(now)
        self.events.append((now, cost))
        self.total += cost
        self.served += cost
        self.costs[cost] += 1
        self.highest = max(self.highest, self.total)


@dataclass(frozen=True)
class Caller:
    """Who a request counts against: the client's address and its API key ("" public)."""

    address: str
    api_key: str = ""


class PaperLimiter:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.counts: dict[tuple[str, str], SlidingCount] = {}
        self.violations: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()

    def pool(self, charge: Charge, caller: Caller) -> str:
        pool = self.budget.pool_of(charge.product)
        return f"{caller.address} {pool}" if pool else caller.address

    def _scope(self, use: Use, charge: Charge, caller: Caller) -> str:
        if use.scope == IP:
            return self.pool(charge, caller)
        scope = f"key {caller.api_key[-6:]}"
        return f"{scope} {use.part}" if use.part else scope

    def _uses(self, charge: Charge, caller: Caller) -> list[tuple[Use, Window, str]]:
        return [
            (use, self.budget.windows[use.window], self._scope(use, charge, caller))
            for use in self.budget.uses(charge)
            if use.scope == IP or caller.api_key
        ]

    def _count(self, name: str, window: Window, scope: str) -> SlidingCount:
        return self.counts.setdefault((name, scope), SlidingCount(window.seconds))

    def admit(self, now: float, charge: Charge, caller: Caller) -> float:
        """Record the request and return 0 when every window has room and the pool a
        free slot; else count a violation and return the seconds to wait."""
        uses = self._uses(charge, caller)
        waits = [
            (
                self._count(use.window, window, scope).wait_for(now, use.cost, window.limit),
                use.window,
            )
            for use, window, scope in uses
        ]
        wait, binding = max(waits, default=(0.0, ""))
        if wait == 0 and self.in_flight[self.pool(charge, caller)] >= self.budget.concurrent:
            wait, binding = 0.1, "concurrency"
        if wait > 0:
            self.violations[binding] += 1
            return wait
        for use, window, scope in uses:
            self._count(use.window, window, scope).add(now, use.cost)
        return 0.0

    def stats(self) -> dict[str, Any]:
        """Per window: its ceiling, the violations it caused, and per scope (address and
        pool, or key) the units served, the most ever counted at once and the requests
        served by what each cost."""
        windows: dict[str, Any] = {}
        for name, window in self.budget.windows.items():
            scopes: dict[str, dict[str, Any]] = {
                scope: {
                    "served": count.served,
                    "maxUsed": count.highest,
                    "requestsByCost": {str(cost): n for cost, n in sorted(count.costs.items())},
                }
                for (counted, scope), count in self.counts.items()
                if counted == name
            }
            windows[name] = {
                "limit": window.limit,
                "seconds": window.seconds,
                "scope": window.scope,
                "violations": self.violations[name],
                "maxUsed": max((s["maxUsed"] for s in scopes.values()), default=0),
                "scopes": scopes,
            }
        return windows
