"""The OKX connector against the real paper exchange over HTTP (127.0.0.1)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import OrderRequest
from exchanges.okx import OkxConnector
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

SPOT = "BTC/USDT"
SWAP = "BTC/USDT:USDT"


def client_id() -> str:
    return f"ec{uuid.uuid4().hex[:30]}"


def connector(paper_url: str, api_type: str = "spot", **balances: str) -> OkxConnector:
    credentials = make_paper_credentials(
        paper_url, "okx", balances=balances or {"USDT": "100000", "BTC": "2"}
    )
    return OkxConnector(
        credentials=credentials, api_type=api_type, environment="paper", base_url=f"{paper_url}/okx"
    )


def limit_below_market(okx: OkxConnector, symbol: str, quantity: str, **changes) -> OrderRequest:
    """A buy at 80 % of the last price: it rests."""
    price = (okx.ticker(symbol).last * Decimal("0.8")).quantize(Decimal("0.1"))
    return OrderRequest(
        symbol=symbol,
        side="buy",
        type="limit",
        quantity=Decimal(quantity),
        price=price,
        client_order_id=client_id(),
        **changes,
    )


def paper_fill(paper_url: str, client_order_id: str, quantity: str | None = None) -> None:
    body = {"exchange": "okx", "clientOrderId": client_order_id}
    if quantity is not None:
        body["quantity"] = quantity
    response = requests.post(f"{paper_url}/_paper/fill", json=body, timeout=10)
    assert response.status_code == 200, response.text


@pytest.fixture
def spot(paper_reset: str) -> OkxConnector:
    return connector(paper_reset)


@pytest.fixture
def swap(paper_reset: str) -> OkxConnector:
    return connector(paper_reset, "perpetual_futures")


def test_connection_test_reads_the_key_permissions(spot):
    result = spot.test_connection()
    assert "trade" in result.permissions
    assert "withdraw_enabled" not in result.warnings
    assert abs(result.server_time_offset_ms) < 5000


def test_read_only_key_is_reported_read_only(paper_reset):
    credentials = make_paper_credentials(paper_reset, "okx", permissions=["read"])
    okx = OkxConnector(credentials=credentials, environment="paper", base_url=f"{paper_reset}/okx")
    assert "read_only" in okx.check_credentials().warnings


def test_wrong_passphrase_is_an_authentication_error(paper_reset):
    credentials = make_paper_credentials(paper_reset, "okx")
    wrong = type(credentials)(credentials.api_key, credentials.api_secret, "not-it")
    okx = OkxConnector(credentials=wrong, environment="paper", base_url=f"{paper_reset}/okx")
    with pytest.raises(errors.AuthenticationError):
        okx.balances()


def test_heartbeat_runs_a_signed_read(spot):
    assert spot.heartbeat() >= 0


def test_balances_show_the_funded_account(spot):
    balances = {b.asset: b for b in spot.balances()}
    assert balances["USDT"].free == Decimal("100000")
    assert balances["BTC"].total == Decimal("2")


def test_instruments_and_ticker(swap):
    instruments = {i.symbol: i for i in swap.instruments()}
    btc = instruments[SWAP]
    assert btc.contract_value > 0 and btc.lot_size > 0 and btc.kind == "linear"
    ticker = swap.ticker(SWAP)
    assert ticker.bid > 0 and ticker.ask >= ticker.bid


def test_limit_order_rests_is_found_by_client_id_and_cancels(spot):
    order = limit_below_market(spot, SPOT, "0.01")
    placed = spot.place_order(order)
    assert placed.exchange_order_id and placed.status == "open"
    found = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert (found.exchange_order_id, found.status, found.quantity, found.price) == (
        placed.exchange_order_id,
        "open",
        Decimal("0.01"),
        order.price,
    )
    assert [o.client_order_id for o in spot.open_orders(SPOT)] == [order.client_order_id]
    canceled = spot.cancel_order(SPOT, client_order_id=order.client_order_id)
    assert canceled.status == "canceled"
    assert spot.open_orders(SPOT) == []
    history = spot.order_history(SPOT)
    assert order.client_order_id in [o.client_order_id for o in history]


def test_lookup_of_an_unknown_client_id_is_order_not_found(spot):
    with pytest.raises(errors.OrderNotFound):
        spot.get_order(SPOT, client_order_id=client_id())


def test_market_order_fills(spot):
    order = OrderRequest(
        symbol=SPOT,
        side="buy",
        type="market",
        quantity=Decimal("0.01"),
        client_order_id=client_id(),
    )
    spot.place_order(order)
    filled = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert filled.status == "filled" and filled.filled_quantity == Decimal("0.01")
    assert filled.average_price and filled.average_price > 0
    btc = {b.asset: b for b in spot.balances()}["BTC"]
    assert btc.total == Decimal("2.01")


def test_partial_fill_is_reported(paper_reset, spot):
    order = limit_below_market(spot, SPOT, "0.01")
    spot.place_order(order)
    paper_fill(paper_reset, order.client_order_id, "0.004")
    partial = spot.get_order(SPOT, client_order_id=order.client_order_id)
    assert partial.status == "partially_filled"
    assert partial.filled_quantity == Decimal("0.004")
    assert spot.cancel_order(
        SPOT, client_order_id=order.client_order_id
    ).filled_quantity == Decimal("0.004")


def test_perpetual_fill_opens_a_position_in_base_currency(swap):
    assert swap.is_hedge_mode() is False
    swap.set_leverage(SWAP, 5)
    order = OrderRequest(
        symbol=SWAP,
        side="buy",
        type="market",
        quantity=Decimal("0.05"),
        client_order_id=client_id(),
    )
    swap.place_order(order)
    filled = swap.get_order(SWAP, client_order_id=order.client_order_id)
    assert filled.status == "filled" and filled.filled_quantity == Decimal("0.05")
    [position] = swap.positions(SWAP)
    assert position.symbol == SWAP and position.quantity == Decimal("0.05")
    assert position.leverage == Decimal("5")
    close = OrderRequest(
        symbol=SWAP,
        side="sell",
        type="market",
        quantity=Decimal("0.05"),
        client_order_id=client_id(),
        reduce_only=True,
    )
    swap.place_order(close)
    assert swap.positions(SWAP) == []


def test_perpetual_limit_order_partial_fill_in_contracts(paper_reset, swap):
    order = limit_below_market(swap, SWAP, "0.05")
    swap.place_order(order)
    paper_fill(paper_reset, order.client_order_id, "0.02")
    partial = swap.get_order(SWAP, client_order_id=order.client_order_id)
    assert (partial.status, partial.quantity, partial.filled_quantity) == (
        "partially_filled",
        Decimal("0.05"),
        Decimal("0.02"),
    )
    [position] = swap.positions(SWAP)
    assert position.quantity == Decimal("0.02")


def test_cancel_all_cancels_every_open_order(swap):
    orders = [limit_below_market(swap, SWAP, "0.01") for _ in range(3)]
    for order in orders:
        swap.place_order(order)
    assert len(swap.open_orders()) == 3
    assert swap.cancel_all(SWAP) == 3
    assert swap.open_orders() == []


def test_insufficient_funds_is_mapped(paper_reset):
    okx = connector(paper_reset, USDT="10")
    order = OrderRequest(
        symbol=SPOT,
        side="buy",
        type="limit",
        quantity=Decimal("1"),
        price=Decimal("50000"),
        client_order_id=client_id(),
    )
    with pytest.raises(errors.InsufficientFunds):
        okx.place_order(order)


def test_duplicate_open_client_id_is_refused(spot):
    order = limit_below_market(spot, SPOT, "0.01")
    spot.place_order(order)
    with pytest.raises(errors.DuplicateOrder):
        spot.place_order(order)
