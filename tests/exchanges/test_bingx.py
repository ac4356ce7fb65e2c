"""The BingX connector against exact BingX payloads (docs/exchanges/bingx.md), via responses."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from exchanges import bingx, errors
from exchanges.base import Credentials, OrderRequest
from exchanges.bingx import BingxConnector, sign, signing_payload
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
ORDER_ID = 1735950529123455000  # 19 digits: must survive as an exact integer
DEADLINE = int(FROZEN_NOW * 1000) + 5000


def ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "msg": "", "data": data}


def fail(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": {}}


def spot_order(status: str = "PENDING", **changes: Any) -> dict[str, Any]:
    raw = {
        "symbol": "BTC-USDT",
        "orderId": ORDER_ID,
        "transactTime": 1700000000000,
        "price": "50000.1",
        "origQty": "0.01",
        "executedQty": "0",
        "cummulativeQuoteQty": "0",
        "status": status,
        "type": "LIMIT",
        "side": "BUY",
        "time": 1700000000000,
        "updateTime": 1700000000500,
        "clientOrderID": CLIENT_ID,
    }
    return raw | changes


def swap_order(status: str = "PENDING", **changes: Any) -> dict[str, Any]:
    raw = {
        "symbol": "BTC-USDT",
        "orderId": ORDER_ID,
        "side": "BUY",
        "positionSide": "BOTH",
        "type": "LIMIT",
        "origQty": "0.0100",
        "price": "50000.1",
        "executedQty": "0.0000",
        "avgPrice": "0.0",
        "cumQuote": "0",
        "stopPrice": "",
        "profit": "0",
        "commission": "0",
        "status": status,
        "time": 1700000000000,
        "updateTime": 1700000000500,
        "clientOrderId": CLIENT_ID,
        "leverage": "10",
        "workingType": "MARK_PRICE",
    }
    return raw | changes


def make(
    api_type: str = "spot",
    environment: str = "live",
    base_url: str | None = BASE,
    throttle: RecordingThrottle | None = None,
) -> BingxConnector:
    return BingxConnector(
        credentials=Credentials(API_KEY, API_SECRET),
        api_type=api_type,
        environment=environment,
        base_url=base_url,
        throttle=throttle,
        clock=lambda: FROZEN_NOW,
    )


def sent_params(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


COMMON_ERRORS: list[tuple[int, Any, type[errors.ExchangeError]]] = [
    (429, fail(100410, "rate limit exceeded"), errors.RateLimited),
    (200, fail(100001, "Signature verification failed"), errors.AuthenticationError),
    (401, fail(100413, "Incorrect apiKey"), errors.AuthenticationError),
    (200, fail(100421, "Null timestamp or timestamp mismatch"), errors.InvalidRequest),
    (200, fail(100421, "traders prohibit openApi from placing orders"), errors.PermissionDenied),
    (
        200,
        fail(100004, "Permission denied as the API key was created without the permission"),
        errors.PermissionDenied,
    ),
    (200, fail(100419, "IP does not match IP whitelist"), errors.PermissionDenied),
    (
        200,
        fail(101400, "the minimum nominal value of an order is greater than 2u"),
        errors.InvalidOrder,
    ),
    (
        200,
        fail(109400, "In the One-way mode, the 'Side' field can only be set to BOTH"),
        errors.InvalidRequest,
    ),
    (
        200,
        fail(109400, "In the Hedge mode, positionSide can only be LONG or SHORT"),
        errors.HedgeModeUnsupported,
    ),
    (200, fail(101215, "post only order would be filled immediately"), errors.InvalidOrder),
    (
        200,
        fail(109201, "the same order number can only be submitted once within 1 second"),
        errors.DuplicateOrder,
    ),
    (200, fail(80019, "order is being processed, please query later"), errors.OrderOutcomeUnknown),
    (200, fail(100500, "Internal system error"), errors.OrderOutcomeUnknown),
    (418, None, errors.RateLimited),
    (200, fail(123456, "something BingX has not told anyone about"), errors.ExchangeError),
]


class TestBingxSpotContract(ConnectorContract):
    exchange = "bingx"
    connector_class = BingxConnector
    api_type = "spot"
    symbol = "BTC/USDT"
    base_url = BASE
    status_cases = [
        (spot_order("NEW"), "open"),
        (spot_order("PENDING"), "open"),
        (spot_order("PARTIALLY_FILLED", executedQty="0.004"), "partially_filled"),
        (spot_order("FILLED", executedQty="0.01"), "filled"),
        (spot_order("CANCELED"), "canceled"),
        (spot_order("FAILED"), "rejected"),
    ]
    error_cases = [
        *COMMON_ERRORS,
        (
            200,
            {"code": 100202, "msg": "Insufficient assets", "debugMsg": "", "data": {}},
            errors.InsufficientFunds,
        ),
    ]
    weight_cases = [(bingx.SPOT_ORDER, 1), (bingx.SPOT_QUERY, 1), (bingx.SPOT_BALANCE, 1)]
    place = ("POST", bingx.SPOT_ORDER)
    cancel = ("POST", bingx.SPOT_CANCEL)
    query = ("GET", bingx.SPOT_QUERY)

    def order_payload(self, status: str = "PENDING") -> dict[str, Any]:
        # spot answers carry the order itself in data
        return spot_order(status)

    def add_place_success(self, rsps, order):
        rsps.add(*self.place_url(), json=ok(self.order_payload()))

    def add_place_answer(self, rsps, status, body, headers=None):
        if body is None:
            rsps.add(*self.place_url(), body="", status=status, headers=headers)
        else:
            rsps.add(*self.place_url(), json=body, status=status, headers=headers)

    def add_place_exception(self, rsps, exc):
        rsps.add(*self.place_url(), body=exc)

    def add_cancel_success(self, rsps, client_order_id):
        method, path = self.cancel
        rsps.add(method, BASE + path, json=ok(self.order_payload("CANCELED")))

    def add_get_not_found(self, rsps):
        method, path = self.query
        rsps.add(method, BASE + path, json=fail(80016, "order does not exist"))

    def add_server_time(self, rsps):
        rsps.add(
            "GET",
            BASE + bingx.SERVER_TIME,
            json={"code": 0, "msg": "", "data": {"serverTime": 1675319535362}},
        )

    def parse_order(self, raw):
        return bingx.parse_order(raw, parse_symbol(self.symbol).kind)

    def place_url(self) -> tuple[str, str]:
        method, path = self.place
        return method, BASE + path

    def assert_signed(self, request):
        pairs = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        assert pairs and pairs[-1][0] == "signature", "signature must be the last parameter"
        keys = [key for key, _ in pairs[:-1]]
        assert keys == sorted(keys)
        assert "timestamp" in keys and "recvWindow" in keys
        assert pairs[-1][1] == sign(API_SECRET, signing_payload(pairs[:-1]))
        assert request.headers["X-BX-APIKEY"] == API_KEY
        assert not request.body

    def assert_deadline(self, error):
        assert error.deadline_ms == DEADLINE

    def test_place_order_sends_our_client_id_and_decimal_strings(self, connector, rsps):
        # Overrides the shared check, whose exponent regex (\d[eE][+-]?\d) also matches the
        # hex signature BingX carries in the query string ("...4e7..."): check the values.
        order = self.limit_order(quantity=Decimal("0.01000"), price=Decimal("50000.10"))
        self.add_place_success(rsps, order)
        connector.place_order(order)
        params = sent_params(rsps.calls[-1])
        assert CLIENT_ID in params.values()
        del params["signature"]
        assert not any(re.search(r"\d[eE][+-]?\d", value) for value in params.values())
        assert (params["price"], params["quantity"]) == ("50000.1", "0.01")


class TestBingxSwapContract(TestBingxSpotContract):
    api_type = "perpetual_futures"
    symbol = "BTC/USDT:USDT"
    status_cases = [
        (swap_order("NEW"), "open"),
        (swap_order("PENDING"), "open"),
        (swap_order("WORKING"), "open"),
        (swap_order("PARTIALLY_FILLED", executedQty="0.004"), "partially_filled"),
        (swap_order("FILLED", executedQty="0.01", avgPrice="50000.1"), "filled"),
        (swap_order("CANCELLED"), "canceled"),
        (swap_order("CANCELED"), "canceled"),
        (swap_order("FAILED"), "rejected"),
        (swap_order("EXPIRED"), "expired"),
    ]
    error_cases = [
        *COMMON_ERRORS,
        (200, fail(101204, "Insufficient margin"), errors.InsufficientFunds),
        (200, fail(80012, "margin is not enough"), errors.InsufficientFunds),
    ]
    weight_cases = [(bingx.SWAP_ORDER, 1), (bingx.SWAP_POSITIONS, 1), (bingx.SWAP_BALANCE, 1)]
    place = ("POST", bingx.SWAP_ORDER)
    cancel = ("DELETE", bingx.SWAP_ORDER)
    query = ("GET", bingx.SWAP_ORDER)

    def order_payload(self, status: str = "PENDING") -> dict[str, Any]:
        return {"order": swap_order(status)}

    def add_place_success(self, rsps, order):
        # The place answer echoes only ids and sides.
        rsps.add(
            *self.place_url(),
            json=ok(
                {
                    "order": {
                        "symbol": "BTC-USDT",
                        "orderId": ORDER_ID,
                        "side": "BUY",
                        "positionSide": "BOTH",
                        "type": "LIMIT",
                        "clientOrderId": CLIENT_ID,
                        "workingType": "MARK_PRICE",
                    }
                }
            ),
        )


# -- symbols and quantities ---------------------------------------------------------------


def test_unified_symbols_map_to_hyphenated_bingx_names_and_back():
    assert bingx.to_exchange_symbol(parse_symbol("BTC/USDT")) == "BTC-USDT"
    assert bingx.to_exchange_symbol(parse_symbol("ETH/USDT:USDT")) == "ETH-USDT"
    assert bingx.to_unified_symbol("ETH-USDT", "spot") == "ETH/USDT"
    assert bingx.to_unified_symbol("ETH-USDT", "linear") == "ETH/USDT:USDT"


def test_a_name_without_a_hyphen_is_not_a_bingx_symbol():
    with pytest.raises(errors.InvalidRequest):
        bingx.to_unified_symbol("BTCUSDT", "spot")


@responses.activate
def test_spot_market_buy_is_sent_in_quote_as_quantity_times_ask_plus_one_percent():
    responses.add(
        "GET",
        BASE + bingx.SPOT_TICKER,
        json=ok(
            [{"symbol": "BTC-USDT", "lastPrice": "60000", "bidPrice": "59990", "askPrice": "60010"}]
        ),
    )
    responses.add(
        "POST",
        BASE + bingx.SPOT_ORDER,
        json=ok(
            spot_order(
                "FILLED",
                type="MARKET",
                price="0",
                origQty="0",
                executedQty="0.0101",
                cummulativeQuoteQty="606.101",
            )
        ),
    )
    placed = make().place_order(
        OrderRequest("BTC/USDT", "buy", "market", Decimal("0.01"), CLIENT_ID)
    )
    params = sent_params(responses.calls[1])
    assert params["quoteOrderQty"] == "606.101"  # 0.01 x 60010 x 1.01
    assert "quantity" not in params and params["type"] == "MARKET"
    assert params["newClientOrderId"] == CLIENT_ID
    assert placed.status == "filled" and placed.filled_quantity == Decimal("0.0101")
    assert placed.average_price == Decimal("60010")


@responses.activate
def test_spot_market_sell_is_sent_in_base_quantity_without_a_ticker():
    responses.add("POST", BASE + bingx.SPOT_ORDER, json=ok(spot_order("FILLED", side="SELL")))
    make().place_order(OrderRequest("BTC/USDT", "sell", "market", Decimal("0.01"), CLIENT_ID))
    assert len(responses.calls) == 1
    params = sent_params(responses.calls[0])
    assert params["quantity"] == "0.01" and "quoteOrderQty" not in params


@responses.activate
def test_swap_orders_are_sent_in_base_coin_one_way_with_our_client_id():
    responses.add("POST", BASE + bingx.SWAP_ORDER, json=ok({"order": swap_order()}))
    order = OrderRequest(
        "BTC/USDT:USDT",
        "sell",
        "limit",
        Decimal("0.0100"),
        CLIENT_ID,
        price=Decimal("70000.50"),
        time_in_force="POST_ONLY",
        reduce_only=True,
    )
    make("perpetual_futures").place_order(order)
    params = sent_params(responses.calls[0])
    assert params | {"timestamp": "", "signature": ""} == {
        "symbol": "BTC-USDT",
        "side": "SELL",
        "positionSide": "BOTH",
        "type": "LIMIT",
        "quantity": "0.01",
        "price": "70000.5",
        "timeInForce": "PostOnly",
        "reduceOnly": "true",
        "clientOrderId": CLIENT_ID,
        "recvWindow": "5000",
        "timestamp": "",
        "signature": "",
    }


@responses.activate
def test_swap_market_order_sends_no_price_and_no_time_in_force():
    responses.add(
        "POST",
        BASE + bingx.SWAP_ORDER,
        json=ok(
            {"order": swap_order("FILLED", type="MARKET", executedQty="0.0100", avgPrice="60000.0")}
        ),
    )
    placed = make("perpetual_futures").place_order(
        OrderRequest("BTC/USDT:USDT", "buy", "market", Decimal("0.01"), CLIENT_ID)
    )
    params = sent_params(responses.calls[0])
    assert "price" not in params and "timeInForce" not in params
    assert placed.status == "filled" and placed.average_price == Decimal("60000.0")


def test_a_nineteen_digit_order_id_is_kept_exact():
    assert bingx.parse_order(swap_order(), "linear").exchange_order_id == str(ORDER_ID)


def test_a_partially_filled_then_cancelled_order_keeps_its_fill():
    order = bingx.parse_order(
        swap_order("CANCELLED", executedQty="0.004", avgPrice="50000"), "linear"
    )
    assert order.status == "canceled" and order.filled_quantity == Decimal("0.004")


def test_an_empty_client_id_reads_as_none_and_both_spellings_are_accepted():
    assert bingx.parse_order(swap_order(clientOrderId=""), "linear").client_order_id is None
    raw = swap_order()
    raw["clientOrderID"] = raw.pop("clientOrderId")
    assert bingx.parse_order(raw, "linear").client_order_id == CLIENT_ID


# -- errors and rate limits ---------------------------------------------------------------


@responses.activate
def test_internal_error_on_a_read_is_exchange_unavailable_not_outcome_unknown():
    responses.add("GET", BASE + bingx.SPOT_QUERY, json=fail(100500, "Internal system error"))
    with pytest.raises(errors.ExchangeUnavailable):
        make().get_order("BTC/USDT", client_order_id=CLIENT_ID)


@responses.activate
def test_busy_code_80012_is_unavailable_unless_the_message_says_margin():
    responses.add("GET", BASE + bingx.SWAP_BALANCE, json=fail(80012, "service busy"))
    with pytest.raises(errors.ExchangeUnavailable):
        make("perpetual_futures").balances()


@responses.activate
def test_unknown_code_saying_order_not_exist_is_order_not_found():
    responses.add("GET", BASE + bingx.SWAP_ORDER, json=fail(109999, "order not exist"))
    with pytest.raises(errors.OrderNotFound):
        make("perpetual_futures").get_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)


@responses.activate
def test_a_string_zero_code_is_success():
    responses.add(
        "GET",
        BASE + bingx.SERVER_TIME,
        json={"code": "0", "msg": "", "data": {"serverTime": 1675319535362}},
    )
    assert make().server_time() == 1675319535362


@pytest.mark.parametrize(
    ("status", "body", "headers", "pause"),
    [
        (429, None, {}, 10.0),
        (418, None, {}, 300.0),
        (403, "<html>forbidden</html>", {}, 300.0),
        (200, fail(100410, "rate limit"), {}, 10.0),
        (200, fail(109429, "too many requests"), {}, 10.0),
        (429, None, {"Retry-After": "7"}, 7.0),
    ],
)
def test_rate_limit_answers_pause_every_process_for_bingx_windows(status, body, headers, pause):
    throttle = RecordingThrottle()
    with responses.RequestsMock() as rsps:
        if isinstance(body, dict):
            rsps.add("GET", BASE + bingx.SPOT_BALANCE, json=body, status=status, headers=headers)
        else:
            rsps.add(
                "GET", BASE + bingx.SPOT_BALANCE, body=body or "", status=status, headers=headers
            )
        with pytest.raises(errors.RateLimited) as caught:
            make(throttle=throttle).balances()
    assert caught.value.retry_after == pause
    assert throttle.pauses == [pause]


@responses.activate
def test_permission_code_with_http_403_is_permission_denied_not_a_ban():
    responses.add(
        "GET", BASE + bingx.SPOT_BALANCE, status=403, json=fail(100004, "Permission denied")
    )
    with pytest.raises(errors.PermissionDenied):
        make().balances()


@responses.activate
def test_remaining_header_reports_the_uids_count_on_that_endpoint():
    throttle = RecordingThrottle()
    responses.add(
        "GET", BASE + bingx.SWAP_BALANCE, json=ok([]), headers={"X-RateLimit-Requests-Remain": "3"}
    )
    responses.add(
        "GET",
        BASE + bingx.SERVER_TIME,
        json=ok({"serverTime": 1}),
        headers={"X-RateLimit-Requests-Remain": "0"},
    )
    connector = make("perpetual_futures", throttle=throttle)
    connector.balances()
    connector.server_time()
    assert throttle.usage == [UsageSignal("account /openApi/swap/v3/user/balance 1s", 2, 1)], (
        "published 5/s, 3 left: 2 used; server time has no per-UID window"
    )


def test_an_exhausted_endpoint_is_held_until_the_expire_header():
    place = Charge("POST", bingx.SWAP_ORDER, product="linear", signed=True)
    headers = {
        "X-RateLimit-Requests-Remain": "0",
        "X-RateLimit-Requests-Expire": str(int(FROZEN_NOW * 1000) + 250),
    }
    assert make().usage_signals(place, headers) == [
        UsageSignal("account POST /openApi/swap/v2/trade/order 1s", 10, 1, 0.25)
    ]


def test_an_expire_header_that_is_no_timestamp_keeps_our_own_window():
    place = Charge("POST", bingx.SWAP_ORDER, product="linear", signed=True)
    for expire in ("", "soon", "250", "-1"):
        headers = {"X-RateLimit-Requests-Remain": "1", "X-RateLimit-Requests-Expire": expire}
        assert make().usage_signals(place, headers) == [
            UsageSignal("account POST /openApi/swap/v2/trade/order 1s", 9, 1, None)
        ]


# -- ambiguous outcomes carry the recvWindow deadline -------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        {"json": fail(80019, "order is being processed"), "status": 200},
        {"json": fail(101500, "rpc timeout"), "status": 200},
        {"body": "", "status": 504},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
    ],
)
def test_ambiguous_place_reports_timestamp_plus_recv_window_as_deadline(answer):
    with responses.RequestsMock() as rsps:
        rsps.add("POST", BASE + bingx.SWAP_ORDER, **answer)
        with pytest.raises(errors.OrderOutcomeUnknown) as caught:
            make("perpetual_futures").place_order(
                OrderRequest(
                    "BTC/USDT:USDT",
                    "buy",
                    "limit",
                    Decimal("0.01"),
                    CLIENT_ID,
                    price=Decimal("50000"),
                )
            )
        timestamp = int(sent_params(rsps.calls[0])["timestamp"])
    assert caught.value.deadline_ms == timestamp + 5000 == DEADLINE


# -- parsers ------------------------------------------------------------------------------


@responses.activate
def test_spot_instruments_parse_tick_lot_minimums_and_skip_offline_symbols():
    responses.add(
        "GET",
        BASE + bingx.SPOT_SYMBOLS,
        json={
            "code": 0,
            "msg": "",
            "debugMsg": "",
            "data": {
                "symbols": [
                    {
                        "symbol": "BTC-USDT",
                        "minQty": 0.0001,
                        "maxQty": 100,
                        "minNotional": 5,
                        "maxNotional": 200000,
                        "status": 1,
                        "tickSize": 0.01,
                        "stepSize": 0.000001,
                        "apiStateSell": True,
                        "apiStateBuy": True,
                        "timeOnline": 0,
                    },
                    {
                        "symbol": "OLD-USDT",
                        "minQty": 1,
                        "maxQty": 10,
                        "minNotional": 5,
                        "status": 0,
                        "tickSize": 0.1,
                        "stepSize": 1,
                        "apiStateSell": False,
                        "apiStateBuy": False,
                    },
                ]
            },
        },
    )
    (btc,) = make().instruments()
    assert (btc.symbol, btc.exchange_symbol, btc.base, btc.quote, btc.kind) == (
        "BTC/USDT",
        "BTC-USDT",
        "BTC",
        "USDT",
        "spot",
    )
    assert btc.tick_size == Decimal("0.01") and btc.lot_size == Decimal("0.000001")
    assert btc.min_quantity == Decimal("0.0001") and btc.min_notional == Decimal("5")
    assert btc.contract_value == Decimal("1")
    assert "timestamp" in sent_params(responses.calls[0])


@responses.activate
def test_swap_instruments_turn_precisions_into_steps_in_base_currency():
    responses.add(
        "GET",
        BASE + bingx.SWAP_CONTRACTS,
        json=ok(
            [
                {
                    "contractId": "100",
                    "symbol": "BTC-USDT",
                    "size": "0.0001",
                    "quantityPrecision": "4",
                    "pricePrecision": "1",
                    "feeRate": "0.0005",
                    "tradeMinLimit": "0",
                    "tradeMinQuantity": "0.0001",
                    "tradeMinUSDT": "2",
                    "maxLongLeverage": "125",
                    "currency": "USDT",
                    "asset": "BTC",
                    "status": "1",
                    "apiStateOpen": "true",
                    "apiStateClose": "true",
                },
                {
                    "contractId": "7",
                    "symbol": "GONE-USDT",
                    "quantityPrecision": "0",
                    "pricePrecision": "4",
                    "tradeMinQuantity": "1",
                    "tradeMinUSDT": "2",
                    "currency": "USDT",
                    "asset": "GONE",
                    "status": "0",
                },
            ]
        ),
    )
    (btc,) = make("perpetual_futures").instruments()
    assert (btc.symbol, btc.kind, btc.quote) == ("BTC/USDT:USDT", "linear", "USDT")
    assert btc.tick_size == Decimal("0.1") and btc.lot_size == Decimal("0.0001")
    assert btc.min_quantity == Decimal("0.0001") and btc.min_notional == Decimal("2")
    assert btc.contract_value == Decimal("1")


@responses.activate
def test_spot_balances_parse_free_and_locked():
    responses.add(
        "GET",
        BASE + bingx.SPOT_BALANCE,
        json=ok(
            {
                "balances": [
                    {"asset": "USDT", "free": "1000.5", "locked": "20"},
                    {"asset": "BTC", "free": "0.1", "locked": "0"},
                ]
            }
        ),
    )
    usdt, btc = make().balances()
    assert (usdt.asset, usdt.free, usdt.locked, usdt.total) == (
        "USDT",
        Decimal("1000.5"),
        Decimal("20"),
        Decimal("1020.5"),
    )
    assert btc.free == Decimal("0.1")


@responses.activate
def test_swap_balances_use_available_margin_as_free():
    responses.add(
        "GET",
        BASE + bingx.SWAP_BALANCE,
        json=ok(
            [
                {
                    "userId": "1",
                    "asset": "USDT",
                    "balance": "1000",
                    "equity": "1001",
                    "unrealizedProfit": "1",
                    "realisedProfit": "0",
                    "availableMargin": "900",
                    "usedMargin": "90",
                    "freezedMargin": "10",
                }
            ]
        ),
    )
    (usdt,) = make("perpetual_futures").balances()
    assert (usdt.free, usdt.locked) == (Decimal("900"), Decimal("100"))


def test_the_older_v2_swap_balance_object_parses_too():
    (usdt,) = bingx.parse_swap_balances(
        {
            "balance": {
                "asset": "USDT",
                "balance": "5",
                "availableMargin": "4",
                "usedMargin": "1",
                "freezedMargin": "0",
            }
        }
    )
    assert usdt.free == Decimal("4") and usdt.locked == Decimal("1")


@responses.activate
def test_positions_are_signed_base_quantities_and_flat_ones_are_dropped():
    responses.add(
        "GET",
        BASE + bingx.SWAP_POSITIONS,
        json=ok(
            [
                {
                    "symbol": "BTC-USDT",
                    "positionId": "1",
                    "positionSide": "SHORT",
                    "isolated": False,
                    "positionAmt": "0.0100",
                    "availableAmt": "0.0100",
                    "unrealizedProfit": "1.2",
                    "avgPrice": "60000.0",
                    "leverage": 10,
                    "markPrice": "59880.0",
                },
                {
                    "symbol": "ETH-USDT",
                    "positionId": "2",
                    "positionSide": "LONG",
                    "positionAmt": "0.5",
                    "avgPrice": "3000",
                    "leverage": 5,
                    "markPrice": "3010",
                },
                {
                    "symbol": "SOL-USDT",
                    "positionId": "3",
                    "positionSide": "LONG",
                    "positionAmt": "0",
                    "avgPrice": "0",
                    "leverage": 5,
                },
            ]
        ),
    )
    short, long = make("perpetual_futures").positions()
    assert (short.symbol, short.quantity, short.entry_price) == (
        "BTC/USDT:USDT",
        Decimal("-0.0100"),
        Decimal("60000.0"),
    )
    assert short.unrealized_pnl == Decimal("1.2") and short.leverage == Decimal("10")
    assert (long.symbol, long.quantity, long.mark_price) == (
        "ETH/USDT:USDT",
        Decimal("0.5"),
        Decimal("3010"),
    )


@responses.activate
def test_a_spot_connection_has_no_positions_and_asks_nothing():
    assert make().positions() == []
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    ("answer", "hedged"), [("true", True), ("false", False), (True, True), (False, False)]
)
def test_hedge_mode_is_read_from_dual_side_position(answer, hedged):
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bingx.SWAP_POSITION_MODE, json=ok({"dualSidePosition": answer}))
        assert make("perpetual_futures").is_hedge_mode() is hedged


@responses.activate
def test_a_spot_account_is_never_hedged_and_asks_nothing():
    assert make().is_hedge_mode() is False
    assert len(responses.calls) == 0


@responses.activate
def test_tickers_read_spot_lists_and_swap_objects():
    responses.add(
        "GET",
        BASE + bingx.SPOT_TICKER,
        json=ok(
            [{"symbol": "BTC-USDT", "lastPrice": "60000", "bidPrice": "59999", "askPrice": "60001"}]
        ),
    )
    responses.add(
        "GET",
        BASE + bingx.SWAP_TICKER,
        json=ok({"symbol": "BTC-USDT", "lastPrice": "60002.5", "bidPrice": "", "askPrice": ""}),
    )
    spot = make().ticker("BTC/USDT")
    swap = make("perpetual_futures").ticker("BTC/USDT:USDT")
    assert (spot.symbol, spot.bid, spot.ask, spot.last) == (
        "BTC/USDT",
        Decimal("59999"),
        Decimal("60001"),
        Decimal("60000"),
    )
    assert (swap.symbol, swap.bid, swap.ask) == (
        "BTC/USDT:USDT",
        Decimal("60002.5"),
        Decimal("60002.5"),
    )
    assert sent_params(responses.calls[1]) == {"symbol": "BTC-USDT"}


# -- credentials, time, heartbeat ---------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "api_type", "permissions", "warnings"),
    [
        (
            {"permissions": [1, 2], "ipAddresses": ["1.2.3.4"], "note": "", "apiKey": "k"},
            "spot",
            ("read", "trade"),
            (),
        ),
        (
            ok({"permissions": [1, 2, 3, 5], "ipAddresses": []}),
            "perpetual_futures",
            ("futures", "read", "trade", "withdraw"),
            ("withdraw_enabled", "no_ip_whitelist"),
        ),
        (
            {"permissions": [1, 2], "ipAddresses": ["1.2.3.4"]},
            "perpetual_futures",
            ("read",),
            ("read_only",),
        ),
        (
            {"permissions": [2, 4], "ipAddresses": ["1.2.3.4"]},
            "spot",
            ("read", "transfer"),
            ("read_only",),
        ),
    ],
)
def test_key_permissions_come_from_the_api_permissions_endpoint(
    payload, api_type, permissions, warnings
):
    with responses.RequestsMock() as rsps:
        rsps.add("GET", BASE + bingx.API_PERMISSIONS, json=payload)
        check = make(api_type).check_credentials()
        assert "signature" in sent_params(rsps.calls[0])
    assert check.permissions == permissions
    assert check.warnings == warnings


@responses.activate
def test_heartbeat_reads_server_time_and_the_product_balance():
    responses.add("GET", BASE + bingx.SERVER_TIME, json=ok({"serverTime": 1700000000250}))
    responses.add("GET", BASE + bingx.SWAP_BALANCE, json=ok([]))
    connector = make("perpetual_futures")
    assert connector.heartbeat() == 0
    assert connector.time_offset_ms == 250
    assert urlsplit(responses.calls[1].request.url).path == bingx.SWAP_BALANCE


# -- environments -------------------------------------------------------------------------


@responses.activate
def test_testnet_perpetuals_go_to_the_vst_host_with_the_same_headers():
    responses.add("GET", bingx.VST_REST + bingx.SERVER_TIME, json=ok({"serverTime": 5}))
    responses.add("GET", bingx.VST_REST + bingx.SWAP_POSITIONS, json=ok([]))
    connector = make("perpetual_futures", environment="testnet", base_url=None)
    assert connector.server_time() == 5
    assert connector.positions() == []
    assert responses.calls[1].request.headers["X-BX-APIKEY"] == API_KEY
    assert bingx.VST_REST == "https://open-api-vst.bingx.com"


@responses.activate
def test_live_without_a_base_url_uses_the_open_api_host():
    responses.add(
        "GET", "https://open-api.bingx.com" + bingx.SERVER_TIME, json=ok({"serverTime": 7})
    )
    assert make(base_url=None).server_time() == 7


def test_testnet_spot_is_refused_because_vst_has_no_spot():
    with pytest.raises(errors.NotSupported):
        make("spot", environment="testnet", base_url=None)


def test_paper_without_its_base_url_never_falls_back_to_a_real_host():
    with pytest.raises(errors.NotSupported):
        make(environment="paper", base_url=None).server_time()


def test_margin_and_unified_api_types_are_refused():
    for api_type in ("margin", "unified_account"):
        with pytest.raises(errors.NotSupported):
            make(api_type)


# -- lookups, cancels, history ------------------------------------------------------------


@responses.activate
def test_lookups_use_each_products_client_id_spelling_or_the_order_id():
    responses.add("GET", BASE + bingx.SPOT_QUERY, json=ok(spot_order()))
    responses.add("GET", BASE + bingx.SWAP_ORDER, json=ok({"order": swap_order()}))
    make().get_order("BTC/USDT", client_order_id=CLIENT_ID)
    make("perpetual_futures").get_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)
    make().get_order("BTC/USDT", exchange_order_id=str(ORDER_ID))
    assert sent_params(responses.calls[0])["clientOrderID"] == CLIENT_ID
    assert sent_params(responses.calls[1])["clientOrderId"] == CLIENT_ID
    third = sent_params(responses.calls[2])
    assert third["orderId"] == str(ORDER_ID) and "clientOrderID" not in third


@responses.activate
def test_cancel_all_counts_what_each_product_reports():
    responses.add(
        "DELETE",
        BASE + bingx.SWAP_CANCEL_ALL,
        json=ok({"success": [swap_order("CANCELLED")] * 2, "failed": None}),
    )
    responses.add(
        "POST", BASE + bingx.SPOT_CANCEL_ALL, json=ok({"orders": [spot_order("CANCELED")]})
    )
    assert make("perpetual_futures").cancel_all("BTC/USDT:USDT") == 2
    assert make().cancel_all() == 1
    assert sent_params(responses.calls[0])["symbol"] == "BTC-USDT"
    assert "symbol" not in sent_params(responses.calls[1])


@responses.activate
def test_open_orders_and_history_parse_order_lists():
    responses.add("GET", BASE + bingx.SWAP_OPEN_ORDERS, json=ok({"orders": [swap_order()]}))
    responses.add(
        "GET",
        BASE + bingx.SWAP_HISTORY,
        json=ok({"orders": [swap_order("FILLED", executedQty="0.01")]}),
    )
    connector = make("perpetual_futures")
    (open_order,) = connector.open_orders("BTC/USDT:USDT")
    (done,) = connector.order_history("BTC/USDT:USDT", since_ms=0)
    assert open_order.status == "open" and done.status == "filled"
    params = sent_params(responses.calls[1])
    end = int(FROZEN_NOW * 1000)
    assert params["endTime"] == str(end)
    assert params["startTime"] == str(end - 7 * 24 * 3600 * 1000)  # clamped to 7 days


@responses.activate
def test_spot_history_pages_with_page_index_and_size():
    responses.add("GET", BASE + bingx.SPOT_HISTORY, json=ok({"orders": []}))
    assert make().order_history("BTC/USDT") == []
    params = sent_params(responses.calls[0])
    assert (params["pageIndex"], params["pageSize"]) == ("1", "100")
    assert "startTime" not in params


@responses.activate
def test_set_leverage_sets_both_sides_in_one_way_mode():
    responses.add(
        "POST", BASE + bingx.SWAP_LEVERAGE, json=ok({"leverage": 7, "symbol": "BTC-USDT"})
    )
    make("perpetual_futures").set_leverage("BTC/USDT:USDT", 7)
    params = sent_params(responses.calls[0])
    assert (params["symbol"], params["side"], params["leverage"]) == ("BTC-USDT", "BOTH", "7")


# -- bad input ----------------------------------------------------------------------------


def limit(**changes: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": Decimal("0.01"),
        "price": Decimal("50000"),
        "client_order_id": CLIENT_ID,
    }
    return OrderRequest(**(values | changes))


@pytest.mark.parametrize(
    ("api_type", "order", "error"),
    [
        ("spot", limit(symbol="BTCUSDT"), errors.InvalidRequest),
        ("spot", limit(symbol="BTC/USDT:USDT"), errors.InvalidRequest),
        ("perpetual_futures", limit(symbol="BTC/USDT"), errors.InvalidRequest),
        ("spot", limit(price=None), errors.InvalidRequest),
        ("spot", limit(quantity=Decimal("0")), errors.InvalidRequest),
        ("spot", limit(quantity=Decimal("-1")), errors.InvalidRequest),
        ("spot", limit(client_order_id="EC0123UPPER"), errors.InvalidRequest),
        ("spot", limit(client_order_id="x" * 41), errors.InvalidRequest),
        ("spot", limit(client_order_id="with-hyphen"), errors.InvalidRequest),
        ("spot", limit(side="long"), errors.InvalidRequest),
        ("spot", limit(type="stop"), errors.InvalidRequest),
        ("spot", limit(time_in_force="GTD"), errors.InvalidRequest),
        ("spot", limit(reduce_only=True), errors.InvalidRequest),
        ("spot", limit(margin=True), errors.NotSupported),
    ],
)
@responses.activate
def test_bad_orders_are_refused_before_anything_is_sent(api_type, order, error):
    with pytest.raises(error):
        make(api_type).place_order(order)
    assert len(responses.calls) == 0


@responses.activate
def test_other_bad_calls_are_refused_before_anything_is_sent():
    spot, swap = make(), make("perpetual_futures")
    with pytest.raises(errors.InvalidRequest):
        spot.get_order("BTC/USDT")
    with pytest.raises(errors.InvalidRequest):
        swap.cancel_order("BTC/USDT:USDT")
    with pytest.raises(errors.InvalidRequest):
        swap.set_leverage("BTC/USDT:USDT", 0)
    with pytest.raises(errors.NotSupported):
        spot.set_leverage("BTC/USDT", 5)
    with pytest.raises(errors.InvalidRequest):
        swap.positions("BTC/USDT")
    with pytest.raises(errors.InvalidRequest):
        spot.ticker("not a symbol")
    assert len(responses.calls) == 0


# -- recent fills (GET /openApi/spot/v1/trade/myTrades, /openApi/swap/v1/trade/fillHistory) ------

NOW_MS = int(FROZEN_NOW * 1000)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


SPOT_TRADE = {
    "symbol": "BTC-USDT",
    "id": 36237072,
    "orderId": ORDER_ID,
    "price": "30000",
    "qty": "0.0001",
    "quoteQty": "3",
    "commission": "-0.00000012",
    "commissionAsset": "BTC",
    "time": NOW_MS - 1000,
    "isBuyer": True,
    "isMaker": False,
}
SWAP_TRADE = {
    "symbol": "BTC-USDT",
    "orderId": ORDER_ID,
    "tradeId": "97244351",
    "price": "50000.0",
    "qty": "0.0100",
    "quoteQty": "500.00",
    "commission": "-0.2500",
    "commissionAsset": "USDT",
    "filledTime": NOW_MS - 1000,
    "side": "SELL",
    "positionSide": "BOTH",
    "role": "maker",
}


def test_spot_recent_fills_read_my_trades_per_symbol(rsps):
    rsps.add(responses.GET, BASE + bingx.SPOT_MY_TRADES, json=ok({"fills": [SPOT_TRADE]}))
    [fill] = make("spot").recent_fills("BTC/USDT")
    params = sent_params(rsps.calls[0])
    assert (params["symbol"], params["limit"]) == ("BTC-USDT", "100")
    assert "signature" in params and "startTime" not in params
    assert (fill.trade_id, fill.exchange_order_id) == ("36237072", str(ORDER_ID))
    assert (fill.symbol, fill.side, fill.quantity, fill.price) == (
        "BTC/USDT",
        "buy",
        Decimal("0.0001"),
        Decimal("30000"),
    )
    assert (fill.fee, fill.fee_asset, fill.liquidity) == (Decimal("0.00000012"), "BTC", "taker")


def test_swap_recent_fills_read_fill_history_from_a_time(rsps):
    rsps.add(responses.GET, BASE + bingx.SWAP_FILL_HISTORY, json=ok({"fill_orders": [SWAP_TRADE]}))
    [fill] = make("perpetual_futures").recent_fills("BTC/USDT:USDT", since_ms=NOW_MS - 60_000)
    params = sent_params(rsps.calls[0])
    assert (params["symbol"], params["startTs"], params["endTs"], params["pageSize"]) == (
        "BTC-USDT",
        str(NOW_MS - 60_000),
        str(NOW_MS),
        "100",
    )
    assert (fill.trade_id, fill.symbol, fill.side, fill.fee, fill.liquidity) == (
        "97244351",
        "BTC/USDT:USDT",
        "sell",
        Decimal("0.2500"),
        "maker",
    )


def test_a_swap_fill_time_in_iso_text_is_read_as_milliseconds(rsps):
    trade = {**SWAP_TRADE, "filledTime": "2023-11-14T22:13:19Z"}
    rsps.add(responses.GET, BASE + bingx.SWAP_FILL_HISTORY, json=ok({"fill_orders": [trade]}))
    [fill] = make("perpetual_futures").recent_fills("BTC/USDT:USDT")
    assert fill.time_ms == 1_699_999_999_000
