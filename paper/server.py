"""The paper exchange's aiohttp application.

Each exchange's adapter (``paper/protocols/<exchange>.py``, class
``<Exchange>Protocol``) is mounted as a sub-application under ``/<exchange>`` behind one
gate middleware (faults, rate limits, statistics); the control API lives under
``/_paper/`` (see ``control.py``). With ``walk`` the prices random-walk in a background task
and resting limit orders fill when crossed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

from aiohttp import web

from paper import control
from paper.engine import Engine
from paper.faults import ExchangeGate, gate_middleware
from paper.protocol import Protocol
from paper.published import budgets_from_environment
from paper.streams import StreamHub, StreamTiming
from paper.streams.routes import load_servers, rest_routes
from paper.windows import Budget, ExchangeLimit, as_budget

log = logging.getLogger("paper")

ENGINE = web.AppKey("engine", Engine)
GATES = web.AppKey("gates", dict)
STREAMS = web.AppKey("streams", StreamHub)
EXCHANGES = ("bybit", "binance", "okx", "bingx", "pionex", "orangex")
WALK_INTERVAL_SECONDS = 1.0
WALK_STEP = 0.0005  # standard deviation of one step's relative move


def protocol_class_name(exchange: str) -> str:
    return f"{exchange.capitalize()}Protocol"


def load_protocols(exchanges: Iterable[str] = EXCHANGES) -> list[type[Protocol]]:
    """The adapter classes that exist. A missing (or broken) adapter module is skipped with
    a warning, so the server runs while adapters are still being written."""
    found = []
    for exchange in exchanges:
        module_name = f"paper.protocols.{exchange}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                log.exception("paper adapter %s failed to import; skipped", exchange)
            else:
                log.warning("paper adapter %s does not exist yet; skipped", exchange)
            continue
        except Exception:
            log.exception("paper adapter %s failed to import; skipped", exchange)
            continue
        protocol_class = getattr(module, protocol_class_name(exchange), None)
        if protocol_class is None:
            log.warning("%s has no %s; skipped", module_name, protocol_class_name(exchange))
            continue
        found.append(protocol_class)
    return found


def build_app(
    engine: Engine,
    *,
    protocols: Iterable[type[Protocol]] | None = None,
    limits: Mapping[str, Budget | ExchangeLimit] | None = None,
    walk: bool = False,
    walk_interval: float = WALK_INTERVAL_SECONDS,
    stream_timing: StreamTiming | None = None,
) -> web.Application:
    """The whole paper exchange. ``protocols`` defaults to every adapter that exists;
    ``limits`` to the table the exchanges publish (``published.budgets_from_environment``);
    ``stream_timing`` shrinks the private streams' heartbeats (tests)."""
    if protocols is None:
        protocols = load_protocols()
    budgets = {
        name: as_budget(value)
        for name, value in (budgets_from_environment() if limits is None else limits).items()
    }
    app = web.Application()
    app[ENGINE] = engine
    gates: dict[str, ExchangeGate] = {
        name: ExchangeGate(exchange=name, budget=budgets.get(name)) for name in EXCHANGES
    }
    hub = StreamHub(engine)
    for protocol_class in protocols:
        _mount(app, engine, gates, protocol_class, budgets, hub)
    load_servers(
        hub, [name for name, gate in gates.items() if gate.protocol is not None], stream_timing
    )
    app.add_routes(hub.routes())
    app[GATES] = gates
    app[STREAMS] = hub
    app.cleanup_ctx.append(hub.background())
    app.cleanup_ctx.append(engine.dead_man.background())
    control.add_routes(app, engine=engine, gates=gates, streams=hub)
    if walk:
        app.cleanup_ctx.append(_walker(engine, walk_interval))
    return app


def _mount(
    app: web.Application,
    engine: Engine,
    gates: dict[str, ExchangeGate],
    protocol_class: type[Protocol],
    budgets: Mapping[str, Budget],
    hub: StreamHub,
) -> None:
    try:
        protocol = protocol_class(engine)
        routes = protocol.routes()
    except Exception:
        log.exception("paper adapter %s could not start; skipped", protocol_class.__name__)
        return
    exchange = protocol.exchange
    engine.register_exchange(exchange, duplicate_scope=protocol.duplicate_scope)
    gate = gates.setdefault(exchange, ExchangeGate(exchange=exchange, budget=budgets.get(exchange)))
    gate.protocol = protocol
    protocol.budget = gate.budget
    prefix = f"/{exchange}"
    sub_app = web.Application(middlewares=[gate_middleware(gate, protocol, prefix)])
    sub_app.add_routes(routes + rest_routes(hub, exchange))  # + listen keys, where issued
    app.add_subapp(prefix, sub_app)
    log.info("paper adapter %s mounted at %s", exchange, prefix)


def _walker(engine: Engine, interval: float) -> Callable[[web.Application], AsyncIterator[None]]:
    async def walk(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_walk_forever(engine, interval))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return walk


async def _walk_forever(engine: Engine, interval: float) -> None:
    rng = random.Random()  # a price walk, not cryptography
    while True:
        await asyncio.sleep(interval)
        try:
            filled = engine.walk_prices(rng, WALK_STEP)
        except Exception:  # a bad step must not stop the walk
            log.exception("price walk step failed")
            continue
        for order in filled:
            log.info("walk filled %s order %s", order.exchange, order.order_id)
