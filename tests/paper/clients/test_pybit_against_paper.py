"""pybit (Bybit's official SDK), unmodified, against the paper exchange.

pybit's HTTP session builds ``https://api.{domain}.{tld}`` and reads it back from its public
``endpoint`` attribute on every call; that attribute is the one thing configured here (the
documented ``domain``/``tld`` settings cannot name a plain-HTTP loopback address).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from pybit.unified_trading import HTTP

from tests.paper.clients.conftest import (
    CLIENT_TIMEOUT_SECONDS,
    TriedSince,
    exchange_stats,
    paper_account,
    signature_failures,
)


@pytest.fixture(scope="module")
def session(paper_url: str) -> Iterator[HTTP]:
    before = signature_failures(paper_url, "bybit")
    credentials = paper_account(paper_url, "bybit")
    client = HTTP(
        api_key=credentials.api_key,
        api_secret=credentials.api_secret,
        timeout=CLIENT_TIMEOUT_SECONDS,
        max_retries=1,
        retry_delay=0,
    )
    client.endpoint = f"{paper_url}/bybit"
    yield client
    assert signature_failures(paper_url, "bybit") == before


def test_instruments_tickers_wallet_and_key(session: HTTP, outside_hosts: TriedSince) -> None:
    assert int(session.get_server_time()["result"]["timeSecond"]) > 0
    spot = session.get_instruments_info(category="spot")["result"]["list"]
    assert "BTCUSDT" in {row["symbol"] for row in spot}
    linear = session.get_instruments_info(category="linear", symbol="BTCUSDT")["result"]
    assert linear["list"][0]["contractType"] == "LinearPerpetual"
    ticker = session.get_tickers(category="spot", symbol="BTCUSDT")["result"]["list"][0]
    assert ticker["lastPrice"] == "60000"
    wallet = session.get_wallet_balance(accountType="UNIFIED", coin="USDT")["result"]["list"][0]
    assert wallet["coin"][0]["walletBalance"] == "100000"
    assert session.get_api_key_information()["result"]["readOnly"] == 0
    assert session.get_coin_info(coin="BTC")["result"]["rows"][0]["coin"] == "BTC"
    assert outside_hosts() == []


def test_a_limit_order_rests_is_listed_and_canceled(session: HTTP, paper_url: str) -> None:
    link_id = f"pb{secrets.token_hex(6)}"
    placed = session.place_order(
        category="spot",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.001",
        price="50000",
        orderLinkId=link_id,
    )["result"]
    assert placed["orderLinkId"] == link_id
    open_orders = session.get_open_orders(category="spot", symbol="BTCUSDT")["result"]["list"]
    mine = [row for row in open_orders if row["orderId"] == placed["orderId"]]
    assert [(row["orderStatus"], row["qty"], row["price"]) for row in mine] == [
        ("New", "0.001", "50000")
    ]
    session.cancel_order(category="spot", symbol="BTCUSDT", orderId=placed["orderId"])
    history = session.get_order_history(category="spot", orderId=placed["orderId"])
    assert history["result"]["list"][0]["orderStatus"] == "Cancelled"
    assert exchange_stats(paper_url, "bybit")["ordersByClientId"][link_id] == 1


def test_a_market_order_fills_moves_the_wallet_and_lists_its_execution(session: HTTP) -> None:
    placed = session.place_order(
        category="spot",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Market",
        qty="0.001",
        marketUnit="baseCoin",
    )
    order_id = placed["result"]["orderId"]
    coins = session.get_wallet_balance(accountType="UNIFIED")["result"]["list"][0]["coin"]
    held = {row["coin"]: row["walletBalance"] for row in coins}
    assert (held["BTC"], held["USDT"]) == ("2.001", "99940")
    executions = session.get_executions(category="spot", orderId=order_id)["result"]["list"]
    assert [(row["execQty"], row["execPrice"], row["execType"]) for row in executions] == [
        ("0.001", "60000", "Trade")
    ]


def test_leverage_and_a_perpetual_position(session: HTTP) -> None:
    session.set_leverage(category="linear", symbol="BTCUSDT", buyLeverage="7", sellLeverage="7")
    session.place_order(
        category="linear", symbol="BTCUSDT", side="Buy", orderType="Market", qty="0.01"
    )
    position = session.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert (position["side"], position["size"], position["avgPrice"], position["leverage"]) == (
        "Buy",
        "0.01",
        "60000",
        "7",
    )


@pytest.mark.skip(
    reason="pybit's WebSocket builds wss://{SUBDOMAIN}.{DOMAIN}.{TLD}/v5/private "
    "itself (TLS only, subdomain fixed) and takes no URL; the paper "
    "exchange's plain-ws stream cannot be named without changing pybit"
)
def test_the_private_websocket_reports_a_fill() -> None:
    """Kept as the place for it: see docs/paper-exchange.md, Outside clients."""
