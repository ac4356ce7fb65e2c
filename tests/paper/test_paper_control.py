"""The paper exchange's control API and its per-exchange gate (faults, rate limits, stats),
over real HTTP on 127.0.0.1: the ``paper_url`` subprocess, and an in-process server that
mounts a tiny dummy adapter where a test needs one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from aiohttp import web

from paper.budgets import Caller, PaperLimiter
from paper.engine import Engine, PaperAccount, PaperError
from paper.faults import FaultConfig
from paper.protocol import Protocol
from paper.published import PUBLISHED
from paper.server import build_app, load_protocols
from paper.windows import Charge, ExchangeLimit, legacy_budget
from tests.paper import REPO_ROOT, make_paper_credentials

STATS_KEYS = {
    "requests",
    "signatureFailures",
    "ordersAccepted",
    "duplicatesRefused",
    "ordersByClientId",
    "maxWeightPer1s",
    "maxWeightPer60s",
    "rateLimitViolations",
    "droppedAfterAccept",
    "truncatedAfterAccept",
    "resetAfterAccept",
    "stalledAfterAccept",
    "htmlAfterAccept",
    "trickled",
    "cancelsApplied",
    "windows",
    "streams",
    "deadMan",
}
NO_FAULTS = {
    "latencyMs": 0,
    "error5xxRate": 0.0,
    "rateLimit429Rate": 0.0,
    "retryAfterSeconds": 1.0,
    "dropAfterAcceptRate": 0.0,
    "truncateAfterAcceptRate": 0.0,
    "resetAfterAcceptRate": 0.0,
    "stallAfterAcceptMs": 0,
    "htmlAfterAcceptRate": 0.0,
    "trickleMs": 0,
    "enforceRateLimits": False,
    "seed": 0,
}
T = TypeVar("T")
SIX = {"bybit", "binance", "okx", "bingx", "pionex", "orangex"}


# -- a tiny adapter and an in-process server ----------------------------------------------


class DummyProtocol(Protocol):
    """Key in the X-KEY header, orders as a form or JSON body; /api/heavy weighs 3.
    DELETE /api/order?clientId= cancels one order, DELETE /api/orders all of them."""

    exchange = "dummy"
    duplicate_scope = "open"
    write_routes = frozenset({"POST /api/order", "DELETE /api/order", "DELETE /api/orders"})

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/time", self.time),
            web.get("/api/heavy", self.time),
            web.get("/api/slow", self.slow),
            web.post("/api/order", self.place),
            web.get("/api/order", self.lookup),
            web.delete("/api/order", self.cancel),
            web.delete("/api/orders", self.cancel_all),
        ]

    def request_weight(self, request: web.Request) -> int:
        return 3 if request.path.endswith("/heavy") else 1

    def rate_limited(self, retry_after: float) -> web.Response:
        return web.json_response(
            {"code": "slow_down"}, status=429, headers={"Retry-After": str(retry_after)}
        )

    def server_error(self) -> web.Response:
        return web.json_response({"code": "dummy_down"}, status=502)

    async def time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self.engine.now_ms()})

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return await self.time(request)

    async def place(self, request: web.Request) -> web.Response:
        account = self.engine.account(self.exchange, request.headers.get("X-KEY", ""))
        if account is None:
            request["signature_failed"] = True
            return web.json_response({"code": "bad_key"}, status=401)
        if request.content_type == "application/json":
            data = await request.json()
        else:
            data = dict(await request.post())
        try:
            order = self.engine.place_order(
                self.exchange,
                account,
                symbol=data["symbol"],
                side=data["side"],
                type=data["type"],
                quantity=Decimal(data["quantity"]),
                price=Decimal(data["price"]) if data.get("price") else None,
                client_order_id=data.get("clientId"),
            )
        except PaperError as exc:
            return web.json_response({"code": exc.kind}, status=400)
        request["order_accepted"] = True
        return web.json_response({"orderId": order.order_id, "status": order.status})

    def _account(self, request: web.Request) -> PaperAccount:
        account = self.engine.account(self.exchange, request.headers.get("X-KEY", ""))
        assert account is not None
        return account

    async def lookup(self, request: web.Request) -> web.Response:
        order = self.engine.get_order(
            self.exchange, self._account(request), client_order_id=request.query["clientId"]
        )
        return web.json_response({"status": order.status if order else "unknown"})

    async def cancel(self, request: web.Request) -> web.Response:
        try:
            order = self.engine.cancel_order(
                self.exchange, self._account(request), client_order_id=request.query["clientId"]
            )
        except PaperError as exc:
            return web.json_response({"code": exc.kind}, status=400)
        request["cancel_applied"] = True
        return web.json_response({"orderId": order.order_id, "status": order.status})

    async def cancel_all(self, request: web.Request) -> web.Response:
        canceled = self.engine.cancel_all(self.exchange, self._account(request))
        if canceled:
            request["cancel_applied"] = True
        return web.json_response({"canceled": len(canceled)})


class ThreadServer:
    """Runs an aiohttp app on 127.0.0.1 (a free port) in a thread with its own loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(app, access_log=None)
        self.url = ""
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def __enter__(self) -> ThreadServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def call(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run ``function`` on the server's loop thread (the engine is single-threaded)."""

        async def run() -> T:
            return function(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)


DUMMY_LIMIT = ExchangeLimit(per_second=100, per_minute=5, concurrent=10)


@pytest.fixture
def dummy() -> Iterator[ThreadServer]:
    engine = Engine()
    app = build_app(engine, protocols=[DummyProtocol], limits={"dummy": DUMMY_LIMIT})
    with ThreadServer(app) as server:
        server.engine = engine  # type: ignore[attr-defined]
        engine.upsert_account(
            "dummy",
            api_key="dk",
            api_secret="ds",
            balances={"USDT": Decimal("100000"), "BTC": Decimal("2")},
        )
        yield server


def order_body(**overrides: str) -> dict[str, str]:
    return {
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "quantity": "0.01",
        "price": "50000",
        **overrides,
    }


def place(
    server: ThreadServer, *, json_body: bool = False, timeout: float = 5, **overrides: str
) -> requests.Response:
    body = order_body(**overrides)
    sent = {"json": body} if json_body else {"data": body}
    return requests.post(
        f"{server.url}/dummy/api/order", headers={"X-KEY": "dk"}, timeout=timeout, **sent
    )


def cancel(server: ThreadServer, client_id: str) -> requests.Response:
    return requests.delete(
        f"{server.url}/dummy/api/order",
        params={"clientId": client_id},
        headers={"X-KEY": "dk"},
        timeout=5,
    )


def cancel_all(server: ThreadServer) -> requests.Response:
    return requests.delete(f"{server.url}/dummy/api/orders", headers={"X-KEY": "dk"}, timeout=5)


def lookup(server: ThreadServer, client_id: str) -> requests.Response:
    return requests.get(
        f"{server.url}/dummy/api/order",
        params={"clientId": client_id},
        headers={"X-KEY": "dk"},
        timeout=5,
    )


def set_faults(url: str, **faults: object) -> requests.Response:
    return requests.post(f"{url}/_paper/faults", json=faults, timeout=5)


def active_faults(url: str) -> dict:
    return requests.get(f"{url}/_paper/faults", timeout=5).json()["faults"]


def stats(url: str, exchange: str) -> dict:
    return requests.get(f"{url}/_paper/stats", timeout=5).json()["exchanges"][exchange]


# -- over the paper_url subprocess --------------------------------------------------------


def test_health_answers_ok(paper_url: str) -> None:
    assert requests.get(f"{paper_url}/_paper/health", timeout=5).json() == {"ok": True}


def test_paper_url_is_on_the_loopback_address(paper_url: str) -> None:
    assert paper_url.startswith("http://127.0.0.1:")


def test_creating_an_account_is_201_and_updating_it_200(paper_url: str) -> None:
    body = {
        "exchange": "binance",
        "apiKey": "ctl-create-1",
        "apiSecret": "secret-create-1",
        "balances": {"USDT": "1000"},
    }
    created = requests.post(f"{paper_url}/_paper/accounts", json=body, timeout=5)
    assert created.status_code == 201
    assert created.json()["account"]["balances"]["USDT"] == {"free": "1000", "locked": "0"}
    updated = requests.post(
        f"{paper_url}/_paper/accounts",
        json={**body, "balances": {"USDT": 2500}, "permissions": ["read"]},
        timeout=5,
    )
    assert updated.status_code == 200
    account = updated.json()["account"]
    assert account["balances"]["USDT"]["free"] == "2500"
    assert account["permissions"] == ["read"]


def test_account_listing_never_shows_secrets(paper_url: str) -> None:
    credentials = make_paper_credentials(paper_url, "okx")
    response = requests.get(
        f"{paper_url}/_paper/accounts",
        params={"exchange": "okx", "apiKey": credentials.api_key},
        timeout=5,
    )
    [account] = response.json()["accounts"]
    assert account["hasPassphrase"] is True
    assert account["balances"]["BTC"]["free"] == "2"
    assert credentials.api_secret not in response.text
    assert credentials.passphrase not in response.text


def test_new_account_without_balances_gets_10000_usdt(paper_url: str) -> None:
    response = requests.post(
        f"{paper_url}/_paper/accounts",
        json={"exchange": "bybit", "apiKey": "ctl-default-1", "apiSecret": "s", "hedgeMode": True},
        timeout=5,
    )
    assert response.status_code == 201
    assert response.json()["account"]["balances"] == {"USDT": {"free": "10000", "locked": "0"}}
    assert response.json()["account"]["hedgeMode"] is True


def test_make_paper_credentials_returns_working_random_credentials(paper_url: str) -> None:
    first = make_paper_credentials(paper_url, "bybit", balances={"USDT": "5"}, permissions=["read"])
    second = make_paper_credentials(paper_url, "bybit")
    assert first.api_key != second.api_key and first.api_secret != second.api_secret
    assert first.passphrase == "" and make_paper_credentials(paper_url, "okx").passphrase
    listed = requests.get(
        f"{paper_url}/_paper/accounts", params={"apiKey": first.api_key}, timeout=5
    ).json()["accounts"]
    assert listed[0]["permissions"] == ["read"]
    assert listed[0]["balances"] == {"USDT": {"free": "5", "locked": "0"}}


@pytest.mark.parametrize(
    "body",
    [
        {"apiKey": "k", "apiSecret": "s"},
        {"exchange": "kraken", "apiKey": "k", "apiSecret": "s"},
        {"exchange": "bybit", "apiSecret": "s"},
        {"exchange": "bybit", "apiKey": "", "apiSecret": "s"},
        {"exchange": "bybit", "apiKey": "k"},
        {"exchange": "okx", "apiKey": "k", "apiSecret": "s"},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "balances": {"USDT": "-1"}},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "balances": {"USDT": "lots"}},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "balances": {"usdt": "1"}},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "balances": ["USDT"]},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "balances": {"USDT": True}},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "permissions": ["everything"]},
        {"exchange": "bybit", "apiKey": "k", "apiSecret": "s", "hedgeMode": "yes"},
    ],
)
def test_bad_account_input_is_a_400_with_an_error(paper_url: str, body: dict) -> None:
    response = requests.post(f"{paper_url}/_paper/accounts", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize("path", ["accounts", "faults", "prices", "fill"])
def test_a_body_that_is_not_a_json_object_is_a_400(paper_url: str, path: str) -> None:
    for raw in ("{not json", "[1, 2]", ""):
        response = requests.post(f"{paper_url}/_paper/{path}", data=raw, timeout=5)
        assert response.status_code == 400, raw
        assert "error" in response.json()


def test_faults_can_be_set_read_and_cleared(paper_url: str, paper_reset: str) -> None:
    response = set_faults(paper_url, exchange="pionex", latencyMs=10, error5xxRate=0.25, seed=3)
    assert response.status_code == 200
    assert active_faults(paper_url) == {
        "pionex": {"*": {**NO_FAULTS, "latencyMs": 10, "error5xxRate": 0.25, "seed": 3}}
    }
    assert requests.delete(f"{paper_url}/_paper/faults", timeout=5).json() == {"ok": True}
    assert requests.get(f"{paper_url}/_paper/faults", timeout=5).json() == {"faults": {}}


@pytest.mark.parametrize("every", ["all", "*"])
def test_faults_for_every_exchange_at_once(paper_url: str, paper_reset: str, every: str) -> None:
    set_faults(paper_url, exchange=every, latencyMs=5)
    faults = active_faults(paper_url)
    assert set(faults) >= SIX
    assert faults["okx"] == {"*": {**NO_FAULTS, "latencyMs": 5}}


def test_faults_are_listed_per_exchange_and_scope(paper_url: str, paper_reset: str) -> None:
    set_faults(paper_url, exchange="binance", trickleMs=5)
    set_faults(paper_url, exchange="binance", endpoint="writes", resetAfterAcceptRate=0.5)
    set_faults(paper_url, exchange="binance", endpoint="/api/v3/order", stallAfterAcceptMs=9)
    set_faults(
        paper_url, exchange="binance", endpoint="DELETE /api/v3/order", htmlAfterAcceptRate=1
    )
    set_faults(
        paper_url,
        exchange="bybit",
        endpoint="/v5/order/create",
        truncateAfterAcceptRate=0.25,
        seed=4,
    )
    assert active_faults(paper_url) == {
        "binance": {
            "*": {**NO_FAULTS, "trickleMs": 5},
            "writes": {**NO_FAULTS, "resetAfterAcceptRate": 0.5},
            "/api/v3/order": {**NO_FAULTS, "stallAfterAcceptMs": 9},
            "DELETE /api/v3/order": {**NO_FAULTS, "htmlAfterAcceptRate": 1.0},
        },
        "bybit": {"/v5/order/create": {**NO_FAULTS, "truncateAfterAcceptRate": 0.25, "seed": 4}},
    }
    requests.delete(f"{paper_url}/_paper/faults", timeout=5).raise_for_status()
    assert active_faults(paper_url) == {}


def test_setting_a_scope_again_replaces_only_that_scope(paper_url: str, paper_reset: str) -> None:
    set_faults(paper_url, exchange="okx", error5xxRate=0.5)
    set_faults(paper_url, exchange="okx", endpoint="writes", trickleMs=10)
    set_faults(paper_url, exchange="okx", endpoint="writes", trickleMs=20)
    assert active_faults(paper_url) == {
        "okx": {"*": {**NO_FAULTS, "error5xxRate": 0.5}, "writes": {**NO_FAULTS, "trickleMs": 20}}
    }


@pytest.mark.parametrize(
    "endpoint",
    [
        None,
        "writes",
        "/api/v5/trade/order",
        "POST /api/v5/trade/order",
        "GET /api/v5/trade/order",
        "/not/served/by/okx",
    ],
)
def test_an_endpoint_is_writes_or_a_path_with_an_optional_method(
    paper_url: str, paper_reset: str, endpoint: str | None
) -> None:
    response = set_faults(paper_url, exchange="okx", endpoint=endpoint, latencyMs=1)
    assert response.status_code == 200, response.text
    assert list(response.json()["faults"]["okx"]) == [endpoint or "*"]


@pytest.mark.parametrize(
    "body",
    [
        {"latencyMs": 10},
        {"exchange": "nowhere", "latencyMs": 10},
        {"exchange": "bybit", "error5xxRate": 1.5},
        {"exchange": "bybit", "rateLimit429Rate": -0.1},
        {"exchange": "bybit", "dropAfterAcceptRate": "half"},
        {"exchange": "bybit", "latencyMs": -1},
        {"exchange": "bybit", "latencyMs": 1.5},
        {"exchange": "bybit", "retryAfterSeconds": 0},
        {"exchange": "bybit", "enforceRateLimits": 1},
        {"exchange": "bybit", "seed": True},
        {"exchange": "bybit", "surprise": 1},
        {"exchange": "bybit", "truncateAfterAcceptRate": 1.5},
        {"exchange": "bybit", "resetAfterAcceptRate": -0.1},
        {"exchange": "bybit", "htmlAfterAcceptRate": 2},
        {"exchange": "bybit", "htmlAfterAcceptRate": "always"},
        {"exchange": "bybit", "dropAfterAcceptRate": 1.01},
        {"exchange": "bybit", "stallAfterAcceptMs": -1},
        {"exchange": "bybit", "stallAfterAcceptMs": 120_001},
        {"exchange": "bybit", "stallAfterAcceptMs": 2.5},
        {"exchange": "bybit", "trickleMs": -1},
        {"exchange": "bybit", "trickleMs": 5_001},
        {"exchange": "bybit", "trickleMs": True},
        {"exchange": "bybit", "endpoint": "reads"},
        {"exchange": "bybit", "endpoint": "Writes"},
        {"exchange": "bybit", "endpoint": "v5/order/create"},
        {"exchange": "bybit", "endpoint": ""},
        {"exchange": "bybit", "endpoint": 7},
        {"exchange": "bybit", "endpoint": ["/v5/order/create"]},
        {"exchange": "bybit", "endpoint": "FETCH /v5/order/create"},
        {"exchange": "bybit", "endpoint": "post /v5/order/create"},
        {"exchange": "bybit", "endpoint": "/v5/order/create?category=spot"},
        {"exchange": "bybit", "endpoint": "/bybit/v5/order/create"},
        {"exchange": "bybit", "endpoint": "writes", "trickleMs": 6000},
        {"exchange": "all", "endpoint": "writes", "surprise": 1},
    ],
)
def test_bad_fault_input_is_a_400(paper_url: str, paper_reset: str, body: dict) -> None:
    response = set_faults(paper_url, **body)
    assert response.status_code == 400 and response.json()["error"]
    assert requests.get(f"{paper_url}/_paper/faults", timeout=5).json() == {"faults": {}}


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "BTC/USDT", "price": "1"},
        {"exchange": "bybit", "price": "1"},
        {"exchange": "bybit", "symbol": "BTC/USDT"},
        {"exchange": "bybit", "symbol": "BTC/USDT", "price": "0"},
        {"exchange": "bybit", "symbol": "BTC/USDT", "price": "-5"},
        {"exchange": "bybit", "symbol": "BTC/USDT", "price": "NaN"},
        {"exchange": "bybit", "symbol": "PEPE/USDT", "price": "1"},
    ],
)
def test_bad_price_input_is_a_400(paper_url: str, body: dict) -> None:
    response = requests.post(f"{paper_url}/_paper/prices", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["error"]


def test_setting_a_price_answers_the_price(paper_url: str) -> None:
    response = requests.post(
        f"{paper_url}/_paper/prices",
        json={"exchange": "bingx", "symbol": "SOL/USDT", "price": 151.25},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "exchange": "bingx",
        "symbol": "SOL/USDT",
        "price": "151.25",
        "filledOrderIds": [],
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"exchange": "bybit"}, 400),
        ({"exchange": "bybit", "orderId": "abc"}, 400),
        ({"exchange": "bybit", "orderId": "1", "quantity": "x"}, 400),
        ({"orderId": "1"}, 400),
        ({"exchange": "bybit", "orderId": "1"}, 404),
        ({"exchange": "bybit", "clientOrderId": "nobody-has-this"}, 404),
    ],
)
def test_bad_fill_input_is_a_400_and_an_unknown_order_a_404(
    paper_url: str, body: dict, status: int
) -> None:
    response = requests.post(f"{paper_url}/_paper/fill", json=body, timeout=5)
    assert response.status_code == status and response.json()["error"]


def test_stats_have_exactly_the_documented_keys_for_all_six(paper_url: str) -> None:
    exchanges = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    assert set(exchanges) >= SIX
    for name in SIX:
        assert set(exchanges[name]) == STATS_KEYS


def test_every_written_adapter_is_mounted_under_its_exchange_name(paper_url: str) -> None:
    for protocol_class in load_protocols():
        response = requests.get(f"{paper_url}/{protocol_class.exchange}/no/such/path", timeout=5)
        assert response.status_code in (400, 401, 404, 405)


# -- over the in-process server with the dummy adapter ------------------------------------


def test_requests_are_counted_by_method_and_real_path(dummy: ThreadServer) -> None:
    requests.get(f"{dummy.url}/dummy/api/time", params={"a": "1"}, timeout=5)
    requests.get(f"{dummy.url}/dummy/api/time", timeout=5)
    place(dummy)
    assert stats(dummy.url, "dummy")["requests"] == {"GET /api/time": 2, "POST /api/order": 1}


def test_the_gate_leaves_form_and_json_bodies_for_the_handler(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", latencyMs=1, enforceRateLimits=True)
    assert place(dummy, quantity="0.02").json()["status"] == "new"
    assert place(dummy, json_body=True, quantity="0.03").json()["status"] == "new"
    orders = dummy.call(dummy.engine.order_history, "dummy", dummy.engine.account("dummy", "dk"))
    assert [o.quantity for o in orders] == [Decimal("0.03"), Decimal("0.02")]


def test_order_stats_count_accepted_orders_and_duplicates(dummy: ThreadServer) -> None:
    assert place(dummy, clientId="c-1").status_code == 200
    assert place(dummy, clientId="c-1").json() == {"code": "duplicate_client_order_id"}
    counts = stats(dummy.url, "dummy")
    assert (counts["ordersAccepted"], counts["duplicatesRefused"]) == (1, 1)
    assert counts["ordersByClientId"] == {"c-1": 2}


def test_signature_failures_are_counted(dummy: ThreadServer) -> None:
    response = requests.post(
        f"{dummy.url}/dummy/api/order", data=order_body(), headers={"X-KEY": "wrong"}, timeout=5
    )
    assert response.status_code == 401
    assert stats(dummy.url, "dummy")["signatureFailures"] == 1


def test_error_5xx_fault_answers_the_adapters_5xx_and_places_nothing(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", error5xxRate=1)
    response = place(dummy)
    assert (response.status_code, response.json()) == (502, {"code": "dummy_down"})
    assert stats(dummy.url, "dummy")["ordersAccepted"] == 0


def test_faults_of_one_exchange_leave_the_others_alone(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="bybit", error5xxRate=1)
    assert place(dummy).status_code == 200


def test_rate_limit_fault_answers_the_adapters_429_with_the_retry_after(
    dummy: ThreadServer,
) -> None:
    set_faults(dummy.url, exchange="dummy", rateLimit429Rate=1, retryAfterSeconds=7)
    response = requests.get(f"{dummy.url}/dummy/api/time", timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7.0"


def test_latency_fault_delays_the_answer_past_a_client_timeout(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", latencyMs=1500)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{dummy.url}/dummy/api/time", timeout=0.3)
    set_faults(dummy.url, exchange="dummy", latencyMs=50)
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 200


def test_drop_after_accept_stores_the_order_and_closes_without_a_reply(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", dropAfterAcceptRate=1)
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        place(dummy, clientId="dropped-1")
    assert "Connection refused" not in repr(caught.value)
    counts = stats(dummy.url, "dummy")
    assert (counts["droppedAfterAccept"], counts["ordersAccepted"]) == (1, 1)
    account = dummy.engine.account("dummy", "dk")
    order = dummy.call(dummy.engine.get_order, "dummy", account, client_order_id="dropped-1")
    assert order is not None and order.status == "new"


def test_drop_after_accept_spares_requests_that_store_no_order(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", dropAfterAcceptRate=1)
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 200
    assert place(dummy, price="0.001").json() == {"code": "invalid_price"}
    assert stats(dummy.url, "dummy")["droppedAfterAccept"] == 0


def test_seeded_faults_repeat_exactly(dummy: ThreadServer) -> None:
    def run() -> list[int]:
        set_faults(dummy.url, exchange="dummy", error5xxRate=0.5, seed=42)
        return [
            requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code for _ in range(12)
        ]

    first, second = run(), run()
    assert first == second and {200, 502} == set(first)


AFTER_ACCEPT_STATS = (
    "droppedAfterAccept",
    "resetAfterAccept",
    "truncatedAfterAccept",
    "htmlAfterAccept",
    "stalledAfterAccept",
)


def test_the_most_specific_scope_wins(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", error5xxRate=1)
    set_faults(dummy.url, exchange="dummy", endpoint="writes", rateLimit429Rate=1)
    set_faults(dummy.url, exchange="dummy", endpoint="/api/order", latencyMs=1)
    set_faults(dummy.url, exchange="dummy", endpoint="DELETE /api/order", error5xxRate=1)
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 502
    assert cancel_all(dummy).status_code == 429  # writes beats the exchange
    assert place(dummy).status_code == 200  # the path beats writes
    assert lookup(dummy, "nobody").status_code == 200  # the path covers every method
    assert cancel(dummy, "nobody").status_code == 502  # method and path beat the path


def test_faults_on_writes_spare_reads_on_the_same_path(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", endpoint="writes", error5xxRate=1)
    assert place(dummy).status_code == 502
    assert lookup(dummy, "nobody").status_code == 200
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 200


def test_an_all_zero_scope_shields_its_route_from_the_exchange_faults(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", error5xxRate=1)
    set_faults(dummy.url, exchange="dummy", endpoint="POST /api/order")
    assert place(dummy).status_code == 200
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 502
    assert active_faults(dummy.url)["dummy"]["POST /api/order"] == NO_FAULTS


def test_reset_and_delete_clear_every_scope(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", endpoint="writes", error5xxRate=1)
    requests.post(f"{dummy.url}/_paper/reset", timeout=5).raise_for_status()
    assert place(dummy).status_code == 200 and active_faults(dummy.url) == {}
    set_faults(dummy.url, exchange="dummy", endpoint="/api/time", error5xxRate=1)
    requests.delete(f"{dummy.url}/_paper/faults", timeout=5).raise_for_status()
    assert requests.get(f"{dummy.url}/dummy/api/time", timeout=5).status_code == 200


def test_after_accept_faults_roll_in_their_order_and_the_first_hit_wins(
    dummy: ThreadServer,
) -> None:
    every = {
        "dropAfterAcceptRate": 1,
        "resetAfterAcceptRate": 1,
        "truncateAfterAcceptRate": 1,
        "htmlAfterAcceptRate": 1,
        "stallAfterAcceptMs": 50,
    }
    names = list(every)
    for position, stat in enumerate(AFTER_ACCEPT_STATS):
        faults = {name: every[name] for name in names[position:]}  # this one and the later
        before = stats(dummy.url, "dummy")
        set_faults(dummy.url, exchange="dummy", **faults)
        with contextlib.suppress(requests.exceptions.RequestException):
            place(dummy)
        after = stats(dummy.url, "dummy")
        fired = {key for key in AFTER_ACCEPT_STATS if after[key] != before[key]}
        assert fired == {stat}, faults


def test_seeded_after_accept_faults_repeat_exactly(dummy: ThreadServer) -> None:
    def outcome() -> str:
        try:
            return str(place(dummy).status_code)
        except requests.exceptions.ChunkedEncodingError:
            return "cut"

    def run() -> list[str]:
        set_faults(
            dummy.url,
            exchange="dummy",
            truncateAfterAcceptRate=0.4,
            htmlAfterAcceptRate=0.4,
            seed=7,
        )
        return [outcome() for _ in range(12)]

    first, second = run(), run()
    assert first == second and set(first) == {"cut", "502", "200"}


def test_faults_after_a_cancel_come_only_when_it_canceled_something(dummy: ThreadServer) -> None:
    place(dummy, clientId="to-cancel")
    set_faults(dummy.url, exchange="dummy", htmlAfterAcceptRate=1)
    assert cancel(dummy, "nobody").status_code == 400
    assert cancel_all(dummy).status_code == 502  # found the one open order
    assert cancel_all(dummy).json() == {"canceled": 0}  # nothing left: nothing applied
    assert lookup(dummy, "to-cancel").json() == {"status": "canceled"}
    counts = stats(dummy.url, "dummy")
    assert (counts["cancelsApplied"], counts["htmlAfterAccept"]) == (1, 1)


def test_drop_after_accept_also_loses_the_answer_of_an_applied_cancel(dummy: ThreadServer) -> None:
    place(dummy, clientId="kept")
    set_faults(dummy.url, exchange="dummy", dropAfterAcceptRate=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        cancel(dummy, "kept")
    counts = stats(dummy.url, "dummy")
    assert counts["droppedAfterAccept"] == 1 and counts["cancelsApplied"] == 1


def test_trickle_also_spaces_the_routers_own_refusals(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", trickleMs=2)
    response = requests.get(f"{dummy.url}/dummy/no/such/path", timeout=5)
    assert (response.status_code, response.headers["Connection"]) == (404, "close")
    assert stats(dummy.url, "dummy")["trickled"] == 1


def test_enforced_rate_limits_refuse_over_budget_and_count_violations(dummy: ThreadServer) -> None:
    set_faults(dummy.url, exchange="dummy", enforceRateLimits=True)
    answers = [requests.get(f"{dummy.url}/dummy/api/time", timeout=5) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2  # 5 per minute
    assert 0 < float(answers[-1].headers["Retry-After"]) <= 60
    counts = stats(dummy.url, "dummy")
    assert counts["rateLimitViolations"] == 2
    assert counts["maxWeightPer60s"] == 5


def test_enforced_concurrency_cap_refuses_a_request_beyond_it() -> None:
    engine = Engine()
    app = build_app(
        engine,
        protocols=[DummyProtocol],
        limits={"dummy": ExchangeLimit(per_second=100, per_minute=100, concurrent=1)},
    )
    with ThreadServer(app) as server:
        set_faults(server.url, exchange="dummy", enforceRateLimits=True)
        answers: list[int] = []
        slow = threading.Thread(
            target=lambda: answers.append(
                requests.get(f"{server.url}/dummy/api/slow", timeout=5).status_code
            )
        )
        slow.start()
        deadline = time.monotonic() + 5
        while not stats(server.url, "dummy")["requests"] and time.monotonic() < deadline:
            time.sleep(0.01)  # until the slow request is inside its handler
        second = requests.get(f"{server.url}/dummy/api/time", timeout=5)
        slow.join(5)
        assert (second.status_code, answers) == (429, [200])
        assert stats(server.url, "dummy")["rateLimitViolations"] == 1


def test_served_weight_is_tracked_even_when_not_enforced(dummy: ThreadServer) -> None:
    for _ in range(3):
        requests.get(f"{dummy.url}/dummy/api/heavy", timeout=5)
    requests.get(f"{dummy.url}/dummy/api/time", timeout=5)
    counts = stats(dummy.url, "dummy")
    assert counts["maxWeightPer60s"] == 10
    assert 3 <= counts["maxWeightPer1s"] <= 10
    assert counts["rateLimitViolations"] == 0


def test_prices_control_fills_a_crossed_resting_order(dummy: ThreadServer) -> None:
    order_id = place(dummy, price="59000").json()["orderId"]
    response = requests.post(
        f"{dummy.url}/_paper/prices",
        json={"exchange": "dummy", "symbol": "BTC/USDT", "price": "58999.5"},
        timeout=5,
    )
    assert response.json()["filledOrderIds"] == [order_id]


def test_fill_control_fills_part_then_the_rest(dummy: ThreadServer) -> None:
    place(dummy, clientId="to-fill", quantity="0.03")
    response = requests.post(
        f"{dummy.url}/_paper/fill",
        json={"exchange": "dummy", "clientOrderId": "to-fill", "quantity": "0.01"},
        timeout=5,
    )
    order = response.json()["order"]
    assert (order["status"], order["filledQuantity"], order["averagePrice"]) == (
        "partially_filled",
        "0.01",
        "50000",
    )
    order_id = order["orderId"]
    response = requests.post(
        f"{dummy.url}/_paper/fill", json={"exchange": "dummy", "orderId": int(order_id)}, timeout=5
    )
    assert response.json()["order"]["status"] == "filled"
    again = requests.post(
        f"{dummy.url}/_paper/fill", json={"exchange": "dummy", "orderId": order_id}, timeout=5
    )
    assert again.status_code == 400 and again.json()["error"] == "order_not_cancelable"
    too_much = place(dummy, clientId="too-much")
    assert too_much.status_code == 200
    response = requests.post(
        f"{dummy.url}/_paper/fill",
        json={"exchange": "dummy", "clientOrderId": "too-much", "quantity": "1"},
        timeout=5,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_quantity"


def test_reset_clears_orders_faults_and_stats_but_keeps_accounts(dummy: ThreadServer) -> None:
    place(dummy, clientId="before-reset")
    set_faults(dummy.url, exchange="dummy", latencyMs=5)
    assert requests.post(f"{dummy.url}/_paper/reset", timeout=5).json() == {"ok": True}
    assert requests.get(f"{dummy.url}/_paper/faults", timeout=5).json() == {"faults": {}}
    counts = stats(dummy.url, "dummy")
    assert counts["requests"] == {} and counts["ordersByClientId"] == {}
    account = dummy.engine.account("dummy", "dk")
    assert account is not None
    assert dummy.call(dummy.engine.open_orders, "dummy", account) == []
    assert dummy.call(dummy.engine.balances, "dummy", account)["USDT"] == (
        Decimal("100000"),
        Decimal("0"),
    )


def test_walk_moves_prices_and_fills_crossed_orders() -> None:
    engine = Engine()
    app = build_app(engine, protocols=[DummyProtocol], limits={}, walk=True, walk_interval=0.02)
    with ThreadServer(app) as server:
        engine.upsert_account(
            "dummy",
            api_key="dk",
            api_secret="ds",
            balances={"USDT": Decimal("100000"), "BTC": Decimal("2")},
        )
        buy = place(server, price="59999.9").json()["orderId"]
        sell = place(server, side="sell", price="60000.1").json()["orderId"]
        deadline = time.monotonic() + 10
        statuses: set[str] = set()
        while time.monotonic() < deadline and "filled" not in statuses:
            time.sleep(0.05)
            account = engine.account("dummy", "dk")
            statuses = {
                server.call(engine.get_order, "dummy", account, order_id=i).status
                for i in (buy, sell)
            }
        assert "filled" in statuses
        assert server.call(engine.price, "dummy", "BTC/USDT") != Decimal("60000")


# -- the gate's pieces --------------------------------------------------------------------


def test_the_paper_limiter_slides_its_windows_over_one_second_and_one_minute() -> None:
    limiter = PaperLimiter(legacy_budget(ExchangeLimit(per_second=3, per_minute=5, concurrent=1)))
    caller, one = Caller("127.0.0.1"), Charge("GET", "/x")
    for at in (0.0, 0.1, 0.2):
        assert limiter.admit(at, one, caller) == 0
    assert limiter.admit(0.5, one, caller) == pytest.approx(0.5)  # 0.0 leaves at 1.0
    assert limiter.admit(1.05, one, caller) == 0
    assert limiter.admit(1.2, one, caller) == 0
    assert limiter.admit(1.3, one, caller) == pytest.approx(58.7)  # minute budget: 5
    heavy = Charge("GET", "/x", weight=9)
    # heavier than the whole budget: alone, once the window is empty (the last left at 1.2)
    assert limiter.admit(1.3, heavy, caller) == pytest.approx(59.9)
    assert limiter.violations == {"ip weight 1s": 1, "ip weight 1m": 2}
    assert limiter.stats()["ip weight 1m"]["maxUsed"] == 5
    assert limiter.admit(1.3, one, Caller("127.0.0.2")) == 0, "another address, its own pool"


def test_the_paper_limiter_counts_account_windows_per_key_endpoint_and_instrument() -> None:
    limiter = PaperLimiter(PUBLISHED["okx"])
    place = Charge("POST", "/api/v5/trade/order", signed=True, instrument="BTC-USDT")
    other = Charge("POST", "/api/v5/trade/order", signed=True, instrument="ETH-USDT")
    key = Caller("127.0.0.1", "key-one")
    for _ in range(60):
        assert limiter.admit(0.0, place, key) == 0
    assert limiter.admit(0.5, place, key) == pytest.approx(1.5)
    assert limiter.admit(0.5, other, key) == 0, "per instrument"
    assert limiter.admit(0.5, place, Caller("127.0.0.1", "key-two")) == 0, "per key"
    assert limiter.violations == {"account POST /api/v5/trade/order 2s": 1}


def test_fault_config_round_trips_its_wire_names() -> None:
    wire = {
        "latencyMs": 20,
        "error5xxRate": 0.1,
        "rateLimit429Rate": 0.2,
        "retryAfterSeconds": 3,
        "dropAfterAcceptRate": 0.3,
        "truncateAfterAcceptRate": 0.4,
        "resetAfterAcceptRate": 0.5,
        "stallAfterAcceptMs": 1500,
        "htmlAfterAcceptRate": 0.6,
        "trickleMs": 40,
        "enforceRateLimits": True,
        "seed": 9,
    }
    config = FaultConfig.from_json({"exchange": "okx", "endpoint": "writes", **wire})
    assert config.to_json() == {**wire, "retryAfterSeconds": 3.0}
    assert set(config.to_json()) == set(NO_FAULTS)


# -- the process ---------------------------------------------------------------------------


def start_paper(accounts: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "paper", "--port", "0", "--accounts", str(accounts)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PAPER_READY http://127.0.0.1:"), line
    return process, line.split()[1]


def test_sigterm_stops_the_server_cleanly_and_accounts_survive_a_restart(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    process, url = start_paper(accounts)
    try:
        requests.post(
            f"{url}/_paper/accounts",
            json={
                "exchange": "pionex",
                "apiKey": "restart-key",
                "apiSecret": "restart-secret",
                "balances": {"USDT": "321"},
            },
            timeout=5,
        ).raise_for_status()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert json.loads(accounts.read_text())["accounts"][0]["apiKey"] == "restart-key"
    process, url = start_paper(accounts)
    try:
        listed = requests.get(
            f"{url}/_paper/accounts", params={"exchange": "pionex"}, timeout=5
        ).json()["accounts"]
        assert listed[0]["balances"]["USDT"]["free"] == "321"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


def test_a_corrupt_accounts_file_makes_the_server_exit_with_an_error(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.json"
    accounts.write_text("{broken")
    result = subprocess.run(
        [sys.executable, "-m", "paper", "--port", "0", "--accounts", str(accounts)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "PAPER_READY" not in result.stdout and "not valid" in result.stderr
