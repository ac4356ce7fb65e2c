"""binance-connector (Binance's official Spot connector, with its WebSocket API client) and
binance-futures-connector (USD-M), unmodified, against the paper exchange.

The REST clients take ``base_url``; the WebSocket API client takes ``stream_url``. Spot user
data comes through the WebSocket API's ``userDataStream.subscribe.signature`` (the listen-key
``userDataStream.start`` the connector still wraps was removed on 2026-02-20), sent with the
connector's own ``send`` and signed with its own ``websocket_api_signature``.
"""

from __future__ import annotations

import json
import queue
import secrets
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from binance.lib.utils import websocket_api_signature
from binance.spot import Spot
from binance.um_futures import UMFutures
from binance.websocket.spot.websocket_api import SpotWebsocketAPIClient

from tests.paper.clients.conftest import (
    CLIENT_TIMEOUT_SECONDS,
    TriedSince,
    exchange_stats,
    paper_account,
    paper_fill,
    signature_failures,
)

EVENT_WAIT_SECONDS = 5


@pytest.fixture(scope="module")
def clients(paper_url: str) -> Iterator[dict[str, Any]]:
    before = signature_failures(paper_url, "binance")
    credentials = paper_account(paper_url, "binance")
    keys = {"api_key": credentials.api_key, "api_secret": credentials.api_secret}
    base = f"{paper_url}/binance"
    yield {
        "spot": Spot(base_url=base, timeout=CLIENT_TIMEOUT_SECONDS, **keys),
        "futures": UMFutures(
            key=credentials.api_key,
            secret=credentials.api_secret,
            base_url=base,
            timeout=CLIENT_TIMEOUT_SECONDS,
        ),
        "keys": keys,
        "ws_url": f"{base.replace('http://', 'ws://')}/ws-api/v3",
    }
    assert signature_failures(paper_url, "binance") == before


def test_spot_market_data_and_account(clients: dict[str, Any], outside_hosts: TriedSince) -> None:
    spot = clients["spot"]
    assert spot.time()["serverTime"] > 0
    symbols = spot.exchange_info(symbol="BTCUSDT")["symbols"]
    assert symbols[0]["symbol"] == "BTCUSDT"
    assert spot.ticker_price("BTCUSDT")["price"] == "60000.00000000"
    balances = {row["asset"]: row["free"] for row in spot.account()["balances"]}
    assert balances["USDT"] == "100000.00000000"
    assert outside_hosts() == []


def test_a_spot_limit_order_rests_is_found_and_canceled(
    clients: dict[str, Any], paper_url: str
) -> None:
    spot = clients["spot"]
    client_id = f"bc{secrets.token_hex(6)}"
    placed = spot.new_order(
        "BTCUSDT",
        "BUY",
        "LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price="50000",
        newClientOrderId=client_id,
    )
    found = spot.get_order("BTCUSDT", orderId=placed["orderId"])
    assert (found["status"], found["origQty"], found["price"], found["clientOrderId"]) == (
        "NEW",
        "0.00100000",
        "50000.00000000",
        client_id,
    )
    assert placed["orderId"] in {o["orderId"] for o in spot.get_open_orders("BTCUSDT")}
    assert spot.cancel_order("BTCUSDT", orderId=placed["orderId"])["status"] == "CANCELED"
    assert exchange_stats(paper_url, "binance")["ordersByClientId"][client_id] == 1


def test_a_spot_market_order_fills_and_lists_its_trade(clients: dict[str, Any]) -> None:
    spot = clients["spot"]
    placed = spot.new_order("BTCUSDT", "BUY", "MARKET", quantity="0.001")
    assert placed["status"] == "FILLED"
    balances = {row["asset"]: row["free"] for row in spot.account()["balances"]}
    assert (balances["BTC"], balances["USDT"]) == ("2.00100000", "99940.00000000")
    trades = [t for t in spot.my_trades("BTCUSDT") if t["orderId"] == placed["orderId"]]
    assert [(t["qty"], t["price"], t["isBuyer"]) for t in trades] == [
        ("0.00100000", "60000.00000000", True)
    ]


def test_usdm_leverage_position_and_trades(clients: dict[str, Any]) -> None:
    futures = clients["futures"]
    assert futures.ticker_price("BTCUSDT")["price"] == "60000"
    assert futures.change_leverage("BTCUSDT", 6)["leverage"] == 6
    # one paper account holds spot and futures alike: measure from what is free now
    free_before = next(
        float(row["availableBalance"]) for row in futures.balance() if row["asset"] == "USDT"
    )
    # USD-M answers ACK (status NEW) unless asked for the RESULT
    placed = futures.new_order(
        "BTCUSDT", "BUY", "MARKET", quantity="0.01", newOrderRespType="RESULT"
    )
    assert (placed["status"], placed["executedQty"]) == ("FILLED", "0.01")
    risk = futures.get_position_risk(symbol="BTCUSDT")
    assert [(row["positionAmt"], row["entryPrice"]) for row in risk] == [("0.01", "60000")]
    usdt = next(row for row in futures.balance() if row["asset"] == "USDT")
    assert float(usdt["availableBalance"]) == pytest.approx(free_before - 600 / 6)
    trades = futures.get_account_trades("BTCUSDT", orderId=placed["orderId"])
    assert [(t["qty"], t["price"], t["side"]) for t in trades] == [("0.01", "60000", "BUY")]
    resting = futures.new_order(
        "BTCUSDT", "SELL", "LIMIT", timeInForce="GTC", quantity="0.01", price="70000"
    )
    assert resting["orderId"] in {o["orderId"] for o in futures.get_orders(symbol="BTCUSDT")}
    one = futures.get_open_orders("BTCUSDT", orderId=resting["orderId"])
    assert (one["status"], one["price"], one["origQty"]) == ("NEW", "70000", "0.01")
    futures.cancel_order("BTCUSDT", orderId=resting["orderId"])
    assert futures.new_listen_key()["listenKey"]


def test_the_websocket_api_user_data_stream_reports_a_fill(
    clients: dict[str, Any], paper_url: str
) -> None:
    messages: queue.Queue[dict[str, Any]] = queue.Queue()
    socket = SpotWebsocketAPIClient(
        stream_url=clients["ws_url"],
        timeout=CLIENT_TIMEOUT_SECONDS,
        on_message=lambda _socket, text: messages.put(json.loads(text)),
        **clients["keys"],
    )
    try:
        params = websocket_api_signature(
            clients["keys"]["api_key"], clients["keys"]["api_secret"], {}
        )
        socket.send(
            {"id": "sub-1", "method": "userDataStream.subscribe.signature", "params": params}
        )
        answer = next_message(messages, lambda m: m.get("id") == "sub-1")
        assert answer["status"] == 200 and "subscriptionId" in answer["result"]
        placed = clients["spot"].new_order(
            "BTCUSDT", "BUY", "LIMIT", timeInForce="GTC", quantity="0.001", price="50000"
        )
        paper_fill(paper_url, "binance", placed["orderId"])
        report = next_message(
            messages,
            lambda m: (
                m.get("event", {}).get("e") == "executionReport" and m["event"].get("X") == "FILLED"
            ),
        )
        event = report["event"]
        # compared as numbers: the paper's stream prints plain decimals ("0.001") where
        # Binance's REST prints eight places (docs/paper-exchange.md, Outside clients)
        assert (event["i"], Decimal(event["l"]), Decimal(event["L"])) == (
            placed["orderId"],
            Decimal("0.001"),
            Decimal("50000"),
        )
    finally:
        socket.stop()


def next_message(messages: queue.Queue[dict[str, Any]], wanted: Any) -> dict[str, Any]:
    deadline = time.monotonic() + EVENT_WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = messages.get(timeout=left)
        except queue.Empty:
            break
        if wanted(message):
            return message
    raise AssertionError("the awaited message did not arrive")
