"""The OKX connector against exact OKX v5 payloads (facts: docs/exchanges/okx.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests
import responses

from exchanges import errors, okx
from exchanges.base import Credentials, OrderRequest, Response
from exchanges.okx import OkxConnector, iso_timestamp, sign
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
ORD_ID = "680800019749904384"
NOW_MS = int(FROZEN_NOW * 1000)


def envelope(data: list[dict[str, Any]], code: str = "0", msg: str = "") -> dict[str, Any]:
    return {"code": code, "msg": msg, "data": data}


def place_answer(
    s_code: str = "0", s_msg: str = "Order placed", ord_id: str = ORD_ID
) -> dict[str, Any]:
    return {
        "code": "0" if s_code == "0" else "1",
        "msg": "" if s_code == "0" else "All operations failed",
        "data": [
            {
                "clOrdId": CLIENT_ID,
                "ordId": ord_id,
                "tag": "",
                "ts": "1700000000123",
                "sCode": s_code,
                "sMsg": s_msg,
                "subCode": "",
            }
        ],
        "inTime": "1700000000120000",
        "outTime": "1700000000125000",
    }


def okx_order(**changes: Any) -> dict[str, Any]:
    raw = {
        "instType": "SPOT",
        "instId": "BTC-USDT",
        "ordId": ORD_ID,
        "clOrdId": CLIENT_ID,
        "tag": "",
        "px": "50000",
        "sz": "0.01",
        "ordType": "limit",
        "side": "buy",
        "posSide": "",
        "tdMode": "cash",
        "state": "live",
        "accFillSz": "0",
        "fillSz": "0",
        "fillPx": "",
        "avgPx": "",
        "fee": "0",
        "feeCcy": "BTC",
        "cancelSource": "",
        "cancelSourceReason": "",
        "category": "normal",
        "tgtCcy": "",
        "cTime": "1700000000000",
        "uTime": "1700000000000",
    }
    raw.update(changes)
    return raw


def swap_order(**changes: Any) -> dict[str, Any]:
    return okx_order(
        **{
            "instType": "SWAP",
            "instId": "BTC-USDT-SWAP",
            "sz": "1",
            "tdMode": "cross",
            "posSide": "net",
            "feeCcy": "USDT",
            **changes,
        }
    )


SPOT_INSTRUMENT = {
    "instType": "SPOT",
    "instId": "BTC-USDT",
    "baseCcy": "BTC",
    "quoteCcy": "USDT",
    "settleCcy": "",
    "ctVal": "",
    "ctValCcy": "",
    "ctType": "",
    "tickSz": "0.1",
    "lotSz": "0.00000001",
    "minSz": "0.00001",
    "state": "live",
}
SWAP_INSTRUMENT = {
    "instType": "SWAP",
    "instId": "BTC-USDT-SWAP",
    "baseCcy": "",
    "quoteCcy": "",
    "settleCcy": "USDT",
    "ctVal": "0.01",
    "ctValCcy": "BTC",
    "ctType": "linear",
    "tickSz": "0.1",
    "lotSz": "0.01",
    "minSz": "0.01",
    "state": "live",
    "uly": "BTC-USDT",
    "instFamily": "BTC-USDT",
}
INVERSE_SWAP = {
    **SWAP_INSTRUMENT,
    "instId": "BTC-USD-SWAP",
    "settleCcy": "BTC",
    "ctVal": "100",
    "ctValCcy": "USD",
    "ctType": "inverse",
}
ACCOUNT_CONFIG = {
    "uid": "44705892343619584",
    "mainUid": "44705892343619584",
    "acctLv": "2",
    "posMode": "net_mode",
    "perm": "read_only,trade",
    "ip": "203.0.113.7",
    "label": "ec",
    "level": "Lv1",
    "kycLv": "2",
    "type": "0",
}


def url(path: str) -> str:
    return BASE + path


def sent_json(call: Any) -> Any:
    return json.loads(call.request.body)


def query(call: Any) -> dict[str, str]:
    parsed = requests.utils.urlparse(call.request.url)
    return dict(pair.split("=", 1) for pair in parsed.query.split("&") if pair)


class TestOkxContract(ConnectorContract):
    exchange = "okx"
    connector_class = OkxConnector
    api_type = "spot"
    symbol = "BTC/USDT"
    base_url = BASE
    status_cases = [
        (okx_order(state="live"), "open"),
        (okx_order(state="partially_filled", accFillSz="0.004"), "partially_filled"),
        (okx_order(state="filled", accFillSz="0.01", avgPx="50000"), "filled"),
        (okx_order(state="canceled", cancelSource="1"), "canceled"),
        (okx_order(state="mmp_canceled"), "canceled"),
        (
            okx_order(state="canceled", ordType="ioc", accFillSz="0.004", cancelSource="14"),
            "expired",
        ),
        (okx_order(state="canceled", ordType="fok", cancelSource="0"), "expired"),
        (okx_order(state="canceled", ordType="post_only", cancelSource="31"), "rejected"),
    ]
    error_cases = [
        (
            429,
            envelope(
                [],
                "50011",
                "Rate limit reached. Please refer to API documentation "
                "and throttle requests accordingly.",
            ),
            errors.RateLimited,
        ),
        (
            200,
            place_answer("51008", "Order failed. Insufficient USDT balance in account.", ord_id=""),
            errors.InsufficientFunds,
        ),
        (
            200,
            place_answer("51016", "Client order ID already exists.", ord_id=""),
            errors.DuplicateOrder,
        ),
        (401, envelope([], "50113", "Invalid signature."), errors.AuthenticationError),
        (401, envelope([], "50105", "OK-ACCESS-PASSPHRASE incorrect."), errors.AuthenticationError),
        (
            401,
            envelope([], "50101", "APIKey does not match current environment."),
            errors.AuthenticationError,
        ),
        (
            200,
            envelope([], "50120", "This API key doesn't have permission to use this function"),
            errors.PermissionDenied,
        ),
        (400, envelope([], "51000", "Parameter sz error"), errors.InvalidRequest),
        (
            400,
            envelope(
                [],
                "50004",
                "API endpoint request timeout (does not mean that the "
                "request was successful or failed, please check the "
                "request result).",
            ),
            errors.RequestTimeout,
        ),
        (
            500,
            envelope([], "51149", "Order timed out, please try again later."),
            errors.OrderOutcomeUnknown,
        ),
        (
            503,
            envelope([], "50001", "Service temporarily unavailable. Please try again later."),
            errors.OrderOutcomeUnknown,
        ),
        (200, place_answer("59999", "Something OKX added later", ord_id=""), errors.ExchangeError),
    ]
    weight_cases = [
        (path, 1)
        for path in (
            okx.TIME,
            okx.INSTRUMENTS,
            okx.TICKER,
            okx.ACCOUNT_CONFIG,
            okx.BALANCE,
            okx.POSITIONS,
            okx.SET_LEVERAGE,
            okx.ORDER,
            okx.CANCEL_ORDER,
            okx.CANCEL_BATCH,
            okx.ORDERS_PENDING,
            okx.ORDERS_HISTORY,
        )
    ]

    def order_raw(self, **changes: Any) -> dict[str, Any]:
        return okx_order(**changes)

    def add_instruments(self, rsps: responses.RequestsMock) -> None:
        """Spot needs no contract values."""

    def add_place_success(self, rsps, order):
        self.add_instruments(rsps)
        rsps.add(responses.POST, url(okx.ORDER), json=place_answer())

    def add_place_answer(self, rsps, status, body, headers=None):
        self.add_instruments(rsps)
        rsps.add(responses.POST, url(okx.ORDER), json=body, status=status, headers=headers)

    def add_place_exception(self, rsps, exc):
        self.add_instruments(rsps)
        rsps.add(responses.POST, url(okx.ORDER), body=exc)

    def add_cancel_success(self, rsps, client_order_id):
        self.add_instruments(rsps)
        rsps.add(
            responses.POST,
            url(okx.CANCEL_ORDER),
            json=envelope(
                [
                    {
                        "clOrdId": client_order_id,
                        "ordId": ORD_ID,
                        "ts": "1700000000500",
                        "sCode": "0",
                        "sMsg": "",
                    }
                ]
            ),
        )
        rsps.add(
            responses.GET,
            url(okx.ORDER),
            json=envelope(
                [self.order_raw(state="canceled", cancelSource="1", clOrdId=client_order_id)]
            ),
        )

    def add_get_not_found(self, rsps):
        self.add_instruments(rsps)
        rsps.add(responses.GET, url(okx.ORDER), json=envelope([], "51603", "Order does not exist"))

    def add_server_time(self, rsps):
        rsps.add(responses.GET, url(okx.TIME), json=envelope([{"ts": str(NOW_MS + 250)}]))

    def parse_order(self, raw):
        return okx.parse_order(raw)

    def assert_signed(self, request):
        timestamp = request.headers["OK-ACCESS-TIMESTAMP"]
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        assert timestamp == iso_timestamp(NOW_MS)
        assert request.headers["OK-ACCESS-KEY"] == API_KEY
        assert request.headers["OK-ACCESS-PASSPHRASE"] == PASSPHRASE
        assert request.headers["OK-ACCESS-SIGN"] == sign(
            API_SECRET, timestamp, request.method, request.path_url, body
        )

    def assert_deadline(self, error):
        assert error.deadline_ms == NOW_MS + OkxConnector.recv_window_ms


class TestOkxSwapContract(TestOkxContract):
    """The same contract on a perpetual connection: sizes go out in contracts."""

    api_type = "perpetual_futures"
    symbol = "BTC/USDT:USDT"
    status_cases = [
        (swap_order(**raw), status)
        for raw, status in [
            ({"state": "live"}, "open"),
            ({"state": "partially_filled", "accFillSz": "0.4"}, "partially_filled"),
            ({"state": "filled", "accFillSz": "1", "avgPx": "50000"}, "filled"),
            ({"state": "canceled", "cancelSource": "1"}, "canceled"),
            ({"state": "canceled", "ordType": "market", "cancelSource": "0"}, "expired"),
        ]
    ]

    def order_raw(self, **changes):
        return swap_order(**changes)

    def add_instruments(self, rsps):
        rsps.add(
            responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT, INVERSE_SWAP])
        )

    def parse_order(self, raw):
        return okx.parse_order(raw, Decimal("0.01"))


# -- fixtures for the OKX-specific tests ---------------------------------------------------


def make(
    api_type: str = "spot",
    environment: str = "live",
    base_url: str | None = BASE,
    passphrase: str = PASSPHRASE,
    throttle: RecordingThrottle | None = None,
) -> OkxConnector:
    return OkxConnector(
        credentials=Credentials(API_KEY, API_SECRET, passphrase),
        api_type=api_type,
        environment=environment,
        base_url=base_url,
        throttle=throttle,
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


# -- symbols and quantities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unified", "inst_id"),
    [
        ("BTC/USDT", "BTC-USDT"),
        ("BTC/USDT:USDT", "BTC-USDT-SWAP"),
        ("doge/usdt", "DOGE-USDT"),
    ],
)
def test_unified_symbols_map_to_okx_instrument_ids_and_back(unified, inst_id):
    assert okx.to_inst_id(unified) == inst_id
    assert okx.from_inst_id(inst_id) == unified.upper()


@pytest.mark.parametrize(
    "inst_id", ["BTC-USD-240329", "BTC-USD-240329-60000-C", "BTCUSDT", "BTC--SWAP", ""]
)
def test_futures_options_and_malformed_ids_are_not_mapped(inst_id):
    with pytest.raises(errors.InvalidRequest):
        okx.from_inst_id(inst_id)


@pytest.mark.parametrize("symbol", ["BTC-USDT", "BTCUSDT", "BTC/USD:BTC", ""])
def test_non_unified_symbols_are_refused(symbol):
    with pytest.raises(errors.InvalidRequest):
        okx.to_inst_id(symbol)


def test_swap_order_size_goes_out_in_contracts(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    placed = make("perpetual_futures").place_order(
        order(symbol="BTC/USDT:USDT", quantity=Decimal("0.05"))
    )
    body = sent_json(rsps.calls[-1])
    assert body["sz"] == "5"
    assert body["tdMode"] == "cross" and "tgtCcy" not in body
    assert placed.quantity == Decimal("0.05")
    assert query(rsps.calls[0]) == {"instType": "SWAP"}


def test_contract_values_are_fetched_once_per_connector(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    connector = make("perpetual_futures")
    for _ in range(2):
        connector.place_order(order(symbol="BTC/USDT:USDT"))
    assert [c.request.method for c in rsps.calls] == ["GET", "POST", "POST"]


def test_swap_quantity_off_the_contract_lot_is_refused_before_sending(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    with pytest.raises(errors.InvalidOrder, match="lot"):
        make("perpetual_futures").place_order(
            order(symbol="BTC/USDT:USDT", quantity=Decimal("0.00015"))
        )
    assert all(c.request.method == "GET" for c in rsps.calls)


def test_swap_orders_are_read_back_in_base_currency():
    parsed = okx.parse_order(
        swap_order(sz="5", accFillSz="2", avgPx="60000.5", state="partially_filled"),
        Decimal("0.01"),
    )
    assert parsed.quantity == Decimal("0.05")
    assert parsed.filled_quantity == Decimal("0.02")
    assert parsed.average_price == Decimal("60000.5")
    assert parsed.symbol == "BTC/USDT:USDT"


def test_quote_sized_spot_market_orders_report_the_filled_base_amount():
    parsed = okx.parse_order(
        okx_order(
            ordType="market",
            tgtCcy="quote_ccy",
            sz="100",
            px="",
            state="filled",
            accFillSz="0.00166",
            avgPx="60000",
        )
    )
    assert parsed.quantity == Decimal("0.00166")
    assert parsed.type == "market" and parsed.price is None


def test_swap_that_okx_does_not_list_is_refused(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    with pytest.raises(errors.InvalidRequest):
        make("perpetual_futures").place_order(order(symbol="ETH/USDT:USDT"))


# -- status map ------------------------------------------------------------------------------


def test_every_okx_state_maps_to_one_of_ours():
    assert okx.STATUS_MAP == {
        "live": "open",
        "partially_filled": "partially_filled",
        "filled": "filled",
        "canceled": "canceled",
        "mmp_canceled": "canceled",
    }


def test_user_cancel_of_an_ioc_order_stays_canceled():
    assert okx.order_status("canceled", "ioc", "1") == "canceled"


def test_unknown_state_is_an_error_not_a_guess():
    with pytest.raises(errors.ExchangeError, match="unknown OKX order state"):
        okx.parse_order(okx_order(state="effective"))


# -- errors, pauses, usage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("50102", errors.AuthenticationError),
        ("50111", errors.AuthenticationError),
        ("50119", errors.AuthenticationError),
        ("50104", errors.AuthenticationError),
        ("50110", errors.PermissionDenied),
        ("50030", errors.PermissionDenied),
        ("50035", errors.PermissionDenied),
        ("51024", errors.PermissionDenied),
        ("50061", errors.RateLimited),
        ("50013", errors.RateLimited),
        ("51119", errors.InsufficientFunds),
        ("51131", errors.InsufficientFunds),
        ("50071", errors.DuplicateOrder),
        ("51603", errors.OrderNotFound),
        ("51400", errors.OrderNotFound),
        ("51401", errors.InvalidOrder),
        ("51402", errors.InvalidOrder),
        ("51001", errors.InvalidRequest),
        ("50014", errors.InvalidRequest),
        ("51054", errors.RequestTimeout),
        ("50026", errors.ExchangeUnavailable),
        ("50038", errors.NotSupported),
    ],
)
def test_error_table_rows(code, expected):
    assert okx.ERRORS.classify(code=code, message="", http_status=200) is expected


def test_already_canceled_is_not_mistaken_for_not_found():
    assert not issubclass(
        okx.ERRORS.classify(code="51401", message="", http_status=200), errors.OrderNotFound
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        # a page is not the exchange's word: a read is only unavailable, never an auth failure
        # that would disable the connection
        (401, errors.ExchangeUnavailable),
        (403, errors.ExchangeUnavailable),
        (429, errors.RateLimited),
        (502, errors.ExchangeUnavailable),
    ],
)
def test_answers_without_the_okx_envelope_are_unavailable_unless_rate_limited(
    rsps, status, expected
):
    rsps.add(responses.GET, url(okx.BALANCE), body="<html>gateway</html>", status=status)
    with pytest.raises(expected):
        make().balances()


@pytest.mark.parametrize(("code", "pause"), [("50011", 2.0), ("50061", 2.0), ("50013", 1.0)])
def test_rate_limit_codes_pause_every_process_for_the_okx_window(rsps, code, pause):
    throttle = RecordingThrottle()
    rsps.add(
        responses.GET, url(okx.BALANCE), json=envelope([], code, "Rate limit reached."), status=429
    )
    with pytest.raises(errors.RateLimited) as caught:
        make(throttle=throttle).balances()
    assert caught.value.retry_after == pause
    assert throttle.pauses == [pause]


def test_rate_limit_with_http_200_is_still_rate_limited(rsps):
    rsps.add(responses.GET, url(okx.BALANCE), json=envelope([], "50011", "Rate limit reached."))
    with pytest.raises(errors.RateLimited):
        make().balances()


def test_okx_reports_no_usage_headers(rsps):
    throttle = RecordingThrottle()
    rsps.add(
        responses.GET,
        url(okx.TIME),
        json=envelope([{"ts": str(NOW_MS)}]),
        headers={"X-RateLimit-Remaining": "3"},
    )
    make(throttle=throttle).server_time()
    assert throttle.usage == []
    assert throttle.acquired == [(1, okx.TIME)]


def test_batch_cancel_all_failed_reads_the_item_code():
    response = Response(
        status=200,
        headers={},
        payload={
            "code": "1",
            "msg": "",
            "data": [
                {"ordId": ORD_ID, "clOrdId": "", "sCode": "51402", "sMsg": "Order already filled"}
            ],
        },
    )
    assert make().error_of(response) == ("51402", "Order already filled")


# -- deadlines on ambiguous placements ----------------------------------------------------------


def test_placement_carries_exp_time_and_reports_it_as_the_deadline(rsps):
    rsps.add(
        responses.POST,
        url(okx.ORDER),
        json=envelope([], "50004", "API endpoint request timeout"),
        status=400,
    )
    with pytest.raises(errors.RequestTimeout) as caught:
        make().place_order(order())
    sent = rsps.calls[0].request
    assert sent.headers["expTime"] == str(NOW_MS + 5000)
    assert caught.value.deadline_ms == NOW_MS + 5000


def test_order_timed_out_code_is_outcome_unknown_with_the_deadline(rsps):
    rsps.add(
        responses.POST, url(okx.ORDER), json=envelope([], "51149", "Order timed out"), status=500
    )
    with pytest.raises(errors.OrderOutcomeUnknown) as caught:
        make().place_order(order())
    assert caught.value.deadline_ms == NOW_MS + 5000


def test_deadline_follows_the_measured_server_clock(rsps):
    rsps.add(responses.GET, url(okx.TIME), json=envelope([{"ts": str(NOW_MS + 3000)}]))
    rsps.add(responses.POST, url(okx.ORDER), body=requests.exceptions.ReadTimeout("slow"))
    connector = make()
    connector.sync_time()
    with pytest.raises(errors.RequestTimeout) as caught:
        connector.place_order(order())
    assert caught.value.deadline_ms == NOW_MS + 3000 + 5000


def test_cancel_carries_no_exp_time_because_okx_ignores_it_there(rsps):
    rsps.add(responses.POST, url(okx.CANCEL_ORDER), body=requests.exceptions.ReadTimeout("x"))
    with pytest.raises(errors.RequestTimeout) as caught:
        make().cancel_order("BTC/USDT", client_order_id=CLIENT_ID)
    assert "expTime" not in rsps.calls[0].request.headers
    assert caught.value.deadline_ms is None


# -- order bodies ------------------------------------------------------------------------------


def test_spot_limit_body_matches_the_okx_shape(rsps):
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    placed = make().place_order(order(price=Decimal("50000.10"), quantity=Decimal("0.0100")))
    assert sent_json(rsps.calls[0]) == {
        "instId": "BTC-USDT",
        "tdMode": "cash",
        "clOrdId": CLIENT_ID,
        "side": "buy",
        "ordType": "limit",
        "px": "50000.1",
        "sz": "0.01",
    }
    assert rsps.calls[0].request.headers["Content-Type"] == "application/json"
    assert placed.exchange_order_id == ORD_ID and placed.status == "open"
    assert placed.created_at_ms == 1700000000123


def test_spot_market_order_is_sized_in_base_currency(rsps):
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    make().place_order(order(type="market", price=None))
    body = sent_json(rsps.calls[0])
    assert body["ordType"] == "market" and body["tgtCcy"] == "base_ccy" and "px" not in body


@pytest.mark.parametrize(
    ("tif", "ord_type"),
    [("GTC", "limit"), ("IOC", "ioc"), ("FOK", "fok"), ("POST_ONLY", "post_only")],
)
def test_time_in_force_becomes_the_okx_order_type(rsps, tif, ord_type):
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    make().place_order(order(time_in_force=tif))
    assert sent_json(rsps.calls[0])["ordType"] == ord_type


def test_margin_connection_trades_spot_in_cross_mode_and_may_reduce_only(rsps):
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    make("margin").place_order(order(reduce_only=True))
    body = sent_json(rsps.calls[0])
    assert body["tdMode"] == "cross" and body["reduceOnly"] == "true"


def test_unified_account_trades_spot_in_cash_unless_margin_is_asked(rsps):
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    connector = make("unified_account")
    connector.place_order(order())
    connector.place_order(order(margin=True))
    assert [sent_json(c)["tdMode"] for c in rsps.calls] == ["cash", "cross"]


def test_reduce_only_swap_order_says_so(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    rsps.add(responses.POST, url(okx.ORDER), json=place_answer())
    make("perpetual_futures").place_order(
        order(symbol="BTC/USDT:USDT", side="sell", reduce_only=True)
    )
    assert sent_json(rsps.calls[-1])["reduceOnly"] == "true"


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "changes", "error"),
    [
        ("spot", {"symbol": "BTCUSDT"}, errors.InvalidRequest),
        ("spot", {"symbol": "BTC/USDT:USDT"}, errors.InvalidRequest),
        ("perpetual_futures", {"symbol": "BTC/USDT"}, errors.InvalidRequest),
        ("spot", {"client_order_id": "ec-has-a-dash"}, errors.InvalidRequest),
        ("spot", {"client_order_id": "x" * 33}, errors.InvalidRequest),
        ("spot", {"price": None}, errors.InvalidRequest),
        ("spot", {"price": Decimal("0")}, errors.InvalidRequest),
        ("spot", {"quantity": Decimal("0")}, errors.InvalidRequest),
        ("spot", {"side": "long"}, errors.InvalidRequest),
        ("spot", {"type": "stop"}, errors.InvalidRequest),
        ("spot", {"time_in_force": "GTD"}, errors.InvalidRequest),
        (
            "spot",
            {"type": "market", "price": None, "time_in_force": "POST_ONLY"},
            errors.InvalidRequest,
        ),
        ("spot", {"reduce_only": True}, errors.InvalidRequest),
    ],
)
def test_bad_orders_are_refused_before_anything_is_sent(rsps, api_type, changes, error):
    with pytest.raises(error):
        make(api_type).place_order(order(**changes))
    assert len(rsps.calls) == 0


def test_missing_passphrase_fails_before_sending_and_without_secrets(rsps):
    with pytest.raises(errors.AuthenticationError) as caught:
        make(passphrase="").balances()
    assert len(rsps.calls) == 0
    assert API_SECRET not in str(caught.value)


def test_lookup_without_any_id_is_refused(rsps):
    with pytest.raises(errors.InvalidRequest):
        make().get_order("BTC/USDT")
    with pytest.raises(errors.InvalidRequest):
        make().cancel_order("BTC/USDT")
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("api_type", "symbol", "leverage", "error"),
    [
        ("perpetual_futures", "BTC/USDT:USDT", 0, errors.InvalidRequest),
        ("spot", "BTC/USDT", 3, errors.NotSupported),
        ("perpetual_futures", "BTC/USDT", 3, errors.InvalidRequest),
    ],
)
def test_bad_leverage_requests_are_refused(rsps, api_type, symbol, leverage, error):
    with pytest.raises(error):
        make(api_type).set_leverage(symbol, leverage)
    assert len(rsps.calls) == 0


def test_positions_of_a_spot_symbol_are_refused(rsps):
    with pytest.raises(errors.InvalidRequest):
        make("unified_account").positions("BTC/USDT")


# -- environments ----------------------------------------------------------------------------------


def test_testnet_is_the_live_host_with_the_simulated_trading_header(rsps):
    rsps.add(
        responses.GET,
        "https://www.okx.com/api/v5/public/time",
        json=envelope([{"ts": "1700000000000"}]),
    )
    rsps.add(responses.GET, "https://www.okx.com/api/v5/account/balance", json=envelope([]))
    connector = make(environment="testnet", base_url=None)
    connector.server_time()
    connector.balances()
    assert [c.request.headers["x-simulated-trading"] for c in rsps.calls] == ["1", "1"]
    assert connector.ws_hosts[("testnet", "linear")] == "wss://wspap.okx.com:8443"


def test_live_requests_carry_no_simulated_trading_header(rsps):
    rsps.add(
        responses.GET,
        "https://www.okx.com/api/v5/public/time",
        json=envelope([{"ts": "1700000000000"}]),
    )
    make(environment="live", base_url=None).server_time()
    assert "x-simulated-trading" not in rsps.calls[0].request.headers
    assert OkxConnector.ws_hosts[("live", "spot")] == "wss://ws.okx.com:8443"


def test_paper_connection_uses_its_base_url_and_behaves_like_live(rsps):
    rsps.add(
        responses.GET,
        "http://127.0.0.1:8900/okx/api/v5/public/time",
        json=envelope([{"ts": "1700000000000"}]),
    )
    make(environment="paper", base_url="http://127.0.0.1:8900/okx/").server_time()
    assert "x-simulated-trading" not in rsps.calls[0].request.headers


def test_paper_connection_without_a_base_url_is_not_sent_to_okx(rsps):
    with pytest.raises(errors.NotSupported):
        make(environment="paper", base_url=None).server_time()
    assert len(rsps.calls) == 0


def test_signature_covers_the_path_without_a_base_url_prefix(rsps):
    rsps.add(responses.GET, "http://127.0.0.1:8900/okx/api/v5/account/balance", json=envelope([]))
    make(environment="paper", base_url="http://127.0.0.1:8900/okx").balances()
    request = rsps.calls[0].request
    assert request.headers["OK-ACCESS-SIGN"] == sign(
        API_SECRET, iso_timestamp(NOW_MS), "GET", "/api/v5/account/balance"
    )


def test_get_signature_covers_the_query_string(rsps):
    rsps.add(responses.GET, url(okx.ORDER), json=envelope([okx_order()]))
    make().get_order("BTC/USDT", client_order_id=CLIENT_ID)
    request = rsps.calls[0].request
    assert request.path_url == f"/api/v5/trade/order?instId=BTC-USDT&clOrdId={CLIENT_ID}"
    assert request.headers["OK-ACCESS-SIGN"] == sign(
        API_SECRET, iso_timestamp(NOW_MS), "GET", request.path_url
    )


# -- reads and parsers --------------------------------------------------------------------------


def test_server_time_reads_ts(rsps):
    rsps.add(responses.GET, url(okx.TIME), json=envelope([{"ts": "1700000000250"}]))
    assert make().server_time() == 1700000000250
    assert "OK-ACCESS-SIGN" not in rsps.calls[0].request.headers


def test_instruments_report_swap_sizes_in_base_currency(rsps):
    suspended = {**SPOT_INSTRUMENT, "instId": "LUNA-USDT", "baseCcy": "LUNA", "state": "suspend"}
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SPOT_INSTRUMENT, suspended]))
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT, INVERSE_SWAP]))
    spot, swap = make("unified_account").instruments()
    assert (
        spot.symbol,
        spot.kind,
        spot.tick_size,
        spot.lot_size,
        spot.min_quantity,
        spot.contract_value,
    ) == ("BTC/USDT", "spot", Decimal("0.1"), Decimal("0.00000001"), Decimal("0.00001"), Decimal(1))
    assert (
        swap.symbol,
        swap.exchange_symbol,
        swap.kind,
        swap.lot_size,
        swap.min_quantity,
        swap.contract_value,
    ) == (
        "BTC/USDT:USDT",
        "BTC-USDT-SWAP",
        "linear",
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("0.01"),
    )
    assert [query(c)["instType"] for c in rsps.calls] == ["SPOT", "SWAP"]


def test_balances_use_available_and_frozen(rsps):
    rsps.add(
        responses.GET,
        url(okx.BALANCE),
        json=envelope(
            [
                {
                    "totalEq": "41624.32",
                    "uTime": "1700000000000",
                    "details": [
                        {
                            "ccy": "USDT",
                            "eq": "10000",
                            "cashBal": "10000",
                            "availBal": "9000",
                            "frozenBal": "1000",
                            "ordFrozen": "1000",
                            "availEq": "9000",
                        },
                        {
                            "ccy": "BTC",
                            "eq": "0.5",
                            "cashBal": "0.5",
                            "availBal": "",
                            "frozenBal": "",
                        },
                    ],
                }
            ]
        ),
    )
    usdt, btc = make().balances()
    assert (usdt.asset, usdt.free, usdt.locked, usdt.total) == (
        "USDT",
        Decimal("9000"),
        Decimal("1000"),
        Decimal("10000"),
    )
    assert (btc.asset, btc.free, btc.locked) == ("BTC", Decimal("0.5"), Decimal(0))


def test_positions_are_signed_base_quantities(rsps):
    rsps.add(
        responses.GET,
        url(okx.POSITIONS),
        json=envelope(
            [
                {
                    "instType": "SWAP",
                    "instId": "BTC-USDT-SWAP",
                    "posSide": "net",
                    "pos": "-3",
                    "avgPx": "60000",
                    "markPx": "60100",
                    "upl": "-3",
                    "lever": "10",
                    "mgnMode": "cross",
                },
                {
                    "instType": "SWAP",
                    "instId": "BTC-USDT-SWAP",
                    "posSide": "net",
                    "pos": "0",
                    "avgPx": "",
                    "markPx": "60100",
                    "upl": "0",
                    "lever": "10",
                    "mgnMode": "isolated",
                },
                {
                    "instType": "SWAP",
                    "instId": "BTC-USD-SWAP",
                    "posSide": "net",
                    "pos": "7",
                    "avgPx": "60000",
                    "markPx": "60100",
                    "upl": "0",
                    "lever": "5",
                    "mgnMode": "cross",
                },
            ]
        ),
    )
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT, INVERSE_SWAP]))
    [position] = make("perpetual_futures").positions()
    assert position.symbol == "BTC/USDT:USDT"
    assert position.quantity == Decimal("-0.03")
    assert (
        position.entry_price,
        position.mark_price,
        position.leverage,
        position.unrealized_pnl,
    ) == (Decimal("60000"), Decimal("60100"), Decimal("10"), Decimal("-3"))
    assert query(rsps.calls[0]) == {"instType": "SWAP"}


def test_hedge_mode_short_leg_is_negative():
    position = okx.parse_position(
        {"instId": "BTC-USDT-SWAP", "posSide": "short", "pos": "2", "avgPx": "60000"},
        Decimal("0.01"),
    )
    assert position is not None and position.quantity == Decimal("-0.02")


def test_spot_connection_has_no_positions(rsps):
    assert make("spot").positions() == []
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(("pos_mode", "hedged"), [("long_short_mode", True), ("net_mode", False)])
def test_hedge_mode_is_read_from_the_account_config(rsps, pos_mode, hedged):
    rsps.add(
        responses.GET,
        url(okx.ACCOUNT_CONFIG),
        json=envelope([{**ACCOUNT_CONFIG, "posMode": pos_mode}]),
    )
    assert make("perpetual_futures").is_hedge_mode() is hedged


def test_spot_connections_are_never_hedged(rsps):
    assert make("spot").is_hedge_mode() is False
    assert len(rsps.calls) == 0


def test_credential_check_reads_permissions_and_warns(rsps):
    rsps.add(
        responses.GET,
        url(okx.ACCOUNT_CONFIG),
        json=envelope(
            [
                {
                    **ACCOUNT_CONFIG,
                    "perm": "read_only,withdraw,trade",
                    "ip": "",
                    "posMode": "long_short_mode",
                }
            ]
        ),
    )
    check = make("perpetual_futures").check_credentials()
    assert check.permissions == ("read", "trade", "withdraw")
    assert check.warnings == ("withdraw_enabled", "no_ip_whitelist", "hedge_mode")


def test_read_only_key_is_flagged(rsps):
    rsps.add(
        responses.GET,
        url(okx.ACCOUNT_CONFIG),
        json=envelope([{**ACCOUNT_CONFIG, "perm": "read_only"}]),
    )
    check = make().check_credentials()
    assert check.permissions == ("read",) and check.warnings == ("read_only",)


def test_test_connection_measures_the_offset_and_reads_permissions(rsps):
    rsps.add(responses.GET, url(okx.TIME), json=envelope([{"ts": str(NOW_MS + 1500)}]))
    rsps.add(responses.GET, url(okx.ACCOUNT_CONFIG), json=envelope([ACCOUNT_CONFIG]))
    result = make().test_connection()
    assert result.server_time_offset_ms == 1500
    assert result.permissions == ("read", "trade") and result.warnings == ()


def test_heartbeat_reads_the_usdt_balance_signed(rsps):
    rsps.add(responses.GET, url(okx.TIME), json=envelope([{"ts": str(NOW_MS)}]))
    rsps.add(responses.GET, url(okx.BALANCE), json=envelope([{"details": []}]))
    make().heartbeat()
    balance_call = rsps.calls[1].request
    assert balance_call.path_url == "/api/v5/account/balance?ccy=USDT"
    assert "OK-ACCESS-SIGN" in balance_call.headers


def test_ticker_reads_bid_ask_last(rsps):
    rsps.add(
        responses.GET,
        url(okx.TICKER),
        json=envelope(
            [
                {
                    "instType": "SPOT",
                    "instId": "BTC-USDT",
                    "last": "60000.1",
                    "lastSz": "0.1",
                    "askPx": "60000.2",
                    "askSz": "1",
                    "bidPx": "60000",
                    "bidSz": "2",
                    "ts": "1",
                }
            ]
        ),
    )
    ticker = make().ticker("BTC/USDT")
    assert (ticker.symbol, ticker.bid, ticker.ask, ticker.last) == (
        "BTC/USDT",
        Decimal("60000"),
        Decimal("60000.2"),
        Decimal("60000.1"),
    )
    assert query(rsps.calls[0]) == {"instId": "BTC-USDT"}


def test_set_leverage_sends_cross_margin_for_the_swap(rsps):
    rsps.add(
        responses.POST,
        url(okx.SET_LEVERAGE),
        json=envelope(
            [{"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross", "posSide": ""}]
        ),
    )
    make("perpetual_futures").set_leverage("BTC/USDT:USDT", 5)
    assert sent_json(rsps.calls[0]) == {"instId": "BTC-USDT-SWAP", "lever": "5", "mgnMode": "cross"}


def test_get_order_by_exchange_id_sends_ord_id(rsps):
    rsps.add(
        responses.GET, url(okx.ORDER), json=envelope([okx_order(state="filled", accFillSz="0.01")])
    )
    found = make().get_order("BTC/USDT", exchange_order_id=ORD_ID)
    assert query(rsps.calls[0]) == {"instId": "BTC-USDT", "ordId": ORD_ID}
    assert found.status == "filled" and found.filled_quantity == Decimal("0.01")


def test_cancel_reads_the_order_back_with_its_fills(rsps):
    rsps.add(
        responses.POST,
        url(okx.CANCEL_ORDER),
        json=envelope(
            [{"clOrdId": CLIENT_ID, "ordId": ORD_ID, "ts": "1", "sCode": "0", "sMsg": ""}]
        ),
    )
    rsps.add(
        responses.GET,
        url(okx.ORDER),
        json=envelope(
            [okx_order(state="canceled", cancelSource="1", accFillSz="0.004", avgPx="50000")]
        ),
    )
    canceled = make().cancel_order("BTC/USDT", client_order_id=CLIENT_ID)
    assert sent_json(rsps.calls[0]) == {"instId": "BTC-USDT", "clOrdId": CLIENT_ID}
    assert query(rsps.calls[1])["ordId"] == ORD_ID
    assert canceled.status == "canceled" and canceled.filled_quantity == Decimal("0.004")


def test_cancel_of_a_filled_order_is_not_order_not_found(rsps):
    rsps.add(
        responses.POST,
        url(okx.CANCEL_ORDER),
        json={
            "code": "1",
            "msg": "",
            "data": [
                {
                    "clOrdId": CLIENT_ID,
                    "ordId": ORD_ID,
                    "ts": "1",
                    "sCode": "51402",
                    "sMsg": "Order cancellation failed as the order has been completed.",
                }
            ],
        },
    )
    with pytest.raises(errors.InvalidOrder) as caught:
        make().cancel_order("BTC/USDT", exchange_order_id=ORD_ID)
    assert not isinstance(caught.value, errors.OrderNotFound)
    assert caught.value.code == "51402"


def test_cancel_all_cancels_open_orders_in_batches(rsps):
    pending = [okx_order(ordId=str(n), clOrdId=f"ec{n}") for n in range(1, 23)]
    rsps.add(responses.GET, url(okx.ORDERS_PENDING), json=envelope(pending))
    rsps.add(
        responses.POST,
        url(okx.CANCEL_BATCH),
        json=envelope(
            [{"ordId": str(n), "clOrdId": "", "sCode": "0", "sMsg": ""} for n in range(1, 21)]
        ),
    )
    rsps.add(
        responses.POST,
        url(okx.CANCEL_BATCH),
        json={
            "code": "2",
            "msg": "",
            "data": [
                {"ordId": "21", "clOrdId": "", "sCode": "0", "sMsg": ""},
                {"ordId": "22", "clOrdId": "", "sCode": "51402", "sMsg": "already completed"},
            ],
        },
    )
    assert make().cancel_all("BTC/USDT") == 21
    batches = [sent_json(c) for c in rsps.calls if c.request.method == "POST"]
    assert [len(b) for b in batches] == [20, 2]
    assert batches[1] == [
        {"instId": "BTC-USDT", "ordId": "21"},
        {"instId": "BTC-USDT", "ordId": "22"},
    ]


def test_cancel_all_with_nothing_open_sends_no_cancel(rsps):
    rsps.add(responses.GET, url(okx.ORDERS_PENDING), json=envelope([]))
    assert make().cancel_all() == 0
    assert query(rsps.calls[0]) == {"instType": "SPOT"}
    assert len(rsps.calls) == 1


def test_cancel_all_survives_a_batch_that_closed_meanwhile(rsps):
    rsps.add(responses.GET, url(okx.ORDERS_PENDING), json=envelope([okx_order()]))
    rsps.add(
        responses.POST,
        url(okx.CANCEL_BATCH),
        json={
            "code": "1",
            "msg": "",
            "data": [
                {"ordId": ORD_ID, "clOrdId": "", "sCode": "51402", "sMsg": "already completed"}
            ],
        },
    )
    assert make().cancel_all() == 0


def test_open_orders_follow_the_after_cursor(rsps):
    first = [okx_order(ordId=str(1000 - n)) for n in range(100)]
    rsps.add(responses.GET, url(okx.ORDERS_PENDING), json=envelope(first))
    rsps.add(responses.GET, url(okx.ORDERS_PENDING), json=envelope([okx_order(ordId="5")]))
    orders = make().open_orders("BTC/USDT")
    assert len(orders) == 101
    assert query(rsps.calls[1]) == {"instId": "BTC-USDT", "after": "901"}


def test_open_orders_of_a_unified_account_skip_what_we_do_not_trade(rsps):
    rsps.add(
        responses.GET,
        url(okx.ORDERS_PENDING),
        json=envelope(
            [
                okx_order(),
                swap_order(ordId="2"),
                okx_order(instType="OPTION", instId="BTC-USD-240329-60000-C", ordId="3"),
            ]
        ),
    )
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    orders = make("unified_account").open_orders()
    assert [(o.symbol, o.quantity) for o in orders] == [
        ("BTC/USDT", Decimal("0.01")),
        ("BTC/USDT:USDT", Decimal("0.01")),
    ]
    assert query(rsps.calls[0]) == {}


def test_order_history_filters_by_creation_time_and_instrument_type(rsps):
    rsps.add(
        responses.GET,
        url(okx.ORDERS_HISTORY),
        json=envelope([swap_order(state="filled", accFillSz="1", avgPx="50000")]),
    )
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    [filled] = make("perpetual_futures").order_history("BTC/USDT:USDT", since_ms=1699999000000)
    assert query(rsps.calls[0]) == {
        "instType": "SWAP",
        "instId": "BTC-USDT-SWAP",
        "begin": "1699999000000",
    }
    assert filled.status == "filled" and filled.filled_quantity == Decimal("0.01")


def test_unified_spot_history_covers_cash_and_margin_orders(rsps):
    rsps.add(responses.GET, url(okx.ORDERS_HISTORY), json=envelope([]))
    make("unified_account").order_history("BTC/USDT")
    assert [query(c)["instType"] for c in rsps.calls] == ["SPOT", "MARGIN"]


def test_connector_repr_and_credentials_hide_secrets():
    connector = make()
    assert API_SECRET not in repr(connector) and PASSPHRASE not in repr(connector.credentials)


def test_registry_finds_the_okx_connector():
    from exchanges.registry import connector_class

    assert connector_class("okx") is OkxConnector


# -- recent fills (GET /api/v5/trade/fills, /fills-history) ------------------------------------


def okx_fill(**changes: Any) -> dict[str, Any]:
    """A row of "Get transaction details" (fields as documented)."""
    raw = {
        "instType": "SPOT",
        "instId": "BTC-USDT",
        "tradeId": "123",
        "ordId": ORD_ID,
        "clOrdId": CLIENT_ID,
        "billId": "1111",
        "subType": "1",
        "tag": "",
        "fillPx": "50000",
        "fillSz": "0.01",
        "fillIdxPx": "",
        "fillPnl": "0",
        "fillPxVol": "",
        "fillPxUsd": "",
        "fillMarkVol": "",
        "fillFwdPx": "",
        "fillMarkPx": "",
        "side": "buy",
        "posSide": "net",
        "execType": "M",
        "feeCcy": "BTC",
        "fee": "-0.00001",
        "ts": str(NOW_MS - 999),
        "fillTime": str(NOW_MS - 1000),
        "feeRate": "-0.001",
        "tradeQuoteCcy": "USDT",
    }
    raw.update(changes)
    return raw


def test_recent_fills_read_the_3_day_list_with_a_paid_fee_positive(rsps):
    rsps.add(responses.GET, url(okx.FILLS), json=envelope([okx_fill()]))
    [fill] = make("spot").recent_fills("BTC/USDT", since_ms=NOW_MS - 60_000)
    assert query(rsps.calls[0]) == {
        "instType": "SPOT",
        "instId": "BTC-USDT",
        "begin": str(NOW_MS - 60_000),
        "limit": "100",
    }
    assert "OK-ACCESS-SIGN" in rsps.calls[0].request.headers
    assert (fill.trade_id, fill.exchange_order_id, fill.client_order_id) == (
        "123",
        ORD_ID,
        CLIENT_ID,
    )
    assert (fill.symbol, fill.side, fill.price, fill.quantity) == (
        "BTC/USDT",
        "buy",
        Decimal("50000"),
        Decimal("0.01"),
    )
    assert (fill.fee, fill.fee_asset, fill.liquidity, fill.time_ms) == (
        Decimal("0.00001"),
        "BTC",
        "maker",
        NOW_MS - 1000,
    )


def test_swap_fill_sizes_are_contracts_times_the_contract_value(rsps):
    rsps.add(responses.GET, url(okx.INSTRUMENTS), json=envelope([SWAP_INSTRUMENT]))
    rsps.add(
        responses.GET,
        url(okx.FILLS),
        json=envelope(
            [
                okx_fill(
                    instType="SWAP",
                    instId="BTC-USDT-SWAP",
                    fillSz="3",
                    execType="T",
                    feeCcy="USDT",
                    fee="-0.9",
                )
            ]
        ),
    )
    [fill] = make("perpetual_futures").recent_fills("BTC/USDT:USDT")
    assert (fill.symbol, fill.quantity, fill.fee, fill.liquidity) == (
        "BTC/USDT:USDT",
        Decimal("0.03"),
        Decimal("0.9"),
        "taker",
    )


def test_fills_older_than_three_days_come_from_the_history_and_page_by_bill_id(rsps):
    since = NOW_MS - 5 * 86_400_000
    first = [okx_fill(tradeId=str(n), billId=str(900 - n)) for n in range(2)]
    rsps.add(responses.GET, url(okx.FILLS_HISTORY), json=envelope(first))
    rsps.add(responses.GET, url(okx.FILLS_HISTORY), json=envelope([]))
    fills = make("spot").recent_fills(since_ms=since, limit=2)
    assert [query(c) for c in rsps.calls] == [
        {"instType": "SPOT", "begin": str(since), "limit": "2"},
        {"instType": "SPOT", "begin": str(since), "after": "899", "limit": "2"},
    ]
    assert sorted(f.trade_id for f in fills) == ["0", "1"]


def test_a_rebate_is_a_negative_fee(rsps):
    rsps.add(responses.GET, url(okx.FILLS), json=envelope([okx_fill(fee="0.002")]))
    [fill] = make("spot").recent_fills("BTC/USDT")
    assert fill.fee == Decimal("-0.002")
