"""BingX's private streams on the paper exchange, with a raw client: a REST listen key in
the socket URL, gzip-compressed frames, ``Ping``/``Pong`` on swap and ``{"ping"}``/
``{"pong"}`` on spot. REST orders are signed with this file's own HMAC (the facts' k=v
string with a millisecond timestamp)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSServerHandshakeError

from tests.paper.streams_support import (
    CLOSED,
    Paper,
    closed_abruptly,
    frame,
    frames_until,
    quiet,
    run,
)

KEY_PATH = "/bingx/openApi/user/auth/userDataStream"


async def new_key(paper: Paper, api_key: str) -> str:
    response = await paper.client.post(KEY_PATH, headers={"X-BX-APIKEY": api_key})
    assert response.status == 200
    return (await response.json())["listenKey"]


async def place(paper: Paper, key: str, secret: str, path: str, params: dict[str, Any]) -> Any:
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    response = await paper.client.post(
        f"/bingx{path}?{query}&signature={signature}", headers={"X-BX-APIKEY": key}
    )
    answer = await response.json()
    assert answer["code"] == 0, answer
    return answer["data"]


def named(frames: list[Any], event: str) -> list[dict[str, Any]]:
    return [f for f in frames if isinstance(f, dict) and f.get("e") == event]


def test_listen_key_lifecycle_create_keep_alive_delete():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("bingx")
        listen = await new_key(paper, key)
        assert await new_key(paper, key) != listen  # a new key each time
        response = await paper.client.put(f"{KEY_PATH}?listenKey={listen}")
        assert response.status == 200
        ws = await paper.ws(f"/bingx/swap-market?listenKey={listen}")
        response = await paper.client.delete(f"{KEY_PATH}?listenKey={listen}")
        assert response.status == 200
        assert await frame(ws, gunzip=True) == CLOSED
        assert (await paper.client.put(f"{KEY_PATH}?listenKey={listen}")).status == 404
        assert (await paper.client.put(KEY_PATH)).status == 204
        response = await paper.client.post(KEY_PATH, headers={"X-BX-APIKEY": "nobody"})
        assert response.status == 401
        # a refused listen key is a refused stream auth
        assert (await paper.stream_stats("bingx"))["authFailures"] == 1

    run(scenario)


def test_an_unknown_listen_key_is_refused_at_the_handshake():
    async def scenario(paper: Paper) -> None:
        try:
            await paper.ws("/bingx/swap-market?listenKey=nothing")
        except WSServerHandshakeError as exc:
            assert exc.status == 401
        else:
            raise AssertionError("accepted")
        assert (await paper.stream_stats("bingx"))["authFailures"] == 1

    run(scenario)


def test_the_swap_socket_sends_gzipped_ping_and_takes_pong():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("bingx")
        ws = await paper.ws(f"/bingx/swap-market?listenKey={await new_key(paper, key)}")
        message = await ws.receive(timeout=2)
        assert isinstance(message.data, bytes)
        assert await frame(ws, gunzip=True) == "Ping"
        await ws.send_str("Pong")

    run(scenario, {"bingx": {"ping_interval": 0.2}})


def test_missed_pongs_close_the_socket():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("bingx")
        ws = await paper.ws(f"/bingx/market?listenKey={await new_key(paper, key)}")
        seen = await frames_until(ws, lambda fs: CLOSED in fs, gunzip=True)
        assert seen[0]["ping"] and seen[0]["time"]

    run(scenario, {"bingx": {"ping_interval": 0.1, "max_missed_pongs": 2}})


def test_swap_order_and_fill_are_pushed_without_a_subscription():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bingx")
        ws = await paper.ws(f"/bingx/swap-market?listenKey={await new_key(paper, key)}")
        placed = await place(
            paper,
            key,
            secret,
            "/openApi/swap/v2/trade/order",
            {
                "symbol": "BTC-USDT",
                "side": "BUY",
                "positionSide": "BOTH",
                "type": "LIMIT",
                "quantity": "0.01",
                "price": "50000",
                "clientOrderID": "bx-1",
            },
        )
        order_id = str(placed["order"]["orderId"])
        await paper.fill("bingx", order_id)
        seen = await frames_until(ws, lambda fs: named(fs, "ACCOUNT_UPDATE"), gunzip=True)
        updates = [f["o"] for f in named(seen, "ORDER_TRADE_UPDATE")]
        assert [(u["x"], u["X"]) for u in updates] == [("NEW", "NEW"), ("TRADE", "FILLED")]
        trade = updates[1]
        assert str(trade["i"]) == order_id and trade["c"] == "bx-1"
        assert trade["z"] == "0.01" and trade["l"] == "0.01" and trade["L"] == "50000"
        assert trade["td"] and trade["N"] == "USDT" and trade["n"] == "0"
        assert trade["m"] is True
        account = named(seen, "ACCOUNT_UPDATE")[0]["a"]
        assert account["P"][0]["s"] == "BTC-USDT" and account["P"][0]["pa"] == "0.01"

    run(scenario)


def test_spot_needs_a_subscription_and_pushes_execution_reports():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bingx")
        ws = await paper.ws(f"/bingx/market?listenKey={await new_key(paper, key)}")
        await ws.send_json({"id": "x1", "reqType": "sub", "dataType": "spot.executionReport"})
        assert (await frame(ws, gunzip=True))["code"] == 0
        await ws.send_json({"id": "x2", "reqType": "sub", "dataType": "spot.nothing"})
        assert (await frame(ws, gunzip=True))["code"] != 0
        await place(
            paper,
            key,
            secret,
            "/openApi/spot/v1/trade/order",
            {"symbol": "BTC-USDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "60"},
        )
        seen = await frames_until(ws, lambda fs: len(fs) == 2, gunzip=True)
        reports = [f["data"] for f in seen]
        assert all(f["dataType"] == "spot.executionReport" for f in seen)
        assert [r["x"] for r in reports] == ["NEW", "TRADE"]
        assert reports[1]["X"] == "FILLED" and reports[1]["m"] is False
        assert reports[1]["N"] == "BTC" and reports[1]["t"] > 0
        assert await quiet(ws, gunzip=True) == []  # no ACCOUNT_UPDATE: not subscribed

    run(scenario)


def test_expire_listen_key_sends_listen_key_expired_and_closes():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("bingx")
        listen = await new_key(paper, key)
        ws = await paper.ws(f"/bingx/swap-market?listenKey={listen}")
        assert await paper.fault("bingx", "expireListenKey", key) == 1
        seen = await frames_until(ws, lambda fs: CLOSED in fs, gunzip=True)
        assert seen[0]["e"] == "listenKeyExpired" and seen[0]["listenKey"] == listen

    run(scenario)


def test_repeat_and_drop_on_bingx():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bingx")
        ws = await paper.ws(f"/bingx/swap-market?listenKey={await new_key(paper, key)}")
        await paper.fault("bingx", "repeat", key)
        await paper.control(
            "accounts",
            {"exchange": "bingx", "apiKey": key, "apiSecret": secret, "balances": {"USDT": "5"}},
        )
        seen = await frames_until(ws, lambda fs: len(fs) == 2, gunzip=True)
        assert seen[0] == seen[1] and seen[0]["a"]["m"] == "DEPOSIT"
        await paper.fault("bingx", "drop", key)
        assert await closed_abruptly(ws)

    run(scenario)
