"""The paper exchange's control API (docs/architecture.md), under ``/_paper/``.

Bad input is a 400 ``{"error": "..."}``; an unknown order a 404. Decimals go out as strings.
Nothing here ever returns a secret or passphrase.

Faults (their behaviour and scopes: ``faults.py``):
``POST /_paper/faults {exchange, endpoint?, <fault fields>}`` sets one scope's config;
``exchange`` is a name or ``"all"`` (``"*"`` too); ``endpoint`` is absent (the whole
exchange), ``"writes"``, a real path (``"/api/v3/order"``) or a method and path
(``"DELETE /api/v3/order"``). ``GET /_paper/faults`` answers
``{"faults": {<exchange>: {<scope>: {<every fault field>}}}}`` with ``"*"`` as the scope of
the whole exchange, listing only what is set; ``DELETE /_paper/faults`` and
``POST /_paper/reset`` clear every scope of every exchange.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from paper.engine import Engine, PaperAccount, PaperError, PaperOrder
from paper.faults import EXCHANGE_WIDE, WRITES, ExchangeGate, FaultConfig, scope_of
from paper.streams import STREAM_ACTIONS, StreamHub

PERMISSIONS = ("read", "trade", "withdraw", "transfer", "margin", "futures")
DEFAULT_BALANCES = {"USDT": Decimal("10000")}  # a new account that names no balances
_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_MAX_TEXT = 256
ALL_EXCHANGES = ("all", "*")
LISTEN_KEY_EXCHANGES = ("binance", "bingx")  # Binance USD-M and BingX issue listen keys

# a ControlApi method answering one request
Handler = Callable[[Any, web.Request], Awaitable[web.Response]]


class BadInput(ValueError):
    pass


def add_routes(
    app: web.Application,
    *,
    engine: Engine,
    gates: dict[str, ExchangeGate],
    streams: StreamHub | None = None,
) -> None:
    api = ControlApi(engine, gates, streams or StreamHub(engine))
    app.add_routes(
        [
            web.get("/_paper/health", api.health),
            web.post("/_paper/accounts", api.upsert_account),
            web.get("/_paper/accounts", api.list_accounts),
            web.post("/_paper/faults", api.set_faults),
            web.get("/_paper/faults", api.get_faults),
            web.delete("/_paper/faults", api.clear_faults),
            web.post("/_paper/prices", api.set_price),
            web.post("/_paper/fill", api.fill),
            web.post("/_paper/streams", api.stream_fault),
            web.post("/_paper/dead-man", api.dead_man),
            web.post("/_paper/reset", api.reset),
            web.get("/_paper/stats", api.stats),
        ]
    )


def _answers_errors(handler: Handler) -> Handler:
    """Bad input -> 400 {"error"}; an unknown order -> 404; other refusals -> 400."""

    @functools.wraps(handler)
    async def wrapped(self: Any, request: web.Request) -> web.Response:
        try:
            return await handler(self, request)
        except BadInput as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except PaperError as exc:
            status = 404 if exc.kind == "order_not_found" else 400
            return web.json_response({"error": exc.kind, "message": exc.message}, status=status)

    return wrapped


class ControlApi:
    def __init__(self, engine: Engine, gates: dict[str, ExchangeGate], streams: StreamHub) -> None:
        self.engine = engine
        self.gates = gates
        self.streams = streams

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    @_answers_errors
    async def upsert_account(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        exchange = self._exchange(data.get("exchange"))
        api_key = _text(data, "apiKey")
        passphrase = _text(data, "passphrase", required=False)
        protocol = self.gates[exchange].protocol
        if protocol is not None and protocol.needs_passphrase and not passphrase:
            raise BadInput(f"{exchange} accounts need a passphrase")
        balances = _balances(data["balances"]) if "balances" in data else None
        permissions = _permissions(data["permissions"]) if "permissions" in data else None
        hedge_mode = data.get("hedgeMode")
        restricting = "ipWhitelist" in data or "keyExpiresAt" in data
        ip_whitelist = _ip_whitelist(data.get("ipWhitelist", []))
        expires_at_ms = _expiry_ms(data.get("keyExpiresAt"))
        if hedge_mode is not None and not isinstance(hedge_mode, bool):
            raise BadInput("hedgeMode must be true or false")
        if balances is None and self.engine.account(exchange, api_key) is None:
            balances = dict(DEFAULT_BALANCES)
        account, created = self.engine.upsert_account(
            exchange,
            api_key=api_key,
            api_secret=_text(data, "apiSecret"),
            passphrase=passphrase,
            balances=balances,
            permissions=permissions,
        )
        if hedge_mode is not None:
            self.engine.set_hedge_mode(account, hedge_mode)
        if restricting:
            self.engine.set_key_restrictions(
                account, ip_whitelist=ip_whitelist, expires_at_ms=expires_at_ms
            )
        return web.json_response(
            {"ok": True, "created": created, "account": _account_view(account)},
            status=201 if created else 200,
        )

    @_answers_errors
    async def list_accounts(self, request: web.Request) -> web.Response:
        exchange = request.query.get("exchange")
        if exchange is not None:
            self._exchange(exchange)
        api_key = request.query.get("apiKey")
        accounts = [a for a in self.engine.accounts(exchange) if api_key in (None, a.api_key)]
        return web.json_response({"accounts": [_account_view(a) for a in accounts]})

    @_answers_errors
    async def set_faults(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        name = data.get("exchange")
        names = list(self.gates) if name in ALL_EXCHANGES else [self._exchange(name)]
        try:
            scope = scope_of(data.get("endpoint"))
            faults = FaultConfig.from_json(data)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
        self._refuse_prefixed_path(scope)
        for exchange in names:
            self.gates[exchange].set_faults(faults, scope)
        return web.json_response({"ok": True, "faults": self._active_faults()})

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"faults": self._active_faults()})

    async def clear_faults(self, request: web.Request) -> web.Response:
        for gate in self.gates.values():
            gate.clear_faults()
        return web.json_response({"ok": True})

    @_answers_errors
    async def set_price(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        exchange = self._exchange(data.get("exchange"))
        symbol = _text(data, "symbol")
        price = _decimal(data.get("price"), "price")
        if price <= 0:
            raise BadInput("price must be positive")
        filled = self.engine.set_price(exchange, symbol, price)
        return web.json_response(
            {
                "ok": True,
                "exchange": exchange,
                "symbol": symbol,
                "price": _plain(price),
                "filledOrderIds": [o.order_id for o in filled],
            }
        )

    @_answers_errors
    async def fill(self, request: web.Request) -> web.Response:
        data = await _json_object(request)
        exchange = self._exchange(data.get("exchange"))
        order_id = _order_id(data.get("orderId"))
        client_order_id = _text(data, "clientOrderId", required=False) or None
        if order_id is None and client_order_id is None:
            raise BadInput("give orderId or clientOrderId")
        quantity = None
        if data.get("quantity") is not None:
            quantity = _decimal(data["quantity"], "quantity")
        order = self.engine.fill(
            exchange, order_id=order_id, client_order_id=client_order_id, quantity=quantity
        )
        return web.json_response({"ok": True, "order": _order_view(order)})

    @_answers_errors
    async def stream_fault(self, request: web.Request) -> web.Response:
        """``{exchange, apiKey?, action}``: act on the matching live private streams (or,
        for ``expireListenKey``, on the listen keys); answers how many matched."""
        data = await _json_object(request)
        exchange = self._exchange(data.get("exchange"))
        if exchange not in self.streams.servers:
            raise BadInput(f"{exchange} has no private streams on the paper exchange")
        api_key = _text(data, "apiKey", required=False) or None
        action = data.get("action")
        if action not in STREAM_ACTIONS:
            raise BadInput(f"action must be one of {', '.join(STREAM_ACTIONS)}")
        if action == "expireListenKey" and exchange not in LISTEN_KEY_EXCHANGES:
            raise BadInput(
                f"{exchange} issues no listen keys (only {', '.join(LISTEN_KEY_EXCHANGES)})"
            )
        matched = self.streams.fault(exchange, action, api_key)
        return web.json_response(
            {"ok": True, "exchange": exchange, "action": action, "matched": matched}
        )

    @_answers_errors
    async def dead_man(self, request: web.Request) -> web.Response:
        """TEST ONLY: ``{windowScale}`` (0 < scale <= 1) shortens every dead-man window
        armed afterwards (a 10 s minimum in 0.5 s at 0.05); ``{check: true}`` fires what
        is due at once. The real exchanges have no such control (docs/dead-man-switch.md)."""
        data = await _json_object(request)
        switches = self.engine.dead_man
        if "windowScale" in data:
            scale = _decimal(data["windowScale"], "windowScale")
            if not Decimal("0") < scale <= Decimal("1"):
                raise BadInput("windowScale must be greater than 0 and at most 1")
            switches.window_scale = float(scale)
        canceled = switches.check() if data.get("check") is True else []
        return web.json_response(
            {
                "ok": True,
                "windowScale": switches.window_scale,
                "canceledOrderIds": [o.order_id for o in canceled],
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        self.engine.reset()
        self.engine.dead_man.reset()
        self.streams.reset()
        for gate in self.gates.values():
            gate.clear_faults()
            gate.clear_stats()
        return web.json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        exchanges = {}
        for name, gate in self.gates.items():
            orders = self.engine.order_stats(name)
            exchanges[name] = {
                **gate.stats(),
                "ordersAccepted": orders.orders_accepted,
                "duplicatesRefused": orders.duplicates_refused,
                "ordersByClientId": dict(orders.orders_by_client_id),
                "streams": self.streams.stats(name),
                "deadMan": self.engine.dead_man.stats(name),
            }
        return web.json_response({"exchanges": exchanges})

    def _exchange(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.gates:
            raise BadInput(f"exchange must be one of {', '.join(sorted(self.gates))}")
        return value

    def _refuse_prefixed_path(self, scope: str) -> None:
        """Adapters see real paths only: a ``/<exchange>/...`` path would never match."""
        if scope in (EXCHANGE_WIDE, WRITES):
            return
        path = scope.rpartition(" ")[2]
        prefixed = next((name for name in self.gates if path.startswith(f"/{name}/")), None)
        if prefixed is not None:
            raise BadInput(f"endpoint takes the exchange's real path, without /{prefixed}")

    def _active_faults(self) -> dict[str, Any]:
        active = {name: gate.active_faults() for name, gate in self.gates.items()}
        return {name: scopes for name, scopes in active.items() if scopes}


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.text() or "null")
    except ValueError as exc:
        raise BadInput("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise BadInput(f"{name} must be a non-empty string of at most {_MAX_TEXT} characters")
    return value


def _order_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.isdigit():
        raise BadInput("orderId must be a numeric string")
    return value


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadInput(f"{name} must be a decimal string or number")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise BadInput(f"{name} is not a number") from exc
    if not number.is_finite():
        raise BadInput(f"{name} must be finite")
    return number


def _balances(value: Any) -> dict[str, Decimal]:
    if not isinstance(value, dict):
        raise BadInput('balances must be an object like {"USDT": "10000"}')
    balances = {}
    for asset, amount in value.items():
        if not _ASSET.match(asset):
            raise BadInput(f"bad asset name {asset!r}")
        balances[asset] = _decimal(amount, f"balances.{asset}")
        if balances[asset] < 0:
            raise BadInput(f"balances.{asset} must not be negative")
    return balances


def _permissions(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(p in PERMISSIONS for p in value):
        raise BadInput(f"permissions must be a list of {', '.join(PERMISSIONS)}")
    return list(dict.fromkeys(value))


def _ip_whitelist(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(ip, str) and ip.strip() for ip in value):
        raise BadInput("ipWhitelist must be a list of addresses")
    return [ip.strip() for ip in value]


def _expiry_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadInput("keyExpiresAt must be epoch milliseconds or null")
    return value


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _account_view(account: PaperAccount) -> dict[str, Any]:
    return {
        "exchange": account.exchange,
        "apiKey": account.api_key,
        "hasPassphrase": bool(account.passphrase),
        "permissions": list(account.permissions),
        "hedgeMode": account.hedge_mode,
        "leverage": dict(account.leverage),
        "ipWhitelist": list(account.ip_whitelist),
        "keyExpiresAt": account.key_expires_at_ms,
        "balances": {
            asset: {"free": _plain(free), "locked": _plain(locked)}
            for asset, (free, locked) in account.balances.items()
        },
    }


def _order_view(order: PaperOrder) -> dict[str, Any]:
    return {
        "exchange": order.exchange,
        "orderId": order.order_id,
        "clientOrderId": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "timeInForce": order.time_in_force,
        "reduceOnly": order.reduce_only,
        "quantity": _plain(order.quantity),
        "price": _plain(order.price),
        "filledQuantity": _plain(order.filled_quantity),
        "averagePrice": _plain(order.average_price),
        "status": order.status,
    }
