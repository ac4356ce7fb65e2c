"""The Bybit connector against the real paper exchange over HTTP on 127.0.0.1."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import OrderRequest
from exchanges.bybit import BybitConnector
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


def client_id() -> str:
    return f"ec{uuid.uuid4().hex}"[:32]


@pytest.fixture
def connect(paper_reset):
    """connect(api_type) -> a Bybit connector on a fresh funded paper account."""

    def build(api_type: str = "spot", **account) -> BybitConnector:
        credentials = make_paper_credentials(paper_reset, "bybit", **account)
        return BybitConnector(
            credentials=credentials,
            api_type=api_type,
            environment="paper",
            base_url=f"{paper_reset}/bybit",
        )

    return build


def limit_buy(
    symbol: str = SPOT, quantity: str = "0.01", price: str = "30000", **changes
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=Decimal(quantity),
        price=Decimal(price),
        client_order_id=client_id(),
        **changes,
    )


def market(symbol: str, side: str, quantity: str, **changes) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        type="market",
        quantity=Decimal(quantity),
        client_order_id=client_id(),
        **changes,
    )


def paper_fill(paper_url: str, client_order_id: str, quantity: str | None = None) -> None:
    body = {"exchange": "bybit", "clientOrderId": client_order_id}
    if quantity is not None:
        body["quantity"] = quantity
    response = requests.post(f"{paper_url}/_paper/fill", json=body, timeout=10)
    assert response.status_code == 200, response.text


def test_connection_test_reports_offset_and_trading_permission(connect):
    result = connect().test_connection()
    assert "read" in result.permissions and "trade" in result.permissions
    assert abs(result.server_time_offset_ms) < 5_000
    assert "withdraw_enabled" not in result.warnings


def test_heartbeat_signs_a_cheap_read(connect):
    assert connect().heartbeat() >= 0


def test_a_wrong_secret_is_refused_as_authentication_error(paper_reset):
    good = make_paper_credentials(paper_reset, "bybit")
    bad = type(good)(good.api_key, good.api_secret + "x")
    connector = BybitConnector(
        credentials=bad, environment="paper", base_url=f"{paper_reset}/bybit"
    )
    with pytest.raises(errors.AuthenticationError):
        connector.balances()


def test_balances_show_the_funded_account(connect):
    connector = connect(balances={"USDT": "25000", "BTC": "1.5"})
    found = {b.asset: b for b in connector.balances()}
    assert found["USDT"].free == Decimal("25000") and found["USDT"].locked == 0
    assert found["BTC"].total == Decimal("1.5")


def test_instruments_and_ticker_come_from_the_paper_universe(connect):
    connector = connect("unified_account")
    symbols = {i.symbol: i for i in connector.instruments()}
    assert {SPOT, PERP} <= set(symbols)
    assert symbols[PERP].contract_value == 1 and symbols[SPOT].min_notional > 0
    ticker = connector.ticker(SPOT)
    assert ticker.last > 0 and ticker.bid <= ticker.ask


def test_limit_order_away_from_the_price_rests_is_found_by_client_id_and_cancels(connect):
    connector = connect()
    order = limit_buy()
    placed = connector.place_order(order)
    assert placed.status == "open" and placed.client_order_id == order.client_order_id
    found = connector.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.exchange_order_id, found.status, found.quantity, found.price) == (
        placed.exchange_order_id,
        "open",
        Decimal("0.01"),
        Decimal("30000"),
    )
    assert [o.client_order_id for o in connector.open_orders(SPOT)] == [order.client_order_id]
    locked = {b.asset: b for b in connector.balances()}["USDT"].locked
    assert locked == Decimal("300")
    canceled = connector.cancel_order(SPOT, client_order_id=order.client_order_id)
    assert canceled.status == "canceled"
    assert (
        connector.get_order(SPOT, exchange_order_id=placed.exchange_order_id).status == "canceled"
    )
    assert connector.open_orders(SPOT) == []


def test_market_order_fills_at_once(connect):
    connector = connect()
    placed = connector.place_order(market(SPOT, "buy", "0.01"))
    assert placed.status == "filled"
    assert placed.filled_quantity == Decimal("0.01") and placed.average_price > 0
    btc = {b.asset: b for b in connector.balances()}["BTC"]
    assert btc.total == Decimal("2.01")


def test_partial_fill_through_the_control_api(connect, paper_reset):
    connector = connect()
    order = limit_buy(quantity="0.02")
    connector.place_order(order)
    paper_fill(paper_reset, order.client_order_id, "0.005")
    found = connector.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.status, found.filled_quantity) == ("partially_filled", Decimal("0.005"))
    assert found.average_price == Decimal("30000")
    assert [o.status for o in connector.open_orders(SPOT)] == ["partially_filled"]
    paper_fill(paper_reset, order.client_order_id)
    assert connector.get_order(SPOT, client_order_id=order.client_order_id).status == "filled"
    history = connector.order_history(SPOT)
    assert order.client_order_id in {o.client_order_id for o in history}


def test_perpetual_fill_opens_a_position(connect):
    connector = connect("perpetual_futures")
    assert connector.is_hedge_mode() is False
    connector.set_leverage(PERP, 5)
    placed = connector.place_order(market(PERP, "buy", "0.01"))
    assert placed.status == "filled"
    [position] = connector.positions()
    assert (position.symbol, position.quantity) == (PERP, Decimal("0.01"))
    assert position.leverage == 5 and position.entry_price > 0
    connector.place_order(market(PERP, "sell", "0.01", reduce_only=True))
    assert connector.positions() == []


def test_cancel_all_clears_open_orders(connect):
    connector = connect()
    for _ in range(2):
        connector.place_order(limit_buy())
    assert connector.cancel_all(SPOT) == 2
    assert connector.open_orders() == []


def test_lookup_of_an_unknown_client_id_is_order_not_found(connect):
    with pytest.raises(errors.OrderNotFound):
        connect().get_order(SPOT, client_order_id=client_id())


def test_insufficient_funds_is_refused(connect):
    connector = connect(balances={"USDT": "10"})
    with pytest.raises(errors.InsufficientFunds):
        connector.place_order(limit_buy(quantity="1"))


def test_repeated_client_id_is_refused_while_the_first_is_open(connect):
    connector = connect()
    order = limit_buy()
    connector.place_order(order)
    with pytest.raises(errors.DuplicateOrder):
        connector.place_order(order)
