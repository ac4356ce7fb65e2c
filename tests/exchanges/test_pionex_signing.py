"""Every Pionex signing vector of the facts file (section 2), official ones first."""

from __future__ import annotations

import base64

from exchanges import pionex
from exchanges.base import Call, Credentials

SECRET = "NFqv4MB3hB0SOiEsJNDP9e0jDdKPWbDqS_Z1dbU4"
KEY = "OElNn5D_Frnf5MR0ChjYdG7PunK0AOgHTvevwzWS"
TIMESTAMP = 1655896754515
ALL_ORDERS_PARAMS = [("symbol", "BTC_USDT"), ("limit", "1")]
ORDER_BODY = (
    '{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","clientOrderId":"myorder-001",'
    '"size":"0.001","price":"20000"}'
)
CANCEL_BODY = '{"symbol":"BTC_USDT","orderId":123456789}'


def test_official_rest_vector_tv1_reproduces():
    # The GitBook example appends a body to a GET, with a space after the colon.
    signature = pionex.sign(
        SECRET,
        method="GET",
        path="/api/v1/trade/allOrders",
        params=ALL_ORDERS_PARAMS,
        timestamp_ms=TIMESTAMP,
        body='{"symbol": "BTC_USDT"}',
    )
    assert signature == "ec83d21e1237cbe7e0172f79c0e3a4741c86f6b201ba762f21149bf195519be1"


def test_tv1_base64_form_is_the_same_digest_and_not_what_we_send():
    signature = pionex.sign(
        SECRET,
        method="GET",
        path="/api/v1/trade/allOrders",
        params=ALL_ORDERS_PARAMS,
        timestamp_ms=TIMESTAMP,
        body='{"symbol": "BTC_USDT"}',
    )
    documented_base64 = "7IPSHhI3y+fgFy95wOOkdByG9rIBunYvIRSb8ZVRm+E="
    assert base64.b64encode(bytes.fromhex(signature)).decode() == documented_base64
    assert signature != documented_base64


def test_tv1_payload_sorts_the_query_and_appends_the_raw_body():
    payload = pionex.signing_payload(
        "get",
        "/api/v1/trade/allOrders",
        [*ALL_ORDERS_PARAMS, ("timestamp", str(TIMESTAMP))],
        '{"symbol": "BTC_USDT"}',
    )
    assert payload == (
        "GET/api/v1/trade/allOrders?limit=1&symbol=BTC_USDT"
        '&timestamp=1655896754515{"symbol": "BTC_USDT"}'
    )


def test_tv1_as_a_plain_get_without_body_reproduces():
    signature = pionex.sign(
        SECRET,
        method="GET",
        path="/api/v1/trade/allOrders",
        params=ALL_ORDERS_PARAMS,
        timestamp_ms=TIMESTAMP,
    )
    assert signature == "25dbbd2a6478ec4870653249d644cfb246eee4da347645cc98373f275e189242"


def test_official_spot_websocket_vector_tv2_reproduces():
    assert pionex.sign_ws_spot(SECRET, KEY, TIMESTAMP) == (
        "3e901247350e744353f4a7a479fd67181184a627b119352ec1b7a432925e772c"
    )


def test_futures_websocket_vector_tv3_differs_from_the_documented_value():
    # websocketapi_futures.yaml signs "1655896754515websocket_auth" but prints TV2's digest:
    # a copy-paste error in the documentation. Ours is the real HMAC of that message.
    documented = "3e901247350e744353f4a7a479fd67181184a627b119352ec1b7a432925e772c"
    ours = pionex.sign_ws_futures(SECRET, TIMESTAMP)
    assert ours != documented
    assert ours == "b4acc6fd1e2806efa08d4db56292c9e16effb8d60000280e7e024f4debddab5f"


def test_derived_balances_vector_reproduces():
    assert pionex.sign(
        SECRET, method="GET", path="/api/v1/account/balances", params=[], timestamp_ms=TIMESTAMP
    ) == ("44e214dd6182dd25494194d6c3be68c4fb2f13a4091498058604b5d6fbf1648b")


def test_derived_place_order_vector_reproduces():
    assert pionex.sign(
        SECRET,
        method="POST",
        path="/api/v1/trade/order",
        params=[],
        timestamp_ms=TIMESTAMP,
        body=ORDER_BODY,
    ) == ("e8eda41728736cf7e8a788abed6671a1c0477fe4756310004d5de9d4f869db0b")


def test_derived_cancel_vector_reproduces():
    assert pionex.sign(
        SECRET,
        method="DELETE",
        path="/api/v1/trade/order",
        params=[],
        timestamp_ms=TIMESTAMP,
        body=CANCEL_BODY,
    ) == ("a53f9536386cc2666bb697fa0aa58c6b959035c789bf93f9fd246bf45c9a7e6a")


def test_a_body_serialised_with_spaces_signs_differently():
    spaced = CANCEL_BODY.replace(":", ": ").replace(",", ", ")
    assert pionex.sign(
        SECRET,
        method="DELETE",
        path="/api/v1/trade/order",
        params=[],
        timestamp_ms=TIMESTAMP,
        body=spaced,
    ) != pionex.sign(
        SECRET,
        method="DELETE",
        path="/api/v1/trade/order",
        params=[],
        timestamp_ms=TIMESTAMP,
        body=CANCEL_BODY,
    )


def clock_at_the_vector() -> float:
    return (TIMESTAMP + pionex.STAMP_LEAD_MS) / 1000


def test_connector_signs_a_call_like_the_derived_vector_and_sets_the_20s_deadline():
    """The connector stamps 12 s early; its clock is set so that the stamp is the vector's."""
    connector = pionex.PionexConnector(
        credentials=Credentials(KEY, SECRET),
        base_url="https://paper.test/pionex",
        clock=clock_at_the_vector,
    )
    call = Call("POST", "/api/v1/trade/order", body=ORDER_BODY, signed=True)
    connector.sign(call)
    assert call.params == [("timestamp", str(TIMESTAMP))]
    assert call.headers == {
        "PIONEX-KEY": KEY,
        "Content-Type": "application/json",
        "PIONEX-SIGNATURE": "e8eda41728736cf7e8a788abed6671a1c0477fe4756310004d5de9d4f869db0b",
    }
    assert call.deadline_ms == TIMESTAMP + 20_000


def test_connector_signs_a_get_without_content_type():
    connector = pionex.PionexConnector(
        credentials=Credentials(KEY, SECRET), clock=clock_at_the_vector
    )
    call = Call("GET", "/api/v1/account/balances", signed=True)
    connector.sign(call)
    assert "Content-Type" not in call.headers
    assert call.headers["PIONEX-SIGNATURE"] == (
        "44e214dd6182dd25494194d6c3be68c4fb2f13a4091498058604b5d6fbf1648b"
    )
