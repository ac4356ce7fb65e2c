"""Shared caches the pre-checks read instead of the exchange: tickers (a few seconds),
instruments (minutes, ``prechecks.instrument_for``) and each perpetual connection's position
mode. The stream runner keeps them warm out of band (workers/market_refresh.py) for the
connections it holds, so a placement on a live connection asks the exchange nothing.

Tickers and instruments are public: one entry per market (exchange, environment, api type,
REST root) serves every connection on it. The position mode is per connection (an account's
setting). Values are JSON in the Django cache (Redis).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from connections.models import ExchangeConnection
from exchanges.base import Connector, Ticker
from orders.models import TERMINAL, Order

# how long a ticker stays usable is settings.MARKET_TICKER_CACHE_SECONDS (ticker_cache_seconds);
# the refresher rewrites it every MARKET_REFRESH_SECONDS
POSITION_MODE_CACHE_SECONDS = 600
# the symbols kept warm: those of unfinished orders and of orders this recent
WARM_SYMBOL_DAYS = 7


def market_key(connection: ExchangeConnection) -> str:
    """What public market data is shared by: the same exchange, environment, api type and
    REST root answer the same tickers and instruments."""
    return (
        f"{connection.exchange}:{connection.environment}:{connection.api_type}:"
        f"{connection.base_url}"
    )


def _ticker_key(connection: ExchangeConnection, symbol: str) -> str:
    return f"ec:ticker:{market_key(connection)}:{symbol}"


@dataclass(frozen=True)
class CachedTicker:
    ticker: Ticker
    at: float  # when it was read (epoch seconds)

    def age_ms(self, now: float | None = None) -> int:
        return max(0, int(((now or time.time()) - self.at) * 1000))


def ticker_store(
    *, connection: ExchangeConnection, ticker: Ticker, at: float | None = None
) -> None:
    value = {
        "symbol": ticker.symbol,
        "bid": str(ticker.bid),
        "ask": str(ticker.ask),
        "last": str(ticker.last),
        "at": at or time.time(),
    }
    cache.set(
        _ticker_key(connection, ticker.symbol), json.dumps(value), math.ceil(ticker_cache_seconds())
    )


def ticker_cached(*, connection: ExchangeConnection, symbol: str) -> CachedTicker | None:
    """The symbol's ticker if one was read in the last MARKET_TICKER_CACHE_SECONDS."""
    raw = cache.get(_ticker_key(connection, symbol))
    if raw is None:
        return None
    value = json.loads(raw)
    if time.time() - value["at"] > ticker_cache_seconds():
        return None
    return CachedTicker(
        ticker=Ticker(
            symbol=value["symbol"],
            bid=Decimal(value["bid"]),
            ask=Decimal(value["ask"]),
            last=Decimal(value["last"]),
        ),
        at=value["at"],
    )


def _position_mode_key(connection_id: object) -> str:
    return f"ec:position-mode:{connection_id}"


def position_mode_store(*, connection_id: object, hedge: bool) -> None:
    cache.set(
        _position_mode_key(connection_id),
        json.dumps({"hedge": hedge, "at": time.time()}),
        POSITION_MODE_CACHE_SECONDS,
    )


def position_mode_cached(*, connection_id: object) -> tuple[bool, float] | None:
    """(hedge mode, when it was read) if read in the last POSITION_MODE_CACHE_SECONDS."""
    raw = cache.get(_position_mode_key(connection_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return bool(value["hedge"]), float(value["at"])


def position_mode_read(*, connection_id: object, connector: Connector) -> bool:
    """Ask the exchange (a REST read) and remember the answer."""
    hedge = connector.is_hedge_mode()
    position_mode_store(connection_id=connection_id, hedge=hedge)
    return hedge


def warm_symbols(*, connection_ids: list[str]) -> dict[str, set[str]]:
    """connection id -> the symbols to keep warm: those of its unfinished orders and of its
    orders of the last WARM_SYMBOL_DAYS (one query)."""
    since = timezone.now() - timedelta(days=WARM_SYMBOL_DAYS)
    rows = (
        Order.objects.filter(connection__pk__in=connection_ids)
        .filter(Q(created_at__gte=since) | ~Q(status__in=TERMINAL))
        .values_list("connection_id", "symbol")
        .distinct()
    )
    symbols: dict[str, set[str]] = {str(pk): set() for pk in connection_ids}
    for connection_id, symbol in rows:
        symbols[str(connection_id)].add(symbol)
    return symbols


def market_refresh_seconds() -> float:
    return float(settings.MARKET_REFRESH_SECONDS)


def ticker_cache_seconds() -> float:
    return float(settings.MARKET_TICKER_CACHE_SECONDS)


def market_plan_seconds() -> float:
    return float(settings.MARKET_PLAN_SECONDS)


# -- the out-of-band refresh (workers/market_refresh.py runs it in the stream runner) -------


@dataclass(frozen=True)
class MarketJob:
    """One market's refresh: the symbols to keep warm, read with one of its connections'
    connector, and the perpetual connections on it whose position mode is kept."""

    key: str
    reader_id: str
    symbols: tuple[str, ...]
    perpetual_ids: tuple[str, ...]


def market_plan(*, connection_ids: list[str]) -> list[MarketJob]:
    """The markets of the given (held) connections, in two queries."""
    connections = list(ExchangeConnection.objects.filter(pk__in=connection_ids))
    symbols = warm_symbols(connection_ids=[str(c.pk) for c in connections])
    markets: dict[str, list[ExchangeConnection]] = {}
    for connection in connections:
        markets.setdefault(market_key(connection), []).append(connection)
    jobs = []
    for key, members in sorted(markets.items()):
        members.sort(key=lambda c: str(c.pk))
        jobs.append(
            MarketJob(
                key=key,
                reader_id=str(members[0].pk),
                symbols=tuple(sorted(set().union(*(symbols[str(c.pk)] for c in members)))),
                perpetual_ids=tuple(
                    str(c.pk) for c in members if c.api_type == "perpetual_futures"
                ),
            )
        )
    return jobs
