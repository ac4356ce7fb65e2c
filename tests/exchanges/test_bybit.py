"""The Bybit connector against exact v5 payloads (responses), plus Bybit's own rules."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from exchanges import bybit, errors
from exchanges.base import Credentials, OrderRequest, Response
from exchanges.bybit import BybitConnector
from exchanges.limits import Charge, UsageSignal
from exchanges.symbols import parse_symbol
from tests.exchanges.contract import (
    API_KEY,
    API_SECRET,
    CLIENT_ID,
    FROZEN_NOW,
    PASSPHRASE,
    ConnectorContract,
    RecordingThrottle,
)

BASE = "https://contract.test"
NOW_MS = int(FROZEN_NOW * 1000)
ORDER_ID = "1321003749386327552"


def envelope(result: Any, code: int = 0, message: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {}, "time": NOW_MS}


def bybit_order(**changes: Any) -> dict[str, Any]:
    """An order as /v5/order/realtime lists it (fields from the official example)."""
    raw = {
        "orderId": ORDER_ID,
        "orderLinkId": CLIENT_ID,
        "blockTradeId": "",
        "symbol": "BTCUSDT",
        "price": "50000.1",
        "qty": "0.01",
        "side": "Buy",
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": "New",
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": "0",
        "leavesQty": "0.01",
        "leavesValue": "500.001",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "timeInForce": "GTC",
        "orderType": "Limit",
        "stopOrderType": "",
        "triggerPrice": "0",
        "reduceOnly": False,
        "closeOnTrigger": False,
        "createdTime": "1699999999000",
        "updatedTime": "1699999999001",
    }
    raw.update(changes)
    return raw


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": {}, "retExtInfo": {}, "time": NOW_MS}


def sent_json(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


def sent_query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query))


def assert_bybit_signature(request: requests.PreparedRequest, secret: str = API_SECRET) -> None:
    headers = request.headers
    payload = request.body if request.method == "POST" else urlsplit(request.url).query
    if isinstance(payload, bytes):
        payload = payload.decode()
    expected = bybit.sign(
        secret,
        api_key=headers["X-BAPI-API-KEY"],
        timestamp_ms=int(headers["X-BAPI-TIMESTAMP"]),
        recv_window_ms=int(headers["X-BAPI-RECV-WINDOW"]),
        payload=payload or "",
    )
    assert headers["X-BAPI-SIGN"] == expected
    assert headers["X-BAPI-API-KEY"] == API_KEY
    assert headers["X-BAPI-TIMESTAMP"] == str(NOW_MS)
    assert headers["X-BAPI-RECV-WINDOW"] == "5000"


STATUS_CASES = [
    (bybit_order(orderStatus="New"), "open"),
    (bybit_order(orderStatus="PartiallyFilled", cumExecQty="0.004"), "partially_filled"),
    (bybit_order(orderStatus="Untriggered"), "open"),
    (bybit_order(orderStatus="Triggered"), "open"),
    (bybit_order(orderStatus="Filled", cumExecQty="0.01", avgPrice="50000.1"), "filled"),
    (bybit_order(orderStatus="Cancelled", cancelType="CancelByUser"), "canceled"),
    (
        bybit_order(orderStatus="Cancelled", cancelType="CancelByUser", cumExecQty="0.004"),
        "canceled",
    ),
    (bybit_order(orderStatus="Cancelled", timeInForce="IOC", cancelType="UNKNOWN"), "expired"),
    (
        bybit_order(
            orderStatus="PartiallyFilledCanceled",
            orderType="Market",
            timeInForce="IOC",
            cancelType="UNKNOWN",
            cumExecQty="0.004",
        ),
        "expired",
    ),
    (
        bybit_order(orderStatus="Cancelled", timeInForce="IOC", cancelType="CancelByUser"),
        "canceled",
    ),
    (bybit_order(orderStatus="Rejected", rejectReason="EC_PostOnlyWillTakeLiquidity"), "rejected"),
    (bybit_order(orderStatus="Deactivated"), "canceled"),
]

ERROR_CASES = [
    (200, error_body(10006, "Too many visits!"), errors.RateLimited),
    (200, error_body(10004, "error sign! origin_string[...]"), errors.AuthenticationError),
    (200, error_body(10003, "API key is invalid."), errors.AuthenticationError),
    (
        200,
        error_body(10005, "Permission denied, please check your API key permissions."),
        errors.PermissionDenied,
    ),
    (
        200,
        error_body(10010, "Unmatched IP, please check your API key's bound IP addresses."),
        errors.PermissionDenied,
    ),
    (
        200,
        error_body(10002, "The request time exceeds the time window range."),
        errors.ExchangeUnavailable,
    ),
    (200, error_body(10001, "params error"), errors.InvalidRequest),
    (200, error_body(110007, "ab not enough for new order"), errors.InsufficientFunds),
    (200, error_body(170131, "Balance insufficient"), errors.InsufficientFunds),
    (200, error_body(110072, "OrderLinkedID is duplicate"), errors.DuplicateOrder),
    (200, error_body(170141, "Duplicate clientOrderId"), errors.DuplicateOrder),
    (
        200,
        error_body(110020, "Not allowed to have more than 500 active orders."),
        errors.InvalidOrder,
    ),
    (200, error_body(10016, "Internal server error."), errors.OrderOutcomeUnknown),
    (
        200,
        error_body(170007, "Timeout waiting for response from backend server."),
        errors.OrderOutcomeUnknown,
    ),
    (403, "access too frequent", errors.RateLimited),
    (429, "", errors.RateLimited),
    (401, "", errors.AuthenticationError),
    (200, error_body(99999, "something new"), errors.ExchangeError),
]


class TestBybitContract(ConnectorContract):
    exchange = "bybit"
    connector_class = BybitConnector
    api_type = "spot"
    symbol = "BTC/USDT"
    base_url = BASE
    status_cases = STATUS_CASES
    error_cases = ERROR_CASES
    weight_cases = [
        (bybit.ORDER_CREATE, 1),
        (bybit.ORDER_CANCEL, 1),
        (bybit.ORDER_REALTIME, 1),
        (bybit.WALLET_BALANCE, 1),
        (bybit.API_KEY_INFO, 1),
    ]

    @property
    def category(self) -> str:
        return parse_symbol(self.symbol).kind

    def add_place_success(self, rsps, order):
        rsps.add(
            responses.POST,
            BASE + bybit.ORDER_CREATE,
            json=envelope({"orderId": ORDER_ID, "orderLinkId": order.client_order_id}),
        )
        listed = bybit_order(
            orderLinkId=order.client_order_id, qty=str(order.quantity), price=str(order.price)
        )
        rsps.add(
            responses.GET,
            BASE + bybit.ORDER_REALTIME,
            json=envelope({"list": [listed], "nextPageCursor": "", "category": self.category}),
        )

    def add_place_answer(self, rsps, status, body, headers=None):
        if isinstance(body, str):
            rsps.add(
                responses.POST, BASE + bybit.ORDER_CREATE, status=status, body=body, headers=headers
            )
        else:
            rsps.add(
                responses.POST, BASE + bybit.ORDER_CREATE, status=status, json=body, headers=headers
            )

    def add_place_exception(self, rsps, exc):
        rsps.add(responses.POST, BASE + bybit.ORDER_CREATE, body=exc)

    def add_cancel_success(self, rsps, client_order_id):
        rsps.add(
            responses.POST,
            BASE + bybit.ORDER_CANCEL,
            json=envelope({"orderId": ORDER_ID, "orderLinkId": client_order_id}),
        )
        canceled = bybit_order(
            orderLinkId=client_order_id, orderStatus="Cancelled", cancelType="CancelByUser"
        )
        rsps.add(
            responses.GET,
            BASE + bybit.ORDER_REALTIME,
            json=envelope({"list": [canceled], "nextPageCursor": "", "category": self.category}),
        )

    def add_get_not_found(self, rsps):
        empty = envelope({"list": [], "nextPageCursor": "", "category": self.category})
        rsps.add(responses.GET, BASE + bybit.ORDER_REALTIME, json=empty)
        rsps.add(responses.GET, BASE + bybit.ORDER_HISTORY, json=empty)

    def add_server_time(self, rsps):
        rsps.add(
            responses.GET,
            BASE + bybit.SERVER_TIME,
            json=envelope({"timeSecond": str(int(FROZEN_NOW)), "timeNano": f"{NOW_MS}000000"}),
        )

    def parse_order(self, raw):
        return bybit.parse_order(raw, self.category)

    def assert_signed(self, request):
        assert_bybit_signature(request)

    def assert_deadline(self, error):
        # timestamp + X-BAPI-RECV-WINDOW: after it Bybit can no longer accept the request.
        assert error.deadline_ms == NOW_MS + 5000


class TestBybitLinearContract(TestBybitContract):
    api_type = "perpetual_futures"
    symbol = "BTC/USDT:USDT"


# -- helpers for the Bybit-specific tests ---------------------------------------------------


def make(
    api_type: str = "spot",
    environment: str = "live",
    base_url: str | None = BASE,
    throttle: RecordingThrottle | None = None,
) -> BybitConnector:
    return BybitConnector(
        credentials=Credentials(API_KEY, API_SECRET, PASSPHRASE),
        api_type=api_type,
        environment=environment,
        base_url=base_url,
        throttle=throttle or RecordingThrottle(),
        clock=lambda: FROZEN_NOW,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
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


def add_create_and_read_back(rsps, *, listed: dict[str, Any] | None = None) -> None:
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CREATE,
        json=envelope({"orderId": ORDER_ID, "orderLinkId": CLIENT_ID}),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_REALTIME,
        json=envelope({"list": [listed or bybit_order()], "nextPageCursor": ""}),
    )


# -- symbols ----------------------------------------------------------------------------------


def test_unified_symbols_map_to_bybit_names_and_back():
    assert bybit.exchange_symbol(parse_symbol("BTC/USDT")) == "BTCUSDT"
    assert bybit.exchange_symbol(parse_symbol("ETH/USDT:USDT")) == "ETHUSDT"
    assert bybit.unified_symbol("BTCUSDT", "spot") == "BTC/USDT"
    assert bybit.unified_symbol("BTCUSDT", "linear") == "BTC/USDT:USDT"
    assert bybit.unified_symbol("ETHBTC", "spot") == "ETH/BTC"
    assert bybit.unified_symbol("1000PEPEUSDT", "linear") == "1000PEPE/USDT:USDT"


@pytest.mark.parametrize("name", ["USDT", "FOOBAR", ""])
def test_an_unmappable_bybit_symbol_is_invalid_request(name):
    with pytest.raises(errors.InvalidRequest):
        bybit.unified_symbol(name, "spot")


# -- quantities and order bodies --------------------------------------------------------------


def test_spot_market_buy_is_sent_in_base_currency_with_market_unit(rsps):
    add_create_and_read_back(
        rsps,
        listed=bybit_order(
            orderType="Market",
            timeInForce="IOC",
            orderStatus="Filled",
            cumExecQty="0.5",
            avgPrice="60000",
            qty="0.5",
        ),
    )
    placed = make().place_order(order(type="market", price=None, quantity=Decimal("0.5")))
    body = sent_json(rsps.calls[0])
    assert body == {
        "category": "spot",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Market",
        "qty": "0.5",
        "orderLinkId": CLIENT_ID,
        "marketUnit": "baseCoin",
    }
    assert placed.status == "filled" and placed.quantity == Decimal("0.5")
    assert placed.average_price == Decimal("60000") and placed.price is None


def test_linear_limit_keeps_base_quantity_and_sends_one_way_position_index(rsps):
    add_create_and_read_back(rsps)
    make("perpetual_futures").place_order(
        order(
            symbol="BTC/USDT:USDT",
            reduce_only=True,
            time_in_force="POST_ONLY",
            quantity=Decimal("0.0100"),
        )
    )
    assert sent_json(rsps.calls[0]) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "50000",
        "timeInForce": "PostOnly",
        "orderLinkId": CLIENT_ID,
        "positionIdx": 0,
        "reduceOnly": True,
    }


def test_margin_connection_borrows_with_is_leverage_and_spot_does_not(rsps):
    add_create_and_read_back(rsps)
    make("margin").place_order(order(side="sell"))
    assert sent_json(rsps.calls[0])["isLeverage"] == 1
    assert sent_json(rsps.calls[0])["side"] == "Sell"
    rsps.reset()
    add_create_and_read_back(rsps)
    make("spot").place_order(order())
    assert "isLeverage" not in sent_json(rsps.calls[0])


def test_order_flagged_margin_on_a_unified_account_borrows_too(rsps):
    add_create_and_read_back(rsps)
    make("unified_account").place_order(order(margin=True))
    assert sent_json(rsps.calls[0])["isLeverage"] == 1


def test_instruments_report_contract_value_one_and_base_lots():
    raw = {
        "symbol": "BTCUSDT",
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": "BTC",
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": "0.001",
            "qtyStep": "0.001",
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
    }
    instrument = bybit.parse_instrument(raw, "linear")
    assert instrument.contract_value == Decimal("1")
    assert instrument.lot_size == Decimal("0.001") and instrument.min_quantity == Decimal("0.001")


# -- statuses ---------------------------------------------------------------------------------


def test_status_map_covers_the_whole_bybit_vocabulary():
    assert set(bybit.STATUS_MAP) == {
        "New",
        "PartiallyFilled",
        "Untriggered",
        "Triggered",
        "Filled",
        "Cancelled",
        "PartiallyFilledCanceled",
        "Rejected",
        "Deactivated",
    }
    assert set(bybit.STATUS_MAP.values()) <= {
        "open",
        "partially_filled",
        "filled",
        "canceled",
        "rejected",
        "expired",
    }


def test_an_unknown_order_status_is_refused_not_guessed():
    with pytest.raises(errors.ExchangeError, match="Expired"):
        bybit.parse_order(bybit_order(orderStatus="Expired"), "spot")


def test_parsed_order_carries_fills_times_and_lower_case_side():
    parsed = bybit.parse_order(
        bybit_order(
            orderStatus="PartiallyFilled", side="Sell", cumExecQty="0.004", avgPrice="50000.1"
        ),
        "linear",
    )
    assert parsed.symbol == "BTC/USDT:USDT" and parsed.side == "sell"
    assert parsed.filled_quantity == Decimal("0.004")
    assert parsed.average_price == Decimal("50000.1") and parsed.price == Decimal("50000.1")
    assert parsed.created_at_ms == 1699999999000 and parsed.raw_status == "PartiallyFilled"


# -- error table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("110001", errors.OrderNotFound),
        ("170213", errors.OrderNotFound),
        ("110008", errors.OrderNotFound),
        ("12141", errors.DuplicateOrder),
        ("10014", errors.DuplicateOrder),
        ("33004", errors.AuthenticationError),
        ("10018", errors.RateLimited),
        ("10000", errors.OrderOutcomeUnknown),
        ("110044", errors.InsufficientFunds),
        ("10028", errors.InvalidRequest),
    ],
)
def test_error_table_rows(code, expected):
    assert bybit.ERROR_TABLE.classify(code=code, message="", http_status=200) is expected


def test_status_unknown_code_on_a_read_is_unavailable_not_outcome_unknown(rsps):
    rsps.add(
        responses.GET, BASE + bybit.ORDER_REALTIME, json=error_body(10016, "Internal server error.")
    )
    with pytest.raises(errors.ExchangeError) as caught:
        make().get_order("BTC/USDT", client_order_id=CLIENT_ID)
    assert type(caught.value) is errors.ExchangeUnavailable


def test_5xx_on_a_read_is_exchange_unavailable(rsps):
    rsps.add(responses.GET, BASE + bybit.WALLET_BALANCE, status=503, body="")
    with pytest.raises(errors.ExchangeUnavailable):
        make().balances()


# -- pause rules and usage headers ------------------------------------------------------------


def test_10006_pauses_until_the_limit_reset_timestamp(rsps):
    throttle = RecordingThrottle()
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CREATE,
        json=error_body(10006, "Too many visits!"),
        headers={
            "X-Bapi-Limit": "10",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(NOW_MS + 2500),
        },
    )
    with pytest.raises(errors.RateLimited) as caught:
        make(throttle=throttle).place_order(order())
    assert caught.value.retry_after == 2.5 and throttle.pauses == [2.5]


def test_10006_with_a_reset_already_passed_still_pauses_briefly(rsps):
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CREATE,
        json=error_body(10006, "Too many visits!"),
        headers={"X-Bapi-Limit-Reset-Timestamp": str(NOW_MS - 10)},
    )
    with pytest.raises(errors.RateLimited) as caught:
        make().place_order(order())
    assert caught.value.retry_after == bybit.MIN_PAUSE_SECONDS


def test_http_403_is_the_ip_ban_and_pauses_ten_minutes(rsps):
    throttle = RecordingThrottle()
    rsps.add(responses.GET, BASE + bybit.WALLET_BALANCE, status=403, body="access too frequent")
    with pytest.raises(errors.RateLimited) as caught:
        make(throttle=throttle).balances()
    assert caught.value.retry_after == 600 and throttle.pauses == [600]


def test_http_429_honours_retry_after(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.WALLET_BALANCE,
        status=429,
        body="",
        headers={"Retry-After": "3"},
    )
    with pytest.raises(errors.RateLimited) as caught:
        make().balances()
    assert caught.value.retry_after == 3


def test_limit_status_headers_report_the_uids_count_on_that_endpoint(rsps):
    throttle = RecordingThrottle()
    rsps.add(
        responses.GET,
        BASE + bybit.WALLET_BALANCE,
        json=envelope({"list": []}),
        headers={
            "X-Bapi-Limit": "50",
            "X-Bapi-Limit-Status": "46",
            "X-Bapi-Limit-Reset-Timestamp": str(NOW_MS),
        },
    )
    make(throttle=throttle).balances()
    assert throttle.usage == [UsageSignal("account /v5/account/wallet-balance 1s", 4, 1)]


def test_an_exhausted_endpoint_is_held_until_its_reset_timestamp():
    headers = {
        "X-Bapi-Limit": "20",
        "X-Bapi-Limit-Status": "0",
        "X-Bapi-Limit-Reset-Timestamp": str(NOW_MS + 400),
    }
    spot_create = Charge("POST", bybit.ORDER_CREATE, product="spot", signed=True)
    linear_create = Charge("POST", bybit.ORDER_CREATE, product="linear", signed=True)
    connector = make()
    assert connector.usage_signals(spot_create, headers) == [
        UsageSignal("spot account /v5/order/create 1s", 20, 1, 0.4)
    ]
    assert (
        connector.usage_signals(linear_create, headers)[0].window
        == "linear account /v5/order/create 1s"
    )


def test_missing_or_garbled_usage_headers_report_nothing():
    connector = make()
    charge = Charge("GET", bybit.WALLET_BALANCE, signed=True)
    assert connector.usage_signals(charge, {}) == []
    assert connector.usage_signals(charge, {"X-Bapi-Limit": "x", "X-Bapi-Limit-Status": "1"}) == []
    public = Charge("GET", bybit.SERVER_TIME)
    assert (
        connector.usage_signals(public, {"X-Bapi-Limit": "5", "X-Bapi-Limit-Status": "1"}) == []
    ), "no per-UID window is declared for it"


# -- ambiguous outcomes -----------------------------------------------------------------------


def test_status_unknown_code_on_place_carries_the_recv_window_deadline(rsps):
    rsps.add(
        responses.POST, BASE + bybit.ORDER_CREATE, json=error_body(10016, "Internal server error.")
    )
    with pytest.raises(errors.OrderOutcomeUnknown) as caught:
        make().place_order(order())
    assert caught.value.deadline_ms == NOW_MS + 5000 and caught.value.code == "10016"


def test_dropped_connection_after_place_is_outcome_unknown_with_deadline(rsps):
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CREATE,
        body=requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('closed'))"
        ),
    )
    with pytest.raises(errors.OrderOutcomeUnknown) as caught:
        make().place_order(order())
    assert caught.value.deadline_ms == NOW_MS + 5000


def test_failed_read_back_after_an_accepted_place_returns_the_ack(rsps):
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CREATE,
        json=envelope({"orderId": ORDER_ID, "orderLinkId": CLIENT_ID}),
    )
    rsps.add(responses.GET, BASE + bybit.ORDER_REALTIME, status=502, body="")
    placed = make().place_order(order())
    assert placed.exchange_order_id == ORDER_ID and placed.client_order_id == CLIENT_ID
    assert placed.status == "open" and placed.quantity == Decimal("0.01")


# -- parsers ----------------------------------------------------------------------------------


def test_instruments_keep_trading_perpetuals_and_spot_pairs_only(rsps):
    spot = {
        "symbolId": 9,
        "symbol": "BTCUSDT",
        "baseCoin": "BTC",
        "quoteCoin": "USDT",
        "innovation": "0",
        "status": "Trading",
        "marginTrading": "utaOnly",
        "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": "0.000001",
            "quotePrecision": "0.0000001",
            "minOrderQty": "0.000011",
            "maxOrderQty": "83",
            "minOrderAmt": "5",
            "maxOrderAmt": "8000000",
        },
        "priceFilter": {"tickSize": "0.1"},
        "symbolType": "",
    }
    linear = {
        "symbol": "ETHUSDT",
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": "ETH",
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "priceFilter": {"tickSize": "0.01"},
        "lotSizeFilter": {"minOrderQty": "0.01", "qtyStep": "0.01", "minNotionalValue": "5"},
    }
    dated = {**linear, "symbol": "ETHUSDT-27MAR26", "contractType": "LinearFutures"}
    usdc_perp = {**linear, "symbol": "ETHPERP", "quoteCoin": "USDC", "settleCoin": "USDC"}
    prelaunch = {**linear, "symbol": "BIOUSDT", "baseCoin": "BIO", "status": "PreLaunch"}
    rsps.add(
        responses.GET,
        BASE + bybit.INSTRUMENTS_INFO,
        json=envelope({"category": "spot", "list": [spot]}),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.INSTRUMENTS_INFO,
        json=envelope(
            {
                "category": "linear",
                "nextPageCursor": "",
                "list": [linear, dated, usdc_perp, prelaunch],
            }
        ),
    )
    found = make("unified_account").instruments()
    assert [(i.symbol, i.kind) for i in found] == [
        ("BTC/USDT", "spot"),
        ("ETH/USDT:USDT", "linear"),
    ]
    btc = found[0]
    assert (btc.tick_size, btc.lot_size, btc.min_quantity, btc.min_notional) == (
        Decimal("0.1"),
        Decimal("0.000001"),
        Decimal("0.000011"),
        Decimal("5"),
    )
    assert found[1].min_notional == Decimal("5") and found[1].exchange_symbol == "ETHUSDT"
    assert sent_query(rsps.calls[1]) == {"category": "linear", "limit": "1000"}
    assert "X-BAPI-SIGN" not in rsps.calls[0].request.headers


def test_linear_instruments_follow_the_page_cursor(rsps):
    first = {
        "symbol": "BTCUSDT",
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": "BTC",
        "quoteCoin": "USDT",
        "settleCoin": "USDT",
        "priceFilter": {"tickSize": "0.1"},
        "lotSizeFilter": {"minOrderQty": "0.001", "qtyStep": "0.001"},
    }
    second = {**first, "symbol": "SOLUSDT", "baseCoin": "SOL"}
    rsps.add(
        responses.GET,
        BASE + bybit.INSTRUMENTS_INFO,
        json=envelope({"category": "linear", "list": [first], "nextPageCursor": "first%3DBTCUSDT"}),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.INSTRUMENTS_INFO,
        json=envelope({"category": "linear", "list": [second], "nextPageCursor": ""}),
    )
    found = make("perpetual_futures").instruments()
    assert [i.symbol for i in found] == ["BTC/USDT:USDT", "SOL/USDT:USDT"]
    assert sent_query(rsps.calls[1])["cursor"] == "first%3DBTCUSDT"
    assert found[0].min_notional == Decimal("0")


def test_balances_count_order_and_position_margin_as_locked(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.WALLET_BALANCE,
        json=envelope(
            {
                "list": [
                    {
                        "accountType": "UNIFIED",
                        "totalEquity": "18070.32797922",
                        "totalWalletBalance": "18070.43799271",
                        "totalAvailableBalance": "17887.72614237",
                        "coin": [
                            {
                                "coin": "USDT",
                                "equity": "1000",
                                "walletBalance": "1000",
                                "locked": "10",
                                "totalOrderIM": "5",
                                "totalPositionIM": "20",
                                "unrealisedPnl": "0",
                                "usdValue": "1000",
                                "borrowAmount": "0",
                            },
                            {
                                "coin": "BTC",
                                "equity": "0.805994",
                                "walletBalance": "0.805994",
                                "locked": "",
                                "totalOrderIM": "0",
                                "totalPositionIM": "0",
                                "unrealisedPnl": "0",
                                "usdValue": "12920.95352538",
                                "borrowAmount": "0",
                            },
                        ],
                    }
                ]
            }
        ),
    )
    usdt, btc = make().balances()
    assert (usdt.asset, usdt.free, usdt.locked) == ("USDT", Decimal("965"), Decimal("35"))
    assert (btc.asset, btc.free, btc.locked) == ("BTC", Decimal("0.805994"), Decimal("0"))
    assert sent_query(rsps.calls[0]) == {"accountType": "UNIFIED"}


def test_positions_are_signed_base_quantities_and_skip_empty_legs(rsps):
    rows = [
        {
            "positionIdx": 0,
            "symbol": "BTCUSDT",
            "side": "Buy",
            "size": "0.02",
            "avgPrice": "60000",
            "positionValue": "1200",
            "leverage": "10",
            "markPrice": "60100",
            "liqPrice": "54000",
            "positionIM": "120",
            "unrealisedPnl": "2",
            "curRealisedPnl": "0",
            "updatedTime": "1700000000000",
            "seq": 1,
        },
        {
            "positionIdx": 0,
            "symbol": "ETHUSDT",
            "side": "Sell",
            "size": "1.5",
            "avgPrice": "3000",
            "leverage": "5",
            "markPrice": "2990",
            "unrealisedPnl": "15",
        },
        {
            "positionIdx": 0,
            "symbol": "SOLUSDT",
            "side": "",
            "size": "0",
            "avgPrice": "0",
            "leverage": "10",
            "markPrice": "150",
            "unrealisedPnl": "0",
        },
    ]
    rsps.add(
        responses.GET,
        BASE + bybit.POSITION_LIST,
        json=envelope({"category": "linear", "list": rows, "nextPageCursor": ""}),
    )
    btc, eth = make("perpetual_futures").positions()
    assert (btc.symbol, btc.quantity, btc.entry_price, btc.leverage) == (
        "BTC/USDT:USDT",
        Decimal("0.02"),
        Decimal("60000"),
        Decimal("10"),
    )
    assert (eth.symbol, eth.quantity, eth.unrealized_pnl) == (
        "ETH/USDT:USDT",
        Decimal("-1.5"),
        Decimal("15"),
    )
    assert sent_query(rsps.calls[0]) == {"category": "linear", "settleCoin": "USDT", "limit": "200"}


def test_spot_connections_have_no_positions_and_send_nothing(rsps):
    assert make("spot").positions() == []
    assert make("margin").positions() == []
    assert make("unified_account").positions("BTC/USDT") == []
    assert len(rsps.calls) == 0


# -- hedge mode -------------------------------------------------------------------------------


def positions_answer(*indexes: int) -> dict[str, Any]:
    rows = [{"positionIdx": idx, "symbol": "BTCUSDT", "side": "", "size": "0"} for idx in indexes]
    return envelope({"category": "linear", "list": rows, "nextPageCursor": ""})


def test_hedge_mode_is_detected_from_position_indexes(rsps):
    rsps.add(responses.GET, BASE + bybit.POSITION_LIST, json=positions_answer(1, 2))
    assert make("perpetual_futures").is_hedge_mode() is True


def test_one_way_mode_is_not_hedge_mode(rsps):
    rsps.add(responses.GET, BASE + bybit.POSITION_LIST, json=positions_answer(0))
    assert make("perpetual_futures").is_hedge_mode() is False


def test_without_open_positions_the_probe_symbol_shows_the_mode(rsps):
    rsps.add(responses.GET, BASE + bybit.POSITION_LIST, json=positions_answer())
    rsps.add(responses.GET, BASE + bybit.POSITION_LIST, json=positions_answer(1, 2))
    assert make("unified_account").is_hedge_mode() is True
    assert sent_query(rsps.calls[0]) == {"category": "linear", "settleCoin": "USDT"}
    assert sent_query(rsps.calls[1]) == {"category": "linear", "symbol": "BTCUSDT"}


def test_spot_is_never_hedged_and_asks_nothing(rsps):
    assert make("spot").is_hedge_mode() is False
    assert len(rsps.calls) == 0


# -- environments and URLs --------------------------------------------------------------------


def test_live_and_testnet_hosts_and_no_extra_headers(rsps):
    for environment, host in (
        ("live", "https://api.bybit.com"),
        ("testnet", "https://api-testnet.bybit.com"),
    ):
        rsps.reset()
        rsps.add(
            responses.GET,
            host + bybit.SERVER_TIME,
            json=envelope({"timeSecond": "1700000000", "timeNano": "1700000000123456789"}),
        )
        assert make(environment=environment, base_url=None).server_time() == 1700000000123
        sent = rsps.calls[0].request
        assert sent.url == host + bybit.SERVER_TIME
        assert not [name for name in sent.headers if name.lower().startswith("x-")]


def test_websocket_hosts_per_environment():
    assert BybitConnector.ws_hosts[("live", "linear")] + bybit.WS_PRIVATE_PATH == (
        "wss://stream.bybit.com/v5/private"
    )
    assert BybitConnector.ws_hosts[("testnet", "spot")] + bybit.WS_PRIVATE_PATH == (
        "wss://stream-testnet.bybit.com/v5/private"
    )


def test_paper_environment_uses_the_given_base_url_like_live(rsps):
    rsps.add(
        responses.GET,
        "http://127.0.0.1:8900/bybit" + bybit.ACCOUNT_INFO,
        json=envelope({"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN"}),
    )
    make(environment="paper", base_url="http://127.0.0.1:8900/bybit/").heartbeat_read()
    assert_bybit_signature(rsps.calls[0].request)


def test_paper_environment_without_base_url_is_not_supported():
    with pytest.raises(errors.NotSupported):
        make(environment="paper", base_url=None).server_time()


def test_server_time_falls_back_to_seconds_then_envelope_time(rsps):
    rsps.add(responses.GET, BASE + bybit.SERVER_TIME, json=envelope({"timeSecond": "1700000001"}))
    rsps.add(responses.GET, BASE + bybit.SERVER_TIME, json=envelope({}))
    connector = make()
    assert connector.server_time() == 1700000001000
    assert connector.server_time() == NOW_MS


# -- credentials ------------------------------------------------------------------------------


def test_key_permissions_and_warnings_come_from_query_api(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.API_KEY_INFO,
        json=envelope(
            {
                "id": "16651472",
                "note": "desk",
                "apiKey": API_KEY,
                "readOnly": 0,
                "secret": "",
                "permissions": {
                    "ContractTrade": ["Order", "Position"],
                    "Spot": ["SpotTrade"],
                    "Wallet": ["AccountTransfer", "SubMemberTransfer", "Withdraw"],
                    "Options": [],
                    "Derivatives": [],
                    "Exchange": [],
                    "NFT": [],
                },
                "ips": ["*"],
                "type": 1,
                "deadlineDay": 88,
                "expiredAt": "2023-05-15T03:13:24Z",
                "createdAt": "2023-02-15T03:13:24Z",
                "unified": 0,
                "uta": 1,
                "userID": 53888001,
            }
        ),
    )
    check = make().check_credentials()
    assert check.permissions == ("read", "trade", "futures", "withdraw", "transfer")
    assert check.warnings == ("withdraw_enabled", "no_ip_whitelist")
    assert_bybit_signature(rsps.calls[0].request)


def test_read_only_key_on_a_classic_account_is_flagged(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.API_KEY_INFO,
        json=envelope(
            {
                "readOnly": 1,
                "permissions": {
                    "ContractTrade": [],
                    "Spot": ["SpotTrade"],
                    "Wallet": ["AccountTransfer"],
                },
                "ips": ["10.0.0.1"],
                "uta": 0,
            }
        ),
    )
    check = make().check_credentials()
    assert check.permissions == ("read", "transfer")
    assert check.warnings == ("read_only", "not_unified_account")


def test_connection_test_reports_offset_and_permissions(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.SERVER_TIME,
        json=envelope({"timeSecond": "1700000000", "timeNano": "1700000000250000000"}),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.API_KEY_INFO,
        json=envelope({"readOnly": 0, "permissions": {"Spot": ["SpotTrade"]}, "ips": ["1.2.3.4"]}),
    )
    connector = make()
    result = connector.test_connection()
    assert result.server_time_offset_ms == 250 and result.permissions == ("read", "trade")
    # the signed request after the sync carries the corrected clock
    assert rsps.calls[1].request.headers["X-BAPI-TIMESTAMP"] == str(NOW_MS + 250)


def test_bad_signature_answer_is_authentication_error(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.API_KEY_INFO,
        json=error_body(10004, "error sign! origin_string[1700000000000...]"),
    )
    with pytest.raises(errors.AuthenticationError) as caught:
        make().check_credentials()
    assert caught.value.code == "10004"


# -- orders -----------------------------------------------------------------------------------


def test_get_order_falls_back_to_history_for_closed_orders(rsps):
    rsps.add(responses.GET, BASE + bybit.ORDER_REALTIME, json=envelope({"list": []}))
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_HISTORY,
        json=envelope(
            {"list": [bybit_order(orderStatus="Filled", cumExecQty="0.01", avgPrice="50000")]}
        ),
    )
    found = make().get_order("BTC/USDT", exchange_order_id=ORDER_ID)
    assert found.status == "filled"
    assert sent_query(rsps.calls[1]) == {
        "category": "spot",
        "symbol": "BTCUSDT",
        "orderId": ORDER_ID,
    }


def test_get_order_needs_an_id():
    with pytest.raises(errors.InvalidRequest):
        make().get_order("BTC/USDT")


def test_cancel_by_client_id_sends_order_link_id(rsps):
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CANCEL,
        json=envelope({"orderId": ORDER_ID, "orderLinkId": CLIENT_ID}),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_REALTIME,
        json=envelope({"list": [bybit_order(orderStatus="Cancelled", cancelType="CancelByUser")]}),
    )
    canceled = make("perpetual_futures").cancel_order("BTC/USDT:USDT", client_order_id=CLIENT_ID)
    assert sent_json(rsps.calls[0]) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": CLIENT_ID,
    }
    assert canceled.status == "canceled" and canceled.quantity == Decimal("0.01")


def test_cancel_of_a_missing_order_is_order_not_found(rsps):
    rsps.add(
        responses.POST, BASE + bybit.ORDER_CANCEL, json=error_body(110001, "Order does not exist.")
    )
    with pytest.raises(errors.OrderNotFound):
        make("perpetual_futures").cancel_order("BTC/USDT:USDT", exchange_order_id=ORDER_ID)


def test_cancel_all_without_symbol_covers_spot_and_linear_on_a_unified_account(rsps):
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CANCEL_ALL,
        json=envelope(
            {
                "list": [
                    {"orderId": "1", "orderLinkId": "a"},
                    {"orderId": "2", "orderLinkId": "b"},
                ],
                "success": "1",
            }
        ),
    )
    rsps.add(
        responses.POST,
        BASE + bybit.ORDER_CANCEL_ALL,
        json=envelope({"list": [{"orderId": "3", "orderLinkId": "c"}], "success": "1"}),
    )
    assert make("unified_account").cancel_all() == 3
    assert sent_json(rsps.calls[0]) == {"category": "spot"}
    assert sent_json(rsps.calls[1]) == {"category": "linear", "settleCoin": "USDT"}
    for call in rsps.calls:
        assert_bybit_signature(call.request)


def test_open_orders_page_through_and_keep_only_open_ones(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_REALTIME,
        json=envelope(
            {
                "list": [bybit_order(orderId="1")],
                "nextPageCursor": "page_args%3D1%26symbol%3D6%26",
                "category": "spot",
            }
        ),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_REALTIME,
        json=envelope(
            {
                "list": [
                    bybit_order(orderId="2", orderStatus="PartiallyFilled"),
                    bybit_order(orderId="3", orderStatus="Filled"),
                ],
                "nextPageCursor": "",
                "category": "spot",
            }
        ),
    )
    found = make().open_orders("BTC/USDT")
    assert [o.exchange_order_id for o in found] == ["1", "2"]
    assert sent_query(rsps.calls[0]) == {
        "category": "spot",
        "symbol": "BTCUSDT",
        "openOnly": "0",
        "limit": "50",
    }
    assert sent_query(rsps.calls[1])["cursor"] == "page_args%3D1%26symbol%3D6%26"
    assert_bybit_signature(rsps.calls[1].request)


def test_order_history_passes_the_start_time(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.ORDER_HISTORY,
        json=envelope(
            {
                "list": [bybit_order(orderStatus="Cancelled", cancelType="CancelByUser")],
                "nextPageCursor": "",
            }
        ),
    )
    history = make().order_history("BTC/USDT", since_ms=NOW_MS - 3_600_000)
    assert [o.status for o in history] == ["canceled"]
    assert sent_query(rsps.calls[0])["startTime"] == str(NOW_MS - 3_600_000)


def test_set_leverage_sets_both_sides_and_accepts_not_modified(rsps):
    rsps.add(responses.POST, BASE + bybit.SET_LEVERAGE, json=envelope({}))
    rsps.add(
        responses.POST,
        BASE + bybit.SET_LEVERAGE,
        json=error_body(110043, "Set leverage not modified"),
    )
    connector = make("perpetual_futures")
    connector.set_leverage("BTC/USDT:USDT", 5)
    connector.set_leverage("BTC/USDT:USDT", 5)
    assert sent_json(rsps.calls[0]) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "buyLeverage": "5",
        "sellLeverage": "5",
    }


def test_set_leverage_on_spot_is_not_supported(rsps):
    with pytest.raises(errors.NotSupported):
        make("unified_account").set_leverage("BTC/USDT", 3)
    with pytest.raises(errors.InvalidRequest):
        make("perpetual_futures").set_leverage("BTC/USDT:USDT", 0)
    assert len(rsps.calls) == 0


def test_ticker_reads_best_bid_ask_and_last(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.TICKERS,
        json=envelope(
            {
                "category": "spot",
                "list": [
                    {
                        "symbol": "BTCUSDT",
                        "bid1Price": "20517.96",
                        "bid1Size": "2",
                        "ask1Price": "20527.77",
                        "ask1Size": "1.862172",
                        "lastPrice": "20533.13",
                        "prevPrice24h": "20393.48",
                    }
                ],
            }
        ),
    )
    ticker = make().ticker("btc/usdt")
    assert (ticker.symbol, ticker.bid, ticker.ask, ticker.last) == (
        "BTC/USDT",
        Decimal("20517.96"),
        Decimal("20527.77"),
        Decimal("20533.13"),
    )
    assert sent_query(rsps.calls[0]) == {"category": "spot", "symbol": "BTCUSDT"}


def test_ticker_of_an_unknown_symbol_is_invalid_request(rsps):
    rsps.add(responses.GET, BASE + bybit.TICKERS, json=envelope({"category": "spot", "list": []}))
    with pytest.raises(errors.InvalidRequest):
        make().ticker("NOPE/USDT")


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "request_"),
    [
        ("spot", order(symbol="BTCUSDT")),
        ("spot", order(symbol="BTC/USDT:USDT")),
        ("margin", order(symbol="BTC/USDT:USDT")),
        ("perpetual_futures", order(symbol="BTC/USDT")),
        ("spot", order(price=None)),
        ("spot", order(price=Decimal("0"))),
        ("spot", order(quantity=Decimal("0"))),
        ("spot", order(quantity=Decimal("-1"))),
        ("spot", order(side="long")),
        ("spot", order(type="stop")),
        ("spot", order(time_in_force="GTD")),
        ("spot", order(type="market", price=None, time_in_force="POST_ONLY")),
        ("spot", order(reduce_only=True)),
        ("spot", order(client_order_id="has spaces")),
        ("spot", order(client_order_id="x" * 37)),
        ("spot", order(client_order_id="")),
    ],
)
def test_bad_orders_are_refused_before_anything_is_sent(rsps, api_type, request_):
    with pytest.raises(errors.InvalidRequest):
        make(api_type).place_order(request_)
    assert len(rsps.calls) == 0


def test_client_id_rule_allows_dash_underscore_up_to_36():
    pattern = BybitConnector.client_order_id_pattern
    assert pattern.fullmatch("a-B_9" + "x" * 31)
    assert not pattern.fullmatch("a" * 37)
    assert not pattern.fullmatch("a.b")


def test_error_of_reads_the_envelope_and_bare_http_failures():
    connector = make()
    ok = Response(status=200, headers={}, payload=envelope({}))
    assert connector.error_of(ok) is None
    assert connector.error_of(Response(200, {}, error_body(110001, "Order does not exist."))) == (
        110001,
        "Order does not exist.",
    )
    # a non-JSON body is never quoted: only its status
    assert connector.error_of(Response(502, {}, {"_text": "Bad Gateway"})) == (None, "HTTP 502")
    assert connector.error_of(Response(404, {}, None)) == (None, "HTTP 404")


# -- recent fills (GET /v5/execution/list) -----------------------------------------------------


def bybit_execution(**changes: Any) -> dict[str, Any]:
    """The row of Bybit's "Get Trade History" response example (docs/v5/order/execution),
    on a symbol we trade."""
    raw = {
        "symbol": "BTCUSDT",
        "orderType": "Market",
        "underlyingPrice": "",
        "orderLinkId": "",
        "side": "Buy",
        "indexPrice": "",
        "orderId": "8c065341-7b52-4ca9-ac2c-37e31ac55c94",
        "stopOrderType": "UNKNOWN",
        "leavesQty": "0",
        "execTime": "1672282722429",
        "feeCurrency": "",
        "isMaker": False,
        "execFee": "0.071409",
        "feeRate": "0.0006",
        "execId": "e0cbe81d-0f18-5866-9415-cf319b5dab3b",
        "tradeIv": "",
        "blockTradeId": "",
        "markPrice": "1183.54",
        "execPrice": "1190.15",
        "markIv": "",
        "orderQty": "0.1",
        "orderPrice": "1236.9",
        "execValue": "119.015",
        "execType": "Trade",
        "execQty": "0.1",
        "closedSize": "",
        "extraFees": "",
        "seq": 4688002127,
    }
    raw.update(changes)
    return raw


def test_recent_fills_read_the_execution_list_signed_with_start_time(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.EXECUTION_LIST,
        json=envelope(
            {
                "category": "linear",
                "list": [bybit_execution(orderLinkId=CLIENT_ID, execTime=str(NOW_MS - 1000))],
                "nextPageCursor": "",
            }
        ),
    )
    since = NOW_MS - 3_600_000
    [fill] = make("perpetual_futures").recent_fills("BTC/USDT:USDT", since_ms=since)
    call = rsps.calls[0]
    assert_bybit_signature(call.request)
    assert sent_query(call) == {
        "category": "linear",
        "symbol": "BTCUSDT",
        "startTime": str(since),
        "limit": "100",
    }
    assert fill.trade_id == "e0cbe81d-0f18-5866-9415-cf319b5dab3b"
    assert fill.exchange_order_id == "8c065341-7b52-4ca9-ac2c-37e31ac55c94"
    assert fill.client_order_id == CLIENT_ID
    assert (fill.symbol, fill.side, fill.price, fill.quantity) == (
        "BTC/USDT:USDT",
        "buy",
        Decimal("1190.15"),
        Decimal("0.1"),
    )
    assert (fill.fee, fill.fee_asset, fill.liquidity) == (Decimal("0.071409"), "USDT", "taker")


def test_recent_fills_on_spot_keep_the_fee_coin_and_skip_funding(rsps):
    rows = [
        bybit_execution(feeCurrency="BTC", isMaker=True, execTime=str(NOW_MS - 5)),
        bybit_execution(execId="funding-1", execType="Funding", execTime=str(NOW_MS - 4)),
    ]
    rsps.add(
        responses.GET,
        BASE + bybit.EXECUTION_LIST,
        json=envelope({"category": "spot", "list": rows, "nextPageCursor": ""}),
    )
    [fill] = make("spot").recent_fills("BTC/USDT")
    assert sent_query(rsps.calls[0]) == {"category": "spot", "symbol": "BTCUSDT", "limit": "100"}
    assert (fill.symbol, fill.fee_asset, fill.liquidity) == ("BTC/USDT", "BTC", "maker")


def test_recent_fills_without_a_symbol_list_the_whole_category_and_follow_the_cursor(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.EXECUTION_LIST,
        json=envelope(
            {
                "category": "linear",
                "list": [bybit_execution(execId="a", execTime="2")],
                "nextPageCursor": "next%3A1",
            }
        ),
    )
    rsps.add(
        responses.GET,
        BASE + bybit.EXECUTION_LIST,
        json=envelope(
            {
                "category": "linear",
                "list": [bybit_execution(execId="b", execTime="1")],
                "nextPageCursor": "",
            }
        ),
    )
    fills = make("perpetual_futures").recent_fills()
    assert [sent_query(call) for call in rsps.calls] == [
        {"category": "linear", "limit": "100"},
        {"category": "linear", "limit": "100", "cursor": "next%3A1"},
    ]
    assert [fill.trade_id for fill in fills] == ["b", "a"]  # oldest first


def test_a_since_older_than_the_lookback_is_capped_at_two_years(rsps):
    rsps.add(
        responses.GET,
        BASE + bybit.EXECUTION_LIST,
        json=envelope({"category": "spot", "list": [], "nextPageCursor": ""}),
    )
    make("spot").recent_fills("BTC/USDT", since_ms=0)
    assert sent_query(rsps.calls[0])["startTime"] == str(NOW_MS - bybit.FILLS_LOOKBACK_MS)
