"""BingX private streams: gzip frames, server pings, listen keys, parse tests."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

from exchanges.streams.bingx import BingxStream

SWAP = BingxStream("perpetual_futures")
SPOT = BingxStream("spot")

# BingX docs-v3 swap "Order update push" (fields as the facts list them; td/l/L present)
ORDER_TRADE_UPDATE = {
    "e": "ORDER_TRADE_UPDATE",
    "E": 1700000000123,
    "o": {
        "s": "BTC-USDT",
        "c": "ec0123abc",
        "i": 1735950529123455000,
        "S": "BUY",
        "o": "LIMIT",
        "q": "0.0100",
        "p": "50000.0",
        "sp": "0",
        "ap": "50000.0",
        "x": "TRADE",
        "X": "FILLED",
        "N": "USDT",
        "n": "-0.2500",
        "T": 1700000000120,
        "wt": "MARK_PRICE",
        "ps": "BOTH",
        "rp": "0",
        "z": "0.0100",
        "td": "8812345",
        "l": "0.0100",
        "L": "50000.0",
    },
}
ACCOUNT_UPDATE = {
    "e": "ACCOUNT_UPDATE",
    "E": 1700000000123,
    "a": {
        "m": "ORDER",
        "B": [{"a": "USDT", "wb": "1000.5", "cw": "1000.5", "bc": "0"}],
        "P": [
            {
                "s": "BTC-USDT",
                "pa": "0.01",
                "ep": "50000.0",
                "up": "0.1",
                "mt": "cross",
                "iw": "0",
                "ps": "SHORT",
            }
        ],
    },
}
SPOT_EXECUTION = {
    "code": 0,
    "dataType": "spot.executionReport",
    "data": {
        "e": "executionReport",
        "E": 1700000000123,
        "s": "BTC-USDT",
        "S": "SELL",
        "o": "LIMIT",
        "q": "0.001",
        "p": "50000",
        "x": "TRADE",
        "X": "FILLED",
        "i": 1735950529123455000,
        "l": "0.001",
        "z": "0.001",
        "L": "50000",
        "n": "-0.05",
        "N": "USDT",
        "T": 1700000000120,
        "t": 2233445566,
        "m": False,
        "Z": "50",
    },
}


def gz(frame: object) -> bytes:
    return gzip.compress((frame if isinstance(frame, str) else json.dumps(frame)).encode())


def test_swap_trade_gives_order_and_fill_from_a_gzipped_frame():
    order, fill = SWAP.parse(gz(ORDER_TRADE_UPDATE))
    assert (order.symbol, order.status, order.exchange_order_id) == (
        "BTC/USDT:USDT",
        "filled",
        "1735950529123455000",
    )
    assert (fill.trade_id, fill.quantity, fill.fee, fill.fee_asset) == (
        "8812345",
        Decimal("0.0100"),
        Decimal("0.2500"),
        "USDT",
    )


def test_swap_trade_without_trade_id_gives_only_the_order():
    raw = {k: v for k, v in ORDER_TRADE_UPDATE["o"].items() if k not in ("td", "l", "L")}
    assert len(SWAP.parse(gz(dict(ORDER_TRADE_UPDATE, o=raw)))) == 1


def test_swap_account_update_gives_wallet_and_a_negative_short():
    balance, position = SWAP.parse(gz(ACCOUNT_UPDATE))
    assert (balance.asset, balance.total) == ("USDT", Decimal("1000.5"))
    assert (position.quantity, position.position_side) == (Decimal("-0.01"), "SHORT")


def test_spot_execution_report_gives_order_and_fill():
    order, fill = SPOT.parse(gz(SPOT_EXECUTION))
    assert (order.symbol, order.average_price) == ("BTC/USDT", Decimal("50000"))
    assert (fill.trade_id, fill.fee, fill.liquidity) == ("2233445566", Decimal("0.05"), "taker")


def test_server_pings_are_answered_on_both_sockets():
    assert SWAP.reply(gz("Ping")) == "Pong"
    assert json.loads(SPOT.reply(gz({"ping": "abc", "time": "2023-01-01T00:00:00"}))) == {
        "pong": "abc",
        "time": "2023-01-01T00:00:00",
    }
    assert SWAP.parse(gz("Ping")) == []


def test_listen_key_goes_in_the_url_and_its_lifecycle_in_the_query():
    calls = []

    def request(method, path, params):
        calls.append((method, path, dict(params)))
        return {"listenKey": "a8ea75681542e66f1a50a1616dd06ed77dab61baa0c296bca03a9b13ee5f2dd7"}

    key = SWAP.create_listen_key(request)
    SWAP.keep_alive_listen_key(request, key)
    assert calls[1] == ("PUT", "/openApi/user/auth/userDataStream", {"listenKey": key})
    assert SWAP.url("live", listen_key=key) == (
        f"wss://open-api-swap.bingx.com/swap-market?listenKey={key}"
    )
    assert SWAP.subscribe_messages() == []
    assert [json.loads(f)["dataType"] for f in SPOT.subscribe_messages()] == [
        "spot.executionReport",
        "ACCOUNT_UPDATE",
    ]


def test_expired_listen_key_ends_the_stream():
    assert SWAP.ends_stream(gz({"e": "listenKeyExpired", "E": 1, "listenKey": "x"})) is True
