"""The Pionex connector against the real paper exchange over HTTP (127.0.0.1)."""

from __future__ import annotations

import uuid
from decimal import ROUND_DOWN, Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import Credentials, OrderRequest
from exchanges.pionex import PionexConnector

pytestmark = pytest.mark.integration

SPOT = "BTC/USDT"
PERP = "BTC/USDT:USDT"
BALANCES = {"USDT": "100000", "BTC": "2"}


def client_id() -> str:
    return ("ec" + uuid.uuid4().hex)[:32]


@pytest.fixture
def credentials(paper_url: str) -> Credentials:
    from tests.paper import make_paper_credentials

    return make_paper_credentials(paper_url, "pionex", balances=BALANCES)


def connect(paper_url: str, credentials: Credentials, api_type: str = "spot") -> PionexConnector:
    return PionexConnector(
        credentials=credentials,
        api_type=api_type,
        environment="paper",
        base_url=f"{paper_url}/pionex",
    )


@pytest.fixture
def spot(paper_url: str, credentials: Credentials) -> PionexConnector:
    return connect(paper_url, credentials)


@pytest.fixture
def perp(paper_url: str, credentials: Credentials) -> PionexConnector:
    return connect(paper_url, credentials, "perpetual_futures")


def away_price(connector: PionexConnector, symbol: str, factor: str = "0.8") -> Decimal:
    """A limit price far from the market, on the tick."""
    tick = next(i.tick_size for i in connector.instruments() if i.symbol == symbol)
    last = connector.ticker(symbol).last
    return (last * Decimal(factor)).quantize(tick, rounding=ROUND_DOWN)


def limit_buy(
    connector: PionexConnector, symbol: str = SPOT, quantity: str = "0.001"
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=Decimal(quantity),
        price=away_price(connector, symbol),
        client_order_id=client_id(),
    )


def paper_fill(paper_url: str, client_order_id: str, quantity: str | None = None) -> None:
    body: dict[str, str] = {"exchange": "pionex", "clientOrderId": client_order_id}
    if quantity is not None:
        body["quantity"] = quantity
    response = requests.post(f"{paper_url}/_paper/fill", json=body, timeout=10)
    assert response.status_code == 200, response.text


def test_connection_reports_offset_and_read_and_trade(spot):
    result = spot.test_connection()
    assert abs(result.server_time_offset_ms) < 5_000
    assert set(result.permissions) >= {"read", "trade"}
    assert "read_only" not in result.warnings


def test_a_read_only_key_is_reported_read_only(paper_url):
    from tests.paper import make_paper_credentials

    read_only = make_paper_credentials(paper_url, "pionex", balances=BALANCES, permissions=["read"])
    check = connect(paper_url, read_only).check_credentials()
    assert "trade" not in check.permissions and "read_only" in check.warnings


def test_a_wrong_secret_is_an_authentication_error(paper_url, credentials):
    wrong = Credentials(credentials.api_key, credentials.api_secret + "x")
    with pytest.raises(errors.AuthenticationError):
        connect(paper_url, wrong).balances()


def test_balances_show_the_funded_account(spot):
    balances = {balance.asset: balance for balance in spot.balances()}
    assert balances["USDT"].free == Decimal("100000")
    assert balances["BTC"].total == Decimal("2")


def test_instruments_and_ticker_are_served(spot):
    btc = next(i for i in spot.instruments() if i.symbol == SPOT)
    assert btc.tick_size > 0 and btc.lot_size > 0
    ticker = spot.ticker(SPOT)
    assert ticker.bid > 0 and ticker.ask >= ticker.bid and ticker.last > 0


def test_a_limit_order_away_from_the_price_rests_is_found_and_canceled(spot):
    order = limit_buy(spot)
    placed = spot.place_order(order)
    assert placed.status == "open"
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.exchange_order_id, found.status, found.filled_quantity) == (
        placed.exchange_order_id,
        "open",
        Decimal("0"),
    )
    assert found.quantity == Decimal("0.001") and found.price == order.price
    assert placed.exchange_order_id in [o.exchange_order_id for o in spot.open_orders(SPOT)]
    canceled = spot.cancel_order(SPOT, exchange_order_id=placed.exchange_order_id)
    assert canceled.status == "canceled"
    assert placed.exchange_order_id not in [o.exchange_order_id for o in spot.open_orders(SPOT)]


def test_cancel_by_client_id_is_not_supported_even_on_paper(spot):
    with pytest.raises(errors.NotSupported):
        spot.cancel_order(SPOT, client_order_id=client_id())


def test_a_missing_order_is_not_found(spot):
    with pytest.raises(errors.OrderNotFound):
        spot.get_order(SPOT, client_order_id=client_id())


def test_a_market_buy_sized_in_quote_fills(spot):
    order = OrderRequest(
        symbol=SPOT,
        side="buy",
        type="market",
        quantity=Decimal("0.001"),
        client_order_id=client_id(),
    )
    spot.place_order(order)
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert found.status == "filled"
    # quantity x ask x 1.01 was spent, so a little more than the quantity was bought
    assert Decimal("0.001") <= found.filled_quantity <= Decimal("0.00102")


def test_a_market_sell_fills_its_base_quantity(spot):
    order = OrderRequest(
        symbol=SPOT,
        side="sell",
        type="market",
        quantity=Decimal("0.001"),
        client_order_id=client_id(),
    )
    spot.place_order(order)
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.status, found.filled_quantity) == ("filled", Decimal("0.001"))


def test_a_partial_fill_is_partially_filled_then_canceled_keeps_the_fill(paper_url, spot):
    order = limit_buy(spot, quantity="0.002")
    placed = spot.place_order(order)
    paper_fill(paper_url, order.client_order_id, "0.0005")
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.status, found.filled_quantity) == ("partially_filled", Decimal("0.0005"))
    canceled = spot.cancel_order(SPOT, exchange_order_id=placed.exchange_order_id)
    assert (canceled.status, canceled.filled_quantity) == ("canceled", Decimal("0.0005"))


def test_order_history_holds_closed_orders(spot):
    order = limit_buy(spot)
    placed = spot.place_order(order)
    spot.cancel_order(SPOT, exchange_order_id=placed.exchange_order_id)
    history = spot.order_history(SPOT)
    assert placed.exchange_order_id in [o.exchange_order_id for o in history]


def test_cancel_all_cancels_every_open_order_of_the_symbol(spot):
    for _ in range(2):
        spot.place_order(limit_buy(spot))
    assert spot.cancel_all(SPOT) >= 2
    assert spot.open_orders(SPOT) == []


def test_perpetual_fill_opens_a_position_and_reduce_only_closes_it(perp):
    assert perp.is_hedge_mode() is False
    perp.set_leverage(PERP, 5)
    opening = OrderRequest(
        symbol=PERP,
        side="buy",
        type="market",
        quantity=Decimal("0.01"),
        client_order_id=client_id(),
    )
    perp.place_order(opening)
    assert perp.get_order(PERP, client_order_id=opening.client_order_id).status == "filled"
    (position,) = perp.positions(PERP)
    assert position.quantity == Decimal("0.01") and position.entry_price > 0
    closing = OrderRequest(
        symbol=PERP,
        side="sell",
        type="market",
        quantity=Decimal("0.01"),
        client_order_id=client_id(),
        reduce_only=True,
    )
    perp.place_order(closing)
    assert perp.positions(PERP) == []


def test_perpetual_limit_order_rests_in_open_orders_and_is_canceled(perp):
    order = limit_buy(perp, PERP, quantity="0.01")
    placed = perp.place_order(order)
    assert placed.exchange_order_id in [o.exchange_order_id for o in perp.open_orders()]
    canceled = perp.cancel_order(PERP, exchange_order_id=placed.exchange_order_id)
    assert canceled.status == "canceled"
    balances = {balance.asset: balance for balance in perp.balances()}
    assert balances["USDT"].free > 0
