"""Bybit's private stream on the paper exchange (``/bybit/v5/private``), with a raw client.

Signatures are this file's own: hex HMAC-SHA256 of "GET/realtime" + expires (WS) and of
timestamp + key + recvWindow + body (REST), checked first against the facts' vector.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from tests.paper.streams_support import (
    CLOSED,
    Paper,
    closed_abruptly,
    frame,
    frames_until,
    quiet,
    run,
)

PATH = "/bybit/v5/private"


def ws_sign(secret: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


def test_the_test_signer_reproduces_the_facts_ws_vector():
    assert (
        ws_sign("Y" * 36, 1662350400000)
        == "9f96338b434359fa6300c2d0040ffe25962cbc700dac649bfc7c59ef64431f89"
    )


async def place(paper: Paper, key: str, secret: str, **fields: Any) -> str:
    body = json.dumps(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.01",
            "price": "50000",
            "timeInForce": "GTC",
            **fields,
        },
        separators=(",", ":"),
    )
    stamp = str(int(time.time() * 1000))
    sign = hmac.new(secret.encode(), f"{stamp}{key}5000{body}".encode(), hashlib.sha256).hexdigest()
    response = await paper.client.post(
        "/bybit/v5/order/create",
        data=body,
        headers={
            "X-BAPI-API-KEY": key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": "5000",
            "X-BAPI-SIGN": sign,
            "Content-Type": "application/json",
        },
    )
    answer = await response.json()
    assert answer["retCode"] == 0, answer
    return answer["result"]["orderId"]


async def connect(
    paper: Paper,
    key: str,
    secret: str,
    topics: tuple[str, ...] = ("order", "execution", "wallet", "position"),
):
    ws = await paper.ws(PATH)
    expires = int(time.time() * 1000) + 10_000
    await ws.send_json(
        {"req_id": "a1", "op": "auth", "args": [key, expires, ws_sign(secret, expires)]}
    )
    assert (await frame(ws))["success"] is True
    await ws.send_json({"op": "subscribe", "args": list(topics)})
    assert (await frame(ws))["success"] is True
    return ws


def by_topic(frames: list[Any], topic: str) -> list[dict[str, Any]]:
    return [f for f in frames if isinstance(f, dict) and f.get("topic") == topic]


def test_auth_with_a_good_signature_succeeds_and_echoes_the_request_id():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await paper.ws(PATH)
        expires = int(time.time() * 1000) + 10_000
        await ws.send_json(
            {"req_id": "r7", "op": "auth", "args": [key, expires, ws_sign(secret, expires)]}
        )
        answer = await frame(ws)
        assert answer["success"] is True and answer["op"] == "auth"
        assert answer["req_id"] == "r7" and answer["conn_id"]

    run(scenario)


def test_auth_with_a_bad_signature_fails_clearly_and_is_counted():
    async def scenario(paper: Paper) -> None:
        key, _, _ = await paper.account("bybit")
        ws = await paper.ws(PATH)
        expires = int(time.time() * 1000) + 10_000
        await ws.send_json({"op": "auth", "args": [key, expires, ws_sign("wrong", expires)]})
        answer = await frame(ws)
        assert answer["success"] is False and answer["op"] == "auth"
        assert "signature" in answer["ret_msg"]
        await ws.send_json({"op": "subscribe", "args": ["order"]})
        assert (await frame(ws))["success"] is False  # still not authorised
        assert (await paper.stream_stats("bybit"))["authFailures"] == 1

    run(scenario)


def test_an_expired_auth_and_an_unknown_key_are_refused():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await paper.ws(PATH)
        past = int(time.time() * 1000) - 1000
        await ws.send_json({"op": "auth", "args": [key, past, ws_sign(secret, past)]})
        assert (await frame(ws))["success"] is False
        future = past + 20_000
        await ws.send_json({"op": "auth", "args": ["nobody", future, ws_sign(secret, future)]})
        assert (await frame(ws))["success"] is False

    run(scenario)


def test_ping_is_answered_with_a_pong():
    async def scenario(paper: Paper) -> None:
        ws = await paper.ws(PATH)
        await ws.send_json({"req_id": "p1", "op": "ping"})
        answer = await frame(ws)
        assert answer["op"] == "pong" and answer["req_id"] == "p1"
        assert answer["args"][0].isdigit()

    run(scenario)


def test_unknown_ops_topics_and_malformed_frames_get_bybit_refusals():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret, ("order",))
        await ws.send_json({"op": "dance"})
        assert (await frame(ws))["success"] is False
        await ws.send_json({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]})
        assert "topic" in (await frame(ws))["ret_msg"]
        await ws.send_json({"op": "subscribe", "args": ["order", "execution.linear"]})
        assert (await frame(ws))["success"] is False
        await ws.send_str("{not json")
        assert (await frame(ws))["success"] is False
        await ws.send_str("[" * 20 + "]" * 20)
        assert (await frame(ws))["success"] is False
        await ws.send_str("x" * 70_000)  # over the frame bound: closed (1009)
        assert await frame(ws) == CLOSED
        assert ws.close_code == 1009

    run(scenario)


def test_a_limit_order_filled_by_control_pushes_order_execution_wallet_and_position():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret)
        order_id = await place(paper, key, secret, orderLinkId="link-1")
        accepted = await frames_until(ws, lambda fs: by_topic(fs, "wallet"))
        new = by_topic(accepted, "order")[0]["data"][0]
        assert new["orderStatus"] == "New" and new["orderId"] == order_id
        assert new["orderLinkId"] == "link-1" and new["category"] == "linear"
        await paper.fill("bybit", order_id, "0.004")
        await paper.fill("bybit", order_id)
        seen = await frames_until(ws, lambda fs: len(by_topic(fs, "position")) == 2)
        statuses = [m["data"][0]["orderStatus"] for m in by_topic(seen, "order")]
        assert statuses == ["PartiallyFilled", "Filled"]
        executions = [m["data"][0] for m in by_topic(seen, "execution")]
        assert [e["execQty"] for e in executions] == ["0.004", "0.006"]
        first = executions[0]
        assert first["execPrice"] == "50000" and first["execType"] == "Trade"
        assert first["isMaker"] is True and first["execFee"] == "0"
        assert first["feeCurrency"] == "USDT" and first["orderLinkId"] == "link-1"
        assert executions[0]["execId"] != executions[1]["execId"]
        position = by_topic(seen, "position")[-1]["data"][0]
        assert position["symbol"] == "BTCUSDT" and position["size"] == "0.01"
        assert position["side"] == "Buy" and position["entryPrice"] == "50000"
        wallet = by_topic(seen, "wallet")[-1]["data"][0]["coin"][0]
        assert wallet["coin"] == "USDT"

    run(scenario)


def test_a_market_order_fills_as_taker_and_a_cancel_is_pushed():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret, ("order", "execution"))
        await place(paper, key, secret, orderType="Market", price=None)
        seen = await frames_until(ws, lambda fs: by_topic(fs, "execution"))
        assert by_topic(seen, "execution")[0]["data"][0]["isMaker"] is False
        resting = await place(paper, key, secret)
        await frames_until(ws, lambda fs: by_topic(fs, "order"))
        status, _ = await paper.control("reset")
        assert status == 200
        # a reset ends every stream; a cancel-all on a new stream is pushed as Cancelled
        ws = await connect(paper, key, secret, ("order",))
        resting = await place(paper, key, secret)
        await frames_until(ws, lambda fs: by_topic(fs, "order"))
        body = json.dumps({"category": "linear", "symbol": "BTCUSDT"}, separators=(",", ":"))
        stamp = str(int(time.time() * 1000))
        sign = hmac.new(
            secret.encode(), f"{stamp}{key}5000{body}".encode(), hashlib.sha256
        ).hexdigest()
        await paper.client.post(
            "/bybit/v5/order/cancel-all",
            data=body,
            headers={
                "X-BAPI-API-KEY": key,
                "X-BAPI-TIMESTAMP": stamp,
                "X-BAPI-RECV-WINDOW": "5000",
                "X-BAPI-SIGN": sign,
                "Content-Type": "application/json",
            },
        )
        seen = await frames_until(ws, lambda fs: by_topic(fs, "order"))
        canceled = by_topic(seen, "order")[0]["data"][0]
        assert canceled["orderId"] == resting and canceled["orderStatus"] == "Cancelled"
        assert canceled["cancelType"] == "CancelByUser"

    run(scenario)


def test_a_categorised_subscription_gets_only_its_category_under_its_topic():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret, ("order.spot",))
        await place(paper, key, secret)  # linear: not for this stream
        await place(paper, key, secret, category="spot", qty="0.001")
        got = await frame(ws)
        assert got["topic"] == "order.spot" and got["data"][0]["category"] == "spot"
        assert await quiet(ws) == []

    run(scenario)


# -- stream faults ---------------------------------------------------------------------------


async def fund(paper: Paper, key: str, amount: str) -> None:
    status, _ = await paper.control(
        "accounts",
        {
            "exchange": "bybit",
            "apiKey": key,
            "apiSecret": "unchanged-is-fine",
            "balances": {"USDT": amount},
        },
    )
    assert status == 200


def wallet_amount(message: dict[str, Any]) -> str:
    return message["data"][0]["coin"][0]["walletBalance"]


def test_drop_closes_the_stream_without_a_close_frame():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret)
        assert await paper.fault("bybit", "drop", key) == 1
        assert await closed_abruptly(ws)
        assert (await paper.stream_stats("bybit"))["live"] == 0

    run(scenario)


def test_stall_keeps_the_socket_open_and_answers_nothing():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret)
        assert await paper.fault("bybit", "stall", key) == 1
        await ws.send_json({"op": "ping"})
        await fund(paper, key, "123")
        assert await quiet(ws, seconds=0.5) == []
        assert not ws.closed
        await paper.fault("bybit", "drop", key)  # stalled streams still drop
        assert await closed_abruptly(ws)

    run(scenario)


def test_repeat_sends_the_next_event_message_twice():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret, ("wallet",))
        assert await paper.fault("bybit", "repeat", key) == 1
        before = (await paper.stream_stats("bybit"))["messagesSent"]
        await fund(paper, key, "111")
        await fund(paper, key, "222")
        seen = await frames_until(ws, lambda fs: len(fs) == 3)
        assert [wallet_amount(m) for m in seen] == ["111", "111", "222"]
        assert seen[0] == seen[1]
        assert (await paper.stream_stats("bybit"))["messagesSent"] == before + 3

    run(scenario)


def test_reorder_sends_the_next_event_after_the_one_that_follows():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret, ("wallet",))
        assert await paper.fault("bybit", "reorder", key) == 1
        await fund(paper, key, "111")
        assert await quiet(ws) == []  # held back
        await fund(paper, key, "222")
        await fund(paper, key, "333")
        seen = await frames_until(ws, lambda fs: len(fs) == 3)
        assert [wallet_amount(m) for m in seen] == ["222", "111", "333"]

    run(scenario)


def test_faults_only_touch_the_named_account_and_reset_clears_streams():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        other_key, other_secret, _ = await paper.account("bybit")
        ws = await connect(paper, key, secret)
        other = await connect(paper, other_key, other_secret)
        assert await paper.fault("bybit", "drop", other_key) == 1
        assert await closed_abruptly(other)
        await ws.send_json({"op": "ping"})
        assert (await frame(ws))["op"] == "pong"
        status, _ = await paper.control("reset")
        assert status == 200
        assert await closed_abruptly(ws)
        stats = await paper.stream_stats("bybit")
        assert stats["live"] == 0 and stats["connections"] == 0

    run(scenario)


def test_the_stream_control_refuses_bad_input():
    async def scenario(paper: Paper) -> None:
        for body in (
            {"exchange": "bybit", "action": "explode"},
            {"exchange": "nowhere", "action": "drop"},
            {"exchange": "bybit", "action": "drop", "apiKey": 7},
            {"exchange": "bybit", "action": "expireListenKey"},
            ["drop"],
        ):
            status, answer = await paper.control("streams", body)
            assert status == 400 and "error" in answer, body
        response = await paper.client.post("/_paper/streams", data="{nope")
        assert response.status == 400

    run(scenario)
