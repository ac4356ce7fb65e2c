"""The cluster-wide rate limiter: one atomic Lua script in Redis for every process at once.

Per destination (one exchange's REST host, seen from one egress: the processes behind one
source address share it): sliding 1 s and 60 s windows of request weight, a concurrency cap
made of leases that expire (a killed process cannot leak a slot), and a pause that holds
every process using that destination after a rate-limit answer, no other. So Binance spot
(api.binance.com) and USD-M (fapi.binance.com) are separate pools, testnet and paper hosts
have their own, and a connection pointed at some other host can pause only that host. Per
API key: optional per-endpoint windows (``KEY_LIMITS`` of each exchange module). Time is
Redis's own clock, so processes on machines with skewed clocks still agree.

Keys: ``<namespace>:<egress>:<exchange>:<destination>:{1s,60s,leases,pause,reserve,key:..}``
(the pool), and beside the pools a registry of the destinations in use (for the health
view) and each connection's own usage record (its share of the budget it used).

``RedisThrottle`` is the connector's ``throttle``: a call waits up to ``max_wait`` seconds
for room, otherwise raises ``RateLimited(retry_after)`` so a Celery task can retry with a
countdown instead of holding a worker. Its pauses are bounded (``exchanges.limits``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from exchanges.errors import RateLimited
from exchanges.limits import ExchangeLimit, bounded_pause_seconds, pause_cap_seconds

LEASE_SECONDS = 30  # longer than any request (10 s timeout), short enough to heal quickly
# Windows are this much longer than 1 s and 60 s: a request granted at the very end of our
# window can reach the exchange a few ms later than its predecessors (scheduling, network),
# and the exchange counts by arrival. Raise it (RATE_LIMIT_WINDOW_MARGIN_MS) where the path
# to the exchange jitters more than on one machine.
WINDOW_MARGIN_MS = 50
DEFAULT_MAX_WAIT_SECONDS = 1.0
DEFAULT_EGRESS_ID = "default"
# a destination stays in the registry this long after its last request (or its pause)
REGISTRY_MS = 62000

# KEYS: 1 second-window zset, 2 minute-window zset, 3 leases zset, 4 pause key,
#       5 per-key zset (or "" for none), 6 per-connection minute zset for usage (or ""),
#       7 reservation key, 8 destination registry zset
# ARGV: 1 weight, 2 per-second budget, 3 per-minute budget, 4 concurrency cap,
#       5 lease id, 6 lease ms, 7 per-key count, 8 per-key window ms, 9 window margin ms,
#       10 destination
# Returns {0, now_ms} when granted (lease taken, weight recorded), else {wait_ms, now_ms}.
_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_WINDOWS = """
-- Each window keeps a running sum beside its entries, so a call costs only the entries that
-- expire since the last one, not the whole window.
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

local function add_to_window(key, member, added, ttl)
  redis.call('ZADD', key, now, member)
  redis.call('INCRBY', key .. ':sum', added)
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', key .. ':sum', ttl)
end
"""

_REGISTRY = f"""
-- the registry scores each destination by when it stops mattering: its last use, or the
-- end of its pause when that is later
local function register(registry, destination, until_ms)
  local score = tonumber(redis.call('ZSCORE', registry, destination) or '0')
  if score < until_ms then redis.call('ZADD', registry, until_ms, destination) end
  redis.call('ZREMRANGEBYSCORE', registry, '-inf', now - {REGISTRY_MS})
  local ttl = until_ms - now + {REGISTRY_MS}
  if redis.call('PTTL', registry) < ttl then redis.call('PEXPIRE', registry, ttl) end
end
"""

_ACQUIRE = _CLOCK + _WINDOWS + _REGISTRY + """
register(KEYS[8], ARGV[10], now)
local weight = tonumber(ARGV[1])
local pause = redis.call('PTTL', KEYS[4])
if pause > 0 then return {pause, now} end
-- a heavy request that was refused reserves the next room, so light ones cannot starve it
local holder = redis.call('GET', KEYS[7])
if holder and holder ~= ARGV[5] then
  return {math.max(1, redis.call('PTTL', KEYS[7])), now}
end

local function wait_for(key, span, budget)
  local sum = window_sum(key, span)
  if sum + weight <= budget then return 0 end
  -- a request heavier than the whole budget goes alone, into an empty window
  if weight > budget and sum == 0 then return 0 end
  -- wait until enough of the oldest entries leave the window (read a few at a time)
  local excess = math.min(sum + weight - budget, sum)
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

local margin = tonumber(ARGV[9])
local wait = math.max(wait_for(KEYS[1], 1000 + margin, tonumber(ARGV[2])),
                      wait_for(KEYS[2], 60000 + margin, tonumber(ARGV[3])))
if KEYS[5] ~= '' then
  local count, span = tonumber(ARGV[7]), tonumber(ARGV[8])
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - span)
  if redis.call('ZCARD', KEYS[5]) >= count then
    local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + span - now + 1)
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then
  local soonest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  wait = math.max(wait, math.min(50, tonumber(soonest[2]) - now))
end
if wait > 0 then
  if weight * 2 > tonumber(ARGV[2]) then
    redis.call('SET', KEYS[7], ARGV[5], 'PX', math.min(wait, 2000) + 200)
  end
  return {wait, now}
end
if holder then redis.call('DEL', KEYS[7]) end

local member = ARGV[5] .. ':' .. ARGV[1]
add_to_window(KEYS[1], member, weight, 2000)
add_to_window(KEYS[2], member, weight, 62000)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[5])
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[6]) + 1000)
if KEYS[5] ~= '' then
  redis.call('ZADD', KEYS[5], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[5], tonumber(ARGV[8]) + 1000)
end
if KEYS[6] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 60000)
  redis.call('ZADD', KEYS[6], now, member)
  redis.call('PEXPIRE', KEYS[6], 61000)
end
return {0, now}
"""

# Record weight the exchange says it counted beyond ours (usage headers).
# KEYS: 1 minute-window zset; ARGV: 1 weight the exchange reports, 2 a unique id,
# 3 window margin ms
_RECONCILE = _CLOCK + _WINDOWS + """
local missing = tonumber(ARGV[1]) - window_sum(KEYS[1], 60000 + tonumber(ARGV[3]))
if missing > 0 then
  add_to_window(KEYS[1], ARGV[2] .. ':' .. missing, missing, 62000)
  return missing
end
return 0
"""

# KEYS: 1 pause key, 2 destination registry; ARGV: 1 pause ms, 2 destination.
# Keeps the longer of the current and the new pause.
_PAUSE = _CLOCK + _REGISTRY + """
register(KEYS[2], ARGV[2], now + tonumber(ARGV[1]))
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', tonumber(ARGV[1]))
end
return math.max(current, tonumber(ARGV[1]))
"""


@dataclass(frozen=True)
class Usage:
    weight_last_second: int
    weight_last_minute: int
    in_flight: int
    paused_for_seconds: float
    per_minute_budget: int

    @property
    def percent_of_minute(self) -> float:
        return round(100.0 * self.weight_last_minute / self.per_minute_budget, 1)


class RateLimiter:
    """The shared budgets of one exchange, one pool per destination (seen from ``egress``),
    in Redis. ``destination`` is ``scheme://host:port`` (``exchanges.hosts.rest_destination``)."""

    def __init__(self, client: redis.Redis, exchange: str, limit: ExchangeLimit, *,
                 egress: str = DEFAULT_EGRESS_ID, namespace: str = "ec:rl",
                 lease_seconds: float = LEASE_SECONDS,
                 margin_ms: int = WINDOW_MARGIN_MS) -> None:
        self.client = client
        self.margin_ms = margin_ms
        self.lease_ms = int(lease_seconds * 1000)
        self.exchange = exchange
        self.limit = limit
        self.prefix = f"{namespace}:{egress}:{exchange}"
        self.registry_key = f"{self.prefix}:destinations"
        self._acquire = client.register_script(_ACQUIRE)
        self._reconcile = client.register_script(_RECONCILE)
        self._pause = client.register_script(_PAUSE)

    def pool(self, destination: str) -> str:
        """The key prefix of one destination's windows, leases and pause."""
        return f"{self.prefix}:{destination}"

    def _usage_key(self, usage_scope: str) -> str:
        # a connection's own record, apart from the pools: its id is its alone, and its
        # share is of the exchange's budget, whichever of the exchange's hosts it uses
        return f"{self.prefix}:usage:{usage_scope}"

    def _keys(self, destination: str, key_scope: str, usage_scope: str) -> list[str]:
        pool = self.pool(destination)
        return [f"{pool}:1s", f"{pool}:60s", f"{pool}:leases", f"{pool}:pause",
                f"{pool}:{key_scope}" if key_scope else "",
                self._usage_key(usage_scope) if usage_scope else "", f"{pool}:reserve",
                self.registry_key]

    def try_acquire(self, weight: int, *, destination: str, lease_id: str,
                    key_scope: str = "", key_limit: tuple[int, float] | None = None,
                    usage_scope: str = "") -> float:
        """0 when granted (the lease is held), else seconds to wait before trying again.
        ``key_scope`` names a per-key window inside the destination's pool; ``usage_scope``
        (a connection id) also records the weight for that connection's usage figure."""
        count, window = key_limit or (0, 0)
        keys = self._keys(destination, key_scope if key_limit else "", usage_scope)
        wait_ms, _ = self._acquire(keys=keys, args=[
            weight, self.limit.per_second, self.limit.per_minute, self.limit.concurrent,
            lease_id, self.lease_ms, count, int(window * 1000), self.margin_ms, destination])
        return int(wait_ms) / 1000.0

    def release(self, lease_id: str, *, destination: str) -> None:
        self.client.zrem(f"{self.pool(destination)}:leases", lease_id)

    def pause(self, seconds: float, *, destination: str) -> None:
        """Hold every process using ``destination`` for ``seconds`` (already bounded: see
        ``RedisThrottle.pause``); a shorter pause never shortens a longer one."""
        self._pause(keys=[f"{self.pool(destination)}:pause", self.registry_key],
                    args=[max(1, int(seconds * 1000)), destination])

    def reconcile_usage(self, used_weight: int, *, destination: str) -> int:
        """The exchange counted ``used_weight`` in its minute: add what we missed."""
        return int(self._reconcile(keys=[f"{self.pool(destination)}:60s"],
                                   args=[used_weight, uuid.uuid4().hex, self.margin_ms]))

    def scope_usage_percent(self, usage_scopes: list[str]) -> dict[str, float]:
        """Per connection: % of this exchange's minute budget its requests used."""
        now_ms = _redis_now_ms(self.client)
        pipe = self.client.pipeline()
        for scope in usage_scopes:
            pipe.zrangebyscore(self._usage_key(scope), now_ms - 60000, "+inf")
        return {scope: round(100.0 * _weights(members) / self.limit.per_minute, 1)
                for scope, members in zip(usage_scopes, pipe.execute(), strict=True)}

    def destinations(self) -> list[str]:
        """Destinations used in the last minute or paused now, sorted."""
        now_ms = _redis_now_ms(self.client)
        members = self.client.zrangebyscore(self.registry_key, now_ms - REGISTRY_MS, "+inf")
        return sorted(member.decode() for member in members)

    def usage(self, destination: str) -> Usage:
        return self.usage_by_destination([destination])[destination]

    def usage_by_destination(self, destinations: list[str] | None = None) -> dict[str, Usage]:
        """Usage of each destination (by default every one in the registry)."""
        destinations = self.destinations() if destinations is None else destinations
        now_ms = _redis_now_ms(self.client)
        pipe = self.client.pipeline()
        for destination in destinations:
            pool = self.pool(destination)
            pipe.zrangebyscore(f"{pool}:1s", now_ms - 1000, "+inf")
            pipe.zrangebyscore(f"{pool}:60s", now_ms - 60000, "+inf")
            pipe.zcount(f"{pool}:leases", now_ms, "+inf")
            pipe.pttl(f"{pool}:pause")
        answers = pipe.execute()
        return {destination: Usage(
            weight_last_second=_weights(second), weight_last_minute=_weights(minute),
            in_flight=int(in_flight), paused_for_seconds=max(pause_ms, 0) / 1000,
            per_minute_budget=self.limit.per_minute)
            for destination, (second, minute, in_flight, pause_ms)
            in zip(destinations, _fours(answers), strict=True)}


class RedisThrottle:
    """A connector's throttle backed by ``RateLimiter`` (the ``Throttle`` protocol)."""

    def __init__(self, limiter: RateLimiter, *, key_id: str = "", usage_scope: str = "",
                 key_limits: Mapping[str, tuple[int, float]] | None = None,
                 max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limiter = limiter
        self.key_id = key_id
        self.usage_scope = usage_scope
        self.key_limits = dict(key_limits or {})
        self.max_wait = max_wait
        self.sleep = sleep

    @contextmanager
    def __call__(self, weight: int, *, endpoint: str, destination: str) -> Iterator[None]:
        lease_id = uuid.uuid4().hex
        key_limit = self.key_limits.get(endpoint)
        key_scope = f"key:{self.key_id}:{endpoint}" if key_limit else ""
        waited = 0.0
        while True:
            wait = self.limiter.try_acquire(weight, destination=destination, lease_id=lease_id,
                                            key_scope=key_scope, key_limit=key_limit,
                                            usage_scope=self.usage_scope)
            if wait == 0:
                break
            if waited + wait > self.max_wait:
                raise RateLimited(f"{self.limiter.exchange} budget exhausted; retry later",
                                  retry_after=max(wait, 0.05), exchange=self.limiter.exchange)
            self.sleep(wait)
            waited += wait
        try:
            yield
        finally:
            self.limiter.release(lease_id, destination=destination)

    def report_usage(self, *, used_weight: int, window_seconds: int,
                     destination: str) -> None:
        if window_seconds == 60:
            self.limiter.reconcile_usage(used_weight, destination=destination)

    def pause(self, seconds: float, *, reason: str, destination: str) -> float:
        """Pause ``destination`` for ``seconds`` within its cap (the exchange's longest
        documented ban on its own hosts, 10 minutes elsewhere); returns what it applied."""
        cap = pause_cap_seconds(self.limiter.exchange, destination)
        bounded = bounded_pause_seconds(seconds, cap=cap)
        self.limiter.pause(bounded, destination=destination)
        return bounded


def _weights(members: list[bytes]) -> int:
    return sum(int(member.rsplit(b":", 1)[1]) for member in members)


def _fours(answers: list[Any]) -> Iterator[tuple[Any, Any, Any, Any]]:
    for index in range(0, len(answers), 4):
        yield answers[index], answers[index + 1], answers[index + 2], answers[index + 3]


def _redis_now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000
