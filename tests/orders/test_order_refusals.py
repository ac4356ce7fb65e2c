"""Margin and risk refusals: a 422 with figures, no row, nothing sent to the exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests

from connections.services import connection_credentials
from orders.models import Order
from tests.django_fixtures import paper_stats
from tests.orders.conftest import DEFAULT_EXCHANGE, order_body

pytestmark = pytest.mark.django_db


def sent_orders(paper: str, exchange: str) -> tuple[int, int]:
    stats = paper_stats(paper, exchange)
    return stats["ordersAccepted"], sum(stats["ordersByClientId"].values())


def refused(client: Any, body: dict[str, Any], code: str) -> dict[str, Any]:
    response = client.post("/api/orders", body, format="json")
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert response.json()["success"] is False and error["code"] == code
    return error


def test_a_spot_buy_beyond_the_quote_balance_is_insufficient_margin(
    owner_client, paper, make_connection
):
    connection = make_connection()
    before = sent_orders(paper, DEFAULT_EXCHANGE)
    # 2 x 59000 = 118000 USDT plus the 0.1% fee, against 100000 USDT
    error = refused(owner_client, order_body(connection, quantity="2"), "insufficient_margin")
    assert (error["required"], error["available"], error["asset"]) == ("118118", "100000", "USDT")
    assert Order.objects.count() == 0
    assert sent_orders(paper, DEFAULT_EXCHANGE) == before


def test_a_spot_sell_beyond_the_base_balance_is_insufficient_margin(
    owner_client, paper, make_connection
):
    connection = make_connection("bybit")
    before = sent_orders(paper, "bybit")
    error = refused(
        owner_client,
        order_body(connection, side="sell", quantity="3", price="61000"),
        "insufficient_margin",
    )
    assert (error["required"], error["available"], error["asset"]) == ("3", "2", "BTC")
    assert Order.objects.count() == 0
    assert sent_orders(paper, "bybit") == before


def test_a_perpetual_order_needs_notional_over_leverage_plus_fees(
    owner_client, paper, make_connection
):
    connection = make_connection("orangex", "perpetual_futures")
    before = sent_orders(paper, "orangex")
    error = refused(
        owner_client, order_body(connection, quantity="2", leverage=1), "insufficient_margin"
    )
    assert error["asset"] == "USDT" and error["required"] == "118118"
    assert Decimal(error["available"]) < Decimal("118118")
    assert Order.objects.count() == 0
    assert sent_orders(paper, "orangex") == before
    # the same order with leverage 10 needs 11800 + 118 and is accepted
    accepted = owner_client.post(
        "/api/orders", order_body(connection, quantity="2", leverage=10), format="json"
    )
    assert accepted.status_code == 202, accepted.json()


def test_an_order_over_the_max_order_notional_is_a_risk_limit(owner_client, paper, make_connection):
    connection = make_connection(max_order_notional=Decimal("100"))
    before = sent_orders(paper, DEFAULT_EXCHANGE)
    error = refused(owner_client, order_body(connection), "risk_limit")
    assert error["limit"] == "maxOrderNotional" and error["maximum"] == "100.00000000"
    assert Decimal(error["value"]) == Decimal("590")
    assert Order.objects.count() == 0
    assert sent_orders(paper, DEFAULT_EXCHANGE) == before


def test_an_order_beyond_max_open_orders_is_a_risk_limit(owner_client, make_connection):
    connection = make_connection(max_open_orders=1)
    assert (
        owner_client.post("/api/orders", order_body(connection), format="json").status_code == 202
    )
    error = refused(owner_client, order_body(connection, price="58000"), "risk_limit")
    assert (error["limit"], error["value"], error["maximum"]) == ("maxOpenOrders", "1", "1")
    assert Order.objects.count() == 1


def test_a_limit_price_outside_the_band_is_a_risk_limit(owner_client, paper, make_connection):
    connection = make_connection()
    before = sent_orders(paper, DEFAULT_EXCHANGE)
    error = refused(owner_client, order_body(connection, price="50000"), "risk_limit")
    assert error["limit"] == "priceBandPercent"
    assert Decimal(error["value"]) == Decimal("16.6667")
    assert Decimal(error["maximum"]) == Decimal("5")
    assert Order.objects.count() == 0
    assert sent_orders(paper, DEFAULT_EXCHANGE) == before


def test_a_connection_without_a_band_accepts_a_distant_limit_price(owner_client, make_connection):
    connection = make_connection(price_band_percent=None)
    response = owner_client.post(
        "/api/orders", order_body(connection, price="50000"), format="json"
    )
    assert response.status_code == 202, response.json()


def test_a_perpetual_account_in_hedge_mode_is_refused(owner_client, paper, make_connection):
    # Binance reads the position mode (positionSide/dual); OrangeX has no such read
    connection = make_connection("binance", "perpetual_futures")
    credentials = connection_credentials(connection=connection)
    account = {
        "exchange": "binance",
        "apiKey": credentials["api_key"],
        "apiSecret": credentials["api_secret"],
        "hedgeMode": True,
    }
    if credentials["passphrase"]:
        account["passphrase"] = credentials["passphrase"]
    answer = requests.post(f"{paper}/_paper/accounts", json=account, timeout=5)
    assert answer.status_code == 200, answer.text
    before = sent_orders(paper, "binance")
    error = refused(owner_client, order_body(connection), "hedge_mode_unsupported")
    assert "one-way" in error["message"]
    assert Order.objects.count() == 0
    assert sent_orders(paper, "binance") == before
