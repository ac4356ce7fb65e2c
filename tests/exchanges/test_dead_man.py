"""The dead-man switch of every connector, against the exact payloads each exchange
documents (facts: the "Dead-man switch" section of docs/exchanges/<name>.md)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses

from exchanges import binance, bingx, bybit, errors, okx, orangex, pionex
from exchanges.base import Connector, Credentials, DeadManState
from tests.exchanges.contract import (
    API_KEY,
    API_SECRET,
    FROZEN_NOW,
    PASSPHRASE,
    RecordingThrottle,
)

BASE = "https://contract.test"
NOW_MS = int(FROZEN_NOW * 1000)


def make(
    connector_class: type[Connector], api_type: str, throttle: RecordingThrottle | None = None
) -> Any:
    return connector_class(
        credentials=Credentials(API_KEY, API_SECRET, PASSPHRASE),
        api_type=api_type,
        environment="live",
        base_url=BASE,
        throttle=throttle or RecordingThrottle(),
        clock=lambda: FROZEN_NOW,
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def form(call: Any) -> dict[str, str]:
    return dict(parse_qsl(call.request.body or "", keep_blank_values=True))


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


# -- the capability table -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("connector_class", "api_type", "kind", "window", "per_symbol"),
    [
        (binance.BinanceConnector, "perpetual_futures", "countdown", (5, 3600), True),
        (okx.OkxConnector, "spot", "countdown", (10, 120), False),
        (bingx.BingxConnector, "perpetual_futures", "countdown", (10, 120), False),
        (bybit.BybitConnector, "spot", "disconnect", (3, 300), False),
    ],
)
def test_each_switch_declares_its_kind_window_and_scope(
    connector_class, api_type, kind, window, per_symbol
):
    connector = make(connector_class, api_type)
    assert connector.dead_man_supported()
    assert (
        connector.dead_man_switch,
        connector.dead_man_window_seconds,
        connector.dead_man_per_symbol,
    ) == (kind, window, per_symbol)


@pytest.mark.parametrize(
    ("connector_class", "api_type"),
    [
        (pionex.PionexConnector, "spot"),
        (pionex.PionexConnector, "perpetual_futures"),
        (orangex.OrangexConnector, "perpetual_futures"),
        (binance.BinanceConnector, "spot"),  # countdownCancelAll is USD-M only
    ],
)
def test_an_exchange_without_a_switch_refuses_before_sending(connector_class, api_type, rsps):
    connector = make(connector_class, api_type)
    assert not connector.dead_man_supported()
    for attempt in (
        lambda: connector.arm_dead_man_switch(30, ["BTC/USDT:USDT"]),
        lambda: connector.disarm_dead_man_switch(["BTC/USDT:USDT"]),
    ):
        with pytest.raises(errors.NotSupported) as caught:
            attempt()
        assert caught.value.code == "dead_man_not_supported"
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    ("connector_class", "api_type", "seconds"),
    [
        (okx.OkxConnector, "spot", 9),
        (okx.OkxConnector, "spot", 121),
        (bingx.BingxConnector, "spot", 0),
        (bybit.BybitConnector, "spot", 301),
        (bybit.BybitConnector, "spot", 2),
        (binance.BinanceConnector, "perpetual_futures", 4),
        (okx.OkxConnector, "spot", True),
    ],
)
def test_a_window_outside_the_range_is_refused_before_sending(
    connector_class, api_type, seconds, rsps
):
    with pytest.raises(errors.InvalidRequest) as caught:
        make(connector_class, api_type).arm_dead_man_switch(seconds, ["BTC/USDT:USDT"])
    assert caught.value.code == "dead_man_window_out_of_range"
    assert len(rsps.calls) == 0


# -- Binance USD-M: countdownCancelAll, per symbol ----------------------------------------


def test_binance_arms_each_symbol_with_a_signed_form_in_milliseconds(rsps):
    throttle = RecordingThrottle()
    connector = make(binance.BinanceConnector, "perpetual_futures", throttle)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        rsps.add(
            responses.POST,
            BASE + "/fapi/v1/countdownCancelAll",
            json={"symbol": symbol, "countdownTime": "30000"},
        )
    state = connector.arm_dead_man_switch(30, ["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert state == DeadManState(
        armed=True,
        kind="countdown",
        seconds=30,
        trigger_at_ms=NOW_MS + 30_000,
        symbols=("BTC/USDT:USDT", "ETH/USDT:USDT"),
    )
    sent = [form(call) for call in rsps.calls]
    assert [(s["symbol"], s["countdownTime"]) for s in sent] == [
        ("BTCUSDT", "30000"),
        ("ETHUSDT", "30000"),
    ]
    body = rsps.calls[0].request.body
    unsigned = body.rpartition("&signature=")[0]
    assert unsigned == f"symbol=BTCUSDT&countdownTime=30000&recvWindow=5000&timestamp={NOW_MS}"
    assert body.endswith("&signature=" + binance.sign(API_SECRET, "", unsigned))
    assert rsps.calls[0].request.headers["X-MBX-APIKEY"] == API_KEY
    assert throttle.acquired == [(10, "/fapi/v1/countdownCancelAll")] * 2


def test_binance_disarms_with_a_zero_countdown(rsps):
    rsps.add(
        responses.POST,
        BASE + "/fapi/v1/countdownCancelAll",
        json={"symbol": "BTCUSDT", "countdownTime": "0"},
    )
    state = make(binance.BinanceConnector, "perpetual_futures").disarm_dead_man_switch(
        ["BTC/USDT:USDT"]
    )
    assert state == DeadManState(armed=False, kind="countdown", symbols=("BTC/USDT:USDT",))
    assert form(rsps.calls[0])["countdownTime"] == "0"


def test_binance_needs_the_symbols(rsps):
    with pytest.raises(errors.InvalidRequest) as caught:
        make(binance.BinanceConnector, "perpetual_futures").arm_dead_man_switch(30)
    assert caught.value.code == "dead_man_needs_symbols"


def test_a_lost_arming_answer_is_retryable_not_an_unknown_order_outcome(rsps):
    """Arming is idempotent: the read rule (ExchangeUnavailable), never OrderOutcomeUnknown."""
    rsps.add(
        responses.POST,
        BASE + "/fapi/v1/countdownCancelAll",
        status=502,
        body="<html>Bad Gateway</html>",
    )
    with pytest.raises(errors.ExchangeUnavailable) as caught:
        make(binance.BinanceConnector, "perpetual_futures").arm_dead_man_switch(
            30, ["BTC/USDT:USDT"]
        )
    assert not isinstance(caught.value, errors.OrderOutcomeUnknown)


# -- OKX: cancel-all-after, account-wide ---------------------------------------------------


def test_okx_posts_time_out_as_a_string_and_reads_the_trigger_time(rsps):
    throttle = RecordingThrottle()
    rsps.add(
        responses.POST,
        BASE + "/api/v5/trade/cancel-all-after",
        json={
            "code": "0",
            "msg": "",
            "data": [{"triggerTime": str(NOW_MS + 60_000), "tag": "", "ts": str(NOW_MS)}],
        },
    )
    state = make(okx.OkxConnector, "perpetual_futures", throttle).arm_dead_man_switch(60)
    assert state == DeadManState(
        armed=True, kind="countdown", seconds=60, trigger_at_ms=NOW_MS + 60_000
    )
    request = rsps.calls[0].request
    assert json.loads(request.body) == {"timeOut": "60"}
    timestamp = request.headers["OK-ACCESS-TIMESTAMP"]
    assert request.headers["OK-ACCESS-SIGN"] == okx.sign(
        API_SECRET, timestamp, "POST", "/api/v5/trade/cancel-all-after", request.body
    )
    assert request.headers["Content-Type"] == "application/json"
    assert throttle.charges[0].path == "/api/v5/trade/cancel-all-after"


def test_okx_reads_the_documented_second_timestamps_too(rsps):
    rsps.add(
        responses.POST,
        BASE + "/api/v5/trade/cancel-all-after",
        json={
            "code": "0",
            "msg": "",
            "data": [{"triggerTime": "1587971460", "tag": "", "ts": "1587971400"}],
        },
    )
    state = make(okx.OkxConnector, "spot").arm_dead_man_switch(60)
    assert state.trigger_at_ms == 1_587_971_460_000


def test_okx_disarms_with_time_out_zero(rsps):
    rsps.add(
        responses.POST,
        BASE + "/api/v5/trade/cancel-all-after",
        json={"code": "0", "msg": "", "data": [{"triggerTime": "0", "tag": "", "ts": str(NOW_MS)}]},
    )
    state = make(okx.OkxConnector, "spot").disarm_dead_man_switch()
    assert state == DeadManState(armed=False, kind="countdown")
    assert json.loads(rsps.calls[0].request.body) == {"timeOut": "0"}


def test_okx_rate_limit_of_the_switch_is_its_own_one_per_second():
    window = okx.RATE_LIMITS.windows["account /api/v5/trade/cancel-all-after 1s"]
    assert (window.limit, window.seconds) == (1, 1)


# -- BingX: cancelAllAfter, spot and swap apart -------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "path"),
    [
        ("spot", "/openApi/spot/v1/trade/cancelAllAfter"),
        ("perpetual_futures", "/openApi/swap/v2/trade/cancelAllAfter"),
    ],
)
def test_bingx_activates_on_the_product_of_the_connection(api_type, path, rsps):
    rsps.add(
        responses.POST,
        BASE + path,
        json={
            "code": 0,
            "msg": "",
            "data": {"triggerTime": NOW_MS + 30_000, "status": "ACTIVATED", "note": ""},
        },
    )
    state = make(bingx.BingxConnector, api_type).arm_dead_man_switch(30)
    assert state == DeadManState(
        armed=True, kind="countdown", seconds=30, trigger_at_ms=NOW_MS + 30_000
    )
    sent = query(rsps.calls[0])
    assert (sent["type"], sent["timeOut"]) == ("ACTIVATE", "30")
    ordered = [
        (k, v) for k, v in parse_qsl(urlsplit(rsps.calls[0].request.url).query) if k != "signature"
    ]
    assert sent["signature"] == bingx.sign(API_SECRET, bingx.signing_payload(ordered))
    assert rsps.calls[0].request.headers["X-BX-APIKEY"] == API_KEY


def test_bingx_closes_with_the_required_time_out(rsps):
    rsps.add(
        responses.POST,
        BASE + "/openApi/swap/v2/trade/cancelAllAfter",
        json={"code": 0, "msg": "", "data": {"triggerTime": 0, "status": "CLOSED", "note": ""}},
    )
    state = make(bingx.BingxConnector, "perpetual_futures").disarm_dead_man_switch()
    assert state == DeadManState(armed=False, kind="countdown")
    assert (query(rsps.calls[0])["type"], query(rsps.calls[0])["timeOut"]) == ("CLOSE", "10")


def test_bingx_failed_status_is_retryable(rsps):
    rsps.add(
        responses.POST,
        BASE + "/openApi/swap/v2/trade/cancelAllAfter",
        json={
            "code": 0,
            "msg": "",
            "data": {"triggerTime": 0, "status": "FAILED", "note": "cancelling in progress"},
        },
    )
    with pytest.raises(errors.ExchangeUnavailable):
        make(bingx.BingxConnector, "perpetual_futures").arm_dead_man_switch(30)


# -- Bybit: DCP, per product ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_type", "products"),
    [
        ("spot", ["SPOT"]),
        ("perpetual_futures", ["DERIVATIVES"]),
        ("unified_account", ["SPOT", "DERIVATIVES"]),
    ],
)
def test_bybit_sets_the_dcp_window_of_each_product_it_trades(api_type, products, rsps):
    for _ in products:
        rsps.add(
            responses.POST,
            BASE + "/v5/order/disconnected-cancel-all",
            json={"retCode": 0, "retMsg": "success"},
        )
    state = make(bybit.BybitConnector, api_type).arm_dead_man_switch(10)
    assert state == DeadManState(armed=True, kind="disconnect", seconds=10)
    bodies = [json.loads(call.request.body) for call in rsps.calls]
    assert bodies == [{"product": product, "timeWindow": 10} for product in products]
    request = rsps.calls[0].request
    assert request.headers["X-BAPI-SIGN"] == bybit.sign(
        API_SECRET, api_key=API_KEY, timestamp_ms=NOW_MS, recv_window_ms=5000, payload=request.body
    )


def test_bybit_refusal_maps_through_its_error_table(rsps):
    rsps.add(
        responses.POST,
        BASE + "/v5/order/disconnected-cancel-all",
        json={
            "retCode": 10005,
            "retMsg": "Permission denied, please check your API key permissions.",
        },
    )
    with pytest.raises(errors.AuthenticationError):
        make(bybit.BybitConnector, "spot").arm_dead_man_switch(10)


def test_bybit_disarm_sends_nothing_dcp_is_off_when_the_stream_drops_dcp(rsps):
    state = make(bybit.BybitConnector, "spot").disarm_dead_man_switch()
    assert state == DeadManState(armed=False, kind="disconnect")
    assert len(rsps.calls) == 0
