"""The cluster-wide rate limiter: one atomic Lua script in Redis for every process at once.

Every window of an exchange's budget (``exchanges.limits``) that a request counts against
is checked and taken in one call, so no process can see one window granted and another
refused. Two kinds of window:

- destination windows (scope ``ip``) belong to one pool: the REST host group a request goes
  to, the product's own pool where the exchange has one per product (Binance spot and
  USD-M), seen from one egress (``EGRESS_ID``: the processes behind one source address). A
  pool also holds the concurrency leases (they expire, so a killed process cannot leak a
  slot), the pause that holds every process using the pool after a rate-limit answer, and
  a 60 s record of the weight sent, for the health view;
- account windows (scope ``account``) belong to one API key whatever egress it calls from,
  and optionally to one endpoint or instrument.

Keys: ``<namespace>:<egress>:<exchange>:<pool>:{pause,leases,reserve,weight,<window>}``,
``<namespace>:<exchange>:account:<key id>:<window>[:<instrument>]``, beside them the
registry of pools in use per egress, the registry of egresses, and each connection's own
usage record. Time is Redis's own clock, so processes on machines with skewed clocks agree.

``RedisThrottle`` is the connector's ``throttle``: a call waits up to ``max_wait`` seconds
for room, otherwise raises ``RateLimited(retry_after)`` so a Celery task can retry with a
countdown instead of holding a worker. Usage headers tighten a window's count
(``reconcile``); pauses are bounded (``exchanges.limits``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from exchanges.errors import RateLimited
from exchanges.limits import (
    IP,
    Budget,
    Charge,
    ExchangeLimit,
    UsageSignal,
    Use,
    Window,
    as_budget,
    bounded_pause_seconds,
    pause_cap_seconds,
)

LEASE_SECONDS = 30  # longer than any request (10 s timeout), short enough to heal quickly
# Windows are this much longer than published: a request granted at the very end of our
# window can reach the exchange a few ms later than its predecessors (scheduling, network),
# and the exchange counts by arrival. Raise it (RATE_LIMIT_WINDOW_MARGIN_MS) where the path
# to the exchange jitters more than on one machine.
WINDOW_MARGIN_MS = 50
DEFAULT_MAX_WAIT_SECONDS = 1.0
DEFAULT_EGRESS_ID = "default"
# a pool (or egress) stays in its registry this long after its last request or its pause
REGISTRY_MS = 62000
WEIGHT_RECORD_MS = 60000
# what a refusal names when no window bound it
BINDING = {-1: "pause", -2: "reservation", -3: "concurrency"}

_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_WINDOWS = """
-- Each window keeps a running sum beside its entries ("<id>:<units>"), so a call costs
-- only the entries that expired since the last one, not the whole window.
local function window_sum(key, span)
  local sum_key = key .. ':sum'
  local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - span)
  if #expired > 0 then
    local gone = 0
    for _, member in ipairs(expired) do
      gone = gone + tonumber(string.match(member, ':(%d+)$'))
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
    redis.call('DECRBY', sum_key, gone)
  end
  if redis.call('ZCARD', key) == 0 then
    redis.call('DEL', sum_key)
    return 0
  end
  return tonumber(redis.call('GET', sum_key) or '0')
end

local function add_to_window(key, score, member, added, ttl)
  redis.call('ZADD', key, score, member)
  redis.call('INCRBY', key .. ':sum', added)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
    redis.call('PEXPIRE', key .. ':sum', ttl)
  end
end
"""

_REGISTRY = f"""
-- a registry scores each member by when it stops mattering: its last use, or the end of
-- its pause when that is later
local function register(registry, member, until_ms)
  local score = tonumber(redis.call('ZSCORE', registry, member) or '0')
  if score < until_ms then redis.call('ZADD', registry, until_ms, member) end
  redis.call('ZREMRANGEBYSCORE', registry, '-inf', now - {REGISTRY_MS})
  local ttl = until_ms - now + {REGISTRY_MS}
  if redis.call('PTTL', registry) < ttl then redis.call('PEXPIRE', registry, ttl) end
end
"""

# KEYS: 1 pause, 2 leases, 3 reservation, 4 the pool's weight record, 5 pool registry,
#       6 egress registry, 7 the connection's usage record (or ""), 8.. one zset per window
# ARGV: 1 lease id, 2 lease ms, 3 concurrency cap, 4 window margin ms, 5 pool id, 6 egress,
#       7 weight, 8 heavy (1: may reserve the pool), then per window: limit, span ms, cost
# Returns {wait ms, now ms, binding}: binding is the 1-based window that set the wait, or
# -1 pause, -2 another request's reservation, -3 the concurrency cap; {0, now, 0} granted.
_ACQUIRE = (
    _CLOCK
    + _WINDOWS
    + _REGISTRY
    + f"""
register(KEYS[5], ARGV[5], now)
register(KEYS[6], ARGV[6], now)
local pause = redis.call('PTTL', KEYS[1])
if pause > 0 then return {{pause, now, -1}} end
-- a heavy request that was refused reserves the next room, so light ones cannot starve it
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then
  return {{math.max(1, redis.call('PTTL', KEYS[3])), now, -2}}
end

local function wait_for(key, span, limit, cost)
  local sum = window_sum(key, span)
  if sum + cost <= limit then return 0 end
  -- a request heavier than the whole window goes alone, into an empty one
  if cost > limit and sum == 0 then return 0 end
  -- wait until enough of the oldest entries leave the window (read a few at a time)
  local excess = math.min(sum + cost - limit, sum)
  local start = 0
  while true do
    local entries = redis.call('ZRANGE', key, start, start + 31, 'WITHSCORES')
    if #entries == 0 then return span end
    for i = 1, #entries, 2 do
      excess = excess - tonumber(string.match(entries[i], ':(%d+)$'))
      if excess <= 0 then return math.max(1, tonumber(entries[i + 1]) + span - now + 1) end
    end
    start = start + 32
  end
end

local margin = tonumber(ARGV[4])
local wait, binding = 0, 0
for w = 1, #KEYS - 7 do
  local base = 9 + (w - 1) * 3
  local waited = wait_for(KEYS[7 + w], tonumber(ARGV[base + 1]) + margin,
                          tonumber(ARGV[base]), tonumber(ARGV[base + 2]))
  if waited > wait then wait, binding = waited, w end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap then
  local soonest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  local lease_wait = math.min(50, tonumber(soonest[2]) - now)
  if lease_wait > wait then wait, binding = lease_wait, -3 end
end
if wait > 0 then
  if ARGV[8] == '1' then
    redis.call('SET', KEYS[3], ARGV[1], 'PX', math.min(wait, 2000) + 200)
  end
  return {{wait, now, binding}}
end
if holder then redis.call('DEL', KEYS[3]) end

for w = 1, #KEYS - 7 do
  local base = 9 + (w - 1) * 3
  local cost = tonumber(ARGV[base + 2])
  add_to_window(KEYS[7 + w], now, ARGV[1] .. ':' .. cost, cost,
                tonumber(ARGV[base + 1]) + margin + 1000)
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) + 1000)
local member = ARGV[1] .. ':' .. ARGV[7]
for _, record in ipairs({{KEYS[4], KEYS[7]}}) do
  if record ~= '' then
    redis.call('ZREMRANGEBYSCORE', record, '-inf', now - {WEIGHT_RECORD_MS})
    redis.call('ZADD', record, now, member)
    redis.call('PEXPIRE', record, {WEIGHT_RECORD_MS + 1000})
  end
end
return {{0, now, 0}}
"""
)

# Record what the exchange says it counted beyond ours (usage headers), ending when it says.
# KEYS: 1 window zset; ARGV: 1 units the exchange counted, 2 a unique id, 3 span ms with the
# margin, 4 ms until the exchange's count ends (-1: unknown, a whole span)
_RECONCILE = (
    _CLOCK
    + _WINDOWS
    + """
local span = tonumber(ARGV[3])
local ends = tonumber(ARGV[4])
if ends < 0 or ends > span then ends = span end
local missing = tonumber(ARGV[1]) - window_sum(KEYS[1], span)
if missing <= 0 or ends == 0 then return 0 end
add_to_window(KEYS[1], now + ends - span, ARGV[2] .. ':' .. missing, missing, span + 1000)
return missing
"""
)

# KEYS: 1 pause key, 2 pool registry; ARGV: 1 pause ms, 2 pool id.
# Keeps the longer of the current and the new pause; returns the ms the pool was already
# paused for (<= 0: this pause starts one).
_PAUSE = (
    _CLOCK
    + _REGISTRY
    + """
register(KEYS[2], ARGV[2], now + tonumber(ARGV[1]))
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', tonumber(ARGV[1]))
end
return current
"""
)


@dataclass(frozen=True)
class Decision:
    """0 s: granted (the lease is held); else how long to wait, and what set the wait (a
    window's name, ``pause``, ``reservation`` or ``concurrency``)."""

    wait: float
    binding: str = ""


@dataclass(frozen=True)
class WindowUsage:
    name: str
    used: int
    limit: int
    seconds: float

    @property
    def percent(self) -> float:
        return round(100.0 * self.used / self.limit, 2)


@dataclass(frozen=True)
class Usage:
    """One destination pool at a glance: the weight it sent in the last second and minute,
    requests in flight, the pause left, each window with its ceiling."""

    weight_last_second: int
    weight_last_minute: int
    in_flight: int
    paused_for_seconds: float
    per_minute_budget: int | None  # the pool's weight per minute; None: unbounded
    windows: tuple[WindowUsage, ...] = ()
    concurrent: int = 0

    @property
    def percent_of_minute(self) -> float:
        if not self.per_minute_budget:
            return 0.0
        return round(100.0 * self.weight_last_minute / self.per_minute_budget, 1)

    @property
    def busiest_percent(self) -> float:
        """The fullest window's share of its ceiling (0 for a pool without windows)."""
        return max((window.percent for window in self.windows), default=0.0)


class RateLimiter:
    """The budget of one exchange, seen from ``egress``, in Redis. ``destination`` is a
    REST host ``scheme://host:port`` (``exchanges.hosts.rest_destination``)."""

    def __init__(
        self,
        client: redis.Redis,
        exchange: str,
        budget: Budget | ExchangeLimit,
        *,
        egress: str = DEFAULT_EGRESS_ID,
        namespace: str = "ec:rl",
        lease_seconds: float = LEASE_SECONDS,
        margin_ms: int = WINDOW_MARGIN_MS,
    ) -> None:
        self.client = client
        self.exchange = exchange
        self.budget = as_budget(budget)
        self.egress = egress
        self.namespace = namespace
        self.margin_ms = margin_ms
        self.lease_ms = int(lease_seconds * 1000)
        self.prefix = f"{namespace}:{egress}:{exchange}"
        self.registry_key = f"{self.prefix}:destinations"
        self.egress_registry_key = f"{namespace}:egresses"
        self._acquire = client.register_script(_ACQUIRE)
        self._reconcile = client.register_script(_RECONCILE)
        self._pause = client.register_script(_PAUSE)

    # -- keys ------------------------------------------------------------------------------

    def pool_id(self, destination: str, product: str = "spot") -> str:
        return self.budget.pool_id(destination, product)

    def pool(self, destination: str, product: str = "spot") -> str:
        """The key prefix of one pool's windows, leases and pause."""
        return self.pool_key(self.pool_id(destination, product))

    def pool_key(self, pool_id: str) -> str:
        return f"{self.prefix}:{pool_id}"

    def window_key(self, use: Use, *, pool_key: str, key_id: str) -> str:
        if use.scope == IP:
            return f"{pool_key}:{use.window}"
        key = f"{self.namespace}:{self.exchange}:account:{key_id}:{use.window}"
        return f"{key}:{use.part}" if use.part else key

    def _usage_key(self, usage_scope: str) -> str:
        # a connection's own record, apart from the pools: its share of the budget,
        # whichever host and egress it used
        return f"{self.namespace}:{self.exchange}:usage:{usage_scope}"

    def uses(self, charge: Charge, *, key_id: str) -> list[Use]:
        """The windows ``charge`` counts against; account windows only with a key."""
        return [use for use in self.budget.uses(charge) if use.scope == IP or key_id]

    # -- acquiring -------------------------------------------------------------------------

    def decide(
        self,
        charge: Charge,
        *,
        destination: str,
        lease_id: str,
        key_id: str = "",
        usage_scope: str = "",
    ) -> Decision:
        """Take every window ``charge`` counts against at once, or none. ``usage_scope``
        (a connection id) also records the weight for that connection's usage figure."""
        pool_id = self.pool_id(destination, charge.product)
        pool_key = self.pool_key(pool_id)
        uses = self.uses(charge, key_id=key_id)
        windows = [self.budget.windows[use.window] for use in uses]
        heavy = any(
            use.scope == IP and use.cost * 2 > window.limit
            for use, window in zip(uses, windows, strict=True)
        )
        keys = [
            f"{pool_key}:pause",
            f"{pool_key}:leases",
            f"{pool_key}:reserve",
            f"{pool_key}:weight",
            self.registry_key,
            self.egress_registry_key,
            self._usage_key(usage_scope) if usage_scope else "",
            *(self.window_key(use, pool_key=pool_key, key_id=key_id) for use in uses),
        ]
        args: list[Any] = [
            lease_id,
            self.lease_ms,
            self.budget.concurrent,
            self.margin_ms,
            pool_id,
            self.egress,
            charge.weight,
            int(heavy),
        ]
        for use, window in zip(uses, windows, strict=True):
            args += [window.limit, int(window.seconds * 1000), use.cost]
        wait_ms, _, binding = self._acquire(keys=keys, args=args)
        if int(wait_ms) == 0:
            return Decision(0.0)
        name = uses[int(binding) - 1].window if int(binding) > 0 else BINDING[int(binding)]
        return Decision(int(wait_ms) / 1000.0, name)

    def try_acquire(
        self,
        charge: Charge,
        *,
        destination: str,
        lease_id: str,
        key_id: str = "",
        usage_scope: str = "",
    ) -> float:
        """0 when granted (the lease is held), else seconds to wait before trying again."""
        return self.decide(
            charge,
            destination=destination,
            lease_id=lease_id,
            key_id=key_id,
            usage_scope=usage_scope,
        ).wait

    def release(self, lease_id: str, *, destination: str, product: str = "spot") -> None:
        self.client.zrem(f"{self.pool(destination, product)}:leases", lease_id)

    def pause(self, seconds: float, *, destination: str, product: str = "spot") -> bool:
        """Hold every process using the pool for ``seconds`` (already bounded: see
        ``RedisThrottle.pause``); a shorter pause never shortens a longer one. True when
        the pool was not paused before: this pause starts one."""
        pool_id = self.pool_id(destination, product)
        before = self._pause(
            keys=[f"{self.pool_key(pool_id)}:pause", self.registry_key],
            args=[max(1, int(seconds * 1000)), pool_id],
        )
        return int(before) <= 0

    def reconcile(
        self, signal: UsageSignal, *, charge: Charge, destination: str, key_id: str = ""
    ) -> int:
        """The exchange counted ``signal.used`` in one window: record what we missed, until
        the exchange's count ends. Returns the units added (0 for a window we do not keep,
        or keep over another span)."""
        name = self._signal_window(signal.window)
        window = self.budget.windows.get(name)
        # a count over another span (a window reshaped by an override) says nothing of ours
        if (
            window is None
            or window.seconds != signal.seconds
            or (window.scope != IP and not key_id)
        ):
            return 0
        use = Use(name, 0, window.scope, charge.instrument if window.per_instrument else "")
        key = self.window_key(use, pool_key=self.pool(destination, charge.product), key_id=key_id)
        ends = -1 if signal.expires_in is None else max(0, int(signal.expires_in * 1000))
        return int(
            self._reconcile(
                keys=[key],
                args=[
                    signal.used,
                    uuid.uuid4().hex,
                    int(window.seconds * 1000) + self.margin_ms,
                    ends,
                ],
            )
        )

    def _signal_window(self, name: str) -> str:
        """The window a signal names, or the same window without its pool prefix where the
        table has only that (the legacy pair: Binance's ``spot ip weight 1m`` is then the
        pool's ``ip weight 1m``)."""
        if name in self.budget.windows:
            return name
        _, _, unpooled = name.partition(" ")
        return unpooled if unpooled in self.budget.windows else name

    # -- reading ---------------------------------------------------------------------------

    def scope_usage_percent(self, usage_scopes: list[str]) -> dict[str, float]:
        """Per connection: its weight in the last minute, as % of the tightest pool's
        weight per minute (0 where the exchange sets no pool-wide budget)."""
        budgets = [
            budget for budget in (self.minute_budget(pool) for pool in self._pool_names()) if budget
        ]
        minute = min(budgets, default=None)
        now_ms = _redis_now_ms(self.client)
        pipe = self.client.pipeline()
        for scope in usage_scopes:
            pipe.zrangebyscore(self._usage_key(scope), now_ms - WEIGHT_RECORD_MS, "+inf")
        return {
            scope: round(100.0 * _weights(members) / minute, 2) if minute else 0.0
            for scope, members in zip(usage_scopes, pipe.execute(), strict=True)
        }

    def minute_budget(self, pool: str) -> int | None:
        """The weight one pool allows per minute, by its tightest window that counts every
        request; None when none does."""
        figures = [
            window.limit * 60 / window.seconds
            for window in self.budget.pool_windows(pool).values()
            if window.endpoints is None and window.signed is None and window.counts != "orders"
        ]
        return int(min(figures)) if figures else None

    def destinations(self) -> list[str]:
        """Pools used in the last minute or paused now, sorted."""
        now_ms = _redis_now_ms(self.client)
        members = self.client.zrangebyscore(self.registry_key, now_ms - REGISTRY_MS, "+inf")
        return sorted(_text(member) for member in members)

    def egresses(self) -> list[str]:
        """Every egress that used any exchange in the last minute, sorted."""
        now_ms = _redis_now_ms(self.client)
        members = self.client.zrangebyscore(self.egress_registry_key, now_ms - REGISTRY_MS, "+inf")
        return sorted(_text(member) for member in members)

    def usage(self, destination: str, product: str = "spot") -> Usage:
        pool_id = self.pool_id(destination, product)
        return self.usage_by_destination([pool_id])[pool_id]

    def usage_by_destination(self, pool_ids: list[str] | None = None) -> dict[str, Usage]:
        """Usage of each pool (by default every one in the registry)."""
        pool_ids = self.destinations() if pool_ids is None else pool_ids
        now_ms = _redis_now_ms(self.client)
        pipe = self.client.pipeline()
        plans = []
        for pool_id in pool_ids:
            pool = self._pool_of_id(pool_id)
            pool_key, windows = self.pool_key(pool_id), self.budget.pool_windows(pool)
            pipe.zrangebyscore(
                f"{pool_key}:weight", now_ms - WEIGHT_RECORD_MS, "+inf", withscores=True
            )
            pipe.zcount(f"{pool_key}:leases", now_ms, "+inf")
            pipe.pttl(f"{pool_key}:pause")
            for name, window in windows.items():
                span = int(window.seconds * 1000) + self.margin_ms
                pipe.zrangebyscore(f"{pool_key}:{name}", now_ms - span, "+inf")
            plans.append((pool_id, pool, windows))
        answers = iter(pipe.execute())
        return {
            pool_id: self._usage(now_ms, pool, windows, answers) for pool_id, pool, windows in plans
        }

    def _usage(
        self, now_ms: int, pool: str, windows: dict[str, Window], answers: Iterator[Any]
    ) -> Usage:
        weight, in_flight, pause_ms = next(answers), next(answers), next(answers)
        return Usage(
            weight_last_second=_weights([m for m, score in weight if score > now_ms - 1000]),
            weight_last_minute=_weights([m for m, _ in weight]),
            in_flight=int(in_flight),
            paused_for_seconds=max(pause_ms, 0) / 1000,
            per_minute_budget=self.minute_budget(pool),
            windows=tuple(
                WindowUsage(name, _weights(next(answers)), window.limit, window.seconds)
                for name, window in windows.items()
            ),
            concurrent=self.budget.concurrent,
        )

    def _pool_of_id(self, pool_id: str) -> str:
        _, _, suffix = pool_id.rpartition(" ")
        return suffix if suffix in set(self.budget.pools.values()) else ""

    def _pool_names(self) -> list[str]:
        return sorted(set(self.budget.pools.values())) or [""]


@dataclass(frozen=True)
class PauseStarted:
    """A pool's pause began: what the exchange asked and what was applied."""

    exchange: str
    destination: str
    product: str
    seconds: float
    reason: str


class RedisThrottle:
    """A connector's throttle backed by ``RateLimiter`` (the ``Throttle`` protocol)."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        key_id: str = "",
        usage_scope: str = "",
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        on_pause_start: Callable[[PauseStarted], None] | None = None,
    ) -> None:
        self.limiter = limiter
        # told when a pause starts (the pool was not paused): the alerts hook
        self.on_pause_start = on_pause_start
        self.key_id = key_id
        self.usage_scope = usage_scope
        self.max_wait = max_wait
        self.sleep = sleep

    @contextmanager
    def __call__(self, charge: Charge, *, destination: str) -> Iterator[None]:
        lease_id = uuid.uuid4().hex
        waited = 0.0
        # our windows are the margin longer than published: that padding alone never turns
        # a wait for a one-second window into a refusal (nor the millisecond a window's wait
        # is rounded up by, which a fast machine meets when a window filled within one ms)
        patience = self.max_wait + (self.limiter.margin_ms + 1) / 1000
        while True:
            decision = self.limiter.decide(
                charge,
                destination=destination,
                lease_id=lease_id,
                key_id=self.key_id,
                usage_scope=self.usage_scope,
            )
            if decision.wait == 0:
                break
            if waited + decision.wait > patience:
                raise RateLimited(
                    f"{self.limiter.exchange} budget exhausted ({decision.binding}); retry later",
                    retry_after=max(decision.wait, 0.05),
                    exchange=self.limiter.exchange,
                )
            self.sleep(decision.wait)
            waited += decision.wait
        try:
            yield
        finally:
            self.limiter.release(lease_id, destination=destination, product=charge.product)

    def report_usage(
        self, signals: Sequence[UsageSignal], *, charge: Charge, destination: str
    ) -> None:
        for signal in signals:
            self.limiter.reconcile(
                signal, charge=charge, destination=destination, key_id=self.key_id
            )

    def pause(
        self, seconds: float, *, reason: str, destination: str, product: str = "spot"
    ) -> float:
        """Pause the pool for ``seconds`` within its cap (the exchange's longest documented
        ban on its own hosts, 10 minutes elsewhere); returns what it applied."""
        cap = pause_cap_seconds(self.limiter.exchange, destination)
        bounded = bounded_pause_seconds(seconds, cap=cap)
        started = self.limiter.pause(bounded, destination=destination, product=product)
        if started and self.on_pause_start is not None:
            self.on_pause_start(
                PauseStarted(
                    exchange=self.limiter.exchange,
                    destination=destination,
                    product=product,
                    seconds=bounded,
                    reason=reason,
                )
            )
        return bounded


def _weights(members: list[bytes]) -> int:
    return sum(int(member.rsplit(b":", 1)[1]) for member in members)


def _redis_now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _text(member: Any) -> str:
    return member.decode() if isinstance(member, bytes) else str(member)
