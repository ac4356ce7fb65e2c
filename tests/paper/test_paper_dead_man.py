"""The paper exchange's dead-man switches: the engine's countdowns and disconnect switch
with a hand-driven clock, then each exchange's endpoint over HTTP (signed with the stream
tests' own signers, never the connectors'), with the cancels pushed to the streams and the
armed switches shown in /_paper/stats."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime
from decimal import Decimal

from paper.engine import Engine, EngineEvent, PaperAccount
from tests.paper import test_paper_streams_binance as binance_streams
from tests.paper import test_paper_streams_bingx as bingx_streams
from tests.paper import test_paper_streams_bybit as bybit_streams
from tests.paper import test_paper_streams_okx as okx_streams
from tests.paper.streams_support import Paper, frames_until, run

LIMIT = {"type": "limit", "quantity": Decimal("0.01"), "price": Decimal("50000")}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def engine_with_account(exchange: str = "okx") -> tuple[Engine, Clock, PaperAccount]:
    clock = Clock()
    engine = Engine(None, clock=clock)
    account, _ = engine.upsert_account(
        exchange, api_key="k", api_secret="s", balances={"USDT": Decimal("100000")}
    )
    return engine, clock, account


def resting(engine: Engine, account: PaperAccount, symbol: str, side: str = "buy"):
    return engine.place_order(account.exchange, account, symbol=symbol, side=side, **LIMIT)


# -- the engine -----------------------------------------------------------------------------


def test_an_unrefreshed_countdown_cancels_the_accounts_open_orders_once():
    engine, clock, account = engine_with_account()
    spot, swap = resting(engine, account, "BTC/USDT"), resting(engine, account, "BTC/USDT:USDT")
    events: list[EngineEvent] = []
    engine.listeners.append(events.append)
    engine.dead_man.arm(account, seconds=10)
    clock.now += 9.9
    assert engine.dead_man.check() == []
    clock.now += 0.2
    assert {o.order_id for o in engine.dead_man.check()} == {spot.order_id, swap.order_id}
    assert engine.open_orders("okx", account) == []
    assert [(e.kind, e.order.status) for e in events] == [("closed", "canceled")] * 2
    assert engine.dead_man.armed() == []  # fired: it must be armed again
    assert engine.dead_man.stats("okx")["ordersCanceled"] == 2


def test_refreshing_before_the_deadline_keeps_the_orders():
    engine, clock, account = engine_with_account()
    order = resting(engine, account, "BTC/USDT")
    for _ in range(5):
        engine.dead_man.arm(account, seconds=10)
        clock.now += 6
        assert engine.dead_man.check() == []
    assert order.is_open


def test_a_per_symbol_switch_cancels_only_its_symbol_and_disarm_stops_it():
    engine, clock, account = engine_with_account("binance")
    btc = resting(engine, account, "BTC/USDT:USDT")
    eth = engine.place_order(
        "binance",
        account,
        symbol="ETH/USDT:USDT",
        side="buy",
        type="limit",
        quantity=Decimal("0.1"),
        price=Decimal("1000"),
    )
    engine.dead_man.arm(account, seconds=5, symbol="BTC/USDT:USDT")
    engine.dead_man.arm(account, seconds=5, symbol="ETH/USDT:USDT")
    assert engine.dead_man.disarm(account, symbol="ETH/USDT:USDT")
    clock.now += 6
    assert [o.order_id for o in engine.dead_man.check()] == [btc.order_id]
    assert eth.is_open


def test_a_product_switch_leaves_the_other_product_alone():
    engine, clock, account = engine_with_account("bingx")
    spot, swap = resting(engine, account, "BTC/USDT"), resting(engine, account, "BTC/USDT:USDT")
    engine.dead_man.arm(account, seconds=10, product="linear")
    clock.now += 11
    assert [o.order_id for o in engine.dead_man.check()] == [swap.order_id]
    assert spot.is_open


def test_a_disconnect_switch_runs_only_while_the_stream_is_away():
    engine, clock, account = engine_with_account("bybit")
    order = resting(engine, account, "BTC/USDT:USDT")
    engine.dead_man.arm(account, seconds=10, kind="disconnect", product="linear")
    clock.now += 60
    assert engine.dead_man.check() == []  # no stream ever: no first disconnection
    engine.dead_man.stream_presence("bybit", "k", live=True)
    engine.dead_man.stream_presence("bybit", "k", live=False)
    clock.now += 8
    engine.dead_man.stream_presence("bybit", "k", live=True)  # back within the window
    clock.now += 60
    assert engine.dead_man.check() == []
    engine.dead_man.stream_presence("bybit", "k", live=False)
    clock.now += 10.5
    assert [o.order_id for o in engine.dead_man.check()] == [order.order_id]


def test_unsubscribing_dcp_starts_no_countdown_only_losing_the_stream_does():
    engine, clock, account = engine_with_account("bybit")
    order = resting(engine, account, "BTC/USDT:USDT")
    engine.dead_man.arm(account, seconds=3, kind="disconnect", product="linear")
    engine.dead_man.stream_presence("bybit", "k", live=True)
    engine.dead_man.stream_presence("bybit", "k", live=False, disconnected=False)
    clock.now += 10
    assert engine.dead_man.check() == [] and order.is_open


def test_the_test_only_window_scale_shortens_windows_armed_afterwards():
    engine, clock, account = engine_with_account()
    resting(engine, account, "BTC/USDT")
    engine.dead_man.window_scale = 0.05
    switch = engine.dead_man.arm(account, seconds=10)
    assert switch.seconds == 0.5
    clock.now += 0.6
    assert len(engine.dead_man.check()) == 1


# -- over HTTP, each exchange's endpoint -----------------------------------------------------


async def stats(paper: Paper, exchange: str) -> dict:
    _, answer = await paper.control("stats", method="GET")
    return answer["exchanges"][exchange]["deadMan"]


async def wait_for(predicate, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_okx_cancel_all_after_fires_pushes_the_cancel_and_shows_in_stats():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        status, _ = await paper.control("dead-man", {"windowScale": 0.05})
        assert status == 200
        order_id = await okx_streams.place(paper, creds)
        ws = await okx_streams.connect(paper, creds, {"channel": "orders", "instType": "ANY"})
        answer = await okx_signed(
            paper, creds, "/api/v5/trade/cancel-all-after", '{"timeOut":"10"}'
        )
        assert answer["code"] == "0" and int(answer["data"][0]["triggerTime"]) > 0
        armed = (await stats(paper, "okx"))["armed"]
        assert [(s["kind"], s["seconds"]) for s in armed] == [("countdown", 0.5)]
        frames = await frames_until(
            ws, lambda fs: any(order.get("state") == "canceled" for order in orders_pushed(fs))
        )
        canceled = [order for order in orders_pushed(frames) if order["state"] == "canceled"]
        assert canceled[0]["ordId"] == order_id
        after = await stats(paper, "okx")
        assert (after["armed"], after["fired"], after["ordersCanceled"]) == ([], 1, 1)
        await ws.close()

    run(scenario)


def orders_pushed(frames: list) -> list[dict]:
    return [order for push in okx_streams.pushes(frames, "orders") for order in push["data"]]


def test_okx_refuses_a_time_out_outside_zero_or_10_to_120():
    async def scenario(paper: Paper) -> None:
        creds = await paper.account("okx")
        for body in ('{"timeOut":"5"}', '{"timeOut":"121"}', '{"timeOut":"x"}'):
            answer = await okx_signed(paper, creds, "/api/v5/trade/cancel-all-after", body)
            assert answer["code"] == "51000", answer
        answer = await okx_signed(paper, creds, "/api/v5/trade/cancel-all-after", '{"timeOut":"0"}')
        assert answer["data"][0]["triggerTime"] == "0"

    run(scenario)


async def okx_signed(paper: Paper, creds: tuple[str, str, str], path: str, body: str):
    key, secret, passphrase = creds
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    response = await paper.client.post(
        f"/okx{path}",
        data=body,
        headers={
            "OK-ACCESS-KEY": key,
            "OK-ACCESS-PASSPHRASE": passphrase,
            "OK-ACCESS-TIMESTAMP": stamp,
            "OK-ACCESS-SIGN": okx_streams.b64sign(secret, f"{stamp}POST{path}{body}"),
            "Content-Type": "application/json",
        },
    )
    return await response.json()


def test_binance_countdown_cancels_the_symbol_and_zero_stops_it():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("binance")
        order = await binance_streams.rest(
            paper,
            "POST",
            "/fapi/v1/order",
            key,
            secret,
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.01",
                "price": "50000",
            },
        )
        other = await binance_streams.rest(
            paper,
            "POST",
            "/fapi/v1/order",
            key,
            secret,
            {
                "symbol": "ETHUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.1",
                "price": "1000",
            },
        )
        answer = await binance_streams.rest(
            paper,
            "POST",
            "/fapi/v1/countdownCancelAll",
            key,
            secret,
            {"symbol": "ETHUSDT", "countdownTime": "300"},
        )
        assert answer == {"symbol": "ETHUSDT", "countdownTime": "300"}
        await binance_streams.rest(
            paper,
            "POST",
            "/fapi/v1/countdownCancelAll",
            key,
            secret,
            {"symbol": "ETHUSDT", "countdownTime": "0"},
        )
        await binance_streams.rest(
            paper,
            "POST",
            "/fapi/v1/countdownCancelAll",
            key,
            secret,
            {"symbol": "BTCUSDT", "countdownTime": "300"},
        )
        account = paper.engine.account("binance", key)
        await wait_for(
            lambda: (
                not paper.engine.get_order(
                    "binance", account, order_id=str(order["orderId"])
                ).is_open
            )
        )
        assert paper.engine.get_order("binance", account, order_id=str(other["orderId"])).is_open

    run(scenario)


def test_bingx_activate_cancels_the_swap_orders_and_close_disarms():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bingx")
        await paper.control("dead-man", {"windowScale": 0.02})
        placed = await bingx_streams.place(
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
            },
        )
        data = await bingx_streams.place(
            paper,
            key,
            secret,
            "/openApi/spot/v1/trade/cancelAllAfter",
            {"type": "ACTIVATE", "timeOut": "10"},
        )
        assert data["status"] == "ACTIVATED"
        data = await bingx_streams.place(
            paper,
            key,
            secret,
            "/openApi/spot/v1/trade/cancelAllAfter",
            {"type": "CLOSE", "timeOut": "10"},
        )
        assert data == {"triggerTime": 0, "status": "CLOSED", "note": ""}
        data = await bingx_streams.place(
            paper,
            key,
            secret,
            "/openApi/swap/v2/trade/cancelAllAfter",
            {"type": "ACTIVATE", "timeOut": "10"},
        )
        assert data["status"] == "ACTIVATED" and data["triggerTime"] > 0
        account = paper.engine.account("bingx", key)
        order_id = str(placed["order"]["orderId"])
        await wait_for(
            lambda: not paper.engine.get_order("bingx", account, order_id=order_id).is_open
        )

    run(scenario)


def test_bybit_dcp_fires_when_the_dcp_stream_is_lost_not_while_it_is_up():
    async def scenario(paper: Paper) -> None:
        key, secret, _ = await paper.account("bybit")
        await paper.control("dead-man", {"windowScale": 0.1})  # 3 s -> 0.3 s
        order_id = await bybit_streams.place(paper, key, secret)
        ws = await bybit_streams.connect(paper, key, secret, ("order", "dcp"))
        body = '{"product":"DERIVATIVES","timeWindow":3}'
        stamp = str(int(time.time() * 1000))
        sign = hmac.new(
            secret.encode(), f"{stamp}{key}5000{body}".encode(), hashlib.sha256
        ).hexdigest()
        response = await paper.client.post(
            "/bybit/v5/order/disconnected-cancel-all",
            data=body,
            headers={
                "X-BAPI-API-KEY": key,
                "X-BAPI-TIMESTAMP": stamp,
                "X-BAPI-RECV-WINDOW": "5000",
                "X-BAPI-SIGN": sign,
                "Content-Type": "application/json",
            },
        )
        assert (await response.json())["retCode"] == 0
        armed = (await stats(paper, "bybit"))["armed"]
        assert [(s["kind"], s["product"], s["firesInSeconds"]) for s in armed] == [
            ("disconnect", "linear", None)
        ]
        account = paper.engine.account("bybit", key)
        await asyncio.sleep(0.6)  # twice the (scaled) window, stream up
        assert paper.engine.get_order("bybit", account, order_id=order_id).is_open
        await ws.close()
        await wait_for(
            lambda: not paper.engine.get_order("bybit", account, order_id=order_id).is_open
        )
        assert (await stats(paper, "bybit"))["fired"] == 1

    run(scenario)
