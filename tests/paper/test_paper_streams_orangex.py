"""OrangeX's private stream on the paper exchange (JSON-RPC over ``/orangex/ws/api/v1``),
with a raw client. The ``client_signature`` is this file's own (double hex), checked first
against the official SDK's vector."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from tests.paper.streams_support import Paper, closed_abruptly, frame, frames_until, run

INSTRUMENT = "BTC-USDT-PERPETUAL"


def double_hex(secret: str, client_id: str, stamp: str, nonce: str) -> str:
    text = f"{client_id}\n{stamp}\n{nonce}\n"
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest().encode().hex()


def test_the_test_signer_reproduces_the_sdk_vector_intermediate():
    inner = hmac.new(
        b"testclientSecret", b"e429d4d1\n1648544509453\n401000476306309121\n", hashlib.sha256
    ).hexdigest()
    assert inner == "dce523fe2731c55ff30d775bdcb2b1b3cc4295ad69f90cba686fae224bbbb032"
    assert (
        double_hex("testclientSecret", "e429d4d1", "1648544509453", "401000476306309121")
        == inner.encode().hex()
    )


async def call(ws, request_id: Any, method: str, params: dict[str, Any]) -> dict[str, Any]:
    await ws.send_json({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    return await frame(ws)


async def connect(paper: Paper, key: str, secret: str, *channels: str):
    ws = await paper.ws("/orangex/ws/api/v1")
    answer = await call(
        ws,
        1,
        "/public/auth",
        {"grant_type": "client_credentials", "client_id": key, "client_secret": secret},
    )
    assert answer["result"]["token_type"] == "bearer"
    if channels:
        answer = await call(ws, 2, "/private/subscribe", {"channels": list(channels)})
        assert answer["result"] == list(channels)
    return ws


async def buy(paper: Paper, key: str, secret: str, **params: Any) -> str:
    response = await paper.client.post(
        "/orangex/api/v1/public/auth",
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "/public/auth",
            "params": {
                "grant_type": "client_credentials",
                "client_id": key,
                "client_secret": secret,
            },
        },
    )
    token = (await response.json())["result"]["access_token"]
    response = await paper.client.post(
        "/orangex/api/v1/private/buy",
        json={
            "jsonrpc": "2.0",
            "id": 2,
            "method": "/private/buy",
            "params": {
                "instrument_name": INSTRUMENT,
                "amount": "0.01",
                "type": "limit",
                "price": "50000",
                **params,
            },
        },
        headers={"Authorization": f"bearer {token}"},
    )
    answer = await response.json()
    assert "result" in answer, answer
    return answer["result"]["order"]["order_id"]


def notes(frames: list[Any], prefix: str) -> list[Any]:
    return [
        f["params"]["data"]
        for f in frames
        if isinstance(f, dict)
        and f.get("method") == "subscription"
        and f["params"]["channel"].startswith(prefix)
    ]


def test_auth_by_credentials_and_by_double_hex_signature_succeed_with_string_ids():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("orangex")
        ws = await paper.ws("/orangex/ws/api/v1")
        stamp, nonce = str(int(time.time() * 1000)), "n-1"
        answer = await call(
            ws,
            7,
            "/public/auth",
            {
                "grant_type": "client_signature",
                "client_id": key,
                "timestamp": stamp,
                "nonce": nonce,
                "signature": double_hex(secret, key, stamp, nonce),
            },
        )
        assert answer["id"] == "7" and answer["result"]["expires_in"] > 0
        await connect(paper, key, secret)

    run(scenario)


def test_bad_credentials_fail_with_10000_and_private_calls_need_auth():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("orangex")
        ws = await paper.ws("/orangex/ws/api/v1")
        answer = await call(
            ws,
            1,
            "/public/auth",
            {"grant_type": "client_credentials", "client_id": key, "client_secret": "no"},
        )
        assert answer["error"]["code"] == 10000
        stamp = str(int(time.time() * 1000))
        answer = await call(
            ws,
            2,
            "/public/auth",
            {
                "grant_type": "client_signature",
                "client_id": key,
                "timestamp": stamp,
                "nonce": "x",
                "signature": hmac.new(secret.encode(), b"plain-hex", hashlib.sha256).hexdigest(),
            },
        )
        assert answer["error"]["message"] == "Authentication Failure"
        answer = await call(ws, 3, "/private/subscribe", {"channels": ["user.asset.PERPETUAL"]})
        assert answer["error"]["code"] == 10000
        assert (await paper.stream_stats("orangex"))["authFailures"] == 2

    run(scenario)


def test_ping_channels_methods_and_malformed_frames():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("orangex")
        ws = await connect(paper, key, secret)
        await ws.send_str("PING")
        assert await frame(ws) == "PONG"
        assert (await call(ws, 4, "/public/ping", {}))["result"] == "pong"
        answer = await call(
            ws,
            5,
            "/private/subscribe",
            {"channels": ["user.asset.PERPETUAL", "user.changes.future"]},
        )
        assert answer["error"]["code"] == 3401
        assert (await call(ws, 6, "/private/fly", {}))["error"]["code"] == 1000
        await ws.send_str("{oops")
        assert (await frame(ws))["error"]["code"] == 9902

    run(scenario)


def test_a_silent_socket_is_closed():
    async def scenario(paper: Paper) -> None:
        ws = await paper.ws("/orangex/ws/api/v1")
        assert await closed_abruptly(ws, timeout=2)

    run(scenario, {"orangex": {"idle_timeout": 0.3}})


def test_order_trade_and_asset_notifications_after_a_control_fill():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("orangex")
        ws = await connect(
            paper,
            key,
            secret,
            f"user.orders.{INSTRUMENT}.raw",
            f"user.trades.{INSTRUMENT}.raw",
            "user.asset.PERPETUAL",
        )
        order_id = await buy(paper, key, secret, custom_order_id="ox-1")
        await paper.fill("orangex", order_id, "0.004")
        seen = await frames_until(
            ws, lambda fs: notes(fs, "user.trades") and len(notes(fs, "user.asset")) == 2
        )
        orders = notes(seen, "user.orders")
        assert [(o["order_state"], o["filled_amount"]) for o in orders] == [
            ("open", "0"),
            ("open", "0.004"),
        ]
        assert orders[0]["order_id"] == order_id
        trade = notes(seen, "user.trades")[0][0]
        assert trade["order_id"] == order_id and trade["amount"] == "0.004"
        assert trade["price"] == "50000" and trade["role"] == "maker"
        assert trade["fee"] == "0" and trade["fee_coin_type"] == "USDT" and trade["trade_id"]
        assert "PERPETUAL" in notes(seen, "user.asset")[-1]

    run(scenario)
