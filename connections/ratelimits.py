"""The cluster-wide limiter as Django sees it: one Redis client, one limiter per exchange
(budgets from EXCHANGE_RATE_LIMITS, pools per destination seen from EGRESS_ID), one
throttle per connection."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

from exchanges.capabilities import EXCHANGES
from exchanges.ratelimit import RateLimiter, RedisThrottle


@dataclass(frozen=True)
class ExchangeUsage:
    """One exchange's limiter at a glance, over every destination in use: the busiest
    destination's share of its minute budget, and totals across destinations."""

    busiest_percent_of_minute: float
    weight_last_minute: int
    in_flight: int
    paused_for_seconds: float
    destinations: int


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def exchange_limiter(exchange: str) -> RateLimiter:
    return RateLimiter(redis_client(), exchange, settings.EXCHANGE_RATE_LIMITS[exchange],
                       egress=settings.EGRESS_ID,
                       margin_ms=settings.RATE_LIMIT_WINDOW_MARGIN_MS)


def connection_throttle(*, exchange: str, connection_id: object, key_id: str,
                        max_wait: float = 1.0) -> RedisThrottle:
    module = importlib.import_module(f"exchanges.{exchange}")
    return RedisThrottle(exchange_limiter(exchange), key_id=key_id,
                         usage_scope=str(connection_id), max_wait=max_wait,
                         key_limits=getattr(module, "KEY_LIMITS", {}))


def exchange_usage() -> dict[str, ExchangeUsage]:
    return {exchange: _usage_over_destinations(exchange_limiter(exchange))
            for exchange in EXCHANGES}


def _usage_over_destinations(limiter: RateLimiter) -> ExchangeUsage:
    usages = list(limiter.usage_by_destination().values())
    return ExchangeUsage(
        busiest_percent_of_minute=max((u.percent_of_minute for u in usages), default=0.0),
        weight_last_minute=sum(u.weight_last_minute for u in usages),
        in_flight=sum(u.in_flight for u in usages),
        paused_for_seconds=max((u.paused_for_seconds for u in usages), default=0.0),
        destinations=len(usages))


def connection_usage_percent(connections: list[tuple[str, str]]) -> dict[str, float]:
    """{connection id: % of its exchange's minute budget} for (id, exchange) pairs."""
    by_exchange: dict[str, list[str]] = {}
    for connection_id, exchange in connections:
        by_exchange.setdefault(exchange, []).append(connection_id)
    usage: dict[str, float] = {}
    for exchange, ids in by_exchange.items():
        usage.update(exchange_limiter(exchange).scope_usage_percent(ids))
    return usage
