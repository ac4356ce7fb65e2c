"""Pionex private streams: parse tests against pionex-open-api's WebSocket examples."""

from __future__ import annotations

import json
from decimal import Decimal

from exchanges.streams.base import FillUpdate, PositionUpdate
from exchanges.streams.pionex import PionexStream

SPOT = PionexStream("spot")
FUTURES = PionexStream("perpetual_futures")

# websocketapi_futures.yaml examples (verbatim)
ORDER = {
    "topic": "ORDER",
    "symbol": "BTC_USDT_PERP",
    "timestamp": 1566691672311,
    "data": {
        "orderId": 1234567890,
        "symbol": "BTC_USDT_PERP",
        "type": "LIMIT",
        "positionMode": "BUYSELL",
        "isolatedMode": "CROSS",
        "side": "BUY",
        "positionSide": "LONG",
        "price": "30000.00",
        "origSize": "0.2000",
        "size": "0.1000",
        "amount": "",
        "filledSize": "0.0500",
        "filledAmount": "1500.00",
        "status": "OPEN",
        "reduceOnly": False,
        "clientOrderId": "9e3d93d6-e9a4-465a-a39c-2e48568fe194",
        "source": "API",
        "createTime": 1566676132311,
        "updateTime": 1566691672311,
    },
}
FILL = {
    "topic": "FILL",
    "symbol": "BTC_USDT_PERP",
    "timestamp": 1566691672311,
    "data": {
        "id": 9876543210,
        "orderId": 1234567890,
        "symbol": "BTC_USDT_PERP",
        "side": "BUY",
        "role": "TAKER",
        "price": "30000.00",
        "size": "0.1000",
        "fee": "0.06",
        "feeCoin": "USDT",
        "feeType": "TRADING",
        "timestamp": 1566676132311,
    },
}
POSITION = {
    "topic": "POSITION",
    "symbol": "BTC_USDT_PERP",
    "timestamp": 1566691672311,
    "data": {
        "positionId": "dfadaf_sa_233322",
        "symbol": "BTC_USDT_PERP",
        "isolatedMode": "CROSS",
        "positionSide": "LONG",
        "netSize": "2.1000",
        "avgPrice": "28500.50",
        "sizeLong": "2.1000",
        "sizeShort": "0",
        "amountLong": "-59850.00",
        "amountShort": "0",
        "amountSettled": "0",
        "sizeLiquidated": "0",
        "amountLiquidated": "0",
        "sizeTakeover": "0",
        "createTime": 1566676132311,
        "updateTime": 1566691672311,
    },
}
# websocketapi.yaml balance example (verbatim)
BALANCE = {
    "topic": "BALANCE",
    "timestamp": 1566691672311,
    "data": {
        "balances": [
            {"coin": "BTC", "free": "0.90000000", "frozen": "0.00000000"},
            {"coin": "USDT", "free": "100.00000000", "frozen": "900.00000000"},
        ],
        "timestamp": 1566691672311,
    },
}
ISOLATED_BALANCE = {
    "topic": "BALANCE",
    "timestamp": 1566691672311,
    "data": {
        "type": "ISOLATE_LONG",
        "symbol": "BTC_USDT_PERP",
        "balances": [
            {"coin": "USDT", "free": "1000.00000000", "frozen": "500.00000000", "debts": "0"}
        ],
    },
}
SUBSCRIBED = {"type": "SUBSCRIBED", "topic": "ORDER", "symbol": "BTC_USDT"}
PING = {"op": "PING", "timestamp": 1566691672311}


def test_open_order_with_fills_is_partially_filled():
    [order] = FUTURES.parse(json.dumps(ORDER))
    assert (order.symbol, order.status, order.filled_quantity, order.average_price) == (
        "BTC/USDT:USDT",
        "partially_filled",
        Decimal("0.0500"),
        Decimal("30000"),
    )
    assert order.client_order_id == "9e3d93d6-e9a4-465a-a39c-2e48568fe194"


def test_closed_order_is_filled_when_its_size_filled_else_canceled():
    filled = dict(ORDER, data=dict(ORDER["data"], status="CLOSED", filledSize="0.1000"))
    short = dict(ORDER, data=dict(ORDER["data"], status="CLOSED"))
    assert FUTURES.parse(json.dumps(filled))[0].status == "filled"
    assert FUTURES.parse(json.dumps(short))[0].status == "canceled"


def test_fill_is_taker_with_fee():
    [fill] = FUTURES.parse(json.dumps(FILL))
    assert fill == FillUpdate(
        exchange="pionex",
        trade_id="9876543210",
        exchange_order_id="1234567890",
        client_order_id=None,
        symbol="BTC/USDT:USDT",
        side="buy",
        price=Decimal("30000.00"),
        quantity=Decimal("0.1000"),
        fee=Decimal("0.06"),
        fee_asset="USDT",
        liquidity="taker",
        time_ms=1566676132311,
    )


def test_position_and_balances():
    [position] = FUTURES.parse(json.dumps(POSITION))
    assert position == PositionUpdate(
        exchange="pionex",
        symbol="BTC/USDT:USDT",
        quantity=Decimal("2.1000"),
        entry_price=Decimal("28500.50"),
        position_side="LONG",
        time_ms=1566691672311,
    )
    btc, usdt = SPOT.parse(json.dumps(BALANCE))
    assert (usdt.free, usdt.locked, usdt.total) == (
        Decimal("100.00000000"),
        Decimal("900.00000000"),
        Decimal("1000.00000000"),
    )
    assert btc.asset == "BTC"
    assert FUTURES.parse(json.dumps(ISOLATED_BALANCE)) == []


def test_ping_is_answered_with_its_timestamp_and_acks_give_nothing():
    assert json.loads(SPOT.reply(json.dumps(PING))) == {"op": "PONG", "timestamp": 1566691672311}
    assert SPOT.parse(json.dumps(PING)) == []
    assert SPOT.parse(json.dumps(SUBSCRIBED)) == []


def test_spot_subscribes_per_symbol_and_futures_for_all():
    spot = [json.loads(frame) for frame in SPOT.subscribe_messages(["BTC/USDT"])]
    assert spot == [
        {"op": "SUBSCRIBE", "topic": "ORDER", "symbol": "BTC_USDT"},
        {"op": "SUBSCRIBE", "topic": "FILL", "symbol": "BTC_USDT"},
        {"op": "SUBSCRIBE", "topic": "BALANCE"},
    ]
    futures = [json.loads(frame) for frame in FUTURES.subscribe_messages()]
    assert [f.get("symbol") for f in futures] == ["ALL", "ALL", "ALL", None]
    assert FUTURES.url("live") == "wss://ws.pionex.com/wsUA"
