"""Binance on the paper exchange: Spot (``binance_spot.py``: ``/api/v3``, ``/sapi/v1``) and
USD-M futures (``binance_futures.py``: ``/fapi/v1|v2|v3``), served under one ``/binance``
prefix. This module holds what the gate and the client see of both alike: routing, the
X-MBX-USED-WEIGHT-1M header, authentication and the rate-limit and 5xx answers. What both
products share besides is in ``binance_common.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from paper.engine import DuplicateScope, Engine, PaperAccount
from paper.protocol import Protocol
from paper.protocols.binance_common import (
    BAD_KEY,
    LINEAR,
    NONE,
    SPOT,
    TRADE,
    BinanceError,
    Ctx,
    Handler,
    ProductApi,
    UsedWeight,
    signature_for,
    signed_payload,
    split_signature,
)
from paper.protocols.binance_futures import FuturesApi
from paper.protocols.binance_spot import SpotApi
from paper.wire import note_refusal, same_secret, staleness

__all__ = ("BinanceProtocol", "signature_for", "signed_payload", "split_signature")

KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_RECV_WINDOW_MS = Decimal("5000")
MAX_RECV_WINDOW_MS = Decimal("60000")
AHEAD_LIMIT_MS = 999  # a timestamp 1 s or more ahead of the server is refused
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_REAL_PATH = re.compile(r"(/(?:api|sapi|fapi|dapi)/.*)$")


class BinanceProtocol(Protocol):
    exchange: ClassVar[str] = "binance"
    key_header: ClassVar[str] = KEY_HEADER
    # A client order id is refused only while an order with it is open (spot and futures).
    duplicate_scope: ClassVar[DuplicateScope] = "open"
    write_routes: ClassVar[frozenset[str]] = frozenset(
        {
            "POST /api/v3/order",
            "DELETE /api/v3/order",
            "DELETE /api/v3/openOrders",
            "POST /fapi/v1/order",
            "DELETE /fapi/v1/order",
            "DELETE /fapi/v1/allOpenOrders",
        }
    )

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.products: dict[str, ProductApi] = {SPOT: SpotApi(self), LINEAR: FuturesApi(self)}
        self._weights = {
            key: weight for api in self.products.values() for key, weight in api.weights.items()
        }
        # per product and client address: Binance counts IP weight per IP
        self._used: dict[tuple[str, str], UsedWeight] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.route(method, path, self._endpoint(handler, security, product))
            for product, api in self.products.items()
            for method, path, handler, security in api.routes()
        ]

    def _endpoint(
        self, handler: Handler, security: str, product: str
    ) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            counter = self._used.setdefault((product, request.remote or ""), UsedWeight())
            used = counter.add(self.request_weight(request))
            try:
                body = await request.text()
                params = dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))
                params.update(parse_qsl(body, keep_blank_values=True))
                account = None
                if security != NONE:
                    account = self._authenticate(request, params, body, security)
                status, payload = 200, handler(Ctx(request, params, account))
            except BinanceError as exc:
                note_refusal(request, exc)
                status, payload = exc.status, {"code": exc.code, "msg": exc.message}
            return web.json_response(
                payload, status=status, headers={USED_WEIGHT_HEADER: str(used)}
            )

        return serve

    async def request_product(self, request: web.Request, path: str) -> str:
        return LINEAR if path.startswith("/fapi/") else SPOT

    def request_weight(self, request: web.Request) -> int:
        match = _REAL_PATH.search(request.path)
        weight = self._weights.get((request.method, match.group(1) if match else request.path), 1)
        if isinstance(weight, tuple):
            with_symbol = "symbol" in request.query or "symbols" in request.query
            return weight[0] if with_symbol else weight[1]
        return weight

    def rate_limited(self, retry_after: float) -> web.Response:
        seconds = max(math.ceil(retry_after), 1)
        return web.json_response(
            {
                "code": -1003,
                "msg": "Too much request weight used; current limit is 6000 "
                "request weight per 1 MINUTE. Please use WebSocket Streams "
                "for live updates to avoid polling the API.",
            },
            status=429,
            headers={"Retry-After": str(seconds)},
        )

    def server_error(self) -> web.Response:
        # 5xx: "the execution status is UNKNOWN and could have been a success".
        return web.json_response(
            {
                "code": -1001,
                "msg": "Internal error; unable to process your request. Please try again.",
            },
            status=503,
        )

    # -- authentication -----------------------------------------------------------------

    def _authenticate(
        self, request: web.Request, params: Mapping[str, str], body: str, security: str
    ) -> PaperAccount:
        key = request.headers.get(KEY_HEADER, "")
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.", auth=True)
        timestamp = self._timestamp(params)
        account = self.engine.account(self.exchange, key)
        if account is None:
            raise BinanceError(*BAD_KEY, auth=True)
        self._check_window(timestamp, params)
        payload, signature = signed_payload(request.rel_url.raw_query_string, body)
        if not signature:
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
                auth=True,
            )
        if not same_secret(signature.lower(), signature_for(account.api_secret, payload)):
            raise BinanceError(400, -1022, "Signature for this request is not valid.", auth=True)
        if security == TRADE and "trade" not in account.permissions:
            raise BinanceError(*BAD_KEY, auth=True)
        return account

    @staticmethod
    def _timestamp(params: Mapping[str, str]) -> int:
        raw = params.get("timestamp", "")
        if not raw.isdigit():
            raise BinanceError(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
                auth=True,
            )
        stamp = int(raw)
        return stamp // 1000 if stamp >= 10**15 else stamp  # spot also takes microseconds

    def _check_window(self, timestamp: int, params: Mapping[str, str]) -> None:
        try:
            window = Decimal(params.get("recvWindow") or DEFAULT_RECV_WINDOW_MS)
        except InvalidOperation:
            window = Decimal("-1")
        if not window.is_finite() or window <= 0 or window > MAX_RECV_WINDOW_MS:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000", auth=True)
        late = staleness(timestamp, self.engine.now_ms(), behind_ms=window, ahead_ms=AHEAD_LIMIT_MS)
        if late == "ahead":
            raise BinanceError(
                400,
                -1021,
                "Timestamp for this request was 1000ms ahead of the server's time.",
                auth=True,
            )
        if late == "behind":
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow.", auth=True
            )
