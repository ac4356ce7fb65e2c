"""Bybit private stream: parse tests against the documentation's message shapes."""

from __future__ import annotations

import json
from decimal import Decimal

from exchanges.streams.base import FillUpdate, OrderUpdate, PositionUpdate
from exchanges.streams.bybit import BybitStream

STREAM = BybitStream("unified_account")

# docs/v5/websocket/private/order (shape), one linear order partially filled
ORDER = {
    "id": "5923240c6880ab-c59f-420b-9adb-3639adc9dd90",
    "topic": "order",
    "creationTime": 1672364262474,
    "data": [
        {
            "category": "linear",
            "symbol": "ETHUSDT",
            "orderId": "5cf98598-39a7-459e",
            "orderLinkId": "ec0123abc",
            "side": "Buy",
            "orderType": "Limit",
            "price": "1193.15",
            "qty": "0.10",
            "timeInForce": "GTC",
            "orderStatus": "PartiallyFilled",
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": "1190.8",
            "leavesQty": "0.05",
            "cumExecQty": "0.05",
            "cumExecValue": "59.54",
            "cumExecFee": "0.0357",
            "positionIdx": 0,
            "createdTime": "1672364262444",
            "updatedTime": "1672364262457",
        }
    ],
}
# docs/v5/websocket/private/execution (shape)
EXECUTION = {
    "id": "592324803b2785-26fa-4214-9963-bdd4727f07be",
    "topic": "execution",
    "creationTime": 1672364174455,
    "data": [
        {
            "category": "linear",
            "symbol": "XRPUSDT",
            "execFee": "0.005061",
            "execId": "7e2ae69c-4edf-5800-a352-893d52b446aa",
            "execPrice": "0.3374",
            "execQty": "25",
            "execType": "Trade",
            "execValue": "8.435",
            "feeRate": "0.0006",
            "isMaker": False,
            "orderId": "f6e324ff-99c2-4e89",
            "orderLinkId": "",
            "side": "Sell",
            "execTime": "1672364174443",
        }
    ],
}
FUNDING = {
    "topic": "execution",
    "creationTime": 1,
    "data": [dict(EXECUTION["data"][0], execType="Funding", execId="f-1")],
}
POSITION = {
    "id": "1003076014fb7eedb-c7e6-45d6-a8c1-270f0169171a",
    "topic": "position",
    "creationTime": 1697682317044,
    "data": [
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Sell",
            "size": "0.01",
            "positionIdx": 0,
            "entryPrice": "28000",
            "unrealisedPnl": "-1.5",
            "updatedTime": "1697682317038",
        }
    ],
}
WALLET = {
    "id": "592324d2bce751-ad38-48eb-8f42-4671d1fb4d4e",
    "topic": "wallet",
    "creationTime": 1700034722104,
    "data": [
        {
            "accountType": "UNIFIED",
            "coin": [
                {"coin": "USDT", "walletBalance": "1000.5", "locked": "10", "equity": "1000.5"}
            ],
        }
    ],
}
PONG = {"success": True, "ret_msg": "pong", "conn_id": "cfcb4ocsvfriu23r3er0-1b", "op": "pong"}
AUTH_OK = {"success": True, "ret_msg": "", "op": "auth", "conn_id": "cejreaspqfh3sjdnldmg-p"}
SUBSCRIBED = {
    "success": True,
    "ret_msg": "",
    "op": "subscribe",
    "conn_id": "cejreassvfrsfvb9v1a0-2m",
}


def test_order_update_maps_status_quantities_and_ids():
    [update] = STREAM.parse(json.dumps(ORDER))
    assert update == OrderUpdate(
        exchange="bybit",
        symbol="ETH/USDT:USDT",
        exchange_order_id="5cf98598-39a7-459e",
        client_order_id="ec0123abc",
        status="partially_filled",
        raw_status="PartiallyFilled",
        side="buy",
        quantity=Decimal("0.10"),
        filled_quantity=Decimal("0.05"),
        average_price=Decimal("1190.8"),
        price=Decimal("1193.15"),
        updated_at_ms=1672364262457,
    )


def test_execution_is_a_taker_fill_in_the_settle_coin():
    [fill] = STREAM.parse(json.dumps(EXECUTION))
    assert fill == FillUpdate(
        exchange="bybit",
        trade_id="7e2ae69c-4edf-5800-a352-893d52b446aa",
        exchange_order_id="f6e324ff-99c2-4e89",
        client_order_id=None,
        symbol="XRP/USDT:USDT",
        side="sell",
        price=Decimal("0.3374"),
        quantity=Decimal("25"),
        fee=Decimal("0.005061"),
        fee_asset="USDT",
        liquidity="taker",
        time_ms=1672364174443,
    )


def test_funding_executions_are_not_fills():
    assert STREAM.parse(json.dumps(FUNDING)) == []


def test_short_position_is_negative():
    [position] = STREAM.parse(json.dumps(POSITION))
    assert position == PositionUpdate(
        exchange="bybit",
        symbol="BTC/USDT:USDT",
        quantity=Decimal("-0.01"),
        entry_price=Decimal("28000"),
        unrealized_pnl=Decimal("-1.5"),
        position_side="BOTH",
        time_ms=1697682317038,
    )


def test_wallet_gives_balance_total_and_locked():
    [balance] = STREAM.parse(json.dumps(WALLET))
    assert (balance.asset, balance.total, balance.locked) == (
        "USDT",
        Decimal("1000.5"),
        Decimal("10"),
    )


def test_pong_and_acks_give_no_updates():
    for frame in (PONG, AUTH_OK, SUBSCRIBED):
        assert STREAM.parse(json.dumps(frame)) == []


def test_auth_outcome_reads_success_and_failure():
    assert STREAM.auth_outcome(json.dumps(AUTH_OK)).ok is True
    failed = STREAM.auth_outcome(json.dumps(dict(AUTH_OK, success=False, ret_msg="Params Error")))
    assert (failed.ok, failed.message) == (False, "Params Error")
    assert STREAM.auth_outcome(json.dumps(PONG)) is None


def test_repeated_and_reordered_frames_give_the_same_updates():
    frames = [json.dumps(ORDER), json.dumps(EXECUTION)]
    forward = [STREAM.parse(frame) for frame in frames]
    backward = [STREAM.parse(frame) for frame in reversed(frames)]
    assert forward == list(reversed(backward))
    assert STREAM.parse(frames[0]) == STREAM.parse(frames[0])


def test_inverse_and_option_categories_are_ignored():
    frame = dict(ORDER, data=[dict(ORDER["data"][0], category="inverse", symbol="BTCUSD")])
    assert STREAM.parse(json.dumps(frame)) == []


def test_subscribes_all_in_one_topics_and_pings_in_json():
    assert json.loads(STREAM.subscribe_messages()[0]) == {
        "op": "subscribe",
        "args": ["order", "execution", "wallet", "position"],
    }
    assert json.loads(STREAM.heartbeat.send) == {"op": "ping"}
    assert STREAM.url("testnet") == "wss://stream-testnet.bybit.com/v5/private"
    assert STREAM.url("paper", base="ws://127.0.0.1:8900/bybit") == (
        "ws://127.0.0.1:8900/bybit/v5/private"
    )


def test_a_connection_with_its_dead_man_switch_enabled_also_subscribes_dcp():
    frame = json.loads(BybitStream("spot", dead_man=True).subscribe_messages()[0])
    assert frame["args"] == ["order", "execution", "wallet", "position", "dcp"]
