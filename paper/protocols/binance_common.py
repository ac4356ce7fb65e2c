"""What Binance's spot and USD-M futures adapters share on the paper exchange: the
signature, the error shape, parameter reading, and the handlers both products serve alike.

Written from the facts file (docs/exchanges/binance.md) alone, never from ``exchanges/binance.py``:
the signature check here is independent of the connector's signing. Signed requests carry
``X-MBX-APIKEY``, ``timestamp`` (+ optional ``recvWindow``) and ``signature`` = hex
HMAC-SHA256(secret, query string + body), in the query, the form body or split across both.
Errors are ``{"code": <negative int>, "msg": ...}`` with a 4xx status. Each product's module
(``binance_spot.py``, ``binance_futures.py``) subclasses ``ProductApi`` with its routes, its
number format and its order rules; ``binance.py`` mounts both under ``/binance``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from paper.engine import (
    Engine,
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
)
from paper.windows import Window
from paper.wire import Refusal, hmac_sha256_hex

if TYPE_CHECKING:
    from paper.protocols.binance import BinanceProtocol

ZERO = Decimal("0")
NONE, USER_DATA, TRADE = "NONE", "USER_DATA", "TRADE"  # endpoint security types
SPOT, LINEAR = "spot", "linear"
STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "rejected": "REJECTED",
    "expired": "EXPIRED",
}
# What each place-order endpoint reads besides its product's own; anything else is refused
# with -1104 as on Binance.
COMMON_ORDER_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "price",
        "newClientOrderId",
        "stopPrice",
        "newOrderRespType",
        "selfTradePreventionMode",
        "recvWindow",
        "timestamp",
        "signature",
    }
)
Weights = dict[tuple[str, str], int | tuple[int, int]]


# -- signing (from the facts, independent of the connector) ---------------------------------


def signature_for(secret: str, payload: str) -> str:
    return hmac_sha256_hex(secret, payload)


def split_signature(raw: str) -> tuple[str, str | None]:
    """(the raw text without its ``signature=`` parameter, that signature)."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


def signed_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """What Binance signs: the query string then the body, no separator (facts S3)."""
    query, query_signature = split_signature(raw_query)
    body, body_signature = split_signature(raw_body)
    return query + body, query_signature or body_signature


# -- errors ----------------------------------------------------------------------------------


class BinanceError(Refusal):
    """``{"code": <negative int>, "msg": ...}`` with a 4xx status."""

    def __init__(self, status: int, code: int, msg: str, *, auth: bool = False) -> None:
        super().__init__(code, msg, status=status, auth=auth)


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
UNKNOWN_ORDER = (400, -2011, "Unknown order sent.")
NO_SUCH_ORDER = (400, -2013, "Order does not exist.")
BAD_SYMBOL = (400, -1121, "Invalid symbol.")
COMMON_REFUSALS = {
    "unknown_symbol": BAD_SYMBOL,
    "permission_denied": BAD_KEY,
    "order_not_found": UNKNOWN_ORDER,
    "order_not_cancelable": UNKNOWN_ORDER,
}


def refusal(refusals: Mapping[str, tuple[int, int, str]], error: PaperError) -> BinanceError:
    """An engine refusal in one product's words (``refusals``), else the common ones."""
    status, code, msg = refusals.get(error.kind) or COMMON_REFUSALS.get(
        error.kind, (400, -1013, error.message)
    )
    return BinanceError(status, code, msg)


def is_valid_lot(instrument: PaperInstrument, quantity: Decimal | None) -> bool:
    """A positive whole number of lots, at least the minimum: an invalid quantity then
    broke the notional filter instead."""
    return (
        quantity is not None
        and quantity > 0
        and quantity % instrument.lot_size == 0
        and quantity >= instrument.min_quantity
    )


def exchange_symbol(instrument: PaperInstrument) -> str:
    return f"{instrument.base}{instrument.quote}"


def quote_filled(order: PaperOrder) -> Decimal:
    return (order.average_price or ZERO) * order.filled_quantity


# -- request parsing -------------------------------------------------------------------------


@dataclass
class Ctx:
    request: web.Request
    params: dict[str, str]
    account: PaperAccount | None

    @property
    def owner(self) -> PaperAccount:
        assert self.account is not None
        return self.account


def text_param(params: Mapping[str, str], name: str, *, required: bool = False) -> str | None:
    value = params.get(name)
    if value in (None, ""):
        if required:
            raise mandatory(name)
        return None
    return value


def decimal_param(
    params: Mapping[str, str], name: str, *, required: bool = False
) -> Decimal | None:
    value = text_param(params, name, required=required)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = Decimal("NaN")
    if not re.fullmatch(r"-?[0-9]{1,20}(\.[0-9]{1,20})?", value) or not number.is_finite():
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal "
            "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    return number


def int_param(params: Mapping[str, str], name: str) -> int | None:
    value = text_param(params, name)
    if value is None:
        return None
    if not re.fullmatch(r"-?[0-9]{1,20}", value):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'.",
        )
    return int(value)


# -- exchangeInfo's rateLimits, from the table the gate enforces ----------------------------

RULE_TYPES = {
    ("ip", "weight"): "REQUEST_WEIGHT",
    ("ip", "requests"): "RAW_REQUESTS",
    ("account", "orders"): "ORDERS",
}
INTERVALS = (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60), ("SECOND", 1))


def rate_limit_type(window: Window) -> str | None:
    return RULE_TYPES.get((window.scope, window.counts))


def rate_limit_rule(window: Window) -> dict[str, Any]:
    seconds = int(window.seconds)
    interval, size = next((name, size) for name, size in INTERVALS if seconds % size == 0)
    return {
        "rateLimitType": rate_limit_type(window),
        "interval": interval,
        "intervalNum": seconds // size,
        "limit": window.limit,
    }


class UsedWeight:
    """Weight served in the last minute, reported back in X-MBX-USED-WEIGHT-1M."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, weight: int) -> int:
        now = self._clock()
        while self._events and self._events[0][0] <= now - 60:
            self._total -= self._events.popleft()[1]
        self._events.append((now, weight))
        self._total += weight
        return self._total


def random_client_id() -> str:
    """Binance makes up a client order id when none is sent."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(22))


def uid(account: PaperAccount) -> int:
    return int(hashlib.sha256(account.api_key.encode()).hexdigest()[:8], 16)


# -- what both products serve alike ----------------------------------------------------------

Handler = Callable[[Ctx], Any]
Route = tuple[str, str, Handler, str]  # method, path, handler, security type


class ProductApi:
    """One product's endpoints. Subclasses give the routes and the product's own rules."""

    product: ClassVar[str]
    weights: ClassVar[Weights]
    order_params: ClassVar[frozenset[str]]
    client_id_pattern: ClassVar[re.Pattern[str]]
    refusals: ClassVar[Mapping[str, tuple[int, int, str]]]
    # the docs' values, served when no table is enforced (an adapter run on its own)
    default_rate_limits: ClassVar[list[dict[str, Any]]]

    def __init__(self, protocol: BinanceProtocol) -> None:
        self.protocol = protocol
        self.engine: Engine = protocol.engine
        self.exchange = protocol.exchange

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def number(self, value: Decimal | None) -> str:
        raise NotImplementedError

    # -- symbols ------------------------------------------------------------------------

    def _instruments(self) -> dict[str, PaperInstrument]:
        return {
            exchange_symbol(item): item
            for item in self.engine.instruments(self.exchange)
            if item.kind == self.product
        }

    def _instrument(self, ctx: Ctx, *, required: bool = True) -> PaperInstrument | None:
        name = text_param(ctx.params, "symbol", required=required)
        if name is None:
            return None
        found = self._instruments().get(name)
        if found is None:
            raise BinanceError(*BAD_SYMBOL)
        return found

    def _symbol(self, ctx: Ctx) -> PaperInstrument:
        found = self._instrument(ctx)
        assert found is not None
        return found

    def _selected(self, ctx: Ctx) -> list[PaperInstrument]:
        """``symbol`` or ``symbols`` (a JSON array) or everything."""
        if "symbols" in ctx.params:
            try:
                names = json.loads(ctx.params["symbols"])
            except ValueError:
                names = None
            if not isinstance(names, list) or not names:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.")
            table = self._instruments()
            if any(name not in table for name in names):
                raise BinanceError(*BAD_SYMBOL)
            return [table[name] for name in names]
        one = self._instrument(ctx, required=False)
        return [one] if one else list(self._instruments().values())

    def _one_or_list(self, ctx: Ctx, rows: list[dict[str, Any]]) -> Any:
        single = "symbol" in ctx.params and "symbols" not in ctx.params
        return rows[0] if single else rows

    # -- market data --------------------------------------------------------------------

    def ping(self, ctx: Ctx) -> dict[str, Any]:
        return {}

    def time(self, ctx: Ctx) -> dict[str, Any]:
        return {"serverTime": self.engine.now_ms()}

    def _rate_limits(self) -> list[dict[str, Any]]:
        """The rules the gate enforces for this product, as exchangeInfo lists them, e.g.
        ``{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50}``."""
        budget = self.protocol.budget
        if budget is None:
            return self.default_rate_limits
        return [
            rate_limit_rule(window)
            for window in budget.windows.values()
            if window.product in (None, self.product) and rate_limit_type(window)
        ]

    def _price(self, instrument: PaperInstrument) -> str:
        return self.number(self.engine.price(self.exchange, instrument.symbol))

    def _stamped(self, row: dict[str, Any]) -> dict[str, Any]:
        """A ticker row as this product sends it (futures add the time)."""
        return row

    def book_ticker(self, ctx: Ctx) -> Any:
        rows = []
        for item in self._selected(ctx):
            price = self._price(item)  # no spread on the paper exchange
            rows.append(
                self._stamped(
                    {
                        "symbol": exchange_symbol(item),
                        "bidPrice": price,
                        "bidQty": "1000",
                        "askPrice": price,
                        "askQty": "1000",
                    }
                )
            )
        return self._one_or_list(ctx, rows)

    def price_ticker(self, ctx: Ctx) -> Any:
        rows = [
            self._stamped({"symbol": exchange_symbol(item), "price": self._price(item)})
            for item in self._selected(ctx)
        ]
        return self._one_or_list(ctx, rows)

    def day_ticker(self, ctx: Ctx) -> Any:
        now = self.engine.now_ms()
        rows = []
        for item in self._selected(ctx):
            price = self._price(item)
            rows.append(
                {
                    "symbol": exchange_symbol(item),
                    "priceChange": "0",
                    "priceChangePercent": "0",
                    "weightedAvgPrice": price,
                    "lastPrice": price,
                    "lastQty": "0",
                    **self._day_book(price),
                    "openPrice": price,
                    "highPrice": price,
                    "lowPrice": price,
                    "volume": "0",
                    "quoteVolume": "0",
                    "openTime": now - 86_400_000,
                    "closeTime": now,
                    "firstId": -1,
                    "lastId": -1,
                    "count": 0,
                }
            )
        return self._one_or_list(ctx, rows)

    def _day_book(self, price: str) -> dict[str, str]:
        """What a 24hr ticker row carries of the book: USD-M none (its rows have no bid or
        ask); spot overrides it."""
        return {}

    def _balances(self, account: PaperAccount) -> dict[str, tuple[Decimal, Decimal]]:
        return self.engine.balances(self.exchange, account)

    # -- orders -------------------------------------------------------------------------

    def place(self, ctx: Ctx) -> dict[str, Any]:
        instrument, order_args, response_type = self._order_args(ctx)
        try:
            order = self.engine.place_order(
                self.exchange, ctx.owner, symbol=instrument.symbol, **order_args
            )
        except PaperError as error:
            if error.kind == "invalid_quantity":
                raise self.quantity_error(instrument, order_args.get("quantity")) from None
            raise refusal(self.refusals, error) from None
        ctx.request["order_accepted"] = True
        return self.placed(ctx, order, exchange_symbol(instrument), response_type)

    def test_order(self, ctx: Ctx) -> dict[str, Any]:
        self._order_args(ctx)
        return {}

    def _order_args(self, ctx: Ctx) -> tuple[PaperInstrument, dict[str, Any], str]:
        """Validate the wire parameters; (instrument, engine.place_order kwargs, resp type)."""
        unread = set(ctx.params) - self.order_params
        if unread:
            raise BinanceError(
                400,
                -1104,
                f"Not all sent parameters were read; read "
                f"'{len(ctx.params) - len(unread)}' parameter(s) "
                f"but was sent '{len(ctx.params)}'.",
            )
        instrument = self._symbol(ctx)
        side = text_param(ctx.params, "side", required=True) or ""
        if side not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        order_type = text_param(ctx.params, "type", required=True) or ""
        client_id = text_param(ctx.params, "newClientOrderId") or random_client_id()
        if not self.client_id_pattern.fullmatch(client_id):
            raise self.bad_client_id()
        args, default_response = self.order_args(ctx, order_type, side)
        response_type = ctx.params.get("newOrderRespType") or default_response
        if response_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'newOrderRespType'."
            )
        return (
            instrument,
            {"side": side.lower(), "client_order_id": client_id, **args},
            response_type,
        )

    def order_args(self, ctx: Ctx, order_type: str, side: str) -> tuple[dict[str, Any], str]:
        """This product's engine.place_order kwargs and its default response type."""
        raise NotImplementedError

    def bad_client_id(self) -> BinanceError:
        raise NotImplementedError

    def quantity_error(self, instrument: PaperInstrument, quantity: Decimal | None) -> BinanceError:
        """Which filter an invalid quantity broke, in this product's words."""
        raise NotImplementedError

    def placed(
        self, ctx: Ctx, order: PaperOrder, symbol: str, response_type: str
    ) -> dict[str, Any]:
        raise NotImplementedError

    def order_json(self, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        raise NotImplementedError

    def mismatched_client_id(self) -> None:
        """An orderId whose order carries another client id: not found, unless the product
        says otherwise (spot refuses it)."""

    def _find(self, ctx: Ctx, instrument: PaperInstrument) -> PaperOrder | None:
        """The order named by orderId and/or origClientOrderId on this symbol."""
        order_id = int_param(ctx.params, "orderId")
        client_id = text_param(ctx.params, "origClientOrderId")
        if order_id is None and client_id is None:
            raise BinanceError(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        for order in self.engine.order_history(self.exchange, ctx.owner, instrument.symbol):
            if order_id is not None and order.order_id == str(order_id):
                if client_id is not None and order.client_order_id != client_id:
                    self.mismatched_client_id()
                    return None
                return order
            if order_id is None and order.client_order_id == client_id:
                return order  # the newest order carrying that client id
        return None

    def query(self, ctx: Ctx) -> dict[str, Any]:
        instrument = self._symbol(ctx)
        order = self._find(ctx, instrument)
        if order is None:
            raise BinanceError(*NO_SUCH_ORDER)
        return self.order_json(order, instrument)

    def cancel(self, ctx: Ctx) -> dict[str, Any]:
        instrument = self._symbol(ctx)
        order = self._find(ctx, instrument)
        if order is None or not order.is_open:
            raise BinanceError(*UNKNOWN_ORDER)
        try:
            self.engine.cancel_order(
                self.exchange, ctx.owner, symbol=instrument.symbol, order_id=order.order_id
            )
        except PaperError as error:
            raise refusal(self.refusals, error) from None
        ctx.request["cancel_applied"] = True
        return self.canceled(ctx, order, instrument)

    def canceled(self, ctx: Ctx, order: PaperOrder, instrument: PaperInstrument) -> dict[str, Any]:
        raise NotImplementedError

    def cancel_all(self, ctx: Ctx) -> Any:
        instrument = self._symbol(ctx)
        canceled = self.engine.cancel_all(self.exchange, ctx.owner, instrument.symbol)
        if canceled:
            ctx.request["cancel_applied"] = True
        return self.all_canceled(canceled, instrument)

    def all_canceled(self, canceled: list[PaperOrder], instrument: PaperInstrument) -> Any:
        raise NotImplementedError

    def open_orders(self, ctx: Ctx) -> list[dict[str, Any]]:
        wanted = self._instrument(ctx, required=False)
        table = {item.symbol: item for item in self._instruments().values()}
        return [
            self.order_json(order, table[order.symbol])
            for order in self.engine.open_orders(self.exchange, ctx.owner)
            if order.symbol in table and (wanted is None or order.symbol == wanted.symbol)
        ]

    # the longest startTime..endTime a trade-list query may span (spot 24 h, USD-M 7 days)
    trade_span_ms: ClassVar[int] = 86_400_000

    def my_trades(self, ctx: Ctx) -> list[dict[str, Any]]:
        """Spot ``myTrades`` and USD-M ``userTrades``: the account's trades of one symbol,
        oldest first; ``orderId`` narrows to one order; from fromId or startTime forwards,
        else the newest ``limit`` (default 500, at most 1000); startTime..endTime spans at
        most ``trade_span_ms`` (-1127)."""
        instrument = self._symbol(ctx)
        from_id = int_param(ctx.params, "fromId")
        order_id = int_param(ctx.params, "orderId")
        start, end = int_param(ctx.params, "startTime"), int_param(ctx.params, "endTime")
        if start is not None and end is not None and end - start > self.trade_span_ms:
            hours = self.trade_span_ms // 3_600_000
            raise BinanceError(
                400, -1127, f"More than {hours} hours between startTime and endTime."
            )
        limit = min(int_param(ctx.params, "limit") or 500, 1000)
        trades = [
            (order, fill)
            for order, fill in reversed(
                self.engine.account_fills(
                    self.exchange, ctx.owner, instrument.symbol, since_ms=start, until_ms=end
                )
            )
            if (from_id is None or int(fill.trade_id) >= from_id)
            and (order_id is None or order.order_id == str(order_id))
        ]
        forwards = from_id is not None or start is not None
        chosen = trades[:limit] if forwards else trades[-limit:]
        return [self.trade_json(order, fill, instrument) for order, fill in chosen]

    def trade_json(
        self, order: PaperOrder, fill: PaperFill, instrument: PaperInstrument
    ) -> dict[str, Any]:
        raise NotImplementedError

    def all_orders(self, ctx: Ctx) -> list[dict[str, Any]]:
        """Oldest first; from orderId/startTime forwards, else the newest ``limit``."""
        instrument = self._symbol(ctx)
        from_id = int_param(ctx.params, "orderId")
        start, end = int_param(ctx.params, "startTime"), int_param(ctx.params, "endTime")
        limit = min(int_param(ctx.params, "limit") or 500, 1000)
        orders = [
            order
            for order in reversed(
                self.engine.order_history(self.exchange, ctx.owner, instrument.symbol)
            )
            if (from_id is None or int(order.order_id) >= from_id)
            and (start is None or order.created_ms >= start)
            and (end is None or order.created_ms <= end)
        ]
        forwards = from_id is not None or start is not None
        chosen = orders[:limit] if forwards else orders[-limit:]
        return [self.order_json(order, instrument) for order in chosen]
