"""The paper exchange's dead-man switches (docs/dead-man-switch.md).

One switch per (exchange, account, product, symbol): ``product`` is ``spot`` or ``linear``
where the exchange arms each product apart (BingX, Bybit's SPOT and DERIVATIVES), ``""``
for every product (OKX); ``symbol`` is a unified symbol where the switch is per symbol
(Binance USD-M), ``""`` otherwise.

- A ``countdown`` switch fires ``seconds`` after it was last armed unless armed again.
- A ``disconnect`` switch (Bybit's DCP) has no deadline while the account has a private
  stream that subscribed ``dcp``; when the last such stream goes, the countdown starts,
  and a stream that comes back in time stops it. A switch armed while no stream is up waits
  for a first disconnection, as Bybit's timing "starts from the first disconnection".

Firing cancels the account's open orders in the switch's scope through the engine, so the
cancels reach the private streams as any cancel does, and disarms the switch (as OKX,
BingX and Binance do: it must be armed again). ``check`` is called by the server's
background task (every CHECK_INTERVAL_SECONDS) and by tests with their own clock.

``window_scale`` is a TEST-ONLY control override (``POST /_paper/dead-man``): windows armed
afterwards last ``seconds x window_scale``, so a 10 s minimum can elapse in half a second.
The real exchanges have nothing like it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aiohttp import web

    from paper.engine import Engine, PaperAccount, PaperOrder

log = logging.getLogger("paper.deadman")

Kind = Literal["countdown", "disconnect"]
CHECK_INTERVAL_SECONDS = 0.05


@dataclass
class Switch:
    exchange: str
    api_key: str
    kind: Kind
    seconds: float  # the window as armed (already scaled)
    product: str = ""  # spot | linear | "" (every product)
    symbol: str = ""  # unified symbol, or "" (every symbol)
    armed_at: float = 0.0
    fires_at: float | None = None  # None: a disconnect switch whose stream is up
    fired: int = 0  # times it fired (kept for stats until re-armed)

    def covers(self, order: PaperOrder) -> bool:
        if self.symbol and order.symbol != self.symbol:
            return False
        is_linear = ":" in order.symbol
        return self.product in ("", "linear" if is_linear else "spot")

    def view(self, now: float) -> dict[str, Any]:
        return {
            "exchange": self.exchange,
            "apiKey": self.api_key,
            "kind": self.kind,
            "product": self.product,
            "symbol": self.symbol,
            "seconds": self.seconds,
            "armedAt": self.armed_at,
            "firesInSeconds": None
            if self.fires_at is None
            else round(max(self.fires_at - now, 0.0), 3),
        }


class DeadManSwitches:
    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine = engine
        self.clock = clock
        self.window_scale = 1.0
        self.switches: dict[tuple[str, str, str, str], Switch] = {}
        self.fired: dict[str, int] = {}  # per exchange: switches that fired
        self.canceled: dict[str, int] = {}  # per exchange: orders they cancelled
        # (exchange, api_key) of accounts with a live stream that watches the switch
        self._watched: set[tuple[str, str]] = set()

    # -- arming ----------------------------------------------------------------------------

    def arm(
        self,
        account: PaperAccount,
        *,
        seconds: float,
        kind: Kind = "countdown",
        product: str = "",
        symbol: str = "",
    ) -> Switch:
        now = self.clock()
        window = seconds * self.window_scale
        key = (account.exchange, account.api_key, product, symbol)
        switch = Switch(
            account.exchange, account.api_key, kind, window, product, symbol, armed_at=now
        )
        if kind == "countdown":
            switch.fires_at = now + window
        else:
            previous = self.switches.get(key)
            # a countdown already running (the stream is away) keeps running, re-timed
            switch.fires_at = (
                None
                if previous is None or previous.fires_at is None
                else previous.fires_at - previous.seconds + window
            )
        self.switches[key] = switch
        return switch

    def disarm(self, account: PaperAccount, *, product: str = "", symbol: str = "") -> bool:
        key = (account.exchange, account.api_key, product, symbol)
        return self.switches.pop(key, None) is not None

    def armed(self, exchange: str | None = None) -> list[Switch]:
        return [s for s in self.switches.values() if exchange in (None, s.exchange)]

    # -- the private streams' hook (Bybit DCP) --------------------------------------------

    def stream_presence(
        self, exchange: str, api_key: str, *, live: bool, disconnected: bool = True
    ) -> None:
        """The account now has (``live``) or no longer has a stream watching its
        disconnect switches: stop their countdowns, or start them when the last watching
        stream was lost (``disconnected``; a stream that merely unsubscribed ``dcp``
        starts nothing: DCP then simply has no stream to watch)."""
        key = (exchange, api_key)
        was_live = key in self._watched
        if live:
            self._watched.add(key)
        else:
            self._watched.discard(key)
        now = self.clock()
        for switch in self.switches.values():
            if (switch.exchange, switch.api_key) != key or switch.kind != "disconnect":
                continue
            if live:
                switch.fires_at = None
            elif was_live and disconnected and switch.fires_at is None:
                switch.fires_at = now + switch.seconds

    # -- firing ----------------------------------------------------------------------------

    def check(self) -> list[PaperOrder]:
        """Fire every switch whose time has come; the orders it cancelled."""
        now = self.clock()
        canceled: list[PaperOrder] = []
        for key, switch in list(self.switches.items()):
            if switch.fires_at is None or switch.fires_at > now:
                continue
            del self.switches[key]
            canceled += self._fire(switch)
        return canceled

    def _fire(self, switch: Switch) -> list[PaperOrder]:
        account = self.engine.account(switch.exchange, switch.api_key)
        self.fired[switch.exchange] = self.fired.get(switch.exchange, 0) + 1
        if account is None:
            return []
        orders = [
            order
            for order in self.engine.open_orders(switch.exchange, account)
            if switch.covers(order)
        ]
        for order in orders:
            self.engine.cancel_order(switch.exchange, account, order_id=order.order_id)
        self.canceled[switch.exchange] = self.canceled.get(switch.exchange, 0) + len(orders)
        log.info("dead-man switch fired on %s: %d order(s) cancelled", switch.exchange, len(orders))
        return orders

    # -- control and stats -----------------------------------------------------------------

    def stats(self, exchange: str) -> dict[str, Any]:
        now = self.clock()
        return {
            "armed": [s.view(now) for s in self.armed(exchange)],
            "fired": self.fired.get(exchange, 0),
            "ordersCanceled": self.canceled.get(exchange, 0),
        }

    def reset(self) -> None:
        self.switches.clear()
        self.fired.clear()
        self.canceled.clear()
        self.window_scale = 1.0

    def background(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """The app's cleanup context: ``check`` every CHECK_INTERVAL_SECONDS."""

        async def run(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(self._check_forever())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        return run

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)
            try:
                self.check()
            except Exception:  # one bad switch must not stop the others
                log.exception("dead-man check failed")
