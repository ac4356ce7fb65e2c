"""The base of every paper protocol adapter (``exchanges/paper/protocols/<exchange>.py``).

INTERFACE CONTRACT. The server mounts each adapter's routes under ``/<exchange>`` (so the
adapter registers real paths such as ``/api/v3/order``) and wraps them in one gate
middleware (``faults.py``) that, per exchange: counts requests, adds latency, answers 5xx
and rate-limit faults with ``server_error()`` / ``rate_limited()``, enforces the exchanges/limits.py
budget using ``request_weight()``, and breaks the answer of a request that applied
something (drop, reset, truncate, HTML gateway page, stall; trickle for any answer).

Each adapter declares ``write_routes``: every route, as ``"METHOD /path"`` (the key of the
``requests`` stats), that places or cancels orders (single, batch and cancel-all). Faults set
for ``endpoint: "writes"`` apply to exactly these; reads such as server time or an order
lookup on the same path stay untouched.

Handlers tell the middleware what happened through request keys:
- ``request["order_accepted"] = True`` once the engine stored a new order;
- ``request["cancel_applied"] = True`` once the engine canceled at least one order (a
  single cancel, a batch cancel or a cancel-all that found open orders; not a refusal);
- ``request["signature_failed"] = True`` when authentication failed (counted in stats).
The after-accept faults act only on a request carrying ``order_accepted`` or
``cancel_applied`` (drop-after-accept only on ``order_accepted``), so the state change has
happened and only its answer is lost or damaged.

Signature and timestamp checks are written here from the facts files, independently of the
connectors in ``exchanges/<exchange>.py``: adapters never import connector code.
"""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from exchanges.paper.engine import DuplicateScope, Engine


class Protocol:
    exchange: ClassVar[str]
    duplicate_scope: ClassVar[DuplicateScope]
    # "METHOD /path" of every route that places or cancels orders
    write_routes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[web.RouteDef]:
        """Every REST route this exchange serves, with real paths (no /<exchange> prefix)."""
        raise NotImplementedError

    def request_weight(self, request: web.Request) -> int:
        """The weight the real exchange charges for this request (default 1)."""
        return 1

    def rate_limited(self, retry_after: float) -> web.Response:
        """The exchange's own rate-limit answer (status, headers, envelope)."""
        raise NotImplementedError

    def server_error(self) -> web.Response:
        """A 5xx as this exchange sends it."""
        return web.Response(status=503, text="Service Unavailable")
