"""Bybit v5 on the paper exchange: the real ``/v5/...`` paths, headers and envelopes.

Written from docs/exchanges/bybit.md only (never from exchanges/bybit.py), so a
signing bug in the connector cannot hide by agreeing with itself. Every answer is
``{retCode, retMsg, result, retExtInfo, time}``; business errors come with HTTP 200. Private
calls carry ``X-BAPI-API-KEY``, ``X-BAPI-TIMESTAMP`` (ms), ``X-BAPI-RECV-WINDOW`` (default
5000) and ``X-BAPI-SIGN`` = hex HMAC-SHA256(secret, timestamp + key + recvWindow + payload),
the payload being the query string exactly as sent (GET) or the raw JSON body (POST).
Quantities are base currency on spot and linear alike; a spot market Buy is sized in quote
unless ``marketUnit=baseCoin``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from paper.engine import (
    PaperAccount,
    PaperError,
    PaperFill,
    PaperInstrument,
    PaperOrder,
    PaperPosition,
)
from paper.protocol import Protocol
from paper.wire import (
    MISSING,
    Problem,
    Refusal,
    decimal_places,
    hmac_sha256_hex,
    note_refusal,
    plain,
    same_secret,
    staleness,
)
from paper.wire import Params as WireParams

DEFAULT_RECV_WINDOW_MS = 5000
AHEAD_LIMIT_MS = 999  # a timestamp 1 s or more ahead of the server is refused
HISTORY_SPAN_MS = 7 * 86_400_000  # /v5/order/history answers at most 7 days at once
MAX_CLOSED_IN_REALTIME = 500  # openOnly=1 shows the most recent closed orders
ORDER_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
CATEGORIES = {"spot": "spot", "linear": "linear"}  # Bybit category -> engine kind
# Categories Bybit lists that the paper exchange trades nothing in: its instrument list for
# them is empty (ccxt's market loading asks for every category).
UNTRADED_CATEGORIES = ("inverse", "option")
EXECUTIONS_LIMIT = (1, 100, 50)  # /v5/execution/list: min, max, default

OK = 0
PARAMS_ERROR = 10001
# DCP's product -> the engine's product it covers ("": options, which the paper lacks)
DCP_PRODUCTS = {"SPOT": "spot", "DERIVATIVES": "linear", "OPTIONS": ""}
TIMESTAMP_ERROR = 10002
INVALID_KEY = 10003
SIGN_ERROR = 10004
PERMISSION_DENIED = 10005
TOO_MANY_VISITS = 10006
LEVERAGE_NOT_MODIFIED = 110043

# PaperError kind -> (retCode, retMsg), per category (codes from the facts' error table).
LINEAR_ERRORS: dict[str, tuple[int, str]] = {
    "insufficient_funds": (110007, "Insufficient available balance"),
    "duplicate_client_order_id": (110072, "OrderLinkedID is duplicate"),
    "order_not_found": (110001, "Order does not exist"),
    "reduce_only_rejected": (110017, "ReduceOnly rule not satisfied"),
    "permission_denied": (
        PERMISSION_DENIED,
        "Permission denied, please check your API key permissions.",
    ),
}
SPOT_ERRORS: dict[str, tuple[int, str]] = {
    "insufficient_funds": (170131, "Balance insufficient"),
    "duplicate_client_order_id": (170141, "Duplicate clientOrderId"),
    "order_not_found": (170213, "Order does not exist."),
    "permission_denied": LINEAR_ERRORS["permission_denied"],
}
COMMON_ERRORS: dict[str, tuple[int, str]] = {
    "unknown_symbol": (PARAMS_ERROR, "params error: symbol invalid"),
    "invalid_quantity": (PARAMS_ERROR, "params error: qty invalid"),
    "invalid_price": (PARAMS_ERROR, "params error: price invalid"),
    # PAPER-ONLY: real Bybit accepts a PostOnly order that would take and then cancels it
    # (rejectReason EC_PostOnlyWillTakeLiquidity); the paper engine refuses it at once.
    "post_only_would_take": (PARAMS_ERROR, "params error: PostOnly order would take liquidity"),
}
# Canceling an order that is no longer open: (linear, spot) by the order's final state.
NOT_CANCELABLE: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "filled": ((110008, "Order has been finished or canceled"), (170139, "Order has been filled.")),
    "canceled": ((110010, "Order already cancelled"), (170142, "Order has been canceled.")),
}

ORDER_STATUS = {
    "new": "New",
    "partially_filled": "PartiallyFilled",
    "filled": "Filled",
    "rejected": "Rejected",
}
SIDES = {"Buy": "buy", "Sell": "sell"}
ORDER_TYPES = {"Market": "market", "Limit": "limit"}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "POST_ONLY"}
ENGINE_TIME_IN_FORCE = {value: key for key, value in TIME_IN_FORCE.items()}
# Per-endpoint limits reported in X-Bapi-Limit (the facts' default table), requests/s.
ENDPOINT_LIMITS = {
    "/v5/order/create": 10,
    "/v5/order/cancel": 10,
    "/v5/order/cancel-all": 10,
    "/v5/user/query-api": 10,
}
DEFAULT_ENDPOINT_LIMIT = 50

Params = dict[str, Any]
PublicEndpoint = Callable[[Params], Any]
PrivateEndpoint = Callable[[web.Request, PaperAccount, Params], Any]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class BybitError(Refusal):
    """``retCode`` and ``retMsg``, mostly with HTTP 200."""

    def __init__(self, code: int, message: str, *, status: int = 200, auth: bool = False) -> None:
        super().__init__(code, message, status=status, auth=auth)


def sign(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """The paper side's own signature: hex HMAC-SHA256 of the plain concatenation."""
    return hmac_sha256_hex(secret, f"{timestamp}{api_key}{recv_window}{payload}")


def num(value: Decimal | int | None) -> str:
    """Bybit sends numbers as strings, plain notation."""
    return plain(value)


def _refuse_param(name: str, problem: Problem) -> BybitError:
    return BybitError(
        PARAMS_ERROR, f"params error: {name} {'is required' if problem == MISSING else 'invalid'}"
    )


def _decimal(params: Params, name: str, *, required: bool = True) -> Decimal | None:
    return WireParams(params, _refuse_param).decimal(name, required=required)


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


class BybitProtocol(Protocol):
    exchange: ClassVar[str] = "bybit"
    key_header: ClassVar[str] = "X-BAPI-API-KEY"
    # "must be unique" (facts §3): a repeated orderLinkId is refused even after it closed.
    duplicate_scope = "all"
    write_routes: ClassVar[frozenset[str]] = frozenset(
        {"POST /v5/order/create", "POST /v5/order/cancel", "POST /v5/order/cancel-all"}
    )

    def routes(self) -> list[web.RouteDef]:
        public, private, trade = self._public, self._private, self._trading
        return [
            web.get("/v5/market/time", public(self.server_time)),
            web.get("/v5/market/instruments-info", public(self.instruments_info)),
            web.get("/v5/market/tickers", public(self.tickers)),
            web.get("/v5/user/query-api", private(self.query_api)),
            web.get("/v5/asset/coin/query-info", private(self.coin_info)),
            web.get("/v5/account/info", private(self.account_info)),
            web.get("/v5/account/wallet-balance", private(self.wallet_balance)),
            web.get("/v5/position/list", private(self.position_list)),
            web.post("/v5/position/set-leverage", trade(self.set_leverage)),
            web.post("/v5/order/create", trade(self.create_order)),
            web.post("/v5/order/cancel", trade(self.cancel_order)),
            web.post("/v5/order/cancel-all", trade(self.cancel_all)),
            web.post("/v5/order/disconnected-cancel-all", trade(self.set_dcp)),
            web.get("/v5/order/realtime", private(self.realtime_orders)),
            web.get("/v5/order/history", private(self.order_history)),
            web.get("/v5/execution/list", private(self.execution_list)),
        ]

    # -- what the fault middleware asks ------------------------------------------------

    def request_weight(self, request: web.Request) -> int:
        """Bybit counts requests, not weights (per-endpoint, per-UID limits): each is 1."""
        return 1

    async def request_product(self, request: web.Request, path: str) -> str:
        """The ``category`` (query or JSON body): the UID limits are counted per product."""
        if request.method == "GET":
            category = request.query.get("category")
        else:
            try:
                body = json.loads(await request.text() or "{}")
            except ValueError:
                body = None
            category = body.get("category") if isinstance(body, dict) else None
        return CATEGORIES.get(str(category), "spot")

    def rate_limited(self, retry_after: float) -> web.Response:
        """The per-UID API limit: HTTP 200, retCode 10006, and the reset time in ms."""
        reset_ms = self.engine.now_ms() + int(retry_after * 1000)
        body = self._envelope({}, TOO_MANY_VISITS, "Too many visits. Exceeded the API Rate Limit.")
        return web.json_response(
            body,
            headers={
                "X-Bapi-Limit": str(DEFAULT_ENDPOINT_LIMIT),
                "X-Bapi-Limit-Status": "0",
                "X-Bapi-Limit-Reset-Timestamp": str(reset_ms),
            },
        )

    def server_error(self) -> web.Response:
        return web.Response(
            status=503, text="503 Service Temporarily Unavailable", content_type="text/html"
        )

    # -- plumbing ----------------------------------------------------------------------

    def _envelope(self, result: Any, code: int = OK, message: str = "OK") -> dict[str, Any]:
        return {
            "retCode": code,
            "retMsg": message,
            "result": {} if result is None else result,
            "retExtInfo": {},
            "time": self.engine.now_ms(),
        }

    def _public(self, endpoint: PublicEndpoint) -> Handler:
        return self._handler(lambda _request, _account, params: endpoint(params), None)

    def _private(self, endpoint: PrivateEndpoint) -> Handler:
        return self._handler(endpoint, "read")

    def _trading(self, endpoint: PrivateEndpoint) -> Handler:
        return self._handler(endpoint, "trade")

    def _handler(
        self, endpoint: Callable[[web.Request, Any, Params], Any], permission: str | None
    ) -> Handler:
        """Read the payload, authenticate (private endpoints), run, wrap in the envelope."""

        async def handle(request: web.Request) -> web.Response:
            headers = self._limit_headers(request) if permission else {}
            try:
                payload = await self._payload(request)
                account = self._authenticate(request, payload) if permission else None
                if permission == "trade" and (
                    account is None or "trade" not in account.permissions
                ):
                    raise BybitError(*LINEAR_ERRORS["permission_denied"])
                result = endpoint(request, account, self._params(request, payload))
            except BybitError as error:
                note_refusal(request, error)
                body = self._envelope({}, error.code, error.message)
                return web.json_response(body, status=error.status, headers=headers)
            return web.json_response(self._envelope(result), headers=headers)

        return handle

    def _limit_headers(self, request: web.Request) -> dict[str, str]:
        suffix = next((path for path in ENDPOINT_LIMITS if request.path.endswith(path)), "")
        limit = ENDPOINT_LIMITS.get(suffix, DEFAULT_ENDPOINT_LIMIT)
        return {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(limit - 1),
            "X-Bapi-Limit-Reset-Timestamp": str(self.engine.now_ms()),
        }

    @staticmethod
    async def _payload(request: web.Request) -> str:
        """What was signed: the query string exactly as sent, or the raw JSON body."""
        if request.method == "GET":
            return request.rel_url.raw_query_string
        return await request.text()

    @staticmethod
    def _params(request: web.Request, payload: str) -> Params:
        if request.method == "GET":
            return dict(request.query)
        try:
            body = json.loads(payload or "{}")
        except ValueError:
            raise BybitError(PARAMS_ERROR, "params error: the body is not JSON") from None
        if not isinstance(body, dict):
            raise BybitError(PARAMS_ERROR, "params error: the body must be a JSON object")
        return body

    def _authenticate(self, request: web.Request, payload: str) -> PaperAccount:
        api_key = request.headers.get("X-BAPI-API-KEY", "")
        timestamp = request.headers.get("X-BAPI-TIMESTAMP", "")
        signature = request.headers.get("X-BAPI-SIGN", "")
        recv_window = request.headers.get("X-BAPI-RECV-WINDOW", str(DEFAULT_RECV_WINDOW_MS))
        account = self.engine.account(self.exchange, api_key) if api_key else None
        if account is None or not timestamp or not signature:
            # Wrong key or missing auth headers: HTTP 401 (error page), retCode 10003.
            raise BybitError(INVALID_KEY, "API key is invalid.", status=401, auth=True)
        self._check_timestamp(timestamp, recv_window)
        origin = f"{timestamp}{api_key}{recv_window}{payload}"
        expected = sign(account.api_secret, timestamp, api_key, recv_window, payload)
        if not same_secret(signature.lower(), expected):
            raise BybitError(SIGN_ERROR, f"error sign! origin_string[{origin}]", auth=True)
        return account

    def _check_timestamp(self, timestamp: str, recv_window: str) -> None:
        if not timestamp.isdigit() or not recv_window.isdigit():
            raise BybitError(
                TIMESTAMP_ERROR,
                "invalid request, please check your timestamp and recv_window param",
                auth=True,
            )
        sent, window, now = int(timestamp), int(recv_window), self.engine.now_ms()
        if staleness(sent, now, behind_ms=window, ahead_ms=AHEAD_LIMIT_MS):
            raise BybitError(
                TIMESTAMP_ERROR,
                "invalid request, please check your server timestamp or "
                f"recv_window param. req_timestamp[{sent}],server_timestamp[{now}],"
                f"recv_window[{window}]",
                auth=True,
            )

    # -- symbols -----------------------------------------------------------------------

    def _kind(self, params: Params, allowed: tuple[str, ...] = ("spot", "linear")) -> str:
        category = params.get("category")
        if not category:
            raise BybitError(PARAMS_ERROR, "params error: category is required")
        if category not in allowed:
            raise BybitError(
                PARAMS_ERROR, f"params error: category {category} is not supported here"
            )
        return CATEGORIES[category]

    def _instruments(self, kind: str) -> dict[str, PaperInstrument]:
        """Bybit name (BTCUSDT) -> instrument, for one product."""
        return {
            f"{inst.base}{inst.quote}": inst
            for inst in self.engine.instruments(self.exchange)
            if inst.kind == kind
        }

    def _instrument(self, kind: str, name: Any) -> PaperInstrument:
        found = self._instruments(kind).get(str(name or ""))  # upper-case names only
        if found is None:
            raise BybitError(*COMMON_ERRORS["unknown_symbol"])
        return found

    def _error(self, error: PaperError, kind: str, order: PaperOrder | None = None) -> BybitError:
        if error.kind == "order_not_cancelable" and order is not None:
            final = "filled" if order.status == "filled" else "canceled"
            linear, spot = NOT_CANCELABLE[final]
            return BybitError(*(spot if kind == "spot" else linear))
        table = SPOT_ERRORS if kind == "spot" else LINEAR_ERRORS
        code, message = table.get(error.kind) or COMMON_ERRORS.get(
            error.kind, (PARAMS_ERROR, f"params error: {error.message}")
        )
        return BybitError(code, message)

    # -- market data -------------------------------------------------------------------

    def server_time(self, __: Params) -> dict[str, str]:
        now = self.engine.now_ms()
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    # Spot rows carry basePrecision/minOrderAmt, linear rows qtyStep/minNotionalValue.
    def instruments_info(self, params: Params) -> dict[str, Any]:
        if params.get("category") in UNTRADED_CATEGORIES:
            return {"category": params["category"], "list": [], "nextPageCursor": ""}
        kind = self._kind(params)
        rows = self._instruments(kind)
        if params.get("symbol"):
            rows = {name: inst for name, inst in rows.items() if name == params["symbol"]}
        view = self._spot_instrument if kind == "spot" else self._linear_instrument
        return {
            "category": params["category"],
            "list": [view(name, inst) for name, inst in rows.items()],
            "nextPageCursor": "",
        }

    @staticmethod
    def _spot_instrument(name: str, inst: PaperInstrument) -> dict[str, Any]:
        return {
            "symbol": name,
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "utaOnly",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": num(inst.lot_size),
                "quotePrecision": "0.00000001",
                "minOrderQty": num(inst.min_quantity),
                "maxOrderQty": "100000",
                "minOrderAmt": num(inst.min_notional),
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": num(inst.tick_size)},
        }

    @staticmethod
    def _linear_instrument(name: str, inst: PaperInstrument) -> dict[str, Any]:
        return {
            "symbol": name,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": inst.base,
            "quoteCoin": inst.quote,
            "settleCoin": inst.quote,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(decimal_places(inst.tick_size)),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {
                "minPrice": num(inst.tick_size),
                "maxPrice": "1999999",
                "tickSize": num(inst.tick_size),
            },
            "lotSizeFilter": {
                "maxOrderQty": "1000000",
                "minOrderQty": num(inst.min_quantity),
                "qtyStep": num(inst.lot_size),
                "postOnlyMaxOrderQty": "1000000",
                "maxMktOrderQty": "100000",
                "minNotionalValue": num(inst.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "copyTrading": "both",
            "isPreListing": False,
            "preListingInfo": None,
        }

    def tickers(self, params: Params) -> dict[str, Any]:
        kind = self._kind(params)
        rows = self._instruments(kind)
        if params.get("symbol"):
            rows = {params["symbol"]: self._instrument(kind, params["symbol"])}
        return {
            "category": params["category"],
            "list": [self._ticker(name, inst) for name, inst in rows.items()],
        }

    def _ticker(self, name: str, inst: PaperInstrument) -> dict[str, Any]:
        # The engine has no spread: best bid, best ask and last trade are one price.
        price = num(self.engine.price(self.exchange, inst.symbol))
        row = {
            "symbol": name,
            "bid1Price": price,
            "bid1Size": "1",
            "ask1Price": price,
            "ask1Size": "1",
            "lastPrice": price,
            "prevPrice24h": price,
            "price24hPcnt": "0",
            "highPrice24h": price,
            "lowPrice24h": price,
            "turnover24h": "0",
            "volume24h": "0",
        }
        if inst.kind == "linear":
            # linear rows carry the open interest and its value (ccxt tells a linear row
            # from a spot one by openInterestValue)
            row.update(
                {
                    "indexPrice": price,
                    "markPrice": price,
                    "prevPrice1h": price,
                    "fundingRate": "0.0001",
                    "openInterest": "0",
                    "openInterestValue": "0",
                    "nextFundingTime": "0",
                    "predictedDeliveryPrice": "",
                    "basisRate": "",
                    "basis": "",
                    "deliveryFeeRate": "",
                    "deliveryTime": "0",
                }
            )
        return row

    # -- account -----------------------------------------------------------------------

    def query_api(self, _request: web.Request, account: PaperAccount, _: Params) -> dict[str, Any]:
        granted = set(account.permissions)
        trading = "trade" in granted
        wallet = (["AccountTransfer"] if "transfer" in granted else []) + (
            ["Withdraw"] if "withdraw" in granted else []
        )
        return {
            "id": "1",
            "note": "paper",
            "apiKey": account.api_key,
            "readOnly": 0 if trading else 1,
            "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"] if trading else [],
                "Spot": ["SpotTrade"] if trading else [],
                "Wallet": wallet,
                "Options": [],
                "Derivatives": ["DerivativesTrade"] if trading else [],
                "Exchange": [],
                "Earn": [],
                "CopyTrading": [],
                "BlockTrade": [],
                "NFT": [],
                "Affiliate": [],
            },
            # no bound IP reads ["*"]; expiredAt is "" for a key that does not expire
            "ips": list(account.ip_whitelist) or ["*"],
            "type": 1,
            "deadlineDay": _days_left(account.key_expires_at_ms),
            "expiredAt": _iso_or_blank(account.key_expires_at_ms),
            "createdAt": "2024-01-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": 1,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "rsaPublicKey": "",
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": "",
        }

    def coin_info(self, _request: web.Request, _: PaperAccount, params: Params) -> dict[str, Any]:
        """/v5/asset/coin/query-info: every coin of the paper universe, one chain each named
        after the coin (the paper exchange moves no coins on chain)."""
        coins = sorted(
            {inst.base for inst in self.engine.instruments(self.exchange)}
            | {inst.quote for inst in self.engine.instruments(self.exchange)}
        )
        wanted = params.get("coin") or None
        return {
            "rows": [
                {
                    "name": coin,
                    "coin": coin,
                    "remainAmount": "1000000",
                    "chains": [
                        {
                            "chain": coin,
                            "chainType": coin,
                            "confirmation": "1",
                            "withdrawFee": "0",
                            "depositMin": "0",
                            "withdrawMin": "0",
                            "minAccuracy": "8",
                            "chainDeposit": "1",
                            "chainWithdraw": "1",
                            "withdrawPercentageFee": "0",
                            "contractAddress": "",
                            "safeConfirmNumber": "1",
                        }
                    ],
                }
                for coin in coins
                if wanted in (None, coin)
            ]
        }

    def account_info(self, _request: web.Request, _: PaperAccount, __: Params) -> dict[str, Any]:
        return {
            "unifiedMarginStatus": 5,
            "marginMode": "REGULAR_MARGIN",
            "isMasterTrader": False,
            "spotHedgingStatus": "OFF",
            "updatedTime": str(self.engine.now_ms()),
            "dcpStatus": "OFF",
            "timeWindow": 10,
            "smpGroup": 0,
        }

    def wallet_balance(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        if params.get("accountType") != "UNIFIED":
            raise BybitError(PARAMS_ERROR, "params error: accountType only support UNIFIED")
        wanted = {coin for coin in str(params.get("coin") or "").split(",") if coin}
        pnl = sum(
            (p.unrealized_pnl for p in self.engine.positions(self.exchange, account)), Decimal("0")
        )
        coins, totals = [], {"equity": Decimal("0"), "wallet": Decimal("0"), "free": Decimal("0")}
        for coin, (free, locked) in sorted(self.engine.balances(self.exchange, account).items()):
            if wanted and coin not in wanted:
                continue
            upnl = pnl if coin == "USDT" else Decimal("0")
            usd = self._usd_price(coin)
            coins.append(self._coin_row(coin, free, locked, upnl, usd))
            totals["equity"] += (free + locked + upnl) * usd
            totals["wallet"] += (free + locked) * usd
            totals["free"] += free * usd
        return {
            "list": [
                {
                    "accountType": "UNIFIED",
                    "totalEquity": num(totals["equity"]),
                    "totalWalletBalance": num(totals["wallet"]),
                    "totalMarginBalance": num(totals["equity"]),
                    "totalAvailableBalance": num(totals["free"]),
                    "totalPerpUPL": num(pnl),
                    "totalInitialMargin": "0",
                    "totalMaintenanceMargin": "0",
                    "accountIMRate": "0",
                    "accountMMRate": "0",
                    "accountLTV": "0",
                    "coin": coins,
                }
            ]
        }

    @staticmethod
    def _coin_row(
        coin: str, free: Decimal, locked: Decimal, upnl: Decimal, usd: Decimal
    ) -> dict[str, Any]:
        # Perpetual margin sits in the engine's locked amount, so the per-coin IMs stay 0
        # and walletBalance - locked is what is free.
        wallet = free + locked
        return {
            "coin": coin,
            "equity": num(wallet + upnl),
            "usdValue": num((wallet + upnl) * usd),
            "walletBalance": num(wallet),
            "locked": num(locked),
            "spotHedgingQty": "0",
            "borrowAmount": "0",
            "availableToWithdraw": "",
            "accruedInterest": "0",
            "totalOrderIM": "0",
            "totalPositionIM": "0",
            "totalPositionMM": "0",
            "unrealisedPnl": num(upnl),
            "cumRealisedPnl": "0",
            "bonus": "0",
            "marginCollateral": True,
            "collateralSwitch": True,
            "spotBorrow": "0",
        }

    def _usd_price(self, coin: str) -> Decimal:
        if coin in ("USDT", "USDC"):
            return Decimal("1")
        inst = self._instruments("spot").get(f"{coin}USDT")
        return self.engine.price(self.exchange, inst.symbol) if inst else Decimal("0")

    # -- positions and leverage --------------------------------------------------------

    def position_list(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        self._kind(params, allowed=("linear",))
        if not params.get("symbol") and not params.get("settleCoin"):
            raise BybitError(PARAMS_ERROR, "params error: symbol or settleCoin is required")
        held = {p.symbol: p for p in self.engine.positions(self.exchange, account)}
        if params.get("symbol"):
            inst = self._instrument("linear", params["symbol"])
            rows = self._position_rows(account, inst, held.get(inst.symbol))
        else:
            rows = []
            for name, inst in self._instruments("linear").items():
                if inst.symbol in held and inst.quote == params["settleCoin"]:
                    rows += self._position_rows(account, inst, held[inst.symbol], name)
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    def _position_rows(
        self,
        account: PaperAccount,
        inst: PaperInstrument,
        held: PaperPosition | None,
        name: str = "",
    ) -> list[dict[str, Any]]:
        """One-way accounts have one row (positionIdx 0); hedge-mode accounts two (1 buy
        side, 2 sell side), which is how a client tells the modes apart."""
        name = name or f"{inst.base}{inst.quote}"
        if not account.hedge_mode:
            return [self._position_row(account, inst, name, held, 0)]
        long = held if held and held.quantity > 0 else None
        short = held if held and held.quantity < 0 else None
        return [
            self._position_row(account, inst, name, long, 1),
            self._position_row(account, inst, name, short, 2),
        ]

    def _position_row(
        self,
        account: PaperAccount,
        inst: PaperInstrument,
        name: str,
        held: PaperPosition | None,
        index: int,
    ) -> dict[str, Any]:
        leverage = self.engine.leverage(account, inst.symbol)
        mark = self.engine.price(self.exchange, inst.symbol)
        size = abs(held.quantity) if held else Decimal("0")
        side = "" if not held or held.quantity == 0 else ("Buy" if held.quantity > 0 else "Sell")
        entry = held.entry_price if held else Decimal("0")
        return {
            "positionIdx": index,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": name,
            "side": side,
            "size": num(size),
            "avgPrice": num(entry),
            "positionValue": num(size * entry),
            "tradeMode": 0,
            "positionStatus": "Normal",
            "autoAddMargin": 0,
            "adlRankIndicator": 0,
            "leverage": str(leverage),
            "positionBalance": num(size * entry / leverage),
            "markPrice": num(mark),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": num(size * entry / leverage),
            "positionMM": "0",
            "tpslMode": "Full",
            "takeProfit": "0",
            "stopLoss": "0",
            "trailingStop": "0",
            "unrealisedPnl": num(held.unrealized_pnl if held else Decimal("0")),
            "curRealisedPnl": "0",
            "cumRealisedPnl": "0",
            "seq": 0,
            "isReduceOnly": False,
            "createdTime": "0",
            "updatedTime": str(self.engine.now_ms()),
        }

    def set_leverage(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        self._kind(params, allowed=("linear",))
        inst = self._instrument("linear", params.get("symbol"))
        buy = _decimal(params, "buyLeverage")
        sell = _decimal(params, "sellLeverage")
        if buy != sell:
            raise BybitError(
                PARAMS_ERROR, "params error: buyLeverage must equal sellLeverage in one-way mode"
            )
        assert buy is not None
        if buy != buy.to_integral_value() or not 1 <= buy <= 100:
            raise BybitError(PARAMS_ERROR, "params error: leverage invalid")
        if int(buy) == self.engine.leverage(account, inst.symbol):
            raise BybitError(LEVERAGE_NOT_MODIFIED, "Set leverage not modified")
        self.engine.set_leverage(self.exchange, account, inst.symbol, int(buy))
        return {}

    # -- orders ------------------------------------------------------------------------

    def create_order(
        self, request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, str]:
        kind = self._kind(params)
        inst = self._instrument(kind, params.get("symbol"))
        side = SIDES.get(params.get("side", ""))
        order_type = ORDER_TYPES.get(params.get("orderType", ""))
        if side is None or order_type is None:
            raise BybitError(PARAMS_ERROR, "params error: side or orderType invalid")
        link_id = params.get("orderLinkId") or None
        if link_id is not None and not ORDER_LINK_ID.fullmatch(str(link_id)):
            raise BybitError(PARAMS_ERROR, "params error: orderLinkId invalid")
        self._check_position_index(account, kind, params)
        quantity, quote_quantity = self._sizes(kind, inst, side, order_type, params)
        try:
            order = self.engine.place_order(
                self.exchange,
                account,
                symbol=inst.symbol,
                side=side,
                type=order_type,
                quantity=quantity,
                quote_quantity=quote_quantity,
                price=_decimal(params, "price", required=order_type == "limit"),
                time_in_force=self._time_in_force(params, order_type),
                client_order_id=link_id,
                reduce_only=kind == "linear" and _flag(params.get("reduceOnly")),
            )
        except PaperError as error:
            raise self._error(error, kind) from None
        except ValueError:
            raise BybitError(PARAMS_ERROR, "params error") from None
        request["order_accepted"] = True
        return {"orderId": order.order_id, "orderLinkId": order.client_order_id or ""}

    @staticmethod
    def _time_in_force(params: Params, order_type: str) -> str:
        if order_type == "market":
            return "IOC"  # market orders are IOC on Bybit
        tif = TIME_IN_FORCE.get(params.get("timeInForce") or "GTC")
        if tif is None:
            raise BybitError(PARAMS_ERROR, "params error: timeInForce invalid")
        return tif

    @staticmethod
    def _check_position_index(account: PaperAccount, kind: str, params: Params) -> None:
        if kind != "linear":
            return
        index = str(params.get("positionIdx", 0))
        allowed = ("1", "2") if account.hedge_mode else ("0",)
        if index not in allowed:
            raise BybitError(PARAMS_ERROR, "position idx not match position mode")

    def _sizes(
        self, kind: str, inst: PaperInstrument, side: str, order_type: str, params: Params
    ) -> tuple[Decimal | None, Decimal | None]:
        """(base quantity, quote quantity). A spot market order is sized in quote for a Buy
        unless marketUnit=baseCoin, and in base for a Sell unless marketUnit=quoteCoin."""
        qty = _decimal(params, "qty")
        assert qty is not None
        if kind != "spot" or order_type != "market":
            return qty, None
        default_unit = "quoteCoin" if side == "buy" else "baseCoin"
        unit = params.get("marketUnit") or default_unit
        if unit not in ("baseCoin", "quoteCoin"):
            raise BybitError(PARAMS_ERROR, "params error: marketUnit invalid")
        if unit == "baseCoin":
            return qty, None
        if side == "buy":
            return None, qty
        price = self.engine.price(self.exchange, inst.symbol)
        return (qty / price // inst.lot_size) * inst.lot_size, None

    def cancel_order(
        self, request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, str]:
        kind = self._kind(params)
        inst = self._instrument(kind, params.get("symbol"))
        order_id, link_id = params.get("orderId") or None, params.get("orderLinkId") or None
        if order_id is None and link_id is None:
            raise BybitError(PARAMS_ERROR, "params error: orderId or orderLinkId is required")
        found = self.engine.get_order(
            self.exchange, account, order_id=order_id, client_order_id=None if order_id else link_id
        )
        try:
            order = self.engine.cancel_order(
                self.exchange,
                account,
                symbol=inst.symbol,
                order_id=order_id,
                client_order_id=None if order_id else link_id,
            )
        except PaperError as error:
            raise self._error(error, kind, found) from None
        request["cancel_applied"] = True
        return {"orderId": order.order_id, "orderLinkId": order.client_order_id or ""}

    def cancel_all(
        self, request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        kind = self._kind(params)
        orders = self._selected(kind, params, self.engine.open_orders(self.exchange, account))
        canceled = []
        for order in orders:
            self.engine.cancel_order(self.exchange, account, order_id=order.order_id)
            canceled.append({"orderId": order.order_id, "orderLinkId": order.client_order_id or ""})
        if canceled:
            request["cancel_applied"] = True
        return {"list": canceled, "success": "1"}

    def set_dcp(
        self, request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        """Disconnection Protect: ``timeWindow`` 3..300 s per ``product`` (OPTIONS by
        default, as on Bybit; the paper trades none, so it covers nothing). The paper treats
        every account as one Bybit enabled DCP for (PAPER-ONLY: Bybit's account manager
        turns it on). It fires when the account's last stream that subscribed ``dcp``
        stays away the window (paper/deadman.py)."""
        window = params.get("timeWindow")
        product = params.get("product", "OPTIONS")
        if (
            isinstance(window, bool)
            or not isinstance(window, int | str)
            or not str(window).isdigit()
            or not 3 <= int(window) <= 300
        ):
            raise BybitError(PARAMS_ERROR, "params error: timeWindow must be 3..300")
        if product not in DCP_PRODUCTS:
            raise BybitError(
                PARAMS_ERROR, "params error: product must be OPTIONS, DERIVATIVES or SPOT"
            )
        if DCP_PRODUCTS[product]:
            self.engine.dead_man.arm(
                account, seconds=int(window), kind="disconnect", product=DCP_PRODUCTS[product]
            )
        return {}

    def _selected(
        self, kind: str, params: Params, orders: list[PaperOrder], *, narrowed: bool = True
    ) -> list[PaperOrder]:
        """Orders of one category, narrowed by symbol / baseCoin / settleCoin. Listing open
        linear orders (and cancel-all) needs one of the three (``narrowed``)."""
        symbol, base, settle = (
            params.get(name) or None for name in ("symbol", "baseCoin", "settleCoin")
        )
        if narrowed and kind == "linear" and not (symbol or base or settle):
            raise BybitError(
                PARAMS_ERROR,
                "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin",
            )
        unified = self._instrument(kind, symbol).symbol if symbol else None
        listed = {inst.symbol: inst for inst in self._instruments(kind).values()}
        return [
            order
            for order in orders
            if order.symbol in listed
            and unified in (None, order.symbol)
            and base in (None, listed[order.symbol].base)
            and settle in (None, listed[order.symbol].quote)
        ]

    def realtime_orders(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        kind = self._kind(params)
        by_id = self._by_id(account, kind, params)
        if by_id is not None:
            orders = by_id  # by id, whatever its state: openOnly is ignored
        elif str(params.get("openOnly", "0")) == "0":
            orders = self._selected(kind, params, self.engine.open_orders(self.exchange, account))
        else:
            closed = [
                order
                for order in self.engine.order_history(self.exchange, account)
                if not order.is_open
            ]
            orders = self._selected(kind, params, closed)[:MAX_CLOSED_IN_REALTIME]
        return self._page(params, orders)

    def order_history(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        kind = self._kind(params)
        end = int(_decimal(params, "endTime", required=False) or self.engine.now_ms())
        start = int(_decimal(params, "startTime", required=False) or end - HISTORY_SPAN_MS)
        if not 0 <= end - start <= HISTORY_SPAN_MS:
            raise BybitError(PARAMS_ERROR, "params error: the time range must be 7 days or less")
        orders = self._by_id(account, kind, params)
        if orders is None:
            everything = self.engine.order_history(self.exchange, account)
            orders = self._selected(kind, params, everything, narrowed=False)
        orders = [order for order in orders if start <= order.created_ms <= end]
        if params.get("orderStatus"):
            orders = [order for order in orders if self._status(order) == params["orderStatus"]]
        return self._page(params, orders)

    def execution_list(
        self, _request: web.Request, account: PaperAccount, params: Params
    ) -> dict[str, Any]:
        """ "Get Trade History": newest first; orderId (then orderLinkId) wins over symbol
        and baseCoin; startTime alone answers 7 days from it, endTime alone the 7 days
        before it, neither the last 7 days; limit 1..100 (50)."""
        kind = self._kind(params)
        start = _decimal(params, "startTime", required=False)
        end = _decimal(params, "endTime", required=False)
        if start is None:
            end = end if end is not None else Decimal(self.engine.now_ms())
            start = end - HISTORY_SPAN_MS
        elif end is None:
            end = start + HISTORY_SPAN_MS
        if not 0 <= end - start <= HISTORY_SPAN_MS:
            raise BybitError(PARAMS_ERROR, "params error: the time range must be 7 days or less")
        low, high, default = EXECUTIONS_LIMIT
        limit = int(_decimal(params, "limit", required=False) or default)
        if not low <= limit <= high:
            raise BybitError(PARAMS_ERROR, f"params error: limit must be {low}..{high}")
        orders = self._by_id(account, kind, params)
        if orders is None:
            everything = self.engine.order_history(self.exchange, account)
            orders = self._selected(kind, params, everything, narrowed=False)
        if params.get("execType") not in (None, "", "Trade"):
            orders = []  # the paper exchange has only trades
        ids = {order.order_id for order in orders}
        rows = [
            (order, fill)
            for order, fill in self.engine.account_fills(
                self.exchange, account, since_ms=int(start), until_ms=int(end)
            )
            if order.order_id in ids
        ]
        cursor = str(params.get("cursor") or "0")
        offset = int(cursor) if cursor.isdigit() else 0
        more = offset + limit < len(rows)
        return {
            "category": params["category"],
            "list": [
                self._execution_view(order, fill) for order, fill in rows[offset : offset + limit]
            ],
            "nextPageCursor": str(offset + limit) if more else "",
        }

    @staticmethod
    def _execution_view(order: PaperOrder, fill: PaperFill) -> dict[str, Any]:
        """One row as the docs' example shows it; the paper charges no fee."""
        base, rest = order.symbol.split("/")
        quote = rest.split(":")[0]
        spot = ":" not in order.symbol
        return {
            "symbol": f"{base}{quote}",
            "orderType": "Market" if order.type == "market" else "Limit",
            "underlyingPrice": "",
            "orderLinkId": order.client_order_id or "",
            "side": "Buy" if order.side == "buy" else "Sell",
            "indexPrice": "",
            "orderId": order.order_id,
            "stopOrderType": "UNKNOWN",
            "leavesQty": num(order.remaining if order.is_open else Decimal("0")),
            "createType": "CreateByUser",
            "execTime": str(fill.time_ms),
            "feeCurrency": fill.fee_asset if spot else "",
            "isMaker": fill.maker,
            "execFee": num(fill.fee),
            "feeRate": "0",
            "execId": fill.trade_id,
            "tradeIv": "",
            "blockTradeId": "",
            "markPrice": num(fill.price),
            "execPrice": num(fill.price),
            "markIv": "",
            "orderQty": num(order.quantity),
            "orderPrice": num(order.price if order.price is not None else Decimal("0")),
            "execValue": num(fill.price * fill.quantity),
            "execType": "Trade",
            "execQty": num(fill.quantity),
            "closedSize": "",
            "extraFees": "",
            "seq": 0,
        }

    def _by_id(self, account: PaperAccount, kind: str, params: Params) -> list[PaperOrder] | None:
        """The order named by orderId (which wins) or orderLinkId; None when neither is given."""
        order_id, link_id = params.get("orderId") or None, params.get("orderLinkId") or None
        if order_id is None and link_id is None:
            return None
        order = self.engine.get_order(
            self.exchange, account, order_id=order_id, client_order_id=None if order_id else link_id
        )
        return self._selected(kind, {}, [order] if order else [], narrowed=False)

    def _page(self, params: Params, orders: list[PaperOrder]) -> dict[str, Any]:
        limit = int(_decimal(params, "limit", required=False) or 20)
        if not 1 <= limit <= 50:
            raise BybitError(PARAMS_ERROR, "params error: limit must be 1..50")
        cursor = str(params.get("cursor") or "0")
        offset = int(cursor) if cursor.isdigit() else 0
        more = offset + limit < len(orders)
        return {
            "category": params["category"],
            "list": [self._order_view(order) for order in orders[offset : offset + limit]],
            "nextPageCursor": str(offset + limit) if more else "",
        }

    @staticmethod
    def _status(order: PaperOrder) -> str:
        if order.status in ORDER_STATUS:
            return ORDER_STATUS[order.status]
        # No "Expired" on Bybit: unfilled remainders end Cancelled; spot partial fills end
        # PartiallyFilledCanceled.
        inst_is_spot = ":" not in order.symbol
        if inst_is_spot and order.filled_quantity > 0:
            return "PartiallyFilledCanceled"
        return "Cancelled"

    def _order_view(self, order: PaperOrder) -> dict[str, Any]:
        """One row of /v5/order/realtime and /v5/order/history (numbers as strings)."""
        base, rest = order.symbol.split("/")
        quote = rest.split(":")[0]
        filled = order.filled_quantity
        average = order.average_price
        value = filled * average if average is not None else Decimal("0")
        price = order.price if order.price is not None else Decimal("0")
        return {
            "orderId": order.order_id,
            "orderLinkId": order.client_order_id or "",
            "blockTradeId": "",
            "symbol": f"{base}{quote}",
            "price": num(price),
            "qty": num(order.quantity),
            "side": "Buy" if order.side == "buy" else "Sell",
            "isLeverage": "",
            "positionIdx": 0,
            "orderStatus": self._status(order),
            "cancelType": "CancelByUser" if order.canceled_by_user else "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": num(average) if average else "",
            "leavesQty": num(order.remaining if order.is_open else Decimal("0")),
            "leavesValue": num(order.remaining * price if order.is_open else Decimal("0")),
            "cumExecQty": num(filled),
            "cumExecValue": num(value),
            "cumExecFee": "0",
            "timeInForce": ENGINE_TIME_IN_FORCE.get(order.time_in_force, "GTC"),
            "orderType": "Market" if order.type == "market" else "Limit",
            "stopOrderType": "",
            "orderIv": "",
            "triggerPrice": "",
            "takeProfit": "",
            "stopLoss": "",
            "tpTriggerBy": "",
            "slTriggerBy": "",
            "triggerDirection": 0,
            "triggerBy": "",
            "lastPriceOnCreated": "",
            "reduceOnly": order.reduce_only,
            "closeOnTrigger": False,
            "smpType": "None",
            "smpGroup": 0,
            "smpOrderId": "",
            "tpslMode": "",
            "tpLimitPrice": "",
            "slLimitPrice": "",
            "placeType": "",
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.updated_ms),
        }


def _iso_or_blank(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return ""
    stamp = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _days_left(epoch_ms: int | None) -> int:
    if epoch_ms is None:
        return 0
    return max(0, int((epoch_ms / 1000 - time.time()) // 86400))
