"""The BingX paper adapter over real HTTP (aiohttp test server) on a real Engine.

The signing here is written from the facts file (docs/exchanges/bingx.md section 2), not taken from
the adapter or the connector: lowercase hex HMAC-SHA256 over the parameters exactly as sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from paper.engine import Engine
from paper.protocols import bingx as adapter
from paper.protocols.bingx import BingxProtocol
from paper.server import build_app

# The official example credentials (facts section 2).
API_KEY = "hO6oQotzTE0S5FRYze2Jx2wGx7eVnJGMolpA1nZyehsoMgCcgKNWQHd4QgTFZuwl4Zt4xMe2PqGBegWXO4A"
SECRET = "mheO6dR8ovSsxZQCOYEFCtelpuxcWGTfHw7te326y6jOwq5WpvFQ9JNljoTwBXZGv5It07m9RXSPpDQEK2w"
READ_ONLY_KEY = "paper-read-only-key"
SWAP = "/bingx/openApi/swap/v2"
SPOT = "/bingx/openApi/spot/v1"


def hex_hmac(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


# -- the facts' vectors --------------------------------------------------------------------------

REPRODUCED = [
    (
        "symbol=BTC-USDT&timestamp=1667872120843&side=LONG&leverage=6",
        "4f581ecdb1fa09b9d6e57886b6f70cffed17f82b93399722939e49a38edec2bf",
    ),  # TV1 official
    (
        "symbol=BTC-USDT&timestamp=1668159715051side=LONG&leverage=6",
        "8b756b01e7a30f02e19c58a91ab01b29528694316b08a51ecb8dd072942bd47d",
    ),  # TV2 official
    (
        "clientOrderId=myorder-001&positionSide=LONG&price=60000&quantity=0.001&side=BUY"
        "&symbol=BTC-USDT&timestamp=1700000000000&type=LIMIT",
        "98ea8f6c837a742a18dc540b7d2499f33799e5464ac536a8e2ca787a2ad0be68",
    ),  # derived
    (
        "recvWindow=5000&timestamp=1700000000000",
        "b2f691a975d3d7236f5dbca85d831eee29bfaed0f7963304568e8ef3c5b3dfc9",
    ),  # derived
]


@pytest.mark.parametrize(("message", "expected"), REPRODUCED)
def test_official_and_derived_vectors_reproduce(message, expected):
    assert hex_hmac(SECRET, message) == expected
    assert adapter.sign(SECRET, message) == expected


@pytest.mark.parametrize(
    ("message", "documented", "actual"),
    [
        # TV3 and TV3b: the current docs-v3 SignAuth page prints one value for both examples;
        # it is not the HMAC of either message with the documented secret (documentation error).
        (
            "recvWindow=0&symbol=BTC-USDT&timestamp=1696751141337",
            "1e63e8cfd1c04919881e60cf369e404b9b7c87d3a09bc300f1abfdcce7da57e8",
            "f8d883609dfd31c824feb4de865b071008dedb1d461451fa70847875c8e7a7a2",
        ),
        (
            "recvWindow=0&subAccountString=abc12345&timestamp=1696751141337",
            "1e63e8cfd1c04919881e60cf369e404b9b7c87d3a09bc300f1abfdcce7da57e8",
            "8d0d3ea9b592be3678c33332ab13e9102e093e67255921e15a581146c87c272f",
        ),
        # TV4: the batchOrders example was signed with an unstated secret (documentation error).
        (
            'batchOrders=[{"symbol":"ETH-USDT","type":"MARKET","side":"BUY","positionSide":"LONG",'
            '"quantity":1},{"symbol":"BTC-USDT","type":"MARKET","side":"BUY","positionSide":"LONG",'
            '"quantity":0.001}]&timestamp=1692956597902',
            "bab521321a62a1381a76b485b92dd0f4a8b16b4616cfa4c75ffba899f80dfc86",
            "04aa41e1f14441dc1465fe5593c07f0e0b190ebe49fda0476cb7ff9d612cd028",
        ),
    ],
)
def test_documented_values_that_do_not_reproduce_differ(message, documented, actual):
    assert adapter.sign(SECRET, message) != documented
    assert adapter.sign(SECRET, message) == actual


# -- a small client that signs like the facts say ------------------------------------------------


class Bingx:
    def __init__(self, client: TestClient, engine: Engine) -> None:
        self.client = client
        self.engine = engine

    def query(
        self,
        params: list[tuple[str, str]],
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        sign_override: str | None = None,
    ) -> str:
        stamped = [*params, ("timestamp", str(timestamp or self.engine.now_ms()))]
        raw = "&".join(f"{k}={v}" for k, v in stamped)
        signature = sign_override if sign_override is not None else hex_hmac(secret, raw)
        sent = "&".join(f"{k}={quote(v, safe='')}" for k, v in stamped)
        return f"{sent}&signature={signature}"

    async def call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] = (),
        *,
        key: str = API_KEY,
        **signing: Any,
    ) -> tuple[int, dict[str, Any]]:
        url = f"{path}?{self.query(list(params), **signing)}"
        response = await self.client.request(method, url, headers={"X-BX-APIKEY": key})
        return response.status, await response.json()

    async def ok(self, method: str, path: str, params: list[tuple[str, str]] = ()) -> Any:
        status, body = await self.call(method, path, params)
        assert (status, body["code"]) == (200, 0), body
        return body["data"]

    async def stats(self) -> dict[str, Any]:
        response = await self.client.get("/_paper/stats")
        return (await response.json())["exchanges"]["bingx"]


Scenario = Callable[[Bingx], Awaitable[None]]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        engine = Engine()
        engine.upsert_account(
            "bingx",
            api_key=API_KEY,
            api_secret=SECRET,
            balances={"USDT": Decimal("100000"), "BTC": Decimal("2")},
        )
        engine.upsert_account(
            "bingx",
            api_key=READ_ONLY_KEY,
            api_secret=SECRET,
            balances={"USDT": Decimal("1000")},
            permissions=["read"],
        )
        app = build_app(engine, protocols=[BingxProtocol])
        async with TestClient(TestServer(app)) as client:
            await scenario(Bingx(client, engine))

    asyncio.run(main())


def limit_swap(price: str = "50000", quantity: str = "0.01", **extra: str) -> list[tuple[str, str]]:
    return [
        ("symbol", "BTC-USDT"),
        ("side", "BUY"),
        ("positionSide", "BOTH"),
        ("type", "LIMIT"),
        ("price", price),
        ("quantity", quantity),
        ("clientOrderId", "ec0123456789abcdef0123456789abcd"),
        *extra.items(),
    ]


# -- authentication --------------------------------------------------------------------------------


def test_request_signed_per_the_official_vector_algorithm_is_accepted():
    async def scenario(bx: Bingx) -> None:
        # TV1's message shape with a fresh timestamp: symbol, timestamp, side, leverage.
        now = str(bx.engine.now_ms())
        raw = f"symbol=BTC-USDT&timestamp={now}&side=BOTH&leverage=6"
        response = await bx.client.post(
            f"{SWAP}/trade/leverage?{raw}&signature={hex_hmac(SECRET, raw)}",
            headers={"X-BX-APIKEY": API_KEY},
        )
        body = await response.json()
        assert body == {"code": 0, "msg": "", "data": {"leverage": 6, "symbol": "BTC-USDT"}}
        account = bx.engine.account("bingx", API_KEY)
        assert bx.engine.leverage(account, "BTC/USDT:USDT") == 6

    run(scenario)


def test_query_plus_form_body_is_signed_as_the_official_tv2_example():
    async def scenario(bx: Bingx) -> None:
        query = f"symbol=BTC-USDT&timestamp={bx.engine.now_ms()}"
        body = "side=BOTH&leverage=7"
        signature = hex_hmac(SECRET, query + body)  # TV2 joins them with nothing between
        response = await bx.client.post(
            f"{SWAP}/trade/leverage?{query}",
            data=f"{body}&signature={signature}",
            headers={"X-BX-APIKEY": API_KEY, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert (await response.json())["code"] == 0

    run(scenario)


def test_json_body_is_signed_over_the_sorted_parameters():
    async def scenario(bx: Bingx) -> None:
        params = {
            "symbol": "BTC-USDT",
            "side": "BOTH",
            "leverage": 8,
            "timestamp": bx.engine.now_ms(),
        }
        raw = "&".join(f"{k}={params[k]}" for k in sorted(params))
        response = await bx.client.post(
            f"{SWAP}/trade/leverage",
            json={**params, "signature": hex_hmac(SECRET, raw)},
            headers={"X-BX-APIKEY": API_KEY},
        )
        assert (await response.json())["code"] == 0

    run(scenario)


def test_values_are_signed_raw_and_sent_url_encoded():
    async def scenario(bx: Bingx) -> None:
        # The client id has characters that need encoding on the wire.
        params = limit_swap(clientOrderId="ec:a/b c")
        data = await bx.ok("POST", f"{SWAP}/trade/order", params)
        assert data["order"]["clientOrderId"] == "ec:a/b c"

    run(scenario)


def test_wrong_signature_is_refused_with_100001_and_counted():
    async def scenario(bx: Bingx) -> None:
        status, body = await bx.call("GET", f"{SWAP}/user/positions", sign_override="0" * 64)
        assert (status, body["code"]) == (200, 100001)
        assert body["msg"] == "Signature verification failed"
        status, body = await bx.call("GET", f"{SWAP}/user/positions", secret="not-the-secret")
        assert body["code"] == 100001
        assert (await bx.stats())["signatureFailures"] == 2

    run(scenario)


def test_upper_case_hex_signature_is_refused():
    async def scenario(bx: Bingx) -> None:
        raw = f"timestamp={bx.engine.now_ms()}"
        response = await bx.client.get(
            f"{SWAP}/user/positions?{raw}&signature={hex_hmac(SECRET, raw).upper()}",
            headers={"X-BX-APIKEY": API_KEY},
        )
        assert (await response.json())["code"] == 100001

    run(scenario)


def test_missing_signature_is_100412():
    async def scenario(bx: Bingx) -> None:
        response = await bx.client.get(
            f"{SWAP}/user/positions?timestamp={bx.engine.now_ms()}",
            headers={"X-BX-APIKEY": API_KEY},
        )
        assert (await response.json())["code"] == 100412

    run(scenario)


def test_stale_timestamp_is_100421():
    async def scenario(bx: Bingx) -> None:
        stale = bx.engine.now_ms() - 6000
        status, body = await bx.call("GET", f"{SWAP}/user/positions", timestamp=stale)
        assert (status, body["code"]) == (200, 100421)
        future = bx.engine.now_ms() + 6000
        assert (await bx.call("GET", f"{SWAP}/user/positions", timestamp=future))[1][
            "code"
        ] == 100421

    run(scenario)


def test_recv_window_widens_the_timestamp_window():
    async def scenario(bx: Bingx) -> None:
        older = bx.engine.now_ms() - 20_000
        _, body = await bx.call(
            "GET", f"{SWAP}/user/positions", [("recvWindow", "30000")], timestamp=older
        )
        assert body["code"] == 0
        _, body = await bx.call(
            "GET",
            f"{SWAP}/user/positions",
            [("recvWindow", "90000")],
            timestamp=bx.engine.now_ms() - 70_000,
        )
        assert body["code"] == 100421  # recvWindow is capped at 60000 ms

    run(scenario)


def test_missing_timestamp_is_100421():
    async def scenario(bx: Bingx) -> None:
        raw = "symbol=BTC-USDT"
        response = await bx.client.get(
            f"{SWAP}/user/positions?{raw}&signature={hex_hmac(SECRET, raw)}",
            headers={"X-BX-APIKEY": API_KEY},
        )
        assert (await response.json())["code"] == 100421

    run(scenario)


@pytest.mark.parametrize("key", ["unknown-key", ""])
def test_unknown_or_missing_key_is_100413_with_http_401(key):
    async def scenario(bx: Bingx) -> None:
        status, body = await bx.call("GET", f"{SWAP}/user/positions", key=key)
        assert (status, body["code"], body["msg"]) == (401, 100413, "Incorrect apiKey")
        assert (await bx.stats())["signatureFailures"] == 1

    run(scenario)


def test_read_only_key_cannot_trade_but_can_read():
    async def scenario(bx: Bingx) -> None:
        status, body = await bx.call("POST", f"{SWAP}/trade/order", limit_swap(), key=READ_ONLY_KEY)
        assert (status, body["code"]) == (200, 100004)
        _, body = await bx.call("GET", f"{SWAP}/user/positions", key=READ_ONLY_KEY)
        assert body["code"] == 0
        _, body = await bx.call(
            "GET", "/bingx/openApi/v1/account/apiPermissions", key=READ_ONLY_KEY
        )
        assert body["data"]["permissions"] == [2]
        assert (await bx.stats())["signatureFailures"] == 0

    run(scenario)


# -- swap orders ---------------------------------------------------------------------------------


def test_swap_limit_order_round_trip():
    async def scenario(bx: Bingx) -> None:
        placed = (await bx.ok("POST", f"{SWAP}/trade/order", limit_swap()))["order"]
        assert set(placed) == {
            "symbol",
            "orderId",
            "side",
            "positionSide",
            "type",
            "clientOrderId",
            "workingType",
        }
        assert isinstance(placed["orderId"], int)
        found = await bx.ok(
            "GET",
            f"{SWAP}/trade/order",
            [("symbol", "BTC-USDT"), ("clientOrderId", "EC0123456789ABCDEF0123456789ABCD")],
        )
        assert found["order"]["status"] == "PENDING"
        assert found["order"]["origQty"] == "0.01" and found["order"]["price"] == "50000"
        open_orders = await bx.ok("GET", f"{SWAP}/trade/openOrders", [("symbol", "BTC-USDT")])
        assert [o["orderId"] for o in open_orders["orders"]] == [placed["orderId"]]
        canceled = await bx.ok(
            "DELETE",
            f"{SWAP}/trade/order",
            [("symbol", "BTC-USDT"), ("orderId", str(placed["orderId"]))],
        )
        assert canceled["order"]["status"] == "CANCELLED"
        again = await bx.ok(
            "GET",
            f"{SWAP}/trade/order",
            [("symbol", "BTC-USDT"), ("orderId", str(placed["orderId"]))],
        )
        assert again["order"]["status"] == "CANCELED"
        stats = await bx.stats()
        assert stats["ordersAccepted"] == 1

    run(scenario)


def test_client_ids_are_lower_cased_by_the_server():
    async def scenario(bx: Bingx) -> None:
        placed = await bx.ok("POST", f"{SWAP}/trade/order", limit_swap(clientOrderId="EC0123ABC"))
        assert placed["order"]["clientOrderId"] == "ec0123abc"

    run(scenario)


def test_repeated_client_ids_are_not_refused():
    async def scenario(bx: Bingx) -> None:
        for _ in range(2):
            await bx.ok("POST", f"{SWAP}/trade/order", limit_swap())
        stats = await bx.stats()
        assert stats["ordersByClientId"]["ec0123456789abcdef0123456789abcd"] == 2
        assert stats["duplicatesRefused"] == 0

    run(scenario)


def test_market_swap_order_fills_and_opens_a_position():
    async def scenario(bx: Bingx) -> None:
        placed = await bx.ok(
            "POST",
            f"{SWAP}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "SELL"),
                ("positionSide", "BOTH"),
                ("type", "MARKET"),
                ("quantity", "0.02"),
            ],
        )
        order = placed["order"]
        assert (order["status"], order["executedQty"], order["avgPrice"]) == (
            "FILLED",
            "0.02",
            "60000",
        )
        [position] = await bx.ok("GET", f"{SWAP}/user/positions", [("symbol", "BTC-USDT")])
        assert (
            position["positionSide"],
            position["positionAmt"],
            position["avgPrice"],
            position["leverage"],
        ) == ("SHORT", "0.02", "60000", 10)
        [balance] = await bx.ok("GET", "/bingx/openApi/swap/v3/user/balance")
        assert (balance["asset"], balance["usedMargin"]) == ("USDT", "120")
        assert Decimal(balance["availableMargin"]) == Decimal("99880")

    run(scenario)


def test_quantity_and_price_beyond_precision_are_truncated():
    async def scenario(bx: Bingx) -> None:
        placed = await bx.ok(
            "POST", f"{SWAP}/trade/order", limit_swap(price="50000.19", quantity="0.0109")
        )
        found = await bx.ok(
            "GET",
            f"{SWAP}/trade/order",
            [("symbol", "BTC-USDT"), ("orderId", str(placed["order"]["orderId"]))],
        )
        assert (found["order"]["price"], found["order"]["origQty"]) == ("50000.1", "0.01")

    run(scenario)


@pytest.mark.parametrize(("position_side", "extra"), [("LONG", {}), ("", {})])
def test_one_way_account_must_send_position_side_both(position_side, extra):
    async def scenario(bx: Bingx) -> None:
        params = [p for p in limit_swap() if p[0] != "positionSide"]
        if position_side:
            params.append(("positionSide", position_side))
        _, body = await bx.call("POST", f"{SWAP}/trade/order", params)
        assert body["code"] == 109400 and "BOTH" in body["msg"]

    run(scenario)


def test_hedge_mode_is_reported_and_changed_through_position_side_dual():
    async def scenario(bx: Bingx) -> None:
        data = await bx.ok("GET", "/bingx/openApi/swap/v1/positionSide/dual")
        assert data == {"dualSidePosition": "false"}
        await bx.ok(
            "POST", "/bingx/openApi/swap/v1/positionSide/dual", [("dualSidePosition", "true")]
        )
        data = await bx.ok("GET", "/bingx/openApi/swap/v1/positionSide/dual")
        assert data == {"dualSidePosition": "true"}
        _, body = await bx.call("POST", f"{SWAP}/trade/order", limit_swap())
        assert body["code"] == 109400  # BOTH is one-way only

    run(scenario)


def test_business_refusals_use_bingx_codes():
    async def scenario(bx: Bingx) -> None:
        _, body = await bx.call("POST", f"{SWAP}/trade/order", limit_swap(quantity="100"))
        assert body["code"] == 101204  # insufficient margin
        _, body = await bx.call("POST", f"{SWAP}/trade/order", limit_swap(quantity="0.00001"))
        assert body["code"] == 101400  # below the minimum
        _, body = await bx.call(
            "POST", f"{SWAP}/trade/order", limit_swap(price="70000", timeInForce="PostOnly")
        )
        assert body["code"] == 101215
        _, body = await bx.call(
            "POST",
            f"{SWAP}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "SELL"),
                ("positionSide", "BOTH"),
                ("type", "MARKET"),
                ("quantity", "0.01"),
                ("reduceOnly", "true"),
            ],
        )
        assert body["code"] == 101205  # no position to close
        _, body = await bx.call(
            "GET", f"{SWAP}/trade/order", [("symbol", "BTC-USDT"), ("orderId", "123")]
        )
        assert body["code"] == 80016
        _, body = await bx.call("POST", f"{SWAP}/trade/order", [("symbol", "NOPE-USDT")])
        assert body["code"] == 100400

    run(scenario)


def test_cancel_of_a_filled_order_is_80018():
    async def scenario(bx: Bingx) -> None:
        placed = await bx.ok("POST", f"{SWAP}/trade/order", limit_swap(price="70000"))
        _, body = await bx.call(
            "DELETE",
            f"{SWAP}/trade/order",
            [("symbol", "BTC-USDT"), ("orderId", str(placed["order"]["orderId"]))],
        )
        assert body["code"] == 80018

    run(scenario)


def test_cancel_all_touches_only_the_product_asked():
    async def scenario(bx: Bingx) -> None:
        await bx.ok("POST", f"{SWAP}/trade/order", limit_swap())
        await bx.ok(
            "POST",
            f"{SPOT}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("price", "50000"),
                ("quantity", "0.01"),
            ],
        )
        data = await bx.ok("DELETE", f"{SWAP}/trade/allOpenOrders")
        assert [o["status"] for o in data["success"]] == ["CANCELLED"] and data["failed"] == []
        spot_open = await bx.ok("GET", f"{SPOT}/trade/openOrders")
        assert len(spot_open["orders"]) == 1
        data = await bx.ok("POST", f"{SPOT}/trade/cancelOpenOrders", [("symbol", "BTC-USDT")])
        assert [o["status"] for o in data["orders"]] == ["CANCELED"]

    run(scenario)


def test_swap_history_refuses_more_than_seven_days():
    async def scenario(bx: Bingx) -> None:
        now = bx.engine.now_ms()
        _, body = await bx.call(
            "GET",
            f"{SWAP}/trade/allOrders",
            [("startTime", str(now - 8 * 86_400_000)), ("endTime", str(now))],
        )
        assert body["code"] == 80014
        await bx.ok("POST", f"{SWAP}/trade/order", limit_swap())
        data = await bx.ok("GET", f"{SWAP}/trade/allOrders", [("symbol", "BTC-USDT")])
        assert len(data["orders"]) == 1

    run(scenario)


# -- spot ------------------------------------------------------------------------------------------


def test_spot_market_buy_needs_a_quote_amount_and_fills():
    async def scenario(bx: Bingx) -> None:
        base = [("symbol", "BTC-USDT"), ("side", "BUY"), ("type", "MARKET")]
        _, body = await bx.call("POST", f"{SPOT}/trade/order", [*base, ("quantity", "0.01")])
        assert body["code"] == 100400 and "quoteOrderQty" in body["msg"]
        data = await bx.ok(
            "POST",
            f"{SPOT}/trade/order",
            [*base, ("quoteOrderQty", "606"), ("newClientOrderId", "ec_spot_1")],
        )
        assert (data["status"], data["executedQty"], data["clientOrderID"]) == (
            "FILLED",
            "0.0101",
            "ec_spot_1",
        )
        found = await bx.ok(
            "GET", f"{SPOT}/trade/query", [("symbol", "BTC-USDT"), ("clientOrderID", "ec_spot_1")]
        )
        assert found["orderId"] == data["orderId"] and found["status"] == "FILLED"
        balances = {
            b["asset"]: b for b in (await bx.ok("GET", f"{SPOT}/account/balance"))["balances"]
        }
        assert balances["BTC"]["free"] == "2.0101"

    run(scenario)


def test_spot_limit_order_query_and_cancel():
    async def scenario(bx: Bingx) -> None:
        data = await bx.ok(
            "POST",
            f"{SPOT}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("price", "70000"),
                ("quantity", "0.5"),
                ("newClientOrderId", "ec1"),
            ],
        )
        assert data["status"] == "NEW" and "transactTime" in data
        canceled = await bx.ok(
            "POST", f"{SPOT}/trade/cancel", [("symbol", "BTC-USDT"), ("clientOrderID", "ec1")]
        )
        assert canceled["status"] == "CANCELED"
        _, body = await bx.call(
            "POST",
            f"{SPOT}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("price", "70000"),
                ("quantity", "50"),
            ],
        )
        assert body["code"] == 100202
        _, body = await bx.call(
            "POST",
            f"{SPOT}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("price", "70000"),
                ("quantity", "0.5"),
                ("newClientOrderId", "has-dash"),
            ],
        )
        assert body["code"] == 100400

    run(scenario)


def test_spot_and_swap_share_names_but_not_orders():
    async def scenario(bx: Bingx) -> None:
        await bx.ok("POST", f"{SWAP}/trade/order", limit_swap())
        assert (await bx.ok("GET", f"{SPOT}/trade/openOrders"))["orders"] == []

    run(scenario)


# -- market data, account, limits ------------------------------------------------------------------


def test_public_endpoints_need_no_key():
    async def scenario(bx: Bingx) -> None:
        response = await bx.client.get(f"{SWAP}/server/time")
        body = await response.json()
        assert body["code"] == 0 and abs(body["data"]["serverTime"] - bx.engine.now_ms()) < 5000
        response = await bx.client.get(f"{SWAP}/quote/contracts?symbol=BTC-USDT")
        [contract] = (await response.json())["data"]
        assert (
            contract["symbol"],
            contract["quantityPrecision"],
            contract["pricePrecision"],
            contract["tradeMinUSDT"],
        ) == ("BTC-USDT", 3, 1, 5)
        response = await bx.client.get(f"{SPOT}/common/symbols?symbol=BTC-USDT")
        text = await response.text()
        assert '"stepSize": 0.00001' in text and "e-" not in text
        response = await bx.client.get(f"{SWAP}/quote/ticker?symbol=BTC-USDT")
        ticker = (await response.json())["data"]
        assert (ticker["lastPrice"], ticker["bidPrice"], ticker["askPrice"]) == (
            "60000",
            60000,
            60000,
        )
        response = await bx.client.get(f"{SPOT}/ticker/bookTicker?symbol=ETH-USDT")
        [book] = (await response.json())["data"]
        assert (book["bidPrice"], book["askPrice"]) == ("3000", "3000")

    run(scenario)


def test_api_permissions_list_bingx_permission_numbers():
    async def scenario(bx: Bingx) -> None:
        status, body = await bx.call("GET", "/bingx/openApi/v1/account/apiPermissions")
        assert status == 200 and body["code"] == 0 and "timestamp" in body
        assert body["data"]["permissions"] == [1, 2, 3]
        uid = await bx.ok("GET", "/bingx/openApi/account/v1/uid")
        assert isinstance(uid["uid"], int)
        assert SECRET not in json.dumps(body)

    run(scenario)


def test_rate_limited_answer_is_http_429_with_code_100410():
    protocol = BingxProtocol(Engine())
    response = protocol.rate_limited(2.5)
    body = json.loads(response.text)
    assert response.status == 429 and body["code"] == 100410
    until = int(response.headers["X-RateLimit-Requests-Expire"])
    assert str(until) in body["msg"]
    assert response.headers["X-RateLimit-Requests-Remain"] == "0"


def test_server_error_is_a_500_with_the_internal_error_code():
    response = BingxProtocol(Engine()).server_error()
    assert response.status == 500 and json.loads(response.text)["code"] == 100500


def test_every_request_weighs_one():
    async def scenario(bx: Bingx) -> None:
        await bx.ok("GET", f"{SWAP}/user/positions")
        await bx.ok("GET", f"{SWAP}/trade/openOrders")
        assert (await bx.stats())["maxWeightPer1s"] == 2

    run(scenario)


# -- trade history (spot myTrades, swap fillHistory) --------------------------------------------


def test_spot_my_trades_and_swap_fill_history_list_one_symbols_fills():
    async def scenario(bx: Bingx) -> None:
        swap = await bx.ok("POST", "/bingx/openApi/swap/v2/trade/order", limit_swap())
        swap_id = str(swap["order"]["orderId"])
        bx.engine.fill("bingx", order_id=swap_id)
        spot = await bx.ok(
            "POST",
            "/bingx/openApi/spot/v1/trade/order",
            [("symbol", "BTC-USDT"), ("side", "SELL"), ("type", "MARKET"), ("quantity", "0.001")],
        )
        fills = await bx.ok(
            "GET", "/bingx/openApi/swap/v1/trade/fillHistory", [("symbol", "BTC-USDT")]
        )
        [row] = fills["fill_orders"]
        assert (str(row["orderId"]), row["qty"], row["side"], row["role"]) == (
            swap_id,
            "0.01",
            "BUY",
            "maker",
        )
        trades = await bx.ok(
            "GET", "/bingx/openApi/spot/v1/trade/myTrades", [("symbol", "BTC-USDT")]
        )
        [trade] = trades["fills"]
        assert (trade["orderId"], trade["qty"], trade["isBuyer"], trade["isMaker"]) == (
            spot["orderId"],
            "0.001",
            False,
            False,
        )
        assert trade["commissionAsset"] == "USDT" and trade["id"] != int(row["tradeId"])
        later = await bx.ok(
            "GET",
            "/bingx/openApi/spot/v1/trade/myTrades",
            [("symbol", "BTC-USDT"), ("startTime", str(bx.engine.now_ms() + 60_000))],
        )
        assert later["fills"] == []

    run(scenario)


def test_my_trades_need_a_symbol():
    async def scenario(bx: Bingx) -> None:
        _, body = await bx.call("GET", "/bingx/openApi/spot/v1/trade/myTrades")
        assert body["code"] != 0

    run(scenario)


# -- what outside clients call (tests/paper/clients/) ----------------------------------------------


def test_coin_config_and_the_empty_coin_m_contract_list():
    async def scenario(bx: Bingx) -> None:
        coins = await bx.ok("GET", "/bingx/openApi/wallets/v1/capital/config/getall")
        by_coin = {row["coin"]: row for row in coins}
        assert {"BTC", "USDT"} <= set(by_coin)
        assert by_coin["BTC"]["networkList"][0]["network"] == "BTC"
        response = await bx.client.get("/bingx/openApi/cswap/v1/market/contracts")
        body = await response.json()
        assert (response.status, body["code"], body["data"]) == (200, 0, [])
        status, refused = await bx.call(
            "GET", "/bingx/openApi/wallets/v1/capital/config/getall", secret="not-the-secret"
        )
        assert (status, refused["code"]) == (200, 100001)

    run(scenario)


def test_spot_my_trades_and_swap_fill_orders_list_each_product_s_fills():
    async def scenario(bx: Bingx) -> None:
        spot = await bx.ok(
            "POST",
            f"{SPOT}/trade/order",
            [("symbol", "BTC-USDT"), ("side", "SELL"), ("type", "MARKET"), ("quantity", "0.001")],
        )
        swap = await bx.ok(
            "POST",
            f"{SWAP}/trade/order",
            [
                ("symbol", "BTC-USDT"),
                ("side", "BUY"),
                ("positionSide", "BOTH"),
                ("type", "MARKET"),
                ("quantity", "0.02"),
            ],
        )
        trades = (await bx.ok("GET", f"{SPOT}/trade/myTrades", [("symbol", "BTC-USDT")]))["fills"]
        assert [
            (t["orderId"], t["qty"], t["price"], t["isBuyer"], t["commissionAsset"]) for t in trades
        ] == [(spot["orderId"], "0.001", "60000", False, "USDT")]
        fills = (
            await bx.ok(
                "GET",
                f"{SWAP}/trade/allFillOrders",
                [("symbol", "BTC-USDT"), ("tradingUnit", "CONT")],
            )
        )["fill_orders"]
        assert [(f["orderId"], f["volume"], f["price"], f["amount"], f["role"]) for f in fills] == [
            (str(swap["order"]["orderId"]), "0.02", "60000", "1200", "taker")
        ]
        assert fills[0]["filledTime"].endswith("+0000")
        _, body = await bx.call("GET", f"{SPOT}/trade/myTrades")
        assert body["code"] == 100400

    run(scenario)
