"""Binance's private streams on the paper exchange, with a raw client: Spot through the
WebSocket API (``/binance/ws-api/v3``, ``userDataStream.subscribe.signature``), USD-M through
a REST listen key (``/binance/ws/<listenKey>``). Signatures are this file's own, checked
first against the facts' S6 vector (the same two sorted parameters)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, WSServerHandshakeError

from paper.server import STREAMS
from tests.paper.streams_support import (
    CLOSED,
    Paper,
    closed_abruptly,
    frame,
    frames_until,
    quiet,
    run,
)

S6_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
S6_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sorted_text(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={params[k]}" for k in sorted(params))


def test_the_test_signer_reproduces_the_facts_s6_vector():
    text = sorted_text({"timestamp": 1649729878532, "apiKey": S6_KEY})
    assert (
        sign(S6_SECRET, text) == "1cf54395b336b0a9727ef27d5d98987962bc47aca6e13fe978612d0adee066ed"
    )


async def rest(
    paper: Paper, method: str, path: str, key: str, secret: str, params: dict[str, Any]
) -> Any:
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    response = await paper.client.request(
        method,
        f"/binance{path}?{query}&signature={sign(secret, query)}",
        headers={"X-MBX-APIKEY": key},
    )
    answer = await response.json()
    assert response.status == 200, answer
    return answer


async def spot_stream(paper: Paper, key: str, secret: str):
    ws = await paper.ws("/binance/ws-api/v3")
    params = {"apiKey": key, "timestamp": int(time.time() * 1000)}
    params["signature"] = sign(secret, sorted_text(params))
    await ws.send_json(
        {"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params}
    )
    answer = await frame(ws)
    assert answer["status"] == 200, answer
    return ws, answer


def events(frames: list[Any], name: str) -> list[dict[str, Any]]:
    return [
        f["event"] for f in frames if isinstance(f, dict) and f.get("event", {}).get("e") == name
    ]


def test_spot_subscription_signed_with_hmac_is_accepted():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        _, answer = await spot_stream(paper, key, secret)
        assert answer["id"] == "sub-1" and answer["result"]["subscriptionId"] == 0

    run(scenario)


def test_spot_bad_signatures_keys_and_hmac_logons_are_refused_with_binance_errors():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        ws = await paper.ws("/binance/ws-api/v3")
        params = {"apiKey": key, "timestamp": int(time.time() * 1000)}
        await ws.send_json(
            {
                "id": 1,
                "method": "userDataStream.subscribe.signature",
                "params": {**params, "signature": sign("wrong", "x")},
            }
        )
        answer = await frame(ws)
        assert answer["status"] == 400 and answer["error"]["code"] == -1022
        await ws.send_json(
            {
                "id": 2,
                "method": "userDataStream.subscribe.signature",
                "params": {**params, "apiKey": "nobody", "signature": "00"},
            }
        )
        assert (await frame(ws))["error"]["code"] == -2015
        stale = {"apiKey": key, "timestamp": int(time.time() * 1000) - 60_000}
        await ws.send_json(
            {
                "id": 3,
                "method": "userDataStream.subscribe.signature",
                "params": {**stale, "signature": sign(secret, sorted_text(stale))},
            }
        )
        assert (await frame(ws))["error"]["code"] == -1021
        await ws.send_json(
            {
                "id": 4,
                "method": "session.logon",
                "params": {**params, "signature": sign(secret, sorted_text(params))},
            }
        )
        assert (await frame(ws))["status"] == 400  # Ed25519 keys only
        await ws.send_json({"id": 5, "method": "order.dance", "params": {}})
        assert (await frame(ws))["error"]["code"] == -1020
        await ws.send_str("nope")
        assert (await frame(ws))["status"] == 400
        assert (await paper.stream_stats("binance"))["authFailures"] == 4

    run(scenario)


def test_spot_order_and_fill_arrive_as_execution_reports_in_the_event_envelope():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        ws, _ = await spot_stream(paper, key, secret)
        placed = await rest(
            paper,
            "POST",
            "/api/v3/order",
            key,
            secret,
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "50000",
                "newClientOrderId": "cid-1",
            },
        )
        await paper.fill("binance", str(placed["orderId"]))
        seen = await frames_until(
            ws,
            lambda fs: (
                len(events(fs, "executionReport")) == 2
                and len(events(fs, "outboundAccountPosition")) == 2
            ),
        )
        assert all(f["subscriptionId"] == 0 for f in seen)
        new, trade = events(seen, "executionReport")
        assert (new["x"], new["X"], new["c"]) == ("NEW", "NEW", "cid-1")
        assert (trade["x"], trade["X"]) == ("TRADE", "FILLED")
        assert trade["i"] == placed["orderId"] and trade["l"] == "0.001"
        assert trade["L"] == "50000" and trade["z"] == "0.001" and trade["Z"] == "50"
        assert trade["n"] == "0" and trade["N"] == "BTC" and trade["m"] is True
        assert trade["t"] > 0
        balances = {b["a"]: b for b in events(seen, "outboundAccountPosition")[-1]["B"]}
        assert balances["BTC"]["f"] == "2.001" and balances["USDT"]["l"] == "0"

    run(scenario)


def test_spot_funding_is_a_balance_update_and_unsubscribe_stops_events():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        ws, _ = await spot_stream(paper, key, secret)
        await paper.control(
            "accounts",
            {
                "exchange": "binance",
                "apiKey": key,
                "apiSecret": secret,
                "balances": {"USDT": "100100"},
            },
        )
        seen = await frames_until(ws, lambda fs: events(fs, "balanceUpdate"))
        assert events(seen, "balanceUpdate")[0]["d"] == "100"
        await ws.send_json({"id": "u", "method": "userDataStream.unsubscribe"})
        assert (
            await frames_until(
                ws, lambda fs: any(isinstance(f, dict) and f.get("id") == "u" for f in fs)
            )
        )[-1]["status"] == 200
        await paper.control(
            "accounts",
            {"exchange": "binance", "apiKey": key, "apiSecret": secret, "balances": {"USDT": "5"}},
        )
        assert await quiet(ws) == []

    run(scenario)


def test_the_spot_server_pings_and_answers_pings():
    async def scenario(paper: Paper) -> None:
        ws = await paper.ws("/binance/ws-api/v3")
        message = await ws.receive(timeout=2)
        assert message.type == WSMsgType.PING
        await ws.ping(b"hi")
        message = await ws.receive(timeout=2)
        while message.type == WSMsgType.PING:
            message = await ws.receive(timeout=2)
        assert message.type == WSMsgType.PONG and message.data == b"hi"

    run(scenario, {"binance": {"ping_interval": 0.2}})


# -- USD-M futures ---------------------------------------------------------------------------


async def listen_key(paper: Paper, key: str, method: str = "POST") -> tuple[int, Any]:
    response = await paper.client.request(
        method, "/binance/fapi/v1/listenKey", headers={"X-MBX-APIKEY": key}
    )
    return response.status, await response.json()


def test_listen_key_lifecycle_create_keep_alive_delete():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("binance")
        status, created = await listen_key(paper, key)
        assert status == 200 and len(created["listenKey"]) > 30
        status, again = await listen_key(paper, key)
        assert again["listenKey"] == created["listenKey"]  # one key per account
        status, kept = await listen_key(paper, key, "PUT")
        assert status == 200 and kept["listenKey"] == created["listenKey"]
        ws = await paper.ws(f"/binance/ws/{created['listenKey']}")
        status, _ = await listen_key(paper, key, "DELETE")
        assert status == 200
        assert await frame(ws) == CLOSED  # its stream ends
        status, answer = await listen_key(paper, key, "PUT")
        assert status == 400 and answer["code"] == -1125
        status, answer = await listen_key(paper, "nobody")
        assert status == 401 and answer["code"] == -2015
        response = await paper.client.post("/binance/fapi/v1/listenKey")
        assert response.status == 401 and (await response.json())["code"] == -2014
        # a refused listen key is a refused stream auth
        assert (await paper.stream_stats("binance"))["authFailures"] == 2

    run(scenario)


def test_keep_alive_extends_the_key_by_sixty_minutes():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("binance")
        _, created = await listen_key(paper, key)
        hub_key = paper.client.app[STREAMS].listen_keys.find("binance", created["listenKey"])
        hub_key.expires_ms = paper.engine.now_ms() + 1000
        await listen_key(paper, key, "PUT")
        assert hub_key.expires_ms >= paper.engine.now_ms() + 59 * 60 * 1000

    run(scenario)


def test_an_unknown_listen_key_is_refused_at_the_handshake():
    async def scenario(paper: Paper) -> None:
        try:
            await paper.ws("/binance/ws/not-a-key")
        except WSServerHandshakeError as exc:
            assert exc.status == 400
        else:
            raise AssertionError("the handshake was accepted")
        assert (await paper.stream_stats("binance"))["authFailures"] == 1

    run(scenario)


def test_futures_fill_pushes_order_trade_update_and_account_update():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        _, created = await listen_key(paper, key)
        ws = await paper.ws(f"/binance/private/ws/{created['listenKey']}")
        placed = await rest(
            paper,
            "POST",
            "/fapi/v1/order",
            key,
            secret,
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "61000",
            },
        )
        await paper.fill("binance", str(placed["orderId"]), "0.004")
        seen = await frames_until(
            ws, lambda fs: any(f.get("e") == "ACCOUNT_UPDATE" for f in fs if isinstance(f, dict))
        )
        updates = [f["o"] for f in seen if f.get("e") == "ORDER_TRADE_UPDATE"]
        assert [(u["x"], u["X"]) for u in updates] == [
            ("NEW", "NEW"),
            ("TRADE", "PARTIALLY_FILLED"),
        ]
        trade = updates[1]
        assert trade["l"] == "0.004" and trade["L"] == "61000" and trade["z"] == "0.004"
        assert trade["N"] == "USDT" and trade["n"] == "0" and trade["m"] is True
        assert trade["t"] > 0 and trade["i"] == placed["orderId"]
        account = next(f for f in seen if f.get("e") == "ACCOUNT_UPDATE")["a"]
        assert account["P"][0]["s"] == "BTCUSDT" and account["P"][0]["pa"] == "-0.004"
        assert account["B"][0]["a"] == "USDT"

    run(scenario)


def test_expire_listen_key_sends_listen_key_expired_and_closes():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("binance")
        _, created = await listen_key(paper, key)
        ws = await paper.ws(f"/binance/private/ws?listenKey={created['listenKey']}")
        assert await paper.fault("binance", "expireListenKey", key) == 1
        seen = await frames_until(ws, lambda fs: CLOSED in fs)
        assert seen[0]["e"] == "listenKeyExpired"
        assert seen[0]["listenKey"] == created["listenKey"]
        status, answer = await listen_key(paper, key, "PUT")
        assert status == 400 and answer["code"] == -1125

    run(scenario)


def test_a_lapsed_key_is_swept_with_its_expiry_event():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("binance")
        _, created = await listen_key(paper, key)
        ws = await paper.ws(f"/binance/ws/{created['listenKey']}")
        hub = paper.client.app[STREAMS]
        hub.listen_keys.find("binance", created["listenKey"]).expires_ms = 0
        hub.sweep()
        seen = await frames_until(ws, lambda fs: CLOSED in fs)
        assert seen[0]["e"] == "listenKeyExpired"

    run(scenario)


def test_futures_drop_is_abrupt():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("binance")
        _, created = await listen_key(paper, key)
        ws = await paper.ws(f"/binance/ws/{created['listenKey']}")
        assert await paper.fault("binance", "drop", key) == 1
        assert await closed_abruptly(ws)

    run(scenario)
