"""``manage.py orders``: list, reconcile, cancel-all, against the paper exchange: a table or
JSON on stdout, exit status 1 (CommandError) when anything failed."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connections.models import ExchangeConnection
from orders.models import Order
from orders.submission import order_submit
from tests.orders.test_order_send_rules import pending_order

pytestmark = pytest.mark.django_db

ORDER_KEYS = {
    "id",
    "created_at",
    "connection_id",
    "connection",
    "exchange",
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "status",
    "filled_quantity",
    "flagged",
    "client_order_id",
}


def run(*args: str) -> str:
    out = StringIO()
    call_command("orders", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_failing(*args: str) -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("orders", *args, stdout=out, stderr=StringIO())
    assert raised.value.returncode == 1
    return out.getvalue(), str(raised.value)


def test_list_prints_a_table_newest_first_with_plain_quantities(make_connection, paper):
    connection = make_connection("okx")
    order = pending_order(connection)
    table = run("list")
    assert str(order.pk) in table and "59000" in table and "0.01" in table
    assert "0.010000000000000000" not in table


def test_list_json_filters_by_connection_status_and_flag(make_connection, paper):
    okx, bybit = make_connection("okx"), make_connection("bybit")
    flagged = pending_order(okx, status="open", flagged=True, flag_reason="x")
    pending_order(okx, status="canceled")
    pending_order(bybit)
    body = json.loads(run("list", "--json", "--connection", str(okx.pk)))
    assert body["count"] == 2 and all(row["connection_id"] == str(okx.pk) for row in body["orders"])
    assert set(body["orders"][0]) == ORDER_KEYS
    assert [row["id"] for row in json.loads(run("list", "--json", "--flagged"))["orders"]] == [
        str(flagged.pk)
    ]
    statuses = json.loads(run("list", "--json", "--status", "pending"))["orders"]
    assert [row["status"] for row in statuses] == ["pending"]
    assert json.loads(run("list", "--json", "--limit", "1"))["count"] == 1


def test_list_of_an_unknown_connection_exits_non_zero(paper):
    _, message = run_failing("list", "--connection", "nope")
    assert message == "unknown connection id(s): nope"


def test_reconcile_by_id_reads_the_order_back(make_connection, paper):
    connection = make_connection("okx")
    order = pending_order(connection)
    assert order_submit(order_id=order.pk).status == "open"
    Order.objects.filter(pk=order.pk).update(status="unknown")
    body = json.loads(run("reconcile", str(order.pk), "--json"))
    assert body["failed"] == 0 and body["total"] == 1
    row = body["orders"][0]
    assert (row["before"], row["status"], row["result"]) == ("unknown", "open", "unknown -> open")


def test_reconcile_without_ids_covers_every_unsettled_order_of_the_connection(
    make_connection, paper
):
    connection = make_connection("okx")
    resting = pending_order(connection)
    order_submit(order_id=resting.pk)
    pending_order(connection, status="filled", filled_quantity=Decimal("0.01"))
    other = make_connection("bybit")
    pending_order(other, status="open", exchange_order_id="1")
    body = json.loads(run("reconcile", "--connection", str(connection.pk), "--json"))
    assert [row["id"] for row in body["orders"]] == [str(resting.pk)]
    assert body["orders"][0]["result"] == "open: unchanged"


def test_reconcile_that_cannot_reach_the_exchange_exits_non_zero(make_connection, paper):
    connection = make_connection("okx")
    order = pending_order(connection, status="open", exchange_order_id="123")
    ExchangeConnection.objects.filter(pk=connection.pk).update(base_url="http://127.0.0.1:9/okx")
    out, message = run_failing("reconcile", str(order.pk))
    assert message == "1 of 1 order(s) not reconciled"
    assert str(order.pk) in out


def test_reconcile_of_an_unknown_order_exits_non_zero(paper):
    _, message = run_failing("reconcile", "00000000-0000-4000-8000-000000000000")
    assert "unknown order id(s)" in message


def test_cancel_all_cancels_the_open_orders_of_each_connection(make_connection, paper):
    first, second = make_connection("okx"), make_connection("bybit")
    waiting = [pending_order(first), pending_order(second), pending_order(second)]
    settled = pending_order(first, status="filled", filled_quantity=Decimal("0.01"))
    body = json.loads(run("cancel-all", str(first.pk), str(second.pk), "--json"))
    assert body["failed"] == 0
    assert [row["canceled"] for row in body["connections"]] == [1, 2]
    assert all(Order.objects.get(pk=each.pk).status == "canceled" for each in waiting)
    assert Order.objects.get(pk=settled.pk).status == "filled"


def test_cancel_all_of_one_symbol_leaves_the_others(make_connection, paper):
    connection = make_connection("okx")
    btc = pending_order(connection)
    eth = pending_order(connection, symbol="ETH/USDT")
    table = run("cancel-all", str(connection.pk), "--symbol", "ETH/USDT")
    assert "okx-spot" in table
    assert Order.objects.get(pk=eth.pk).status == "canceled"
    assert Order.objects.get(pk=btc.pk).status == "pending"


def test_cancel_all_of_an_unknown_connection_cancels_nothing_and_exits_non_zero(
    make_connection, paper
):
    connection = make_connection("okx")
    order = pending_order(connection)
    _, message = run_failing("cancel-all", str(connection.pk), "nope")
    assert message == "unknown connection id(s): nope"
    assert Order.objects.get(pk=order.pk).status == "pending"
