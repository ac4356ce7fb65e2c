"""OKX private stream: parse tests against the documentation's push shapes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchanges.streams.base import FillUpdate, MessageRefused
from exchanges.streams.okx import OkxStream

CONTRACT_VALUES = {"BTC-USDT-SWAP": Decimal("0.01")}
STREAM = OkxStream("unified_account", contract_value=CONTRACT_VALUES.get)

# okx.com/docs-v5 "WS / Order channel" push example (fields as documented)
SPOT_FILLED = {
    "arg": {
        "channel": "orders",
        "instType": "SPOT",
        "instId": "BTC-USDT",
        "uid": "614488474791936",
    },
    "data": [
        {
            "instType": "SPOT",
            "instId": "BTC-USDT",
            "ordId": "452197707845865472",
            "clOrdId": "",
            "side": "sell",
            "ordType": "limit",
            "tdMode": "cash",
            "px": "31527.1",
            "sz": "0.001",
            "state": "filled",
            "accFillSz": "0.001",
            "fillSz": "0.001",
            "fillPx": "31527.1",
            "avgPx": "31527.1",
            "tradeId": "242589207",
            "execType": "M",
            "fee": "-0.02522168",
            "feeCcy": "USDT",
            "fillFee": "-0.02522168",
            "fillFeeCcy": "USDT",
            "cancelSource": "",
            "category": "normal",
            "code": "0",
            "msg": "",
            "amendResult": "",
            "reqId": "",
            "cTime": "1654084334977",
            "fillTime": "1654084353263",
            "uTime": "1654084353264",
        }
    ],
}
SWAP_LIVE = {
    "arg": {"channel": "orders", "instType": "ANY"},
    "data": [
        {
            "instType": "SWAP",
            "instId": "BTC-USDT-SWAP",
            "ordId": "680800019749904384",
            "clOrdId": "ec0123abc",
            "side": "buy",
            "ordType": "limit",
            "px": "50000",
            "sz": "3",
            "state": "live",
            "accFillSz": "0",
            "fillSz": "0",
            "tradeId": "",
            "avgPx": "",
            "cancelSource": "",
            "uTime": "1700000000000",
        }
    ],
}
POSITION = {
    "arg": {"channel": "positions", "instType": "ANY"},
    "data": [
        {
            "instType": "SWAP",
            "instId": "BTC-USDT-SWAP",
            "posSide": "net",
            "pos": "-2",
            "avgPx": "60000",
            "upl": "1.5",
            "uTime": "1700000000001",
        }
    ],
}
ACCOUNT = {
    "arg": {"channel": "account", "uid": "44705892343619584"},
    "data": [
        {
            "uTime": "1700000000002",
            "totalEq": "1000",
            "details": [
                {
                    "ccy": "USDT",
                    "cashBal": "1000",
                    "availBal": "900",
                    "frozenBal": "100",
                    "eq": "1000",
                    "uTime": "1700000000002",
                }
            ],
        }
    ],
}
LOGIN_OK = {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"}
LOGIN_FAILED = {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "a4d3ae55"}
SUBSCRIBED = {
    "id": "1512",
    "event": "subscribe",
    "arg": {"channel": "orders", "instType": "ANY"},
    "connId": "a4d3ae55",
}


def test_spot_fill_is_maker_and_the_charge_becomes_a_positive_fee():
    order, fill = STREAM.parse(json.dumps(SPOT_FILLED))
    assert (order.status, order.filled_quantity, order.client_order_id) == (
        "filled",
        Decimal("0.001"),
        None,
    )
    assert fill == FillUpdate(
        exchange="okx",
        trade_id="242589207",
        exchange_order_id="452197707845865472",
        client_order_id=None,
        symbol="BTC/USDT",
        side="sell",
        price=Decimal("31527.1"),
        quantity=Decimal("0.001"),
        fee=Decimal("0.02522168"),
        fee_asset="USDT",
        liquidity="maker",
        time_ms=1654084353263,
    )


def test_swap_sizes_are_converted_from_contracts_to_base():
    [order] = STREAM.parse(json.dumps(SWAP_LIVE))
    assert (order.symbol, order.status, order.quantity) == (
        "BTC/USDT:USDT",
        "open",
        Decimal("0.03"),
    )


def test_swap_without_a_contract_value_is_refused():
    with pytest.raises(MessageRefused, match="contract value"):
        OkxStream("perpetual_futures").parse(json.dumps(SWAP_LIVE))


def test_net_position_and_account_balance():
    [position] = STREAM.parse(json.dumps(POSITION))
    assert (position.quantity, position.entry_price) == (Decimal("-0.02"), Decimal("60000"))
    [balance] = STREAM.parse(json.dumps(ACCOUNT))
    assert (balance.free, balance.locked, balance.total) == (
        Decimal("900"),
        Decimal("100"),
        Decimal("1000"),
    )


def test_pong_and_events_give_no_updates():
    for frame in ("pong", json.dumps(LOGIN_OK), json.dumps(SUBSCRIBED)):
        assert STREAM.parse(frame) == []


def test_login_outcomes():
    assert STREAM.auth_outcome(json.dumps(LOGIN_OK)).ok is True
    failed = STREAM.auth_outcome(json.dumps(LOGIN_FAILED))
    assert (failed.ok, failed.code) == (False, "60009")
    assert STREAM.auth_outcome(json.dumps(SUBSCRIBED)) is None


def test_immediate_order_cancelled_by_the_engine_has_expired():
    frame = dict(SWAP_LIVE, data=[dict(SWAP_LIVE["data"][0], ordType="ioc", state="canceled")])
    [order] = STREAM.parse(json.dumps(frame))
    assert order.status == "expired"


def test_subscribes_orders_positions_account_and_pings_in_text():
    assert json.loads(STREAM.subscribe_messages()[0])["args"] == [
        {"channel": "orders", "instType": "ANY"},
        {"channel": "positions", "instType": "ANY"},
        {"channel": "account"},
    ]
    assert STREAM.heartbeat.send == "ping"
    assert STREAM.url("testnet") == "wss://wspap.okx.com:8443/ws/v5/private"
