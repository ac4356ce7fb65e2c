"""OKX v5 on the paper exchange, written from docs/exchanges/okx.md alone.

Independent of ``exchanges/okx.py`` on purpose: the signature check below is its own
implementation of ``Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))``.
Envelopes are ``{"code": "0", "msg": "", "data": [...]}`` with string codes; trade endpoints
report each item's ``sCode``/``sMsg`` under a top-level ``"1"`` when it failed. Swaps are
sized in contracts of ``ctVal`` base each; spot market buys default to quote-sized
(``tgtCcy=quote_ccy``). Error codes and HTTP statuses follow OKX's error-code table.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

from aiohttp import web

from paper.engine import (
    DEFAULT_LEVERAGE,
    MAX_LEVERAGE,
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
)
from paper.protocol import Protocol
from paper.windows import Charge
from paper.wire import (
    Params,
    Problem,
    hmac_sha256_base64,
    note_refusal,
    plain,
    same_secret,
    staleness,
)
from paper.wire import Refusal as WireRefusal

# UNVERIFIED: the REST timestamp tolerance is documented for WS login only (30 s).
TIMESTAMP_TOLERANCE_MS = 30_000
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
MAX_BATCH = 20
MAX_PAGE = 100
CANCELED_UNFILLED_KEPT_MS = 2 * 3600 * 1000  # orders-history keeps these 2 hours only
HISTORY_MS = 7 * 24 * 3600 * 1000
FILLS_MS = 3 * 24 * 3600 * 1000  # /trade/fills: the last 3 days
FILLS_HISTORY_MS = 90 * 24 * 3600 * 1000  # /trade/fills-history: the last 3 months
# UNVERIFIED: cancelSource values ("1" canceled by user, "0" by the system) are not in the
# facts file, which only says cancelSource tells user cancels from engine ones.
CANCEL_SOURCE_USER = "1"
CANCEL_SOURCE_SYSTEM = "0"

STATES = {
    "new": "live",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "expired": "canceled",
    "rejected": "canceled",
}
# ordType -> (engine type, engine time in force)
ORDER_TYPES = {
    "market": ("market", "IOC"),
    "limit": ("limit", "GTC"),
    "post_only": ("limit", "POST_ONLY"),
    "fok": ("limit", "FOK"),
    "ioc": ("limit", "IOC"),
    "optimal_limit_ioc": ("market", "IOC"),
}

# PaperError kind -> (sCode, sMsg) on trade endpoints
REFUSALS = {
    "insufficient_funds": ("51008", "Order failed. Insufficient {ccy} balance in account"),
    "duplicate_client_order_id": ("51016", "Client order ID already exists."),
    "unknown_symbol": ("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist."),
    "invalid_quantity": ("51020", "Your order should meet or exceed the minimum order amount."),
    "invalid_price": ("51000", "Parameter px error"),
    "reduce_only_rejected": (
        "51169",
        "Order failed because you don't have any positions in "
        "this direction for this contract to reduce or close.",
    ),
    # PAPER-ONLY: real OKX accepts a post-only order that would take and then cancels it;
    # the engine refuses it outright, so it is answered as a parameter error.
    "post_only_would_take": (
        "51000",
        "Parameter ordType error: the post_only order would take liquidity",
    ),
    "permission_denied": ("50120", "This API key doesn't have permission to use this function"),
    "order_not_found": (
        "51400",
        "Order cancellation failed as the order has been filled, canceled or does not exist.",
    ),
    "order_not_cancelable": (
        "51400",
        "Order cancellation failed as the order has been filled, canceled or does not exist.",
    ),
}


class Refusal(WireRefusal):
    """A top-level error answer: ``{"code": code, "msg": msg, "data": []}``."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(code, msg, status=status)

    def response(self) -> web.Response:
        return web.json_response(
            {"code": self.code, "msg": self.message, "data": []}, status=self.status
        )


class AuthRefusal(Refusal):
    """A request that failed authentication: HTTP 401, counted as a signature failure."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(code, msg, 401)
        self.auth = True


class ItemRefusal(WireRefusal):
    """One failed item of a trade request (``sCode``/``sMsg``)."""


@dataclass
class WireOrder:
    """What the engine does not keep: how the order was expressed on the wire."""

    inst_type: str
    ord_type: str
    td_mode: str
    tgt_ccy: str
    quote_sz: str = ""  # a quote-sized spot market buy reports its quote amount as sz


def okx_signature(secret: str, prehash: str) -> str:
    return hmac_sha256_base64(secret, prehash)


def _decimal(text: Any, param: str) -> Decimal:
    """A positive decimal; anything else is ``Parameter <param> error``."""
    number = Params({param: text}, _refuse_item).decimal(param, required=True, positive=True)
    assert number is not None
    return number


def _refuse_item(name: str, problem: Problem) -> ItemRefusal:
    return ItemRefusal("51000", f"Parameter {name} error")


def _numeric_id(text: str) -> str:
    """A stable numeric id derived from ``text`` (OKX ids are digit strings)."""
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:13], 16))


def _iso_ms(text: str) -> int:
    parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class OkxProtocol(Protocol):
    exchange = "okx"
    key_header: ClassVar[str] = "OK-ACCESS-KEY"
    needs_passphrase: ClassVar[bool] = True  # OK-ACCESS-PASSPHRASE
    duplicate_scope = "open"  # clOrdId is unique among pending orders only
    write_routes: ClassVar[frozenset[str]] = frozenset(
        {
            "POST /api/v5/trade/order",
            "POST /api/v5/trade/batch-orders",
            "POST /api/v5/trade/cancel-order",
            "POST /api/v5/trade/cancel-batch-orders",
        }
    )

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self._wire: dict[str, WireOrder] = {}
        self._margin_leverage: dict[tuple[str, str, str], str] = {}

    def routes(self) -> list[web.RouteDef]:
        public, private = self._public, self._private
        return [
            web.get("/api/v5/public/time", public(self.server_time)),
            web.get("/api/v5/public/instruments", public(self.instruments)),
            web.get("/api/v5/market/ticker", public(self.ticker)),
            web.get("/api/v5/market/tickers", public(self.tickers)),
            web.get("/api/v5/account/instruments", private(self.account_instruments)),
            web.get("/api/v5/account/config", private(self.account_config)),
            web.get("/api/v5/asset/currencies", private(self.currencies)),
            web.get("/api/v5/account/balance", private(self.balance)),
            web.get("/api/v5/account/positions", private(self.positions)),
            web.get("/api/v5/account/leverage-info", private(self.leverage_info)),
            web.post("/api/v5/account/set-leverage", private(self.set_leverage, trade=True)),
            web.post("/api/v5/trade/order", private(self.place_order, trade=True)),
            web.post("/api/v5/trade/batch-orders", private(self.place_batch, trade=True)),
            web.post("/api/v5/trade/cancel-order", private(self.cancel_order, trade=True)),
            web.post("/api/v5/trade/cancel-batch-orders", private(self.cancel_batch, trade=True)),
            web.get("/api/v5/trade/order", private(self.get_order)),
            web.get("/api/v5/trade/orders-pending", private(self.orders_pending)),
            web.get("/api/v5/trade/orders-history", private(self.orders_history)),
            web.get("/api/v5/trade/orders-history-archive", private(self.orders_archive)),
            web.post("/api/v5/trade/cancel-all-after", private(self.cancel_all_after, trade=True)),
            web.get("/api/v5/trade/fills", private(self.fills)),
            web.get("/api/v5/trade/fills-history", private(self.fills_history)),
        ]

    # every OKX endpoint counts 1 against its own per-endpoint budget (no weights)
    def request_weight(self, request: web.Request) -> int:
        return 1

    async def request_charge(self, request: web.Request, path: str) -> tuple[Charge, str]:
        """Place and cancel count per instrument (``instId`` of the body); a batch counts
        its orders."""
        charge, api_key = await super().request_charge(request, path)
        if request.method != "POST":
            return charge, api_key
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            return charge, api_key
        if isinstance(body, list):
            return replace(charge, orders=max(1, len(body))), api_key
        instrument = body.get("instId") if isinstance(body, dict) else None
        return replace(charge, instrument=str(instrument or "")), api_key

    def rate_limited(self, retry_after: float) -> web.Response:
        # OKX sends no Retry-After (none documented); clients pause on 50011 themselves.
        return web.json_response(
            {
                "code": "50011",
                "msg": "Rate limit reached. Please refer "
                "to API documentation and throttle requests accordingly.",
                "data": [],
            },
            status=429,
        )

    def server_error(self) -> web.Response:
        return web.json_response(
            {
                "code": "50001",
                "msg": "Service temporarily unavailable. Please try again later.",
                "data": [],
            },
            status=503,
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _public(
        self, handler: Callable[[web.Request], web.Response]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                return handler(request)
            except Refusal as refusal:
                return refusal.response()

        return serve

    def _private(
        self,
        handler: Callable[[web.Request, PaperAccount, str], web.Response],
        *,
        trade: bool = False,
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            body = await request.text() if request.method == "POST" else ""
            try:
                account = self._authenticate(request, body)
                if request.method == "POST" and request.content_type != "application/json":
                    raise Refusal(
                        "50006", 'Invalid Content-Type. Please use "application/JSON".', 400
                    )
                if trade and "trade" not in account.permissions:
                    raise Refusal("50120", REFUSALS["permission_denied"][1])
                return handler(request, account, body)
            except Refusal as refusal:
                note_refusal(request, refusal)
                return refusal.response()

        return serve

    def _authenticate(self, request: web.Request, body: str) -> PaperAccount:
        return self._check_headers(request, body)

    def _check_headers(self, request: web.Request, body: str) -> PaperAccount:
        headers = request.headers
        for header, code in (
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
        ):
            if not headers.get(header):
                raise AuthRefusal(code, f'Request header "{header}" cannot be empty.')
        timestamp = headers["OK-ACCESS-TIMESTAMP"]
        if not ISO_MS.match(timestamp):
            raise AuthRefusal("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        try:
            sent_ms = _iso_ms(timestamp)
        except ValueError:
            raise AuthRefusal("50112", "Invalid OK-ACCESS-TIMESTAMP.") from None
        if staleness(
            sent_ms,
            self.engine.now_ms(),
            behind_ms=TIMESTAMP_TOLERANCE_MS,
            ahead_ms=TIMESTAMP_TOLERANCE_MS,
        ):
            raise AuthRefusal("50102", "Timestamp request expired.")
        account = self.engine.account(self.exchange, headers["OK-ACCESS-KEY"])
        if account is None:
            raise AuthRefusal("50111", "Invalid OK-ACCESS-KEY.")
        # Paper keys are live keys: a demo header does not match their environment.
        if headers.get("x-simulated-trading") == "1":
            raise AuthRefusal("50101", "APIKey does not match current environment.")
        if not same_secret(headers["OK-ACCESS-PASSPHRASE"], account.passphrase):
            raise AuthRefusal("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.')
        prehash = f"{timestamp}{request.method.upper()}{self._request_path(request)}{body}"
        if not same_secret(headers["OK-ACCESS-SIGN"], okx_signature(account.api_secret, prehash)):
            raise AuthRefusal("50113", "Invalid signature.")
        return account

    def _request_path(self, request: web.Request) -> str:
        """The path as the client signed it: query included, without our /okx mount."""
        raw = request.raw_path
        prefix = f"/{self.exchange}"
        return raw[len(prefix) :] if raw.startswith(prefix + "/") else raw

    @staticmethod
    def _ok(data: list[dict[str, Any]]) -> web.Response:
        return web.json_response({"code": "0", "msg": "", "data": data})

    def _trade_answer(self, items: list[dict[str, Any]]) -> web.Response:
        failed = sum(item["sCode"] != "0" for item in items)
        code, msg = (
            ("0", "")
            if not failed
            else (
                ("1", "All operations failed")
                if failed == len(items)
                else ("2", "Bulk operation partially succeeded.")
            )
        )
        now_us = str(self.engine.now_ms() * 1000)
        return web.json_response(
            {"code": code, "msg": msg, "data": items, "inTime": now_us, "outTime": now_us}
        )

    @staticmethod
    def _json(body: str) -> Any:
        if not body:
            raise Refusal("50000", "Body for POST request cannot be empty.", 400)
        try:
            return json.loads(body)
        except ValueError:
            raise Refusal("50002", "JSON syntax error", 400) from None

    @staticmethod
    def _required(params: Any, name: str) -> str:
        value = params.get(name)
        if value in (None, ""):
            raise Refusal("50014", f"Parameter {name} can not be empty.", 400)
        return str(value)

    # -- instruments and symbols ------------------------------------------------------------

    @staticmethod
    def inst_id(instrument: PaperInstrument) -> str:
        spot = f"{instrument.base}-{instrument.quote}"
        return spot if instrument.kind == "spot" else f"{spot}-SWAP"

    def _instrument(self, inst_id: str) -> PaperInstrument:
        for instrument in self.engine.instruments(self.exchange):
            if self.inst_id(instrument) == inst_id:
                return instrument
        raise Refusal("51001", REFUSALS["unknown_symbol"][1])

    def _lot(self, instrument: PaperInstrument) -> tuple[Decimal, Decimal]:
        """(lotSz, minSz) in wire units: base for spot, contracts for swaps."""
        per = instrument.contract_value if instrument.kind == "linear" else Decimal(1)
        return instrument.lot_size / per, instrument.min_quantity / per

    # {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "uly": "BTC-USDT", "settleCcy": "USDT",
    #  "ctVal": "0.01", "ctValCcy": "BTC", "ctType": "linear", "tickSz": "0.1", "lotSz": "0.1",
    #  "minSz": "0.1", "state": "live", ...}
    def _instrument_view(self, instrument: PaperInstrument, inst_type: str) -> dict[str, Any]:
        lot, minimum = self._lot(instrument)
        swap = instrument.kind == "linear"
        family = f"{instrument.base}-{instrument.quote}"
        return {
            "instType": inst_type,
            "instId": self.inst_id(instrument),
            "uly": family if swap else "",
            "instFamily": family if swap else "",
            "baseCcy": "" if swap else instrument.base,
            "quoteCcy": "" if swap else instrument.quote,
            "settleCcy": instrument.quote if swap else "",
            "ctVal": plain(instrument.contract_value) if swap else "",
            "ctMult": "1" if swap else "",
            "ctValCcy": instrument.base if swap else "",
            "ctType": "linear" if swap else "",
            "optType": "",
            "stk": "",
            "alias": "",
            "listTime": "1606468572000",
            "expTime": "",
            "lever": str(MAX_LEVERAGE) if swap or inst_type == "MARGIN" else "",
            "tickSz": plain(instrument.tick_size),
            "lotSz": plain(lot),
            "minSz": plain(minimum),
            "maxLmtSz": "10000000",
            "maxMktSz": "1000000",
            "state": "live",
            "ruleType": "normal",
            "category": "1",
        }

    def _instrument_list(self, request: web.Request) -> list[dict[str, Any]]:
        inst_type = self._required(request.query, "instType")
        kinds = {"SPOT": "spot", "MARGIN": "spot", "SWAP": "linear"}
        if inst_type not in (*kinds, "FUTURES", "OPTION"):
            raise Refusal("51000", "Parameter instType error", 400)
        wanted_id = request.query.get("instId")
        family = request.query.get("instFamily") or request.query.get("uly")
        return [
            self._instrument_view(item, inst_type)
            for item in self.engine.instruments(self.exchange)
            if kinds.get(inst_type) == item.kind
            and wanted_id in (None, "", self.inst_id(item))
            and family in (None, "", f"{item.base}-{item.quote}")
        ]

    def instruments(self, request: web.Request) -> web.Response:
        return self._ok(self._instrument_list(request))

    def account_instruments(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        return self._ok(self._instrument_list(request))

    # -- market data ------------------------------------------------------------------------

    def server_time(self, request: web.Request) -> web.Response:
        return self._ok([{"ts": str(self.engine.now_ms())}])

    # {"instType": "SPOT", "instId": "BTC-USDT", "last": "60000", "askPx": "60000",
    #  "bidPx": "60000", "ts": "1597026383085", ...} (the engine quotes no spread)
    def _ticker_view(self, instrument: PaperInstrument) -> dict[str, Any]:
        price = plain(self.engine.price(self.exchange, instrument.symbol))
        now = str(self.engine.now_ms())
        return {
            "instType": "SWAP" if instrument.kind == "linear" else "SPOT",
            "instId": self.inst_id(instrument),
            "last": price,
            "lastSz": "0",
            "askPx": price,
            "askSz": "1000",
            "bidPx": price,
            "bidSz": "1000",
            "open24h": price,
            "high24h": price,
            "low24h": price,
            "volCcy24h": "0",
            "vol24h": "0",
            "sodUtc0": price,
            "sodUtc8": price,
            "ts": now,
        }

    def ticker(self, request: web.Request) -> web.Response:
        instrument = self._instrument(self._required(request.query, "instId"))
        return self._ok([self._ticker_view(instrument)])

    def tickers(self, request: web.Request) -> web.Response:
        inst_type = self._required(request.query, "instType")
        kind = {"SPOT": "spot", "SWAP": "linear"}.get(inst_type)
        return self._ok(
            [
                self._ticker_view(item)
                for item in self.engine.instruments(self.exchange)
                if item.kind == kind
            ]
        )

    # -- account ----------------------------------------------------------------------------

    def account_config(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        uid = _numeric_id(account.api_key)
        perm = (
            ",".join(
                name
                for key, name in (
                    ("read", "read_only"),
                    ("trade", "trade"),
                    ("withdraw", "withdraw"),
                )
                if key in account.permissions
            )
            or "read_only"
        )
        return self._ok(
            [
                {
                    "uid": uid,
                    "mainUid": uid,
                    "acctLv": "2",
                    "posMode": "long_short_mode" if account.hedge_mode else "net_mode",
                    "perm": perm,
                    "ip": ",".join(account.ip_whitelist),
                    "label": "paper",
                    "level": "Lv1",
                    "levelTmp": "",
                    "kycLv": "2",
                    "type": "0",
                    "roleType": "0",
                    "spotRoleType": "0",
                    "acctStpMode": "cancel_maker",
                    "autoLoan": False,
                    "ctIsoMode": "automatic",
                    "mgnIsoMode": "automatic",
                    "greeksType": "PA",
                    "liquidationGear": "-1",
                    "enableSpotBorrow": False,
                    "spotBorrowAutoRepay": False,
                    "opAuth": "0",
                    "traderInsts": [],
                    "spotTraderInsts": [],
                }
            ]
        )

    # {"ccy": "BTC", "name": "Bitcoin", "chain": "BTC-Bitcoin", "canDep": true, "canWd": true,
    #  "canInternal": true, "minDep": "0.0005", "minWd": "0.0005", "maxWd": "500",
    #  "wdTickSz": "8", "minFee": "0.0002", "maxFee": "0.0004", "mainNet": true, ...}
    def currencies(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        """/api/v5/asset/currencies: every coin of the paper universe, one chain each named
        after the coin (the paper exchange moves nothing on chain)."""
        instruments = self.engine.instruments(self.exchange)
        coins = sorted({item.base for item in instruments} | {item.quote for item in instruments})
        wanted = {c for c in (request.query.get("ccy") or "").split(",") if c}
        return self._ok(
            [
                {
                    "ccy": coin,
                    "name": coin,
                    "chain": f"{coin}-{coin}",
                    "logoLink": "",
                    "canDep": True,
                    "canWd": True,
                    "canInternal": True,
                    "depQuotaFixed": "",
                    "minDep": "0",
                    "minWd": "0",
                    "maxWd": "1000000",
                    "wdTickSz": "8",
                    "wdQuota": "1000000",
                    "usedWdQuota": "0",
                    "minFee": "0",
                    "maxFee": "0",
                    "fee": "0",
                    "minFeeForCtAddr": "0",
                    "maxFeeForCtAddr": "0",
                    "burningFeeRate": "",
                    "mainNet": True,
                    "needTag": False,
                    "minDepArrivalConfirm": "1",
                    "minWdUnlockConfirm": "1",
                    "ctAddr": "",
                }
                for coin in coins
                if not wanted or coin in wanted
            ]
        )

    def _usd_value(self, asset: str, amount: Decimal) -> Decimal:
        if asset in ("USDT", "USDC", "USD"):
            return amount
        try:
            return amount * self.engine.price(self.exchange, f"{asset}/USDT")
        except PaperError:
            return Decimal(0)

    # {"totalEq": "...", "uTime": "...", "details": [{"ccy": "USDT", "eq": "...",
    #  "cashBal": "...", "availBal": "...", "frozenBal": "...", "ordFrozen": "...", ...}]}
    def balance(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        wanted = {c for c in (request.query.get("ccy") or "").split(",") if c}
        upl = sum(
            (p.unrealized_pnl for p in self.engine.positions(self.exchange, account)), Decimal(0)
        )
        now = str(self.engine.now_ms())
        details, total = [], Decimal(0)
        for ccy, (free, locked) in sorted(self.engine.balances(self.exchange, account).items()):
            if (wanted and ccy not in wanted) or (not wanted and not free + locked):
                continue
            ccy_upl = upl if ccy == "USDT" else Decimal(0)
            equity = free + locked + ccy_upl
            usd = self._usd_value(ccy, equity)
            total += usd
            details.append(
                {
                    "ccy": ccy,
                    "eq": plain(equity),
                    "cashBal": plain(free + locked),
                    "availBal": plain(free),
                    "availEq": plain(free),
                    "frozenBal": plain(locked),
                    "ordFrozen": plain(locked),
                    "eqUsd": plain(usd),
                    "disEq": plain(usd),
                    "upl": plain(ccy_upl),
                    "isoEq": "0",
                    "liab": "0",
                    "crossLiab": "0",
                    "interest": "0",
                    "fixedBal": "0",
                    "uTime": now,
                }
            )
        return self._ok(
            [
                {
                    "totalEq": plain(total),
                    "adjEq": plain(total),
                    "isoEq": "0",
                    "imr": "",
                    "mmr": "",
                    "mgnRatio": "",
                    "notionalUsd": "",
                    "upl": plain(upl),
                    "uTime": now,
                    "details": details,
                }
            ]
        )

    # {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "posSide": "net", "pos": "-2",
    #  "avgPx": "60000", "markPx": "60100", "upl": "-2", "lever": "10", "mgnMode": "cross", ...}
    def positions(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        inst_type = request.query.get("instType") or ""
        wanted = {i for i in (request.query.get("instId") or "").split(",") if i}
        if inst_type not in ("", "SWAP", "MARGIN", "FUTURES", "OPTION"):
            raise Refusal("51000", "Parameter instType error", 400)
        rows = []
        for held in self.engine.positions(self.exchange, account):
            instrument = self.engine.instrument(self.exchange, held.symbol)
            inst_id = self.inst_id(instrument)
            if inst_type not in ("", "SWAP") or (wanted and inst_id not in wanted):
                continue
            notional = abs(held.quantity) * held.mark_price
            contracts = held.quantity / instrument.contract_value
            rows.append(
                {
                    "instType": "SWAP",
                    "instId": inst_id,
                    "posId": _numeric_id(account.api_key + inst_id),
                    "posSide": "net",
                    "pos": plain(contracts),
                    "availPos": plain(abs(contracts)),
                    "avgPx": plain(held.entry_price),
                    "markPx": plain(held.mark_price),
                    "last": plain(held.mark_price),
                    "idxPx": plain(held.mark_price),
                    "upl": plain(held.unrealized_pnl),
                    "lever": str(held.leverage),
                    "liqPx": "",
                    "mgnMode": "cross",
                    "margin": "",
                    "imr": plain(notional / held.leverage),
                    "mmr": "",
                    "mgnRatio": "",
                    "notionalUsd": plain(notional),
                    "ccy": instrument.quote,
                    "adl": "1",
                    "realizedPnl": "0",
                    "cTime": str(self.engine.now_ms()),
                    "uTime": str(self.engine.now_ms()),
                }
            )
        return self._ok(rows)

    def _lever(self, order: PaperOrder) -> str:
        account = self.engine.account(self.exchange, order.api_key)
        return str(self.engine.leverage(account, order.symbol) if account else DEFAULT_LEVERAGE)

    def set_leverage(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, dict):
            raise Refusal("51000", "Parameter body error", 400)
        inst_id = self._required(args, "instId")
        lever = self._required(args, "lever")
        mgn_mode = self._required(args, "mgnMode")
        if mgn_mode not in ("cross", "isolated"):
            raise Refusal("51000", "Parameter mgnMode error", 400)
        if not re.fullmatch(r"\d+(\.\d+)?", lever) or not 1 <= Decimal(lever) <= MAX_LEVERAGE:
            raise Refusal("51000", "Parameter lever error", 400)
        instrument = self._instrument(inst_id)
        if instrument.kind == "linear":
            self.engine.set_leverage(self.exchange, account, instrument.symbol, int(Decimal(lever)))
        else:  # spot margin leverage is not simulated; remembered for leverage-info
            self._margin_leverage[(account.api_key, inst_id, mgn_mode)] = lever
        return self._ok(
            [
                {
                    "lever": lever,
                    "mgnMode": mgn_mode,
                    "instId": inst_id,
                    "posSide": str(args.get("posSide") or "net"),
                }
            ]
        )

    def leverage_info(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        mgn_mode = self._required(request.query, "mgnMode")
        rows = []
        for inst_id in self._required(request.query, "instId").split(","):
            instrument = self._instrument(inst_id)
            lever = (
                str(self.engine.leverage(account, instrument.symbol))
                if instrument.kind == "linear"
                else self._margin_leverage.get((account.api_key, inst_id, mgn_mode), "1")
            )
            rows.append({"instId": inst_id, "mgnMode": mgn_mode, "posSide": "net", "lever": lever})
        return self._ok(rows)

    # -- orders -----------------------------------------------------------------------------

    def place_order(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, dict):
            raise Refusal("51000", "Parameter body error", 400)
        for name in ("instId", "tdMode", "side", "ordType", "sz"):
            self._required(args, name)
        item = {
            "clOrdId": str(args.get("clOrdId") or ""),
            "ordId": "",
            "tag": str(args.get("tag") or ""),
            "ts": str(self.engine.now_ms()),
            "sCode": "0",
            "sMsg": "Order placed",
            "subCode": "",
        }
        try:
            self._check_deadline(request)
            order = self._place(account, args)
        except ItemRefusal as refusal:
            item.update(sCode=refusal.code, sMsg=refusal.message)
        except Refusal as refusal:  # an unknown instId inside a trade item
            item.update(sCode=refusal.code, sMsg=refusal.message)
        else:
            request["order_accepted"] = True
            item["ordId"] = order.order_id
        return self._trade_answer([item])

    def place_batch(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        """/api/v5/trade/batch-orders: up to 20 orders, each placed or refused on its own
        (``sCode`` per item; code 1 when all failed, 2 when some did)."""
        args = self._json(body)
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise Refusal("51000", "Parameter body error", 400)
        if len(args) > MAX_BATCH:
            raise Refusal(
                "51004", f"Order failed. The number of orders exceeds the limit {MAX_BATCH}.", 400
            )
        for one in args:
            for name in ("instId", "tdMode", "side", "ordType", "sz"):
                self._required(one, name)
        items = []
        for one in args:
            item = {
                "clOrdId": str(one.get("clOrdId") or ""),
                "ordId": "",
                "tag": str(one.get("tag") or ""),
                "ts": str(self.engine.now_ms()),
                "sCode": "0",
                "sMsg": "Order placed",
                "subCode": "",
            }
            try:
                self._check_deadline(request)
                order = self._place(account, one)
            except (ItemRefusal, Refusal) as refusal:
                item.update(sCode=refusal.code, sMsg=refusal.message)
            else:
                request["order_accepted"] = True
                item["ordId"] = order.order_id
            items.append(item)
        return self._trade_answer(items)

    def _check_deadline(self, request: web.Request) -> None:
        """``expTime`` header: a request past it is not processed (field report: HTTP 200,
        code 1, item sCode 50036)."""
        deadline = request.headers.get("expTime")
        if deadline is None:
            return
        if not deadline.isdigit():
            raise ItemRefusal("51000", "Parameter expTime error")
        if self.engine.now_ms() > int(deadline):
            raise ItemRefusal(
                "50036",
                "The expTime can't be earlier than the current system "
                "time. Please adjust the expTime and try again.",
            )

    def _place(self, account: PaperAccount, args: dict[str, Any]) -> PaperOrder:
        instrument = self._instrument(str(args["instId"]))
        swap = instrument.kind == "linear"
        td_mode, side, ord_type = str(args["tdMode"]), str(args["side"]), str(args["ordType"])
        if td_mode not in (("cross", "isolated") if swap else ("cash", "cross", "isolated")):
            raise ItemRefusal("51000", "Parameter tdMode error")
        if side not in ("buy", "sell"):
            raise ItemRefusal("51000", "Parameter side error")
        if ord_type not in ORDER_TYPES or (ord_type == "optimal_limit_ioc" and not swap):
            raise ItemRefusal("51000", "Parameter ordType error")
        client_id = str(args.get("clOrdId") or "") or None
        if client_id is not None and not CLIENT_ID.fullmatch(client_id):
            raise ItemRefusal("51000", "Parameter clOrdId error")
        self._check_position_side(account, swap, str(args.get("posSide") or ""))
        engine_type, time_in_force = ORDER_TYPES[ord_type]
        price = None
        if engine_type == "limit":
            if args.get("px") in (None, ""):
                raise ItemRefusal("51204", "The price for the limit order cannot be empty.")
            price = _decimal(args["px"], "px")
        tgt_ccy = self._target_currency(args, swap, engine_type, side)
        size = _decimal(args["sz"], "sz")
        quantity, quote_amount = self._base_quantity(instrument, size, tgt_ccy, side)
        try:
            order = self.engine.place_order(
                self.exchange,
                account,
                symbol=instrument.symbol,
                side=side,
                type=engine_type,
                quantity=quantity,
                price=price,
                time_in_force=time_in_force,
                client_order_id=client_id,
                quote_quantity=quote_amount,
                reduce_only=str(args.get("reduceOnly", "")).lower() == "true",
            )
        except PaperError as exc:
            code, msg = REFUSALS.get(exc.kind, ("51000", exc.message))
            raise ItemRefusal(code, msg.format(ccy=instrument.quote)) from None
        self._wire[order.order_id] = WireOrder(
            inst_type="SWAP" if swap else ("SPOT" if td_mode == "cash" else "MARGIN"),
            ord_type=ord_type,
            td_mode=td_mode,
            tgt_ccy=tgt_ccy,
            quote_sz=plain(size) if quote_amount is not None else "",
        )
        return order

    @staticmethod
    def _check_position_side(account: PaperAccount, swap: bool, pos_side: str) -> None:
        """Net mode takes no posSide (or ``net``); long/short mode needs long or short on
        swaps and none on spot."""
        allowed = ("long", "short") if account.hedge_mode and swap else ("", "net")
        if pos_side not in allowed:
            raise ItemRefusal("51000", "Parameter posSide error")

    @staticmethod
    def _target_currency(args: dict[str, Any], swap: bool, engine_type: str, side: str) -> str:
        """Spot market orders: buy defaults to quote_ccy, sell to base_ccy."""
        if swap or engine_type != "market":
            return ""
        tgt_ccy = str(args.get("tgtCcy") or ("quote_ccy" if side == "buy" else "base_ccy"))
        if tgt_ccy not in ("base_ccy", "quote_ccy"):
            raise ItemRefusal("51000", "Parameter tgtCcy error")
        return tgt_ccy

    def _base_quantity(
        self, instrument: PaperInstrument, size: Decimal, tgt_ccy: str, side: str
    ) -> tuple[Decimal | None, Decimal | None]:
        """(base quantity, quote amount) for the engine: swaps count contracts x ctVal."""
        if tgt_ccy == "quote_ccy":
            if side == "buy":
                return None, size
            price = self.engine.price(self.exchange, instrument.symbol)
            base = (size / price / instrument.lot_size).to_integral_value(ROUND_DOWN)
            return base * instrument.lot_size, None
        lot, minimum = self._lot(instrument)
        if size % lot != 0:
            raise ItemRefusal("51121", "Order quantity must be a multiple of the lot size.")
        if size < minimum:
            raise ItemRefusal("51020", REFUSALS["invalid_quantity"][1])
        per = instrument.contract_value if instrument.kind == "linear" else Decimal(1)
        return size * per, None

    def cancel_order(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, dict):
            raise Refusal("51000", "Parameter body error", 400)
        return self._cancel_answer(request, [self._cancel_one(account, args)])

    def cancel_batch(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        args = self._json(body)
        if not isinstance(args, list) or not args or not all(isinstance(a, dict) for a in args):
            raise Refusal("51000", "Parameter body error", 400)
        if len(args) > MAX_BATCH:
            raise Refusal("51406", f"Canceled - order count exceeds the limit {MAX_BATCH}.", 400)
        return self._cancel_answer(request, [self._cancel_one(account, item) for item in args])

    def _cancel_answer(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        if any(item["sCode"] == "0" for item in items):
            request["cancel_applied"] = True
        return self._trade_answer(items)

    def _cancel_one(self, account: PaperAccount, args: dict[str, Any]) -> dict[str, Any]:
        order_id, client_id = str(args.get("ordId") or ""), str(args.get("clOrdId") or "")
        item = {
            "clOrdId": client_id,
            "ordId": order_id,
            "ts": str(self.engine.now_ms()),
            "sCode": "0",
            "sMsg": "",
        }
        try:
            instrument = self._instrument(self._required(args, "instId"))
            if not order_id and not client_id:
                raise ItemRefusal("51003", "Either client order ID or order ID is required.")
            order = self.engine.cancel_order(
                self.exchange,
                account,
                symbol=instrument.symbol,
                order_id=order_id or None,
                client_order_id=None if order_id else client_id,
            )
        except (Refusal, ItemRefusal) as refusal:
            item.update(sCode=refusal.code, sMsg=refusal.message)
        except PaperError as exc:
            code, msg = REFUSALS.get(exc.kind, ("51400", exc.message))
            item.update(sCode=code, sMsg=msg)
        else:
            item.update(ordId=order.order_id, clOrdId=order.client_order_id or "")
        return item

    def get_order(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        instrument = self._instrument(self._required(request.query, "instId"))
        order_id = request.query.get("ordId") or None
        client_id = request.query.get("clOrdId") or None
        if not order_id and not client_id:
            raise Refusal("51003", "Either client order ID or order ID is required.")
        order = self.engine.get_order(
            self.exchange,
            account,
            order_id=order_id,
            client_order_id=None if order_id else client_id,
        )
        if order is None or order.symbol != instrument.symbol:
            raise Refusal("51603", "Order does not exist")
        return self._ok([self._order_view(order)])

    def orders_pending(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        orders = self.engine.open_orders(self.exchange, account)
        return self._ok(self._order_page(request, list(reversed(orders))))

    def orders_history(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        return self._ok(self._history(request, account, archive=False))

    def cancel_all_after(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        """The dead-man switch: ``timeOut`` "0" (off) or 10..120 s, the whole account. A
        tag-level switch is refused: the paper engine keeps no order tags (PAPER-ONLY)."""
        args = self._json(body)
        if not isinstance(args, dict):
            raise Refusal("51000", "Parameter body error", 400)
        text = str(args.get("timeOut", ""))
        if not text.isdigit() or (int(text) != 0 and not 10 <= int(text) <= 120):
            raise Refusal("51000", "Parameter timeOut error", 400)
        if args.get("tag"):
            raise Refusal("51000", "Parameter tag error (no tag-level CAA on paper)", 400)
        now = self.engine.now_ms()
        trigger = 0
        if int(text) == 0:
            self.engine.dead_man.disarm(account)
        else:
            switch = self.engine.dead_man.arm(account, seconds=int(text))
            trigger = now + int(switch.seconds * 1000)
        return self._ok([{"triggerTime": str(trigger), "tag": "", "ts": str(now)}])

    def orders_archive(
        self, request: web.Request, account: PaperAccount, body: str
    ) -> web.Response:
        return self._ok(self._history(request, account, archive=True))

    def _history(
        self, request: web.Request, account: PaperAccount, *, archive: bool
    ) -> list[dict[str, Any]]:
        """Terminal orders, newest first. Canceled orders without fills stay 2 hours in
        orders-history and never reach the archive."""
        self._required(request.query, "instType")
        now = self.engine.now_ms()
        kept = []
        for order in self.engine.order_history(self.exchange, account):
            unfilled_cancel = order.status != "filled" and not order.filled_quantity
            if (
                order.is_open
                or (archive and unfilled_cancel)
                or (
                    not archive
                    and (
                        now - order.created_ms > HISTORY_MS
                        or (unfilled_cancel and now - order.updated_ms > CANCELED_UNFILLED_KEPT_MS)
                    )
                )
            ):
                continue
            kept.append(order)
        return self._order_page(request, kept)

    def _order_page(self, request: web.Request, orders: list[PaperOrder]) -> list[dict[str, Any]]:
        """Filter by instType/instId/ordType/state, then ordId pagination (after = older)."""
        query = request.query
        limit = query.get("limit") or str(MAX_PAGE)
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
            raise Refusal("51000", "Parameter limit error", 400)
        views = [self._order_view(order) for order in orders]
        for field in ("instType", "instId", "ordType", "state"):
            if query.get(field):
                views = [view for view in views if view[field] == query[field]]
        if query.get("after", "").isdigit():
            views = [view for view in views if int(view["ordId"]) < int(query["after"])]
        if query.get("before", "").isdigit():
            views = [view for view in views if int(view["ordId"]) > int(query["before"])]
        return views[: int(limit)]

    def fills(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        """/api/v5/trade/fills: the last 3 days' fills, newest first."""
        return self._ok(self._fill_page(request, account, FILLS_MS))

    def fills_history(self, request: web.Request, account: PaperAccount, body: str) -> web.Response:
        """/api/v5/trade/fills-history: the last 3 months (instType required)."""
        self._required(request.query, "instType")
        return self._ok(self._fill_page(request, account, FILLS_HISTORY_MS))

    def _fill_page(
        self, request: web.Request, account: PaperAccount, kept_ms: int
    ) -> list[dict[str, Any]]:
        """Newest first; instType/instId/instFamily/ordId filters, begin/end on the fill time,
        billId pagination (after = older, before = newer), at most ``limit`` (100)."""
        query = request.query
        limit = query.get("limit") or str(MAX_PAGE)
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
            raise Refusal("51000", "Parameter limit error", 400)
        oldest = self.engine.now_ms() - kept_ms
        begin, end = query.get("begin", ""), query.get("end", "")
        since = max(int(begin), oldest) if begin.isdigit() else oldest
        views = [
            self._fill_view(order, fill)
            for order, fill in self.engine.account_fills(
                self.exchange, account, since_ms=since, until_ms=int(end) if end.isdigit() else None
            )
        ]
        for field in ("instType", "instId", "ordId"):
            if query.get(field):
                views = [view for view in views if view[field] == query[field]]
        family = query.get("instFamily") or query.get("uly")
        if family:
            views = [view for view in views if view["instId"].startswith(f"{family}-SWAP")]
        if query.get("after", "").isdigit():
            views = [view for view in views if int(view["billId"]) < int(query["after"])]
        if query.get("before", "").isdigit():
            views = [view for view in views if int(view["billId"]) > int(query["before"])]
        return views[: int(limit)]

    # {"instType": "SPOT", "instId": "BTC-USDT", "tradeId": "123", "ordId": "...",
    #  "clOrdId": "b16", "billId": "1111", "fillPx": "30000", "fillSz": "0.01", "side": "buy",
    #  "execType": "M", "feeCcy": "BTC", "fee": "-0.00001", "ts": "...", "fillTime": "..."}
    def _fill_view(self, order: PaperOrder, fill: PaperFill) -> dict[str, Any]:
        """One trade; swap sizes in contracts; the fee as a balance change (paid: negative);
        the paper's bill id is the trade id."""
        instrument = self.engine.instrument(self.exchange, order.symbol)
        swap = instrument.kind == "linear"
        per = instrument.contract_value if swap else Decimal(1)
        wire = self._wire.get(order.order_id)
        return {
            "instType": wire.inst_type if wire else ("SWAP" if swap else "SPOT"),
            "instId": self.inst_id(instrument),
            "tradeId": fill.trade_id,
            "ordId": order.order_id,
            "clOrdId": order.client_order_id or "",
            "billId": fill.trade_id,
            "subType": "1" if order.side == "buy" else "2",
            "tag": "",
            "fillPx": plain(fill.price),
            "fillSz": plain(fill.quantity / per),
            "fillIdxPx": plain(fill.price),
            "fillPnl": "0",
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
            "fillMarkPx": plain(fill.price) if swap else "",
            "side": order.side,
            "posSide": "net" if swap else "",
            "execType": "M" if fill.maker else "T",
            "feeCcy": fill.fee_asset,
            "fee": plain(-fill.fee),
            "feeRate": "0",
            "ts": str(fill.time_ms),
            "fillTime": str(fill.time_ms),
            "tradeQuoteCcy": instrument.quote if not swap else "",
        }

    # {"instType": "SPOT", "instId": "BTC-USDT", "ordId": "...", "clOrdId": "b15", "px": "2.15",
    #  "sz": "2", "ordType": "limit", "side": "buy", "posSide": "", "tdMode": "cash",
    #  "accFillSz": "0", "avgPx": "", "state": "live", "cancelSource": "", "cTime": "...", ...}
    def _order_view(self, order: PaperOrder) -> dict[str, Any]:
        instrument = self.engine.instrument(self.exchange, order.symbol)
        swap = instrument.kind == "linear"
        per = instrument.contract_value if swap else Decimal(1)
        wire = self._wire.get(order.order_id) or WireOrder(
            inst_type="SWAP" if swap else "SPOT",
            ord_type=_ord_type_of(order),
            td_mode="cross" if swap else "cash",
            tgt_ccy="",
        )
        filled = order.filled_quantity / per
        closed_by_engine = order.status in ("expired", "rejected")
        return {
            "instType": wire.inst_type,
            "instId": self.inst_id(instrument),
            "ordId": order.order_id,
            "clOrdId": order.client_order_id or "",
            "tag": "",
            "px": plain(order.price),
            "sz": wire.quote_sz or plain(order.quantity / per),
            "ordType": wire.ord_type,
            "side": order.side,
            "posSide": "net" if swap else "",
            "tdMode": wire.td_mode,
            "tgtCcy": wire.tgt_ccy,
            "ccy": "",
            "accFillSz": plain(filled),
            "fillSz": plain(filled),
            "fillPx": plain(order.average_price),
            "avgPx": plain(order.average_price),
            "fillTime": str(order.updated_ms) if filled else "",
            "tradeId": "",
            "state": STATES[order.status],
            "lever": self._lever(order) if swap else "",
            "fee": "0",
            "feeCcy": instrument.quote,
            "rebate": "0",
            "rebateCcy": instrument.quote,
            "pnl": "0",
            "category": "normal",
            "reduceOnly": "true" if order.reduce_only else "false",
            "cancelSource": (
                CANCEL_SOURCE_USER
                if order.canceled_by_user
                else CANCEL_SOURCE_SYSTEM
                if closed_by_engine
                else ""
            ),
            "cancelSourceReason": "",
            "source": "",
            "stpMode": "cancel_maker",
            "cTime": str(order.created_ms),
            "uTime": str(order.updated_ms),
        }


def _ord_type_of(order: PaperOrder) -> str:
    if order.type == "market":
        return "market"
    return {"POST_ONLY": "post_only", "FOK": "fok", "IOC": "ioc"}.get(order.time_in_force, "limit")
