"""OKX's private stream on the paper exchange (``/okx/ws/v5/private``), with a raw client.
The login signature is this file's own (base64 HMAC-SHA256 of seconds + "GET" +
"/users/self/verify"), checked first against the facts' derived vector."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

from tests.paper.streams_support import (
    Paper,
    closed_abruptly,
    frame,
    frames_until,
    quiet,
    run,
)

PATH = "/okx/ws/v5/private"


def b64sign(secret: str, text: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def test_the_test_signer_reproduces_the_facts_login_vector():
    assert (
        b64sign("22582BD0CFF14C41EDBF1AB98506286D", "1704876947GET/users/self/verify")
        == "5/36BgGV6m/6pmdc20zdqk0mzF5ZalmzzPD2fo3wavU="
    )


def login_frame(
    key: str, secret: str, passphrase: str, *, stamp: int | None = None
) -> dict[str, Any]:
    seconds = str(int(time.time()) if stamp is None else stamp)
    return {
        "op": "login",
        "args": [
            {
                "apiKey": key,
                "passphrase": passphrase,
                "timestamp": seconds,
                "sign": b64sign(secret, f"{seconds}GET/users/self/verify"),
            }
        ],
    }


async def connect(paper: Paper, creds: tuple[str, str, str], *args: dict[str, Any]):
    ws = await paper.ws(PATH)
    await ws.send_json(login_frame(*creds))
    assert (await frame(ws))["code"] == "0"
    if args:
        await ws.send_json({"id": "s1", "op": "subscribe", "args": list(args)})
        await frames_until(
            ws, lambda fs: sum(1 for f in fs if f.get("event") == "subscribe") == len(args)
        )
    return ws


async def place(paper: Paper, creds: tuple[str, str, str], **fields: Any) -> str:
    key, secret, passphrase = creds
    body = json.dumps(
        {
            "instId": "BTC-USDT-SWAP",
            "tdMode": "cross",
            "side": "buy",
            "ordType": "limit",
            "px": "50000",
            "sz": "2",
            **fields,
        },
        separators=(",", ":"),
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    path = "/api/v5/trade/order"
    response = await paper.client.post(
        f"/okx{path}",
        data=body,
        headers={
            "OK-ACCESS-KEY": key,
            "OK-ACCESS-PASSPHRASE": passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": b64sign(secret, f"{stamp}POST{path}{body}"),
            "Content-Type": "application/json",
        },
    )
    answer = await response.json()
    assert answer["code"] == "0", answer
    return answer["data"][0]["ordId"]


def pushes(frames: list[Any], channel: str) -> list[dict[str, Any]]:
    return [
        f
        for f in frames
        if isinstance(f, dict) and "data" in f and f.get("arg", {}).get("channel") == channel
    ]


def test_login_with_a_good_signature_succeeds():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await paper.ws(PATH)
        await ws.send_json(login_frame(*creds))
        answer = await frame(ws)
        assert answer == {"event": "login", "code": "0", "msg": "", "connId": answer["connId"]}

    run(scenario)


def test_login_with_a_bad_signature_a_stale_stamp_or_passphrase_fails_with_60009():
    async def scenario(paper: Paper) -> None:
        key, secret, passphrase = await paper.account("okx")
        ws = await paper.ws(PATH)
        for bad in (
            login_frame(key, "wrong", passphrase),
            login_frame(key, secret, passphrase, stamp=int(time.time()) - 60),
            login_frame(key, secret, "wrong"),
            login_frame("nobody", secret, "x"),
        ):
            await ws.send_json(bad)
            answer = await frame(ws)
            assert (answer["event"], answer["code"], answer["msg"]) == (
                "error",
                "60009",
                "Login failed.",
            )
        await ws.send_json({"op": "subscribe", "args": [{"channel": "account"}]})
        assert (await frame(ws))["code"] == "60011"
        assert (await paper.stream_stats("okx"))["authFailures"] == 4

    run(scenario)


def test_text_ping_is_answered_pong_and_bad_requests_get_okx_errors():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await connect(paper, creds)
        await ws.send_str("ping")
        assert await frame(ws) == "pong"
        await ws.send_json({"op": "subscribe", "args": [{"channel": "orders"}]})
        assert (await frame(ws))["code"] == "60013"  # orders needs instType
        await ws.send_json({"op": "subscribe", "args": [{"channel": "tickers-x"}]})
        assert (await frame(ws))["code"] == "60018"
        await ws.send_json({"op": "fly"})
        assert (await frame(ws))["code"] == "60019"
        await ws.send_str("{")
        assert (await frame(ws))["code"] == "60012"

    run(scenario)


def test_a_silent_socket_is_closed_after_the_idle_deadline():
    async def scenario(paper: Paper) -> None:
        ws = await paper.ws(PATH)
        assert await closed_abruptly(ws, timeout=2)

    run(scenario, {"okx": {"idle_timeout": 0.3}})


def test_account_and_balance_and_position_send_a_snapshot_on_subscribe():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await paper.ws(PATH)
        await ws.send_json(login_frame(*creds))
        await frame(ws)
        await ws.send_json(
            {
                "op": "subscribe",
                "args": [{"channel": "account"}, {"channel": "balance_and_position"}],
            }
        )
        seen = await frames_until(ws, lambda fs: len([f for f in fs if "data" in f]) == 2)
        details = {d["ccy"]: d for d in pushes(seen, "account")[0]["data"][0]["details"]}
        assert details["USDT"]["cashBal"] == "100000"
        snapshot = pushes(seen, "balance_and_position")[0]["data"][0]
        assert snapshot["eventType"] == "snapshot"

    run(scenario)


def test_a_swap_order_filled_by_control_pushes_orders_in_contracts_and_positions():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await connect(
            paper,
            creds,
            {"channel": "orders", "instType": "SWAP"},
            {"channel": "positions", "instType": "ANY"},
        )
        order_id = await place(paper, creds, clOrdId="okx1")
        await paper.fill("okx", order_id, "0.005")  # base: half of 2 contracts
        seen = await frames_until(ws, lambda fs: pushes(fs, "positions"))
        rows = [p["data"][0] for p in pushes(seen, "orders")]
        assert [r["state"] for r in rows] == ["live", "partially_filled"]
        live, partial = rows
        assert live["ordId"] == order_id and live["clOrdId"] == "okx1" and live["sz"] == "2"
        assert partial["fillSz"] == "0.5" and partial["accFillSz"] == "0.5"
        assert partial["fillPx"] == "50000" and partial["execType"] == "M"
        assert partial["tradeId"] and partial["fillFee"] == "0"
        assert partial["fillFeeCcy"] == "USDT"
        assert pushes(seen, "orders")[0]["arg"]["instType"] == "SWAP"
        position = pushes(seen, "positions")[0]["data"][0]
        assert position["instId"] == "BTC-USDT-SWAP" and position["pos"] == "0.5"
        assert position["avgPx"] == "50000"

    run(scenario)


def test_a_spot_subscription_hears_no_swap_orders():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await connect(paper, creds, {"channel": "orders", "instType": "SPOT"})
        await place(paper, creds)
        assert await quiet(ws) == []
        await place(paper, creds, instId="BTC-USDT", tdMode="cash", sz="0.001")
        assert pushes([await frame(ws)], "orders")[0]["data"][0]["instType"] == "SPOT"

    run(scenario)


def test_okx_drop_and_stall():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        ws = await connect(paper, creds, {"channel": "orders", "instType": "ANY"})
        assert await paper.fault("okx", "stall", creds[0]) == 1
        await ws.send_str("ping")
        assert await quiet(ws) == []
        assert await paper.fault("okx", "drop", creds[0]) == 1
        assert await closed_abruptly(ws)

    run(scenario)
