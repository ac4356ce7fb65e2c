"""Pionex on the paper exchange: spot under ``/api/v1``, USDT perpetuals under ``/uapi/v1``.

Written from docs/exchanges/pionex.md (and, for response shapes it leaves out, Pionex's
own OpenAPI files it cites), never from exchanges/pionex.py. Private calls carry
``PIONEX-KEY`` and ``PIONEX-SIGNATURE`` = hex HMAC-SHA256 of ``METHOD + path + "?" +
sorted raw query (with timestamp)`` followed by the exact body for POST and DELETE; the
millisecond ``timestamp`` is always in the query and valid for +-20 s. GET takes its
parameters in the query, POST and DELETE in a JSON body. Answers are ``{result, data,
timestamp}`` or ``{result: false, code, message, timestamp}`` with string codes. Orders are
only ``OPEN`` or ``CLOSED``. Symbols: ``BTC_USDT`` spot, ``BTC_USDT_PERP`` perpetual;
sizes are base currency; spot market buys are sized in quote (``amount``).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from paper import wire
from paper.engine import (
    DuplicateScope,
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
    PaperPosition,
)
from paper.protocol import Protocol
from paper.wire import plain

TIMESTAMP_WINDOW_MS = 20_000
CLIENT_ORDER_ID = re.compile(r"^[a-zA-Z0-9-]{1,64}$")
PERP_SUFFIX = "_PERP"

# Request weights (facts section 5); every /uapi/ endpoint weighs 5.
SPOT_WEIGHTS = {
    ("GET", "/api/v1/common/symbols"): 5,
    ("GET", "/api/v1/market/tickers"): 1,  # 5 for perpetual symbols
    ("GET", "/api/v1/market/bookTickers"): 1,
    ("GET", "/api/v1/market/bookTicker"): 5,  # the futures spec's book ticker
    ("GET", "/api/v1/account/balances"): 1,
    ("POST", "/api/v1/trade/order"): 1,
    ("GET", "/api/v1/trade/order"): 1,
    ("DELETE", "/api/v1/trade/order"): 1,
    ("GET", "/api/v1/trade/orderByClientOrderId"): 1,
    ("GET", "/api/v1/trade/openOrders"): 5,
    ("GET", "/api/v1/trade/allOrders"): 5,
    ("DELETE", "/api/v1/trade/allOrders"): 1,
    ("GET", "/api/v1/trade/fills"): 5,
}
FUTURES_WEIGHT = 5

# Authentication failures: (code, HTTP status). The spec answers them as 401.
APIKEY_LOST = "APIKEY_LOST"
SIGNATURE_LOST = "SIGNATURE_LOST"
INVALID_APIKEY = "INVALID_APIKEY"
INVALID_SIGNATURE = "INVALID_SIGNATURE"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
PERMISSION_DENIED = "PERMISSION_DENIED"
SIGNATURE_CODES = {
    APIKEY_LOST,
    SIGNATURE_LOST,
    INVALID_APIKEY,
    INVALID_SIGNATURE,
    INVALID_TIMESTAMP,
}  # counted as signature failures
AUTH_CODES = SIGNATURE_CODES | {PERMISSION_DENIED}
PARAMETER_ERROR = "TRADE_PARAMETER_ERROR"
INVALID_SYMBOL = "TRADE_INVALID_SYMBOL"
MARKET_INVALID_SYMBOL = "MARKET_INVALID_SYMBOL"
MARKET_PARAMETER_ERROR = "MARKET_PARAMETER_ERROR"
ORDER_NOT_FOUND = "TRADE_ORDER_NOT_FOUND"
OPERATION_DENIED = "TRADE_OPERATION_DENIED"
# PAPER-ONLY: Pionex documents HTTP 429 and a 60 s ban, but no body for it.
RATE_LIMITED = "TOO_MANY_REQUESTS"

# Engine refusals -> Pionex codes. TRADE_NOT_ENOUGH_MONEY, TRADE_REPEAT_CLIENT_ORDER_ID and
# the *_FILTER_DENIED codes come from Pionex's older docs (community copies); reduce-only,
# post-only and closed-order refusals have no code of their own, so they use the official
# TRADE_OPERATION_DENIED.
PAPER_ERRORS = {
    "insufficient_funds": "TRADE_NOT_ENOUGH_MONEY",
    "duplicate_client_order_id": "TRADE_REPEAT_CLIENT_ORDER_ID",
    "order_not_found": ORDER_NOT_FOUND,
    "unknown_symbol": INVALID_SYMBOL,
    "invalid_quantity": "TRADE_SIZE_FILTER_DENIED",
    "invalid_price": "TRADE_PRICE_FILTER_DENIED",
    "reduce_only_rejected": OPERATION_DENIED,
    "post_only_would_take": OPERATION_DENIED,
    "permission_denied": PERMISSION_DENIED,
    "order_not_cancelable": OPERATION_DENIED,
}
AMOUNT_FILTER_DENIED = "TRADE_AMOUNT_FILTER_DENIED"  # a quote-sized buy that is too small

# Futures order types -> (engine type, time in force)
FUTURES_TYPES = {
    "LIMIT": ("limit", "GTC"),
    "MARKET_QTY": ("market", "GTC"),
    "IOC": ("limit", "IOC"),
    "FOK": ("limit", "FOK"),
    "POSTONLY": ("limit", "POST_ONLY"),
}
FUTURES_TYPE_NAMES = {value: key for key, value in FUTURES_TYPES.items()}


class Refusal(wire.Refusal):
    """An answer with ``result: false``: 401 for the authentication codes, else 400."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(
            code,
            message or code,
            status=401 if code in AUTH_CODES else 400,
            auth=code in SIGNATURE_CODES,
        )


def sign(secret: str, payload: str) -> str:
    return wire.hmac_sha256_hex(secret, payload)


def signing_payload(method: str, path: str, query: Mapping[str, str], body: str) -> str:
    """METHOD + path + "?" + the query sorted by key (raw values) + the body as sent."""
    joined = "&".join(f"{key}={value}" for key, value in sorted(query.items()))
    return f"{method.upper()}{path}?{joined}{body}"


def _eight(value: Decimal) -> str:
    return wire.fixed(value, 8)


_PARAMETER_PROBLEMS = {
    wire.NOT_A_NUMBER: "must be a number",
    wire.NOT_AN_INTEGER: "must be an integer",
    wire.OUT_OF_RANGE: "is out of range",
}


def _refuse_param(name: str, problem: wire.Problem) -> Refusal:
    return Refusal(PARAMETER_ERROR, f"{name} {_PARAMETER_PROBLEMS.get(problem, 'is required')}")


def _number(data: Mapping[str, Any], name: str) -> Decimal | None:
    """A decimal parameter; zero counts as absent ("number parameters equal to 0 are
    ignored by the server")."""
    number = wire.Params(data, _refuse_param).decimal(name)
    return None if number == 0 else number


def _integer(
    data: Mapping[str, Any],
    name: str,
    *,
    default: int | None = None,
    low: int = 0,
    high: int | None = None,
) -> int | None:
    return wire.Params(data, _refuse_param).integer(name, default=default, low=low, high=high)


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise Refusal(PARAMETER_ERROR, f"{name} must be true or false")
    return value


def _choice(data: Mapping[str, Any], name: str, allowed: Mapping[str, Any] | tuple) -> str:
    value = data.get(name)
    if value not in allowed:
        raise Refusal(PARAMETER_ERROR, f"{name} must be one of {', '.join(allowed)}")
    return str(value)


Action = Callable[[web.Request, PaperAccount, dict[str, Any]], Any]


class PionexProtocol(Protocol):
    exchange = "pionex"
    key_header: ClassVar[str] = "PIONEX-KEY"
    # Pionex refuses a repeated clientOrderId (futures: for 2 hours, open or not); the paper
    # exchange keeps the refusal for the whole session.
    duplicate_scope: ClassVar[DuplicateScope] = "all"
    write_routes: ClassVar[frozenset[str]] = frozenset(
        {
            "POST /api/v1/trade/order",
            "DELETE /api/v1/trade/order",
            "DELETE /api/v1/trade/allOrders",
            "POST /uapi/v1/trade/order",
            "DELETE /uapi/v1/trade/order",
            "DELETE /uapi/v1/trade/allOrders",
        }
    )

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._by_name: dict[str, PaperInstrument] = {}
        self._names: dict[str, str] = {}
        for instrument in engine.instruments(self.exchange):
            name = f"{instrument.base}_{instrument.quote}"
            name += PERP_SUFFIX if instrument.kind == "linear" else ""
            self._by_name[name] = instrument
            self._names[instrument.symbol] = name
        self._quote_amounts: dict[str, str] = {}  # order id -> amount of a market buy

    def routes(self) -> list[web.RouteDef]:
        read, trade = "read", "trade"
        return [
            web.get("/api/v1/common/symbols", self._public(self.symbols)),
            web.get("/api/v1/market/tickers", self._public(self.tickers)),
            web.get("/api/v1/market/bookTickers", self._public(self.book_tickers)),
            web.get("/api/v1/market/bookTicker", self._public(self.book_tickers)),
            web.get("/api/v1/account/balances", self._private(read, self.spot_balances)),
            web.post("/api/v1/trade/order", self._private(trade, self.spot_place)),
            web.get("/api/v1/trade/order", self._private(read, self.spot_get)),
            web.delete("/api/v1/trade/order", self._private(trade, self.cancel)),
            web.get(
                "/api/v1/trade/orderByClientOrderId",
                self._private(read, self.spot_get_by_client_id),
            ),
            web.get("/api/v1/trade/openOrders", self._private(read, self.spot_open_orders)),
            web.get("/api/v1/trade/allOrders", self._private(read, self.spot_all_orders)),
            web.delete("/api/v1/trade/allOrders", self._private(trade, self.cancel_all)),
            web.get("/api/v1/trade/fills", self._private(read, self.spot_fills)),
            web.get("/uapi/v1/trade/fills", self._private(read, self.futures_fills)),
            web.get("/uapi/v1/account/balances", self._private(read, self.futures_balances)),
            web.get("/uapi/v1/account/detail", self._private(read, self.futures_detail)),
            web.get("/uapi/v1/account/positions", self._private(read, self.positions)),
            web.get("/uapi/v1/account/leverage", self._private(read, self.get_leverage)),
            web.post("/uapi/v1/account/leverage", self._private(trade, self.set_leverage)),
            web.get("/uapi/v1/account/positionMode", self._private(read, self.position_mode)),
            web.post("/uapi/v1/trade/order", self._private(trade, self.futures_place)),
            web.get("/uapi/v1/trade/order", self._private(read, self.futures_get)),
            web.delete("/uapi/v1/trade/order", self._private(trade, self.cancel)),
            web.get(
                "/uapi/v1/trade/orderByClientOrderId",
                self._private(read, self.futures_get_by_client_id),
            ),
            web.get("/uapi/v1/trade/openOrders", self._private(read, self.futures_open_orders)),
            web.get("/uapi/v1/trade/historyOrders", self._private(read, self.futures_history)),
            web.delete("/uapi/v1/trade/allOrders", self._private(trade, self.cancel_all)),
        ]

    # -- the gate's hooks ---------------------------------------------------------------

    def request_weight(self, request: web.Request) -> int:
        path = self._path(request)
        if path.startswith("/uapi/"):
            return FUTURES_WEIGHT
        if path == "/api/v1/market/tickers" and self._wants_perp(request.query, "SPOT"):
            return FUTURES_WEIGHT
        return SPOT_WEIGHTS.get((request.method, path), 1)

    async def request_product(self, request: web.Request, path: str) -> str:
        return "linear" if path.startswith("/uapi/") else "spot"

    def rate_limited(self, retry_after: float) -> web.Response:
        # Pionex sends no Retry-After: a client must sit out the 60 s ban it documents.
        return self._answer(Refusal(RATE_LIMITED, "Too many requests"), status=429)

    def server_error(self) -> web.Response:
        return web.Response(status=503, text="Service Unavailable")

    # -- plumbing -----------------------------------------------------------------------

    def _path(self, request: web.Request) -> str:
        prefix = f"/{self.exchange}"
        path = request.path
        return path[len(prefix) :] if path.startswith(prefix + "/") else path

    def _answer(self, refusal: Refusal, status: int | None = None) -> web.Response:
        return web.json_response(
            {
                "result": False,
                "code": refusal.code,
                "message": refusal.message,
                "timestamp": self.engine.now_ms(),
            },
            status=status or refusal.status,
        )

    def _ok(self, data: Any) -> web.Response:
        payload: dict[str, Any] = {"result": True}
        if data is not None:
            payload["data"] = data
        payload["timestamp"] = self.engine.now_ms()
        return web.json_response(payload)

    def _public(
        self, action: Callable[[Mapping[str, str]], Any]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                return self._ok(action(request.query))
            except Refusal as refusal:
                return self._answer(refusal)

        return handler

    def _private(
        self, permission: str, action: Action
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            body = await request.text()
            try:
                account = self._authenticate(request, body, permission)
                params = self._params(request, body)
                return self._ok(action(request, account, params))
            except Refusal as refusal:
                wire.note_refusal(request, refusal)
                return self._answer(refusal)
            except PaperError as error:
                return self._answer(self._refusal_of(error))

        return handler

    def _authenticate(self, request: web.Request, body: str, permission: str) -> PaperAccount:
        key = request.headers.get("PIONEX-KEY", "")
        signature = request.headers.get("PIONEX-SIGNATURE", "")
        if not key:
            raise Refusal(APIKEY_LOST, "API key is missing")
        if not signature:
            raise Refusal(SIGNATURE_LOST, "Signature is missing")
        self._check_timestamp(request.query.get("timestamp", ""))
        account = self.engine.account(self.exchange, key)
        if account is None:
            raise Refusal(INVALID_APIKEY, "Invalid API key")
        payload = signing_payload(request.method, self._path(request), request.query, body)
        if not wire.same_secret(signature, sign(account.api_secret, payload)):
            raise Refusal(INVALID_SIGNATURE, "Invalid signature")
        if permission not in account.permissions:
            raise Refusal(PERMISSION_DENIED, "Permission denied")
        return account

    def _check_timestamp(self, raw: str) -> None:
        try:
            timestamp = int(raw)
        except ValueError:
            raise Refusal(INVALID_TIMESTAMP, "Invalid timestamp") from None
        if wire.staleness(
            timestamp,
            self.engine.now_ms(),
            behind_ms=TIMESTAMP_WINDOW_MS,
            ahead_ms=TIMESTAMP_WINDOW_MS,
        ):
            raise Refusal(INVALID_TIMESTAMP, "Invalid timestamp")

    def _params(self, request: web.Request, body: str) -> dict[str, Any]:
        """GET: the query; POST/DELETE: the JSON body."""
        if request.method == "GET":
            return dict(request.query)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Refusal(PARAMETER_ERROR, "the body must be a JSON object")
        return data

    def _refusal_of(self, error: PaperError) -> Refusal:
        return Refusal(PAPER_ERRORS.get(error.kind, OPERATION_DENIED), error.message)

    def _instrument(self, name: Any, kind: str, code: str = INVALID_SYMBOL) -> PaperInstrument:
        if not name:
            raise Refusal(PARAMETER_ERROR, "symbol is required")
        instrument = self._by_name.get(str(name))
        if instrument is None or instrument.kind != kind:
            raise Refusal(code, "Invalid symbol")
        return instrument

    def _wants_perp(self, query: Mapping[str, str], default: str) -> bool:
        symbol = query.get("symbol")
        if symbol:
            return str(symbol).endswith(PERP_SUFFIX)
        return query.get("type", default) == "PERP"

    # -- market data (public) -----------------------------------------------------------

    def _listed(self, query: Mapping[str, str], default_type: str) -> list[PaperInstrument]:
        names = [n for n in (query.get("symbols") or query.get("symbol") or "").split(",") if n]
        if names:
            unknown = [name for name in names if name not in self._by_name]
            if unknown:
                raise Refusal(MARKET_INVALID_SYMBOL, "Invalid symbol")
            return [self._by_name[name] for name in names]
        kind = query.get("type", default_type)
        if kind not in ("SPOT", "PERP"):
            raise Refusal(MARKET_PARAMETER_ERROR, "type must be SPOT or PERP")
        wanted = "linear" if kind == "PERP" else "spot"
        return [i for name, i in sorted(self._by_name.items()) if i.kind == wanted]

    def symbols(self, query: Mapping[str, str]) -> dict[str, Any]:
        return {"symbols": [self._symbol_info(i) for i in self._listed(query, "SPOT")]}

    # spot: {"symbol": "BTC_USDT", "type": "SPOT", "baseCurrency": "BTC", "quoteCurrency":
    #   "USDT", "basePrecision": 5, "quotePrecision": 2, "amountPrecision": 2, "minAmount":
    #   "5", "minTradeSize": "0.00001", "maxTradeSize": "1000", ..., "enable": true}
    # perp: {"symbol": "BTC_USDT_PERP", "contractType": "PERPETUAL", "baseStep": "0.001",
    #   "quoteStep": "0.1", "minNotional": "5", "minSizeLimit": "0.001", ..., "status": "TRADING"}
    def _symbol_info(self, instrument: PaperInstrument) -> dict[str, Any]:
        name = self._names[instrument.symbol]
        common = {
            "symbol": name,
            "baseCurrency": instrument.base,
            "quoteCurrency": instrument.quote,
            "basePrecision": wire.decimal_places(instrument.lot_size),
            "quotePrecision": wire.decimal_places(instrument.tick_size),
        }
        big = plain(instrument.lot_size * 10_000_000)
        if instrument.kind == "spot":
            return common | {
                "type": "SPOT",
                "amountPrecision": wire.decimal_places(instrument.tick_size),
                "minAmount": plain(instrument.min_notional),
                "minTradeSize": plain(instrument.min_quantity),
                "maxTradeSize": big,
                "minTradeDumping": plain(instrument.min_quantity),
                "maxTradeDumping": big,
                "buyCeiling": "1.1",
                "sellFloor": "0.9",
                "enable": True,
            }
        return common | {
            "name": name.replace("_", "").replace("PERP", ".PERP"),
            "contractType": "PERPETUAL",
            "minNotional": plain(instrument.min_notional),
            "baseStep": plain(instrument.lot_size),
            "quoteStep": plain(instrument.tick_size),
            "minSizeLimit": plain(instrument.min_quantity),
            "maxSizeLimit": big,
            "maxImpactLimit": "0.1",
            "minSizeMarket": plain(instrument.min_quantity),
            "maxSizeMarket": big,
            "maxImpactMarket": "0.05",
            "maxOrderNum": 200,
            "status": "TRADING",
            "liquidationFeeRate": "0.005",
        }

    # {"symbol": "BTC_USDT", "time": 1655896754515, "open": "60000", "close": "60000",
    #  "high": "60000", "low": "60000", "volume": "0", "amount": "0", "count": "0"}
    def tickers(self, query: Mapping[str, str]) -> dict[str, Any]:
        now = self.engine.now_ms()
        rows = []
        for instrument in self._listed(query, "SPOT"):
            price = plain(self.engine.price(self.exchange, instrument.symbol))
            rows.append(
                {
                    "symbol": self._names[instrument.symbol],
                    "time": now,
                    "open": price,
                    "close": price,
                    "high": price,
                    "low": price,
                    "volume": "0",
                    "amount": "0",
                    "count": "0",
                }
            )
        return {"tickers": rows}

    # {"symbol": "BTC_USDT", "bidPrice": "60000", "bidSize": "1", "askPrice": "60000",
    #  "askSize": "1", "timestamp": "1655896754515"} (the engine quotes no spread)
    def book_tickers(self, query: Mapping[str, str]) -> dict[str, Any]:
        now = str(self.engine.now_ms())
        rows = []
        for instrument in self._listed(query, "PERP"):
            price = plain(self.engine.price(self.exchange, instrument.symbol))
            rows.append(
                {
                    "symbol": self._names[instrument.symbol],
                    "bidPrice": price,
                    "bidSize": "1000",
                    "askPrice": price,
                    "askSize": "1000",
                    "timestamp": now,
                }
            )
        return {"tickers": rows}

    # -- account ------------------------------------------------------------------------

    def _balance_rows(self, account: PaperAccount) -> list[tuple[str, Decimal, Decimal]]:
        balances = self.engine.balances(self.exchange, account)
        return [(coin, free, frozen) for coin, (free, frozen) in sorted(balances.items())]

    # {"balances": [{"coin": "BTC", "free": "0.90000000", "frozen": "0.00000000"}]}
    def spot_balances(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "balances": [
                {"coin": coin, "free": _eight(free), "frozen": _eight(frozen)}
                for coin, free, frozen in self._balance_rows(account)
            ]
        }

    # {"balances": [{"coin": "USDT", "free": "..", "frozen": "..", "debts": "0"}],
    #  "isolates": []}
    def futures_balances(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "balances": [
                {
                    "coin": coin,
                    "free": _eight(free),
                    "frozen": _eight(frozen),
                    "debts": _eight(Decimal(0)),
                }
                for coin, free, frozen in self._balance_rows(account)
            ],
            "isolates": [],
        }

    def futures_detail(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        positions = self.engine.positions(self.exchange, account)
        pnl = sum((p.unrealized_pnl for p in positions), Decimal(0))
        margin = sum((_initial_margin(p) for p in positions), Decimal(0))
        balances = []
        for coin, free, frozen in self._balance_rows(account):
            quote = coin == "USDT"
            balances.append(
                {
                    "coin": coin,
                    "assets": _eight(free + frozen),
                    "free": _eight(free),
                    "frozen": _eight(frozen),
                    "transferable": _eight(free),
                    "available": _eight(free + pnl if quote else free),
                    "unrealizedPnL": _eight(pnl if quote else Decimal(0)),
                    "totalInitialMargin": _eight(margin if quote else Decimal(0)),
                    "debts": _eight(Decimal(0)),
                }
            )
        return {
            "quoteRisks": [{"quote": "USDT", "riskState": "NORMAL"}],
            "balances": balances,
            "positions": [self._position(account, p) for p in positions],
        }

    def positions(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        wanted = None
        if params.get("symbol"):
            wanted = self._instrument(params["symbol"], "linear").symbol
        return {
            "positions": [
                self._position(account, p)
                for p in self.engine.positions(self.exchange, account)
                if p.quantity != 0 and wanted in (None, p.symbol)
            ]
        }

    # {"positionId": "..", "symbol": "BTC_USDT_PERP", "isolatedMode": "CROSS",
    #  "positionSide": "SHORT", "netSize": "-0.01", "avgPrice": "60000", "sizeLong": "0",
    #  "sizeShort": "-0.01", "amountShort": "600", "markPrice": "60000", "leverage": "10"...}
    def _position(self, account: PaperAccount, position: PaperPosition) -> dict[str, Any]:
        size, entry = position.quantity, position.entry_price
        long, short = max(size, Decimal(0)), min(size, Decimal(0))
        now = self.engine.now_ms()
        return {
            "positionId": str(zlib.crc32(f"{account.api_key}:{position.symbol}".encode())),
            "symbol": self._names[position.symbol],
            "isolatedMode": "CROSS",
            "riskState": "NORMAL",
            "positionSide": "LONG" if size > 0 else "SHORT",
            "netSize": plain(size),
            "avgPrice": plain(entry),
            "unrealizedPnL": plain(position.unrealized_pnl),
            "sizeLong": plain(long),
            "sizeShort": plain(short),
            "amountLong": plain(-long * entry),
            "amountShort": plain(-short * entry),
            "amountSettled": "0",
            "markPrice": plain(position.mark_price),
            "initialMargin": plain(_initial_margin(position)),
            "maintMargin": plain(abs(size) * position.mark_price * Decimal("0.005")),
            "liquidationPrice": "0",
            "leverage": str(position.leverage),
            "sizeLiquidated": "0",
            "amountLiquidated": "0",
            "createTime": now,
            "updateTime": now,
        }

    def get_leverage(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "linear")
        leverage = self.engine.leverage(account, instrument.symbol)
        return {"symbol": self._names[instrument.symbol], "leverage": str(leverage)}

    def set_leverage(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "linear")
        leverage = _integer(params, "leverage", low=1)
        if leverage is None:
            raise Refusal(PARAMETER_ERROR, "leverage is required")
        try:
            self.engine.set_leverage(self.exchange, account, instrument.symbol, leverage)
        except ValueError as exc:
            raise Refusal(PARAMETER_ERROR, str(exc)) from None
        return {"symbol": self._names[instrument.symbol], "leverage": str(leverage)}

    def position_mode(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        return {"positionMode": "OPENCLOSE" if account.hedge_mode else "BUYSELL"}

    # -- placing ------------------------------------------------------------------------

    def _client_order_id(self, params: Mapping[str, Any]) -> str | None:
        value = params.get("clientOrderId")
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not CLIENT_ORDER_ID.fullmatch(value):
            raise Refusal(PARAMETER_ERROR, "clientOrderId: letters, digits, '-', up to 64")
        return value

    def _place(self, request: web.Request, account: PaperAccount, **order: Any) -> PaperOrder:
        try:
            placed = self.engine.place_order(self.exchange, account, **order)
        except ValueError as exc:
            raise Refusal(PARAMETER_ERROR, str(exc)) from None
        request["order_accepted"] = True
        return placed

    # body: {"symbol": "BTC_USDT", "side": "BUY", "type": "LIMIT", "clientOrderId": "..",
    #        "size": "0.001", "price": "20000", "IOC": false}  (MARKET BUY: "amount" in quote)
    def spot_place(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "spot")
        side = _choice(params, "side", ("BUY", "SELL"))
        kind = _choice(params, "type", ("LIMIT", "MARKET"))
        client_order_id = self._client_order_id(params)
        size, price, amount = (_number(params, n) for n in ("size", "price", "amount"))
        order: dict[str, Any] = {
            "symbol": instrument.symbol,
            "side": side.lower(),
            "type": kind.lower(),
            "client_order_id": client_order_id,
        }
        if kind == "LIMIT":
            if size is None or price is None:
                raise Refusal(PARAMETER_ERROR, "a LIMIT order needs size and price")
            order |= {
                "quantity": size,
                "price": price,
                "time_in_force": "IOC" if _flag(params, "IOC") else "GTC",
            }
        elif side == "SELL":
            if size is None:
                raise Refusal(PARAMETER_ERROR, "a MARKET sell needs size")
            order["quantity"] = size
        else:
            if amount is None:
                raise Refusal(PARAMETER_ERROR, "a MARKET buy needs amount")
            order["quote_quantity"] = amount
        try:
            placed = self._place(request, account, **order)
        except PaperError as error:
            if error.kind == "invalid_quantity" and "quote_quantity" in order:
                raise Refusal(AMOUNT_FILTER_DENIED, error.message) from None
            raise
        if "quote_quantity" in order:
            self._quote_amounts[placed.order_id] = plain(amount)
        data: dict[str, Any] = {"orderId": int(placed.order_id)}
        if client_order_id:
            data["clientOrderId"] = client_order_id
        return data

    # body: {"symbol": "BTC_USDT_PERP", "side": "SELL", "type": "LIMIT", "size": "0.01",
    #        "price": "70000", "positionSide": "BOTH", "reduceOnly": false, "clientOrderId": ..}
    def futures_place(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "linear")
        side = _choice(params, "side", ("BUY", "SELL"))
        engine_type, time_in_force = FUTURES_TYPES[_choice(params, "type", FUTURES_TYPES)]
        position_side = params.get("positionSide") or "BOTH"
        hedged = account.hedge_mode
        if position_side not in (("LONG", "SHORT") if hedged else ("BOTH",)):
            raise Refusal(PARAMETER_ERROR, "positionSide does not match the position mode")
        reduce_only = _flag(params, "reduceOnly")
        if reduce_only and hedged:
            raise Refusal(PARAMETER_ERROR, "reduceOnly must be false in hedge mode")
        size, price = _number(params, "size"), _number(params, "price")
        if size is None or (engine_type == "limit" and price is None):
            raise Refusal(PARAMETER_ERROR, "size (and price for limit types) is required")
        placed = self._place(
            request,
            account,
            symbol=instrument.symbol,
            side=side.lower(),
            type=engine_type,
            quantity=size,
            price=price if engine_type == "limit" else None,
            time_in_force=time_in_force,
            client_order_id=self._client_order_id(params),
            reduce_only=reduce_only,
        )
        # Futures placement is asynchronous on Pionex: only the id comes back.
        return {"orderId": int(placed.order_id)}

    # -- orders -------------------------------------------------------------------------

    def _owned(self, order: PaperOrder | None, kind: str, symbol: str | None = None) -> PaperOrder:
        """The order if it belongs to this product (and symbol); else not found."""
        if order is None or self.engine.instrument(self.exchange, order.symbol).kind != kind:
            raise Refusal(ORDER_NOT_FOUND, "Order not found")
        if symbol is not None and order.symbol != symbol:
            raise Refusal(ORDER_NOT_FOUND, "Order not found")
        return order

    def _order_id(self, params: Mapping[str, Any]) -> str:
        order_id = _integer(params, "orderId", low=1)
        if order_id is None:
            raise Refusal(PARAMETER_ERROR, "orderId is required")
        return str(order_id)

    def spot_get(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        order = self.engine.get_order(self.exchange, account, order_id=self._order_id(params))
        return self._spot_order(self._owned(order, "spot"))

    def spot_get_by_client_id(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        client_order_id = self._client_order_id(params)
        if client_order_id is None:
            raise Refusal(PARAMETER_ERROR, "clientOrderId is required")
        order = self.engine.get_order(self.exchange, account, client_order_id=client_order_id)
        return self._spot_order(self._owned(order, "spot"))

    def futures_get(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "linear")
        order = self.engine.get_order(self.exchange, account, order_id=self._order_id(params))
        return self._futures_order(self._owned(order, "linear", instrument.symbol))

    def futures_get_by_client_id(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "linear")
        client_order_id = self._client_order_id(params)
        if client_order_id is None:
            raise Refusal(PARAMETER_ERROR, "clientOrderId is required")
        order = self.engine.get_order(self.exchange, account, client_order_id=client_order_id)
        return self._futures_order(self._owned(order, "linear", instrument.symbol))

    def cancel(self, request: web.Request, account: PaperAccount, params: dict[str, Any]) -> None:
        """DELETE .../trade/order {symbol, orderId}: no cancel by client id on Pionex."""
        instrument = self._instrument(params.get("symbol"), self._product(request))
        self.engine.cancel_order(
            self.exchange, account, symbol=instrument.symbol, order_id=self._order_id(params)
        )
        request["cancel_applied"] = True

    def cancel_all(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> None:
        instrument = self._instrument(params.get("symbol"), self._product(request))
        if self.engine.cancel_all(self.exchange, account, instrument.symbol):
            request["cancel_applied"] = True

    def _product(self, request: web.Request) -> str:
        return "linear" if self._path(request).startswith("/uapi/") else "spot"

    def spot_open_orders(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "spot")
        orders = self.engine.open_orders(self.exchange, account, instrument.symbol)
        return {"orders": [self._spot_order(order) for order in orders]}

    def spot_all_orders(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        instrument = self._instrument(params.get("symbol"), "spot")
        orders = self._history(account, params, instrument.symbol, "spot")
        return {"orders": [self._spot_order(order) for order in orders]}

    def futures_open_orders(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        symbol = self._optional_perp(params)
        limit = _integer(params, "limit", default=100, low=1, high=500)
        orders = [
            o for o in self.engine.open_orders(self.exchange, account, symbol) if self._is_perp(o)
        ]
        return {"orders": [self._futures_order(order) for order in orders[:limit]]}

    def futures_history(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        symbol = self._optional_perp(params)
        orders = self._history(account, params, symbol, "linear", closed_only=True)
        return {"orders": [self._futures_order(order) for order in orders]}

    def spot_fills(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        """One symbol's fills in [startTime, endTime], newest first, the latest 100."""
        instrument = self._instrument(params.get("symbol"), "spot")
        return {
            "fills": [
                self._fill(order, fill, params.get("symbol"))
                for order, fill in self._fills(account, params, instrument, 100)
            ]
        }

    def futures_fills(
        self, request: web.Request, account: PaperAccount, params: dict[str, Any]
    ) -> dict[str, Any]:
        """As spot, with ``limit`` (1..200, default 100) and the fee type."""
        instrument = self._instrument(params.get("symbol"), "linear")
        limit = _integer(params, "limit", default=100, low=1, high=200) or 100
        return {
            "fills": [
                self._fill(order, fill, params.get("symbol")) | {"feeType": "TRADING"}
                for order, fill in self._fills(account, params, instrument, limit)
            ]
        }

    def _fills(
        self,
        account: PaperAccount,
        params: Mapping[str, Any],
        instrument: PaperInstrument,
        limit: int,
    ) -> list[tuple[PaperOrder, PaperFill]]:
        start, end = _integer(params, "startTime"), _integer(params, "endTime")
        return self.engine.account_fills(
            self.exchange, account, instrument.symbol, since_ms=start, until_ms=end
        )[:limit]

    # {"id": 19237382, "orderId": 89327321, "symbol": "BTC_USDT", "side": "BUY",
    #  "role": "TAKER", "price": "30000.00", "size": "0.0001", "fee": "0.0000001",
    #  "feeCoin": "BTC", "timestamp": 1566691672311}
    @staticmethod
    def _fill(order: PaperOrder, fill: PaperFill, name: Any) -> dict[str, Any]:
        return {
            "id": int(fill.trade_id),
            "orderId": int(order.order_id),
            "symbol": str(name),
            "side": order.side.upper(),
            "role": "MAKER" if fill.maker else "TAKER",
            "price": plain(fill.price),
            "size": plain(fill.quantity),
            "fee": plain(fill.fee),
            "feeCoin": fill.fee_asset,
            "timestamp": fill.time_ms,
        }

    def _optional_perp(self, params: Mapping[str, Any]) -> str | None:
        if not params.get("symbol"):
            return None
        return self._instrument(params["symbol"], "linear").symbol

    def _is_perp(self, order: PaperOrder) -> bool:
        return self.engine.instrument(self.exchange, order.symbol).kind == "linear"

    def _history(
        self,
        account: PaperAccount,
        params: Mapping[str, Any],
        symbol: str | None,
        kind: str,
        *,
        closed_only: bool = False,
    ) -> list[PaperOrder]:
        """Newest first, within [startTime, endTime], the latest ``limit`` (default 50)."""
        start = _integer(params, "startTime")
        end = _integer(params, "endTime")
        limit = _integer(params, "limit", default=50, low=1, high=200) or 1
        orders = [
            o
            for o in self.engine.order_history(self.exchange, account, symbol, start)
            if (end is None or o.created_ms <= end)
            and not (closed_only and o.is_open)
            and self.engine.instrument(self.exchange, o.symbol).kind == kind
        ]
        return orders[:limit]

    # {"orderId": 1655896754515001, "symbol": "BTC_USDT", "type": "LIMIT", "side": "BUY",
    #  "price": "30000", "size": "0.001", "amount": "", "filledSize": "0",
    #  "filledAmount": "0", "fee": "0", "feeCoin": "BTC", "status": "OPEN", "IOC": false,
    #  "clientOrderId": "..", "source": "API", "createTime": .., "updateTime": ..}
    def _spot_order(self, order: PaperOrder) -> dict[str, Any]:
        instrument = self.engine.instrument(self.exchange, order.symbol)
        amount = self._quote_amounts.get(order.order_id, "")
        return self._order_common(order) | {
            "type": order.type.upper(),
            "size": "" if amount else plain(order.quantity),
            "amount": amount,
            "IOC": order.time_in_force == "IOC",
            "feeCoin": instrument.base if order.side == "buy" else instrument.quote,
        }

    # adds: "positionMode": "BUYSELL", "isolatedMode": "CROSS", "positionSide": "BOTH",
    #       "origSize": "0.01", "reduceOnly": false, "type": "LIMIT|MARKET_QTY|IOC|FOK|POSTONLY"
    def _futures_order(self, order: PaperOrder) -> dict[str, Any]:
        kind = (
            "MARKET_QTY"
            if order.type == "market"
            else FUTURES_TYPE_NAMES[("limit", order.time_in_force)]
        )
        return self._order_common(order) | {
            "type": kind,
            "positionMode": "BUYSELL",
            "isolatedMode": "CROSS",
            "positionSide": "BOTH",
            "origSize": plain(order.quantity),
            "size": plain(order.quantity),
            "amount": "",
            "reduceOnly": order.reduce_only,
            "feeCoin": "USDT",
        }

    def _order_common(self, order: PaperOrder) -> dict[str, Any]:
        filled_amount = order.filled_quantity * (order.average_price or Decimal(0))
        return {
            "orderId": int(order.order_id),
            "symbol": self._names[order.symbol],
            "side": order.side.upper(),
            "price": plain(order.price),
            "filledSize": plain(order.filled_quantity),
            "filledAmount": plain(filled_amount),
            "fee": "0",
            "status": "OPEN" if order.is_open else "CLOSED",
            "clientOrderId": order.client_order_id or "",
            "source": "API",
            "createTime": order.created_ms,
            "updateTime": order.updated_ms,
        }


def _initial_margin(position: PaperPosition) -> Decimal:
    return abs(position.quantity) * position.entry_price / position.leverage
