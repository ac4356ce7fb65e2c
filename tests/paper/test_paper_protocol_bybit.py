"""The Bybit paper adapter over real HTTP (aiohttp's TestServer) on a real Engine.

Requests are signed here with this file's own implementation of the facts' algorithm
(hex HMAC-SHA256 of timestamp + apiKey + recvWindow + payload), checked first against the
facts' derived vectors; the adapter must accept them and refuse the rest with Bybit's codes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from paper.engine import Engine
from paper.protocols.bybit import BybitProtocol

# The facts' derived-vector credentials (docs/exchanges/bybit.md section 2).
VECTOR_KEY = "XXXXXXXXXX"
VECTOR_SECRET = "Y" * 36
KEY = "paper-bybit-key-0001"
SECRET = "paper-bybit-secret-0001"
READ_ONLY_KEY = "paper-bybit-readonly-01"
# The facts' derived vectors (same key, secret and recvWindow 5000).
SIGN_GET_EMPTY = "aaff7c87450595da14ef67df17bffe79347a56375772dc77e98f427cbc9be944"
SIGN_GET_QUERY = "49c26b0f76e0bec6b926f119814d66c4bdf59de44adf2a1864b1ea0bfd9c710c"
SIGN_POST_LINEAR = "d1d9b1060a77d878db6baa9a0510b01125d46a0f8c1adbaee4a8d0d40216e983"
SIGN_POST_OPTION = "9bada36eb7c33a2723028d84d0ee4b01d52abedd3ca9c79e2e8ba88a958b373a"
NOW_MS = 1_700_000_000_000


def facts_signature(secret: str, timestamp: str, key: str, recv_window: str, payload: str) -> str:
    message = (timestamp + key + recv_window + payload).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("timestamp", "payload", "expected"),
    [
        ("1658384314791", "category=option&symbol=BTC-29JUL22-25000-C", SIGN_GET_QUERY),
        ("1658385579423", '{"category": "option"}', SIGN_POST_OPTION),
        (
            "1658385579423",
            '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":'
            '"Limit","qty":"0.001","price":"10000","timeInForce":"GTC","orderLinkId":"test-link-0001"}',
            SIGN_POST_LINEAR,
        ),
        ("1658384314791", "", SIGN_GET_EMPTY),
    ],
)
def test_the_test_signer_reproduces_the_facts_derived_vectors(timestamp, payload, expected):
    assert facts_signature(VECTOR_SECRET, timestamp, VECTOR_KEY, "5000", payload) == expected


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class Paper:
    """One running adapter: the client, the engine, and what each request was marked with."""

    def __init__(
        self, client: TestClient, engine: Engine, clock: Clock, marks: list[dict[str, Any]]
    ) -> None:
        self.client, self.engine, self.clock, self.marks = client, engine, clock, marks

    def headers(
        self,
        payload: str,
        *,
        key: str = KEY,
        secret: str = SECRET,
        timestamp: int | None = None,
        recv_window: str = "5000",
    ) -> dict[str, str]:
        stamp = str(self.clock.ms if timestamp is None else timestamp)
        return {
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": recv_window,
            "X-BAPI-SIGN-TYPE": "2",
            "X-BAPI-SIGN": facts_signature(secret, stamp, key, recv_window, payload),
        }

    async def get(
        self, path: str, params: dict[str, Any] | None = None, *, signed: bool = True, **sign: Any
    ) -> tuple[int, dict[str, Any]]:
        query = urlencode(params or {})
        headers = self.headers(query, **sign) if signed else {}
        response = await self.client.get(f"{path}?{query}" if query else path, headers=headers)
        return response.status, await response.json()

    async def post(
        self, path: str, body: dict[str, Any], **sign: Any
    ) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body, separators=(",", ":"))
        headers = {**self.headers(raw, **sign), "Content-Type": "application/json"}
        response = await self.client.post(path, data=raw, headers=headers)
        return response.status, await response.json()

    async def place(self, **fields: Any) -> dict[str, Any]:
        body = {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "50000",
            "timeInForce": "GTC",
            **fields,
        }
        body = {name: value for name, value in body.items() if value is not None}
        _, answer = await self.post("/v5/order/create", body)
        return answer


def run(
    scenario: Callable[[Paper], Awaitable[None]],
    *,
    now_ms: int = NOW_MS,
    balances: dict[str, str] | None = None,
) -> None:
    async def main() -> None:
        clock = Clock(now_ms)
        engine = Engine(None, clock=clock)
        protocol = BybitProtocol(engine)
        engine.register_exchange(protocol.exchange, duplicate_scope=protocol.duplicate_scope)
        funds = {k: Decimal(v) for k, v in (balances or {"USDT": "100000", "BTC": "2"}).items()}
        for key, secret in ((KEY, SECRET), (VECTOR_KEY, VECTOR_SECRET)):
            engine.upsert_account("bybit", api_key=key, api_secret=secret, balances=funds)
        engine.upsert_account(
            "bybit", api_key=READ_ONLY_KEY, api_secret=SECRET, balances=funds, permissions=["read"]
        )
        marks: list[dict[str, Any]] = []

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            marks.append(
                {name: request.get(name) for name in ("signature_failed", "order_accepted")}
            )
            return response

        app = web.Application(middlewares=[record])
        app.add_routes(protocol.routes())
        async with TestClient(TestServer(app)) as client:
            await scenario(Paper(client, engine, clock, marks))

    asyncio.run(main())


# -- authentication ------------------------------------------------------------------------


def test_a_get_signed_like_the_empty_query_vector_is_accepted():
    async def scenario(paper: Paper) -> None:
        headers = {
            "X-BAPI-API-KEY": VECTOR_KEY,
            "X-BAPI-TIMESTAMP": "1658384314791",
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": SIGN_GET_EMPTY,
        }
        response = await paper.client.get("/v5/user/query-api", headers=headers)
        answer = await response.json()
        assert response.status == 200 and answer["retCode"] == 0, answer
        assert answer["result"]["apiKey"] == VECTOR_KEY and answer["result"]["readOnly"] == 0
        assert paper.marks[-1]["signature_failed"] is None

    run(scenario, now_ms=1658384314791)


def test_the_query_vector_passes_authentication_and_fails_only_on_its_category():
    async def scenario(paper: Paper) -> None:
        headers = {
            "X-BAPI-API-KEY": VECTOR_KEY,
            "X-BAPI-TIMESTAMP": "1658384314791",
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": SIGN_GET_QUERY,
        }
        response = await paper.client.get(
            "/v5/order/realtime?category=option&symbol=BTC-29JUL22-25000-C", headers=headers
        )
        answer = await response.json()
        assert answer["retCode"] == 10001  # options are not simulated; the sign was good
        assert paper.marks[-1]["signature_failed"] is None

    run(scenario, now_ms=1658384314791 + 1200)


def test_the_linear_order_vector_body_places_the_order():
    body = (
        '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit",'
        '"qty":"0.001","price":"10000","timeInForce":"GTC","orderLinkId":"test-link-0001"}'
    )

    async def scenario(paper: Paper) -> None:
        headers = {
            "X-BAPI-API-KEY": VECTOR_KEY,
            "X-BAPI-TIMESTAMP": "1658385579423",
            "X-BAPI-RECV-WINDOW": "5000",
            "Content-Type": "application/json",
            "X-BAPI-SIGN": SIGN_POST_LINEAR,
        }
        response = await paper.client.post("/v5/order/create", data=body, headers=headers)
        answer = await response.json()
        assert answer["retCode"] == 0, answer
        assert answer["result"]["orderLinkId"] == "test-link-0001"
        account = paper.engine.account("bybit", VECTOR_KEY)
        order = paper.engine.get_order("bybit", account, client_order_id="test-link-0001")
        assert (order.symbol, order.quantity, order.price) == (
            "BTC/USDT:USDT",
            Decimal("0.001"),
            Decimal("10000"),
        )
        assert paper.marks[-1]["order_accepted"] is True

    run(scenario, now_ms=1658385579423)


def test_the_post_vector_passes_authentication_and_fails_only_on_its_category():
    async def scenario(paper: Paper) -> None:
        headers = {
            "X-BAPI-API-KEY": VECTOR_KEY,
            "X-BAPI-TIMESTAMP": "1658385579423",
            "X-BAPI-RECV-WINDOW": "5000",
            "Content-Type": "application/json",
            "X-BAPI-SIGN": SIGN_POST_OPTION,
        }
        response = await paper.client.post(
            "/v5/order/cancel-all", data='{"category": "option"}', headers=headers
        )
        assert (await response.json())["retCode"] == 10001
        assert paper.marks[-1]["signature_failed"] is None

    run(scenario, now_ms=1658385579423)


def test_a_wrong_signature_is_10004_and_counted_as_a_signature_failure():
    async def scenario(paper: Paper) -> None:
        status, answer = await paper.get("/v5/account/info", secret="not-the-secret")
        assert status == 200 and answer["retCode"] == 10004
        assert answer["retMsg"].startswith("error sign!")
        assert SECRET not in json.dumps(answer)
        assert paper.marks[-1]["signature_failed"] is True

    run(scenario)


def test_a_body_other_than_the_signed_one_is_refused():
    async def scenario(paper: Paper) -> None:
        signed = '{"category":"linear","symbol":"BTCUSDT"}'
        sent = '{"category":"linear","symbol":"ETHUSDT"}'
        headers = {**paper.headers(signed), "Content-Type": "application/json"}
        response = await paper.client.post("/v5/order/cancel-all", data=sent, headers=headers)
        assert (await response.json())["retCode"] == 10004

    run(scenario)


def test_the_query_is_verified_exactly_as_sent_not_re_sorted():
    async def scenario(paper: Paper) -> None:
        headers = paper.headers("symbol=BTCUSDT&category=linear")
        response = await paper.client.get(
            "/v5/position/list?category=linear&symbol=BTCUSDT", headers=headers
        )
        assert (await response.json())["retCode"] == 10004
        headers = paper.headers("symbol=BTCUSDT&category=linear")
        response = await paper.client.get(
            "/v5/position/list?symbol=BTCUSDT&category=linear", headers=headers
        )
        assert (await response.json())["retCode"] == 0

    run(scenario)


@pytest.mark.parametrize(
    ("offset_ms", "recv_window", "accepted"),
    [
        (-5000, "5000", True),  # exactly at the edge of the window
        (-5001, "5000", False),  # stale
        (-9000, "10000", True),  # a larger window admits it
        (999, "5000", True),
        (1000, "5000", False),  # 1 s ahead of the server is refused whatever the window
    ],
)
def test_the_timestamp_window_follows_the_documented_rule(offset_ms, recv_window, accepted):
    async def scenario(paper: Paper) -> None:
        _, answer = await paper.get(
            "/v5/account/info", timestamp=NOW_MS + offset_ms, recv_window=recv_window
        )
        assert answer["retCode"] == (0 if accepted else 10002), answer
        assert paper.marks[-1]["signature_failed"] is (None if accepted else True)

    run(scenario)


def test_an_unknown_key_is_10003_with_http_401():
    async def scenario(paper: Paper) -> None:
        status, answer = await paper.get("/v5/account/info", key="nobody", secret="x")
        assert status == 401 and answer["retCode"] == 10003
        assert paper.marks[-1]["signature_failed"] is True

    run(scenario)


def test_missing_auth_headers_are_10003_with_http_401():
    async def scenario(paper: Paper) -> None:
        status, answer = await paper.get(
            "/v5/account/wallet-balance", {"accountType": "UNIFIED"}, signed=False
        )
        assert status == 401 and answer["retCode"] == 10003

    run(scenario)


def test_a_read_only_key_cannot_trade_but_can_read():
    async def scenario(paper: Paper) -> None:
        body = {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "50000",
        }
        _, answer = await paper.post("/v5/order/create", body, key=READ_ONLY_KEY)
        assert answer["retCode"] == 10005
        _, info = await paper.get("/v5/user/query-api", key=READ_ONLY_KEY)
        assert info["retCode"] == 0 and info["result"]["readOnly"] == 1
        assert info["result"]["permissions"]["ContractTrade"] == []

    run(scenario)


# -- public market data ---------------------------------------------------------------------


def test_server_time_needs_no_key_and_reports_seconds_and_nanos():
    async def scenario(paper: Paper) -> None:
        status, answer = await paper.get("/v5/market/time", signed=False)
        assert status == 200 and answer["retCode"] == 0 and answer["time"] == NOW_MS
        assert answer["result"] == {
            "timeSecond": str(NOW_MS // 1000),
            "timeNano": str(NOW_MS * 1_000_000),
        }

    run(scenario)


def test_instruments_info_lists_spot_and_linear_filters_as_strings():
    async def scenario(paper: Paper) -> None:
        _, spot = await paper.get(
            "/v5/market/instruments-info", {"category": "spot", "symbol": "BTCUSDT"}, signed=False
        )
        [row] = spot["result"]["list"]
        assert row["lotSizeFilter"]["basePrecision"] == "0.00001"
        assert row["lotSizeFilter"]["minOrderAmt"] == "5"
        assert row["priceFilter"]["tickSize"] == "0.01"
        _, linear = await paper.get(
            "/v5/market/instruments-info", {"category": "linear"}, signed=False
        )
        names = {item["symbol"] for item in linear["result"]["list"]}
        assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT"} == names
        btc = next(item for item in linear["result"]["list"] if item["symbol"] == "BTCUSDT")
        assert btc["lotSizeFilter"]["qtyStep"] == "0.001" and btc["settleCoin"] == "USDT"
        assert btc["contractType"] == "LinearPerpetual"

    run(scenario)


def test_tickers_give_bid_ask_and_last():
    async def scenario(paper: Paper) -> None:
        _, answer = await paper.get(
            "/v5/market/tickers", {"category": "linear", "symbol": "ETHUSDT"}, signed=False
        )
        [row] = answer["result"]["list"]
        assert row["bid1Price"] == row["ask1Price"] == row["lastPrice"] == "3000"
        _, unknown = await paper.get(
            "/v5/market/tickers", {"category": "spot", "symbol": "NOPEUSDT"}, signed=False
        )
        assert unknown["retCode"] == 10001

    run(scenario)


# -- trading --------------------------------------------------------------------------------


def test_a_placed_order_is_found_by_link_id_with_bybit_fields():
    async def scenario(paper: Paper) -> None:
        placed = await paper.place(orderLinkId="ec-link-1")
        assert placed["retCode"] == 0 and placed["result"]["orderLinkId"] == "ec-link-1"
        _, found = await paper.get(
            "/v5/order/realtime", {"category": "linear", "orderLinkId": "ec-link-1"}
        )
        [row] = found["result"]["list"]
        assert row["orderStatus"] == "New" and row["qty"] == "0.01" and row["price"] == "50000"
        assert row["side"] == "Buy" and row["orderType"] == "Limit"
        assert row["orderId"] == placed["result"]["orderId"] and row["cumExecQty"] == "0"
        assert row["createdTime"] == str(NOW_MS)

    run(scenario)


def test_lookup_of_an_unknown_link_id_is_an_empty_list():
    async def scenario(paper: Paper) -> None:
        _, found = await paper.get(
            "/v5/order/realtime", {"category": "linear", "orderLinkId": "never-sent"}
        )
        assert found["retCode"] == 0 and found["result"]["list"] == []

    run(scenario)


def test_listing_linear_open_orders_needs_a_symbol_or_coin():
    async def scenario(paper: Paper) -> None:
        _, answer = await paper.get("/v5/order/realtime", {"category": "linear"})
        assert answer["retCode"] == 10001
        await paper.place(orderLinkId="ec-open-1")
        _, listed = await paper.get(
            "/v5/order/realtime", {"category": "linear", "settleCoin": "USDT"}
        )
        assert [row["orderLinkId"] for row in listed["result"]["list"]] == ["ec-open-1"]

    run(scenario)


def test_cancel_by_link_id_then_a_second_cancel_is_already_cancelled():
    async def scenario(paper: Paper) -> None:
        await paper.place(orderLinkId="ec-cancel-1")
        body = {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "ec-cancel-1"}
        _, first = await paper.post("/v5/order/cancel", body)
        assert first["retCode"] == 0 and first["result"]["orderLinkId"] == "ec-cancel-1"
        _, second = await paper.post("/v5/order/cancel", body)
        assert second["retCode"] == 110010
        _, found = await paper.get(
            "/v5/order/realtime", {"category": "linear", "orderLinkId": "ec-cancel-1"}
        )
        assert found["result"]["list"][0]["orderStatus"] == "Cancelled"
        assert found["result"]["list"][0]["cancelType"] == "CancelByUser"

    run(scenario)


@pytest.mark.parametrize(
    ("category", "symbol", "code"), [("linear", "BTCUSDT", 110001), ("spot", "BTCUSDT", 170213)]
)
def test_cancel_of_an_unknown_order_uses_the_category_code(category, symbol, code):
    async def scenario(paper: Paper) -> None:
        _, answer = await paper.post(
            "/v5/order/cancel", {"category": category, "symbol": symbol, "orderLinkId": "ghost"}
        )
        assert answer["retCode"] == code

    run(scenario)


@pytest.mark.parametrize(("category", "code"), [("linear", 110072), ("spot", 170141)])
def test_a_repeated_link_id_is_refused_even_after_the_first_order_closed(category, code):
    async def scenario(paper: Paper) -> None:
        first = await paper.place(category=category, orderLinkId="ec-dup-1")
        assert first["retCode"] == 0
        await paper.post(
            "/v5/order/cancel",
            {"category": category, "symbol": "BTCUSDT", "orderLinkId": "ec-dup-1"},
        )
        again = await paper.place(category=category, orderLinkId="ec-dup-1")
        assert again["retCode"] == code
        assert paper.engine.order_stats("bybit").orders_by_client_id["ec-dup-1"] == 2

    run(scenario)


@pytest.mark.parametrize(("category", "code"), [("linear", 110007), ("spot", 170131)])
def test_insufficient_funds_use_the_category_code(category, code):
    async def scenario(paper: Paper) -> None:
        answer = await paper.place(category=category, qty="100", price="60000")
        assert answer["retCode"] == code
        assert paper.marks[-1]["order_accepted"] is None

    run(scenario, balances={"USDT": "1000"})


def test_cancel_of_a_filled_spot_order_is_170139():
    async def scenario(paper: Paper) -> None:
        await paper.place(
            category="spot",
            orderType="Market",
            qty="0.01",
            marketUnit="baseCoin",
            orderLinkId="ec-filled-1",
            price=None,
        )
        _, answer = await paper.post(
            "/v5/order/cancel",
            {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "ec-filled-1"},
        )
        assert answer["retCode"] == 170139

    run(scenario)


def test_spot_market_buy_is_sized_in_quote_unless_base_coin_is_asked():
    async def scenario(paper: Paper) -> None:
        account = paper.engine.account("bybit", KEY)
        await paper.place(
            category="spot", orderType="Market", qty="600", price=None, orderLinkId="ec-quote-1"
        )
        by_quote = paper.engine.get_order("bybit", account, client_order_id="ec-quote-1")
        assert by_quote.quantity == Decimal("0.01") and by_quote.status == "filled"
        await paper.place(
            category="spot",
            orderType="Market",
            qty="0.02",
            price=None,
            marketUnit="baseCoin",
            orderLinkId="ec-base-1",
        )
        by_base = paper.engine.get_order("bybit", account, client_order_id="ec-base-1")
        assert by_base.quantity == Decimal("0.02")

    run(scenario)


def test_reduce_only_that_would_open_is_110017():
    async def scenario(paper: Paper) -> None:
        answer = await paper.place(orderType="Market", price=None, reduceOnly=True)
        assert answer["retCode"] == 110017

    run(scenario)


def test_a_hedge_mode_account_shows_two_position_rows_and_refuses_index_zero():
    async def scenario(paper: Paper) -> None:
        paper.engine.set_hedge_mode(paper.engine.account("bybit", KEY), True)
        answer = await paper.place(positionIdx=0)
        assert answer["retCode"] == 10001
        _, listed = await paper.get(
            "/v5/position/list", {"category": "linear", "symbol": "BTCUSDT"}
        )
        assert [row["positionIdx"] for row in listed["result"]["list"]] == [1, 2]

    run(scenario)


def test_a_market_fill_opens_a_position_listed_with_bybit_fields():
    async def scenario(paper: Paper) -> None:
        answer = await paper.place(
            orderType="Market", price=None, qty="0.01", orderLinkId="ec-pos-1"
        )
        assert answer["retCode"] == 0
        _, listed = await paper.get(
            "/v5/position/list", {"category": "linear", "settleCoin": "USDT"}
        )
        [row] = listed["result"]["list"]
        assert (row["symbol"], row["side"], row["size"], row["positionIdx"]) == (
            "BTCUSDT",
            "Buy",
            "0.01",
            0,
        )
        assert row["avgPrice"] == "60000" and row["leverage"] == "10"
        _, empty = await paper.get("/v5/position/list", {"category": "linear", "symbol": "ETHUSDT"})
        assert empty["result"]["list"][0]["size"] == "0"
        assert empty["result"]["list"][0]["side"] == ""
        _, history = await paper.get(
            "/v5/order/history", {"category": "linear", "orderLinkId": "ec-pos-1"}
        )
        assert history["result"]["list"][0]["orderStatus"] == "Filled"
        assert history["result"]["list"][0]["avgPrice"] == "60000"

    run(scenario)


def test_set_leverage_then_the_same_value_again_is_not_modified():
    async def scenario(paper: Paper) -> None:
        body = {"category": "linear", "symbol": "BTCUSDT", "buyLeverage": "5", "sellLeverage": "5"}
        _, first = await paper.post("/v5/position/set-leverage", body)
        assert first["retCode"] == 0
        _, second = await paper.post("/v5/position/set-leverage", body)
        assert second["retCode"] == 110043
        _, mismatch = await paper.post("/v5/position/set-leverage", {**body, "sellLeverage": "7"})
        assert mismatch["retCode"] == 10001

    run(scenario)


def test_cancel_all_on_a_symbol_lists_what_it_canceled():
    async def scenario(paper: Paper) -> None:
        await paper.place(orderLinkId="ec-all-1")
        await paper.place(orderLinkId="ec-all-2", price="49000")
        _, missing = await paper.post("/v5/order/cancel-all", {"category": "linear"})
        assert missing["retCode"] == 10001
        _, answer = await paper.post(
            "/v5/order/cancel-all", {"category": "linear", "symbol": "BTCUSDT"}
        )
        assert answer["result"]["success"] == "1"
        assert {row["orderLinkId"] for row in answer["result"]["list"]} == {"ec-all-1", "ec-all-2"}

    run(scenario)


def test_wallet_balance_is_the_unified_account_in_strings():
    async def scenario(paper: Paper) -> None:
        await paper.place(category="spot", price="50000", qty="0.01")  # locks 500 USDT
        _, answer = await paper.get(
            "/v5/account/wallet-balance", {"accountType": "UNIFIED", "coin": "USDT"}
        )
        [account] = answer["result"]["list"]
        [usdt] = account["coin"]
        assert (usdt["coin"], usdt["walletBalance"], usdt["locked"]) == ("USDT", "100000", "500")
        assert account["accountType"] == "UNIFIED"
        assert account["totalAvailableBalance"] == "99500"
        _, wrong = await paper.get("/v5/account/wallet-balance", {"accountType": "SPOT"})
        assert wrong["retCode"] == 10001

    run(scenario)


# -- faults as Bybit sends them -------------------------------------------------------------


def test_rate_limited_answer_is_retcode_10006_with_the_reset_timestamp():
    engine = Engine(None, clock=Clock(NOW_MS))
    answer = BybitProtocol(engine).rate_limited(2.5)
    assert answer.status == 200
    assert answer.headers["X-Bapi-Limit-Reset-Timestamp"] == str(NOW_MS + 2500)
    assert answer.headers["X-Bapi-Limit-Status"] == "0"
    assert json.loads(answer.text)["retCode"] == 10006


def test_every_request_weighs_one_as_bybit_counts_requests():
    protocol = BybitProtocol(Engine(None))
    assert protocol.request_weight(make_mocked_request("GET", "/v5/order/realtime")) == 1
    assert protocol.request_weight(make_mocked_request("POST", "/v5/order/create")) == 1


def test_server_error_is_a_5xx():
    assert BybitProtocol(Engine(None)).server_error().status >= 500


def test_every_real_path_is_routed():
    paths = {route.path for route in BybitProtocol(Engine(None)).routes()}
    assert {
        "/v5/market/time",
        "/v5/user/query-api",
        "/v5/account/wallet-balance",
        "/v5/market/instruments-info",
        "/v5/market/tickers",
        "/v5/position/set-leverage",
        "/v5/order/create",
        "/v5/order/cancel",
        "/v5/order/cancel-all",
        "/v5/order/realtime",
        "/v5/order/history",
        "/v5/position/list",
    } <= paths


# -- trade history (GET /v5/execution/list) --------------------------------------------------


def test_the_execution_list_shows_each_fill_newest_first_and_pages_by_cursor():
    async def scenario(paper: Paper) -> None:
        placed = await paper.place(orderLinkId="fills-0001")
        order_id = placed["result"]["orderId"]
        paper.engine.fill("bybit", order_id=order_id, quantity=Decimal("0.004"))
        paper.clock.ms += 1000
        paper.engine.fill("bybit", order_id=order_id)
        status, answer = await paper.get(
            "/v5/execution/list", {"category": "linear", "symbol": "BTCUSDT", "limit": "1"}
        )
        assert status == 200 and answer["retCode"] == 0
        [row] = answer["result"]["list"]
        assert (row["orderId"], row["orderLinkId"], row["execQty"], row["execPrice"]) == (
            order_id,
            "fills-0001",
            "0.006",
            "50000",
        )
        assert (row["side"], row["isMaker"], row["execType"], row["execTime"]) == (
            "Buy",
            True,
            "Trade",
            str(NOW_MS + 1000),
        )
        status, more = await paper.get(
            "/v5/execution/list",
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "limit": "1",
                "cursor": answer["result"]["nextPageCursor"],
            },
        )
        [older] = more["result"]["list"]
        assert older["execQty"] == "0.004" and older["execId"] != row["execId"]
        assert more["result"]["nextPageCursor"] == ""
        _, later = await paper.get(
            "/v5/execution/list", {"category": "linear", "startTime": str(NOW_MS + 500)}
        )
        assert [r["execId"] for r in later["result"]["list"]] == [row["execId"]]
        _, spot = await paper.get("/v5/execution/list", {"category": "spot"})
        assert spot["result"]["list"] == []

    run(scenario)


def test_the_execution_list_refuses_a_range_over_seven_days():
    async def scenario(paper: Paper) -> None:
        _, answer = await paper.get(
            "/v5/execution/list", {"category": "linear", "startTime": "0", "endTime": str(NOW_MS)}
        )
        assert answer["retCode"] == 10001

    run(scenario)


# -- what outside clients call (tests/paper/clients/) --------------------------------------------


def test_coin_info_lists_the_universe_s_coins_one_chain_each():
    async def scenario(paper: Paper) -> None:
        status, answer = await paper.get("/v5/asset/coin/query-info")
        assert status == 200 and answer["retCode"] == 0, answer
        coins = {row["coin"]: row for row in answer["result"]["rows"]}
        assert {"BTC", "ETH", "USDT"} <= set(coins)
        assert coins["BTC"]["chains"][0]["chain"] == "BTC"
        _, one = await paper.get("/v5/asset/coin/query-info", {"coin": "ETH"})
        assert [row["coin"] for row in one["result"]["rows"]] == ["ETH"]
        _, bad = await paper.get("/v5/asset/coin/query-info", secret="not-the-secret")
        assert bad["retCode"] == 10004

    run(scenario)


def test_inverse_and_option_instrument_lists_are_empty_not_refused():
    async def scenario(paper: Paper) -> None:
        for category in ("inverse", "option"):
            _, answer = await paper.get(
                "/v5/market/instruments-info", {"category": category}, signed=False
            )
            assert answer["retCode"] == 0 and answer["result"]["list"] == [], answer

    run(scenario)


def test_linear_tickers_carry_open_interest_value_and_spot_tickers_do_not():
    async def scenario(paper: Paper) -> None:
        _, linear = await paper.get(
            "/v5/market/tickers", {"category": "linear", "symbol": "BTCUSDT"}, signed=False
        )
        assert linear["result"]["list"][0]["openInterestValue"] == "0"
        _, spot = await paper.get(
            "/v5/market/tickers", {"category": "spot", "symbol": "BTCUSDT"}, signed=False
        )
        assert "openInterestValue" not in spot["result"]["list"][0]

    run(scenario)


def test_execution_list_shows_fills_newest_first_narrowed_by_order():
    async def scenario(paper: Paper) -> None:
        first = await paper.place(
            category="spot",
            orderType="Market",
            qty="0.001",
            price=None,
            timeInForce=None,
            marketUnit="baseCoin",
        )
        second = await paper.place(
            category="spot",
            side="Sell",
            orderType="Market",
            qty="0.001",
            price=None,
            timeInForce=None,
        )
        paper.clock.ms += 1
        _, answer = await paper.get("/v5/execution/list", {"category": "spot"})
        rows = answer["result"]["list"]
        assert [(row["orderId"], row["side"], row["execQty"], row["execType"]) for row in rows] == [
            (second["result"]["orderId"], "Sell", "0.001", "Trade"),
            (first["result"]["orderId"], "Buy", "0.001", "Trade"),
        ]
        assert rows[1]["feeCurrency"] == "BTC" and rows[1]["isMaker"] is False
        _, one = await paper.get(
            "/v5/execution/list", {"category": "spot", "orderId": first["result"]["orderId"]}
        )
        assert [row["execId"] for row in one["result"]["list"]] == [rows[1]["execId"]]
        _, linear = await paper.get("/v5/execution/list", {"category": "linear"})
        assert linear["result"]["list"] == []
        _, paged = await paper.get("/v5/execution/list", {"category": "spot", "limit": "1"})
        assert paged["result"]["nextPageCursor"] == "1"

    run(scenario)
