"""The Binance paper adapter over real HTTP (aiohttp's TestServer on a real Engine).

Requests here are signed by this file's own HMAC code, written from the facts file
(docs/exchanges/binance.md section 2): hex HMAC-SHA256(secret, query string + body).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from aiohttp import web
from aiohttp.test_utils import TestServer

from paper.engine import Engine
from paper.protocols.binance import (
    BinanceProtocol,
    signature_for,
    signed_payload,
    split_signature,
)

# Official vectors (facts section 2).
SPOT_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SPOT_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
FUT_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
FUT_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
S1 = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
S1_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
S2 = (
    "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
    "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
S2_SIG = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
S3_QUERY = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
S3_BODY = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
S3_SIG = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
S4 = (
    f"apiKey={SPOT_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL"
    "&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
S4_SIG = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
S5 = (
    f"apiKey={SPOT_KEY}&price=0.10000000&quantity=1.00000000&recvWindow=5000&side=BUY"
    "&symbol=\uff11\uff12\uff13\uff14\uff15\uff16&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)
S5_SIG = "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
S6 = f"apiKey={SPOT_KEY}&timestamp=1649729878532"
S6_SIG = "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"
F1 = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
    "&recvWindow=5000&timestamp=1591702613943"
)
F1_SIG = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
F2_DOC_STRING = (
    "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000"
    "&recvWindow=5000&timestamp= 1591702613943"
)
F2_DOC_SIG = "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2"
F2_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
F2_BODY = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
F2_DERIVED_SIG = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"


def facts_signature(secret: str, payload: str) -> str:
    """The facts' algorithm, written here independently of the adapter."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# -- the server: aiohttp's TestServer on its own loop thread ---------------------------------


class Clock:
    def __init__(self) -> None:
        self.frozen_ms: int | None = None

    def __call__(self) -> float:
        return time.time() if self.frozen_ms is None else self.frozen_ms / 1000


class Paper:
    """A real Engine and the adapter under /binance, served over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.engine = Engine(None, clock=self.clock)
        self.protocol = BinanceProtocol(self.engine)
        self.engine.register_exchange("binance", duplicate_scope=self.protocol.duplicate_scope)
        self.flags: list[dict[str, bool]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        self.server = self._on_loop(self._start())
        self.url = str(self.server.make_url("/binance"))

    async def _start(self) -> TestServer:
        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            self.flags.append(
                {
                    "signature_failed": bool(request.get("signature_failed")),
                    "order_accepted": bool(request.get("order_accepted")),
                }
            )
            return response

        sub_app = web.Application(middlewares=[record])
        sub_app.add_routes(self.protocol.routes())
        app = web.Application()
        app.add_subapp("/binance", sub_app)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        return server

    def _on_loop(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop(self) -> None:
        self._on_loop(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def account(
        self,
        key: str | None = None,
        secret: str | None = None,
        balances: dict[str, str] | None = None,
        permissions: list[str] | None = None,
    ) -> tuple[str, str]:
        key = key or f"key{time.monotonic_ns()}"
        secret = secret or f"secret{time.monotonic_ns()}"
        amounts = {
            asset: Decimal(value)
            for asset, value in (balances or {"USDT": "100000", "BTC": "2"}).items()
        }
        self.engine.upsert_account(
            "binance", api_key=key, api_secret=secret, balances=amounts, permissions=permissions
        )
        return key, secret


@pytest.fixture(scope="module")
def paper() -> Iterator[Paper]:
    server = Paper()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _live_clock(paper):
    paper.clock.frozen_ms = None
    yield
    paper.clock.frozen_ms = None


@pytest.fixture
def creds(paper) -> tuple[str, str]:
    return paper.account()


def send(
    paper: Paper,
    method: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    creds: tuple[str, str] | None = None,
    in_body: bool = False,
    timestamp: int | None = None,
    secret: str | None = None,
) -> requests.Response:
    """Signed when ``creds`` is given (timestamp added, signature last)."""
    fields = {key: str(value) for key, value in (params or {}).items()}
    headers = {}
    if creds is not None:
        key, own_secret = creds
        headers["X-MBX-APIKEY"] = key
        fields["timestamp"] = str(timestamp if timestamp is not None else paper.engine.now_ms())
        payload = urlencode(fields)
        fields["signature"] = facts_signature(secret or own_secret, payload)
    encoded = urlencode(fields)
    url = f"{paper.url}{path}"
    if in_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return requests.request(method, url, data=encoded, headers=headers, timeout=10)
    return requests.request(
        method, f"{url}?{encoded}" if encoded else url, headers=headers, timeout=10
    )


def refused(response: requests.Response, status: int, code: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body["msg"]


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


# -- signing vectors (pure) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "payload", "expected"),
    [
        (SPOT_SECRET, S1, S1_SIG),
        (SPOT_SECRET, S2, S2_SIG),
        (SPOT_SECRET, S4, S4_SIG),
        (SPOT_SECRET, S5, S5_SIG),
        (SPOT_SECRET, S6, S6_SIG),
        (FUT_SECRET, F1, F1_SIG),
    ],
    ids=["S1", "S2", "S4", "S5-raw-utf8", "S6", "F1"],
)
def test_official_vectors_reproduce_with_the_adapter_s_hmac(secret, payload, expected):
    assert signature_for(secret, payload) == expected == facts_signature(secret, payload)


def test_mixed_query_and_body_sign_their_concatenation_without_separator_s3():
    payload, signature = signed_payload(S3_QUERY, f"{S3_BODY}&signature={S3_SIG}")
    assert payload == S3_QUERY + S3_BODY and signature == S3_SIG
    assert signature_for(SPOT_SECRET, payload) == S3_SIG


def test_f2_documented_value_is_a_typo_and_the_corrected_payload_differs():
    # The futures docs' echo string has a space after "timestamp=": its printed signature
    # matches only that string. The real (space-free) mixed payload signs to F2'.
    assert signature_for(FUT_SECRET, F2_DOC_STRING) == F2_DOC_SIG
    payload, _ = signed_payload(F2_QUERY, F2_BODY)
    assert signature_for(FUT_SECRET, payload) == F2_DERIVED_SIG != F2_DOC_SIG


def test_signature_parameter_is_split_off_wherever_it_is():
    assert split_signature("a=1&signature=ff") == ("a=1", "ff")
    assert split_signature("") == ("", None)
    assert signed_payload("a=1&signature=ff", "") == ("a=1", "ff")
    assert signed_payload("", "b=2&signature=ee") == ("b=2", "ee")


# -- authentication over HTTP ------------------------------------------------------------------


def raw_order(
    paper: Paper,
    path: str,
    query: str,
    body: str = "",
    key: str = SPOT_KEY,
) -> requests.Response:
    headers = {"X-MBX-APIKEY": key}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return requests.post(
        f"{paper.url}{path}?{query}", data=body or None, headers=headers, timeout=10
    )


class TestAuthentication:
    def test_docs_vector_s1_passes_authentication_and_fails_only_on_its_symbol(self, paper):
        paper.account(SPOT_KEY, SPOT_SECRET)
        paper.clock.frozen_ms = 1499827319559 + 200
        response = raw_order(paper, "/api/v3/order", f"{S1}&signature={S1_SIG}")
        refused(response, 400, -1121)  # LTCBTC is not listed; the signature was accepted
        assert paper.flags[-1]["signature_failed"] is False

    def test_docs_vector_s3_split_across_query_and_body_is_accepted(self, paper):
        paper.account(SPOT_KEY, SPOT_SECRET)
        paper.clock.frozen_ms = 1499827319559 + 200
        response = raw_order(paper, "/api/v3/order", S3_QUERY, f"{S3_BODY}&signature={S3_SIG}")
        refused(response, 400, -1121)

    def test_docs_vector_s2_percent_encoded_symbol_is_verified_as_sent(self, paper):
        paper.account(SPOT_KEY, SPOT_SECRET)
        paper.clock.frozen_ms = 1499827319559 + 200
        refused(raw_order(paper, "/api/v3/order", f"{S2}&signature={S2_SIG}"), 400, -1121)

    def test_docs_vector_f1_places_a_futures_order(self, paper):
        paper.account(FUT_KEY, FUT_SECRET)
        paper.clock.frozen_ms = 1591702613943 + 200
        placed = ok(raw_order(paper, "/fapi/v1/order", f"{F1}&signature={F1_SIG}", key=FUT_KEY))
        assert (placed["symbol"], placed["status"], placed["origQty"], placed["price"]) == (
            "BTCUSDT",
            "NEW",
            "1",
            "9000",
        )
        assert paper.flags[-1]["order_accepted"] is True

    def test_wrong_signature_is_minus_1022(self, paper, creds):
        response = send(paper, "GET", "/api/v3/account", creds=creds, secret="not-the-secret")
        assert refused(response, 400, -1022) == "Signature for this request is not valid."
        assert paper.flags[-1]["signature_failed"] is True

    def test_signature_is_case_insensitive_hex(self, paper, creds):
        key, secret = creds
        query = urlencode({"timestamp": paper.engine.now_ms()})
        signature = facts_signature(secret, query).upper()
        response = requests.get(
            f"{paper.url}/api/v3/account?{query}&signature={signature}",
            headers={"X-MBX-APIKEY": key},
            timeout=10,
        )
        ok(response)

    def test_stale_timestamp_is_minus_1021(self, paper, creds):
        stale = paper.engine.now_ms() - 6000
        msg = refused(
            send(paper, "GET", "/api/v3/account", creds=creds, timestamp=stale), 400, -1021
        )
        assert "recvWindow" in msg
        assert paper.flags[-1]["signature_failed"] is True

    def test_a_wider_recv_window_accepts_the_same_timestamp(self, paper, creds):
        stale = paper.engine.now_ms() - 6000
        ok(
            send(
                paper, "GET", "/api/v3/account", {"recvWindow": 10000}, creds=creds, timestamp=stale
            )
        )

    def test_timestamp_more_than_a_second_ahead_is_minus_1021(self, paper, creds):
        ahead = paper.engine.now_ms() + 1500
        msg = refused(
            send(paper, "GET", "/fapi/v1/accountConfig", creds=creds, timestamp=ahead), 400, -1021
        )
        assert "ahead" in msg

    def test_recv_window_above_60000_is_minus_1131(self, paper, creds):
        refused(
            send(paper, "GET", "/api/v3/account", {"recvWindow": 60001}, creds=creds), 400, -1131
        )

    def test_unknown_key_is_minus_2015_with_401(self, paper):
        response = send(paper, "GET", "/api/v3/account", creds=("nobody", "nothing"))
        refused(response, 401, -2015)
        assert paper.flags[-1]["signature_failed"] is True

    def test_missing_key_is_minus_2014(self, paper):
        refused(
            send(paper, "GET", f"/api/v3/account?timestamp={paper.engine.now_ms()}"), 401, -2014
        )

    def test_missing_timestamp_or_signature_is_minus_1102(self, paper, creds):
        key, _ = creds
        headers = {"X-MBX-APIKEY": key}
        refused(
            requests.get(f"{paper.url}/api/v3/account?signature=00", headers=headers, timeout=10),
            400,
            -1102,
        )
        refused(
            requests.get(
                f"{paper.url}/api/v3/account?timestamp={paper.engine.now_ms()}",
                headers=headers,
                timeout=10,
            ),
            400,
            -1102,
        )

    def test_signed_body_is_accepted(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "0.001",
                    "price": "30000",
                },
                creds=creds,
                in_body=True,
            )
        )
        assert placed["status"] == "NEW"

    def test_a_read_only_key_reads_but_cannot_trade(self, paper):
        creds = paper.account(permissions=["read"])
        assert ok(send(paper, "GET", "/api/v3/account", creds=creds))["canTrade"] is False
        response = send(
            paper,
            "POST",
            "/fapi/v1/order",
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
            creds=creds,
        )
        refused(response, 401, -2015)
        restrictions = ok(send(paper, "GET", "/sapi/v1/account/apiRestrictions", creds=creds))
        assert restrictions["enableSpotAndMarginTrading"] is False
        assert restrictions["enableWithdrawals"] is False

    def test_public_endpoints_need_no_key(self, paper):
        assert ok(send(paper, "GET", "/api/v3/time"))["serverTime"] > 0
        assert ok(send(paper, "GET", "/fapi/v1/ping")) == {}


# -- spot ----------------------------------------------------------------------------------------


def spot_limit(**changes: Any) -> dict[str, Any]:
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "30000",
        "newClientOrderId": "ec-spot-1",
    }
    params.update(changes)
    return params


class TestSpot:
    def test_limit_order_rests_is_found_by_client_id_and_cancels(self, paper, creds):
        placed = ok(send(paper, "POST", "/api/v3/order", spot_limit(), creds=creds))
        assert (placed["status"], placed["origQty"], placed["price"], placed["fills"]) == (
            "NEW",
            "0.01000000",
            "30000.00000000",
            [],
        )
        assert placed["clientOrderId"] == "ec-spot-1" and isinstance(placed["orderId"], int)
        found = ok(
            send(
                paper,
                "GET",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "origClientOrderId": "ec-spot-1"},
                creds=creds,
            )
        )
        assert (found["orderId"], found["status"], found["type"]) == (
            placed["orderId"],
            "NEW",
            "LIMIT",
        )
        listed = ok(send(paper, "GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, creds=creds))
        assert [order["orderId"] for order in listed] == [placed["orderId"]]
        canceled = ok(
            send(
                paper,
                "DELETE",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"]},
                creds=creds,
            )
        )
        assert (canceled["status"], canceled["origClientOrderId"]) == ("CANCELED", "ec-spot-1")
        refused(
            send(
                paper,
                "DELETE",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"]},
                creds=creds,
            ),
            400,
            -2011,
        )

    def test_missing_order_is_minus_2013_and_needs_an_id(self, paper, creds):
        refused(
            send(paper, "GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 1}, creds=creds),
            400,
            -2013,
        )
        refused(send(paper, "GET", "/api/v3/order", {"symbol": "BTCUSDT"}, creds=creds), 400, -1102)

    def test_wrong_client_id_for_an_order_id_is_minus_2039(self, paper, creds):
        placed = ok(
            send(paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-x"), creds=creds)
        )
        refused(
            send(
                paper,
                "GET",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"], "origClientOrderId": "other"},
                creds=creds,
            ),
            400,
            -2039,
        )

    def test_market_buy_sized_in_quote_fills_and_moves_balances(self, paper):
        creds = paper.account(balances={"USDT": "1000"})
        placed = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "600"},
                creds=creds,
            )
        )
        assert placed["status"] == "FILLED" and placed["executedQty"] == "0.01000000"
        assert placed["fills"][0]["price"] == "60000.00000000"
        balances = {
            row["asset"]: row
            for row in ok(
                send(paper, "GET", "/api/v3/account", {"omitZeroBalances": "true"}, creds=creds)
            )["balances"]
        }
        assert balances["BTC"]["free"] == "0.01000000"
        assert balances["USDT"]["free"] == "400.00000000"

    def test_duplicate_client_id_is_refused_only_while_open(self, paper, creds):
        first = ok(
            send(paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-dup"), creds=creds)
        )
        msg = refused(
            send(
                paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-dup"), creds=creds
            ),
            400,
            -2010,
        )
        assert msg == "Duplicate order sent."
        assert paper.flags[-1]["order_accepted"] is False
        ok(
            send(
                paper,
                "DELETE",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "orderId": first["orderId"]},
                creds=creds,
            )
        )
        ok(send(paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-dup"), creds=creds))

    @pytest.mark.parametrize(
        ("changes", "code", "msg"),
        [
            ({"quantity": "1000"}, -2010, "Account has insufficient balance for requested action."),
            ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
            ({"quantity": "0.0001", "price": "30000"}, -1013, "Filter failure: NOTIONAL"),
            ({"price": "30000.001"}, -1013, "Filter failure: PRICE_FILTER"),
            ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
            ({"side": "LONG"}, -1117, "Invalid side."),
            ({"timeInForce": "GTD"}, -1115, "Invalid timeInForce."),
            ({"type": "STOP_LOSS"}, -1116, "Invalid orderType."),
            ({"newClientOrderId": "bad id"}, -1100, None),
            ({"quantity": "1e-3"}, -1100, None),
            (
                {"price": None},
                -1102,
                "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
            ),
        ],
    )
    def test_bad_spot_orders_get_binance_codes(self, paper, creds, changes, code, msg):
        params = {key: value for key, value in spot_limit(**changes).items() if value is not None}
        got = refused(send(paper, "POST", "/api/v3/order", params, creds=creds), 400, code)
        assert msg is None or got == msg

    def test_a_parameter_spot_does_not_read_is_minus_1104(self, paper, creds):
        msg = refused(
            send(paper, "POST", "/api/v3/order", spot_limit(reduceOnly="true"), creds=creds),
            400,
            -1104,
        )
        assert msg == (
            "Not all sent parameters were read; read '9' parameter(s) but was sent '10'."
        )

    def test_market_order_with_time_in_force_is_minus_1106(self, paper, creds):
        refused(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "MARKET",
                    "quantity": "0.001",
                    "timeInForce": "GTC",
                },
                creds=creds,
            ),
            400,
            -1106,
        )

    def test_limit_maker_that_would_take_is_refused(self, paper, creds):
        msg = refused(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT_MAKER",
                    "quantity": "0.001",
                    "price": "61000",
                },
                creds=creds,
            ),
            400,
            -2010,
        )
        assert msg == "Order would immediately match and take."

    def test_response_type_ack_is_minimal(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                spot_limit(newClientOrderId="ec-ack", newOrderRespType="ACK"),
                creds=creds,
            )
        )
        assert set(placed) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}

    def test_cancel_all_cancels_open_orders_and_refuses_when_none(self, paper, creds):
        ok(send(paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-a1"), creds=creds))
        ok(send(paper, "POST", "/api/v3/order", spot_limit(newClientOrderId="ec-a2"), creds=creds))
        canceled = ok(
            send(paper, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, creds=creds)
        )
        assert sorted(order["origClientOrderId"] for order in canceled) == ["ec-a1", "ec-a2"]
        assert all(order["status"] == "CANCELED" for order in canceled)
        refused(
            send(paper, "DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, creds=creds),
            400,
            -2011,
        )

    def test_all_orders_are_oldest_first_and_limited_to_the_newest(self, paper, creds):
        ids = [
            ok(
                send(
                    paper,
                    "POST",
                    "/api/v3/order",
                    spot_limit(newClientOrderId=f"ec-h{n}"),
                    creds=creds,
                )
            )["orderId"]
            for n in range(3)
        ]
        history = ok(send(paper, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT"}, creds=creds))
        assert [order["orderId"] for order in history] == ids
        newest = ok(
            send(paper, "GET", "/api/v3/allOrders", {"symbol": "BTCUSDT", "limit": 2}, creds=creds)
        )
        assert [order["orderId"] for order in newest] == ids[1:]
        onwards = ok(
            send(
                paper,
                "GET",
                "/api/v3/allOrders",
                {"symbol": "BTCUSDT", "orderId": ids[1], "limit": 1},
                creds=creds,
            )
        )
        assert [order["orderId"] for order in onwards] == [ids[1]]

    def test_exchange_info_lists_filters_for_a_symbol(self, paper):
        info = ok(send(paper, "GET", "/api/v3/exchangeInfo", {"symbol": "BTCUSDT"}))
        (btc,) = info["symbols"]
        filters = {item["filterType"]: item for item in btc["filters"]}
        assert (btc["baseAsset"], btc["quoteAsset"], btc["status"]) == ("BTC", "USDT", "TRADING")
        assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
        assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
        assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
        refused(send(paper, "GET", "/api/v3/exchangeInfo", {"symbol": "NOPE"}), 400, -1121)

    def test_tickers_answer_one_object_per_symbol_or_a_list(self, paper):
        one = ok(send(paper, "GET", "/api/v3/ticker/bookTicker", {"symbol": "ETHUSDT"}))
        assert one["bidPrice"] == one["askPrice"] == "3000.00000000"
        everything = ok(send(paper, "GET", "/api/v3/ticker/price"))
        assert {row["symbol"] for row in everything} >= {"BTCUSDT", "ETHUSDT", "DOGEUSDT"}
        some = ok(send(paper, "GET", "/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","SOLUSDT"]'}))
        assert [row["symbol"] for row in some] == ["BTCUSDT", "SOLUSDT"]


# -- futures -------------------------------------------------------------------------------------


def fut_order(**changes: Any) -> dict[str, Any]:
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "30000",
        "newClientOrderId": "ec-fut-1",
    }
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


class TestFutures:
    def test_limit_order_acks_new_and_is_found_open(self, paper, creds):
        placed = ok(send(paper, "POST", "/fapi/v1/order", fut_order(), creds=creds))
        assert (placed["status"], placed["executedQty"], placed["positionSide"]) == (
            "NEW",
            "0",
            "BOTH",
        )
        found = ok(
            send(
                paper,
                "GET",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "origClientOrderId": "ec-fut-1"},
                creds=creds,
            )
        )
        assert (found["orderId"], found["status"], found["price"]) == (
            placed["orderId"],
            "NEW",
            "30000",
        )
        canceled = ok(
            send(
                paper,
                "DELETE",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "origClientOrderId": "ec-fut-1"},
                creds=creds,
            )
        )
        assert canceled["status"] == "CANCELED"

    def test_market_order_with_result_fills_and_shows_in_position_risk(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/order",
                fut_order(
                    type="MARKET",
                    timeInForce=None,
                    price=None,
                    newOrderRespType="RESULT",
                    newClientOrderId="ec-m1",
                ),
                creds=creds,
            )
        )
        assert (placed["status"], placed["avgPrice"], placed["cumQuote"]) == (
            "FILLED",
            "60000",
            "600",
        )
        (v3,) = ok(send(paper, "GET", "/fapi/v3/positionRisk", creds=creds))
        assert (v3["symbol"], v3["positionAmt"], v3["entryPrice"], v3["positionSide"]) == (
            "BTCUSDT",
            "0.01",
            "60000",
            "BOTH",
        )
        assert "leverage" not in v3
        v2 = ok(send(paper, "GET", "/fapi/v2/positionRisk", creds=creds))
        assert {row["symbol"] for row in v2} >= {"BTCUSDT", "ETHUSDT"}
        assert {row["symbol"]: row for row in v2}["BTCUSDT"]["leverage"] == "10"

    def test_market_order_ack_is_the_accepted_snapshot(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/order",
                fut_order(type="MARKET", timeInForce=None, price=None, newClientOrderId="ec-m2"),
                creds=creds,
            )
        )
        assert (placed["status"], placed["executedQty"]) == ("NEW", "0")
        found = ok(
            send(
                paper,
                "GET",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"]},
                creds=creds,
            )
        )
        assert found["status"] == "FILLED"

    def test_account_balance_and_config(self, paper):
        creds = paper.account(balances={"USDT": "5000"})
        config = ok(send(paper, "GET", "/fapi/v1/accountConfig", creds=creds))
        assert config["dualSidePosition"] is False and config["canTrade"] is True
        (usdt,) = ok(send(paper, "GET", "/fapi/v3/balance", creds=creds))
        assert (usdt["asset"], usdt["balance"], usdt["availableBalance"]) == (
            "USDT",
            "5000",
            "5000",
        )
        account = ok(send(paper, "GET", "/fapi/v2/account", creds=creds))
        assert account["totalWalletBalance"] == "5000" and account["positions"] == []

    def test_leverage_is_set_and_bad_values_are_minus_4028(self, paper, creds):
        answer = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/leverage",
                {"symbol": "BTCUSDT", "leverage": 20},
                creds=creds,
            )
        )
        assert answer == {"leverage": 20, "maxNotionalValue": "1000000", "symbol": "BTCUSDT"}
        refused(
            send(
                paper,
                "POST",
                "/fapi/v1/leverage",
                {"symbol": "BTCUSDT", "leverage": 0},
                creds=creds,
            ),
            400,
            -4028,
        )

    @pytest.mark.parametrize(
        ("changes", "code"),
        [
            ({"quantity": "100"}, -2019),  # margin 300000 / 10 > funds
            ({"side": "SELL", "reduceOnly": "true", "price": "70000"}, -2022),
            ({"timeInForce": "GTX", "price": "61000"}, -5022),
            ({"newClientOrderId": "bad id"}, -4015),
            ({"type": "STOP_MARKET"}, -4120),
            ({"quantity": "0.0001"}, -1111),
            ({"quantity": "0.001", "price": "3000"}, -4164),
            ({"price": "30000.05"}, -4014),
            ({"positionSide": "LONG"}, -4061),
            ({"reduceOnly": "maybe"}, -1130),
            ({"symbol": "BTCUSDC"}, -1121),
        ],
    )
    def test_bad_futures_orders_get_binance_codes(self, paper, creds, changes, code):
        refused(send(paper, "POST", "/fapi/v1/order", fut_order(**changes), creds=creds), 400, code)
        assert paper.flags[-1]["order_accepted"] is False

    def test_duplicate_open_client_id_is_minus_4116(self, paper, creds):
        ok(send(paper, "POST", "/fapi/v1/order", fut_order(newClientOrderId="ec-d"), creds=creds))
        refused(
            send(paper, "POST", "/fapi/v1/order", fut_order(newClientOrderId="ec-d"), creds=creds),
            400,
            -4116,
        )

    def test_cancel_all_answers_code_200(self, paper, creds):
        ok(send(paper, "POST", "/fapi/v1/order", fut_order(newClientOrderId="ec-c1"), creds=creds))
        answer = ok(
            send(paper, "DELETE", "/fapi/v1/allOpenOrders", {"symbol": "BTCUSDT"}, creds=creds)
        )
        assert answer["code"] == 200
        assert ok(send(paper, "GET", "/fapi/v1/openOrders", creds=creds)) == []

    def test_hedge_mode_is_reported_and_demands_a_position_side(self, paper):
        creds = paper.account()
        assert ok(send(paper, "GET", "/fapi/v1/positionSide/dual", creds=creds)) == {
            "dualSidePosition": False
        }
        ok(
            send(
                paper,
                "POST",
                "/fapi/v1/positionSide/dual",
                {"dualSidePosition": "true"},
                creds=creds,
            )
        )
        assert (
            ok(send(paper, "GET", "/fapi/v1/accountConfig", creds=creds))["dualSidePosition"]
            is True
        )
        refused(
            send(
                paper,
                "POST",
                "/fapi/v1/positionSide/dual",
                {"dualSidePosition": "true"},
                creds=creds,
            ),
            400,
            -4059,
        )
        refused(
            send(paper, "POST", "/fapi/v1/order", fut_order(newClientOrderId="ec-h"), creds=creds),
            400,
            -4061,
        )
        placed = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/order",
                fut_order(positionSide="LONG", newClientOrderId="ec-h"),
                creds=creds,
            )
        )
        assert placed["positionSide"] == "LONG"
        refused(
            send(
                paper,
                "POST",
                "/fapi/v1/positionSide/dual",
                {"dualSidePosition": "false"},
                creds=creds,
            ),
            400,
            -4067,
        )

    def test_exchange_info_and_book_ticker(self, paper):
        info = ok(send(paper, "GET", "/fapi/v1/exchangeInfo"))
        btc = {row["symbol"]: row for row in info["symbols"]}["BTCUSDT"]
        filters = {item["filterType"]: item for item in btc["filters"]}
        assert (
            btc["contractType"],
            btc["marginAsset"],
            btc["pricePrecision"],
            btc["quantityPrecision"],
        ) == ("PERPETUAL", "USDT", 1, 3)
        assert filters["LOT_SIZE"]["stepSize"] == "0.001"
        assert filters["MIN_NOTIONAL"]["notional"] == "5"
        ticker = ok(send(paper, "GET", "/fapi/v1/ticker/bookTicker", {"symbol": "BTCUSDT"}))
        assert ticker["bidPrice"] == "60000" and "time" in ticker


# -- weights, rate limits, 5xx -------------------------------------------------------------------


class FakeRequest:
    def __init__(self, method: str, path: str, query: dict[str, str] | None = None) -> None:
        self.method, self.path, self.query = method, path, query or {}


@pytest.mark.parametrize(
    ("method", "path", "query", "weight"),
    [
        ("GET", "/binance/api/v3/account", None, 20),
        ("GET", "/binance/api/v3/order", {"symbol": "BTCUSDT"}, 4),
        ("GET", "/binance/api/v3/openOrders", {"symbol": "BTCUSDT"}, 6),
        ("GET", "/binance/api/v3/openOrders", None, 80),
        ("GET", "/binance/api/v3/exchangeInfo", None, 20),
        ("POST", "/binance/api/v3/order", None, 0),
        ("GET", "/binance/sapi/v1/account/apiRestrictions", None, 1),
        ("POST", "/binance/fapi/v1/order", None, 0),
        ("GET", "/binance/fapi/v3/positionRisk", None, 5),
        ("GET", "/binance/fapi/v1/openOrders", None, 40),
        ("GET", "/binance/fapi/v1/accountConfig", None, 5),
        ("GET", "/binance/unknown", None, 1),
    ],
)
def test_request_weights_are_binance_s(paper, method, path, query, weight):
    assert paper.protocol.request_weight(FakeRequest(method, path, query)) == weight


def test_used_weight_header_counts_the_last_minute(paper, creds):
    first = send(paper, "GET", "/api/v3/account", creds=creds)
    second = send(paper, "GET", "/api/v3/account", creds=creds)
    assert int(second.headers["X-MBX-USED-WEIGHT-1M"]) == (
        int(first.headers["X-MBX-USED-WEIGHT-1M"]) + 20
    )


def test_rate_limited_answer_is_429_with_retry_after_and_minus_1003(paper):
    response = paper.protocol.rate_limited(2.2)
    assert response.status == 429 and response.headers["Retry-After"] == "3"
    assert b'"code": -1003' in response.body


def test_server_error_is_a_503_with_binance_envelope(paper):
    response = paper.protocol.server_error()
    assert response.status == 503 and b'"code": -1001' in response.body


# -- trade lists (GET /api/v3/myTrades, GET /fapi/v1/userTrades) ------------------------------


class TestTradeLists:
    def test_spot_my_trades_list_each_fill_oldest_first_with_weight_20(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                spot_limit(newClientOrderId="ec-trades-1"),
                creds=creds,
            )
        )
        order_id = str(placed["orderId"])
        paper.engine.fill("binance", order_id=order_id, quantity=Decimal("0.004"))
        paper.engine.fill("binance", order_id=order_id)
        response = send(paper, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}, creds=creds)
        trades = ok(response)
        assert [t["qty"] for t in trades] == ["0.00400000", "0.00600000"]
        first = trades[0]
        assert (first["orderId"], first["price"], first["isBuyer"], first["isMaker"]) == (
            int(order_id),
            "30000.00000000",
            True,
            True,
        )
        assert first["commissionAsset"] == "BTC" and first["orderListId"] == -1
        assert trades[1]["id"] > first["id"]
        assert int(response.headers["X-MBX-USED-WEIGHT-1M"]) >= 20
        since = ok(
            send(
                paper,
                "GET",
                "/api/v3/myTrades",
                {"symbol": "BTCUSDT", "fromId": trades[1]["id"]},
                creds=creds,
            )
        )
        assert [t["id"] for t in since] == [trades[1]["id"]]

    def test_spot_my_trades_refuse_more_than_24_hours_between_start_and_end(self, paper, creds):
        refused(
            send(
                paper,
                "GET",
                "/api/v3/myTrades",
                {"symbol": "BTCUSDT", "startTime": 0, "endTime": 86_400_001},
                creds=creds,
            ),
            400,
            -1127,
        )

    def test_futures_user_trades_list_fills_in_futures_notation(self, paper, creds):
        placed = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.002"},
                creds=creds,
            )
        )
        [trade] = ok(
            send(
                paper,
                "GET",
                "/fapi/v1/userTrades",
                {
                    "symbol": "BTCUSDT",
                    "startTime": paper.engine.now_ms() - 60_000,
                    "endTime": paper.engine.now_ms() + 1000,
                },
                creds=creds,
            )
        )
        assert (trade["orderId"], trade["side"], trade["qty"], trade["buyer"]) == (
            placed["orderId"],
            "SELL",
            "0.002",
            False,
        )
        assert (trade["maker"], trade["commissionAsset"], trade["positionSide"]) == (
            False,
            "USDT",
            "BOTH",
        )


# -- what outside clients call (tests/paper/clients/) --------------------------------------------


class TestOutsideClientEndpoints:
    def test_coin_config_lists_every_coin_with_the_account_s_balance(self, paper, creds):
        coins = {
            row["coin"]: row
            for row in ok(send(paper, "GET", "/sapi/v1/capital/config/getall", creds=creds))
        }
        assert {"BTC", "ETH", "USDT"} <= set(coins)
        assert coins["BTC"]["free"] == "2"
        assert coins["BTC"]["networkList"][0]["network"] == "BTC"

    def test_coin_config_needs_a_signature(self, paper, creds):
        refused(
            send(paper, "GET", "/sapi/v1/capital/config/getall", creds=creds, secret="wrong"),
            400,
            -1022,
        )

    def test_margin_pair_lists_and_coin_m_contracts_are_empty(self, paper):
        assert ok(send(paper, "GET", "/sapi/v1/margin/allPairs")) == []
        assert ok(send(paper, "GET", "/sapi/v1/margin/isolated/allPairs")) == []
        assert ok(send(paper, "GET", "/dapi/v1/exchangeInfo"))["symbols"] == []

    def test_spot_24hr_rows_carry_the_book_and_futures_rows_do_not(self, paper):
        spot = ok(send(paper, "GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSDT"}))
        assert spot["bidQty"] == spot["askQty"] == "1000"
        assert spot["prevClosePrice"] == spot["lastPrice"]
        futures = ok(send(paper, "GET", "/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}))
        assert "bidPrice" not in futures and "bidQty" not in futures

    def test_my_trades_lists_the_fills_of_one_symbol_oldest_first(self, paper):
        creds = paper.account()
        first = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"},
                creds=creds,
            )
        )
        second = ok(
            send(
                paper,
                "POST",
                "/api/v3/order",
                {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"},
                creds=creds,
            )
        )
        trades = ok(send(paper, "GET", "/api/v3/myTrades", {"symbol": "BTCUSDT"}, creds=creds))
        assert [(t["orderId"], t["isBuyer"], t["qty"]) for t in trades] == [
            (first["orderId"], True, "0.00100000"),
            (second["orderId"], False, "0.00100000"),
        ]
        assert trades[0]["commissionAsset"] == "BTC" and trades[1]["commissionAsset"] == "USDT"
        one = ok(
            send(
                paper,
                "GET",
                "/api/v3/myTrades",
                {"symbol": "BTCUSDT", "orderId": second["orderId"]},
                creds=creds,
            )
        )
        assert [t["id"] for t in one] == [trades[1]["id"]]
        assert (
            ok(
                send(
                    paper,
                    "GET",
                    "/api/v3/myTrades",
                    {"symbol": "BTCUSDT", "fromId": trades[1]["id"]},
                    creds=creds,
                )
            )
            == one
        )
        refused(send(paper, "GET", "/api/v3/myTrades", creds=creds), 400, -1102)

    def test_user_trades_list_usdm_fills_with_their_position_side(self, paper):
        creds = paper.account()
        placed = ok(
            send(
                paper,
                "POST",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"},
                creds=creds,
            )
        )
        trades = ok(send(paper, "GET", "/fapi/v1/userTrades", {"symbol": "BTCUSDT"}, creds=creds))
        assert [
            (t["orderId"], t["side"], t["qty"], t["positionSide"], t["maker"]) for t in trades
        ] == [(placed["orderId"], "BUY", "0.01", "BOTH", False)]

    def test_leverage_brackets_are_one_list_or_one_object_for_a_symbol(self, paper, creds):
        every = ok(send(paper, "GET", "/fapi/v1/leverageBracket", creds=creds))
        assert {row["symbol"] for row in every} >= {"BTCUSDT", "ETHUSDT"}
        one = ok(send(paper, "GET", "/fapi/v1/leverageBracket", {"symbol": "BTCUSDT"}, creds=creds))
        assert one["brackets"][0]["initialLeverage"] == 125
        assert one["brackets"][0]["notionalCap"] == 1_000_000

    def test_open_order_finds_one_open_order_and_not_a_closed_one(self, paper, creds):
        placed = ok(
            send(paper, "POST", "/fapi/v1/order", fut_order(newClientOrderId="oc-1"), creds=creds)
        )
        found = ok(
            send(
                paper,
                "GET",
                "/fapi/v1/openOrder",
                {"symbol": "BTCUSDT", "origClientOrderId": "oc-1"},
                creds=creds,
            )
        )
        assert (found["orderId"], found["status"]) == (placed["orderId"], "NEW")
        ok(
            send(
                paper,
                "DELETE",
                "/fapi/v1/order",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"]},
                creds=creds,
            )
        )
        refused(
            send(
                paper,
                "GET",
                "/fapi/v1/openOrder",
                {"symbol": "BTCUSDT", "orderId": placed["orderId"]},
                creds=creds,
            ),
            400,
            -2013,
        )
