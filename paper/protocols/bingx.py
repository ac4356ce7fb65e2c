"""BingX on the paper exchange: spot v1 and USDT-M perpetual swap v2 REST, as the real API.

Written from docs/exchanges/bingx.md only (never from exchanges/bingx.py), so a
signing bug in the connector cannot hide by agreeing with itself. Private calls carry the key
in ``X-BX-APIKEY`` and a lowercase-hex HMAC-SHA256 ``signature`` over the ``k=v&...`` string
of the parameters exactly as sent (raw, un-URL-encoded values), which must include a
millisecond ``timestamp`` within ``recvWindow`` (default 5000 ms) of server time. Answers are
``{"code": 0, "msg": "", "data": ...}`` (spot adds ``debugMsg``); refusals are a non-zero
``code``, mostly with HTTP 200. Symbols are ``BTC-USDT`` on both products; the path says
which product is meant. Quantities are base coin; values beyond the precision are truncated,
not refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from paper.engine import (
    DuplicateScope,
    Engine,
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
)
from paper.protocol import Protocol
from paper.wire import (
    MISSING,
    Params,
    Problem,
    decimal_places,
    hmac_sha256_hex,
    note_refusal,
    plain,
    same_secret,
    staleness,
)
from paper.wire import Refusal as WireRefusal

NAME = "bingx"
SPOT, SWAP, ACCOUNT = "spot", "swap", "account"  # envelope flavours
DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60000
SPOT_CLIENT_ID_LOOKUP_MS = 2 * 60 * 60 * 1000  # spot client ids are found for ~2 hours
DAY_MS = 86_400_000
HISTORY_MAX_RANGE_MS = 7 * 24 * 60 * 60 * 1000
SWAP_CLIENT_ID = re.compile(r"^.{1,40}$")
SPOT_CLIENT_ID = re.compile(r"^[A-Za-z0-9_]{1,40}$")
MAX_LEVERAGE = 125

# Real codes (facts section 6).
SIGNATURE_FAILED = (100001, "Signature verification failed")
NULL_SIGNATURE = (100412, "Null signature")
INCORRECT_API_KEY = (100413, "Incorrect apiKey")
TIMESTAMP_MISMATCH = (100421, "Null timestamp or timestamp mismatch")
PERMISSION_DENIED = (100004, "Permission denied as the API key was created without the permission")
INVALID_PARAMETER = (100400, "Invalid parameters")
SWAP_INVALID_PARAMETER = (109400, "Invalid parameters")
ONE_WAY_BOTH_ONLY = (109400, "In the One-way mode, the 'Side' field can only be set to BOTH")
HEDGE_LONG_SHORT_ONLY = (
    109400,
    "In the Hedge mode, the 'Side' field can only be set to LONG or SHORT",
)
MODE_CHANGE_REFUSED = (
    109401,
    "The position mode cannot be changed while positions or open orders exist",
)
TIME_RANGE_TOO_LONG = (80014, "The time range cannot exceed 7 days")
ORDER_NOT_EXIST = (80016, "order does not exist")
ORDER_FILLED = (80018, "order is already filled")
NO_POSITION_TO_CLOSE = (101205, "No position to close")
POST_ONLY_WOULD_CROSS = (101215, "The Post Only order would be executed immediately")
SWAP_INSUFFICIENT_MARGIN = (101204, "Insufficient margin")
SPOT_INSUFFICIENT_ASSETS = (100202, "Insufficient assets")
SWAP_MIN_NOTIONAL = (101400, "The minimum nominal value of the order is not met")
RATE_LIMITED_CODE = 100410
INTERNAL_ERROR = (100500, "Internal system error")

# engine permissions -> BingX permission numbers (1 spot trading, 2 read, 3 perpetual
# trading, 4 universal transfer, 5 withdraw)
PERMISSION_NUMBERS = {
    "read": (2,),
    "trade": (1, 3),
    "futures": (3,),
    "transfer": (4,),
    "withdraw": (5,),
}
SWAP_STATUS = {
    "new": "PENDING",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "canceled": "CANCELED",
    "expired": "CANCELED",
    "rejected": "FAILED",
}
SPOT_STATUS = {**SWAP_STATUS, "new": "NEW"}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "POST_ONLY"}


class Refusal(WireRefusal):
    """An answer with a non-zero code. ``auth`` marks authentication failures (stats)."""

    def __init__(
        self, error: tuple[int, str], detail: str = "", *, status: int = 200, auth: bool = False
    ) -> None:
        super().__init__(error[0], detail or error[1], status=status, auth=auth)


def sign(secret: str, payload: str) -> str:
    """Lowercase hex HMAC-SHA256(secret, payload)."""
    return hmac_sha256_hex(secret, payload)


@dataclass
class Wire:
    """What a request carried: every parameter and the exact text its signature covers."""

    params: dict[str, str] = field(default_factory=dict)
    signature: str = ""
    signed_text: str = ""


async def read_wire(request: web.Request) -> Wire:
    """Query parameters in the order sent, then a form or JSON body. The signed text is the
    query's ``k=v`` pairs without ``signature`` (decoded values), followed directly by a form
    body as sent (the official "query + body" example joins them with nothing between); a
    JSON body is signed as every parameter sorted a-z."""
    wire = Wire()
    query = parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True)
    wire.params.update(query)
    signed_query = "&".join(f"{k}={v}" for k, v in query if k != "signature")
    body = await request.text() if request.can_read_body else ""
    if body and request.content_type == "application/json":
        values = {k: _text(v) for k, v in _json_object(body).items()}
        wire.params.update(values)
        wire.signed_text = "&".join(
            f"{k}={v}" for k, v in sorted(wire.params.items()) if k != "signature"
        )
    else:
        pairs = [p for p in body.split("&") if p and not p.startswith("signature=")]
        wire.params.update(parse_qsl(body, keep_blank_values=True))
        wire.signed_text = signed_query + "&".join(pairs)
    wire.signature = wire.params.pop("signature", "")
    return wire


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Refusal(INVALID_PARAMETER, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Refusal(INVALID_PARAMETER, "the body must be a JSON object")
    return data


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# -- JSON out: Decimal goes out as a JSON number (float64 fields), str as a string ------------

_NUMBER = re.compile(r'"@num:(-?[0-9.]+)@"')


def _dumps(payload: Any) -> str:
    def number(value: Any) -> str:
        if isinstance(value, Decimal):
            return f"@num:{plain(value)}@"
        raise TypeError(type(value).__name__)

    return _NUMBER.sub(r"\1", json.dumps(payload, default=number))


def answer(
    data: Any,
    flavour: str,
    *,
    code: int = 0,
    msg: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
    now_ms: int = 0,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if flavour == SPOT:
        body["debugMsg"] = ""
    if flavour == ACCOUNT:
        body["timestamp"] = now_ms
    body["data"] = data
    return web.Response(
        text=_dumps(body), status=status, headers=headers, content_type="application/json"
    )


# -- numbers and units ----------------------------------------------------------------------


def _refuse_param(name: str, problem: Problem) -> Refusal:
    return Refusal(
        INVALID_PARAMETER,
        f"{name} is required" if problem == MISSING else f"{name} is not a number",
    )


def _optional_decimal(params: dict[str, str], name: str) -> Decimal | None:
    return Params(params, _refuse_param).decimal(name)


def _decimal(params: dict[str, str], name: str) -> Decimal:
    value = Params(params, _refuse_param).decimal(name, required=True)
    assert value is not None
    return value


def _truncate(value: Decimal, step: Decimal) -> Decimal:
    """BingX cuts values beyond the precision instead of refusing them."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def _s(value: Decimal | None) -> str:
    return plain(value) if value is not None else "0"


def _quote_amount(order: PaperOrder) -> Decimal:
    return order.filled_quantity * (order.average_price or Decimal(0))


Handler = Callable[["Call"], Any]


@dataclass
class Call:
    """One authenticated (or public) request, as a handler sees it."""

    request: web.Request
    params: dict[str, str]
    account: PaperAccount | None
    product: str

    @property
    def owner(self) -> PaperAccount:
        assert self.account is not None
        return self.account


class BingxProtocol(Protocol):
    exchange: ClassVar[str] = NAME
    key_header: ClassVar[str] = "X-BX-APIKEY"
    # The docs ask for unique client ids but document no refusal code (facts section 6:
    # duplicate client order id UNVERIFIED), so the paper exchange refuses none.
    duplicate_scope: ClassVar[DuplicateScope] = "none"
    write_routes: ClassVar[frozenset[str]] = frozenset(
        {
            "POST /openApi/swap/v2/trade/order",
            "DELETE /openApi/swap/v2/trade/order",
            "DELETE /openApi/swap/v2/trade/allOpenOrders",
            "POST /openApi/spot/v1/trade/order",
            "POST /openApi/spot/v1/trade/cancel",
            "POST /openApi/spot/v1/trade/cancelOpenOrders",
        }
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._unified: dict[tuple[str, str], str] = {}
        for instrument in engine.instruments(NAME):
            product = SWAP if instrument.kind == "linear" else SPOT
            self._unified[(product, self.wire_symbol(instrument))] = instrument.symbol
        self._position_sides: dict[str, str] = {}  # order id -> positionSide sent

    # -- plumbing ---------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        ep = self._endpoint
        return [
            web.get("/openApi/swap/v2/server/time", ep(self.server_time, SWAP, signed=False)),
            web.get("/openApi/spot/v1/server/time", ep(self.server_time, SPOT, signed=False)),
            web.get("/openApi/swap/v2/quote/contracts", ep(self.contracts, SWAP, signed=False)),
            # coin-margined (Coin-M) perpetuals: the paper exchange lists none
            web.get(
                "/openApi/cswap/v1/market/contracts",
                ep(self.coin_margined_contracts, ACCOUNT, signed=False),
            ),
            web.get("/openApi/wallets/v1/capital/config/getall", ep(self.coins, ACCOUNT)),
            web.get("/openApi/spot/v1/common/symbols", ep(self.symbols, SPOT, signed=False)),
            web.get("/openApi/swap/v2/quote/ticker", ep(self.swap_ticker, SWAP, signed=False)),
            web.get("/openApi/spot/v1/ticker/24hr", ep(self.spot_ticker, SPOT, signed=False)),
            web.get(
                "/openApi/spot/v1/ticker/bookTicker", ep(self.spot_book_ticker, SPOT, signed=False)
            ),
            web.get("/openApi/v1/account/apiPermissions", ep(self.api_permissions, ACCOUNT)),
            web.get("/openApi/account/v1/uid", ep(self.uid, ACCOUNT)),
            web.get("/openApi/swap/v3/user/balance", ep(self.swap_balances, SWAP)),
            web.get("/openApi/swap/v2/user/balance", ep(self.swap_balance_v2, SWAP)),
            web.get("/openApi/spot/v1/account/balance", ep(self.spot_balances, SPOT)),
            web.get("/openApi/swap/v2/trade/leverage", ep(self.get_leverage, SWAP)),
            web.post("/openApi/swap/v2/trade/leverage", ep(self.set_leverage, SWAP, trade=True)),
            web.get("/openApi/swap/v1/positionSide/dual", ep(self.get_position_mode, SWAP)),
            web.post(
                "/openApi/swap/v1/positionSide/dual", ep(self.set_position_mode, SWAP, trade=True)
            ),
            web.post("/openApi/swap/v2/trade/order", ep(self.swap_place, SWAP, trade=True)),
            web.get("/openApi/swap/v2/trade/order", ep(self.swap_query, SWAP)),
            web.delete("/openApi/swap/v2/trade/order", ep(self.swap_cancel, SWAP, trade=True)),
            web.delete(
                "/openApi/swap/v2/trade/allOpenOrders", ep(self.swap_cancel_all, SWAP, trade=True)
            ),
            web.get("/openApi/swap/v2/trade/openOrders", ep(self.swap_open_orders, SWAP)),
            web.get("/openApi/swap/v2/trade/allOrders", ep(self.swap_history, SWAP)),
            web.get("/openApi/swap/v2/trade/allFillOrders", ep(self.swap_fills, SWAP)),
            web.get("/openApi/swap/v2/user/positions", ep(self.positions, SWAP)),
            web.post("/openApi/spot/v1/trade/order", ep(self.spot_place, SPOT, trade=True)),
            web.get("/openApi/spot/v1/trade/query", ep(self.spot_query, SPOT)),
            web.post("/openApi/spot/v1/trade/cancel", ep(self.spot_cancel, SPOT, trade=True)),
            web.post(
                "/openApi/spot/v1/trade/cancelOpenOrders",
                ep(self.spot_cancel_all, SPOT, trade=True),
            ),
            web.get("/openApi/spot/v1/trade/openOrders", ep(self.spot_open_orders, SPOT)),
            web.get("/openApi/spot/v1/trade/historyOrders", ep(self.spot_history, SPOT)),
            web.post(
                "/openApi/swap/v2/trade/cancelAllAfter", ep(self.cancel_all_after, SWAP, trade=True)
            ),
            web.post(
                "/openApi/spot/v1/trade/cancelAllAfter", ep(self.cancel_all_after, SPOT, trade=True)
            ),
            web.get("/openApi/spot/v1/trade/myTrades", ep(self.spot_my_trades, SPOT)),
            web.get("/openApi/swap/v1/trade/fillHistory", ep(self.swap_fill_history, SWAP)),
        ]

    def request_weight(self, request: web.Request) -> int:
        """BingX counts requests (per IP and per UID and endpoint), not weights."""
        return 1

    def rate_limited(self, retry_after: float) -> web.Response:
        """HTTP 429 with code 100410 naming the epoch ms when the block ends.
        UNVERIFIED: the value format of X-RateLimit-Requests-Expire."""
        until = self.engine.now_ms() + int(retry_after * 1000)
        msg = (
            "The endpoint trigger frequency limit rule is currently in the disabled period "
            f"and will be unblocked after {until}"
        )
        return answer(
            {},
            SWAP,
            code=RATE_LIMITED_CODE,
            msg=msg,
            status=429,
            headers={"X-RateLimit-Requests-Remain": "0", "X-RateLimit-Requests-Expire": str(until)},
        )

    def server_error(self) -> web.Response:
        return answer({}, SWAP, code=INTERNAL_ERROR[0], msg=INTERNAL_ERROR[1], status=500)

    def _endpoint(
        self, handler: Handler, product: str, *, signed: bool = True, trade: bool = False
    ) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            try:
                wire = await read_wire(request)
                account = self._authenticate(request, wire, trade=trade) if signed else None
                data = handler(Call(request, wire.params, account, product))
            except Refusal as refusal:
                note_refusal(request, refusal)
                return answer(
                    {},
                    product,
                    code=refusal.code,
                    msg=refusal.message,
                    status=refusal.status,
                    now_ms=self.engine.now_ms(),
                )
            except PaperError as exc:
                code, msg = self._business_error(exc, product)
                return answer({}, product, code=code, msg=msg, now_ms=self.engine.now_ms())
            return answer(data, product, now_ms=self.engine.now_ms())

        return serve

    def _authenticate(self, request: web.Request, wire: Wire, *, trade: bool) -> PaperAccount:
        api_key = request.headers.get("X-BX-APIKEY", "")
        account = self.engine.account(NAME, api_key) if api_key else None
        if account is None:
            raise Refusal(INCORRECT_API_KEY, status=401, auth=True)
        if not wire.signature:
            raise Refusal(NULL_SIGNATURE, auth=True)
        self._check_timestamp(wire.params)
        if not same_secret(wire.signature, sign(account.api_secret, wire.signed_text)):
            raise Refusal(SIGNATURE_FAILED, auth=True)
        if trade and "trade" not in account.permissions:
            raise Refusal(PERMISSION_DENIED)
        return account

    def _check_timestamp(self, params: dict[str, str]) -> None:
        raw = params.get("timestamp", "")
        if not raw.isdigit():
            raise Refusal(TIMESTAMP_MISMATCH, auth=True)
        window = params.get("recvWindow", "")
        try:
            window_ms = int(Decimal(window)) if window else DEFAULT_RECV_WINDOW_MS
        except InvalidOperation:
            raise Refusal(INVALID_PARAMETER, "recvWindow is not a number") from None
        if window_ms <= 0:
            window_ms = DEFAULT_RECV_WINDOW_MS
        window_ms = min(window_ms, MAX_RECV_WINDOW_MS)
        if staleness(int(raw), self.engine.now_ms(), behind_ms=window_ms, ahead_ms=window_ms):
            raise Refusal(TIMESTAMP_MISMATCH, auth=True)

    def _business_error(self, exc: PaperError, product: str) -> tuple[int, str]:
        swap = product == SWAP
        codes: dict[str, tuple[int, str]] = {
            "insufficient_funds": SWAP_INSUFFICIENT_MARGIN if swap else SPOT_INSUFFICIENT_ASSETS,
            "order_not_found": ORDER_NOT_EXIST,
            "order_not_cancelable": ORDER_NOT_EXIST,
            "unknown_symbol": INVALID_PARAMETER,
            "invalid_quantity": SWAP_MIN_NOTIONAL if swap else INVALID_PARAMETER,
            "invalid_price": INVALID_PARAMETER,
            "reduce_only_rejected": NO_POSITION_TO_CLOSE,
            "post_only_would_take": POST_ONLY_WOULD_CROSS,
            "permission_denied": PERMISSION_DENIED,
            # never raised: duplicate_scope is "none"
            "duplicate_client_order_id": INVALID_PARAMETER,
        }
        code, msg = codes.get(exc.kind, INVALID_PARAMETER)
        return code, f"{msg}: {exc.message}" if exc.message != exc.kind else msg

    # -- symbols ----------------------------------------------------------------------------

    @staticmethod
    def wire_symbol(instrument: PaperInstrument) -> str:
        return f"{instrument.base}-{instrument.quote}"

    def _instrument(self, call: Call, *, required: bool = True) -> PaperInstrument | None:
        raw = call.params.get("symbol", "")
        if not raw:
            if required:
                raise Refusal(INVALID_PARAMETER, "symbol is required")
            return None
        unified = self._unified.get((SWAP if call.product == SWAP else SPOT, raw))
        if unified is None:
            raise Refusal(INVALID_PARAMETER, f"symbol {raw} does not exist")
        return self.engine.instrument(NAME, unified)

    def _symbol_filter(self, call: Call) -> str | None:
        instrument = self._instrument(call, required=False)
        return instrument.symbol if instrument else None

    # -- public -----------------------------------------------------------------------------

    # {"code": 0, "msg": "", "data": {"serverTime": 1675319535362}}
    def server_time(self, call: Call) -> dict[str, Any]:
        return {"serverTime": self.engine.now_ms()}

    def _listed(self, call: Call, kind: str) -> list[PaperInstrument]:
        only = self._instrument(call, required=False)
        return [i for i in self.engine.instruments(NAME) if i.kind == kind and only in (None, i)]

    def contracts(self, call: Call) -> list[dict[str, Any]]:
        return [
            {
                "contractId": str(index + 1),
                "symbol": self.wire_symbol(i),
                "quantityPrecision": decimal_places(i.lot_size),
                "pricePrecision": decimal_places(i.tick_size),
                "takerFeeRate": Decimal("0.0005"),
                "makerFeeRate": Decimal("0.0002"),
                "tradeMinQuantity": i.min_quantity,
                "tradeMinUSDT": i.min_notional,
                "currency": i.quote,
                "asset": i.base,
                "status": 1,
                "apiStateOpen": "true",
                "apiStateClose": "true",
            }
            for index, i in enumerate(self._listed(call, "linear"))
        ]

    def coin_margined_contracts(self, call: Call) -> list[dict[str, Any]]:
        return []

    def symbols(self, call: Call) -> dict[str, Any]:
        return {
            "symbols": [
                {
                    "symbol": self.wire_symbol(i),
                    "tickSize": i.tick_size,
                    "stepSize": i.lot_size,
                    "minQty": i.min_quantity,
                    "maxQty": Decimal("100000000"),
                    "minNotional": i.min_notional,
                    "maxNotional": Decimal("10000000"),
                    "status": 1,
                    "apiStateBuy": True,
                    "apiStateSell": True,
                    "timeOnline": 0,
                }
                for i in self._listed(call, "spot")
            ]
        }

    def _ticker(self, instrument: PaperInstrument) -> dict[str, Any]:
        price = self.engine.price(NAME, instrument.symbol)
        now = self.engine.now_ms()
        return {
            "symbol": self.wire_symbol(instrument),
            "priceChangePercent": "0",
            "lastPrice": _s(price),
            "openPrice": _s(price),
            "highPrice": _s(price),
            "lowPrice": _s(price),
            "volume": "0",
            "quoteVolume": "0",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "bidPrice": price,
            "bidQty": Decimal("1"),
            "askPrice": price,
            "askQty": Decimal("1"),
        }

    def swap_ticker(self, call: Call) -> Any:
        tickers = [self._ticker(i) for i in self._listed(call, "linear")]
        return tickers[0] if call.params.get("symbol") else tickers

    def spot_ticker(self, call: Call) -> list[dict[str, Any]]:
        return [self._ticker(i) for i in self._listed(call, "spot")]

    def spot_book_ticker(self, call: Call) -> list[dict[str, Any]]:
        instrument = self._instrument(call)
        assert instrument is not None
        price = _s(self.engine.price(NAME, instrument.symbol))
        return [
            {
                "eventType": "bookTicker",
                "symbol": self.wire_symbol(instrument),
                "bidPrice": price,
                "bidVolume": "1",
                "askPrice": price,
                "askVolume": "1",
            }
        ]

    # -- account ----------------------------------------------------------------------------

    def api_permissions(self, call: Call) -> dict[str, Any]:
        """UNVERIFIED envelope: the docs show these fields unwrapped; we answer in the
        account endpoints' ``{code, timestamp, data}`` form."""
        numbers = sorted(
            {n for p in call.owner.permissions for n in PERMISSION_NUMBERS.get(p, ())} | {2}
        )
        return {
            "apiKey": call.owner.api_key,
            "permissions": numbers,
            "ipAddresses": list(call.owner.ip_whitelist),
            "note": "",
        }

    def coins(self, call: Call) -> list[dict[str, Any]]:
        """/openApi/wallets/v1/capital/config/getall: every coin of the paper universe, one
        network each named after the coin (the paper exchange moves nothing on chain)."""
        instruments = self.engine.instruments(NAME)
        names = sorted({i.base for i in instruments} | {i.quote for i in instruments})
        return [
            {
                "coin": coin,
                "name": coin,
                "networkList": [
                    {
                        "name": coin,
                        "network": coin,
                        "isDefault": True,
                        "minConfirm": 1,
                        "withdrawEnable": True,
                        "depositEnable": True,
                        "withdrawFee": "0",
                        "withdrawMax": "1000000",
                        "withdrawMin": "0",
                        "depositMin": "0",
                    }
                ],
            }
            for coin in names
        ]

    def uid(self, call: Call) -> dict[str, Any]:
        return {"uid": _uid(call.owner)}

    def _margin_row(self, account: PaperAccount, asset: str) -> dict[str, Any]:
        free, locked = self.engine.balances(NAME, account).get(asset, (Decimal(0), Decimal(0)))
        positions = self.engine.positions(NAME, account)
        pnl = sum((p.unrealized_pnl for p in positions), Decimal(0))
        used = sum((abs(p.quantity) * p.entry_price / p.leverage for p in positions), Decimal(0))
        return {
            "userId": str(_uid(account)),
            "asset": asset,
            "balance": _s(free + locked),
            "equity": _s(free + locked + pnl),
            "unrealizedProfit": _s(pnl),
            "realisedProfit": "0",
            "availableMargin": _s(free),
            "usedMargin": _s(min(used, locked)),
            "freezedMargin": _s(max(locked - used, Decimal(0))),
        }

    # {"code": 0, "msg": "", "data": [{"userId": "116", "asset": "USDT", "balance": "100000",
    #  "equity": "100000", "unrealizedProfit": "0", "realisedProfit": "0",
    #  "availableMargin": "100000", "usedMargin": "0", "freezedMargin": "0"}]}
    def swap_balances(self, call: Call) -> list[dict[str, Any]]:
        return [self._margin_row(call.owner, "USDT")]

    def swap_balance_v2(self, call: Call) -> dict[str, Any]:
        return {"balance": self._margin_row(call.owner, "USDT")}

    def spot_balances(self, call: Call) -> dict[str, Any]:
        held = self.engine.balances(NAME, call.owner)
        return {
            "balances": [
                {"asset": asset, "free": _s(free), "locked": _s(locked)}
                for asset, (free, locked) in sorted(held.items())
            ]
        }

    def get_leverage(self, call: Call) -> dict[str, Any]:
        instrument = self._instrument(call)
        assert instrument is not None
        leverage = self.engine.leverage(call.owner, instrument.symbol)
        return {
            "longLeverage": leverage,
            "shortLeverage": leverage,
            "maxLongLeverage": MAX_LEVERAGE,
            "maxShortLeverage": MAX_LEVERAGE,
        }

    def set_leverage(self, call: Call) -> dict[str, Any]:
        instrument = self._instrument(call)
        assert instrument is not None
        if call.params.get("side", "") not in ("LONG", "SHORT", "BOTH"):
            raise Refusal(SWAP_INVALID_PARAMETER, "side must be LONG, SHORT or BOTH")
        raw = call.params.get("leverage", "")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LEVERAGE:
            raise Refusal(SWAP_INVALID_PARAMETER, f"leverage must be 1..{MAX_LEVERAGE}")
        self.engine.set_leverage(NAME, call.owner, instrument.symbol, int(raw))
        return {"leverage": int(raw), "symbol": self.wire_symbol(instrument)}

    def get_position_mode(self, call: Call) -> dict[str, Any]:
        return {"dualSidePosition": "true" if call.owner.hedge_mode else "false"}

    def set_position_mode(self, call: Call) -> dict[str, Any]:
        wanted = call.params.get("dualSidePosition", "")
        if wanted not in ("true", "false"):
            raise Refusal(SWAP_INVALID_PARAMETER, "dualSidePosition must be true or false")
        busy = self.engine.positions(NAME, call.owner) or self.engine.open_orders(NAME, call.owner)
        if busy and (wanted == "true") != call.owner.hedge_mode:
            raise Refusal(MODE_CHANGE_REFUSED)
        self.engine.set_hedge_mode(call.owner, wanted == "true")
        return {"dualSidePosition": wanted}

    # {"symbol": "BTC-USDT", "positionId": "1", "positionSide": "LONG", "isolated": false,
    #  "positionAmt": "0.01", "availableAmt": "0.01", "avgPrice": "60000", ...}
    def positions(self, call: Call) -> list[dict[str, Any]]:
        only = self._symbol_filter(call)
        rows = []
        for index, p in enumerate(self.engine.positions(NAME, call.owner)):
            if only not in (None, p.symbol):
                continue
            instrument = self.engine.instrument(NAME, p.symbol)
            size = abs(p.quantity)
            margin = size * p.entry_price / p.leverage
            rows.append(
                {
                    "symbol": self.wire_symbol(instrument),
                    "positionId": str(index + 1),
                    "positionSide": "LONG" if p.quantity > 0 else "SHORT",
                    "isolated": False,
                    "positionAmt": _s(size),
                    "availableAmt": _s(size),
                    "unrealizedProfit": _s(p.unrealized_pnl),
                    "realisedProfit": "0",
                    "initialMargin": _s(margin),
                    "margin": _s(margin),
                    "avgPrice": _s(p.entry_price),
                    "liquidationPrice": Decimal(0),
                    "leverage": p.leverage,
                    "positionValue": _s(size * p.mark_price),
                    "markPrice": _s(p.mark_price),
                    "riskRate": "0",
                    "maxMarginReduction": "0",
                    "pnlRatio": "0",
                    "updateTime": self.engine.now_ms(),
                }
            )
        return rows

    # -- swap orders ------------------------------------------------------------------------

    def swap_order(self, order: PaperOrder, *, canceled_word: str = "CANCELED") -> dict[str, Any]:
        status = SWAP_STATUS[order.status]
        if status == "CANCELED":
            status = canceled_word
        return {
            "symbol": self.wire_symbol(self.engine.instrument(NAME, order.symbol)),
            "orderId": int(order.order_id),
            "side": order.side.upper(),
            "positionSide": self._position_sides.get(order.order_id, "BOTH"),
            "type": order.type.upper(),
            "origQty": _s(order.quantity),
            "price": _s(order.price),
            "executedQty": _s(order.filled_quantity),
            "avgPrice": _s(order.average_price),
            "cumQuote": _s(_quote_amount(order)),
            "stopPrice": "",
            "profit": "0",
            "commission": "0",
            "status": status,
            "time": order.created_ms,
            "updateTime": order.updated_ms,
            "clientOrderId": order.client_order_id or "",
            "workingType": "MARK_PRICE",
        }

    def swap_place(self, call: Call) -> dict[str, Any]:
        instrument = self._instrument(call)
        assert instrument is not None
        side, order_type, tif = self._side_type_tif(call)
        position_side = call.params.get("positionSide", "LONG")
        reduce_only = self._reduce_only(
            call.owner, side, position_side, call.params.get("reduceOnly", "false")
        )
        client_id = call.params.get("clientOrderId") or call.params.get("clientOrderID") or ""
        if client_id and not SWAP_CLIENT_ID.fullmatch(client_id):
            raise Refusal(INVALID_PARAMETER, "clientOrderId must be 1-40 characters")
        quantity = _truncate(_decimal(call.params, "quantity"), instrument.lot_size)
        order = self.engine.place_order(
            NAME,
            call.owner,
            symbol=instrument.symbol,
            side=side,
            type=order_type,
            quantity=quantity,
            price=self._limit_price(call, instrument, order_type),
            time_in_force=tif,
            client_order_id=client_id.lower() or None,
            reduce_only=reduce_only,
        )
        call.request["order_accepted"] = True
        self._position_sides[order.order_id] = position_side
        shown = {
            k: v
            for k, v in self.swap_order(order).items()
            if k
            in ("symbol", "orderId", "side", "positionSide", "type", "clientOrderId", "workingType")
        }
        if order.type == "market":
            shown.update(
                status=SWAP_STATUS[order.status],
                avgPrice=_s(order.average_price),
                executedQty=_s(order.filled_quantity),
            )
        return {"order": shown}

    def _reduce_only(
        self, account: PaperAccount, side: str, position_side: str, reduce_only: str
    ) -> bool:
        """One-way accounts must say BOTH; hedge accounts LONG/SHORT, where selling a LONG
        (or buying a SHORT) closes. The paper engine nets both legs into one position."""
        if not account.hedge_mode:
            if position_side != "BOTH":
                raise Refusal(ONE_WAY_BOTH_ONLY)
            return reduce_only == "true"
        if position_side not in ("LONG", "SHORT"):
            raise Refusal(HEDGE_LONG_SHORT_ONLY)
        return (side == "sell") == (position_side == "LONG")

    def _side_type_tif(self, call: Call) -> tuple[str, str, str]:
        side = call.params.get("side", "")
        order_type = call.params.get("type", "")
        tif = call.params.get("timeInForce", "GTC")
        if side not in ("BUY", "SELL"):
            raise Refusal(INVALID_PARAMETER, "side must be BUY or SELL")
        if order_type not in ("LIMIT", "MARKET"):
            raise Refusal(INVALID_PARAMETER, "the paper exchange takes LIMIT and MARKET orders")
        if tif not in TIME_IN_FORCE:
            raise Refusal(INVALID_PARAMETER, "timeInForce must be PostOnly, GTC, IOC or FOK")
        return side.lower(), order_type.lower(), TIME_IN_FORCE[tif]

    @staticmethod
    def _limit_price(call: Call, instrument: PaperInstrument, order_type: str) -> Decimal | None:
        if order_type == "market":
            return None
        return _truncate(_decimal(call.params, "price"), instrument.tick_size)

    def _find(self, call: Call, client_key: str, *, lower: bool) -> PaperOrder:
        instrument = self._instrument(call)
        order_id = call.params.get("orderId", "")
        client_id = call.params.get(client_key, "")
        if lower:
            client_id = client_id.lower() or call.params.get("clientOrderID", "").lower()
        if not order_id and not client_id:
            raise Refusal(INVALID_PARAMETER, f"orderId or {client_key} is required")
        order = self.engine.get_order(
            NAME,
            call.owner,
            order_id=order_id or None,
            client_order_id=None if order_id else client_id,
        )
        if order is None or instrument is None or order.symbol != instrument.symbol:
            raise Refusal(ORDER_NOT_EXIST)
        return order

    def _cancel(self, call: Call, order: PaperOrder) -> PaperOrder:
        if order.status == "filled":
            raise Refusal(ORDER_FILLED)
        canceled = self.engine.cancel_order(NAME, call.owner, order_id=order.order_id)
        call.request["cancel_applied"] = True
        return canceled

    def swap_query(self, call: Call) -> dict[str, Any]:
        return {"order": self.swap_order(self._find(call, "clientOrderId", lower=True))}

    def swap_cancel(self, call: Call) -> dict[str, Any]:
        order = self._cancel(call, self._find(call, "clientOrderId", lower=True))
        return {"order": self.swap_order(order, canceled_word="CANCELLED")}

    def _cancel_open(self, call: Call, product: str) -> list[PaperOrder]:
        """Only this product's open orders: spot and swap share the symbol names."""
        canceled = [
            self.engine.cancel_order(NAME, call.owner, order_id=o.order_id)
            for o in self._open(call, product)
        ]
        if canceled:
            call.request["cancel_applied"] = True
        return canceled

    def _open(self, call: Call, product: str) -> list[PaperOrder]:
        return [
            o
            for o in self.engine.open_orders(NAME, call.owner, self._symbol_filter(call))
            if self._is_product(o, product)
        ]

    def swap_cancel_all(self, call: Call) -> dict[str, Any]:
        canceled = self._cancel_open(call, SWAP)
        return {
            "success": [self.swap_order(o, canceled_word="CANCELLED") for o in canceled],
            "failed": [],
        }

    def swap_open_orders(self, call: Call) -> dict[str, Any]:
        return {"orders": [self.swap_order(o) for o in self._open(call, SWAP)]}

    def swap_history(self, call: Call) -> dict[str, Any]:
        limit = int(_optional_decimal(call.params, "limit") or 500)
        if not 1 <= limit <= 1000:
            raise Refusal(INVALID_PARAMETER, "limit must be 1..1000")
        return {"orders": [self.swap_order(o) for o in self._history(call, SWAP)[:limit]]}

    def _history(self, call: Call, product: str) -> list[PaperOrder]:
        start = _optional_decimal(call.params, "startTime")
        end = _optional_decimal(call.params, "endTime")
        if start is not None and end is not None and end - start > HISTORY_MAX_RANGE_MS:
            raise Refusal(TIME_RANGE_TOO_LONG)
        orders = self.engine.order_history(
            NAME, call.owner, self._symbol_filter(call), int(start) if start is not None else None
        )
        return [
            o
            for o in orders
            if self._is_product(o, product) and (end is None or o.created_ms <= end)
        ]

    # -- trade history ------------------------------------------------------------------------

    def _trades(
        self,
        call: Call,
        product: str,
        start_name: str,
        end_name: str,
        limit_name: str,
        from_name: str | None = None,
    ) -> list[tuple[PaperOrder, PaperFill]]:
        """One symbol's fills, newest first, narrowed by orderId (and ``from_name``, the
        first trade id); without a range the last 24 hours, never more than 7 days back
        (myTrades: "only the past 7 days")."""
        instrument = self._instrument(call)
        assert instrument is not None
        now = self.engine.now_ms()
        start = _optional_decimal(call.params, start_name)
        end = _optional_decimal(call.params, end_name)
        if start is not None and end is not None and end - start > HISTORY_MAX_RANGE_MS:
            raise Refusal(TIME_RANGE_TOO_LONG)
        low = max(int(start) if start is not None else now - DAY_MS, now - 7 * DAY_MS)
        limit = int(_optional_decimal(call.params, limit_name) or 500)
        if not 1 <= limit <= 1000:
            raise Refusal(INVALID_PARAMETER, f"{limit_name} must be 1..1000")
        order_id = call.params.get("orderId") or None
        first = _optional_decimal(call.params, from_name) if from_name else None
        found = self.engine.account_fills(
            NAME,
            call.owner,
            instrument.symbol,
            since_ms=low,
            until_ms=int(end) if end is not None else None,
        )
        return [
            (order, fill)
            for order, fill in found
            if self._is_product(order, product)
            and order_id in (None, order.order_id)
            and (first is None or int(fill.trade_id) >= first)
        ][:limit]

    # {"symbol": "BTC-USDT", "id": 36237072, "orderId": 1674069326895775744, "price": "30000",
    #  "qty": "0.0001", "quoteQty": "3", "commission": "-0.00000012", "commissionAsset": "BTC",
    #  "time": 1687962766000, "isBuyer": true, "isMaker": false}
    def spot_my_trades(self, call: Call) -> dict[str, Any]:
        rows = self._trades(call, SPOT, "startTime", "endTime", "limit", "fromId")
        return {
            "fills": [
                {
                    "symbol": self.wire_symbol(self.engine.instrument(NAME, order.symbol)),
                    "id": int(fill.trade_id),
                    "orderId": int(order.order_id),
                    "price": _s(fill.price),
                    "qty": _s(fill.quantity),
                    "quoteQty": _s(fill.price * fill.quantity),
                    "commission": _s(-fill.fee),
                    "commissionAsset": fill.fee_asset,
                    "time": fill.time_ms,
                    "isBuyer": order.side == "buy",
                    "isMaker": fill.maker,
                }
                for order, fill in rows
            ]
        }

    # {"symbol": "BTC-USDT", "orderId": 1735950529123455000, "tradeId": "97244351",
    #  "price": "50000.0", "qty": "0.0100", "quoteQty": "500.00", "commission": "-0.2500",
    #  "commissionAsset": "USDT", "filledTime": 1700000000120, "side": "BUY",
    #  "positionSide": "BOTH", "role": "taker"}
    def swap_fill_history(self, call: Call) -> dict[str, Any]:
        rows = self._trades(call, SWAP, "startTs", "endTs", "pageSize")
        return {
            "fill_orders": [
                {
                    "symbol": self.wire_symbol(self.engine.instrument(NAME, order.symbol)),
                    "orderId": int(order.order_id),
                    "tradeId": fill.trade_id,
                    "price": _s(fill.price),
                    "qty": _s(fill.quantity),
                    "quoteQty": _s(fill.price * fill.quantity),
                    "commission": _s(-fill.fee),
                    "commissionAsset": fill.fee_asset,
                    "filledTime": fill.time_ms,
                    "side": order.side.upper(),
                    "positionSide": self._position_sides.get(order.order_id, "BOTH"),
                    "role": "maker" if fill.maker else "taker",
                }
                for order, fill in rows
            ]
        }

    # allFillOrders (what ccxt reads; rows without a trade id the stream's could be matched to)

    def _fills(
        self, call: Call, product: str, start_key: str, end_key: str
    ) -> list[tuple[PaperOrder, PaperFill]]:
        """This product's fills, oldest first, narrowed by symbol, orderId and a time range
        (spot ``startTime``/``endTime``, swap ``startTs``/``endTs``). PAPER-ONLY: no range
        limit is enforced (none is documented in our sources; ccxt asks for 30 days)."""
        start = _optional_decimal(call.params, start_key)
        end = _optional_decimal(call.params, end_key)
        only = self._symbol_filter(call)
        order_id = call.params.get("orderId") or None
        rows = [
            (order, fill)
            for order in self.engine.order_history(NAME, call.owner, only)
            if self._is_product(order, product) and order_id in (None, order.order_id)
            for fill in order.fills
            if (start is None or fill.time_ms >= start) and (end is None or fill.time_ms <= end)
        ]
        return sorted(rows, key=lambda row: int(row[1].trade_id))

    # PAPER-ONLY shape (no stored BingX page lists every field): {"fill_orders": [{"volume":
    # "0.01", "price": "60000", "amount": "600", "commission": "0", "currency": "USDT",
    # "orderId": "..", "tradeId": "..", "filledTime": "2024-01-01T08:00:00.000+0000", ..}]}
    def swap_fills(self, call: Call) -> dict[str, Any]:
        if call.params.get("tradingUnit", "CONT") not in ("COIN", "CONT"):
            raise Refusal(SWAP_INVALID_PARAMETER, "tradingUnit must be COIN or CONT")
        rows = []
        for order, fill in self._fills(call, SWAP, "startTs", "endTs"):
            instrument = self.engine.instrument(NAME, order.symbol)
            filled_at = datetime.fromtimestamp(fill.time_ms / 1000, UTC)
            rows.append(
                {
                    "symbol": self.wire_symbol(instrument),
                    "orderId": order.order_id,
                    "tradeId": fill.trade_id,
                    "side": order.side.upper(),
                    "positionSide": self._position_sides.get(order.order_id, "BOTH"),
                    "role": "maker" if fill.maker else "taker",
                    "volume": _s(fill.quantity / instrument.contract_value),
                    "price": _s(fill.price),
                    "amount": _s(fill.quantity * fill.price),
                    "commission": _s(-fill.fee),
                    "currency": fill.fee_asset,
                    "realisedPNL": "0",
                    "liquidatedPrice": "0",
                    "liquidatedMarginRatio": "0",
                    "filledTm": fill.time_ms,
                    "filledTime": filled_at.strftime("%Y-%m-%dT%H:%M:%S.")
                    + f"{fill.time_ms % 1000:03d}+0000",
                }
            )
        return {"fill_orders": rows}

    @staticmethod
    def _is_product(order: PaperOrder, product: str) -> bool:
        return order.symbol.endswith(":USDT") == (product == SWAP)

    # -- spot orders ------------------------------------------------------------------------

    def spot_order(self, order: PaperOrder) -> dict[str, Any]:
        instrument = self.engine.instrument(NAME, order.symbol)
        return {
            "symbol": self.wire_symbol(instrument),
            "orderId": int(order.order_id),
            "price": _s(order.price),
            "origQty": _s(order.quantity),
            "executedQty": _s(order.filled_quantity),
            "cummulativeQuoteQty": _s(_quote_amount(order)),
            "status": SPOT_STATUS[order.status],
            "type": order.type.upper(),
            "side": order.side.upper(),
            "time": order.created_ms,
            "updateTime": order.updated_ms,
            "origQuoteOrderQty": "0",
            "fee": "0",
            "feeAsset": instrument.base if order.side == "buy" else instrument.quote,
            "clientOrderID": order.client_order_id or "",
            "stopPrice": "",
            "avgPrice": _s(order.average_price),
        }

    def spot_place(self, call: Call) -> dict[str, Any]:
        instrument = self._instrument(call)
        assert instrument is not None
        side, order_type, tif = self._side_type_tif(call)
        client_id = call.params.get("newClientOrderId", "")
        if client_id and not SPOT_CLIENT_ID.fullmatch(client_id):
            raise Refusal(
                INVALID_PARAMETER, "newClientOrderId: letters, digits and _ only, 1-40 characters"
            )
        price = self._limit_price(call, instrument, order_type)
        quantity = _optional_decimal(call.params, "quantity")
        quote = _optional_decimal(call.params, "quoteOrderQty")
        market_buy = order_type == "market" and side == "buy"
        if market_buy and quote is None:
            raise Refusal(INVALID_PARAMETER, "quoteOrderQty is required for MARKET BUY")
        if quantity is None and quote is not None and price is not None:
            quantity = quote / price  # a LIMIT sized in quote
        if quantity is None and not market_buy:
            raise Refusal(INVALID_PARAMETER, "quantity is required")
        order = self.engine.place_order(
            NAME,
            call.owner,
            symbol=instrument.symbol,
            side=side,
            type=order_type,
            quantity=_truncate(quantity, instrument.lot_size) if quantity is not None else None,
            quote_quantity=None if quantity is not None else quote,
            price=price,
            time_in_force=tif,
            client_order_id=client_id or None,
        )
        call.request["order_accepted"] = True
        shown = self.spot_order(order)
        return {
            key: shown[key]
            for key in (
                "symbol",
                "orderId",
                "price",
                "origQty",
                "executedQty",
                "cummulativeQuoteQty",
                "status",
                "type",
                "side",
                "clientOrderID",
            )
        } | {"transactTime": order.created_ms}

    def _spot_find(self, call: Call) -> PaperOrder:
        order = self._find(call, "clientOrderID", lower=False)
        too_old = self.engine.now_ms() - order.created_ms > SPOT_CLIENT_ID_LOOKUP_MS
        if not call.params.get("orderId") and too_old:
            raise Refusal(ORDER_NOT_EXIST)
        return order

    def spot_query(self, call: Call) -> dict[str, Any]:
        return self.spot_order(self._spot_find(call))

    def spot_cancel(self, call: Call) -> dict[str, Any]:
        return self.spot_order(self._cancel(call, self._spot_find(call)))

    def spot_cancel_all(self, call: Call) -> dict[str, Any]:
        """UNVERIFIED wrapper: the docs list the order fields, not the object around them."""
        return {"orders": [self.spot_order(o) for o in self._cancel_open(call, SPOT)]}

    def spot_open_orders(self, call: Call) -> dict[str, Any]:
        return {"orders": [self.spot_order(o) for o in self._open(call, SPOT)]}

    def spot_history(self, call: Call) -> dict[str, Any]:
        page = int(_optional_decimal(call.params, "pageIndex") or 1)
        size = int(_optional_decimal(call.params, "pageSize") or 100)
        if page < 1 or size < 1 or page * size > 10_000:
            raise Refusal(INVALID_PARAMETER, "pageIndex x pageSize must be at most 10000")
        orders = self._history(call, SPOT)[(page - 1) * size : page * size]
        return {"orders": [self.spot_order(o) for o in orders]}

    def cancel_all_after(self, call: Call) -> dict[str, Any]:
        """The dead-man switch of one product: ``type`` ACTIVATE (``timeOut`` 10..120 s)
        or CLOSE; every open order of that product is cancelled when it elapses."""
        kind = call.params.get("type", "")
        text = call.params.get("timeOut", "")
        if kind not in ("ACTIVATE", "CLOSE"):
            raise Refusal(INVALID_PARAMETER, "type must be ACTIVATE or CLOSE")
        if not text.isdigit() or not 10 <= int(text) <= 120:
            raise Refusal(INVALID_PARAMETER, "timeOut must be 10..120 seconds")
        product = "linear" if call.product == SWAP else "spot"
        if kind == "CLOSE":
            self.engine.dead_man.disarm(call.owner, product=product)
            return {"triggerTime": 0, "status": "CLOSED", "note": ""}
        switch = self.engine.dead_man.arm(call.owner, seconds=int(text), product=product)
        trigger = self.engine.now_ms() + int(switch.seconds * 1000)
        return {"triggerTime": trigger, "status": "ACTIVATED", "note": ""}


def _uid(account: PaperAccount) -> int:
    """A stable numeric user id derived from the key (never the secret)."""
    return int(hashlib.sha256(account.api_key.encode()).hexdigest()[:12], 16) % 10**10
