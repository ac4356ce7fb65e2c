"""Binance private streams: parse tests against the documentation's payloads."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from exchanges.errors import NotSupported
from exchanges.streams.base import BalanceUpdate, FillUpdate, OrderUpdate, PositionUpdate
from exchanges.streams.binance import BinanceStream

SPOT = BinanceStream("spot")
FUTURES = BinanceStream("perpetual_futures")

# binance-spot-api-docs user-data-stream.md, "Order Update" (verbatim values)
EXECUTION_NEW = {
    "subscriptionId": 0,
    "event": {
        "e": "executionReport",
        "E": 1499405658658,
        "s": "ETHBTC",
        "c": "mUvoqJxFIILMdfAW5iGSOW",
        "S": "BUY",
        "o": "LIMIT",
        "f": "GTC",
        "q": "1.00000000",
        "p": "0.10264410",
        "P": "0.00000000",
        "F": "0.00000000",
        "g": -1,
        "C": "",
        "x": "NEW",
        "X": "NEW",
        "r": "NONE",
        "i": 4293153,
        "l": "0.00000000",
        "z": "0.00000000",
        "L": "0.00000000",
        "n": "0",
        "N": None,
        "T": 1499405658657,
        "t": -1,
        "v": 3,
        "I": 8641984,
        "w": True,
        "m": False,
        "M": False,
        "O": 1499405658657,
        "Z": "0.00000000",
        "Y": "0.00000000",
        "Q": "0.00000000",
        "W": 1499405658657,
        "V": "NONE",
    },
}
# the same order's fill (x TRADE), values chosen for the test
EXECUTION_TRADE = {
    "subscriptionId": 0,
    "event": dict(
        EXECUTION_NEW["event"],
        x="TRADE",
        X="PARTIALLY_FILLED",
        l="0.40000000",
        z="0.40000000",
        L="0.10264410",
        n="0.00040000",
        N="ETH",
        t=12345,
        m=True,
        Z="0.04105764",
        T=1499405659000,
    ),
}
# user-data-stream.md, "Account Update" (verbatim)
ACCOUNT_POSITION = {
    "subscriptionId": 0,
    "event": {
        "e": "outboundAccountPosition",
        "E": 1564034571105,
        "u": 1564034571073,
        "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}],
    },
}
BALANCE_DELTA = {
    "subscriptionId": 0,
    "event": {
        "e": "balanceUpdate",
        "E": 1573200697110,
        "a": "BTC",
        "d": "100.00000000",
        "T": 1573200697068,
    },
}
TERMINATED = {"subscriptionId": 0, "event": {"e": "eventStreamTerminated", "E": 1728973001334}}
SUBSCRIBED = {"id": "uds-1", "status": 200, "result": {"subscriptionId": 0}}
REFUSED = {
    "id": "uds-1",
    "status": 400,
    "error": {"code": -1022, "msg": "Signature for this request is not valid."},
}

# developers.binance.com USD-M "Event: Order Update" (shape), filled by a trade
ORDER_TRADE_UPDATE = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1568879465651,
    "T": 1568879465650,
    "o": {
        "s": "BTCUSDT",
        "c": "TEST",
        "S": "SELL",
        "o": "MARKET",
        "f": "GTC",
        "q": "0.001",
        "p": "0",
        "ap": "7103.04",
        "sp": "0",
        "x": "TRADE",
        "X": "FILLED",
        "i": 8886774,
        "l": "0.001",
        "z": "0.001",
        "L": "7103.04",
        "N": "USDT",
        "n": "0.00284",
        "T": 1568879465650,
        "t": 987,
        "b": "0",
        "a": "0",
        "m": False,
        "R": False,
        "wt": "CONTRACT_PRICE",
        "ot": "MARKET",
        "ps": "BOTH",
        "cp": False,
        "rp": "0",
        "V": "EXPIRE_MAKER",
        "pm": "NONE",
        "gtd": 0,
        "er": "0",
    },
}
# "Event: Balance and Position Update" (values from the documentation example)
ACCOUNT_UPDATE = {
    "e": "ACCOUNT_UPDATE",
    "E": 1564745798939,
    "T": 1564745798938,
    "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.12345678"}],
        "P": [
            {
                "s": "BTCUSDT",
                "pa": "20",
                "ep": "6563.66500",
                "bep": "6563.6",
                "cr": "0",
                "up": "2850.21200000",
                "mt": "isolated",
                "iw": "13200.70726908",
                "ps": "BOTH",
            }
        ],
    },
}
LISTEN_KEY_EXPIRED = {
    "e": "listenKeyExpired",
    "E": 1576653824250,
    "listenKey": "WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1Lu",
}


def test_spot_new_order_has_no_fill():
    [order] = SPOT.parse(json.dumps(EXECUTION_NEW))
    assert order == OrderUpdate(
        exchange="binance",
        symbol="ETH/BTC",
        exchange_order_id="4293153",
        client_order_id="mUvoqJxFIILMdfAW5iGSOW",
        status="open",
        raw_status="NEW",
        side="buy",
        quantity=Decimal("1.00000000"),
        filled_quantity=Decimal("0"),
        average_price=None,
        price=Decimal("0.10264410"),
        updated_at_ms=1499405658657,
    )


def test_spot_trade_gives_order_and_maker_fill_with_average_from_quote_over_base():
    order, fill = SPOT.parse(json.dumps(EXECUTION_TRADE))
    assert order.status == "partially_filled"
    assert order.average_price == Decimal("0.04105764") / Decimal("0.40000000")
    assert fill == FillUpdate(
        exchange="binance",
        trade_id="12345",
        exchange_order_id="4293153",
        client_order_id="mUvoqJxFIILMdfAW5iGSOW",
        symbol="ETH/BTC",
        side="buy",
        price=Decimal("0.10264410"),
        quantity=Decimal("0.40000000"),
        fee=Decimal("0.00040000"),
        fee_asset="ETH",
        liquidity="maker",
        time_ms=1499405659000,
    )


def test_spot_cancel_reports_the_original_client_id():
    frame = {
        "subscriptionId": 0,
        "event": dict(
            EXECUTION_NEW["event"],
            x="CANCELED",
            X="CANCELED",
            c="cancel-request-1",
            C="mUvoqJxFIILMdfAW5iGSOW",
        ),
    }
    [order] = SPOT.parse(json.dumps(frame))
    assert (order.status, order.client_order_id) == ("canceled", "mUvoqJxFIILMdfAW5iGSOW")


def test_spot_account_position_is_free_plus_locked():
    [balance] = SPOT.parse(json.dumps(ACCOUNT_POSITION))
    assert balance == BalanceUpdate(
        exchange="binance",
        asset="ETH",
        free=Decimal("10000.000000"),
        locked=Decimal("0.000000"),
        total=Decimal("10000.000000"),
        time_ms=1564034571073,
    )


def test_spot_balance_deltas_answers_and_terminations_give_no_updates():
    for frame in (BALANCE_DELTA, SUBSCRIBED, REFUSED, TERMINATED):
        assert SPOT.parse(json.dumps(frame)) == []


def test_spot_termination_ends_the_stream():
    assert SPOT.ends_stream(json.dumps(TERMINATED)) is True
    assert SPOT.ends_stream(json.dumps(EXECUTION_NEW)) is False


def test_spot_subscription_answer_is_the_auth_outcome():
    assert SPOT.auth_outcome(json.dumps(SUBSCRIBED)).ok is True
    refused = SPOT.auth_outcome(json.dumps(REFUSED))
    assert (refused.ok, refused.code) == (False, "-1022")


def test_spot_url_is_the_websocket_api():
    assert SPOT.url("live") == "wss://ws-api.binance.com:443/ws-api/v3"
    assert SPOT.listen_key is None
    assert SPOT.subscribe_messages() == []


def test_futures_trade_gives_filled_order_and_taker_fill():
    order, fill = FUTURES.parse(json.dumps(ORDER_TRADE_UPDATE))
    assert (order.symbol, order.status, order.filled_quantity, order.average_price) == (
        "BTC/USDT:USDT",
        "filled",
        Decimal("0.001"),
        Decimal("7103.04"),
    )
    assert fill == FillUpdate(
        exchange="binance",
        trade_id="987",
        exchange_order_id="8886774",
        client_order_id="TEST",
        symbol="BTC/USDT:USDT",
        side="sell",
        price=Decimal("7103.04"),
        quantity=Decimal("0.001"),
        fee=Decimal("0.00284"),
        fee_asset="USDT",
        liquidity="taker",
        time_ms=1568879465650,
    )


def test_futures_account_update_gives_wallet_balance_and_position():
    balance, position = FUTURES.parse(json.dumps(ACCOUNT_UPDATE))
    assert (balance.asset, balance.total, balance.free) == (
        "USDT",
        Decimal("122624.12345678"),
        None,
    )
    assert position == PositionUpdate(
        exchange="binance",
        symbol="BTC/USDT:USDT",
        quantity=Decimal("20"),
        entry_price=Decimal("6563.66500"),
        unrealized_pnl=Decimal("2850.21200000"),
        position_side="BOTH",
        time_ms=1564745798938,
    )


def test_futures_expired_listen_key_ends_the_stream():
    assert FUTURES.ends_stream(json.dumps(LISTEN_KEY_EXPIRED)) is True
    assert FUTURES.parse(json.dumps(LISTEN_KEY_EXPIRED)) == []


def test_futures_listen_key_lifecycle_uses_fapi_and_the_key_from_the_answer():
    calls = []

    def request(method, path, params):
        calls.append((method, path, dict(params)))
        return {"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"}

    key = FUTURES.create_listen_key(request)
    FUTURES.keep_alive_listen_key(request, key)
    FUTURES.delete_listen_key(request, key)
    assert calls == [
        ("POST", "/fapi/v1/listenKey", {}),
        ("PUT", "/fapi/v1/listenKey", {}),
        ("DELETE", "/fapi/v1/listenKey", {}),
    ]
    assert FUTURES.listen_key.keep_alive_every_seconds < FUTURES.listen_key.valid_for_seconds
    assert FUTURES.url("live", listen_key=key) == f"wss://fstream.binance.com/private/ws/{key}"


def test_futures_url_without_a_listen_key_is_refused():
    with pytest.raises(Exception, match="listen key"):
        FUTURES.url("live")


def test_margin_streams_as_spot_and_unknown_api_types_are_not_supported():
    assert BinanceStream("margin").product == "spot"
    with pytest.raises(NotSupported):
        BinanceStream("unified_account")
