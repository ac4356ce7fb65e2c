"""The OrangeX paper adapter over real HTTP (aiohttp test server) on a real Engine.

The client side here is written from the facts file (docs/exchanges/orangex.md),
not from the adapter or from exchanges/orangex.py: JSON-RPC 2.0 bodies, /public/auth, the
double-hex client_signature, ``Authorization: bearer <token>``.
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
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from paper.engine import Engine
from paper.protocols.orangex import OrangexProtocol, sign_client_signature

# the official SDK vector (facts section 2)
CLIENT_ID = "e429d4d1"
CLIENT_SECRET = "testclientSecret"
TIMESTAMP = 1648544509453
NONCE = "401000476306309121"
INTERMEDIATE = "dce523fe2731c55ff30d775bdcb2b1b3cc4295ad69f90cba686fae224bbbb032"
SIGNATURE = (
    "64636535323366653237333163353566663330643737356264636232623162336363343239356164"
    "363966393063626136383666616532323462626262303332"
)
READ_ONLY_ID = "readonly01"
BTC = "BTC-USDT-PERPETUAL"


def facts_signature(secret: str, client_id: str, timestamp: str, nonce: str) -> str:
    """From the facts: hex(HMAC-SHA256(secret, id\\nts\\nnonce\\n)), then hex of that text."""
    string_to_sign = client_id + "\n" + timestamp + "\n" + nonce + "\n"
    first = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return "".join(f"{ord(char):02x}" for char in first)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


class Exchange:
    """One running adapter: an aiohttp TestClient plus what the handlers flagged."""

    def __init__(
        self, client: TestClient, engine: Engine, clock: Clock, flags: list[dict[str, bool]]
    ) -> None:
        self.client, self.engine, self.clock, self.flags = client, engine, clock, flags
        self.next_id = 0

    async def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        verb: str = "POST",
    ) -> tuple[int, dict[str, Any]]:
        self.next_id += 1
        headers = {"Authorization": f"bearer {token}"} if token else {}
        url = f"/orangex/api/v1{method}"
        if verb == "GET":
            response = await self.client.get(url, params=params or {}, headers=headers)
        else:
            body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
            response = await self.client.post(
                url, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
            )
        return response.status, await response.json()

    async def result(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        status, body = await self.call(method, params, **kwargs)
        assert status == 200 and "error" not in body, body
        return body["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None, **kwargs: Any) -> int:
        status, body = await self.call(method, params, **kwargs)
        assert status == 200, "OrangeX answers errors with HTTP 200"
        assert set(body) == {"jsonrpc", "id", "error"} and body["jsonrpc"] == "2.0"
        return body["error"]["code"]

    async def token(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
        granted = await self.result(
            "/public/auth",
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        )
        return granted["access_token"]


Scenario = Callable[[Exchange], Awaitable[None]]


def run(scenario: Scenario, *, hedge_mode: bool = False) -> None:
    asyncio.run(_serve(scenario, hedge_mode))


async def _serve(scenario: Scenario, hedge_mode: bool) -> None:
    clock = Clock(TIMESTAMP)
    engine = Engine(None, clock=clock)
    protocol = OrangexProtocol(engine)
    engine.register_exchange("orangex", duplicate_scope=protocol.duplicate_scope)
    account, _ = engine.upsert_account(
        "orangex", api_key=CLIENT_ID, api_secret=CLIENT_SECRET, balances={"USDT": Decimal("10000")}
    )
    engine.set_hedge_mode(account, hedge_mode)
    engine.upsert_account(
        "orangex",
        api_key=READ_ONLY_ID,
        api_secret="readonly-secret",
        balances={"USDT": Decimal("10")},
        permissions=["read"],
    )
    flags: list[dict[str, bool]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        flags.append(
            {key: bool(request.get(key)) for key in ("signature_failed", "order_accepted")}
        )
        return response

    sub_app = web.Application(middlewares=[record])
    sub_app.add_routes(protocol.routes())
    app = web.Application()
    app.add_subapp("/orangex", sub_app)
    async with TestClient(TestServer(app)) as client:
        await scenario(Exchange(client, engine, clock, flags))


def limit_buy(**changes: Any) -> dict[str, Any]:
    params = {
        "instrument_name": BTC,
        "amount": "0.01",
        "type": "limit",
        "price": "50000",
        "custom_order_id": "ec0123456789abcdef0123456789abcd",
    }
    params.update(changes)
    return params


# -- signing ----------------------------------------------------------------------------------


def test_the_facts_signer_reproduces_the_official_sdk_vector():
    string_to_sign = f"{CLIENT_ID}\n{TIMESTAMP}\n{NONCE}\n"
    assert (
        hmac.new(CLIENT_SECRET.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        == INTERMEDIATE
    )
    assert facts_signature(CLIENT_SECRET, CLIENT_ID, str(TIMESTAMP), NONCE) == SIGNATURE
    assert len(SIGNATURE) == 128


def test_the_adapter_verifies_with_the_same_double_hex_signature():
    assert sign_client_signature(CLIENT_SECRET, CLIENT_ID, str(TIMESTAMP), NONCE) == SIGNATURE


def test_client_signature_signed_per_the_official_vector_gets_a_token():
    async def scenario(exchange: Exchange) -> None:
        granted = await exchange.result(
            "/public/auth",
            {
                "grant_type": "client_signature",
                "client_id": CLIENT_ID,
                "timestamp": str(TIMESTAMP),
                "nonce": NONCE,
                "signature": SIGNATURE,
            },
        )
        assert granted["token_type"] == "bearer"
        assert granted["expires_in"] == 43199
        assert granted["scope"] == "account:read_write trade:read_write wallet:read"
        assert granted["refresh_token"] and granted["access_token"]
        assert exchange.flags[-1]["signature_failed"] is False
        info = await exchange.result(
            "/private/get_assets_info", {"asset_type": ["PERPETUAL"]}, token=granted["access_token"]
        )
        assert info["PERPETUAL"]["available_funds"] == "10000"

    run(scenario)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"signature": SIGNATURE[:-2] + "30"}, "a wrong signature"),
        ({"signature": INTERMEDIATE}, "the plain 64-char hex the docs describe"),
        ({"signature": INTERMEDIATE.upper()}, "upper-case plain hex"),
        (
            {
                "timestamp": str(TIMESTAMP - 61_000),
                "signature": facts_signature(
                    CLIENT_SECRET, CLIENT_ID, str(TIMESTAMP - 61_000), NONCE
                ),
            },
            "a stale timestamp",
        ),
        (
            {
                "timestamp": str(TIMESTAMP // 1000),
                "signature": facts_signature(
                    CLIENT_SECRET, CLIENT_ID, str(TIMESTAMP // 1000), NONCE
                ),
            },
            "a timestamp in seconds",
        ),
        (
            {
                "client_id": "unknown01",
                "signature": facts_signature(CLIENT_SECRET, "unknown01", str(TIMESTAMP), NONCE),
            },
            "an unknown key",
        ),
        ({"signature": ""}, "no signature"),
    ],
)
def test_bad_client_signatures_are_refused_with_authentication_failure(changes, reason):
    async def scenario(exchange: Exchange) -> None:
        params = {
            "grant_type": "client_signature",
            "client_id": CLIENT_ID,
            "timestamp": str(TIMESTAMP),
            "nonce": NONCE,
            "signature": SIGNATURE,
        }
        assert await exchange.error("/public/auth", {**params, **changes}) == 10000, reason
        assert exchange.flags[-1]["signature_failed"] is True

    run(scenario)


def test_client_credentials_grant_and_its_refusals():
    async def scenario(exchange: Exchange) -> None:
        assert await exchange.token()
        for params in (
            {"client_id": CLIENT_ID, "client_secret": "wrong"},
            {"client_id": "unknown01", "client_secret": CLIENT_SECRET},
        ):
            code = await exchange.error(
                "/public/auth", {"grant_type": "client_credentials", **params}
            )
            assert code == 10000
            assert exchange.flags[-1]["signature_failed"] is True
        assert await exchange.error("/public/auth", {"grant_type": "password"}) == 8000

    run(scenario)


def test_the_sdk_get_form_of_auth_works_too():
    async def scenario(exchange: Exchange) -> None:
        granted = await exchange.result(
            "/public/auth",
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            verb="GET",
        )
        assert granted["access_token"]

    run(scenario)


# -- tokens -------------------------------------------------------------------------------------


def test_private_calls_need_the_bearer_header_not_a_token_param():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        params = {"asset_type": ["PERPETUAL"]}
        assert await exchange.error("/private/get_assets_info", params) == 10000
        assert exchange.flags[-1]["signature_failed"] is True
        assert (
            await exchange.error("/private/get_assets_info", {**params, "access_token": token})
            == 10000
        )
        assert (
            await exchange.error("/private/get_assets_info", params, token="not-a-token") == 10000
        )
        await exchange.result("/private/get_assets_info", params, token=token)
        assert exchange.flags[-1]["signature_failed"] is False

    run(scenario)


def test_an_expired_token_fails_and_the_refresh_token_grants_a_new_one_once():
    async def scenario(exchange: Exchange) -> None:
        granted = await exchange.result(
            "/public/auth",
            {
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        )
        exchange.clock.ms += 43_199_000
        params = {"asset_type": ["PERPETUAL"]}
        assert (
            await exchange.error("/private/get_assets_info", params, token=granted["access_token"])
            == 10000
        )
        refresh = {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}
        renewed = await exchange.result("/public/auth", refresh)
        await exchange.result("/private/get_assets_info", params, token=renewed["access_token"])
        assert await exchange.error("/public/auth", refresh) == 10000

    run(scenario)


def test_a_read_only_key_gets_a_read_scope_and_access_denied_on_orders():
    async def scenario(exchange: Exchange) -> None:
        granted = await exchange.result(
            "/public/auth",
            {
                "grant_type": "client_credentials",
                "client_id": READ_ONLY_ID,
                "client_secret": "readonly-secret",
            },
        )
        assert granted["scope"] == "account:read block_trade:undefined trade:read wallet:read"
        token = granted["access_token"]
        assert await exchange.error("/private/buy", limit_buy(), token=token) == 2033
        assert await exchange.error("/private/cancel", {"order_id": "1"}, token=token) == 2033
        assert exchange.flags[-1]["signature_failed"] is False
        await exchange.result(
            "/private/get_assets_info", {"asset_type": ["PERPETUAL"]}, token=token
        )

    run(scenario)


# -- envelope and methods ---------------------------------------------------------------------


def test_success_envelope_echoes_the_id_and_carries_millisecond_times():
    async def scenario(exchange: Exchange) -> None:
        status, body = await exchange.call("/public/get_instruments", {"currency": "PERPETUAL"})
        assert status == 200
        assert body["jsonrpc"] == "2.0" and body["id"] == exchange.next_id
        assert body["usIn"] == body["usOut"] == TIMESTAMP and body["usDiff"] == 0

    run(scenario)


@pytest.mark.parametrize(
    "method",
    [
        "/public/get_time",
        "/private/cancel_by_id",
        "/private/get_open_order_by_instrument",
        "/private/get_current_account_information",
    ],
)
def test_methods_that_do_not_exist_live_answer_no_service_found(method):
    async def scenario(exchange: Exchange) -> None:
        assert await exchange.error(method, {}, token=await exchange.token()) == 1000

    run(scenario)


def test_a_body_that_is_not_json_is_a_parse_error():
    async def scenario(exchange: Exchange) -> None:
        response = await exchange.client.post(
            "/orangex/api/v1/public/get_instruments", data="not json"
        )
        assert (await response.json())["error"]["code"] == 9902

    run(scenario)


def test_instruments_list_perpetuals_with_the_swapped_currencies():
    async def scenario(exchange: Exchange) -> None:
        instruments = await exchange.result(
            "/public/get_instruments", {"currency": "PERPETUAL"}, verb="GET"
        )
        btc = next(item for item in instruments if item["instrument_name"] == BTC)
        assert (btc["base_currency"], btc["quote_currency"]) == ("USDT", "BTC")
        assert (btc["tick_size"], btc["min_trade_amount"], btc["min_notional"]) == (
            "0.1",
            "0.001",
            "5",
        )
        assert btc["kind"] == "perpetual" and btc["is_active"] is True
        assert all(item["instrument_name"].endswith("-USDT-PERPETUAL") for item in instruments)
        assert await exchange.result("/public/get_instruments", {"currency": "SANDBOX"}) == []

    run(scenario)


def test_tickers_give_last_bid_and_ask():
    async def scenario(exchange: Exchange) -> None:
        (ticker,) = await exchange.result("/public/tickers", {"instrument_name": BTC})
        assert ticker["last_price"] == ticker["best_ask_price"] == "60000"
        single = await exchange.result("/public/ticker", {"instrument_name": BTC})
        assert single["instrument_name"] == BTC
        assert await exchange.error("/public/tickers", {"instrument_name": "NOPE"}) == 5001

    run(scenario)


def test_assets_info_needs_asset_type_as_a_json_array():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        assert (
            await exchange.error(
                "/private/get_assets_info", {"asset_type": "PERPETUAL"}, token=token
            )
            == 1001
        )
        info = await exchange.result(
            "/private/get_assets_info", {"asset_type": ["PERPETUAL", "WALLET"]}, token=token
        )
        assert info["PERPETUAL"]["wallet_balance"] == "10000"
        assert info["WALLET"]["details"] == [
            {"coin_type": "USDT", "available": "10000", "freeze": "0", "total": "10000"}
        ]

    run(scenario)


# -- orders ---------------------------------------------------------------------------------------


def test_a_limit_order_rests_is_queried_listed_and_canceled():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        placed = await exchange.result("/private/buy", limit_buy(), token=token)
        assert exchange.flags[-1]["order_accepted"] is True
        # live the custom id comes back empty: only order_id identifies the order
        assert placed["order"]["custom_order_id"] == ""
        order_id = placed["order"]["order_id"]
        assert isinstance(order_id, str) and order_id.isdigit()
        state = await exchange.result(
            "/private/get_order_state", {"order_id": order_id}, token=token
        )
        assert (
            state["order_state"],
            state["direction"],
            state["amount"],
            state["price"],
            state["filled_amount"],
            state["instrument_name"],
        ) == ("open", "buy", "0.01", "50000", "0", BTC)
        listed = await exchange.result(
            "/private/get_open_orders_by_instrument", {"instrument_name": BTC}, token=token
        )
        assert [order["order_id"] for order in listed] == [order_id]
        canceled = await exchange.result("/private/cancel", {"order_id": order_id}, token=token)
        assert canceled == {"order_id": order_id}
        state = await exchange.result(
            "/private/get_order_state", {"order_id": order_id}, token=token
        )
        assert state["order_state"] == "canceled"
        assert await exchange.error("/private/cancel", {"order_id": order_id}, token=token) == 11044
        history = await exchange.result(
            "/private/get_order_history_by_instrument", {"instrument_name": BTC}, token=token
        )
        assert [order["order_id"] for order in history] == [order_id]

    run(scenario)


def test_a_market_sell_fills_and_shows_as_a_short_position():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        placed = await exchange.result(
            "/private/sell",
            {"instrument_name": BTC, "amount": "0.01", "type": "market"},
            token=token,
        )
        state = await exchange.result(
            "/private/get_order_state", {"order_id": placed["order"]["order_id"]}, token=token
        )
        assert (state["order_state"], state["filled_amount"], state["average_price"]) == (
            "filled",
            "0.01",
            "60000",
        )
        (position,) = await exchange.result(
            "/private/get_user_position", {"instrument_name": BTC}, token=token
        )
        assert (position["size"], position["position_side"], position["average_price"]) == (
            "-0.01",
            "SHORT",
            "60000",
        )
        # the documented method answered [] live even with open positions
        assert await exchange.result("/private/get_positions", {}, token=token) == []

    run(scenario)


def test_a_partial_fill_keeps_the_order_open_with_its_filled_amount():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        placed = await exchange.result("/private/buy", limit_buy(), token=token)
        order_id = placed["order"]["order_id"]
        exchange.engine.fill("orangex", order_id=order_id, quantity=Decimal("0.004"))
        state = await exchange.result(
            "/private/get_order_state", {"order_id": order_id}, token=token
        )
        assert (state["order_state"], state["filled_amount"]) == ("open", "0.004")

    run(scenario)


def test_time_in_force_post_only_and_reduce_only_reach_the_engine():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        ioc = await exchange.result(
            "/private/buy", limit_buy(time_in_force="immediate_or_cancel"), token=token
        )
        state = await exchange.result(
            "/private/get_order_state", {"order_id": ioc["order"]["order_id"]}, token=token
        )
        assert state["order_state"] == "canceled"  # an IOC that could not fill
        taker = limit_buy(price="61000", post_only=True)
        assert await exchange.error("/private/buy", taker, token=token) == 11054
        reduce = limit_buy(reduce_only=True)
        assert await exchange.error("/private/buy", reduce, token=token) == 10041

    run(scenario)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"instrument_name": "BTC-USDT-SWAP"}, 5001),
        ({"instrument_name": None}, 8000),
        ({"amount": None}, 8000),
        ({"amount": "-1"}, 8000),
        ({"amount": "0.0005"}, 8000),  # below the lot
        ({"price": None}, 8000),
        ({"price": "50000.05"}, 8000),  # off the tick
        ({"type": "stop_limit"}, 8000),
        ({"time_in_force": "good_til_day"}, 8000),
        ({"custom_order_id": "has space"}, 8000),
        ({"custom_order_id": "x" * 37}, 8000),
        ({"amount": "3"}, 10009),  # 3 x 50000 at 10x locks 15000 > 10000 USDT
    ],
)
def test_bad_orders_get_the_real_or_paper_only_codes(changes, code):
    async def scenario(exchange: Exchange) -> None:
        params = {key: value for key, value in limit_buy(**changes).items() if value is not None}
        assert await exchange.error("/private/buy", params, token=await exchange.token()) == code
        assert exchange.flags[-1]["order_accepted"] is False

    run(scenario)


def test_unknown_orders_answer_the_paper_only_not_found_code():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        assert (
            await exchange.error("/private/get_order_state", {"order_id": "123"}, token=token)
            == 10004
        )
        assert await exchange.error("/private/cancel", {"order_id": "123"}, token=token) == 10004
        assert await exchange.error("/private/cancel", {}, token=token) == 8000

    run(scenario)


def test_a_repeated_custom_order_id_is_not_refused():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        first = await exchange.result("/private/buy", limit_buy(), token=token)
        second = await exchange.result("/private/buy", limit_buy(), token=token)
        assert first["order"]["order_id"] != second["order"]["order_id"]

    run(scenario)


def test_cancel_by_instrument_and_by_currency_count_what_they_canceled():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        for _ in range(2):
            await exchange.result("/private/buy", limit_buy(), token=token)
        assert (
            await exchange.result(
                "/private/cancel_by_instrument", {"instrument_name": BTC}, token=token
            )
            == 2
        )
        await exchange.result("/private/buy", limit_buy(), token=token)
        assert (
            await exchange.result("/private/cancel_by_currency", {"currency": "USDT"}, token=token)
            == 1
        )

    run(scenario)


def test_hedge_mode_without_position_side_is_auto_canceled_with_5998():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        placed = await exchange.result("/private/buy", limit_buy(), token=token)
        order_id = placed["order"]["order_id"]
        assert len(order_id) == 18
        state = await exchange.result(
            "/private/get_order_state", {"order_id": order_id}, token=token
        )
        assert (state["order_state"], state["error_code"]) == ("canceled", 5998)
        assert "api_key" not in state
        history = await exchange.result(
            "/private/get_order_history_by_instrument", {"instrument_name": BTC}, token=token
        )
        assert [order["order_id"] for order in history] == [order_id]

    run(scenario, hedge_mode=True)


@pytest.mark.parametrize(
    "method",
    ["/private/adjust_perpetual_leverage", "/private/modify_perpetual_instrument_leverage"],
)
def test_leverage_is_set_with_either_documented_method(method):
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        result = await exchange.result(
            method, {"instrument_name": BTC, "leverage": "15"}, token=token
        )
        assert result == {"instrument_name": BTC, "leverage": 15}
        account = exchange.engine.account("orangex", CLIENT_ID)
        assert exchange.engine.leverage(account, "BTC/USDT:USDT") == 15
        for bad in ("0", "500", "2.5", "x"):
            assert (
                await exchange.error(method, {"instrument_name": BTC, "leverage": bad}, token=token)
                == 8000
            )

    run(scenario)


# -- middleware answers ---------------------------------------------------------------------------


def test_rate_limited_answer_is_429_with_retry_after_and_a_json_rpc_error():
    response = OrangexProtocol(Engine(None)).rate_limited(2.4)
    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    assert json.loads(response.text)["error"]["code"] == 10028


def test_server_error_is_a_5xx_with_the_system_error_code():
    response = OrangexProtocol(Engine(None)).server_error()
    assert response.status == 503
    assert json.loads(response.text)["error"] == {
        "code": 9999,
        "message": "System error, please try again later",
        "data": {},
    }


def test_every_request_weighs_one():
    assert OrangexProtocol(Engine(None)).request_weight(None) == 1  # type: ignore[arg-type]


# -- trade history (private/get_user_trades_by_instrument, UNVERIFIED name) ---------------------


def test_user_trades_list_one_instruments_fills_newest_first():
    async def scenario(exchange: Exchange) -> None:
        token = await exchange.token()
        placed = await exchange.result("/private/buy", limit_buy(), token=token)
        order_id = placed["order"]["order_id"]
        exchange.engine.fill("orangex", order_id=order_id, quantity=Decimal("0.004"))
        exchange.clock.ms += 1000
        exchange.engine.fill("orangex", order_id=order_id)
        result = await exchange.result(
            "/private/get_user_trades_by_instrument",
            {"instrument_name": BTC, "count": 1},
            token=token,
        )
        [newest] = result["trades"]
        assert result["has_more"] is True
        assert (newest["order_id"], newest["amount"], newest["direction"], newest["role"]) == (
            order_id,
            "0.006",
            "buy",
            "maker",
        )
        assert (newest["instrument_name"], newest["fee_coin_type"]) == (BTC, "USDT")
        both = await exchange.result(
            "/private/get_user_trades_by_instrument",
            {"instrument_name": BTC, "sorting": "asc", "count": 5},
            token=token,
        )
        assert [t["amount"] for t in both["trades"]] == ["0.004", "0.006"]
        later = await exchange.result(
            "/private/get_user_trades_by_instrument",
            {"instrument_name": BTC, "start_timestamp": newest["timestamp"] + 1},
            token=token,
        )
        assert later["trades"] == []

    run(scenario)
