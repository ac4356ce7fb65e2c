"""Pionex: spot (``/api/v1``) and USDT perpetual futures, Beta (``/uapi/v1``), over REST.

Facts: docs/exchanges/pionex.md. One production host, no testnet. Private calls carry
``PIONEX-KEY`` and a lowercase-hex HMAC-SHA256 in ``PIONEX-SIGNATURE`` over
``METHOD + path + "?" + sorted query (with timestamp)`` plus the exact JSON body; the
``timestamp`` (ms) is valid for +-20 s. Envelope ``{result, data | code+message, timestamp}``
with string codes. Orders report only OPEN/CLOSED; fills tell the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_UP, Decimal
from typing import Any

from exchanges import errors
from exchanges.base import (
    Balance,
    Call,
    Connector,
    CredentialCheck,
    ExchangeOrder,
    FillUpdate,
    Instrument,
    KeyInfo,
    OrderRequest,
    Position,
    Response,
    Ticker,
    compact_json,
    unrestricted_key,
)
from exchanges.limits import ACCOUNT, IP, Budget, Window, retry_after_seconds
from exchanges.parsing import decimal_or_none, decimal_or_zero, format_decimal, int_or_none
from exchanges.symbols import Market, joined_symbol, parse_symbol, split_by_separator, unified

# -- URLs: one production host for both products; no testnet or demo exists (facts section 1)

REST_HOSTS = {
    ("live", "spot"): "https://api.pionex.com",
    ("live", "linear"): "https://api.pionex.com",
}
WS_HOSTS = {
    ("live", "spot"): "wss://ws.pionex.com/ws",  # private spot, query-string auth
    ("live", "linear"): "wss://ws.pionex.com/wsUA",  # private futures, auth message
}
WS_PUBLIC = "wss://ws.pionex.com/wsPub"
# UNVERIFIED: that no sandbox exists (none is documented anywhere; exchanges.capabilities
# offers live and paper). Paper connections always come with base_url and otherwise behave
# like live.

# -- endpoint paths

SYMBOLS = "/api/v1/common/symbols"
TICKERS = "/api/v1/market/tickers"
BOOK_TICKERS = "/api/v1/market/bookTickers"
SPOT_BALANCES = "/api/v1/account/balances"
SPOT_ORDER = "/api/v1/trade/order"
SPOT_ORDER_BY_CLIENT_ID = "/api/v1/trade/orderByClientOrderId"
SPOT_OPEN_ORDERS = "/api/v1/trade/openOrders"
SPOT_ALL_ORDERS = "/api/v1/trade/allOrders"  # GET: history; DELETE: cancel all
# UNVERIFIED: the futures API is labelled Beta and was once marked "Internal"; whether
# ordinary keys may use it is not confirmed (check_credentials reports "futures" only after a
# futures read succeeded).
PERP_BALANCES = "/uapi/v1/account/balances"
PERP_POSITIONS = "/uapi/v1/account/positions"
PERP_POSITION_MODE = "/uapi/v1/account/positionMode"
PERP_LEVERAGE = "/uapi/v1/account/leverage"
PERP_ORDER = "/uapi/v1/trade/order"
PERP_ORDER_BY_CLIENT_ID = "/uapi/v1/trade/orderByClientOrderId"
PERP_OPEN_ORDERS = "/uapi/v1/trade/openOrders"
PERP_HISTORY_ORDERS = "/uapi/v1/trade/historyOrders"
PERP_ALL_ORDERS = "/uapi/v1/trade/allOrders"  # DELETE: cancel all
# our trades, per symbol (openapi.yaml / openapi_futures.yaml "Get fills", weight 5 each)
SPOT_FILLS = "/api/v1/trade/fills"
PERP_FILLS = "/uapi/v1/trade/fills"

# -- rate limits (facts section 5): 10 weight/s per IP and 10 weight/s per account

WEIGHTS: dict[str, int] = {
    SYMBOLS: 5,
    TICKERS: 1,
    BOOK_TICKERS: 1,
    SPOT_BALANCES: 1,
    SPOT_ORDER: 1,
    SPOT_ORDER_BY_CLIENT_ID: 1,
    SPOT_OPEN_ORDERS: 5,
    SPOT_ALL_ORDERS: 5,
    # every futures private endpoint weighs 5
    PERP_BALANCES: 5,
    PERP_POSITIONS: 5,
    PERP_POSITION_MODE: 5,
    PERP_LEVERAGE: 5,
    PERP_ORDER: 5,
    PERP_ORDER_BY_CLIENT_ID: 5,
    PERP_OPEN_ORDERS: 5,
    PERP_HISTORY_ORDERS: 5,
    PERP_ALL_ORDERS: 5,
    SPOT_FILLS: 5,
    PERP_FILLS: 5,
}
# Two independent budgets, both 10 weight per second: per IP for every endpoint, per
# account for the private ones (docs/rate-limits.md).
_DOCS = "pionex-doc.gitbook.io (Rate Limit), the official OpenAPI spec"
RATE_LIMITS = Budget(
    windows={
        "ip weight 1s": Window(10, 1, IP, "weight", source=_DOCS),
        "account weight 1s": Window(10, 1, ACCOUNT, "weight", signed=True, source=_DOCS),
    }
)
RATE_LIMIT_PAUSE_SECONDS = 60.0  # HTTP 429 bans the IP/account for 60 s (+10 s per retry)
TIMESTAMP_WINDOW_MS = 20_000  # a signed request older than 20 s is refused
# Pionex has no recvWindow. Stamping a request 12 s early makes the exchange's fixed 20 s
# window close 8 s after signing, so an order whose answer was lost is provably void (and
# can be resent) after 8 s instead of 20; 8 s is still more than Binance's default 5 s.
STAMP_LEAD_MS = 12_000
# UNVERIFIED: neither spec states how far back fills go; spot answers the latest 100 of the
# range, futures up to 200 (limit)
FILLS_LOOKBACK_MS = 90 * 86_400_000
PERP_FILLS_LIMIT = 200
ROLES = {"MAKER": "maker", "TAKER": "taker"}

# -- statuses: Pionex says only OPEN or CLOSED; _order_status refines them with the fills,
# PionexConnector.settled_status with what only the caller knows

STATUS_MAP = {"OPEN": "open", "CLOSED": "canceled"}
# A CLOSED market buy is sized in quote; it counts as filled when it spent the amount
# within this relative tolerance (the exchange rounds the spend to its precision).
MARKET_BUY_FILL_TOLERANCE = Decimal("0.001")
MARKET_BUY_BUFFER = Decimal("1.01")  # quote amount = quantity x ask x 1.01
PROBE_SYMBOLS = {"spot": "BTC_USDT", "linear": "BTC_USDT_PERP"}
PROBE_ORDER_ID = 1  # no account owns order 1: cancelling it tells permission without effect
HISTORY_LIMIT = 200


# -- signing (pure: no clock inside) ----------------------------------------------------


def signing_payload(
    method: str, path: str, params: Iterable[tuple[str, str]], body: str = ""
) -> str:
    """METHOD + path + "?" + key=value pairs sorted by key, not URL-encoded, + raw body."""
    query = "&".join(f"{key}={value}" for key, value in sorted(params, key=lambda kv: kv[0]))
    return f"{method.upper()}{path}?{query}{body}"


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def sign(
    secret: str,
    *,
    method: str,
    path: str,
    params: Iterable[tuple[str, str]],
    timestamp_ms: int,
    body: str = "",
) -> str:
    """The ``PIONEX-SIGNATURE`` of one REST request; ``params`` exclude the timestamp."""
    signed = [*params, ("timestamp", str(timestamp_ms))]
    return hmac_hex(secret, signing_payload(method, path, signed, body))


def sign_ws_spot(secret: str, api_key: str, timestamp_ms: int) -> str:
    """Private spot stream: signs ``/ws?key=..&timestamp=..websocket_auth``."""
    return hmac_hex(secret, f"/ws?key={api_key}&timestamp={timestamp_ms}websocket_auth")


def sign_ws_futures(secret: str, timestamp_ms: int) -> str:
    """Private futures stream auth message: signs ``<timestamp>websocket_auth``."""
    return hmac_hex(secret, f"{timestamp_ms}websocket_auth")


# -- symbols ------------------------------------------------------------------------------

PERP_SUFFIX = "_PERP"


def to_exchange_symbol(market: Market) -> str:
    """BTC/USDT -> BTC_USDT; BTC/USDT:USDT -> BTC_USDT_PERP."""
    return joined_symbol(market, "_", PERP_SUFFIX)


def from_exchange_symbol(name: str) -> str:
    """BTC_USDT -> BTC/USDT; BTC_USDT_PERP -> BTC/USDT:USDT."""
    perpetual = name.endswith(PERP_SUFFIX)
    split = split_by_separator(name.removesuffix(PERP_SUFFIX) if perpetual else name, "_")
    if split is None:
        raise errors.InvalidRequest(f"not a Pionex symbol: {name!r}", exchange="pionex")
    return parse_symbol(unified(*split, "linear" if perpetual else "spot")).symbol


# {"id": 19237382, "orderId": 89327321, "symbol": "BTC_USDT", "side": "BUY", "role": "TAKER",
#  "price": "30000.00", "size": "0.0001", "fee": "0.0000001", "feeCoin": "BTC",
#  "timestamp": 1566691672311}   (futures adds "feeType": TRADING | LIQUIDATION)
def parse_fill(raw: Mapping[str, Any]) -> FillUpdate:
    """One fill of ours; the fee is what was paid."""
    return FillUpdate(
        exchange="pionex",
        trade_id=str(raw["id"]),
        exchange_order_id=str(raw["orderId"]),
        client_order_id=None,
        symbol=from_exchange_symbol(str(raw["symbol"])),
        side=str(raw["side"]).lower(),
        price=Decimal(str(raw["price"])),
        quantity=Decimal(str(raw["size"])),
        fee=decimal_or_zero(raw.get("fee")),
        fee_asset=raw.get("feeCoin") or None,
        liquidity=ROLES.get(str(raw.get("role", ""))),
        time_ms=int_or_none(raw.get("timestamp")),
    )


# -- request builders -----------------------------------------------------------------------


def order_body(
    order: OrderRequest, market: Market, *, quote_amount: Decimal | None = None
) -> dict[str, Any]:
    """The JSON body of POST /api/v1/trade/order or /uapi/v1/trade/order."""
    body: dict[str, Any] = {
        "symbol": to_exchange_symbol(market),
        "side": order.side.upper(),
        "clientOrderId": order.client_order_id,
    }
    if market.is_perpetual:
        body.update(_perp_order_fields(order))
    elif order.type == "market":
        body["type"] = "MARKET"
        if order.side == "buy":
            body["amount"] = format_decimal(_required(quote_amount, "quote amount"))
        else:
            body["size"] = format_decimal(order.quantity)
    else:
        body.update(
            type="LIMIT",
            size=format_decimal(order.quantity),
            price=format_decimal(_required(order.price, "price")),
        )
        if order.time_in_force == "IOC":
            body["IOC"] = True
    return body


def _perp_order_fields(order: OrderRequest) -> dict[str, Any]:
    # one-way mode only: positionSide BOTH; reduceOnly is valid only there
    fields: dict[str, Any] = {"size": format_decimal(order.quantity), "positionSide": "BOTH"}
    if order.type == "market":
        fields["type"] = "MARKET_QTY"
    else:
        fields["type"] = {"GTC": "LIMIT", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "POSTONLY"}[
            order.time_in_force
        ]
        fields["price"] = format_decimal(_required(order.price, "price"))
    if order.reduce_only:
        fields["reduceOnly"] = True
    return fields


def market_buy_amount(quantity: Decimal, ask: Decimal, step: Decimal | None) -> Decimal:
    """Quote to spend for ``quantity`` base: quantity x ask x 1.01, rounded up to ``step``."""
    amount = quantity * ask * MARKET_BUY_BUFFER
    return amount.quantize(step, rounding=ROUND_UP) if step else amount


def _required(value: Decimal | None, what: str) -> Decimal:
    if value is None or value <= 0:
        raise errors.InvalidRequest(f"a positive {what} is required", exchange="pionex")
    return value


def _order_id(exchange_order_id: str) -> int:
    if not str(exchange_order_id).isdigit():
        raise errors.InvalidRequest(
            f"Pionex order ids are numeric, not {exchange_order_id!r}", exchange="pionex"
        )
    return int(exchange_order_id)


# -- response parsers -----------------------------------------------------------------------


# {"orderId": 1234, "symbol": "BTC_USDT", "type": "LIMIT", "side": "BUY", "price": "50000",
#  "size": "0.01", "amount": "", "filledSize": "0.004", "filledAmount": "200", "fee": "0.2",
#  "feeCoin": "USDT", "status": "OPEN", "IOC": false, "clientOrderId": "ec01...",
#  "source": "API", "createTime": 1700000000000, "updateTime": 1700000001000}
# futures add positionMode, isolatedMode, positionSide, origSize, reduceOnly
def parse_order(raw: Mapping[str, Any], symbol: str | None = None) -> ExchangeOrder:
    size = decimal_or_none(raw.get("size"))
    filled = decimal_or_zero(raw.get("filledSize"))
    filled_amount = decimal_or_zero(raw.get("filledAmount"))
    return ExchangeOrder(
        symbol=from_exchange_symbol(raw["symbol"]) if raw.get("symbol") else symbol or "",
        client_order_id=raw.get("clientOrderId") or None,
        exchange_order_id=str(raw["orderId"]),
        status=_order_status(raw, size, filled, filled_amount),
        side=str(raw.get("side", "")).lower(),
        type="market" if str(raw.get("type", "")).startswith("MARKET") else "limit",
        quantity=decimal_or_none(raw.get("origSize")) or size or filled,
        filled_quantity=filled,
        average_price=filled_amount / filled if filled else None,
        price=decimal_or_none(raw.get("price")) or None,
        raw_status=str(raw.get("status", "")),
        created_at_ms=int_or_none(raw.get("createTime")),
        updated_at_ms=int_or_none(raw.get("updateTime")),
    )


def _order_status(
    raw: Mapping[str, Any], size: Decimal | None, filled: Decimal, filled_amount: Decimal
) -> str:
    raw_status = str(raw.get("status", ""))
    if raw_status not in STATUS_MAP:
        raise errors.ExchangeError(f"unknown Pionex order status {raw_status!r}", exchange="pionex")
    if raw_status == "OPEN":
        return "partially_filled" if filled > 0 else "open"
    if size:  # the actual size (futures may trim it for reduce-only)
        return "filled" if filled >= size else STATUS_MAP[raw_status]
    amount = decimal_or_none(raw.get("amount"))  # a spot market buy, sized in quote
    if amount and filled_amount >= amount * (1 - MARKET_BUY_FILL_TOLERANCE):
        return "filled"
    # CLOSED below its size: Pionex cannot say why. docs/orders.md makes it expired
    # for IOC, canceled when we asked, else rejected; only the order service knows whether
    # we asked, so the connector reports what it can tell, "canceled", and
    # PionexConnector.settled_status decides with what the caller knows. UNVERIFIED:
    # futures async rejects also end CLOSED with no fill.
    return STATUS_MAP[raw_status]


# {"symbol": "BTC_USDT", "type": "SPOT", "baseCurrency": "BTC", "quoteCurrency": "USDT",
#  "basePrecision": 6, "quotePrecision": 2, "amountPrecision": 8, "minAmount": "10",
#  "minTradeSize": "0.000001", "maxTradeSize": "1000", "enable": true}
# futures: {"symbol": "BTC_USDT_PERP", "baseStep": "0.0001", "quoteStep": "0.1",
#  "minSizeLimit": "0.0001", "minNotional": "5", "status": "TRADING", ...}
def parse_instrument(raw: Mapping[str, Any]) -> Instrument:
    symbol = from_exchange_symbol(raw["symbol"])
    market = parse_symbol(symbol)
    return Instrument(
        symbol=symbol,
        exchange_symbol=raw["symbol"],
        base=market.base,
        quote=market.quote,
        kind=market.kind,
        tick_size=_step(raw.get("quoteStep"), raw.get("quotePrecision")),
        lot_size=_step(raw.get("baseStep"), raw.get("basePrecision")),
        min_quantity=decimal_or_zero(raw.get("minSizeLimit") or raw.get("minTradeSize")),
        min_notional=decimal_or_zero(raw.get("minNotional") or raw.get("minAmount")),
    )


def is_tradable(raw: Mapping[str, Any]) -> bool:
    return raw.get("enable", True) is not False and raw.get("status", "TRADING") == "TRADING"


def _step(step: Any, precision: Any) -> Decimal:
    if step not in (None, ""):
        return Decimal(str(step))
    return Decimal(1).scaleb(-int(precision)) if precision not in (None, "") else Decimal("0")


# {"coin": "USDT", "free": "100.00000000", "frozen": "900.00000000"}
def parse_balance(raw: Mapping[str, Any]) -> Balance:
    return Balance(
        asset=raw["coin"],
        free=Decimal(str(raw.get("free") or "0")),
        locked=Decimal(str(raw.get("frozen") or "0")),
    )


# {"positionId": "1", "symbol": "BTC_USDT_PERP", "positionSide": "LONG", "netSize": "0.01",
#  "avgPrice": "50000", "unrealizedPnL": "1.5", "markPrice": "50150", "leverage": "10", ...}
def parse_position(raw: Mapping[str, Any]) -> Position:
    return Position(
        symbol=from_exchange_symbol(raw["symbol"]),
        quantity=Decimal(str(raw.get("netSize") or "0")),
        entry_price=decimal_or_none(raw.get("avgPrice")),
        leverage=decimal_or_none(raw.get("leverage")),
        unrealized_pnl=decimal_or_none(raw.get("unrealizedPnL")),
        mark_price=decimal_or_none(raw.get("markPrice")),
    )


# -- errors ---------------------------------------------------------------------------------

AUTH = errors.AuthenticationError
ERROR_TABLE = errors.ErrorTable(
    exact={
        "APIKEY_LOST": AUTH,
        "SIGNATURE_LOST": AUTH,
        "INVALID_APIKEY": AUTH,
        "INVALIE_APIKEY": AUTH,  # the older docs' spelling
        "INVALID_SIGNATURE": AUTH,
        "APIKEY_EXPIRED": AUTH,
        # our clock, not the key: must not disable the connection like an auth failure
        "INVALID_TIMESTAMP": errors.InvalidRequest,
        "IP_NOT_WHITELISTED": errors.PermissionDenied,
        "PERMISSION_DENIED": errors.PermissionDenied,
        "TRADE_INVALID_SYMBOL": errors.InvalidRequest,
        "TRADE_INVAILD_SYMBOL": errors.InvalidRequest,  # the examples' spelling
        "MARKET_INVALID_SYMBOL": errors.InvalidRequest,
        "TRADE_PARAMETER_ERROR": errors.InvalidRequest,
        "MARKET_PARAMETER_ERROR": errors.InvalidRequest,
        "MARKET_INVALID_TIME": errors.InvalidRequest,
        "PARAMETER_ERROR": errors.InvalidRequest,
        "TRADE_OPERATION_DENIED": errors.InvalidOrder,
        "TRADE_ORDER_NOT_FOUND": errors.OrderNotFound,
        # [COMMUNITY] codes from the older docs, absent from the current spec
        "TRADE_NOT_ENOUGH_MONEY": errors.InsufficientFunds,
        "TRADE_REPEAT_CLIENT_ORDER_ID": errors.DuplicateOrder,
        "TRADE_PRICE_FILTER_DENIED": errors.InvalidOrder,
        "TRADE_SIZE_FILTER_DENIED": errors.InvalidOrder,
        "TRADE_AMOUNT_FILTER_DENIED": errors.InvalidOrder,
        "TRADE_OPEN_ORDER_EXCEED_LIMIT": errors.InvalidOrder,
    },
    substrings=(
        ("insufficient", errors.InsufficientFunds),
        ("not enough", errors.InsufficientFunds),
    ),
    http_status={400: errors.InvalidRequest, 401: AUTH, 429: errors.RateLimited},
)


# -- the connector --------------------------------------------------------------------------


class PionexConnector(Connector):
    deadline_window_ms = TIMESTAMP_WINDOW_MS - STAMP_LEAD_MS
    name = "pionex"
    # no dead-man switch: neither product's open API has a cancel-after or cancel-on-
    # disconnect (facts: Dead-man switch), so arming raises NotSupported
    dead_man_switch = None
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    fills_lookback_ms = FILLS_LOOKBACK_MS
    fills_per_symbol = True
    rate_limits = RATE_LIMITS
    error_table = ERROR_TABLE
    client_order_id_pattern = re.compile(r"^[A-Za-z0-9-]{1,64}$")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._amount_steps: dict[str, Decimal] = {}

    @classmethod
    def settled_status(
        cls,
        found: ExchangeOrder,
        *,
        order_type: str,
        time_in_force: str,
        rested: bool,
        cancel_requested: bool,
    ) -> str:
        """Pionex says only OPEN or CLOSED: a CLOSED order below its size is expired for IOC,
        FOK and market orders, canceled if we asked or if it had rested (an open order cannot
        be rejected), else rejected (docs/orders.md)."""
        if found.raw_status != "CLOSED" or found.status == "filled":
            return found.status
        if order_type == "market" or time_in_force in ("IOC", "FOK"):
            return "expired"
        return "canceled" if cancel_requested or rested else "rejected"

    # -- pipeline hooks ------------------------------------------------------------------

    def sign(self, call: Call) -> None:
        timestamp = self.now_ms() - STAMP_LEAD_MS
        signature = sign(
            self.credentials.api_secret,
            method=call.method,
            path=call.path,
            params=call.params,
            timestamp_ms=timestamp,
            body=call.body or "",
        )
        call.params.append(("timestamp", str(timestamp)))
        call.headers.update({"PIONEX-KEY": self.credentials.api_key, "PIONEX-SIGNATURE": signature})
        if call.body is not None:
            call.headers["Content-Type"] = "application/json"
        call.deadline_ms = timestamp + TIMESTAMP_WINDOW_MS

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        # {"result": false, "code": "TRADE_INVALID_SYMBOL", "message": "Invalid symbol",
        #  "timestamp": 1566691672311}; branch on result, not on the HTTP status
        payload = response.payload
        if isinstance(payload, dict) and "result" in payload:
            if payload["result"] is True:
                return None
            return payload.get("code"), str(payload.get("message") or payload.get("code"))
        # never the raw body of a non-JSON answer (a gateway page): only the status
        return None, f"HTTP {response.status} without a Pionex envelope"

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return RATE_LIMIT_PAUSE_SECONDS if retry_after is None else retry_after

    # -- helpers ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, Any]] = (),
        body: Mapping[str, Any] | None = None,
        signed: bool = True,
        product: str = "spot",
    ) -> Any:
        call = Call(
            method=method,
            path=path,
            signed=signed,
            product=product,
            write=method in ("POST", "DELETE"),
            params=[(key, str(value)) for key, value in params if value is not None],
            body=compact_json(body) if body is not None else None,
        )
        return self.request(call).payload.get("data") or {}

    def _perpetual(self) -> bool:
        return self.api_type == "perpetual_futures"

    def _require_perpetual(self, operation: str) -> None:
        if not self._perpetual():
            raise errors.NotSupported(
                f"{operation} exists only for Pionex perpetuals", exchange=self.name
            )

    # -- operations -------------------------------------------------------------------------

    def server_time(self) -> int:
        # no time endpoint: every envelope carries the server time in ms
        call = Call("GET", TICKERS, params=[("symbol", PROBE_SYMBOLS["spot"])])
        stamp = self.request(call).payload.get("timestamp")
        if not isinstance(stamp, int):
            raise errors.ExchangeError("no server timestamp in the answer", exchange=self.name)
        return stamp

    def check_credentials(self) -> CredentialCheck:
        self.balances()
        permissions = ["read", "futures"] if self._perpetual() else ["read"]
        warnings: list[str] = []
        traded = self._probe_trade_permission()
        if traded:
            permissions.append("trade")
        else:
            warnings.append("read_only")
        # no key-info endpoint: IP binding and expiry are unknown (docs/exchanges/pionex.md)
        return CredentialCheck(
            permissions=tuple(permissions),
            warnings=tuple(warnings),
            key=unrestricted_key(permissions),
        )

    def key_info(self) -> KeyInfo:
        """Pionex has no key-info endpoint: the probes' permissions, IP and expiry unknown."""
        return super().key_info()

    def _probe_trade_permission(self) -> bool:
        """Pionex has no key-permission endpoint; cancelling an order no one owns is refused
        with PERMISSION_DENIED without the trading permission, else "not found"."""
        product = self.default_product()
        path = PERP_ORDER if product == "linear" else SPOT_ORDER
        try:
            self._call(
                "DELETE",
                path,
                product=product,
                body={"symbol": PROBE_SYMBOLS[product], "orderId": PROBE_ORDER_ID},
            )
        except errors.PermissionDenied:
            return False
        except (errors.InvalidRequest, errors.InvalidOrder):
            pass  # a business refusal: the permission check has passed
        return True

    def heartbeat_read(self) -> None:
        # the spot balance read (weight 1) is the cheapest signed read for either product
        self._call("GET", SPOT_BALANCES)

    def is_hedge_mode(self) -> bool:
        if not self._perpetual():
            return False
        data = self._call("GET", PERP_POSITION_MODE, product="linear")
        return data.get("positionMode") == "OPENCLOSE"  # BUYSELL is one-way

    def balances(self) -> list[Balance]:
        if self._perpetual():
            # cross balances; isolated margin (data.isolates) is not used in one-way trading
            data = self._call("GET", PERP_BALANCES, product="linear")
        else:
            data = self._call("GET", SPOT_BALANCES)
        return [parse_balance(raw) for raw in data.get("balances", [])]

    def instruments(self) -> list[Instrument]:
        params = [("type", "PERP")] if self._perpetual() else [("type", "SPOT")]
        data = self._call("GET", SYMBOLS, params=params, signed=False)
        found = []
        for raw in data.get("symbols", []):
            if is_tradable(raw):
                found.append(parse_instrument(raw))
                if raw.get("amountPrecision") not in (None, ""):
                    self._amount_steps[raw["symbol"]] = _step(None, raw["amountPrecision"])
        return found

    def ticker(self, symbol: str) -> Ticker:
        # {"tickers": [{"symbol": "BTC_USDT", "bidPrice": "49999.9", "bidSize": "1.2",
        #   "askPrice": "50000.1", "askSize": "0.8", "timestamp": "1700000000000"}]}
        # and /market/tickers: {"tickers": [{"symbol": .., "close": "50000", ..}]}
        market = self.market(symbol)
        params = [("symbol", to_exchange_symbol(market))]
        book = self._single(self._call("GET", BOOK_TICKERS, params=params, signed=False))
        last = self._single(self._call("GET", TICKERS, params=params, signed=False))
        return Ticker(
            symbol=market.symbol,
            bid=Decimal(str(book["bidPrice"])),
            ask=Decimal(str(book["askPrice"])),
            last=Decimal(str(last["close"])),
        )

    def _single(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        tickers = data.get("tickers") or []
        if not tickers:
            raise errors.InvalidRequest("no ticker for the symbol", exchange=self.name)
        return tickers[0]

    def set_leverage(self, symbol: str, leverage: int) -> None:
        self._require_perpetual("leverage")
        market = self.market(symbol)
        if not isinstance(leverage, int) or leverage < 1:
            raise errors.InvalidRequest("leverage must be a positive integer", exchange=self.name)
        self._call(
            "POST",
            PERP_LEVERAGE,
            product="linear",
            body={"symbol": to_exchange_symbol(market), "leverage": str(leverage)},
        )

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        if not market.is_perpetual and order.time_in_force in ("FOK", "POST_ONLY"):
            raise errors.NotSupported(
                f"Pionex spot has no {order.time_in_force} orders", exchange=self.name
            )
        quote_amount = None
        if not market.is_perpetual and order.type == "market" and order.side == "buy":
            quote_amount = self._market_buy_amount(order, market)
        body = order_body(order, market, quote_amount=quote_amount)
        path = PERP_ORDER if market.is_perpetual else SPOT_ORDER
        data = self._call("POST", path, body=body, product=market.kind)
        # {"orderId": 1234567890, "clientOrderId": "ec01..."}: no state; futures orders are
        # even processed asynchronously, so the order is open until a query says otherwise
        return ExchangeOrder(
            symbol=market.symbol,
            client_order_id=data.get("clientOrderId") or order.client_order_id,
            exchange_order_id=str(data["orderId"]),
            status="open",
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            price=order.price,
        )

    def _market_buy_amount(self, order: OrderRequest, market: Market) -> Decimal:
        """Pionex takes a spot market buy in quote: quantity x ask x 1.01."""
        ask = self.ticker(market.symbol).ask
        exchange_symbol = to_exchange_symbol(market)
        if exchange_symbol not in self._amount_steps:
            self.instruments()
        return market_buy_amount(order.quantity, ask, self._amount_steps.get(exchange_symbol))

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        if not exchange_order_id:
            raise errors.NotSupported(
                "Pionex cancels by orderId only (no cancel by clientOrderId); look the order "
                "up by client id first",
                exchange=self.name,
            )
        path = PERP_ORDER if market.is_perpetual else SPOT_ORDER
        self._call(
            "DELETE",
            path,
            product=market.kind,
            body={"symbol": to_exchange_symbol(market), "orderId": _order_id(exchange_order_id)},
        )
        # the cancel answer is a bare envelope (futures cancels are even asynchronous), so
        # the order's state, fills included, comes from a lookup
        return self.get_order(market.symbol, exchange_order_id=exchange_order_id)

    def cancel_all(self, symbol: str | None = None) -> int:
        """Cancels per symbol (the exchange needs one) and returns how many were open."""
        orders = self.open_orders(symbol)
        for market in sorted(
            {parse_symbol(order.symbol) for order in orders}, key=lambda market: market.symbol
        ):
            path = PERP_ALL_ORDERS if market.is_perpetual else SPOT_ALL_ORDERS
            self._call(
                "DELETE", path, product=market.kind, body={"symbol": to_exchange_symbol(market)}
            )
        return len(orders)

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        params: list[tuple[str, Any]] = []
        if market.is_perpetual:  # futures lookups need the symbol, spot lookups do not
            params.append(("symbol", to_exchange_symbol(market)))
        if exchange_order_id:
            path = PERP_ORDER if market.is_perpetual else SPOT_ORDER
            params.append(("orderId", _order_id(exchange_order_id)))
        else:
            path = PERP_ORDER_BY_CLIENT_ID if market.is_perpetual else SPOT_ORDER_BY_CLIENT_ID
            params.append(("clientOrderId", client_order_id))
        data = self._call("GET", path, params=params, product=market.kind)
        if not data:
            raise errors.OrderNotFound("no such order", exchange=self.name)
        return parse_order(data, market.symbol)

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        if symbol is None and not self._perpetual():
            raise errors.NotSupported(
                "Pionex spot lists open orders per symbol only; give a symbol", exchange=self.name
            )
        market = self.market(symbol) if symbol else None
        params = [("symbol", to_exchange_symbol(market))] if market else []
        if self._perpetual():
            data = self._call(
                "GET", PERP_OPEN_ORDERS, product="linear", params=[*params, ("limit", 500)]
            )
        else:
            data = self._call("GET", SPOT_OPEN_ORDERS, params=params)
        return [parse_order(raw) for raw in data.get("orders", [])]

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        """Spot: open and closed orders; futures: closed orders only (historyOrders)."""
        market = self.market(symbol)
        path = PERP_HISTORY_ORDERS if market.is_perpetual else SPOT_ALL_ORDERS
        params = [
            ("symbol", to_exchange_symbol(market)),
            ("startTime", since_ms),
            ("limit", HISTORY_LIMIT),
        ]
        data = self._call("GET", path, params=params, product=market.kind)
        return [parse_order(raw) for raw in data.get("orders", [])]

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """Per symbol, newest first; spot answers the latest 100 of the range."""
        assert market is not None  # fills_per_symbol
        params: list[tuple[str, Any]] = [
            ("symbol", to_exchange_symbol(market)),
            ("startTime", since_ms),
        ]
        if market.is_perpetual:
            params.append(("limit", min(limit, PERP_FILLS_LIMIT)))
        path = PERP_FILLS if market.is_perpetual else SPOT_FILLS
        data = self._call("GET", path, params=params, product=market.kind)
        return [parse_fill(raw) for raw in data.get("fills", [])]

    def positions(self, symbol: str | None = None) -> list[Position]:
        if not self._perpetual():
            return []  # spot holds balances, not positions
        params = [("symbol", to_exchange_symbol(self.market(symbol)))] if symbol else []
        data = self._call("GET", PERP_POSITIONS, params=params, product="linear")
        found = [parse_position(raw) for raw in data.get("positions", [])]
        return [position for position in found if position.quantity != 0]


CONNECTOR = PionexConnector
