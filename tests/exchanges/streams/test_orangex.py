"""OrangeX private stream: JSON-RPC notifications, the live-captured user.trades payload."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchanges.streams.base import MessageRefused
from exchanges.streams.orangex import OrangexStream

STREAM = OrangexStream("perpetual_futures")

# user.trades as captured live by a third party (facts file section 7)
TRADES = {
    "jsonrpc": "2.0",
    "method": "subscription",
    "params": {
        "channel": "user.trades.BTC-USDT-PERPETUAL.raw",
        "data": [
            {
                "trade_id": "T123",
                "order_id": "828610767077068800",
                "instrument_name": "BTC-USDT-PERPETUAL",
                "show_name": "BTCUSDT",
                "direction": "buy",
                "amount": "0.01",
                "price": "50000",
                "timestamp": 1700000000000,
                "role": "taker",
                "order_type": "limit",
                "positionSide": "BOTH",
                "fee": "0.3",
                "fee_coin_type": "USDT",
                "source": "api",
            }
        ],
    },
}
ORDERS = {
    "jsonrpc": "2.0",
    "method": "subscription",
    "params": {
        "channel": "user.orders.BTC-USDT-PERPETUAL.raw",
        "data": {
            "order_id": "828610767077068800",
            "order_state": "open",
            "instrument_name": "BTC-USDT-PERPETUAL",
            "direction": "buy",
            "amount": "0.02",
            "price": "50000",
            "filled_amount": "0.01",
            "average_price": "50000",
            "custom_order_id": "",
            "error_code": 0,
            "last_update_timestamp": 1700000000000,
        },
    },
}
AUTH_OK = {"jsonrpc": "2.0", "id": "auth", "result": {"access_token": "tok", "expires_in": 43199}}
AUTH_FAILED = {
    "jsonrpc": "2.0",
    "id": "auth",
    "error": {"code": 10000, "message": "Authentication Failure"},
}
SUBSCRIBED = {"jsonrpc": "2.0", "id": "subscribe", "result": ["user.trades.BTC-USDT-PERPETUAL.raw"]}


def test_trade_notification_is_a_taker_fill():
    [fill] = STREAM.parse(json.dumps(TRADES))
    assert (fill.trade_id, fill.symbol, fill.quantity, fill.fee, fill.liquidity) == (
        "T123",
        "BTC/USDT:USDT",
        Decimal("0.01"),
        Decimal("0.3"),
        "taker",
    )


def test_asset_notification_reads_the_perpetual_area_as_the_rest_answer_has_it():
    """user.asset.PERPETUAL carries get_assets_info's PERPETUAL area (UNVERIFIED on the
    stream; the REST shape is live-tested): free is what is available, total the margin
    balance."""
    frame = {
        "jsonrpc": "2.0",
        "method": "subscription",
        "params": {
            "channel": "user.asset.PERPETUAL",
            "data": {
                "PERPETUAL": {
                    "currency": "USDT",
                    "available_funds": "9800",
                    "wallet_balance": "10000",
                    "total_margin_balance": "10010",
                    "total_upl": "10",
                }
            },
        },
    }
    [balance] = STREAM.parse(json.dumps(frame))
    assert (balance.asset, balance.free, balance.locked, balance.total) == (
        "USDT",
        Decimal("9800"),
        Decimal("210"),
        Decimal("10010"),
    )


def test_order_notification_open_with_fills_is_partially_filled():
    [order] = STREAM.parse(json.dumps(ORDERS))
    assert (order.status, order.client_order_id, order.filled_quantity) == (
        "partially_filled",
        None,
        Decimal("0.01"),
    )


def test_auth_and_subscribe_answers():
    assert STREAM.auth_outcome(json.dumps(AUTH_OK)).ok is True
    failed = STREAM.auth_outcome(json.dumps(AUTH_FAILED))
    assert (failed.ok, failed.code) == (False, "10000")
    for frame in (json.dumps(AUTH_OK), json.dumps(SUBSCRIBED), "PONG"):
        assert STREAM.parse(frame) == []


def test_subscribes_orders_and_trades_per_instrument():
    [frame] = STREAM.subscribe_messages(["BTC/USDT:USDT"])
    assert json.loads(frame)["params"]["channels"] == [
        "user.orders.BTC-USDT-PERPETUAL.raw",
        "user.trades.BTC-USDT-PERPETUAL.raw",
        "user.asset.PERPETUAL",
    ]
    assert STREAM.heartbeat.send == "PING"


def test_spot_symbols_are_refused():
    with pytest.raises(MessageRefused):
        STREAM.subscribe_messages(["BTC/USDT"])
