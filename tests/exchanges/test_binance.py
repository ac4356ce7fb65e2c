"""The Binance connector against exact payloads (field names and shapes of
docs/exchanges/binance.md), spot and USD-M futures."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from exchanges import binance, errors
from exchanges.base import Credentials, OrderRequest
from exchanges.limits import Charge, UsageSignal
from exchanges.symbols import parse_symbol
from tests.exchanges.contract import (
    API_KEY,
    API_SECRET,
    CLIENT_ID,
    FROZEN_NOW,
    ConnectorContract,
    RecordingThrottle,
)

BASE = "https://contract.test"
NOW_MS = int(FROZEN_NOW * 1000)


def spot_order(**changes: Any) -> dict[str, Any]:
    """GET /api/v3/order as Binance sends it."""
    raw = {
        "symbol": "BTCUSDT",
        "orderId": 28,
        "orderListId": -1,
        "clientOrderId": CLIENT_ID,
        "price": "50000.00000000",
        "origQty": "0.01000000",
        "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": NOW_MS,
        "updateTime": NOW_MS,
        "isWorking": True,
        "workingTime": NOW_MS,
        "origQuoteOrderQty": "0.00000000",
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    raw.update(changes)
    return raw


def spot_place_result(order: OrderRequest) -> dict[str, Any]:
    """POST /api/v3/order with newOrderRespType=RESULT."""
    return {
        "symbol": "BTCUSDT",
        "orderId": 28,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": NOW_MS,
        "price": f"{order.price or 0:.8f}",
        "origQty": f"{order.quantity:.8f}",
        "executedQty": "0.00000000",
        "origQuoteOrderQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
        "workingTime": NOW_MS,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def futures_order(**changes: Any) -> dict[str, Any]:
    """GET /fapi/v1/order (and POST with newOrderRespType=RESULT)."""
    raw = {
        "avgPrice": "0.00",
        "clientOrderId": CLIENT_ID,
        "cumQty": "0",
        "cumQuote": "0.00000",
        "executedQty": "0.000",
        "orderId": 4077213391,
        "origQty": "0.010",
        "origType": "LIMIT",
        "price": "50000.00",
        "reduceOnly": False,
        "side": "BUY",
        "positionSide": "BOTH",
        "status": "NEW",
        "stopPrice": "0.00",
        "closePosition": False,
        "symbol": "BTCUSDT",
        "time": NOW_MS,
        "timeInForce": "GTC",
        "type": "LIMIT",
        "updateTime": NOW_MS,
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER",
        "goodTillDate": 0,
    }
    raw.update(changes)
    return raw


NOT_FOUND = {"code": -2013, "msg": "Order does not exist."}
UNKNOWN_ORDER = {"code": -2011, "msg": "Unknown order sent."}
STATUS_UNKNOWN = {
    "code": -1007,
    "msg": "Timeout waiting for response from backend server. "
    "Send status unknown; execution status unknown.",
}
WEIGHT_LIMIT = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 "
    "request weight per 1 MINUTE. Please use WebSocket Streams for live updates "
    "to avoid polling the API.",
}
IP_BANNED = {
    "code": -1003,
    "msg": "Way too much request weight used; IP banned until "
    "1700000300000. Please use WebSocket Streams for live updates to avoid bans.",
}

COMMON_STATUS_CASES = [
    ("NEW", "open"),
    ("PARTIALLY_FILLED", "partially_filled"),
    ("FILLED", "filled"),
    ("CANCELED", "canceled"),
    ("REJECTED", "rejected"),
    ("EXPIRED", "expired"),
    ("EXPIRED_IN_MATCH", "expired"),
]


def signed_payload(request: requests.PreparedRequest) -> tuple[str, str, str]:
    """(query, body, signature) of a sent request, the signature cut from whichever of the
    two carried it."""
    query = urlsplit(request.url).query
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    if body:
        payload, _, signature = body.rpartition("&signature=")
        return query, payload, signature
    payload, _, signature = query.rpartition("&signature=")
    return payload, "", signature


def sent_params(request: requests.PreparedRequest) -> dict[str, str]:
    body = request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return dict(parse_qsl(urlsplit(request.url).query) + parse_qsl(body))


class BinanceHooks(ConnectorContract):
    exchange = "binance"
    connector_class = binance.BinanceConnector
    base_url = BASE
    order_path = "/api/v3/order"
    kind = "spot"

    def add_place_answer(self, rsps, status, body, headers=None):
        kwargs = {"json": body} if not isinstance(body, str) else {"body": body}
        rsps.add(responses.POST, BASE + self.order_path, status=status, headers=headers, **kwargs)

    def add_place_exception(self, rsps, exc):
        rsps.add(responses.POST, BASE + self.order_path, body=exc)

    def add_get_not_found(self, rsps):
        rsps.add(responses.GET, BASE + self.order_path, status=400, json=NOT_FOUND)

    def parse_order(self, raw):
        return binance.parse_order(raw, self.kind)

    def assert_signed(self, request):
        assert request.headers["X-MBX-APIKEY"] == API_KEY
        query, body, signature = signed_payload(request)
        assert signature == binance.sign(API_SECRET, query, body)
        signed = query + body
        assert f"recvWindow=5000&timestamp={NOW_MS}" in signed and not signed.endswith("&")

    def test_place_order_sends_our_client_id_and_decimal_strings(self, connector, rsps):
        # Local override of the contract test: its exponent regex also matches the hex
        # signature Binance sends in the body (e.g. "...3e5..."), so the signature is cut
        # out before the same three checks.
        order = self.limit_order(quantity=Decimal("0.01000"), price=Decimal("50000.10"))
        self.add_place_success(rsps, order)
        connector.place_order(order)
        sent = " ".join(
            re.sub(
                r"signature=[0-9a-f]{64}",
                "signature=",
                f"{call.request.url} {call.request.body or ''}",
            )
            for call in rsps.calls
        )
        assert CLIENT_ID in sent
        assert not re.search(r"\d[eE][+-]?\d", sent), "a decimal went out in exponent form"
        assert "50000.1" in sent


class TestBinanceContract(BinanceHooks):
    api_type = "spot"
    symbol = "BTC/USDT"
    status_cases = [(spot_order(status=raw), ours) for raw, ours in COMMON_STATUS_CASES] + [
        (spot_order(status="PENDING_CANCEL"), "canceled"),
        (spot_order(status="PENDING_NEW"), "open"),
    ]
    error_cases = [
        (429, WEIGHT_LIMIT, errors.RateLimited),
        (418, IP_BANNED, errors.RateLimited),
        (
            400,
            {"code": -2010, "msg": "Account has insufficient balance for requested action."},
            errors.InsufficientFunds,
        ),
        (400, {"code": -2010, "msg": "Duplicate order sent."}, errors.DuplicateOrder),
        (
            400,
            {"code": -2010, "msg": "Order would immediately match and take."},
            errors.InvalidOrder,
        ),
        (
            400,
            {"code": -2010, "msg": "This action is disabled on this account."},
            errors.PermissionDenied,
        ),
        (400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}, errors.InvalidOrder),
        (
            400,
            {"code": -1111, "msg": "Precision is over the maximum defined for this asset."},
            errors.InvalidOrder,
        ),
        (400, {"code": -1121, "msg": "Invalid symbol."}, errors.InvalidRequest),
        (
            400,
            {
                "code": -1100,
                "msg": "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            },
            errors.InvalidRequest,
        ),
        (
            400,
            {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."},
            errors.InvalidRequest,
        ),
        (
            400,
            {"code": -1022, "msg": "Signature for this request is not valid."},
            errors.AuthenticationError,
        ),
        (
            401,
            {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
            errors.AuthenticationError,
        ),
        (400, {"code": -2014, "msg": "API-key format invalid."}, errors.AuthenticationError),
        # a page, not JSON: any proxy on the way could have written it after the order
        # went through, so on a write it proves nothing (the lookup settles it)
        (403, "<html><body>403 Forbidden</body></html>", errors.OrderOutcomeUnknown),
        (503, STATUS_UNKNOWN, errors.OrderOutcomeUnknown),
        (408, STATUS_UNKNOWN, errors.RequestTimeout),
    ]
    weight_cases = [
        ("GET /api/v3/time", 1),
        ("GET /sapi/v1/account/apiRestrictions", 1),
        ("GET /api/v3/account", 20),
        ("POST /api/v3/order", 1),
        ("GET /api/v3/order", 4),
        ("DELETE /api/v3/order", 1),
        ("GET /api/v3/openOrders", 6),
        ("DELETE /api/v3/openOrders", 1),
    ]

    def add_place_success(self, rsps, order):
        rsps.add(
            responses.POST,
            BASE + "/api/v3/order",
            json=spot_place_result(order),
            headers={"X-MBX-USED-WEIGHT-1M": "12", "X-MBX-ORDER-COUNT-10S": "1"},
        )

    def add_cancel_success(self, rsps, client_order_id):
        canceled = spot_order(
            status="CANCELED",
            clientOrderId="cancelMyOrder1",
            origClientOrderId=client_order_id,
            transactTime=NOW_MS,
        )
        for key in ("time", "updateTime", "isWorking", "workingTime"):
            canceled.pop(key)
        rsps.add(responses.DELETE, BASE + "/api/v3/order", json=canceled)

    def add_server_time(self, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/time", json={"serverTime": NOW_MS + 250})

    def assert_deadline(self, error):
        assert error.deadline_ms == NOW_MS + 5000


class TestBinanceFuturesContract(BinanceHooks):
    api_type = "perpetual_futures"
    symbol = "BTC/USDT:USDT"
    order_path = "/fapi/v1/order"
    kind = "linear"
    status_cases = [(futures_order(status=raw), ours) for raw, ours in COMMON_STATUS_CASES] + [
        (futures_order(status="NEW_INSURANCE"), "open"),
        (futures_order(status="SOMETHING_NEW"), "open"),
    ]
    error_cases = [
        (
            429,
            {"code": -1015, "msg": "Too many new orders; current limit is 1200 orders per MINUTE."},
            errors.RateLimited,
        ),
        (400, {"code": -2019, "msg": "Margin is insufficient."}, errors.InsufficientFunds),
        (400, {"code": -4116, "msg": "ClientOrderId is duplicated."}, errors.DuplicateOrder),
        (400, {"code": -4015, "msg": "Client order id is not valid."}, errors.InvalidRequest),
        (400, {"code": -2022, "msg": "ReduceOnly Order is rejected."}, errors.InvalidOrder),
        (
            400,
            {
                "code": -5022,
                "msg": "Due to the order could not be executed as maker, the "
                "Post Only order will be rejected.",
            },
            errors.InvalidOrder,
        ),
        (400, {"code": -4003, "msg": "Quantity less than or equal to zero."}, errors.InvalidOrder),
        (
            401,
            {
                "code": -2015,
                "msg": "Invalid API-key, IP, or permissions for action, request ip: 1.2.3.4",
            },
            errors.AuthenticationError,
        ),
        (
            503,
            {
                "code": -1007,
                "msg": "Timeout waiting for response from backend server. Send "
                "status unknown; execution status unknown.",
            },
            errors.OrderOutcomeUnknown,
        ),
    ]
    weight_cases = [
        ("GET /fapi/v1/time", 1),
        ("GET /fapi/v1/accountConfig", 5),
        ("GET /fapi/v3/balance", 5),
        ("POST /fapi/v1/order", 0),
        ("GET /fapi/v1/order", 1),
        ("DELETE /fapi/v1/order", 1),
        ("GET /fapi/v1/openOrders", 1),
        ("DELETE /fapi/v1/allOpenOrders", 1),
        ("GET /fapi/v3/positionRisk", 5),
    ]

    def add_place_success(self, rsps, order):
        placed = futures_order(
            clientOrderId=order.client_order_id,
            origQty=format(order.quantity, "f"),
            price=format(order.price, "f"),
        )
        rsps.add(
            responses.POST,
            BASE + "/fapi/v1/order",
            json=placed,
            headers={"X-MBX-USED-WEIGHT-1M": "3", "X-MBX-ORDER-COUNT-1M": "1"},
        )

    def add_cancel_success(self, rsps, client_order_id):
        rsps.add(
            responses.DELETE,
            BASE + "/fapi/v1/order",
            json=futures_order(status="CANCELED", clientOrderId=client_order_id),
        )

    def add_server_time(self, rsps):
        rsps.add(responses.GET, BASE + "/fapi/v1/time", json={"serverTime": NOW_MS})

    def assert_deadline(self, error):
        assert error.deadline_ms == NOW_MS + 5000


# -- Binance-specific behaviour ----------------------------------------------------------


@pytest.fixture
def throttle() -> RecordingThrottle:
    return RecordingThrottle()


def make(
    api_type: str = "spot",
    *,
    environment: str = "live",
    base_url: str | None = BASE,
    throttle: RecordingThrottle | None = None,
) -> binance.BinanceConnector:
    return binance.BinanceConnector(
        credentials=Credentials(API_KEY, API_SECRET),
        api_type=api_type,
        environment=environment,
        base_url=base_url,
        throttle=throttle,
        clock=lambda: FROZEN_NOW,
    )


@pytest.fixture
def spot(throttle) -> binance.BinanceConnector:
    return make("spot", throttle=throttle)


@pytest.fixture
def futures(throttle) -> binance.BinanceConnector:
    return make("perpetual_futures", throttle=throttle)


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def order(**changes: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": Decimal("0.01"),
        "price": Decimal("50000"),
        "client_order_id": CLIENT_ID,
    }
    values.update(changes)
    return OrderRequest(**values)


class TestSymbols:
    def test_spot_and_perpetual_symbols_share_the_binance_name(self):
        assert binance.exchange_symbol(parse_symbol("BTC/USDT")) == "BTCUSDT"
        assert binance.exchange_symbol(parse_symbol("BTC/USDT:USDT")) == "BTCUSDT"
        assert binance.exchange_symbol(parse_symbol("eth/btc")) == "ETHBTC"

    @pytest.mark.parametrize(
        ("name", "kind", "unified"),
        [
            ("BTCUSDT", "spot", "BTC/USDT"),
            ("BTCUSDT", "linear", "BTC/USDT:USDT"),
            ("ETHBTC", "spot", "ETH/BTC"),
            ("BTCFDUSD", "spot", "BTC/FDUSD"),
            ("1000SHIBUSDT", "linear", "1000SHIB/USDT:USDT"),
            ("SOLUSDC", "linear", "SOL/USDC:USDC"),
        ],
    )
    def test_binance_names_map_back_to_unified_symbols(self, name, kind, unified):
        assert binance.unified_symbol(name, kind) == unified

    @pytest.mark.parametrize("name", ["USDT", "XYZABC", ""])
    def test_names_without_a_known_quote_are_refused(self, name):
        with pytest.raises(errors.InvalidRequest):
            binance.unified_symbol(name, "spot")

    def test_an_order_in_an_exotic_quote_keeps_its_binance_name_in_listings(self):
        assert binance.parse_order(spot_order(symbol="BTCPLN"), "spot").symbol == "BTCPLN"


class TestQuantities:
    @pytest.mark.parametrize(
        ("quantity", "wire"),
        [
            (Decimal("0.01000"), "0.01"),
            (Decimal("1E-8"), "0.00000001"),
            (Decimal("1.000"), "1"),
            (Decimal("12E+2"), "1200"),
        ],
    )
    def test_quantity_goes_out_in_base_currency_plain_notation(self, quantity, wire):
        params = dict(binance.order_params(order(quantity=quantity), parse_symbol("BTC/USDT:USDT")))
        assert params["quantity"] == wire

    def test_spot_market_buy_is_sized_in_base_not_quote(self):
        params = dict(
            binance.order_params(order(type="market", price=None), parse_symbol("BTC/USDT"))
        )
        assert params["quantity"] == "0.01"
        assert "quoteOrderQty" not in params and "price" not in params
        assert "timeInForce" not in params and params["type"] == "MARKET"

    def test_parsed_orders_keep_base_quantities_and_compute_spot_average_price(self):
        parsed = binance.parse_order(
            spot_order(
                status="FILLED", executedQty="0.01000000", cummulativeQuoteQty="600.50000000"
            ),
            "spot",
        )
        assert parsed.quantity == Decimal("0.01") and parsed.filled_quantity == Decimal("0.01")
        assert parsed.average_price == Decimal("60050")

    def test_futures_average_price_comes_from_avg_price(self):
        parsed = binance.parse_order(
            futures_order(
                status="PARTIALLY_FILLED",
                executedQty="0.004",
                avgPrice="60001.10",
                cumQuote="240.0044",
            ),
            "linear",
        )
        assert parsed.average_price == Decimal("60001.10")
        assert parsed.filled_quantity == Decimal("0.004")


class TestOrderBuilding:
    def test_spot_limit_order_parameters(self):
        params = binance.order_params(order(), parse_symbol("BTC/USDT"))
        assert params == [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", "50000"),
            ("newClientOrderId", CLIENT_ID),
            ("newOrderRespType", "RESULT"),
        ]

    def test_spot_post_only_becomes_limit_maker_without_time_in_force(self):
        params = dict(
            binance.order_params(order(time_in_force="POST_ONLY"), parse_symbol("BTC/USDT"))
        )
        assert params["type"] == "LIMIT_MAKER" and "timeInForce" not in params

    def test_futures_post_only_is_gtx_and_reduce_only_is_sent(self):
        params = dict(
            binance.order_params(
                order(symbol="BTC/USDT:USDT", time_in_force="POST_ONLY", reduce_only=True),
                parse_symbol("BTC/USDT:USDT"),
            )
        )
        assert params["timeInForce"] == "GTX" and params["reduceOnly"] == "true"
        assert "positionSide" not in params  # one-way mode: BOTH by default

    def test_ioc_and_fok_pass_through(self):
        for tif in ("IOC", "FOK"):
            params = dict(binance.order_params(order(time_in_force=tif), parse_symbol("BTC/USDT")))
            assert params["timeInForce"] == tif

    def test_place_sends_a_signed_form_body(self, spot, rsps):
        rsps.add(responses.POST, BASE + "/api/v3/order", json=spot_place_result(order()))
        placed = spot.place_order(order(quantity=Decimal("0.010"), price=Decimal("50000.10")))
        request = rsps.calls[0].request
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert urlsplit(request.url).query == ""
        params = sent_params(request)
        assert params["price"] == "50000.1" and params["quantity"] == "0.01"
        assert params["newClientOrderId"] == CLIENT_ID
        assert request.body.endswith(
            "&signature=" + binance.sign(API_SECRET, "", request.body.rpartition("&signature=")[0])
        )
        assert placed.exchange_order_id == "28" and placed.status == "open"

    def test_get_order_signs_the_query_with_signature_last(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/order", json=spot_order())
        found = spot.get_order("BTC/USDT", client_order_id=CLIENT_ID)
        query = urlsplit(rsps.calls[0].request.url).query
        payload, _, signature = query.rpartition("&signature=")
        assert payload == (
            f"symbol=BTCUSDT&origClientOrderId={CLIENT_ID}&recvWindow=5000&timestamp={NOW_MS}"
        )
        assert signature == binance.sign(API_SECRET, payload)
        assert found.client_order_id == CLIENT_ID and found.symbol == "BTC/USDT"

    def test_get_order_by_exchange_id_sends_order_id(self, futures, rsps):
        rsps.add(responses.GET, BASE + "/fapi/v1/order", json=futures_order())
        found = futures.get_order("BTC/USDT:USDT", exchange_order_id="4077213391")
        params = sent_params(rsps.calls[0].request)
        assert params["orderId"] == "4077213391" and "origClientOrderId" not in params
        assert found.symbol == "BTC/USDT:USDT" and found.quantity == Decimal("0.010")

    def test_spot_cancel_reports_our_client_id_not_the_cancel_id(self, spot, rsps):
        rsps.add(
            responses.DELETE,
            BASE + "/api/v3/order",
            json=spot_order(
                status="CANCELED", clientOrderId="cancelMyOrder1", origClientOrderId=CLIENT_ID
            ),
        )
        canceled = spot.cancel_order("BTC/USDT", client_order_id=CLIENT_ID)
        assert canceled.client_order_id == CLIENT_ID and canceled.status == "canceled"


class TestWeightsAndUsage:
    def test_each_call_carries_its_method_specific_weight(self, spot, rsps, throttle):
        rsps.add(responses.GET, BASE + "/api/v3/order", json=spot_order())
        rsps.add(responses.GET, BASE + "/api/v3/openOrders", json=[])
        rsps.add(responses.GET, BASE + "/api/v3/openOrders", json=[])
        spot.get_order("BTC/USDT", client_order_id=CLIENT_ID)
        spot.open_orders("BTC/USDT")
        spot.open_orders()
        assert throttle.acquired == [
            (4, "/api/v3/order"),
            (6, "/api/v3/openOrders"),
            (80, "/api/v3/openOrders"),
        ]

    def test_futures_open_orders_without_symbol_weigh_forty(self, futures, rsps, throttle):
        rsps.add(responses.GET, BASE + "/fapi/v1/openOrders", json=[futures_order()])
        futures.open_orders()
        assert throttle.acquired == [(40, "/fapi/v1/openOrders")]

    def test_order_counts_are_account_windows_of_the_placement_endpoint(self):
        windows = binance.RATE_LIMITS.windows
        spot_ten = windows["spot account orders 10s"]
        usdm_minute = windows["usdm account orders 1m"]
        assert (spot_ten.limit, spot_ten.seconds, spot_ten.scope) == (50, 10, "account")
        assert windows["spot account orders 1d"].limit == 160_000
        assert (usdm_minute.limit, usdm_minute.seconds) == (1200, 60)
        assert spot_ten.endpoints == frozenset({"POST /api/v3/order"})
        assert windows["spot ip weight 1m"].limit == 6000
        assert windows["usdm ip weight 1m"].limit == 2400

    def test_used_weight_and_order_count_headers_name_their_windows(self, spot, futures):
        headers = requests.structures.CaseInsensitiveDict(
            {
                "X-MBX-USED-WEIGHT-1M": "42",
                "x-mbx-used-weight-1s": "3",
                "X-MBX-ORDER-COUNT-10S": "1",
                "X-MBX-ORDER-COUNT-1D": "77",
                "X-MBX-USED-WEIGHT": "42",
                "X-MBX-ORDER-COUNT-10S-EXTRA": "9",
            }
        )
        charge = Charge("POST", "/api/v3/order", product="spot")
        assert sorted(spot.usage_signals(charge, headers), key=lambda s: s.window) == [
            UsageSignal("spot account orders 10s", 1, 10),
            UsageSignal("spot account orders 1d", 77, 86400),
            UsageSignal("spot ip weight 1m", 42, 60),
            UsageSignal("spot ip weight 1s", 3, 1),
        ]
        futures_headers = {"X-MBX-USED-WEIGHT-1M": "5", "X-MBX-ORDER-COUNT-1M": "12"}
        charge = Charge("POST", "/fapi/v1/order", product="linear")
        assert futures.usage_signals(charge, futures_headers) == [
            UsageSignal("usdm ip weight 1m", 5, 60),
            UsageSignal("usdm account orders 1m", 12, 60),
        ]

    def test_usage_is_reported_to_the_throttle_after_a_request(self, spot, rsps, throttle):
        rsps.add(
            responses.GET,
            BASE + "/api/v3/time",
            json={"serverTime": NOW_MS},
            headers={"X-MBX-USED-WEIGHT-1M": "1187"},
        )
        spot.server_time()
        assert throttle.usage == [UsageSignal("spot ip weight 1m", 1187, 60)]

    def test_an_order_answer_reports_the_accounts_order_counts(self, spot, rsps, throttle):
        order = OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            price=Decimal("50000"),
            client_order_id=CLIENT_ID,
        )
        rsps.add(
            responses.POST,
            BASE + "/api/v3/order",
            json=spot_place_result(order),
            headers={
                "X-MBX-USED-WEIGHT-1M": "30",
                "X-MBX-ORDER-COUNT-10S": "4",
                "X-MBX-ORDER-COUNT-1D": "250",
            },
        )
        spot.place_order(order)
        assert set(throttle.usage) >= {
            UsageSignal("spot account orders 10s", 4, 10),
            UsageSignal("spot account orders 1d", 250, 86400),
            UsageSignal("spot ip weight 1m", 30, 60),
        }


class TestRunTimeRateLimits:
    EXCHANGE_INFO = {
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
            {"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": 1},
            {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "intervalNum": 1, "limit": 1},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 0, "limit": 9},
        ]
    }

    def test_exchange_info_rate_limits_become_named_windows(self):
        windows = binance.rate_limits_from_exchange_info("spot", self.EXCHANGE_INFO)
        assert {name: (w.limit, w.seconds, w.scope) for name, w in windows.items()} == {
            "spot ip weight 1m": (6000, 60, "ip"),
            "spot account orders 10s": (100, 10, "account"),
            "spot account orders 1d": (200000, 86400, "account"),
            "spot ip requests 5m": (61000, 300, "ip"),
        }
        assert windows["spot account orders 10s"].endpoints == frozenset({"POST /api/v3/order"})

    def test_anything_else_gives_no_windows(self):
        for raw in ({}, {"rateLimits": "x"}, [], None, {"rateLimits": [None, 5]}):
            assert binance.rate_limits_from_exchange_info("linear", raw) == {}

    def test_the_rules_are_read_from_exchange_info_with_one_symbol(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/exchangeInfo", json=self.EXCHANGE_INFO)
        assert spot.rate_limit_rules("spot") == self.EXCHANGE_INFO["rateLimits"]
        assert "symbol=BTCUSDT" in rsps.calls[0].request.url


class TestPauses:
    def test_retry_after_header_sets_the_pause(self, spot, rsps, throttle):
        rsps.add(
            responses.POST,
            BASE + "/api/v3/order",
            status=429,
            json=WEIGHT_LIMIT,
            headers={"Retry-After": "7"},
        )
        with pytest.raises(errors.RateLimited) as caught:
            spot.place_order(order())
        assert caught.value.retry_after == 7 and throttle.pauses == [7]

    def test_ip_ban_without_retry_after_pauses_at_least_two_minutes(self, spot, rsps, throttle):
        rsps.add(responses.GET, BASE + "/api/v3/openOrders", status=418, json=IP_BANNED)
        with pytest.raises(errors.RateLimited):
            spot.open_orders("BTC/USDT")
        assert throttle.pauses == [120.0]

    def test_order_rate_limit_pauses_ten_seconds(self, spot, rsps, throttle):
        # Order-count 429s come without Retry-After (rest-api.md "Order Rate Limits").
        rsps.add(
            responses.POST,
            BASE + "/api/v3/order",
            status=429,
            json={
                "code": -1015,
                "msg": "Too many new orders; current limit is 50 orders per 10 SECOND.",
            },
        )
        with pytest.raises(errors.RateLimited) as caught:
            spot.place_order(order())
        assert caught.value.retry_after == 10.0

    def test_bare_429_pauses_a_minute(self, spot, rsps, throttle):
        rsps.add(responses.GET, BASE + "/api/v3/time", status=429, body="")
        with pytest.raises(errors.RateLimited):
            spot.server_time()
        assert throttle.pauses == [60.0]


class TestAmbiguousOutcomes:
    def test_read_timeout_on_place_carries_timestamp_plus_recv_window(self, spot, rsps):
        rsps.add(
            responses.POST,
            BASE + "/api/v3/order",
            body=requests.exceptions.ReadTimeout("read timed out"),
        )
        with pytest.raises(errors.RequestTimeout) as caught:
            spot.place_order(order())
        assert caught.value.deadline_ms == NOW_MS + 5000

    def test_deadline_follows_the_measured_server_offset(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/time", json={"serverTime": NOW_MS + 1500})
        rsps.add(responses.POST, BASE + "/api/v3/order", status=503, json=STATUS_UNKNOWN)
        spot.sync_time()
        with pytest.raises(errors.OrderOutcomeUnknown) as caught:
            spot.place_order(order())
        assert caught.value.deadline_ms == NOW_MS + 1500 + 5000
        assert caught.value.code == "-1007"

    def test_status_unknown_on_a_cancel_is_outcome_unknown(self, futures, rsps):
        rsps.add(responses.DELETE, BASE + "/fapi/v1/order", status=408, json=STATUS_UNKNOWN)
        with pytest.raises(errors.RequestTimeout):
            futures.cancel_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)

    def test_status_unknown_on_a_read_is_only_unavailable(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/order", status=503, json=STATUS_UNKNOWN)
        with pytest.raises(errors.ExchangeUnavailable):
            spot.get_order("BTC/USDT", client_order_id=CLIENT_ID)

    def test_waf_page_on_place_leaves_the_outcome_open(self, spot, rsps):
        rsps.add(responses.POST, BASE + "/api/v3/order", status=403, body="Forbidden")
        with pytest.raises(errors.OrderOutcomeUnknown) as caught:
            spot.place_order(order())
        assert caught.value.deadline_ms is not None

    def test_waf_page_on_a_read_is_only_unavailable(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/order", status=403, body="Forbidden")
        with pytest.raises(errors.ExchangeUnavailable) as caught:
            spot.get_order("BTC/USDT", client_order_id=CLIENT_ID)
        assert not isinstance(caught.value, errors.OrderOutcomeUnknown)


class TestErrorTable:
    @pytest.mark.parametrize(
        ("code", "message", "expected"),
        [
            (-2011, "Unknown order sent.", errors.OrderNotFound),
            (-2011, "Order was not canceled due to cancel restrictions.", errors.InvalidOrder),
            (-2010, "Rest API trading is not enabled.", errors.PermissionDenied),
            (-2010, "Market is closed.", errors.InvalidOrder),
            (-2013, "Order does not exist.", errors.OrderNotFound),
            (
                -2026,
                "Order was canceled or expired with no executed qty over 90 days ago and has "
                "been archived.",
                errors.OrderNotFound,
            ),
            (-2018, "Balance is insufficient.", errors.InsufficientFunds),
            (-1002, "You are not authorized to execute this request.", errors.PermissionDenied),
            (
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API "
                "endpoints instead.",
                errors.InvalidOrder,
            ),
            (-1015, "Too many new orders.", errors.RateLimited),
        ],
    )
    def test_codes_and_messages_map_to_classes(self, code, message, expected):
        assert binance.ERROR_TABLE.classify(code=code, message=message, http_status=400) is expected

    def test_unknown_code_falls_back_to_the_http_status(self):
        assert (
            binance.ERROR_TABLE.classify(code=-9999, message="new", http_status=400)
            is errors.InvalidRequest
        )
        assert (
            binance.ERROR_TABLE.classify(code=None, message="", http_status=502)
            is errors.ExchangeUnavailable
        )

    def test_cancel_of_an_unknown_order_raises_order_not_found(self, spot, rsps):
        rsps.add(responses.DELETE, BASE + "/api/v3/order", status=400, json=UNKNOWN_ORDER)
        with pytest.raises(errors.OrderNotFound) as caught:
            spot.cancel_order("BTC/USDT", client_order_id=CLIENT_ID)
        assert caught.value.code == "-2011" and caught.value.http_status == 400

    def test_futures_success_envelope_with_code_200_is_not_an_error(self, futures):
        ok = binance.Response(status=200, headers={}, payload={"code": 200, "msg": "success"})
        assert futures.error_of(ok) is None

    def test_negative_code_in_a_200_body_is_an_error(self, futures):
        odd = binance.Response(status=200, headers={}, payload={"code": -1000, "msg": "x"})
        assert futures.error_of(odd) == (-1000, "x")


class TestParsers:
    def test_spot_instruments_keep_trading_symbols_with_their_filters(self):
        raw = {
            "timezone": "UTC",
            "serverTime": NOW_MS,
            "rateLimits": [],
            "symbols": [
                {
                    "symbol": "BTCUSDT",
                    "status": "TRADING",
                    "baseAsset": "BTC",
                    "quoteAsset": "USDT",
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "0.01000000",
                            "maxPrice": "1000000.00000000",
                            "tickSize": "0.01000000",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.00001000",
                            "maxQty": "9000.00000000",
                            "stepSize": "0.00001000",
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": "5.00000000",
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                        },
                    ],
                },
                {
                    "symbol": "LUNAUSDT",
                    "status": "BREAK",
                    "baseAsset": "LUNA",
                    "quoteAsset": "USDT",
                    "filters": [],
                },
            ],
        }
        [btc] = binance.parse_instruments(raw, "spot")
        assert (btc.symbol, btc.exchange_symbol, btc.kind) == ("BTC/USDT", "BTCUSDT", "spot")
        assert btc.tick_size == Decimal("0.01") and btc.lot_size == Decimal("0.00001")
        assert btc.min_quantity == Decimal("0.00001") and btc.min_notional == Decimal("5")
        assert btc.contract_value == 1

    def test_futures_instruments_are_usd_m_perpetuals_only(self):
        def row(symbol, contract, status="TRADING", margin="USDT"):
            return {
                "symbol": symbol,
                "pair": "BTCUSDT",
                "contractType": contract,
                "status": status,
                "baseAsset": "BTC",
                "quoteAsset": "USDT",
                "marginAsset": margin,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "556.80",
                        "maxPrice": "4529764",
                        "tickSize": "0.10",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.001",
                        "maxQty": "1000",
                        "stepSize": "0.001",
                    },
                    {"filterType": "MIN_NOTIONAL", "notional": "100"},
                ],
            }

        raw = {
            "symbols": [
                row("BTCUSDT", "PERPETUAL"),
                row("BTCUSDT_250926", "CURRENT_QUARTER"),
                row("BTCUSDT", "PERPETUAL", status="SETTLING"),
                row("BTCUSDT", "PERPETUAL", margin="BNFCR"),
            ]
        }
        [btc] = binance.parse_instruments(raw, "linear")
        assert btc.symbol == "BTC/USDT:USDT" and btc.kind == "linear"
        assert btc.tick_size == Decimal("0.1") and btc.min_notional == Decimal("100")

    def test_spot_balances_skip_empty_assets(self):
        raw = {
            "canTrade": True,
            "accountType": "SPOT",
            "balances": [
                {"asset": "BTC", "free": "0.50000000", "locked": "0.10000000"},
                {"asset": "LTC", "free": "0.00000000", "locked": "0.00000000"},
            ],
        }
        [btc] = binance.parse_spot_balances(raw)
        assert (btc.free, btc.locked, btc.total) == (Decimal("0.5"), Decimal("0.1"), Decimal("0.6"))

    def test_futures_balance_locks_what_is_not_available(self):
        raw = [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": "1000.00000000",
                "crossWalletBalance": "1000.00000000",
                "crossUnPnl": "0.00000000",
                "availableBalance": "900.00000000",
                "maxWithdrawAmount": "900.00000000",
                "marginAvailable": True,
                "updateTime": NOW_MS,
            },
            {
                "accountAlias": "SgsR",
                "asset": "BNB",
                "balance": "0.00000000",
                "crossWalletBalance": "0",
                "crossUnPnl": "0",
                "availableBalance": "0.00000000",
                "maxWithdrawAmount": "0",
                "marginAvailable": True,
                "updateTime": 0,
            },
        ]
        [usdt] = binance.parse_futures_balances(raw)
        assert (usdt.asset, usdt.free, usdt.locked) == ("USDT", Decimal("900"), Decimal("100"))

    def test_positions_are_signed_and_empty_rows_dropped(self):
        def row(symbol, amount):
            return {
                "symbol": symbol,
                "positionSide": "BOTH",
                "positionAmt": amount,
                "entryPrice": "60000.0",
                "breakEvenPrice": "60030.0",
                "markPrice": "60100.00",
                "unRealizedProfit": "-1.00000000",
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": "-601.00",
                "marginAsset": "USDT",
                "initialMargin": "60.1",
                "maintMargin": "2.4",
                "updateTime": NOW_MS,
            }

        [short] = binance.parse_positions([row("BTCUSDT", "-0.010"), row("ETHUSDT", "0.000")])
        assert short.symbol == "BTC/USDT:USDT" and short.quantity == Decimal("-0.010")
        assert short.entry_price == Decimal("60000") and short.mark_price == Decimal("60100")
        assert short.unrealized_pnl == Decimal("-1") and short.leverage is None

    def test_ticker_reads_book_and_last_price(self, futures, rsps):
        rsps.add(
            responses.GET,
            BASE + "/fapi/v1/ticker/bookTicker",
            json={
                "symbol": "BTCUSDT",
                "bidPrice": "59999.90",
                "bidQty": "3.1",
                "askPrice": "60000.00",
                "askQty": "1.2",
                "time": NOW_MS,
            },
        )
        rsps.add(
            responses.GET,
            BASE + "/fapi/v1/ticker/price",
            json={"symbol": "BTCUSDT", "price": "59999.95", "time": NOW_MS},
        )
        ticker = futures.ticker("BTC/USDT:USDT")
        assert (ticker.bid, ticker.ask, ticker.last) == (
            Decimal("59999.90"),
            Decimal("60000.00"),
            Decimal("59999.95"),
        )
        assert all("signature" not in call.request.url for call in rsps.calls)
        assert all("X-MBX-APIKEY" not in call.request.headers for call in rsps.calls)


class TestAccount:
    RESTRICTIONS = {
        "ipRestrict": False,
        "createTime": 1623840271000,
        "enableReading": True,
        "enableWithdrawals": True,
        "enableInternalTransfer": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFutures": False,
        "enableMargin": False,
        "enableSpotAndMarginTrading": True,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enablePortfolioMarginTrading": False,
    }

    def test_live_credentials_come_from_api_restrictions(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/sapi/v1/account/apiRestrictions", json=self.RESTRICTIONS)
        check = spot.check_credentials()
        assert check.permissions == ("read", "withdraw", "trade")
        assert check.warnings == ("withdraw_enabled", "no_ip_whitelist")

    def test_a_futures_connection_without_futures_permission_is_read_only(self, futures, rsps):
        rsps.add(
            responses.GET,
            BASE + "/sapi/v1/account/apiRestrictions",
            json={**self.RESTRICTIONS, "enableWithdrawals": False, "ipRestrict": True},
        )
        check = futures.check_credentials()
        assert "trade" not in check.permissions and check.warnings == ("read_only",)

    def test_test_connection_measures_offset_and_permissions(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/time", json={"serverTime": NOW_MS + 250})
        rsps.add(
            responses.GET,
            BASE + "/sapi/v1/account/apiRestrictions",
            json={**self.RESTRICTIONS, "enableWithdrawals": False, "ipRestrict": True},
        )
        result = spot.test_connection()
        assert result.server_time_offset_ms == 250
        assert result.permissions == ("read", "trade") and result.warnings == ()

    def test_heartbeat_uses_the_cheapest_signed_read(self, spot, futures, rsps, throttle):
        rsps.add(responses.GET, BASE + "/api/v3/time", json={"serverTime": NOW_MS})
        rsps.add(responses.GET, BASE + "/sapi/v1/account/apiRestrictions", json=self.RESTRICTIONS)
        rsps.add(responses.GET, BASE + "/fapi/v1/time", json={"serverTime": NOW_MS})
        rsps.add(
            responses.GET,
            BASE + "/fapi/v1/accountConfig",
            json={
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": False,
                "dualSidePosition": False,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
            },
        )
        spot.heartbeat()
        futures.heartbeat()
        assert [endpoint for _, endpoint in throttle.acquired] == [
            "/api/v3/time",
            "/sapi/v1/account/apiRestrictions",
            "/fapi/v1/time",
            "/fapi/v1/accountConfig",
        ]

    @pytest.mark.parametrize("dual", [True, False])
    def test_hedge_mode_is_read_from_account_config(self, futures, rsps, dual):
        rsps.add(
            responses.GET,
            BASE + "/fapi/v1/accountConfig",
            json={
                "feeTier": 0,
                "canTrade": True,
                "canDeposit": True,
                "canWithdraw": True,
                "dualSidePosition": dual,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
            },
        )
        assert futures.is_hedge_mode() is dual

    def test_spot_is_never_hedged_and_has_no_positions(self, spot, rsps):
        assert spot.is_hedge_mode() is False
        assert spot.positions() == []
        assert len(rsps.calls) == 0

    def test_positions_filter_by_symbol(self, futures, rsps):
        rsps.add(responses.GET, BASE + "/fapi/v3/positionRisk", json=[])
        assert futures.positions("BTC/USDT:USDT") == []
        assert sent_params(rsps.calls[0].request)["symbol"] == "BTCUSDT"

    def test_set_leverage_posts_symbol_and_leverage(self, futures, rsps):
        rsps.add(
            responses.POST,
            BASE + "/fapi/v1/leverage",
            json={"leverage": 7, "maxNotionalValue": "20000000", "symbol": "BTCUSDT"},
        )
        futures.set_leverage("BTC/USDT:USDT", 7)
        params = sent_params(rsps.calls[0].request)
        assert (params["symbol"], params["leverage"]) == ("BTCUSDT", "7")


class TestCancelAllAndHistory:
    def test_spot_cancel_all_counts_the_canceled_orders(self, spot, rsps):
        rsps.add(
            responses.DELETE,
            BASE + "/api/v3/openOrders",
            json=[spot_order(status="CANCELED"), spot_order(status="CANCELED", orderId=29)],
        )
        assert spot.cancel_all("BTC/USDT") == 2

    def test_spot_cancel_all_with_nothing_open_is_zero(self, spot, rsps):
        rsps.add(responses.DELETE, BASE + "/api/v3/openOrders", status=400, json=UNKNOWN_ORDER)
        assert spot.cancel_all("BTC/USDT") == 0

    def test_futures_cancel_all_counts_open_orders_first(self, futures, rsps):
        rsps.add(
            responses.GET,
            BASE + "/fapi/v1/openOrders",
            json=[futures_order(), futures_order(orderId=2)],
        )
        rsps.add(
            responses.DELETE,
            BASE + "/fapi/v1/allOpenOrders",
            json={"code": 200, "msg": "The operation of cancel all open order is done."},
        )
        assert futures.cancel_all("BTC/USDT:USDT") == 2

    def test_futures_cancel_all_sends_nothing_when_nothing_is_open(self, futures, rsps):
        rsps.add(responses.GET, BASE + "/fapi/v1/openOrders", json=[])
        assert futures.cancel_all("BTC/USDT:USDT") == 0
        assert len(rsps.calls) == 1

    def test_cancel_all_without_symbol_cancels_each_symbol_with_open_orders(self, spot, rsps):
        rsps.add(
            responses.GET,
            BASE + "/api/v3/openOrders",
            json=[spot_order(), spot_order(symbol="ETHUSDT", orderId=3)],
        )
        rsps.add(responses.DELETE, BASE + "/api/v3/openOrders", json=[spot_order()])
        rsps.add(responses.DELETE, BASE + "/api/v3/openOrders", json=[spot_order()])
        assert spot.cancel_all() == 2
        deleted = [
            sent_params(call.request)["symbol"]
            for call in rsps.calls
            if call.request.method == "DELETE"
        ]
        assert deleted == ["BTCUSDT", "ETHUSDT"]

    def test_history_windows_respect_the_span(self):
        day = 86_400_000
        windows = binance.history_windows(NOW_MS - 2 * day, NOW_MS, day - 1)
        assert windows[0][0] == NOW_MS - 2 * day and windows[-1][1] == NOW_MS
        assert all(end - start <= day - 1 for start, end in windows)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(windows))

    def test_history_never_reaches_past_ninety_days(self):
        windows = binance.history_windows(0, NOW_MS, 7 * 86_400_000 - 1)
        assert windows[0][0] == NOW_MS - binance.HISTORY_LIMIT_MS

    def test_spot_history_pages_in_day_slices(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/allOrders", json=[spot_order(status="FILLED")])
        rsps.add(responses.GET, BASE + "/api/v3/allOrders", json=[])
        orders = spot.order_history("BTC/USDT", since_ms=NOW_MS - 86_400_000 - 5)
        assert [o.status for o in orders] == ["filled"]
        first = sent_params(rsps.calls[0].request)
        assert first["startTime"] == str(NOW_MS - 86_400_000 - 5) and first["limit"] == "1000"

    def test_history_without_since_asks_for_the_latest(self, futures, rsps):
        rsps.add(responses.GET, BASE + "/fapi/v1/allOrders", json=[futures_order()])
        [latest] = futures.order_history("BTC/USDT:USDT")
        assert "startTime" not in sent_params(rsps.calls[0].request)
        assert latest.symbol == "BTC/USDT:USDT"


class TestEnvironments:
    @pytest.mark.parametrize(
        ("api_type", "environment", "url"),
        [
            ("spot", "live", "https://api.binance.com/api/v3/time"),
            ("perpetual_futures", "live", "https://fapi.binance.com/fapi/v1/time"),
            ("spot", "testnet", "https://testnet.binance.vision/api/v3/time"),
            ("perpetual_futures", "testnet", "https://testnet.binancefuture.com/fapi/v1/time"),
        ],
    )
    def test_hosts_per_environment_and_product(self, rsps, api_type, environment, url):
        rsps.add(responses.GET, url, json={"serverTime": NOW_MS})
        make(api_type, environment=environment, base_url=None).server_time()
        assert rsps.calls[0].request.url == url

    def test_testnet_needs_no_extra_header(self, rsps):
        rsps.add(responses.GET, "https://testnet.binancefuture.com/fapi/v3/balance", json=[])
        make("perpetual_futures", environment="testnet", base_url=None).balances()
        headers = rsps.calls[0].request.headers
        assert headers["X-MBX-APIKEY"] == API_KEY
        assert not any(name.lower().startswith("x-") and name != "X-MBX-APIKEY" for name in headers)

    def test_testnet_credentials_use_account_flags_not_sapi(self, rsps):
        rsps.add(
            responses.GET,
            "https://testnet.binance.vision/api/v3/account",
            json={
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": True,
                "accountType": "SPOT",
                "permissions": ["SPOT"],
                "balances": [],
            },
        )
        check = make("spot", environment="testnet", base_url=None).check_credentials()
        assert check.permissions == ("read", "trade") and check.warnings == ()

    def test_ws_hosts_are_declared_for_live_and_testnet(self):
        assert binance.WS_HOSTS[("live", "spot")].startswith("wss://ws-api.binance.com")
        assert binance.WS_HOSTS[("testnet", "linear")] == "wss://fstream.binancefuture.com"

    def test_base_url_override_serves_both_products(self, rsps):
        rsps.add(
            responses.GET, "http://127.0.0.1:8900/binance/fapi/v1/time", json={"serverTime": NOW_MS}
        )
        rsps.add(
            responses.GET,
            "http://127.0.0.1:8900/binance/sapi/v1/account/apiRestrictions",
            json=TestAccount.RESTRICTIONS,
        )
        connector = make(
            "perpetual_futures", environment="paper", base_url="http://127.0.0.1:8900/binance/"
        )
        connector.test_connection()
        assert [call.request.url.split("?")[0] for call in rsps.calls] == [
            "http://127.0.0.1:8900/binance/fapi/v1/time",
            "http://127.0.0.1:8900/binance/sapi/v1/account/apiRestrictions",
        ]

    def test_paper_without_base_url_is_not_supported(self):
        with pytest.raises(errors.NotSupported):
            make("spot", environment="paper", base_url=None).server_time()


class TestBadInput:
    @pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC-USDT", "", "BTC/USDT:USD"])
    def test_malformed_symbols_are_refused_before_sending(self, spot, rsps, symbol):
        with pytest.raises(errors.InvalidRequest):
            spot.place_order(order(symbol=symbol))
        assert len(rsps.calls) == 0

    def test_spot_symbol_on_a_perpetual_connection_is_refused(self, futures, rsps):
        with pytest.raises(errors.InvalidRequest):
            futures.get_order("BTC/USDT", client_order_id=CLIENT_ID)
        assert len(rsps.calls) == 0

    def test_perpetual_symbol_on_a_spot_connection_is_refused(self, spot, rsps):
        with pytest.raises(errors.InvalidRequest):
            spot.ticker("BTC/USDT:USDT")

    @pytest.mark.parametrize(
        "changes",
        [
            {"price": None},
            {"price": Decimal("0")},
            {"quantity": Decimal("0")},
            {"quantity": Decimal("-1")},
            {"side": "long"},
            {"type": "stop"},
            {"time_in_force": "GTD"},
            {"type": "market", "time_in_force": "POST_ONLY"},
            {"reduce_only": True},
            {"client_order_id": "has spaces"},
            {"client_order_id": "x" * 37},
            {"client_order_id": ""},
        ],
    )
    def test_invalid_orders_are_refused_before_sending(self, spot, rsps, changes):
        with pytest.raises(errors.InvalidRequest):
            spot.place_order(order(**changes))
        assert len(rsps.calls) == 0

    def test_spot_margin_is_not_supported(self, spot):
        with pytest.raises(errors.NotSupported):
            spot.place_order(order(margin=True))

    def test_leverage_on_spot_is_not_supported(self, spot):
        with pytest.raises(errors.NotSupported):
            spot.set_leverage("BTC/USDT", 5)

    @pytest.mark.parametrize("leverage", [0, 126, -3])
    def test_leverage_outside_binance_range_is_refused(self, futures, leverage):
        with pytest.raises(errors.InvalidRequest):
            futures.set_leverage("BTC/USDT:USDT", leverage)

    def test_lookup_needs_an_id(self, spot):
        with pytest.raises(errors.InvalidRequest):
            spot.get_order("BTC/USDT")

    @pytest.mark.parametrize("api_type", ["margin", "unified_account"])
    def test_api_types_binance_lacks_are_not_supported(self, api_type):
        with pytest.raises(errors.NotSupported):
            make(api_type)

    def test_the_secret_never_appears_in_a_signed_request_or_repr(self, spot, rsps):
        rsps.add(responses.GET, BASE + "/api/v3/order", json=spot_order())
        spot.get_order("BTC/USDT", client_order_id=CLIENT_ID)
        request = rsps.calls[0].request
        assert API_SECRET not in request.url and API_SECRET not in str(request.headers)
        assert API_SECRET not in repr(spot)


def test_registry_exposes_the_connector():
    from exchanges.registry import connector_class

    assert connector_class("binance") is binance.BinanceConnector


# -- recent fills (GET /api/v3/myTrades, GET /fapi/v1/userTrades) ------------------------------

SPOT_TRADE = {  # rest-api.md "Account trade list (USER_DATA)", on a symbol we trade
    "symbol": "BTCUSDT",
    "id": 28457,
    "orderId": 100234,
    "orderListId": -1,
    "price": "4.00000100",
    "qty": "12.00000000",
    "quoteQty": "48.000012",
    "commission": "10.10000000",
    "commissionAsset": "BNB",
    "time": 1499865549590,
    "isBuyer": True,
    "isMaker": False,
    "isBestMatch": True,
}
FUTURES_TRADE = {  # USD-M "Account Trade List (USER_DATA)" response example
    "buyer": False,
    "commission": "-0.07819010",
    "commissionAsset": "USDT",
    "id": 698759,
    "maker": False,
    "orderId": 25851813,
    "price": "7819.01",
    "qty": "0.002",
    "quoteQty": "15.63802",
    "realizedPnl": "-0.91539999",
    "side": "SELL",
    "positionSide": "SHORT",
    "symbol": "BTCUSDT",
    "time": 1569514978020,
}


def test_spot_recent_fills_read_my_trades_per_symbol_with_weight_20(rsps):
    throttle = RecordingThrottle()
    rsps.add(responses.GET, BASE + "/api/v3/myTrades", json=[SPOT_TRADE])
    [fill] = make("spot", throttle=throttle).recent_fills("BTC/USDT")
    params = sent_params(rsps.calls[0].request)
    assert {k: params[k] for k in ("symbol", "limit")} == {"symbol": "BTCUSDT", "limit": "100"}
    assert "signature" in params and "startTime" not in params
    assert throttle.charges[0].weight == 20
    assert (fill.trade_id, fill.exchange_order_id, fill.client_order_id) == (
        "28457",
        "100234",
        None,
    )
    assert (fill.symbol, fill.side, fill.price, fill.quantity) == (
        "BTC/USDT",
        "buy",
        Decimal("4.00000100"),
        Decimal("12.00000000"),
    )
    assert (fill.fee, fill.fee_asset, fill.liquidity, fill.time_ms) == (
        Decimal("10.10000000"),
        "BNB",
        "taker",
        1499865549590,
    )


def test_spot_recent_fills_since_a_time_ask_24_hour_windows(rsps):
    rsps.add(responses.GET, BASE + "/api/v3/myTrades", json=[])
    make("spot").recent_fills("BTC/USDT", since_ms=NOW_MS - 30 * 3_600_000)
    windows = [
        (int(sent_params(c.request)["startTime"]), int(sent_params(c.request)["endTime"]))
        for c in rsps.calls
    ]
    assert windows[0][0] == NOW_MS - 30 * 3_600_000 and windows[-1][1] == NOW_MS
    assert len(windows) == 2 and all(end - start < 86_400_000 for start, end in windows)


def test_futures_recent_fills_read_user_trades_with_the_fee_as_paid(rsps):
    throttle = RecordingThrottle()
    trade = {**FUTURES_TRADE, "time": NOW_MS - 1000}
    rsps.add(responses.GET, BASE + "/fapi/v1/userTrades", json=[trade])
    [fill] = make("perpetual_futures", throttle=throttle).recent_fills(
        "BTC/USDT:USDT", since_ms=NOW_MS - 60_000
    )
    params = sent_params(rsps.calls[0].request)
    assert (params["symbol"], params["startTime"], params["endTime"]) == (
        "BTCUSDT",
        str(NOW_MS - 60_000),
        str(NOW_MS),
    )
    assert throttle.charges[0].weight == 5
    assert (fill.symbol, fill.side, fill.quantity, fill.fee, fill.liquidity) == (
        "BTC/USDT:USDT",
        "sell",
        Decimal("0.002"),
        Decimal("0.07819010"),
        "taker",
    )


def test_recent_fills_without_a_symbol_are_refused_on_binance():
    with pytest.raises(errors.InvalidRequest):
        make("spot").recent_fills()
