"""The Pionex paper adapter over real HTTP (aiohttp TestServer) on a real Engine.

Requests are signed here from docs/exchanges/pionex.md section 2 (hex HMAC-SHA256 of
METHOD + path + "?" + sorted query + body), a signer proven first on the facts' vectors.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from paper.engine import Engine
from paper.protocols.pionex import PionexProtocol
from paper.server import GATES, build_app
from paper.windows import ExchangeLimit

# The official example credentials (facts section 2).
KEY = "OElNn5D_Frnf5MR0ChjYdG7PunK0AOgHTvevwzWS"
SECRET = "NFqv4MB3hB0SOiEsJNDP9e0jDdKPWbDqS_Z1dbU4"
READ_ONLY_KEY, READ_ONLY_SECRET = "pionex-read-only-key", "pionex-read-only-secret"
FROZEN = 1_700_000_000.0
NOW_MS = int(FROZEN * 1000)


def facts_sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def facts_payload(method: str, path: str, query: list[tuple[str, str]], body: str) -> str:
    """Sort the query by key, join raw, METHOD + path + "?" + joined, then the body."""
    joined = "&".join(f"{key}={value}" for key, value in sorted(query))
    return f"{method}{path}?{joined}{body}"


# -- the signer used below reproduces the facts file's vectors ------------------------------

VECTORS = [
    # TV1 (official): a GET with a body appended, as the GitBook prints it
    (
        "GET",
        "/api/v1/trade/allOrders",
        [("symbol", "BTC_USDT"), ("limit", "1")],
        '{"symbol": "BTC_USDT"}',
        "ec83d21e1237cbe7e0172f79c0e3a4741c86f6b201ba762f21149bf195519be1",
    ),
    (
        "GET",
        "/api/v1/trade/allOrders",
        [("symbol", "BTC_USDT"), ("limit", "1")],
        "",
        "25dbbd2a6478ec4870653249d644cfb246eee4da347645cc98373f275e189242",
    ),
    (
        "GET",
        "/api/v1/account/balances",
        [],
        "",
        "44e214dd6182dd25494194d6c3be68c4fb2f13a4091498058604b5d6fbf1648b",
    ),
    (
        "POST",
        "/api/v1/trade/order",
        [],
        '{"symbol":"BTC_USDT","side":"BUY","type":"LIMIT","clientOrderId":"myorder-001",'
        '"size":"0.001","price":"20000"}',
        "e8eda41728736cf7e8a788abed6671a1c0477fe4756310004d5de9d4f869db0b",
    ),
    (
        "DELETE",
        "/api/v1/trade/order",
        [],
        '{"symbol":"BTC_USDT","orderId":123456789}',
        "a53f9536386cc2666bb697fa0aa58c6b959035c789bf93f9fd246bf45c9a7e6a",
    ),
]


@pytest.mark.parametrize(("method", "path", "query", "body", "expected"), VECTORS)
def test_the_test_signer_reproduces_the_facts_vectors(method, path, query, body, expected):
    payload = facts_payload(method, path, [*query, ("timestamp", "1655896754515")], body)
    assert facts_sign(SECRET, payload) == expected


# -- a signed client against the mounted adapter --------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = FROZEN

    def __call__(self) -> float:
        return self.now


class Pionex:
    def __init__(self, client: TestClient, engine: Engine, clock: Clock, app: Any) -> None:
        self.client, self.engine, self.clock, self.app = client, engine, clock, app

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        key: str = KEY,
        secret: str = SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
        body_text: str | None = None,
        drop: tuple[str, ...] = (),
    ) -> tuple[int, dict[str, Any], Any]:
        query: list[tuple[str, str]] = []
        body = ""
        if method == "GET":
            query = [(k, str(v)) for k, v in (params or {}).items()]
        elif params is not None:
            body = json.dumps(params, separators=(",", ":"))
        if body_text is not None:
            body = body_text
        if "timestamp" not in drop:
            stamp = NOW_MS if timestamp is None else timestamp
            query.append(("timestamp", str(stamp)))
        headers = {
            "PIONEX-KEY": key,
            "Content-Type": "application/json",
            "PIONEX-SIGNATURE": signature
            or facts_sign(secret, facts_payload(method, path, query, body)),
        }
        for name in drop:
            headers.pop(name, None)
        # sent unsorted on purpose: the server must sort before it verifies
        url = "/pionex" + path + "?" + "&".join(f"{k}={v}" for k, v in reversed(query))
        response = await self.client.request(method, url, data=body or None, headers=headers)
        return response.status, await response.json(), response.headers

    async def ok(
        self, method: str, path: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        status, answer, _ = await self.call(method, path, params, **kwargs)
        assert (status, answer["result"]) == (200, True), answer
        assert answer["timestamp"] == NOW_MS
        return answer.get("data")

    async def refused(
        self, method: str, path: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> tuple[int, str]:
        status, answer, _ = await self.call(method, path, params, **kwargs)
        assert answer["result"] is False and answer["message"], answer
        assert set(answer) == {"result", "code", "message", "timestamp"}
        return status, answer["code"]

    def signature_failures(self) -> int:
        return self.app[GATES]["pionex"].signature_failures


def run(
    scenario: Callable[[Pionex], Awaitable[None]], *, balances: dict[str, str] | None = None
) -> None:
    async def main() -> None:
        clock = Clock()
        engine = Engine(None, clock=clock)
        funds = {k: Decimal(v) for k, v in (balances or {"USDT": "100000", "BTC": "2"}).items()}
        engine.upsert_account("pionex", api_key=KEY, api_secret=SECRET, balances=funds)
        engine.upsert_account(
            "pionex",
            api_key=READ_ONLY_KEY,
            api_secret=READ_ONLY_SECRET,
            balances=funds,
            permissions=["read"],
        )
        app = build_app(engine, protocols=[PionexProtocol], limits={})
        async with TestClient(TestServer(app)) as client:
            await scenario(Pionex(client, engine, clock, app))

    asyncio.run(main())


SPOT_LIMIT = {
    "symbol": "BTC_USDT",
    "side": "BUY",
    "type": "LIMIT",
    "size": "0.001",
    "price": "30000",
    "clientOrderId": "ec-spot-0001",
}
PERP_LIMIT = {
    "symbol": "BTC_USDT_PERP",
    "side": "BUY",
    "type": "LIMIT",
    "size": "0.01",
    "price": "30000",
    "clientOrderId": "ec-perp-0001",
}


# -- authentication -------------------------------------------------------------------------


def test_a_request_signed_per_the_facts_is_accepted():
    async def scenario(px: Pionex) -> None:
        data = await px.ok("GET", "/api/v1/account/balances")
        assert data == {
            "balances": [
                {"coin": "BTC", "free": "2.00000000", "frozen": "0.00000000"},
                {"coin": "USDT", "free": "100000.00000000", "frozen": "0.00000000"},
            ]
        }
        assert px.signature_failures() == 0

    run(scenario)


def test_the_official_get_with_a_body_construction_is_accepted():
    # TV1 signs a GET with a body appended; the server appends whatever body arrives.
    async def scenario(px: Pionex) -> None:
        data = await px.ok(
            "GET",
            "/api/v1/trade/allOrders",
            {"symbol": "BTC_USDT", "limit": 1},
            body_text='{"symbol": "BTC_USDT"}',
        )
        assert data == {"orders": []}

    run(scenario)


def test_a_signed_post_with_the_exact_body_is_accepted():
    async def scenario(px: Pionex) -> None:
        data = await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT)
        assert isinstance(data["orderId"], int) and data["clientOrderId"] == "ec-spot-0001"

    run(scenario)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"signature": "0" * 64}, "INVALID_SIGNATURE"),
        ({"secret": "not-the-secret"}, "INVALID_SIGNATURE"),
        ({"key": "unknown-key"}, "INVALID_APIKEY"),
        ({"timestamp": NOW_MS - 20_001}, "INVALID_TIMESTAMP"),
        ({"timestamp": NOW_MS + 20_001}, "INVALID_TIMESTAMP"),
        ({"drop": ("timestamp",)}, "INVALID_TIMESTAMP"),
        ({"drop": ("PIONEX-KEY",)}, "APIKEY_LOST"),
        ({"drop": ("PIONEX-SIGNATURE",)}, "SIGNATURE_LOST"),
    ],
)
def test_bad_authentication_is_refused_with_pionex_codes(change, code):
    async def scenario(px: Pionex) -> None:
        assert await px.refused("GET", "/api/v1/account/balances", **change) == (401, code)
        assert px.signature_failures() == 1

    run(scenario)


def test_a_timestamp_inside_twenty_seconds_is_accepted():
    async def scenario(px: Pionex) -> None:
        await px.ok("GET", "/api/v1/account/balances", timestamp=NOW_MS - 19_000)
        await px.ok("GET", "/api/v1/account/balances", timestamp=NOW_MS + 19_000)

    run(scenario)


def test_a_body_that_differs_from_the_signed_one_is_refused():
    async def scenario(px: Pionex) -> None:
        signed = json.dumps(SPOT_LIMIT, separators=(",", ":"))
        signature = facts_sign(
            SECRET,
            facts_payload("POST", "/api/v1/trade/order", [("timestamp", str(NOW_MS))], signed),
        )
        spaced = json.dumps(SPOT_LIMIT)  # same object, other bytes
        assert await px.refused(
            "POST", "/api/v1/trade/order", body_text=spaced, signature=signature
        ) == (401, "INVALID_SIGNATURE")
        assert px.engine.order_stats("pionex").orders_accepted == 0

    run(scenario)


def test_a_read_only_key_may_read_but_not_trade():
    async def scenario(px: Pionex) -> None:
        keys = {"key": READ_ONLY_KEY, "secret": READ_ONLY_SECRET}
        await px.ok("GET", "/api/v1/account/balances", **keys)
        assert await px.refused("POST", "/api/v1/trade/order", SPOT_LIMIT, **keys) == (
            401,
            "PERMISSION_DENIED",
        )
        assert await px.refused(
            "POST",
            "/uapi/v1/account/leverage",
            {"symbol": "BTC_USDT_PERP", "leverage": "5"},
            **keys,
        ) == (401, "PERMISSION_DENIED")
        assert px.signature_failures() == 0

    run(scenario)


# -- spot trading ---------------------------------------------------------------------------


def test_spot_limit_order_round_trip_open_lookup_cancel():
    async def scenario(px: Pionex) -> None:
        order_id = (await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT))["orderId"]
        by_id = await px.ok("GET", "/api/v1/trade/order", {"orderId": order_id})
        by_client = await px.ok(
            "GET", "/api/v1/trade/orderByClientOrderId", {"clientOrderId": "ec-spot-0001"}
        )
        assert by_id == by_client
        assert {
            k: by_id[k]
            for k in (
                "orderId",
                "symbol",
                "type",
                "side",
                "price",
                "size",
                "filledSize",
                "status",
                "IOC",
                "clientOrderId",
            )
        } == {
            "orderId": order_id,
            "symbol": "BTC_USDT",
            "type": "LIMIT",
            "side": "BUY",
            "price": "30000",
            "size": "0.001",
            "filledSize": "0",
            "status": "OPEN",
            "IOC": False,
            "clientOrderId": "ec-spot-0001",
        }
        open_orders = await px.ok("GET", "/api/v1/trade/openOrders", {"symbol": "BTC_USDT"})
        assert [o["orderId"] for o in open_orders["orders"]] == [order_id]
        balances = (await px.ok("GET", "/api/v1/account/balances"))["balances"]
        assert balances[1] == {"coin": "USDT", "free": "99970.00000000", "frozen": "30.00000000"}
        # cancel takes symbol + orderId in a JSON body and answers the bare envelope
        status, answer, _ = await px.call(
            "DELETE", "/api/v1/trade/order", {"symbol": "BTC_USDT", "orderId": order_id}
        )
        assert status == 200 and answer == {"result": True, "timestamp": NOW_MS}
        closed = await px.ok("GET", "/api/v1/trade/order", {"orderId": order_id})
        assert (closed["status"], closed["filledSize"]) == ("CLOSED", "0")
        assert await px.refused(
            "DELETE", "/api/v1/trade/order", {"symbol": "BTC_USDT", "orderId": order_id}
        ) == (400, "TRADE_OPERATION_DENIED")

    run(scenario)


def test_spot_market_buy_is_sized_in_quote_and_reports_amounts():
    async def scenario(px: Pionex) -> None:
        order_id = (
            await px.ok(
                "POST",
                "/api/v1/trade/order",
                {
                    "symbol": "BTC_USDT",
                    "side": "BUY",
                    "type": "MARKET",
                    "amount": "60.6",
                    "clientOrderId": "ec-mkt-1",
                },
            )
        )["orderId"]
        order = await px.ok("GET", "/api/v1/trade/order", {"orderId": order_id})
        assert (order["status"], order["size"], order["amount"]) == ("CLOSED", "", "60.6")
        assert (order["filledSize"], order["filledAmount"]) == ("0.00101", "60.6")
        sell = await px.ok(
            "POST",
            "/api/v1/trade/order",
            {"symbol": "BTC_USDT", "side": "SELL", "type": "MARKET", "size": "0.001"},
        )
        assert "clientOrderId" not in sell
        sold = await px.ok("GET", "/api/v1/trade/order", {"orderId": sell["orderId"]})
        assert (sold["filledSize"], sold["amount"], sold["clientOrderId"]) == ("0.001", "", "")

    run(scenario)


def test_partial_fill_stays_open_with_its_filled_size():
    async def scenario(px: Pionex) -> None:
        order_id = (await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT))["orderId"]
        px.engine.fill("pionex", order_id=str(order_id), quantity=Decimal("0.0004"))
        order = await px.ok("GET", "/api/v1/trade/order", {"orderId": order_id})
        assert (order["status"], order["filledSize"], order["filledAmount"]) == (
            "OPEN",
            "0.0004",
            "12",
        )
        history = await px.ok("GET", "/api/v1/trade/allOrders", {"symbol": "BTC_USDT"})
        assert [o["orderId"] for o in history["orders"]] == [order_id]
        await px.ok("DELETE", "/api/v1/trade/allOrders", {"symbol": "BTC_USDT"})
        assert (await px.ok("GET", "/api/v1/trade/openOrders", {"symbol": "BTC_USDT"}))[
            "orders"
        ] == []

    run(scenario)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (SPOT_LIMIT | {"symbol": "NOPE_USDT"}, "TRADE_INVALID_SYMBOL"),
        (SPOT_LIMIT | {"symbol": "BTC_USDT_PERP"}, "TRADE_INVALID_SYMBOL"),
        (SPOT_LIMIT | {"clientOrderId": "has_underscore"}, "TRADE_PARAMETER_ERROR"),
        (SPOT_LIMIT | {"clientOrderId": "x" * 65}, "TRADE_PARAMETER_ERROR"),
        (SPOT_LIMIT | {"side": "LONG"}, "TRADE_PARAMETER_ERROR"),
        (SPOT_LIMIT | {"type": "STOP"}, "TRADE_PARAMETER_ERROR"),
        (SPOT_LIMIT | {"price": "abc"}, "TRADE_PARAMETER_ERROR"),
        ({k: v for k, v in SPOT_LIMIT.items() if k != "price"}, "TRADE_PARAMETER_ERROR"),
        (SPOT_LIMIT | {"size": "0.0000001"}, "TRADE_SIZE_FILTER_DENIED"),
        (SPOT_LIMIT | {"price": "30000.001"}, "TRADE_PRICE_FILTER_DENIED"),
        (SPOT_LIMIT | {"size": "10"}, "TRADE_NOT_ENOUGH_MONEY"),
        (
            {"symbol": "BTC_USDT", "side": "BUY", "type": "MARKET", "size": "0.001"},
            "TRADE_PARAMETER_ERROR",
        ),
        (
            {"symbol": "BTC_USDT", "side": "BUY", "type": "MARKET", "amount": "0.01"},
            "TRADE_AMOUNT_FILTER_DENIED",
        ),
    ],
)
def test_bad_spot_orders_get_pionex_business_codes(body, code):
    async def scenario(px: Pionex) -> None:
        assert await px.refused("POST", "/api/v1/trade/order", body) == (400, code)
        assert px.signature_failures() == 0

    run(scenario)


def test_a_body_that_is_not_json_is_a_parameter_error():
    async def scenario(px: Pionex) -> None:
        assert await px.refused("POST", "/api/v1/trade/order", body_text="size=1") == (
            400,
            "TRADE_PARAMETER_ERROR",
        )

    run(scenario)


def test_a_client_order_id_is_refused_again_even_after_cancel():
    async def scenario(px: Pionex) -> None:
        order_id = (await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT))["orderId"]
        await px.ok("DELETE", "/api/v1/trade/order", {"symbol": "BTC_USDT", "orderId": order_id})
        assert await px.refused("POST", "/api/v1/trade/order", SPOT_LIMIT) == (
            400,
            "TRADE_REPEAT_CLIENT_ORDER_ID",
        )
        assert px.engine.order_stats("pionex").orders_by_client_id["ec-spot-0001"] == 2

    run(scenario)


def test_unknown_orders_are_not_found():
    async def scenario(px: Pionex) -> None:
        for path, params in [
            ("/api/v1/trade/order", {"orderId": 42}),
            ("/api/v1/trade/orderByClientOrderId", {"clientOrderId": "nope"}),
        ]:
            assert await px.refused("GET", path, params) == (400, "TRADE_ORDER_NOT_FOUND")
        assert await px.refused(
            "DELETE", "/api/v1/trade/order", {"symbol": "BTC_USDT", "orderId": 42}
        ) == (400, "TRADE_ORDER_NOT_FOUND")
        assert await px.refused("GET", "/api/v1/trade/order", {"orderId": "x"}) == (
            400,
            "TRADE_PARAMETER_ERROR",
        )
        assert await px.refused("GET", "/api/v1/trade/openOrders") == (400, "TRADE_PARAMETER_ERROR")

    run(scenario)


# -- perpetuals -----------------------------------------------------------------------------


def test_perpetual_market_order_opens_a_signed_position():
    async def scenario(px: Pionex) -> None:
        await px.ok(
            "POST", "/uapi/v1/account/leverage", {"symbol": "BTC_USDT_PERP", "leverage": "5"}
        )
        leverage = await px.ok("GET", "/uapi/v1/account/leverage", {"symbol": "BTC_USDT_PERP"})
        assert leverage == {"symbol": "BTC_USDT_PERP", "leverage": "5"}
        assert (await px.ok("GET", "/uapi/v1/account/positionMode")) == {"positionMode": "BUYSELL"}
        placed = await px.ok(
            "POST",
            "/uapi/v1/trade/order",
            {
                "symbol": "BTC_USDT_PERP",
                "side": "SELL",
                "type": "MARKET_QTY",
                "size": "0.01",
                "clientOrderId": "ec-perp-mkt",
            },
        )
        assert list(placed) == ["orderId"]  # asynchronous: only the id comes back
        order = await px.ok(
            "GET",
            "/uapi/v1/trade/orderByClientOrderId",
            {"symbol": "BTC_USDT_PERP", "clientOrderId": "ec-perp-mkt"},
        )
        assert (order["type"], order["status"], order["filledSize"], order["positionSide"]) == (
            "MARKET_QTY",
            "CLOSED",
            "0.01",
            "BOTH",
        )
        (position,) = (await px.ok("GET", "/uapi/v1/account/positions"))["positions"]
        assert {
            k: position[k]
            for k in (
                "symbol",
                "positionSide",
                "netSize",
                "avgPrice",
                "sizeLong",
                "sizeShort",
                "leverage",
            )
        } == {
            "symbol": "BTC_USDT_PERP",
            "positionSide": "SHORT",
            "netSize": "-0.01",
            "avgPrice": "60000",
            "sizeLong": "0",
            "sizeShort": "-0.01",
            "leverage": "5",
        }
        detail = await px.ok("GET", "/uapi/v1/account/detail")
        usdt = next(b for b in detail["balances"] if b["coin"] == "USDT")
        assert usdt["totalInitialMargin"] == "120.00000000"
        await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT)  # newer, but spot
        history = await px.ok("GET", "/uapi/v1/trade/historyOrders", {"limit": 1})
        assert [o["orderId"] for o in history["orders"]] == [placed["orderId"]]

    run(scenario)


def test_perpetual_limit_orders_rest_and_cancel_by_order_id_only():
    async def scenario(px: Pionex) -> None:
        order_id = (await px.ok("POST", "/uapi/v1/trade/order", PERP_LIMIT))["orderId"]
        order = await px.ok(
            "GET", "/uapi/v1/trade/order", {"symbol": "BTC_USDT_PERP", "orderId": order_id}
        )
        assert (order["type"], order["status"], order["origSize"], order["reduceOnly"]) == (
            "LIMIT",
            "OPEN",
            "0.01",
            False,
        )
        assert [
            o["orderId"] for o in (await px.ok("GET", "/uapi/v1/trade/openOrders"))["orders"]
        ] == [order_id]
        assert await px.refused(
            "GET", "/uapi/v1/trade/order", {"symbol": "ETH_USDT_PERP", "orderId": order_id}
        ) == (400, "TRADE_ORDER_NOT_FOUND")
        assert await px.refused("GET", "/api/v1/trade/order", {"orderId": order_id}) == (
            400,
            "TRADE_ORDER_NOT_FOUND",
        )  # a perpetual order is not a spot order
        await px.ok("DELETE", "/uapi/v1/trade/allOrders", {"symbol": "BTC_USDT_PERP"})
        assert (await px.ok("GET", "/uapi/v1/trade/openOrders"))["orders"] == []
        assert (await px.ok("GET", "/uapi/v1/account/positions"))["positions"] == []

    run(scenario)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (PERP_LIMIT | {"type": "POSTONLY", "price": "70000"}, "TRADE_OPERATION_DENIED"),
        (PERP_LIMIT | {"type": "MARKET_QTY", "reduceOnly": True}, "TRADE_OPERATION_DENIED"),
        (PERP_LIMIT | {"positionSide": "LONG"}, "TRADE_PARAMETER_ERROR"),
        (PERP_LIMIT | {"reduceOnly": "yes"}, "TRADE_PARAMETER_ERROR"),
        (PERP_LIMIT | {"type": "MARKET"}, "TRADE_PARAMETER_ERROR"),
        (PERP_LIMIT | {"symbol": "BTC_USDT"}, "TRADE_INVALID_SYMBOL"),
        ({k: v for k, v in PERP_LIMIT.items() if k != "size"}, "TRADE_PARAMETER_ERROR"),
        (PERP_LIMIT | {"size": "100"}, "TRADE_NOT_ENOUGH_MONEY"),
    ],
)
def test_bad_perpetual_orders_get_pionex_codes(body, code):
    async def scenario(px: Pionex) -> None:
        assert await px.refused("POST", "/uapi/v1/trade/order", body) == (400, code)

    run(scenario)


def test_leverage_outside_the_engine_range_is_a_parameter_error():
    async def scenario(px: Pionex) -> None:
        for leverage in ("0", "500", "ten"):
            assert await px.refused(
                "POST",
                "/uapi/v1/account/leverage",
                {"symbol": "BTC_USDT_PERP", "leverage": leverage},
            ) == (400, "TRADE_PARAMETER_ERROR")

    run(scenario)


# -- market data ----------------------------------------------------------------------------


def test_symbols_list_spot_by_default_and_perpetuals_on_request():
    async def scenario(px: Pionex) -> None:
        spot = (await px.ok("GET", "/api/v1/common/symbols"))["symbols"]
        btc = next(s for s in spot if s["symbol"] == "BTC_USDT")
        assert (
            btc["type"],
            btc["basePrecision"],
            btc["quotePrecision"],
            btc["minAmount"],
            btc["minTradeSize"],
        ) == ("SPOT", 5, 2, "5", "0.00001")
        perp = (await px.ok("GET", "/api/v1/common/symbols", {"type": "PERP"}))["symbols"]
        btc_perp = next(s for s in perp if s["symbol"] == "BTC_USDT_PERP")
        assert (btc_perp["baseStep"], btc_perp["quoteStep"], btc_perp["minNotional"]) == (
            "0.001",
            "0.1",
            "5",
        )
        assert {s["symbol"] for s in spot}.isdisjoint(s["symbol"] for s in perp)
        chosen = await px.ok("GET", "/api/v1/common/symbols", {"symbols": "ETH_USDT,ETH_USDT_PERP"})
        assert [s["symbol"] for s in chosen["symbols"]] == ["ETH_USDT", "ETH_USDT_PERP"]

    run(scenario)


def test_tickers_and_book_tickers_quote_the_engine_price():
    async def scenario(px: Pionex) -> None:
        (ticker,) = (await px.ok("GET", "/api/v1/market/tickers", {"symbol": "BTC_USDT"}))[
            "tickers"
        ]
        assert (ticker["symbol"], ticker["close"], ticker["time"]) == ("BTC_USDT", "60000", NOW_MS)
        (book,) = (await px.ok("GET", "/api/v1/market/bookTickers", {"symbol": "ETH_USDT_PERP"}))[
            "tickers"
        ]
        assert (book["bidPrice"], book["askPrice"]) == ("3000", "3000")
        status, answer, _ = await px.call("GET", "/api/v1/market/tickers", {"symbol": "NOPE_USDT"})
        assert (status, answer["code"]) == (400, "MARKET_INVALID_SYMBOL")

    run(scenario)


# -- weights, rate limits, server errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "weight"),
    [
        ("POST", "/pionex/api/v1/trade/order", 1),
        ("GET", "/pionex/api/v1/account/balances", 1),
        ("GET", "/pionex/api/v1/trade/openOrders?symbol=BTC_USDT", 5),
        ("GET", "/pionex/api/v1/trade/allOrders?symbol=BTC_USDT", 5),
        ("GET", "/pionex/api/v1/common/symbols", 5),
        ("GET", "/pionex/api/v1/market/tickers?symbol=BTC_USDT", 1),
        ("GET", "/pionex/api/v1/market/tickers?symbol=BTC_USDT_PERP", 5),
        ("POST", "/pionex/uapi/v1/trade/order", 5),
        ("GET", "/pionex/uapi/v1/account/balances", 5),
    ],
)
def test_request_weights_follow_the_facts(method, path, weight):
    protocol = PionexProtocol(Engine(None))
    assert protocol.request_weight(make_mocked_request(method, path)) == weight


def test_rate_limit_answer_is_a_429_with_the_pionex_envelope_and_no_retry_after():
    async def scenario(px: Pionex) -> None:
        await px.client.post("/_paper/faults", json={"exchange": "pionex", "rateLimit429Rate": 1.0})
        status, answer, headers = await px.call("GET", "/api/v1/account/balances")
        assert status == 429 and answer["result"] is False
        assert answer["code"] == "TOO_MANY_REQUESTS" and "Retry-After" not in headers

    run(scenario)


def test_server_error_is_a_503():
    assert PionexProtocol(Engine(None)).server_error().status == 503


def test_enforced_limits_refuse_the_eleventh_weight_in_a_second():
    async def scenario(px: Pionex) -> None:
        await px.client.post(
            "/_paper/faults", json={"exchange": "pionex", "enforceRateLimits": True}
        )
        for _ in range(2):  # 5 + 5 = 10: the whole per-second budget of the table
            await px.ok("GET", "/api/v1/trade/allOrders", {"symbol": "BTC_USDT"})
        status, answer, _ = await px.call("GET", "/api/v1/account/balances")
        assert (status, answer["code"]) == (429, "TOO_MANY_REQUESTS")

    async def main() -> None:
        clock = Clock()
        engine = Engine(None, clock=clock)
        engine.upsert_account(
            "pionex", api_key=KEY, api_secret=SECRET, balances={"USDT": Decimal("1000")}
        )
        app = build_app(
            engine,
            protocols=[PionexProtocol],
            limits={"pionex": ExchangeLimit(per_second=10, per_minute=100, concurrent=3)},
        )
        async with TestClient(TestServer(app)) as client:
            await scenario(Pionex(client, engine, clock, app))

    asyncio.run(main())


# -- fills (GET /api/v1/trade/fills, /uapi/v1/trade/fills) -------------------------------------


def test_spot_and_futures_fills_list_one_symbols_trades_with_weight_5():
    async def scenario(px: Pionex) -> None:
        placed = await px.ok("POST", "/api/v1/trade/order", SPOT_LIMIT)
        px.engine.fill("pionex", order_id=str(placed["orderId"]))
        perp = await px.ok(
            "POST",
            "/uapi/v1/trade/order",
            {
                "symbol": "BTC_USDT_PERP",
                "side": "SELL",
                "type": "MARKET_QTY",
                "size": "0.01",
                "clientOrderId": "ec-perp-fills",
            },
        )
        spot = await px.ok("GET", "/api/v1/trade/fills", {"symbol": "BTC_USDT"})
        [fill] = spot["fills"]
        assert (fill["orderId"], fill["symbol"], fill["side"], fill["role"]) == (
            placed["orderId"],
            "BTC_USDT",
            "BUY",
            "MAKER",
        )
        assert (fill["price"], fill["size"], fill["feeCoin"]) == ("30000", "0.001", "BTC")
        futures = await px.ok(
            "GET", "/uapi/v1/trade/fills", {"symbol": "BTC_USDT_PERP", "limit": 10}
        )
        [trade] = futures["fills"]
        assert (trade["orderId"], trade["side"], trade["role"], trade["feeType"]) == (
            perp["orderId"],
            "SELL",
            "TAKER",
            "TRADING",
        )
        later = await px.ok(
            "GET", "/api/v1/trade/fills", {"symbol": "BTC_USDT", "startTime": NOW_MS + 1}
        )
        assert later["fills"] == []

    run(scenario)


def test_fills_need_a_symbol_of_the_product():
    async def scenario(px: Pionex) -> None:
        assert (await px.refused("GET", "/api/v1/trade/fills", {}))[1] == "TRADE_PARAMETER_ERROR"
        assert (await px.refused("GET", "/uapi/v1/trade/fills", {"symbol": "BTC_USDT"}))[1] != ""

    run(scenario)
