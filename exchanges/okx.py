"""OKX v5: spot, margin and USDT-margined perpetual swaps on one REST surface.

Facts: docs/exchanges/okx.md. The instrument is chosen by ``instId`` (``BTC-USDT``,
``BTC-USDT-SWAP``) and the trade mode by ``tdMode``. Credentials are three values (key,
secret, passphrase). Demo trading ("testnet") is the live host plus ``x-simulated-trading: 1``.
Swaps count contracts: ``sz`` = base quantity / ``ctVal``. Answers are
``{"code": "0", "msg": "", "data": [...]}`` with string codes; trade endpoints report each
item's ``sCode``/``sMsg``, and business failures usually come with HTTP 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from exchanges import errors
from exchanges.base import (
    Balance,
    Call,
    Connector,
    CredentialCheck,
    DeadManState,
    ExchangeOrder,
    FillUpdate,
    Instrument,
    KeyInfo,
    OrderRequest,
    Position,
    Response,
    Ticker,
    compact_json,
)
from exchanges.limits import ACCOUNT, IP, Budget, Counts, Window, endpoint_window
from exchanges.parsing import (
    decimal_or_none,
    decimal_or_zero,
    format_decimal,
    int_or_none,
    positive_or_none,
)
from exchanges.symbols import Market, joined_symbol, parse_symbol, split_by_separator, unified

NAME = "okx"

# -- URLs: one REST host for every product; demo = the same host plus a header -----------

LIVE_REST = "https://www.okx.com"
REST_HOSTS = {
    ("live", "spot"): LIVE_REST,
    ("live", "linear"): LIVE_REST,
    ("testnet", "spot"): LIVE_REST,
    ("testnet", "linear"): LIVE_REST,
}
SIMULATED_TRADING_HEADER = "x-simulated-trading"
WS_HOSTS = {
    ("live", "spot"): "wss://ws.okx.com:8443",
    ("live", "linear"): "wss://ws.okx.com:8443",
    ("testnet", "spot"): "wss://wspap.okx.com:8443",
    ("testnet", "linear"): "wss://wspap.okx.com:8443",
}
WS_PRIVATE_PATH = "/ws/v5/private"
WS_PUBLIC_PATH = "/ws/v5/public"

# -- endpoints ------------------------------------------------------------------------------

TIME = "/api/v5/public/time"
INSTRUMENTS = "/api/v5/public/instruments"
TICKER = "/api/v5/market/ticker"
ACCOUNT_CONFIG = "/api/v5/account/config"
BALANCE = "/api/v5/account/balance"
POSITIONS = "/api/v5/account/positions"
SET_LEVERAGE = "/api/v5/account/set-leverage"
ORDER = "/api/v5/trade/order"  # POST places, GET queries one order
CANCEL_ORDER = "/api/v5/trade/cancel-order"
CANCEL_BATCH = "/api/v5/trade/cancel-batch-orders"
ORDERS_PENDING = "/api/v5/trade/orders-pending"
ORDERS_HISTORY = "/api/v5/trade/orders-history"
CANCEL_ALL_AFTER = "/api/v5/trade/cancel-all-after"  # the dead-man switch
FILLS = "/api/v5/trade/fills"  # our trades of the last 3 days
FILLS_HISTORY = "/api/v5/trade/fills-history"  # ... of the last 3 months

# OKX counts requests, not weights: every endpoint weighs 1, so nothing weighs other than 1.
WEIGHTS: dict[str, int] = {}

# -- rate limits (docs/rate-limits.md): public endpoints by IP, private ones by User ID, each
# endpoint its own 2 s budget; place and cancel per instrument; the batch budget and the
# sub-account order limit count orders. OKX has no IP budget for private endpoints. --------
_OKX = "okx.com/docs-v5 (each endpoint's Rate Limit)"


def _ip(path: str, limit: int) -> tuple[str, Window]:
    return endpoint_window(path, limit, 2, IP, source=_OKX)


def _uid(
    endpoint: str,
    limit: int,
    *,
    per_instrument: bool = False,
    counts: Counts = "requests",
    source: str = _OKX,
) -> tuple[str, Window]:
    return endpoint_window(
        endpoint, limit, 2, counts=counts, per_instrument=per_instrument, source=source
    )


RATE_LIMITS = Budget(
    windows=dict(
        [
            _ip(TIME, 10),
            _ip(TICKER, 20),
            _ip(INSTRUMENTS, 20),  # per IP and instrument type; we count the types together
            _uid(f"POST {ORDER}", 60, per_instrument=True),
            _uid(CANCEL_ORDER, 60, per_instrument=True),
            _uid(CANCEL_BATCH, 300, counts="orders"),
            _uid(f"GET {ORDER}", 60),
            _uid(ORDERS_PENDING, 60),
            _uid(BALANCE, 10),
            _uid(POSITIONS, 10),
            _uid(ACCOUNT_CONFIG, 5),
            # UNVERIFIED in the facts: OKX's docs give 40 / 2 s and 20 / 2 s
            _uid(ORDERS_HISTORY, 40),
            _uid(SET_LEVERAGE, 20),
            # cancel-all-after: 1 request per second per User ID (and tag; we send none)
            endpoint_window(CANCEL_ALL_AFTER, 1, 1, source=_OKX),
            # "Get transaction details": 60 / 2 s (3 days); 10 / 2 s (3 months), per User ID
            _uid(FILLS, 60),
            _uid(FILLS_HISTORY, 10),
            # new and amended orders of one sub-account, REST and WebSocket together (50061)
            (
                "account orders 2s",
                Window(
                    1000, 2, ACCOUNT, "orders", endpoints=frozenset({f"POST {ORDER}"}), source=_OKX
                ),
            ),
        ]
    )
)
BATCH_CANCEL_SIZE = 20
PAGE_SIZE = 100
MAX_PAGES = 20

STATUS_MAP = {
    "live": "open",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "mmp_canceled": "canceled",
}
# Immediate-or-cancel order types whose unfilled rest the engine cancels: that is "expired".
IMMEDIATE_ORDER_TYPES = ("market", "ioc", "fok", "optimal_limit_ioc")
MARKET_ORDER_TYPES = ("market", "optimal_limit_ioc")
# UNVERIFIED (OKX docs' cancelSource table, not the facts file): "1" = canceled by the user,
# "31" = a post-only order that would have taken liquidity.
CANCEL_SOURCE_USER = "1"
CANCEL_SOURCE_POST_ONLY = "31"
LIMIT_ORDER_TYPES = {"GTC": "limit", "IOC": "ioc", "FOK": "fok", "POST_ONLY": "post_only"}
PERMISSIONS = {"read_only": "read", "trade": "trade", "withdraw": "withdraw"}
HEDGE_MODE = "long_short_mode"

ONE = Decimal(1)
SWAP_SUFFIX = "-SWAP"
FILLS_RECENT_MS = 3 * 86_400_000  # /trade/fills answers the last 3 days
FILLS_LOOKBACK_MS = 90 * 86_400_000  # /trade/fills-history the last 3 months
EXEC_TYPES = {"T": "taker", "M": "maker"}


# -- signing (pure) ---------------------------------------------------------------------------


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath(+?query) + body))."""
    message = f"{timestamp}{method.upper()}{request_path}{body}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def iso_timestamp(ms: int) -> str:
    """OK-ACCESS-TIMESTAMP form: ``2020-12-08T09:08:57.715Z``."""
    moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


# -- symbols and quantities -------------------------------------------------------------------


def to_inst_id(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC-USDT``; ``BTC/USDT:USDT`` -> ``BTC-USDT-SWAP``."""
    return joined_symbol(parse_symbol(symbol), "-", SWAP_SUFFIX)


def from_inst_id(inst_id: str) -> str:
    swap = is_swap(inst_id)
    split = split_by_separator(inst_id.removesuffix(SWAP_SUFFIX) if swap else inst_id, "-")
    if split is not None:
        return unified(*split, "linear" if swap else "spot")
    raise errors.InvalidRequest(
        f"OKX instrument {inst_id!r} is neither spot nor a swap", exchange=NAME
    )


def is_swap(inst_id: str) -> bool:
    return inst_id.endswith(SWAP_SUFFIX)


def contracts_for(quantity: Decimal, instrument: Instrument) -> Decimal:
    """Base quantity -> swap contracts; refuses a quantity that is not a whole lot."""
    if quantity % instrument.lot_size:
        raise errors.InvalidOrder(
            f"{format_decimal(quantity)} {instrument.base} is not a multiple of the lot "
            f"{format_decimal(instrument.lot_size)} ({instrument.exchange_symbol})",
            exchange=NAME,
        )
    return quantity / instrument.contract_value


# -- request builders -------------------------------------------------------------------------


def order_body(order: OrderRequest, *, inst_id: str, td_mode: str, size: Decimal) -> dict[str, str]:
    """The JSON body of POST /api/v5/trade/order of an order ``Connector.check_order``
    passed (``size`` already in contracts for swaps)."""
    body = {
        "instId": inst_id,
        "tdMode": td_mode,
        "clOrdId": order.client_order_id,
        "side": order.side,
        "ordType": _ord_type(order),
    }
    if order.type == "limit" and order.price is not None:
        body["px"] = format_decimal(order.price)
    body["sz"] = format_decimal(size)
    if order.type == "market" and not is_swap(inst_id):
        body["tgtCcy"] = "base_ccy"  # spot market buys default to quote-sized
    if order.reduce_only:
        body["reduceOnly"] = "true"
    return body


def _ord_type(order: OrderRequest) -> str:
    return "market" if order.type == "market" else LIMIT_ORDER_TYPES[order.time_in_force]


# -- response parsers -------------------------------------------------------------------------


def order_status(state: str, ord_type: str = "", cancel_source: str = "") -> str:
    if state == "canceled" and cancel_source == CANCEL_SOURCE_POST_ONLY:
        return "rejected"
    if (
        state == "canceled"
        and ord_type in IMMEDIATE_ORDER_TYPES
        and cancel_source != CANCEL_SOURCE_USER
    ):
        return "expired"
    if state not in STATUS_MAP:
        raise errors.ExchangeError(f"unknown OKX order state {state!r}", exchange=NAME)
    return STATUS_MAP[state]


# {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "ordId": "680800019749904384",
#  "clOrdId": "ec0123...", "px": "50000", "sz": "1", "ordType": "limit", "side": "buy",
#  "state": "partially_filled", "accFillSz": "0.4", "avgPx": "50000", "cancelSource": "",
#  "tgtCcy": "", "cTime": "1700000000000", "uTime": "1700000001000"}
def parse_order(raw: dict[str, Any], contract_value: Decimal = ONE) -> ExchangeOrder:
    ord_type = raw.get("ordType", "")
    filled = decimal_or_zero(raw.get("accFillSz")) * contract_value
    size = decimal_or_zero(raw.get("sz")) * contract_value
    if raw.get("tgtCcy") == "quote_ccy":
        size = filled  # sz counts quote currency; the base size is only known once filled
    return ExchangeOrder(
        symbol=from_inst_id(raw["instId"]),
        client_order_id=raw.get("clOrdId") or None,
        exchange_order_id=str(raw["ordId"]),
        status=order_status(raw.get("state", ""), ord_type, raw.get("cancelSource", "")),
        side=raw.get("side", ""),
        type="market" if ord_type in MARKET_ORDER_TYPES else "limit",
        quantity=size,
        filled_quantity=filled,
        average_price=positive_or_none(raw.get("avgPx")),
        price=positive_or_none(raw.get("px")),
        raw_status=raw.get("state", ""),
        created_at_ms=int_or_none(raw.get("cTime")),
        updated_at_ms=int_or_none(raw.get("uTime")),
    )


# {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT",
#  "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "state": "live"}
# {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "settleCcy": "USDT", "ctVal": "0.01",
#  "ctValCcy": "BTC", "ctType": "linear", "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01",
#  "state": "live"}
def parse_instrument(raw: dict[str, Any]) -> Instrument | None:
    """Live spot pairs and linear USDT-style swaps; None for anything else."""
    inst_id = raw.get("instId", "")
    if raw.get("state", "live") != "live" or raw.get("instType") not in ("SPOT", "SWAP"):
        return None
    try:
        market = parse_symbol(from_inst_id(inst_id))
    except errors.InvalidRequest:
        return None
    contract_value = ONE
    if market.is_perpetual:
        if (
            raw.get("ctType", "linear") != "linear"
            or raw.get("settleCcy", market.quote) != market.quote
            or raw.get("ctValCcy", market.base) != market.base
        ):
            return None
        contract_value = Decimal(raw["ctVal"])
    return Instrument(
        symbol=market.symbol,
        exchange_symbol=inst_id,
        base=market.base,
        quote=market.quote,
        kind=market.kind,
        tick_size=Decimal(raw["tickSz"]),
        lot_size=Decimal(raw["lotSz"]) * contract_value,
        min_quantity=Decimal(raw["minSz"]) * contract_value,
        contract_value=contract_value,
    )


# {"code": "0", "msg": "", "data": [{"totalEq": "41624.32", "details": [
#   {"ccy": "USDT", "eq": "10000", "cashBal": "10000", "availBal": "9000", "frozenBal": "1000"}]}]}
def parse_balances(data: Sequence[dict[str, Any]]) -> list[Balance]:
    details = data[0].get("details", []) if data else []
    balances = []
    for item in details:
        free = decimal_or_none(item.get("availBal")) or decimal_or_none(item.get("cashBal"))
        balances.append(
            Balance(
                asset=item["ccy"],
                free=free or Decimal(0),
                locked=decimal_or_zero(item.get("frozenBal")),
            )
        )
    return balances


# {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "tradeId": "123", "ordId": "680800019749904384",
#  "clOrdId": "ec01", "billId": "1111", "subType": "1", "tag": "", "fillPx": "50000",
#  "fillSz": "2", "fillIdxPx": "", "fillPnl": "0", "side": "buy", "posSide": "net",
#  "execType": "T", "feeCcy": "USDT", "fee": "-0.5", "ts": "1700000000001",
#  "fillTime": "1700000000000", "feeRate": "", "tradeQuoteCcy": "USDT"}
def parse_fill(raw: dict[str, Any], contract_value: Decimal = ONE) -> FillUpdate:
    """One trade; swap sizes are contracts (times ``ctVal``). OKX signs the fee as a balance
    change (a charge is negative, a rebate positive): ours is positive when paid."""
    return FillUpdate(
        exchange=NAME,
        trade_id=str(raw["tradeId"]),
        exchange_order_id=str(raw["ordId"]),
        client_order_id=raw.get("clOrdId") or None,
        symbol=from_inst_id(str(raw["instId"])),
        side=str(raw["side"]).lower(),
        price=Decimal(str(raw["fillPx"])),
        quantity=Decimal(str(raw["fillSz"])) * contract_value,
        fee=-decimal_or_zero(raw.get("fee")),
        fee_asset=raw.get("feeCcy") or None,
        liquidity=EXEC_TYPES.get(str(raw.get("execType", ""))),
        time_ms=int_or_none(raw.get("fillTime")) or int_or_none(raw.get("ts")),
    )


# {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "-3",
#  "avgPx": "60000", "markPx": "60100", "upl": "-3", "lever": "10", "mgnMode": "cross"}
def parse_position(raw: dict[str, Any], contract_value: Decimal) -> Position | None:
    contracts = decimal_or_zero(raw.get("pos"))
    if not contracts:
        return None
    if raw.get("posSide") == "short":
        contracts = -abs(contracts)  # hedge mode reports both legs as positive sizes
    return Position(
        symbol=from_inst_id(raw["instId"]),
        quantity=contracts * contract_value,
        entry_price=decimal_or_none(raw.get("avgPx")),
        leverage=decimal_or_none(raw.get("lever")),
        unrealized_pnl=decimal_or_none(raw.get("upl")),
        mark_price=decimal_or_none(raw.get("markPx")),
    )


# {"uid": "44705892343619584", "mainUid": "44705892343619584", "acctLv": "2",
#  "posMode": "net_mode", "perm": "read_only,trade", "ip": "", "label": "ec"}
def parse_credentials(raw: dict[str, Any], *, derivatives: bool) -> CredentialCheck:
    granted = {PERMISSIONS[p] for p in raw.get("perm", "").split(",") if p in PERMISSIONS}
    granted.add("read")  # every OKX key can read
    permissions = tuple(p for p in ("read", "trade", "withdraw") if p in granted)
    warnings = []
    if "withdraw" in granted:
        warnings.append("withdraw_enabled")
    if "trade" not in granted:
        warnings.append("read_only")
    if not raw.get("ip"):
        warnings.append("no_ip_whitelist")
    if derivatives and raw.get("posMode") == HEDGE_MODE:
        warnings.append("hedge_mode")
    return CredentialCheck(permissions=permissions, warnings=tuple(warnings))


# "ip": the key's bound addresses, comma-separated, "" for none. OKX reports no expiry
# (keys without an IP are deleted after 14 days unused, which no field tells).
def parse_key_info(raw: dict[str, Any]) -> KeyInfo:
    ips = tuple(ip.strip() for ip in str(raw.get("ip") or "").split(",") if ip.strip())
    return KeyInfo(
        permissions=frozenset(parse_credentials(raw, derivatives=False).permissions),
        ip_restricted=bool(ips),
        ips=ips,
    )


# {"instId": "BTC-USDT", "last": "60000.1", "askPx": "60000.2", "bidPx": "60000"}
def parse_ticker(raw: dict[str, Any]) -> Ticker:
    return Ticker(
        symbol=from_inst_id(raw["instId"]),
        bid=Decimal(raw["bidPx"]),
        ask=Decimal(raw["askPx"]),
        last=Decimal(raw["last"]),
    )


# -- errors ---------------------------------------------------------------------------------

_AUTH_CODES = (
    "50100",
    "50101",
    "50102",
    "50103",
    "50104",
    "50105",
    "50106",
    "50107",
    "50111",
    "50112",
    "50113",
    "50119",
)
_PERMISSION_CODES = ("50007", "50030", "50035", "50110", "50120", "51009", "51024")
ERRORS = errors.ErrorTable(
    exact={
        **dict.fromkeys(_AUTH_CODES, errors.AuthenticationError),
        **dict.fromkeys(_PERMISSION_CODES, errors.PermissionDenied),
        **dict.fromkeys(("50011", "50013", "50061"), errors.RateLimited),
        **dict.fromkeys(("51008", "51119", "51127", "51131"), errors.InsufficientFunds),
        **dict.fromkeys(("51016", "50071"), errors.DuplicateOrder),
        **dict.fromkeys(("51400", "51503", "51603"), errors.OrderNotFound),
        # already canceled / already filled / cancel pending: the order exists, not cancelable
        **dict.fromkeys(("51401", "51402", "51410"), errors.InvalidOrder),
        **dict.fromkeys(("50014", "51000", "51001"), errors.InvalidRequest),
        # "status unknown": the order may exist; look it up by client id
        "50004": errors.RequestTimeout,
        "51054": errors.RequestTimeout,
        "51149": errors.OrderOutcomeUnknown,
        "50001": errors.ExchangeUnavailable,
        "50026": errors.ExchangeUnavailable,
        "50038": errors.NotSupported,  # feature unavailable in demo trading
    },
    substrings=(
        ("insufficient", errors.InsufficientFunds),
        ("already exists", errors.DuplicateOrder),
        ("rate limit", errors.RateLimited),
    ),
    http_status={
        401: errors.AuthenticationError,
        403: errors.PermissionDenied,
        429: errors.RateLimited,
    },
    rate_limit_pause={"50011": 2.0, "50061": 2.0, "50013": 1.0},
)


# -- the connector --------------------------------------------------------------------------

# cancel-all-after: timeOut 0 (off) or 10..120 seconds, every order-book product of the
# (sub-)account at once when it fires (facts: Dead-man switch)
DEAD_MAN_WINDOW_SECONDS = (10, 120)
# OKX's example shows 10-digit (second) times; below this a time is read as seconds
SECONDS_TIME_CEILING = 10**11


class OkxConnector(Connector):
    deadline_window_ms = 5000
    dead_man_switch = "countdown"
    dead_man_window_seconds = DEAD_MAN_WINDOW_SECONDS
    name = NAME
    rest_hosts = REST_HOSTS
    ws_hosts = WS_HOSTS
    weights = WEIGHTS
    rate_limits = RATE_LIMITS
    error_table = ERRORS
    # expTime on placements = now + this window; a later arrival is void (50036/50037)
    recv_window_ms = 5000
    client_order_id_pattern = re.compile(r"^[A-Za-z0-9]{1,32}$")
    fills_lookback_ms = FILLS_LOOKBACK_MS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._swaps: dict[str, Instrument] | None = None  # instId -> linear swap (ctVal)

    # -- pipeline ---------------------------------------------------------------------------

    def sign(self, call: Call) -> None:
        if not self.credentials.passphrase:
            raise errors.AuthenticationError("OKX keys need their passphrase", exchange=NAME)
        timestamp = iso_timestamp(self.now_ms())
        request_path = f"{call.path}?{call.query_string}" if call.params else call.path
        call.headers.update(
            {
                "OK-ACCESS-KEY": self.credentials.api_key,
                "OK-ACCESS-SIGN": sign(
                    self.credentials.api_secret,
                    timestamp,
                    call.method,
                    request_path,
                    call.body or "",
                ),
                "OK-ACCESS-TIMESTAMP": timestamp,
                "OK-ACCESS-PASSPHRASE": self.credentials.passphrase,
            }
        )

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        payload = response.payload
        if not isinstance(payload, dict):
            return None, f"empty answer (HTTP {response.status})"
        if "code" not in payload:  # a proxy or gateway page, not OKX's envelope
            # never the raw body of a non-JSON answer: only the status
            text = payload.get("message") or "not an OKX answer"
            return None, f"{text} (HTTP {response.status})"
        code = str(payload["code"])
        if code in ("0", "2"):  # "2": a batch partly succeeded; callers read each sCode
            return None
        for item in payload.get("data") or []:
            if isinstance(item, dict) and item.get("sCode") not in (None, "", "0"):
                return str(item["sCode"]), str(item.get("sMsg", ""))
        return code, str(payload.get("msg", ""))

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        signed: bool = True,
        write: bool = False,
        product: str = "spot",
        instrument: str = "",
        orders: int = 1,
    ) -> Call:
        call = Call(
            method,
            path,
            params=list(params),
            signed=signed,
            write=write,
            product=product,
            instrument=instrument,
            orders=orders,
        )
        if body is not None:
            call.body = compact_json(body)
            call.headers["Content-Type"] = "application/json"
        if self.environment == "testnet":
            call.headers[SIMULATED_TRADING_HEADER] = "1"
        return call

    def _data(self, call: Call) -> list[dict[str, Any]]:
        return self.request(call).payload.get("data") or []

    # -- routing helpers --------------------------------------------------------------------

    def _market(self, symbol: str) -> tuple[Market, str]:
        market = self.market(symbol)
        return market, to_inst_id(market.symbol)

    def reduces_on_spot(self, order: OrderRequest) -> bool:
        """A spot order traded on margin (tdMode cross) may be reduce-only."""
        return order.margin or self.api_type == "margin"

    def _td_mode(self, market: Market, order: OrderRequest) -> str:
        if market.is_perpetual or order.margin or self.api_type == "margin":
            return "cross"
        return "cash"

    def _list_inst_types(self) -> tuple[str, ...]:
        return {"spot": ("SPOT",), "margin": ("MARGIN",), "perpetual_futures": ("SWAP",)}.get(
            self.api_type, ("SPOT", "MARGIN", "SWAP")
        )

    def _history_inst_types(self, market: Market) -> tuple[str, ...]:
        if market.is_perpetual:
            return ("SWAP",)
        return {"spot": ("SPOT",), "margin": ("MARGIN",)}.get(self.api_type, ("SPOT", "MARGIN"))

    def _linear_swaps(self) -> dict[str, Instrument]:
        """Loaded once per connector: contract values do not change under a running task."""
        if self._swaps is None:
            self._load_instruments("SWAP")
        assert self._swaps is not None
        return self._swaps

    def _swap(self, inst_id: str) -> Instrument:
        if inst_id not in self._linear_swaps():
            raise errors.InvalidRequest(
                f"OKX lists no linear swap {inst_id}", exchange=NAME, code="51001"
            )
        return self._linear_swaps()[inst_id]

    def _contract_value(self, inst_id: str) -> Decimal:
        return self._swap(inst_id).contract_value if is_swap(inst_id) else ONE

    def _ours(self, raw: dict[str, Any]) -> bool:
        """Spot/margin orders and linear swaps; inverse swaps, futures, options are skipped."""
        inst_id = raw.get("instId", "")
        if not is_swap(inst_id):
            return raw.get("instType", "SPOT") in ("SPOT", "MARGIN")
        return inst_id in self._linear_swaps()

    def _parse_order(self, raw: dict[str, Any]) -> ExchangeOrder:
        return parse_order(raw, self._contract_value(raw["instId"]))

    def _load_instruments(self, inst_type: str) -> list[Instrument]:
        call = self._call("GET", INSTRUMENTS, params=[("instType", inst_type)], signed=False)
        found = [i for i in map(parse_instrument, self._data(call)) if i is not None]
        if inst_type == "SWAP":
            self._swaps = {i.exchange_symbol: i for i in found}
        return found

    def _pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """Newest first, ``after`` = the last ordId of the previous page."""
        after: list[tuple[str, str]] = []
        for _ in range(MAX_PAGES):
            page = self._data(self._call("GET", path, params=params + after))
            yield from page
            if len(page) < PAGE_SIZE:
                return
            after = [("after", str(page[-1]["ordId"]))]

    def _orders(self, path: str, params: list[tuple[str, str]]) -> list[ExchangeOrder]:
        return [self._parse_order(raw) for raw in self._pages(path, params) if self._ours(raw)]

    # -- operations -------------------------------------------------------------------------

    def server_time(self) -> int:
        return int(self._data(self._call("GET", TIME, signed=False))[0]["ts"])

    def check_credentials(self) -> CredentialCheck:
        config = self._data(self._call("GET", ACCOUNT_CONFIG))[0]
        derivatives = self.api_type in ("perpetual_futures", "unified_account")
        return replace(
            parse_credentials(config, derivatives=derivatives), key=parse_key_info(config)
        )

    def key_info(self) -> KeyInfo:
        return parse_key_info(self._data(self._call("GET", ACCOUNT_CONFIG))[0])

    def heartbeat_read(self) -> None:
        self._data(self._call("GET", BALANCE, params=[("ccy", "USDT")]))

    def is_hedge_mode(self) -> bool:
        if self.api_type in ("spot", "margin"):
            return False
        return self._data(self._call("GET", ACCOUNT_CONFIG))[0].get("posMode") == HEDGE_MODE

    def balances(self) -> list[Balance]:
        return parse_balances(self._data(self._call("GET", BALANCE)))

    def instruments(self) -> list[Instrument]:
        kinds = {"spot": ("SPOT",), "margin": ("SPOT",), "perpetual_futures": ("SWAP",)}.get(
            self.api_type, ("SPOT", "SWAP")
        )
        return [i for kind in kinds for i in self._load_instruments(kind)]

    def ticker(self, symbol: str) -> Ticker:
        market, inst_id = self._market(symbol)
        call = self._call(
            "GET", TICKER, params=[("instId", inst_id)], signed=False, product=market.kind
        )
        data = self._data(call)
        if not data:
            raise errors.InvalidRequest(f"OKX has no ticker for {inst_id}", exchange=NAME)
        return parse_ticker(data[0])

    def set_leverage(self, symbol: str, leverage: int) -> None:
        market, inst_id = self._market(symbol)
        if leverage < 1:
            raise errors.InvalidRequest("leverage must be at least 1", exchange=NAME)
        if not market.is_perpetual and self.api_type not in ("margin", "unified_account"):
            raise errors.NotSupported("spot cash trading has no leverage", exchange=NAME)
        body = {"instId": inst_id, "lever": str(leverage), "mgnMode": "cross"}
        self._data(self._call("POST", SET_LEVERAGE, body=body, write=True, product=market.kind))

    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        inst_id = to_inst_id(market.symbol)
        size = (
            contracts_for(order.quantity, self._swap(inst_id))
            if market.is_perpetual
            else order.quantity
        )
        body = order_body(order, inst_id=inst_id, td_mode=self._td_mode(market, order), size=size)
        call = self._call(
            "POST", ORDER, body=body, write=True, product=market.kind, instrument=inst_id
        )
        call.deadline_ms = self.now_ms() + self.recv_window_ms
        call.headers["expTime"] = str(call.deadline_ms)
        placed = self._data(call)[0]
        return ExchangeOrder(
            symbol=market.symbol,
            client_order_id=placed.get("clOrdId") or order.client_order_id,
            exchange_order_id=str(placed["ordId"]),
            status="open",
            side=order.side,
            type=order.type,
            quantity=order.quantity,
            price=order.price,
            created_at_ms=int_or_none(placed.get("ts")),
        )

    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        """Cancel, then read the order back: ``sCode 0`` only means the cancel was accepted,
        and the answer carries no state or fills."""
        inst_id = to_inst_id(market.symbol)
        body = {"instId": inst_id, **_id_fields(client_order_id, exchange_order_id)}
        answer = self._data(
            self._call(
                "POST", CANCEL_ORDER, body=body, write=True, product=market.kind, instrument=inst_id
            )
        )[0]
        return self.get_order(
            market.symbol,
            exchange_order_id=answer.get("ordId") or exchange_order_id,
            client_order_id=client_order_id,
        )

    def cancel_all(self, symbol: str | None = None) -> int:
        """OKX has no cancel-all for spot and swaps: cancel the open orders in batches of 20."""
        canceled = 0
        pending = self.open_orders(symbol)
        for start in range(0, len(pending), BATCH_CANCEL_SIZE):
            batch = [
                {"instId": to_inst_id(o.symbol), "ordId": o.exchange_order_id}
                for o in pending[start : start + BATCH_CANCEL_SIZE]
            ]
            try:
                answers = self._data(
                    self._call("POST", CANCEL_BATCH, body=batch, write=True, orders=len(batch))
                )
            except errors.InvalidOrder:
                continue  # every order of this batch closed meanwhile
            canceled += sum(1 for item in answers if item.get("sCode") == "0")
        return canceled

    # -- the dead-man switch ----------------------------------------------------------------

    def _arm_dead_man_switch(self, seconds: int, markets: list[Market]) -> DeadManState:
        trigger_ms = self._cancel_all_after(seconds)
        return DeadManState(
            armed=True,
            kind="countdown",
            seconds=seconds,
            trigger_at_ms=trigger_ms or self.now_ms() + seconds * 1000,
        )

    def _disarm_dead_man_switch(self, markets: list[Market]) -> DeadManState:
        self._cancel_all_after(0)
        return DeadManState(armed=False, kind="countdown")

    def _cancel_all_after(self, seconds: int) -> int | None:
        """``{"code":"0","data":[{"triggerTime":"1587971460","tag":"","ts":"1587971400"}]}``;
        triggerTime 0 means off. Sent as a read (the base class says why)."""
        data = self._data(self._call("POST", CANCEL_ALL_AFTER, body={"timeOut": str(seconds)}))
        trigger = int_or_none(data[0].get("triggerTime")) if data else None
        if not trigger:
            return None
        return trigger * 1000 if trigger < SECONDS_TIME_CEILING else trigger

    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        inst_id = to_inst_id(market.symbol)
        params = [("instId", inst_id), *_id_fields(client_order_id, exchange_order_id).items()]
        data = self._data(self._call("GET", ORDER, params=params, product=market.kind))
        if not data:
            raise errors.OrderNotFound(f"no order on {inst_id}", exchange=NAME)
        return self._parse_order(data[0])

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        if symbol is not None:
            return self._orders(ORDERS_PENDING, [("instId", self._market(symbol)[1])])
        inst_types = self._list_inst_types()
        params = [("instType", inst_types[0])] if len(inst_types) == 1 else []
        return self._orders(ORDERS_PENDING, params)

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        """Terminal orders of the last 7 days (OKX keeps unfilled cancels only 2 hours)."""
        market, inst_id = self._market(symbol)
        begin = [("begin", str(since_ms))] if since_ms is not None else []
        orders = []
        for inst_type in self._history_inst_types(market):
            params = [("instType", inst_type), ("instId", inst_id), *begin]
            orders.extend(self._orders(ORDERS_HISTORY, params))
        return orders

    def positions(self, symbol: str | None = None) -> list[Position]:
        if self.api_type in ("spot", "margin"):
            return []
        params = [("instType", "SWAP")]
        if symbol is not None:
            market, inst_id = self._market(symbol)
            if not market.is_perpetual:
                raise errors.InvalidRequest(f"{symbol} is spot: it has no position", exchange=NAME)
            params.append(("instId", inst_id))
        data = self._data(self._call("GET", POSITIONS, params=params, product="linear"))
        found = (
            parse_position(raw, self._contract_value(raw["instId"]))
            for raw in data
            if is_swap(raw.get("instId", "")) and self._ours(raw)
        )
        return [position for position in found if position is not None]

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """``/trade/fills`` when everything asked for is of the last 3 days, else
        ``/trade/fills-history`` (instType required there), newest first, paged by billId."""
        recent = since_ms is None or since_ms >= self.now_ms() - FILLS_RECENT_MS
        path = FILLS if recent else FILLS_HISTORY
        if market is not None:
            scopes = [
                [("instType", t), ("instId", to_inst_id(market.symbol))]
                for t in self._history_inst_types(market)
            ]
        else:
            scopes = [[("instType", t)] for t in self._list_inst_types()]
        begin = [("begin", str(since_ms))] if since_ms is not None else []
        fills = []
        for scope in scopes:
            for raw in self._fill_pages(path, [*scope, *begin], min(limit, PAGE_SIZE)):
                if self._ours(raw):
                    fills.append(parse_fill(raw, self._contract_value(raw["instId"])))
        return fills

    def _fill_pages(
        self, path: str, params: list[tuple[str, str]], size: int
    ) -> Iterator[dict[str, Any]]:
        """Newest first, ``after`` = the last billId of the previous page."""
        after: list[tuple[str, str]] = []
        for _ in range(MAX_PAGES):
            call = self._call("GET", path, params=[*params, *after, ("limit", str(size))])
            page = self._data(call)
            yield from page
            if len(page) < size:
                return
            after = [("after", str(page[-1]["billId"]))]


def _id_fields(client_order_id: str | None, exchange_order_id: str | None) -> dict[str, str]:
    """OKX takes ordId or clOrdId; ordId wins when both are known."""
    if exchange_order_id:
        return {"ordId": str(exchange_order_id)}
    return {"clOrdId": str(client_order_id)}


CONNECTOR = OkxConnector
