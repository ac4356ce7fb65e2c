"""Settling orders whose send was interrupted: a worker that died mid-send, two settlers at
once, and an exchange whose requests carry no deadline."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from orders.models import Order
from orders.services import client_order_id_new
from orders.submission import order_settle
from tests.django_fixtures import paper_stats

pytestmark = pytest.mark.django_db(transaction=True)


def interrupted_order(connection, *, deadline_ms):
    """A row as a worker leaves it when killed after recording the send, before the send
    reached the exchange."""
    return Order.objects.create(
        owner=connection.owner, connection=connection, client_order_id=client_order_id_new(),
        request_hash="x", symbol="BTC/USDT" if connection.exchange != "orangex"
        else "BTC/USDT:USDT", side="buy", type="limit", requested_quantity=Decimal("0.01"),
        volume_factor=Decimal("1"), quantity=Decimal("0.01"), price=Decimal("59000"),
        status="submitting", attempts=1, last_sent_at=timezone.now() - timedelta(seconds=70),
        submit_deadline_ms=deadline_ms)


def test_an_order_whose_worker_died_mid_send_is_resent_once_after_its_deadline(
        make_connection, paper):
    connection = make_connection("binance")
    past_deadline = int((timezone.now() - timedelta(seconds=30)).timestamp() * 1000)
    order = interrupted_order(connection, deadline_ms=past_deadline)
    assert order_settle(order=order, source="reconcile") == "open"
    order.refresh_from_db()
    assert order.status == "open" and order.attempts == 2
    assert paper_stats(paper, "binance")["ordersByClientId"][order.client_order_id] == 1


def test_two_settlers_at_once_resend_at_most_once(make_connection, paper):
    connection = make_connection("okx")
    past_deadline = int((timezone.now() - timedelta(seconds=30)).timestamp() * 1000)
    order = interrupted_order(connection, deadline_ms=past_deadline)
    outcomes: list[str] = []

    def settle() -> None:
        try:
            outcomes.append(order_settle(order=Order.objects.get(pk=order.pk),
                                         source="reconcile"))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=settle) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) in (["busy", "open"], ["open", "open"])
    assert paper_stats(paper, "okx")["ordersByClientId"][order.client_order_id] == 1
    assert Order.objects.get(pk=order.pk).attempts == 2


def test_an_unknown_order_without_a_deadline_is_flagged_and_never_resent(
        make_connection, paper):
    connection = make_connection("orangex", "perpetual_futures")
    order = interrupted_order(connection, deadline_ms=None)
    assert order_settle(order=order, source="reconcile") == "unknown"
    order.refresh_from_db()
    assert order.status == "unknown" and order.attempts == 1
    assert order.flagged and "no deadline" in order.flag_reason
    assert order.client_order_id not in paper_stats(paper, "orangex")["ordersByClientId"]
