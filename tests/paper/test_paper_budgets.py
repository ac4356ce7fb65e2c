"""The paper exchange enforces the layered table over HTTP: per API key, per endpoint, order
counts, as the exchanges publish them (no safety factor)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import OrderRequest
from exchanges.binance import BinanceConnector, rate_limits_from_exchange_info
from exchanges.bybit import BybitConnector
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration


def enforce(paper_url: str, exchange: str) -> None:
    requests.post(
        f"{paper_url}/_paper/faults",
        json={"exchange": exchange, "enforceRateLimits": True},
        timeout=5,
    ).raise_for_status()


def window_stats(paper_url: str, exchange: str) -> dict:
    stats = requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"]
    return stats[exchange]["windows"]


def binance(paper_url: str) -> BinanceConnector:
    return BinanceConnector(
        credentials=make_paper_credentials(paper_url, "binance"),
        environment="paper",
        base_url=f"{paper_url}/binance",
    )


def resting_buy() -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        quantity=Decimal("0.0002"),
        price=Decimal("30000"),
        client_order_id=("ec" + uuid.uuid4().hex)[:32],
    )


def test_binance_counts_orders_per_account_and_refuses_the_51st_in_ten_seconds(paper_reset):
    enforce(paper_reset, "binance")
    busy, other = binance(paper_reset), binance(paper_reset)
    before = window_stats(paper_reset, "binance")["spot account orders 10s"]["violations"]
    for _ in range(50):
        busy.place_order(resting_buy())
    with pytest.raises(errors.RateLimited):
        busy.place_order(resting_buy())
    other.place_order(resting_buy())  # another account: its own order count
    window = window_stats(paper_reset, "binance")["spot account orders 10s"]
    assert (window["limit"], window["seconds"]) == (50, 10)
    assert window["violations"] == before + 1
    assert window["maxUsed"] == 50
    assert sorted(scope["served"] for scope in window["scopes"].values())[-2:] == [1, 50]


def test_bybit_counts_each_endpoint_of_each_uid_apart(paper_reset):
    enforce(paper_reset, "bybit")
    credentials = make_paper_credentials(paper_reset, "bybit")
    connector = BybitConnector(
        credentials=credentials, environment="paper", base_url=f"{paper_reset}/bybit"
    )
    refused = 0
    for _ in range(60):  # against the wallet balance's 50 per second
        try:
            connector.balances()
        except errors.RateLimited:
            refused += 1
    connector.heartbeat_read()  # /v5/account/info
    windows = window_stats(paper_reset, "bybit")
    scope = f"key {credentials.api_key[-6:]}"
    balance = windows["account /v5/account/wallet-balance 1s"]
    assert balance["limit"] == 50 and balance["maxUsed"] <= 50
    assert balance["scopes"][scope]["served"] == 60 - refused
    assert balance["scopes"][scope]["requestsByCost"] == {"1": 60 - refused}
    assert windows["account /v5/account/info 1s"]["scopes"][scope]["served"] == 1
    assert windows["ip requests 5s"]["scopes"]["127.0.0.1"]["served"] >= 61 - refused, (
        "a refusal is counted nowhere"
    )


def test_binance_exchange_info_publishes_the_table_it_enforces(paper_url):
    for product, path in (("spot", "/api/v3/exchangeInfo"), ("linear", "/fapi/v1/exchangeInfo")):
        raw = requests.get(f"{paper_url}/binance{path}", timeout=5).json()
        windows = rate_limits_from_exchange_info(product, raw)
        served = {name: window.limit for name, window in windows.items()}
        published = {
            name: window.limit
            for name, window in BinanceConnector.rate_limits.windows.items()
            if window.product == product
        }
        assert served == published
