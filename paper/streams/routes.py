"""Mounting the streams: each exchange's module ``paper/streams/<exchange>.py`` has a
``<Exchange>Streams`` server class and, where the exchange issues listen keys over REST, a
``rest_routes(hub)`` function whose routes join that exchange's REST sub-application (behind
its gate, like any REST call). The WebSocket routes go on the main application, outside the
gates: the REST faults do not touch streams; stream faults have their own control."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from types import ModuleType

from aiohttp import web

from paper.streams.hub import StreamHub, StreamTiming

log = logging.getLogger("paper.streams")


def _module(exchange: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"paper.streams.{exchange}")
    except ModuleNotFoundError:
        return None


def load_servers(
    hub: StreamHub, exchanges: Iterable[str], timing: StreamTiming | None = None
) -> None:
    for exchange in exchanges:
        module = _module(exchange)
        server_class = getattr(module, f"{exchange.capitalize()}Streams", None)
        if server_class is None:
            log.warning("paper streams for %s do not exist; skipped", exchange)
            continue
        server = server_class(hub.engine, hub)
        if timing is not None:
            timing.apply(server)
        hub.register(server)


def rest_routes(hub: StreamHub, exchange: str) -> list[web.RouteDef]:
    module = _module(exchange)
    make = getattr(module, "rest_routes", None)
    return list(make(hub)) if make is not None else []
