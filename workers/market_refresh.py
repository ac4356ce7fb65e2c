"""The stream runner keeps the pre-checks' shared caches warm for the connections it holds
(orders/market_data.py): every MARKET_REFRESH_SECONDS the tickers of their markets' warm
symbols, every INSTRUMENT_REFRESH_SECONDS the instrument lists, every
POSITION_MODE_REFRESH_SECONDS each perpetual connection's position mode. One ticker read
per market and symbol serves every connection on that market. The reads go through each
connection's connector (the limiter, the address check), in the runner's database threads.

With this, a placement on a live connection asks the exchange nothing; when the runner is
gone the caches go cold within MARKET_TICKER_CACHE_SECONDS and placements fall back to REST, as
they do anyway once its streams stop being live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from connections.models import ExchangeConnection
from connections.services import connection_connector
from exchanges.base import Connector
from orders import market_data
from orders.prechecks import instruments_refresh

log = logging.getLogger(__name__)

INSTRUMENT_REFRESH_SECONDS = 120.0  # the cache keeps them 300 s
POSITION_MODE_REFRESH_SECONDS = 60.0  # the cache keeps it 600 s
READ_MAX_WAIT_SECONDS = 0.5  # a refresh never waits long for rate budget


class MarketRefresher:
    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.plan: list[market_data.MarketJob] = []
        self.planned_for: tuple[str, ...] = ()
        self.planned_at = 0.0
        self.done_at: dict[str, float] = {}  # "instruments:<key>", "mode:<id>"
        self.connectors: dict[str, Connector] = {}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh_once()
            except Exception:  # the database or an exchange away: the next round tries
                log.exception("market data refresh failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=market_data.market_refresh_seconds())

    async def refresh_once(self) -> None:
        held = tuple(sorted(self.runner.held()))
        if not held:
            return
        if (
            held != self.planned_for
            or time.monotonic() - self.planned_at > market_data.market_plan_seconds()
        ):
            self.plan = await self.runner.db(market_data.market_plan, connection_ids=list(held))
            self.planned_for, self.planned_at = held, time.monotonic()
        await asyncio.gather(*(self.runner.db(self.refresh_market, job) for job in self.plan))

    def _due(self, name: str, every: float) -> bool:
        now = time.monotonic()
        if now - self.done_at.get(name, -every) < every:
            return False
        self.done_at[name] = now
        return True

    def _connector(self, connection_id: str) -> Connector:
        if connection_id not in self.connectors:
            connection = ExchangeConnection.objects.get(pk=connection_id)
            self.connectors[connection_id] = connection_connector(
                connection=connection, max_wait=READ_MAX_WAIT_SECONDS
            )
        return self.connectors[connection_id]

    def refresh_market(self, job: market_data.MarketJob) -> None:
        """One market, in a database thread: tickers, then what is due."""
        reader = ExchangeConnection.objects.get(pk=job.reader_id)
        connector = self._connector(job.reader_id)
        for symbol in job.symbols:
            try:
                market_data.ticker_store(connection=reader, ticker=connector.ticker(symbol))
            except Exception as exc:
                log.warning("ticker %s on %s not refreshed: %s", symbol, job.key, exc)
        if self._due(f"instruments:{job.key}", INSTRUMENT_REFRESH_SECONDS):
            try:
                instruments_refresh(connection=reader, connector=connector)
            except Exception as exc:
                self.done_at.pop(f"instruments:{job.key}", None)
                log.warning("instruments of %s not refreshed: %s", job.key, exc)
        for connection_id in job.perpetual_ids:
            if self._due(f"mode:{connection_id}", POSITION_MODE_REFRESH_SECONDS):
                try:
                    market_data.position_mode_read(
                        connection_id=connection_id, connector=self._connector(connection_id)
                    )
                except Exception as exc:
                    self.done_at.pop(f"mode:{connection_id}", None)
                    log.warning("position mode of %s not refreshed: %s", connection_id, exc)
