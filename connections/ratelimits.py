"""The cluster-wide limiter as Django sees it, on the one Redis client (core.redis): one
limiter per exchange (the table of settings.EXCHANGE_RATE_LIMITS, with Binance's run-time
figures merged in), pools per destination seen from EGRESS_ID, one throttle per
connection; and the usage figures of the health view, over every egress in use."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.redis import redis_client
from core.types import Id
from exchanges import binance
from exchanges.capabilities import EXCHANGES
from exchanges.limits import Budget, Window, with_run_time_windows
from exchanges.ratelimit import RateLimiter, RedisThrottle, Usage

# Binance's exchangeInfo.rateLimits per product, as last read (connections.services)
RUN_TIME_LIMITS_KEY = "ec:rl:run-time:binance"
RUN_TIME_LIMITS_TTL_SECONDS = 2 * 3600  # two refreshes may fail before defaults return
# each process re-reads the shared copy this often
RUN_TIME_LIMITS_LOCAL_SECONDS = 60.0
_run_time_cache: dict[str, tuple[float, dict[str, dict[str, Window]]]] = {}


@dataclass(frozen=True)
class PoolUsage:
    """One destination pool seen from one egress."""

    egress: str
    destination: str  # the pool: REST host group, and the product's pool if it has one
    usage: Usage


@dataclass(frozen=True)
class ExchangeUsage:
    """One exchange's pools at a glance: the busiest window's share of its ceiling, and
    totals across pools and egresses."""

    busiest_percent_of_minute: float
    weight_last_minute: int
    in_flight: int
    paused_for_seconds: float
    destinations: int
    pools: tuple[PoolUsage, ...] = ()


# -- the table in force ---------------------------------------------------------------------


def exchange_budget(exchange: str) -> Budget:
    """The exchange's table; Binance's with the figures it serves at run time."""
    budget = settings.EXCHANGE_RATE_LIMITS[exchange]
    if exchange != binance.NAME:
        return budget
    for product, windows in run_time_windows().items():
        budget = with_run_time_windows(
            budget, product, windows, factor=settings.RATE_LIMIT_SAFETY_FACTOR
        )
    return budget


def run_time_windows() -> dict[str, dict[str, Window]]:
    """Binance's own windows per product from the shared copy, re-read once a minute."""
    read_at, windows = _run_time_cache.get(settings.REDIS_URL, (0.0, {}))
    if time.monotonic() - read_at > RUN_TIME_LIMITS_LOCAL_SECONDS:
        windows = _parse_run_time(redis_client().get(RUN_TIME_LIMITS_KEY))
        _run_time_cache[settings.REDIS_URL] = (time.monotonic(), windows)
    return windows


def run_time_limits_store(rate_limits: dict[str, Any]) -> None:
    """Share ``{product: exchangeInfo.rateLimits}`` with every process."""
    redis_client().set(RUN_TIME_LIMITS_KEY, json.dumps(rate_limits), ex=RUN_TIME_LIMITS_TTL_SECONDS)
    run_time_limits_forget()


def run_time_limits_forget() -> None:
    """This process re-reads the shared copy on its next use."""
    _run_time_cache.clear()


def _parse_run_time(raw: bytes | str | None) -> dict[str, dict[str, Window]]:
    try:
        stored = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return {
        product: windows
        for product in binance.POOLS
        if (
            windows := binance.rate_limits_from_exchange_info(
                product, {"rateLimits": stored.get(product)}
            )
        )
    }


# -- limiters and throttles -----------------------------------------------------------------


def exchange_limiter(exchange: str, *, egress: str | None = None) -> RateLimiter:
    return RateLimiter(
        redis_client(),
        exchange,
        exchange_budget(exchange),
        egress=egress or settings.EGRESS_ID,
        margin_ms=settings.RATE_LIMIT_WINDOW_MARGIN_MS,
    )


def connection_throttle(
    *, exchange: str, connection_id: Id, key_id: str, max_wait: float = 1.0
) -> RedisThrottle:
    from connections.alerts import alert_rate_limit_pause

    return RedisThrottle(
        exchange_limiter(exchange),
        key_id=key_id,
        usage_scope=str(connection_id or ""),
        max_wait=max_wait,
        on_pause_start=lambda pause: alert_rate_limit_pause(pause=pause),
    )


# -- usage ------------------------------------------------------------------------------------


def exchange_usage() -> dict[str, ExchangeUsage]:
    egresses = exchange_limiter(EXCHANGES[0]).egresses() or [settings.EGRESS_ID]
    return {exchange: _usage_over_pools(exchange, egresses) for exchange in EXCHANGES}


def _usage_over_pools(exchange: str, egresses: list[str]) -> ExchangeUsage:
    pools = tuple(
        PoolUsage(egress, pool_id, usage)
        for egress in egresses
        for pool_id, usage in exchange_limiter(exchange, egress=egress)
        .usage_by_destination()
        .items()
    )
    usages = [pool.usage for pool in pools]
    return ExchangeUsage(
        busiest_percent_of_minute=max((u.busiest_percent for u in usages), default=0.0),
        weight_last_minute=sum(u.weight_last_minute for u in usages),
        in_flight=sum(u.in_flight for u in usages),
        paused_for_seconds=max((u.paused_for_seconds for u in usages), default=0.0),
        destinations=len(pools),
        pools=pools,
    )


def connection_usage_percent(connections: list[tuple[str, str]]) -> dict[str, float]:
    """{connection id: % of its exchange's per-minute pool budget} for (id, exchange)."""
    by_exchange: dict[str, list[str]] = {}
    for connection_id, exchange in connections:
        by_exchange.setdefault(exchange, []).append(connection_id)
    usage: dict[str, float] = {}
    for exchange, ids in by_exchange.items():
        usage.update(exchange_limiter(exchange).scope_usage_percent(ids))
    return usage
