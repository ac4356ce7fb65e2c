"""The cluster-wide limiter as Django sees it: one Redis client, one limiter per exchange
(budgets from EXCHANGE_RATE_LIMITS), one throttle per connection."""

from __future__ import annotations

import importlib
from functools import lru_cache

import redis
from django.conf import settings

from exchanges.capabilities import EXCHANGES
from exchanges.ratelimit import RateLimiter, RedisThrottle, Usage


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def exchange_limiter(exchange: str) -> RateLimiter:
    return RateLimiter(redis_client(), exchange, settings.EXCHANGE_RATE_LIMITS[exchange],
                       margin_ms=settings.RATE_LIMIT_WINDOW_MARGIN_MS)


def connection_throttle(*, exchange: str, connection_id: object, key_id: str,
                        max_wait: float = 1.0) -> RedisThrottle:
    module = importlib.import_module(f"exchanges.{exchange}")
    return RedisThrottle(exchange_limiter(exchange), key_id=key_id,
                         usage_scope=str(connection_id), max_wait=max_wait,
                         key_limits=getattr(module, "KEY_LIMITS", {}))


def exchange_usage() -> dict[str, Usage]:
    return {exchange: exchange_limiter(exchange).usage() for exchange in EXCHANGES}


def connection_usage_percent(connections: list[tuple[str, str]]) -> dict[str, float]:
    """{connection id: % of its exchange's minute budget} for (id, exchange) pairs."""
    by_exchange: dict[str, list[str]] = {}
    for connection_id, exchange in connections:
        by_exchange.setdefault(exchange, []).append(connection_id)
    usage: dict[str, float] = {}
    for exchange, ids in by_exchange.items():
        usage.update(exchange_limiter(exchange).scope_usage_percent(ids))
    return usage
