"""Margin figures per exchange, against each one's documented rules (docs/orders.md,
"Margin"): the taker fee, leverage dividing a perpetual's notional, what open orders
reserve and whether the exchange's available figure already counts them.

Most run on the ledger path (a live connection as the runner leaves it, tests/ledger_support),
where every figure is set exactly; the REST path is checked against the paper exchange's
balances set to the unit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from django.utils import timezone

from connections.services import connection_credentials
from orders.margin import RULES
from orders.models import Order
from tests.ledger_support import balance, make_live, position, warm

pytestmark = pytest.mark.django_db

UNIT = Decimal("0.00000001")
PRICE = Decimal("60000")
QUANTITY = Decimal("0.01")
SPOT = ["binance", "bybit", "okx", "bingx", "pionex"]
PERPETUAL = ["binance", "bybit", "okx", "bingx", "pionex", "orangex"]
SPOT_SYMBOL, PERP_SYMBOL = "BTC/USDT", "BTC/USDT:USDT"


def fee(exchange: str, kind: str) -> Decimal:
    return RULES[(exchange, kind)].taker_fee


def text(value: Decimal) -> str:
    return format(value.quantize(UNIT).normalize(), "f")


def live(make_connection: Any, exchange: str, api_type: str = "spot") -> Any:
    connection = make_connection(exchange, api_type)
    make_live(connection)
    warm(connection, PERP_SYMBOL if api_type == "perpetual_futures" else SPOT_SYMBOL)
    return connection


def place(client: Any, connection: Any, **overrides: Any) -> Any:
    perpetual = connection.api_type == "perpetual_futures"
    body = {
        "connectionId": str(connection.pk),
        "symbol": PERP_SYMBOL if perpetual else SPOT_SYMBOL,
        "side": "buy",
        "type": "limit",
        "quantity": str(QUANTITY),
        "price": str(PRICE),
        **overrides,
    }
    return client.post(
        "/api/orders", {k: v for k, v in body.items() if v is not None}, format="json"
    )


def refused_for_margin(
    response: Any, *, required: Decimal, available: Decimal, asset: str
) -> dict[str, Any]:
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "insufficient_margin"
    assert (error["required"], error["available"], error["asset"]) == (
        text(required),
        text(available),
        asset,
    )
    # the same figures in the message as in the fields
    assert f"available {text(available)} " in error["message"]
    assert f"the {text(required)} this order" in error["message"]
    return error


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.json()
    order = response.json()["order"]
    assert Order.objects.get(pk=order["id"]).events.first().data["prechecks"] == "ledger"
    return order


def in_flight(
    connection: Any,
    *,
    status: str = "pending",
    side: str = "buy",
    quantity: Decimal = QUANTITY,
    price: Decimal | None = PRICE,
    leverage: int | None = None,
    sent_at: Any = None,
    symbol: str | None = None,
    filled: Decimal = Decimal("0"),
) -> Order:
    """One of our orders as its row stands (no exchange involved)."""
    perpetual = connection.api_type == "perpetual_futures"
    return Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=f"ec{Order.objects.count():030d}",
        request_hash="x",
        symbol=symbol or (PERP_SYMBOL if perpetual else SPOT_SYMBOL),
        side=side,
        type="limit" if price else "market",
        requested_quantity=quantity,
        volume_factor=1,
        quantity=quantity,
        price=price,
        leverage=leverage,
        status=status,
        last_sent_at=sent_at,
        filled_quantity=filled,
    )


# -- spot ----------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", SPOT)
def test_a_spot_buy_needs_its_quote_plus_the_taker_fee_to_the_unit(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange)
    need = QUANTITY * PRICE * (1 + fee(exchange, "spot"))
    balance(connection, "USDT", free=str(need - UNIT), locked="0", total=str(need))
    refused_for_margin(
        place(owner_client, connection), required=need, available=need - UNIT, asset="USDT"
    )
    balance(
        connection,
        "USDT",
        free=str(need),
        locked="0",
        total=str(need),
        at=timezone.now() - timedelta(seconds=1),
    )
    accepted(place(owner_client, connection))


@pytest.mark.parametrize("exchange", SPOT)
def test_a_spot_sell_needs_its_base_quantity_and_no_fee(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange)
    balance(connection, "BTC", free=str(QUANTITY - UNIT), locked="0", total="1")
    refused_for_margin(
        place(owner_client, connection, side="sell"),
        required=QUANTITY,
        available=QUANTITY - UNIT,
        asset="BTC",
    )
    balance(
        connection,
        "BTC",
        free=str(QUANTITY),
        locked="0",
        total="1",
        at=timezone.now() - timedelta(seconds=1),
    )
    accepted(place(owner_client, connection, side="sell"))


@pytest.mark.parametrize("exchange", SPOT)
def test_an_order_not_on_the_exchange_yet_reserves_its_quote(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange)
    need = QUANTITY * PRICE * (1 + fee(exchange, "spot"))
    balance(connection, "USDT", free=str(2 * need - UNIT), locked="0", total="5000")
    in_flight(connection, status="submitting", sent_at=timezone.now())
    error = refused_for_margin(
        place(owner_client, connection), required=need, available=need - UNIT, asset="USDT"
    )
    assert error["reserved"] == text(need)


@pytest.mark.parametrize("exchange", SPOT)
def test_an_acknowledged_order_the_exchange_already_took_off_free_is_not_counted_again(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange)
    need = QUANTITY * PRICE * (1 + fee(exchange, "spot"))
    # the figure was told after the open order was sent: its lock is already out of free
    sent = timezone.now() - timedelta(seconds=10)
    in_flight(connection, status="open", sent_at=sent)
    balance(connection, "USDT", free=str(need), locked=str(need), total=str(2 * need))
    accepted(place(owner_client, connection))


@pytest.mark.parametrize("exchange", SPOT)
def test_an_order_sent_after_the_figure_was_told_is_counted(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange)
    need = QUANTITY * PRICE * (1 + fee(exchange, "spot"))
    balance(
        connection,
        "USDT",
        free=str(need),
        locked="0",
        total=str(need),
        at=timezone.now() - timedelta(seconds=10),
    )
    in_flight(connection, status="open", sent_at=timezone.now() - timedelta(seconds=1))
    refused_for_margin(
        place(owner_client, connection), required=need, available=Decimal("0"), asset="USDT"
    )


def test_a_partly_filled_sell_reserves_only_its_unfilled_base(owner_client, paper, make_connection):
    connection = live(make_connection, "binance")
    # an unsettled sell of 0.01 of which 0.006 filled still holds 0.004
    in_flight(connection, status="unknown", side="sell", filled=Decimal("0.006"))
    balance(connection, "BTC", free=str(QUANTITY + Decimal("0.004") - UNIT), locked="0", total="1")
    error = refused_for_margin(
        place(owner_client, connection, side="sell"),
        required=QUANTITY,
        available=QUANTITY - UNIT,
        asset="BTC",
    )
    assert error["reserved"] == "0.004"
    balance(
        connection,
        "BTC",
        free=str(QUANTITY + Decimal("0.004")),
        locked="0",
        total="1",
        at=timezone.now() - timedelta(seconds=1),
    )
    accepted(place(owner_client, connection, side="sell"))


# -- perpetuals -----------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", PERPETUAL)
def test_leverage_divides_a_perpetuals_margin_and_the_fee_is_on_the_notional(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange, "perpetual_futures")
    notional = QUANTITY * PRICE
    need = notional / 10 + notional * fee(exchange, "linear")
    balance(connection, "USDT", free=str(need), locked="0", total=str(need), source="rest")
    # leverage 5 needs twice the initial margin
    refused_for_margin(
        place(owner_client, connection, leverage=5),
        required=notional / 5 + notional * fee(exchange, "linear"),
        available=need,
        asset="USDT",
    )
    accepted(place(owner_client, connection, leverage=10))
    # one unit less and the same order is refused; the accepted one (pending) reserves too
    balance(
        connection,
        "USDT",
        free=str(2 * need - UNIT),
        locked="0",
        total="1000",
        source="rest",
        at=timezone.now() - timedelta(seconds=1),
    )
    error = refused_for_margin(
        place(owner_client, connection, leverage=10),
        required=need,
        available=need - UNIT,
        asset="USDT",
    )
    assert error["reserved"] == text(need)


@pytest.mark.parametrize("exchange", ["binance", "bingx", "bybit"])
def test_a_wallet_only_stream_balance_is_less_the_positions_margin_losses_and_open_orders(
    owner_client, paper, make_connection, exchange
):
    """Binance USD-M and BingX ACCOUNT_UPDATE carry the wallet balance only (and Bybit's
    wallet topic, as we read it, the wallet and its spot lock): available is derived."""
    connection = live(make_connection, exchange, "perpetual_futures")
    notional = QUANTITY * PRICE
    need = notional / 10 + notional * fee(exchange, "linear")
    # a long of 0.02 at 50000 with leverage 20 holds 50; its loss of 7 counts, and an open
    # order acknowledged long ago (0.01 at 60000, leverage 10) holds its margin and fee
    position(connection, PERP_SYMBOL, "0.02", entry="50000", leverage="20", pnl="-7")
    in_flight(connection, status="open", leverage=10, sent_at=timezone.now() - timedelta(hours=1))
    wallet = need + 50 + 7 + need
    balance(connection, "USDT", total=str(wallet - UNIT))
    error = refused_for_margin(
        place(owner_client, connection, leverage=10),
        required=need,
        available=need - UNIT,
        asset="USDT",
    )
    assert error["reserved"] == text(need)
    balance(connection, "USDT", total=str(wallet), at=timezone.now() - timedelta(seconds=1))
    accepted(place(owner_client, connection, leverage=10))


def test_unrealized_profit_is_not_counted_as_available(owner_client, paper, make_connection):
    connection = live(make_connection, "binance", "perpetual_futures")
    need = QUANTITY * PRICE / 10 + QUANTITY * PRICE * fee("binance", "linear")
    position(connection, PERP_SYMBOL, "-0.01", entry="60000", leverage="10", pnl="500")
    balance(connection, "USDT", total=str(need + 60 - UNIT))
    refused_for_margin(
        place(owner_client, connection, leverage=10),
        required=need,
        available=need - UNIT,
        asset="USDT",
    )


@pytest.mark.parametrize("exchange", [e for e in PERPETUAL if e != "orangex"])
def test_a_reduce_only_order_needs_an_opposite_position_at_least_its_size(
    owner_client, paper, make_connection, exchange
):
    connection = live(make_connection, exchange, "perpetual_futures")
    balance(connection, "USDT", free="0", locked="0", total="0", source="rest")
    position(connection, PERP_SYMBOL, str(QUANTITY - Decimal("0.0001")), entry="60000")
    response = place(owner_client, connection, side="sell", reduceOnly=True)
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert (error["code"], error["position"], error["quantity"]) == (
        "no_position_to_reduce",
        "0.0099",
        "0.01",
    )
    # a buy cannot reduce a long at all
    position(connection, PERP_SYMBOL, str(QUANTITY), entry="60000")
    assert (
        place(owner_client, connection, reduceOnly=True).json()["error"]["code"]
        == "no_position_to_reduce"
    )
    # a sell of the long's size reduces it, and needs no margin
    accepted(place(owner_client, connection, side="sell", reduceOnly=True))


def test_orangex_reduce_only_asks_the_exchange_for_the_position_even_when_live(
    owner_client, paper, make_connection
):
    """OrangeX documents no position channel: the ledger's positions are the last
    snapshot's, so a reduce-only order reads the position from the exchange."""
    connection = live(make_connection, "orangex", "perpetual_futures")
    position(connection, PERP_SYMBOL, "1", entry="60000", source="rest")  # stale
    response = place(owner_client, connection, side="sell", reduceOnly=True)
    error = response.json()["error"]
    assert (error["code"], error["position"]) == ("no_position_to_reduce", "0")


def test_a_hedge_mode_position_in_the_ledger_refuses_without_asking(
    owner_client, paper, make_connection
):
    connection = live(make_connection, "binance", "perpetual_futures")
    balance(connection, "USDT", free="1000", locked="0", total="1000", source="rest")
    position(connection, PERP_SYMBOL, "0.01", entry="60000", side="LONG")
    response = place(owner_client, connection, leverage=10)
    assert response.json()["error"]["code"] == "hedge_mode_unsupported"


# -- the REST path, against the paper exchange's balances ---------------------------------


def set_paper_balance(paper: str, connection: Any, asset: str, amount: Decimal) -> None:
    credentials = connection_credentials(connection=connection)
    body = {
        "exchange": connection.exchange,
        "apiKey": credentials["api_key"],
        "apiSecret": credentials["api_secret"],
        "balances": {asset: str(amount)},
    }
    if credentials["passphrase"]:
        body["passphrase"] = credentials["passphrase"]
    response = requests.post(f"{paper}/_paper/accounts", json=body, timeout=5)
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize("exchange", SPOT)
def test_without_a_live_stream_the_exchanges_free_balance_is_checked_to_the_unit(
    owner_client, paper, make_connection, exchange
):
    connection = make_connection(exchange)
    paper_price = Decimal("59000")  # inside the band of the paper's 60000
    need = QUANTITY * paper_price * (1 + fee(exchange, "spot"))
    set_paper_balance(paper, connection, "USDT", need - UNIT)
    response = place(owner_client, connection, price=str(paper_price))
    refused_for_margin(response, required=need, available=need - UNIT, asset="USDT")
    set_paper_balance(paper, connection, "USDT", need)
    response = place(owner_client, connection, price=str(paper_price))
    assert response.status_code == 202, response.json()
    assert (
        Order.objects.get(pk=response.json()["order"]["id"]).events.first().data["prechecks"]
        == "rest"
    )
