"""The BingX connector against the real paper exchange over HTTP (spot and perpetuals)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import OrderRequest
from exchanges.bingx import BingxConnector
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"


def client_id() -> str:
    return ("ec" + uuid.uuid4().hex)[:32]


def connect(paper_url: str, api_type: str, **account: object) -> BingxConnector:
    credentials = make_paper_credentials(paper_url, "bingx", **account)  # type: ignore[arg-type]
    return BingxConnector(
        credentials=credentials,
        api_type=api_type,
        environment="paper",
        base_url=f"{paper_url}/bingx",
    )


@pytest.fixture
def spot(paper_reset: str) -> BingxConnector:
    return connect(paper_reset, "spot")


@pytest.fixture
def perp(paper_reset: str) -> BingxConnector:
    return connect(paper_reset, "perpetual_futures")


def resting_limit(connector: BingxConnector, symbol: str, quantity: str) -> OrderRequest:
    """A buy far below the price, so it rests until we fill it."""
    half = (connector.ticker(symbol).last / 2).quantize(Decimal("1"))
    return OrderRequest(symbol, "buy", "limit", Decimal(quantity), client_id(), price=half)


def paper_fill(paper_url: str, client_order_id: str, quantity: str) -> None:
    answer = requests.post(
        f"{paper_url}/_paper/fill",
        timeout=10,
        json={"exchange": "bingx", "clientOrderId": client_order_id, "quantity": quantity},
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("api_type", ["spot", "perpetual_futures"])
def test_connection_test_reports_offset_and_trade_permission(paper_reset, api_type):
    result = connect(paper_reset, api_type).test_connection()
    assert "read" in result.permissions and "trade" in result.permissions
    assert abs(result.server_time_offset_ms) < 5000
    assert "read_only" not in result.warnings


def test_a_read_only_key_is_reported_read_only(paper_reset):
    result = connect(paper_reset, "spot", permissions=["read"]).test_connection()
    assert "trade" not in result.permissions and "read_only" in result.warnings


def test_spot_balances_show_the_funded_account(spot):
    balances = {balance.asset: balance for balance in spot.balances()}
    assert balances["USDT"].free == Decimal("100000")
    assert balances["BTC"].free == Decimal("2")


def test_perpetual_balances_show_usdt_margin(perp):
    balances = {balance.asset: balance for balance in perp.balances()}
    assert balances["USDT"].free == Decimal("100000")


@pytest.mark.parametrize(
    ("api_type", "symbol", "kind"), [("spot", SPOT, "spot"), ("perpetual_futures", PERP, "linear")]
)
def test_instruments_and_ticker_come_back_unified(paper_reset, api_type, symbol, kind):
    connector = connect(paper_reset, api_type)
    found = {instrument.symbol: instrument for instrument in connector.instruments()}
    assert found[symbol].kind == kind and found[symbol].tick_size > 0
    assert found[symbol].min_quantity > 0
    ticker = connector.ticker(symbol)
    assert ticker.symbol == symbol and ticker.last > 0 and ticker.ask >= ticker.bid > 0


@pytest.mark.parametrize(
    ("api_type", "symbol", "quantity"),
    [("spot", SPOT, "0.001"), ("perpetual_futures", PERP, "0.01")],
)
def test_resting_limit_is_found_by_client_id_listed_and_canceled(
    paper_reset, api_type, symbol, quantity
):
    connector = connect(paper_reset, api_type)
    order = resting_limit(connector, symbol, quantity)
    placed = connector.place_order(order)
    assert placed.status == "open" and placed.exchange_order_id

    found = connector.get_order(symbol, client_order_id=order.client_order_id)
    assert found.exchange_order_id == placed.exchange_order_id
    assert (found.status, found.quantity, found.price) == ("open", order.quantity, order.price)
    by_id = connector.get_order(symbol, exchange_order_id=placed.exchange_order_id)
    assert by_id.client_order_id == order.client_order_id
    assert placed.exchange_order_id in [o.exchange_order_id for o in connector.open_orders()]

    canceled = connector.cancel_order(symbol, client_order_id=order.client_order_id)
    assert canceled.status == "canceled"
    assert connector.get_order(symbol, client_order_id=order.client_order_id).status == ("canceled")
    assert connector.open_orders(symbol) == []
    history = connector.order_history(symbol)
    assert placed.exchange_order_id in [o.exchange_order_id for o in history]


@pytest.mark.parametrize(
    ("api_type", "symbol", "quantity"),
    [("spot", SPOT, "0.01"), ("perpetual_futures", PERP, "0.01")],
)
def test_partial_fill_shows_as_partially_filled(paper_reset, api_type, symbol, quantity):
    connector = connect(paper_reset, api_type)
    order = resting_limit(connector, symbol, quantity)
    connector.place_order(order)
    paper_fill(paper_reset, order.client_order_id, "0.004")
    found = connector.get_order(symbol, client_order_id=order.client_order_id)
    assert found.status == "partially_filled"
    assert found.filled_quantity == Decimal("0.004")
    assert found.average_price == order.price
    assert connector.cancel_all(symbol) == 1
    assert connector.get_order(symbol, client_order_id=order.client_order_id).status == ("canceled")


def test_spot_market_buy_fills_sized_in_quote(spot):
    order = OrderRequest(SPOT, "buy", "market", Decimal("0.001"), client_id())
    spot.place_order(order)
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert found.status == "filled"
    # quoteOrderQty = quantity x ask x 1.01, so the fill is about 1% above the quantity
    assert Decimal("0.001") <= found.filled_quantity <= Decimal("0.00102")
    balances = {balance.asset: balance for balance in spot.balances()}
    assert balances["BTC"].free == Decimal("2") + found.filled_quantity


def test_perpetual_market_fill_opens_a_position(perp):
    perp.set_leverage(PERP, 5)
    assert perp.is_hedge_mode() is False
    order = OrderRequest(PERP, "sell", "market", Decimal("0.01"), client_id())
    perp.place_order(order)
    found = perp.get_order(PERP, client_order_id=order.client_order_id)
    assert (found.status, found.filled_quantity) == ("filled", Decimal("0.01"))
    (position,) = perp.positions()
    assert position.symbol == PERP and position.quantity == Decimal("-0.01")
    assert position.entry_price == found.average_price
    assert position.leverage == Decimal("5")
    close = OrderRequest(PERP, "buy", "market", Decimal("0.01"), client_id(), reduce_only=True)
    perp.place_order(close)
    assert perp.positions() == []


def test_unknown_order_is_order_not_found(spot):
    with pytest.raises(errors.OrderNotFound):
        spot.get_order(SPOT, client_order_id=client_id())


def test_buying_more_than_the_balance_is_insufficient_funds(paper_reset):
    connector = connect(paper_reset, "spot", balances={"USDT": "10"})
    order = OrderRequest(
        SPOT, "buy", "limit", Decimal("0.001"), client_id(), price=Decimal("30000")
    )
    with pytest.raises(errors.InsufficientFunds):
        connector.place_order(order)


def test_a_wrong_secret_is_an_authentication_error(paper_reset):
    good = connect(paper_reset, "spot")
    bad = BingxConnector(
        credentials=type(good.credentials)(good.credentials.api_key, "nope"),
        api_type="spot",
        environment="paper",
        base_url=f"{paper_reset}/bingx",
    )
    with pytest.raises(errors.AuthenticationError):
        bad.balances()
