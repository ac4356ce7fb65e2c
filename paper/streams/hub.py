"""The publish/subscribe hub between the engine and the private streams.

The engine calls ``on_event`` synchronously for every accepted order, fill, close and
funding. The hub collects what one engine call did and, once control is back on the event
loop, renders it per account: the order events in the order they happened, then the
balances and positions they touched, and pushes each message to the account's live
authenticated streams that want it (subscribed channel, product, symbol). Nothing is
rendered for an account with no live stream: like the real exchanges, the paper exchange
sends no snapshot of what a stream missed.

Stream faults (``POST /_paper/streams``) act on the matching live streams; the counters feed
``GET /_paper/stats``; ``reset`` closes every stream and forgets every listen key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paper.engine import Engine, EngineEvent
from paper.streams.base import LINEAR, SPOT, Connection, Outgoing, product_of, split_symbol
from paper.streams.listen_keys import ListenKeys

if TYPE_CHECKING:
    from aiohttp import web

    from paper.streams.base import StreamServer

STREAM_ACTIONS = ("drop", "stall", "repeat", "reorder", "expireListenKey")
DCP_TOPIC = "dcp"  # Bybit: a stream must subscribe it for DCP to fire on its loss
SWEEP_SECONDS = 1.0


@dataclass
class StreamCounters:
    connections: int = 0  # streams ever opened
    auth_failures: int = 0  # refused logins, signatures and listen keys
    messages_sent: int = 0  # event messages written (repeats count twice)

    def view(self, live: int, listen_keys: int) -> dict[str, int]:
        return {
            "connections": self.connections,
            "live": live,
            "authFailures": self.auth_failures,
            "messagesSent": self.messages_sent,
            "listenKeys": listen_keys,
        }


@dataclass
class StreamTiming:
    """Per exchange overrides of a server's timings (``ping_interval``, ``max_missed_pongs``,
    ``idle_timeout``, ...; tests shrink them): ``{"bingx": {"ping_interval": 0.1}}``."""

    overrides: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)

    def apply(self, server: StreamServer) -> None:
        for name, value in self.overrides.get(server.exchange, {}).items():
            timing = name.endswith(("_interval", "_timeout", "_pongs"))
            if not timing or not hasattr(server, name):
                raise ValueError(f"{server.exchange} streams have no timing {name!r}")
            setattr(server, name, value)


class StreamHub:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.servers: dict[str, StreamServer] = {}
        self.connections: list[Connection] = []
        self.listen_keys = ListenKeys(engine.now_ms)
        self.counters: dict[str, StreamCounters] = {}
        self._pending: list[EngineEvent] = []
        self._flush_scheduled = False
        engine.listeners.append(self.on_event)

    def register(self, server: StreamServer) -> None:
        self.servers[server.exchange] = server
        self.counters.setdefault(server.exchange, StreamCounters())

    def routes(self) -> list[web.RouteDef]:
        return [route for server in self.servers.values() for route in server.routes()]

    # -- connections -----------------------------------------------------------------------

    def attach(self, conn: Connection) -> None:
        self.connections.append(conn)
        self.count(conn.exchange, connections=1)

    def detach(self, conn: Connection) -> None:
        with contextlib.suppress(ValueError):
            self.connections.remove(conn)
        if conn.authenticated:
            self.watch_changed(conn, disconnected=True)

    def watch_changed(self, conn: Connection, *, disconnected: bool = False) -> None:
        """Tell the dead-man switches whether the account of ``conn`` still has a live
        stream that subscribed the disconnect switch's topic (Bybit's ``dcp``)."""
        assert conn.api_key is not None
        live = any(
            any(channel.partition(".")[0] == DCP_TOPIC for channel in c.channels)
            for c in self.live(conn.exchange, conn.api_key)
        )
        self.engine.dead_man.stream_presence(
            conn.exchange, conn.api_key, live=live, disconnected=disconnected
        )

    def count(
        self, exchange: str, *, connections: int = 0, auth_failures: int = 0, messages_sent: int = 0
    ) -> None:
        counters = self.counters.setdefault(exchange, StreamCounters())
        counters.connections += connections
        counters.auth_failures += auth_failures
        counters.messages_sent += messages_sent

    def live(self, exchange: str, api_key: str | None = None) -> list[Connection]:
        return [
            c
            for c in self.connections
            if c.exchange == exchange
            and c.authenticated
            and not c.closing
            and api_key in (None, c.api_key)
        ]

    # -- events ----------------------------------------------------------------------------

    def on_event(self, event: EngineEvent) -> None:
        if event.exchange not in self.servers:
            return
        self._pending.append(event)
        if self._flush_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # the engine driven without a loop (a script): at once
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        events, self._pending = self._pending, []
        by_account: dict[tuple[str, str], list[EngineEvent]] = {}
        for event in events:
            by_account.setdefault((event.exchange, event.api_key), []).append(event)
        for (exchange, api_key), account_events in by_account.items():
            streams = self.live(exchange, api_key)
            if streams:
                self._publish(self.servers[exchange], api_key, account_events, streams)

    def _publish(
        self,
        server: StreamServer,
        api_key: str,
        events: list[EngineEvent],
        streams: list[Connection],
    ) -> None:
        account = self.engine.account(server.exchange, api_key)
        if account is None:
            return
        messages: list[Outgoing] = []
        assets: dict[str, list[str]] = {SPOT: [], LINEAR: []}
        symbols: list[str] = []
        for event in events:
            if event.kind == "funded":
                messages += server.render_funding(event)
                for product in (SPOT, LINEAR):
                    _add(assets[product], event.deltas)
                continue
            messages += server.render(event)
            order = event.order
            assert order is not None
            base, quote = split_symbol(order.symbol)
            product = product_of(order.symbol)
            _add(assets[product], (base, quote) if product == SPOT else (quote,))
            if product == LINEAR and event.kind == "fill":
                _add(symbols, (order.symbol,))
        if assets[SPOT] or assets[LINEAR]:
            messages += server.render_balances(account, assets)
        if symbols:
            messages += server.render_positions(account, symbols)
        for conn in streams:
            for message in messages:
                if server.wants(conn, message):
                    conn.push(server.encode(conn, message))

    # -- listen keys -----------------------------------------------------------------------

    def listen_key_gone(self, exchange: str, keys: Iterable[str], *, expired: bool) -> None:
        """Streams on these keys end: with the exchange's expiry event when they lapsed,
        closed when the key was deleted."""
        gone = set(keys)
        for conn in list(self.connections):
            if conn.exchange == exchange and conn.listen_key in gone and not conn.closing:
                if expired:
                    conn.server.listen_key_expired(conn)
                else:
                    conn.close(1000, "listen key deleted")

    def sweep(self) -> None:
        lapsed = self.listen_keys.sweep()
        for exchange in {key.exchange for key in lapsed}:
            self.listen_key_gone(
                exchange, (k.key for k in lapsed if k.exchange == exchange), expired=True
            )

    def background(self) -> Callable[[web.Application], AsyncIterator[None]]:
        """The app's cleanup context: the listen-key sweep, and every stream closed at
        shutdown."""

        async def run(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(self._sweep_forever())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for conn in list(self.connections):
                conn.drop()

        return run

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.sweep()

    # -- control ---------------------------------------------------------------------------

    def fault(self, exchange: str, action: str, api_key: str | None = None) -> int:
        """Apply a stream fault; the number of streams (or listen keys) it matched."""
        if action == "expireListenKey":
            keys = self.listen_keys.expire(exchange, api_key)
            self.listen_key_gone(exchange, (k.key for k in keys), expired=True)
            return len(keys)
        streams = self.live(exchange, api_key)
        for conn in streams:
            if action == "drop":
                conn.drop()
            elif action == "stall":
                conn.stalled = True
            elif action == "repeat":
                conn.repeat_next = True
            elif action == "reorder":
                conn.reorder_next = True
            else:
                raise ValueError(f"no stream action {action!r}")
        return len(streams)

    def stats(self, exchange: str) -> dict[str, Any]:
        counters = self.counters.setdefault(exchange, StreamCounters())
        return counters.view(len(self.live(exchange)), self.listen_keys.count(exchange))

    def reset(self) -> None:
        for conn in list(self.connections):
            conn.drop()
        self.connections.clear()
        self.listen_keys.clear()
        self._pending.clear()
        for exchange in self.counters:
            self.counters[exchange] = StreamCounters()


def _add(into: list[str], items: Iterable[str]) -> None:
    for item in items:
        if item not in into:
            into.append(item)
