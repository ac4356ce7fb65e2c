"""The OrangeX connector against the real paper exchange over HTTP (perpetuals only)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from exchanges import errors, orangex
from exchanges.base import Credentials, OrderRequest
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

SYMBOL = "BTC/USDT:USDT"
START_BALANCE = Decimal("100000")


def connector_for(paper_url: str, credentials: Credentials) -> orangex.OrangexConnector:
    return orangex.OrangexConnector(
        credentials=credentials,
        api_type="perpetual_futures",
        environment="paper",
        base_url=f"{paper_url}/orangex",
    )


@pytest.fixture
def connector(paper_url) -> orangex.OrangexConnector:
    credentials = make_paper_credentials(
        paper_url, "orangex", balances={"USDT": str(START_BALANCE)}
    )
    return connector_for(paper_url, credentials)


def client_id(tag: str) -> str:
    return f"ec{tag}".ljust(32, "0")[:32]


def limit_buy(tag: str, price: str = "30000", quantity: str = "0.01") -> OrderRequest:
    return OrderRequest(
        symbol=SYMBOL,
        side="buy",
        type="limit",
        quantity=Decimal(quantity),
        price=Decimal(price),
        client_order_id=client_id(tag),
    )


def paper_fill(paper_url: str, order_id: str, quantity: str | None = None) -> None:
    body = {"exchange": "orangex", "orderId": order_id}
    if quantity is not None:
        body["quantity"] = quantity
    answer = requests.post(f"{paper_url}/_paper/fill", json=body, timeout=5)
    assert answer.status_code == 200, answer.text


def test_connection_test_reports_trade_permission_and_a_small_offset(connector):
    result = connector.test_connection()
    assert "trade" in result.permissions and "read" in result.permissions
    assert abs(result.server_time_offset_ms) < 5000


def test_balances_show_the_funded_usdt(connector):
    (usdt,) = [balance for balance in connector.balances() if balance.asset == "USDT"]
    assert usdt.total == START_BALANCE and usdt.free == START_BALANCE


def test_instruments_and_ticker_describe_the_btc_perpetual(connector):
    btc = {item.symbol: item for item in connector.instruments()}[SYMBOL]
    assert btc.exchange_symbol == "BTC-USDT-PERPETUAL" and btc.tick_size > 0
    ticker = connector.ticker(SYMBOL)
    assert ticker.bid > 0 and ticker.ask >= ticker.bid


def test_resting_limit_order_is_found_by_exchange_id_and_cancelled(connector):
    placed = connector.place_order(limit_buy("rest1"))
    assert placed.status == "open" and placed.exchange_order_id
    found = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert (found.status, found.quantity, found.price) == (
        "open",
        Decimal("0.01"),
        Decimal("30000"),
    )
    assert placed.exchange_order_id in [o.exchange_order_id for o in connector.open_orders(SYMBOL)]
    canceled = connector.cancel_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert canceled.exchange_order_id == placed.exchange_order_id
    after = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert after.status == "canceled"
    assert placed.exchange_order_id not in [
        o.exchange_order_id for o in connector.open_orders(SYMBOL)
    ]


def test_lookup_by_client_id_is_not_supported(connector):
    with pytest.raises(errors.NotSupported):
        connector.get_order(SYMBOL, client_order_id=client_id("none"))


def test_unknown_exchange_id_is_order_not_found(connector):
    with pytest.raises(errors.OrderNotFound):
        connector.get_order(SYMBOL, exchange_order_id="999999999999")


def test_market_order_fills_and_opens_a_position(connector):
    placed = connector.place_order(
        OrderRequest(
            symbol=SYMBOL,
            side="buy",
            type="market",
            quantity=Decimal("0.01"),
            client_order_id=client_id("mkt1"),
        )
    )
    found = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert found.status == "filled" and found.filled_quantity == Decimal("0.01")
    (position,) = connector.positions(SYMBOL)
    assert position.symbol == SYMBOL and position.quantity == Decimal("0.01")
    assert position.entry_price and position.entry_price > 0
    assert [held.symbol for held in connector.positions()] == [SYMBOL]
    assert connector.is_hedge_mode() is False


def test_partial_fill_through_the_control_api(connector, paper_url):
    placed = connector.place_order(limit_buy("part1", quantity="0.02"))
    paper_fill(paper_url, placed.exchange_order_id, quantity="0.005")
    found = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert found.status == "partially_filled"
    assert found.filled_quantity == Decimal("0.005")
    (listed,) = [
        order
        for order in connector.open_orders(SYMBOL)
        if order.exchange_order_id == placed.exchange_order_id
    ]
    assert listed.status == "partially_filled"


def test_cancel_all_cancels_the_symbol_s_open_orders(connector):
    first = connector.place_order(limit_buy("all1"))
    second = connector.place_order(limit_buy("all2", price="31000"))
    assert connector.cancel_all(SYMBOL) >= 0
    for placed in (first, second):
        found = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
        assert found.status == "canceled"


def test_order_history_lists_closed_orders(connector):
    placed = connector.place_order(limit_buy("hist1"))
    connector.cancel_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    history = connector.order_history(SYMBOL)
    assert placed.exchange_order_id in [order.exchange_order_id for order in history]


def test_set_leverage_is_accepted(connector):
    connector.set_leverage(SYMBOL, 5)


def test_wrong_secret_is_an_authentication_error(paper_url):
    good = make_paper_credentials(paper_url, "orangex")
    bad = connector_for(paper_url, Credentials(good.api_key, "not-the-secret"))
    with pytest.raises(errors.AuthenticationError):
        bad.balances()


def test_cancel_all_without_a_symbol_cancels_every_perpetual_order(connector):
    placed = connector.place_order(limit_buy("every1"))
    assert connector.cancel_all() == 1
    found = connector.get_order(SYMBOL, exchange_order_id=placed.exchange_order_id)
    assert found.status == "canceled"


def test_read_only_key_is_flagged_and_cannot_trade(paper_url):
    credentials = make_paper_credentials(paper_url, "orangex", permissions=["read"])
    connector = connector_for(paper_url, credentials)
    check = connector.check_credentials()
    assert "trade" not in check.permissions and "read_only" in check.warnings
    with pytest.raises(errors.PermissionDenied):
        connector.place_order(limit_buy("ro1"))


def test_a_key_without_withdraw_permission_raises_no_withdraw_warning(paper_url):
    from exchanges.orangex import OrangexConnector

    for permissions, warned in ((["read", "trade"], False), (["read", "trade", "withdraw"], True)):
        credentials = make_paper_credentials(paper_url, "orangex", permissions=permissions)
        connector = OrangexConnector(
            credentials=credentials,
            api_type="perpetual_futures",
            environment="paper",
            base_url=f"{paper_url}/orangex",
        )
        assert ("withdraw_enabled" in connector.test_connection().warnings) is warned
