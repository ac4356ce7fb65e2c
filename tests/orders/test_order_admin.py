"""The orders admin as a staff member uses it: cancel and reconcile selected (through the
services, with a message), the filters, and the event and fill history on the order page."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from orders.models import Fill, Order
from orders.submission import order_submit
from tests.orders.test_order_send_rules import pending_order

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/orders/order/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def run_action(client: Any, action: str, orders: list[Order]) -> list[tuple[str, str]]:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(each.pk) for each in orders]},
        follow=True,
    )
    assert response.status_code == 200
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def text(said: list[tuple[str, str]], level: str) -> str:
    return " | ".join(message for tag, message in said if tag == level)


def test_cancel_selected_cancels_and_says_how_many(admin_client, make_connection, paper):
    connection = make_connection("okx")
    waiting = pending_order(connection)
    resting = pending_order(connection)
    assert order_submit(order_id=resting.pk).status == "open"
    said = run_action(admin_client, "cancel_selected", [waiting, resting])
    assert Order.objects.get(pk=waiting.pk).status == "canceled"
    assert Order.objects.get(pk=resting.pk).cancel_requested
    assert text(said, "success").startswith("1 order(s) canceled; 1 asked to cancel")


def test_cancel_of_a_filled_order_is_an_error_message(admin_client, make_connection, paper):
    connection = make_connection("okx")
    filled = pending_order(connection, status="filled", filled_quantity=Decimal("0.01"))
    said = run_action(admin_client, "cancel_selected", [filled])
    assert "not canceled: the order is filled" in text(said, "error")
    assert not text(said, "success")


def test_reconcile_selected_reads_the_order_back_from_the_exchange(
    admin_client, make_connection, paper
):
    connection = make_connection("okx")
    order = pending_order(connection)
    assert order_submit(order_id=order.pk).status == "open"
    # the row lost track: the exchange has it open, we think it is unknown
    Order.objects.filter(pk=order.pk).update(status="unknown")
    said = run_action(admin_client, "reconcile_selected", [order])
    assert Order.objects.get(pk=order.pk).status == "open"
    assert f"{order.client_order_id}: unknown -> open" in text(said, "success")


def test_reconcile_of_a_settled_order_says_there_is_nothing_to_do(
    admin_client, make_connection, paper
):
    connection = make_connection("okx")
    order = pending_order(connection, status="canceled")
    said = run_action(admin_client, "reconcile_selected", [order])
    assert "canceled: settled, nothing to do" in text(said, "success")


def test_reconcile_when_the_exchange_fails_is_an_error_message_not_a_500(
    admin_client, make_connection, paper, settings
):
    connection = make_connection("okx")
    order = pending_order(connection, status="open", exchange_order_id="123")
    from connections.models import ExchangeConnection

    ExchangeConnection.objects.filter(pk=connection.pk).update(
        base_url="http://127.0.0.1:9/okx"
    )  # nothing listens there
    said = run_action(admin_client, "reconcile_selected", [order])
    assert "not reconciled" in text(said, "error")


@pytest.mark.parametrize(
    "query", [{"status__exact": "open"}, {"flagged__exact": "1"}, {"connection__exchange": "okx"}]
)
def test_the_list_filters_by_status_flag_exchange(admin_client, make_connection, paper, query):
    okx = make_connection("okx")
    bybit = make_connection("bybit")
    chosen = pending_order(okx, status="open", flagged=True, flag_reason="x")
    other = pending_order(bybit, status="pending")
    page = admin_client.get(CHANGELIST, query).content.decode()
    assert chosen.client_order_id in page and other.client_order_id not in page


def test_the_list_filters_by_connection(admin_client, make_connection, paper):
    okx, bybit = make_connection("okx"), make_connection("bybit")
    chosen, other = pending_order(okx), pending_order(bybit)
    page = admin_client.get(CHANGELIST, {"connection__id__exact": str(okx.pk)}).content.decode()
    assert chosen.client_order_id in page and other.client_order_id not in page


def test_the_order_page_shows_its_events_and_fills_read_only(admin_client, make_connection, paper):
    connection = make_connection("okx")
    order = pending_order(connection, status="filled", filled_quantity=Decimal("0.01"))
    Fill.objects.create(
        connection=connection,
        order=order,
        trade_id="trade-777",
        symbol=order.symbol,
        side="buy",
        price=Decimal("59000"),
        quantity=Decimal("0.01"),
        traded_at=timezone.now() - timedelta(seconds=5),
        liquidity="maker",
    )
    page = admin_client.get(f"{CHANGELIST}{order.pk}/change/").content.decode()
    assert "trade-777" in page and "maker" in page
    assert "Order events" in page or "order event" in page.lower()
    assert 'name="fills-0-trade_id"' not in page  # read-only, not an input
