"""Pionex's private streams on the paper exchange, with a raw client: spot signs its URL
(``/pionex/ws``), futures sends an ``auth`` message (``/pionex/wsUA``). Signatures are this
file's own, checked first against the official spot example (TV2) and the real HMAC of the
futures example (TV3; the documented value is a copy of TV2's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import WSServerHandshakeError

from tests.paper.streams_support import CLOSED, Paper, frame, frames_until, quiet, run

TV_KEY = "OElNn5D_Frnf5MR0ChjYdG7PunK0AOgHTvevwzWS"
TV_SECRET = "NFqv4MB3hB0SOiEsJNDP9e0jDdKPWbDqS_Z1dbU4"


def hexsign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_the_test_signer_reproduces_the_official_examples():
    spot = hexsign(TV_SECRET, f"/ws?key={TV_KEY}&timestamp=1655896754515websocket_auth")
    assert spot == "3e901247350e744353f4a7a479fd67181184a627b119352ec1b7a432925e772c"
    assert (
        hexsign(TV_SECRET, "1655896754515websocket_auth")
        == "b4acc6fd1e2806efa08d4db56292c9e16effb8d60000280e7e024f4debddab5f"
    )


def spot_path(key: str, secret: str, stamp: int | None = None) -> str:
    stamp = int(time.time() * 1000) if stamp is None else stamp
    signature = hexsign(secret, f"/ws?key={key}&timestamp={stamp}websocket_auth")
    return f"/pionex/ws?key={key}&timestamp={stamp}&signature={signature}"


async def futures(paper: Paper, key: str, secret: str):
    ws = await paper.ws("/pionex/wsUA")
    stamp = int(time.time() * 1000)
    await ws.send_json(
        {"op": "auth", "args": [key, stamp, hexsign(secret, f"{stamp}websocket_auth")]}
    )
    return ws


async def place(paper: Paper, key: str, secret: str, path: str, body: dict[str, Any]) -> str:
    raw = json.dumps(body, separators=(",", ":"))
    stamp = str(int(time.time() * 1000))
    signature = hexsign(secret, f"POST{path}?timestamp={stamp}{raw}")
    response = await paper.client.post(
        f"/pionex{path}?timestamp={stamp}",
        data=raw,
        headers={
            "PIONEX-KEY": key,
            "PIONEX-SIGNATURE": signature,
            "Content-Type": "application/json",
        },
    )
    answer = await response.json()
    assert answer["result"] is True, answer
    return str(answer["data"]["orderId"])


async def subscribe(ws, topic: str, symbol: str | None = None) -> Any:
    body = {"op": "SUBSCRIBE", "topic": topic}
    if symbol:
        body["symbol"] = symbol
    await ws.send_json(body)
    return await frame(ws)


def topic(frames: list[Any], name: str) -> list[dict[str, Any]]:
    return [f for f in frames if isinstance(f, dict) and f.get("topic") == name and "data" in f]


def test_spot_signed_query_opens_and_a_bad_one_is_refused():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await paper.ws(spot_path(key, secret))
        assert await subscribe(ws, "BALANCE") == {"type": "SUBSCRIBED", "topic": "BALANCE"}
        for bad in (
            spot_path(key, "wrong"),
            spot_path(key, secret, stamp=1000),
            spot_path("nobody", secret),
        ):
            try:
                await paper.ws(bad)
            except WSServerHandshakeError as exc:
                assert exc.status == 401
            else:
                raise AssertionError("accepted")
        assert (await paper.stream_stats("pionex"))["authFailures"] == 3

    run(scenario)


def test_futures_auth_message_good_and_bad():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await futures(paper, key, secret)
        assert await subscribe(ws, "ORDER", "ALL") == {
            "type": "SUBSCRIBED",
            "topic": "ORDER",
            "symbol": "ALL",
        }
        bad = await futures(paper, key, "wrong")
        seen = await frames_until(bad, lambda fs: CLOSED in fs)
        assert seen[0]["type"] == "ERROR" and seen[0]["code"] == "INVALID_SIGNATURE"
        unauthenticated = await paper.ws("/pionex/wsUA")
        assert (await subscribe(unauthenticated, "ORDER", "ALL"))["type"] == "ERROR"

    run(scenario)


def test_bad_topics_and_symbols_are_refused():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await paper.ws(spot_path(key, secret))
        assert (await subscribe(ws, "DEPTHS", "BTC_USDT"))["code"] == "TRADE_INVALID_TOPIC"
        assert (await subscribe(ws, "ORDER", "ALL"))["code"] == "TRADE_INVALID_SYMBOL"
        assert (await subscribe(ws, "POSITION", "BTC_USDT"))["code"] == "TRADE_INVALID_TOPIC"

    run(scenario)


def test_the_server_pings_and_closes_after_three_missed_pongs():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await paper.ws(spot_path(key, secret))
        ping = await frame(ws)
        assert ping["op"] == "PING" and ping["timestamp"] > 0
        await ws.send_json({"op": "PONG", "timestamp": ping["timestamp"]})
        seen = await frames_until(ws, lambda fs: CLOSED in fs)
        assert [f["op"] for f in seen[:-1]] == ["PING"] * 3

    run(scenario, {"pionex": {"ping_interval": 0.15}})


def test_spot_order_fill_and_balance_messages():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await paper.ws(spot_path(key, secret))
        for name, symbol in (("ORDER", "BTC_USDT"), ("FILL", "BTC_USDT"), ("BALANCE", None)):
            assert (await subscribe(ws, name, symbol))["type"] == "SUBSCRIBED"
        order_id = await place(
            paper,
            key,
            secret,
            "/api/v1/trade/order",
            {
                "symbol": "BTC_USDT",
                "side": "BUY",
                "type": "LIMIT",
                "size": "0.001",
                "price": "50000",
                "clientOrderId": "px1",
            },
        )
        await paper.fill("pionex", order_id)
        seen = await frames_until(
            ws, lambda fs: topic(fs, "FILL") and len(topic(fs, "BALANCE")) == 2
        )
        orders = [m["data"] for m in topic(seen, "ORDER")]
        assert [o["status"] for o in orders] == ["OPEN", "CLOSED"]
        assert orders[1]["filledSize"] == "0.001" and orders[1]["clientOrderId"] == "px1"
        fill = topic(seen, "FILL")[0]["data"]
        assert str(fill["orderId"]) == order_id and fill["role"] == "MAKER"
        assert fill["price"] == "50000" and fill["size"] == "0.001" and fill["id"] > 0
        assert fill["fee"] == "0" and fill["feeCoin"] == "BTC"
        coins = {b["coin"]: b for b in topic(seen, "BALANCE")[-1]["data"]["balances"]}
        assert coins["BTC"]["free"] == "2.001"

    run(scenario)


def test_futures_fill_pushes_position_and_other_symbols_stay_quiet():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("pionex")
        ws = await futures(paper, key, secret)
        assert (await subscribe(ws, "FILL", "ETH_USDT_PERP"))["type"] == "SUBSCRIBED"
        assert (await subscribe(ws, "POSITION", "ALL"))["type"] == "SUBSCRIBED"
        await place(
            paper,
            key,
            secret,
            "/uapi/v1/trade/order",
            {"symbol": "BTC_USDT_PERP", "side": "BUY", "type": "MARKET_QTY", "size": "0.01"},
        )
        seen = await frames_until(ws, lambda fs: topic(fs, "POSITION"))
        assert topic(seen, "FILL") == []  # BTC fills: not subscribed
        position = topic(seen, "POSITION")[0]["data"]
        assert position["symbol"] == "BTC_USDT_PERP" and position["netSize"] == "0.01"
        assert await quiet(ws) == []

    run(scenario)
