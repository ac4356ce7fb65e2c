"""The Binance connector against the real paper exchange over HTTP (spot and USD-M futures
through one base URL, environment "paper")."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import OrderRequest
from exchanges.binance import BinanceConnector
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

BALANCES = {"USDT": "100000", "BTC": "2"}


def client_id() -> str:
    return ("ec" + uuid.uuid4().hex)[:32]


def set_price(paper_url: str, symbol: str, price: str) -> None:
    response = requests.post(
        f"{paper_url}/_paper/prices",
        json={"exchange": "binance", "symbol": symbol, "price": price},
        timeout=5,
    )
    response.raise_for_status()


def paper_fill(paper_url: str, client_order_id: str, quantity: str) -> None:
    response = requests.post(
        f"{paper_url}/_paper/fill",
        json={"exchange": "binance", "clientOrderId": client_order_id, "quantity": quantity},
        timeout=5,
    )
    response.raise_for_status()


def connector(paper_url: str, api_type: str) -> BinanceConnector:
    return BinanceConnector(
        credentials=make_paper_credentials(paper_url, "binance", balances=BALANCES),
        api_type=api_type,
        environment="paper",
        base_url=f"{paper_url}/binance",
    )


@pytest.fixture
def spot(paper_reset: str) -> BinanceConnector:
    set_price(paper_reset, "BTC/USDT", "60000")
    return connector(paper_reset, "spot")


@pytest.fixture
def futures(paper_reset: str) -> BinanceConnector:
    set_price(paper_reset, "BTC/USDT:USDT", "60000")
    return connector(paper_reset, "perpetual_futures")


def limit_buy(symbol: str, quantity: str, price: str, cid: str) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=Decimal(quantity),
        price=Decimal(price),
        client_order_id=cid,
    )


def market(symbol: str, side: str, quantity: str, cid: str, **extra: object) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        type="market",
        quantity=Decimal(quantity),
        client_order_id=cid,
        **extra,
    )  # type: ignore[arg-type]


def test_connection_reports_trade_permission_and_a_small_offset(spot):
    result = spot.test_connection()
    assert "trade" in result.permissions and "read" in result.permissions
    assert abs(result.server_time_offset_ms) < 5000
    spot.heartbeat()


def test_futures_connection_and_heartbeat(futures):
    result = futures.test_connection()
    assert "trade" in result.permissions
    futures.heartbeat()
    assert futures.is_hedge_mode() is False


def test_spot_balances_are_the_funded_ones(spot):
    balances = {b.asset: b for b in spot.balances()}
    assert balances["USDT"].free == Decimal("100000") and balances["BTC"].free == Decimal("2")


def test_instruments_and_ticker(spot):
    instruments = {i.symbol: i for i in spot.instruments()}
    assert instruments["BTC/USDT"].tick_size > 0 and instruments["BTC/USDT"].lot_size > 0
    ticker = spot.ticker("BTC/USDT")
    assert ticker.bid <= ticker.last <= ticker.ask and ticker.last == Decimal("60000")


def test_limit_order_away_from_the_price_rests_is_found_and_canceled(spot):
    cid = client_id()
    placed = spot.place_order(limit_buy("BTC/USDT", "0.001", "30000", cid))
    assert placed.status == "open" and placed.client_order_id == cid
    found = spot.get_order("BTC/USDT", client_order_id=cid)
    assert found.exchange_order_id == placed.exchange_order_id
    assert found.quantity == Decimal("0.001") and found.price == Decimal("30000")
    assert cid in {order.client_order_id for order in spot.open_orders("BTC/USDT")}
    locked = {b.asset: b for b in spot.balances()}["USDT"].locked
    assert locked == Decimal("30")
    canceled = spot.cancel_order("BTC/USDT", client_order_id=cid)
    assert canceled.status == "canceled" and canceled.client_order_id == cid
    assert spot.get_order("BTC/USDT", exchange_order_id=placed.exchange_order_id).status == (
        "canceled"
    )
    assert cid not in {order.client_order_id for order in spot.open_orders()}


def test_market_order_fills_and_moves_balances(spot):
    cid = client_id()
    filled = spot.place_order(market("BTC/USDT", "buy", "0.01", cid))
    assert filled.status == "filled" and filled.filled_quantity == Decimal("0.01")
    assert filled.average_price == Decimal("60000")
    balances = {b.asset: b for b in spot.balances()}
    assert balances["BTC"].free == Decimal("2.01")
    assert balances["USDT"].free == Decimal("99400")
    history = spot.order_history("BTC/USDT")
    assert cid in {order.client_order_id for order in history}


def test_partial_fill_through_the_control_api(spot, paper_reset):
    cid = client_id()
    spot.place_order(limit_buy("BTC/USDT", "0.01", "30000", cid))
    paper_fill(paper_reset, cid, "0.004")
    partial = spot.get_order("BTC/USDT", client_order_id=cid)
    assert partial.status == "partially_filled"
    assert partial.filled_quantity == Decimal("0.004")
    assert partial.average_price == Decimal("30000")
    canceled = spot.cancel_order("BTC/USDT", client_order_id=cid)
    assert canceled.status == "canceled" and canceled.filled_quantity == Decimal("0.004")


def test_lookup_of_an_unknown_client_id_is_order_not_found(spot):
    with pytest.raises(errors.OrderNotFound):
        spot.get_order("BTC/USDT", client_order_id=client_id())
    with pytest.raises(errors.OrderNotFound):
        spot.cancel_order("BTC/USDT", client_order_id=client_id())


def test_cancel_all_counts_what_was_open(spot):
    for price in ("30000", "31000"):
        spot.place_order(limit_buy("BTC/USDT", "0.001", price, client_id()))
    assert spot.cancel_all("BTC/USDT") == 2
    assert spot.open_orders("BTC/USDT") == []
    assert spot.cancel_all("BTC/USDT") == 0


def test_insufficient_balance_is_refused(spot):
    with pytest.raises(errors.InsufficientFunds):
        spot.place_order(limit_buy("BTC/USDT", "10", "50000", client_id()))


def test_perpetual_fill_opens_a_position_and_reduce_only_closes_it(futures):
    futures.set_leverage("BTC/USDT:USDT", 5)
    opened = futures.place_order(market("BTC/USDT:USDT", "buy", "0.01", client_id()))
    assert opened.status == "filled"
    [position] = futures.positions("BTC/USDT:USDT")
    assert position.symbol == "BTC/USDT:USDT" and position.quantity == Decimal("0.01")
    assert position.entry_price == Decimal("60000")
    usdt = {b.asset: b for b in futures.balances()}["USDT"]
    assert usdt.locked == Decimal("120")  # 0.01 x 60000 / 5
    closed = futures.place_order(
        market("BTC/USDT:USDT", "sell", "0.01", client_id(), reduce_only=True)
    )
    assert closed.status == "filled"
    assert futures.positions() == []


def test_perpetual_limit_order_rests_and_is_listed(futures):
    cid = client_id()
    futures.place_order(limit_buy("BTC/USDT:USDT", "0.01", "30000", cid))
    assert [o.client_order_id for o in futures.open_orders("BTC/USDT:USDT")] == [cid]
    assert futures.get_order("BTC/USDT:USDT", client_order_id=cid).status == "open"
    assert futures.cancel_all("BTC/USDT:USDT") == 1
    assert futures.get_order("BTC/USDT:USDT", client_order_id=cid).status == "canceled"


def test_reduce_only_that_would_open_is_refused(futures):
    with pytest.raises(errors.InvalidOrder):
        futures.place_order(market("BTC/USDT:USDT", "sell", "0.01", client_id(), reduce_only=True))
