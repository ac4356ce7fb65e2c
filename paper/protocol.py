"""The base of every paper protocol adapter (``paper/protocols/<exchange>.py``).

INTERFACE CONTRACT. The server mounts each adapter's routes under ``/<exchange>`` (so the
adapter registers real paths such as ``/api/v3/order``) and wraps them in one gate
middleware (``faults.py``) that, per exchange: counts requests, adds latency, answers 5xx
and rate-limit faults with ``server_error()`` / ``rate_limited()``, enforces the layered rate
table on what ``request_charge()`` says each request is (weight, product, signed, the API key,
an instrument, how many orders), and breaks the answer of a request that applied
something (drop, reset, truncate, HTML gateway page, stall; trickle for any answer).

Each adapter declares ``write_routes``: every route, as ``"METHOD /path"`` (the key of the
``requests`` stats), that places or cancels orders (single, batch and cancel-all). Faults set
for ``endpoint: "writes"`` apply to exactly these; reads such as server time or an order
lookup on the same path stay untouched.

Handlers tell the middleware what happened through request keys:
- ``request["order_accepted"] = True`` once the engine stored a new order;
- ``request["cancel_applied"] = True`` once the engine canceled at least one order (a
  single cancel, a batch cancel or a cancel-all that found open orders; not a refusal);
- ``request["signature_failed"] = True`` when authentication failed (counted in stats):
  ``wire.note_refusal`` sets it for a refusal marked ``auth``.
The after-accept faults act only on a request carrying ``order_accepted`` or
``cancel_applied`` (drop-after-accept only on ``order_accepted``), so the state change has
happened and only its answer is lost or damaged.

Signature and timestamp checks are written here from the facts files, independently of the
connectors in ``exchanges/<exchange>.py``: nothing of ``paper/`` imports the connector library
(tests/paper/test_independence.py). What every adapter needs on the wire (refusals, number
formats, parameter readers, the timestamp window, HMAC) is ``wire.py``.
"""

from __future__ import annotations

from typing import ClassVar

from aiohttp import web

from paper.engine import DuplicateScope, Engine
from paper.windows import Budget, Charge


class Protocol:
    exchange: ClassVar[str]
    duplicate_scope: ClassVar[DuplicateScope]
    # "METHOD /path" of every route that places or cancels orders
    write_routes: ClassVar[frozenset[str]] = frozenset()

    # the header carrying the API key, for per-account budgets ("" where none is sent)
    key_header: ClassVar[str] = ""
    # whether an account needs a passphrase besides its key and secret
    needs_passphrase: ClassVar[bool] = False

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # the table the gate enforces (set when mounted): what exchangeInfo-like answers show
        self.budget: Budget | None = None

    def routes(self) -> list[web.RouteDef]:
        """Every REST route this exchange serves, with real paths (no /<exchange> prefix)."""
        raise NotImplementedError

    def request_weight(self, request: web.Request) -> int:
        """The weight the real exchange charges for this request (default 1)."""
        return 1

    async def request_charge(self, request: web.Request, path: str) -> tuple[Charge, str]:
        """What the request is to the budgets, and the API key it counts against ("" for
        none). ``path`` is the real path, without ``/<exchange>``. May read the body (aiohttp
        keeps it for the handler)."""
        api_key = request.headers.get(self.key_header, "") if self.key_header else ""
        return Charge(
            method=request.method,
            path=path,
            weight=self.request_weight(request),
            product=await self.request_product(request, path),
            signed=bool(api_key),
        ), api_key

    async def request_product(self, request: web.Request, path: str) -> str:
        """The product the request trades or reads (spot | linear), where budgets differ."""
        return "spot"

    def rate_limited(self, retry_after: float) -> web.Response:
        """The exchange's own rate-limit answer (status, headers, envelope)."""
        raise NotImplementedError

    def server_error(self) -> web.Response:
        """A 5xx as this exchange sends it."""
        return web.Response(status=503, text="Service Unavailable")
