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
from tests.orders.conftest import settle_as_the_task_would

pytestmark = pytest.mark.django_db(transaction=True)


def interrupted_order(connection, *, deadline_ms):
    """A row as a worker leaves it when killed after recording the send, before the send
    reached the exchange."""
    return Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=client_order_id_new(),
        request_hash="x",
        symbol="BTC/USDT" if connection.exchange != "orangex" else "BTC/USDT:USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.01"),
        volume_factor=Decimal("1"),
        quantity=Decimal("0.01"),
        price=Decimal("59000"),
        status="submitting",
        attempts=1,
        last_sent_at=timezone.now() - timedelta(seconds=70),
        submit_deadline_ms=deadline_ms,
    )


def test_an_order_whose_worker_died_mid_send_is_resent_once_after_its_deadline(
    make_connection, paper
):
    connection = make_connection("binance")
    past_deadline = int((timezone.now() - timedelta(seconds=30)).timestamp() * 1000)
    order = interrupted_order(connection, deadline_ms=past_deadline)
    first = order_settle(order_id=order.pk, source="reconcile")
    assert first.status == "unknown" and first.settle_in, "a second lookup must agree"
    assert settle_as_the_task_would(order.pk, first).status == "open"
    order.refresh_from_db()
    assert order.status == "open" and order.attempts == 2
    assert paper_stats(paper, "binance")["ordersByClientId"][order.client_order_id] == 1


def test_two_settlers_at_once_resend_at_most_once(make_connection, paper):
    connection = make_connection("okx")
    past_deadline = int((timezone.now() - timedelta(seconds=30)).timestamp() * 1000)
    order = interrupted_order(connection, deadline_ms=past_deadline)
    Order.objects.filter(pk=order.pk).update(  # one lookup already found nothing
        missed_at=timezone.now() - timedelta(seconds=5)
    )
    outcomes: list[str] = []

    def settle() -> None:
        try:
            outcomes.append(order_settle(order_id=order.pk, source="reconcile").status)
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


def test_an_unknown_order_without_a_deadline_is_flagged_and_never_resent(make_connection, paper):
    connection = make_connection("orangex", "perpetual_futures")
    order = interrupted_order(connection, deadline_ms=None)
    assert order_settle(order_id=order.pk, source="reconcile").status == "unknown"
    order.refresh_from_db()
    assert order.status == "unknown" and order.attempts == 1
    assert order.flagged and "no deadline" in order.flag_reason
    assert order.client_order_id not in paper_stats(paper, "orangex")["ordersByClientId"]


def test_a_send_that_timed_out_is_looked_up_then_resent_once_after_its_deadline(
    make_connection, paper, settings
):
    """The paper exchange drops a request whose client gave up during its latency, so the
    original never landed: two lookups find nothing, the deadline passes, and it is sent
    again with the same client id. One order exists on the exchange either way."""
    import requests

    from orders.submission import order_submit
    from tests.django_fixtures import set_faults

    settings.EXCHANGE_TIMEOUT_SECONDS = 0.5
    connection = make_connection("bybit")
    order = interrupted_order(connection, deadline_ms=None)
    Order.objects.filter(pk=order.pk).update(status="pending", attempts=0)
    set_faults(paper, "bybit", latencyMs=1500)
    first = order_submit(order_id=order.pk)
    assert first.status == "unknown", "a timed-out lookup proves nothing"
    order.refresh_from_db()
    assert order.status == "unknown" and order.attempts == 1
    assert order.submit_deadline_ms is not None, "the send carried a deadline"

    requests.delete(f"{paper}/_paper/faults", timeout=5)
    assert settle_as_the_task_would(order.pk, first).status == "open"
    order.refresh_from_db()
    assert order.status == "open" and order.attempts == 2
    assert paper_stats(paper, "bybit")["ordersByClientId"][order.client_order_id] == 1
    assert order.events.filter(data__reason__startswith="resent").exists()


def test_an_exchange_order_with_our_prefix_and_no_row_is_recorded_and_flagged(
    make_connection, paper
):
    from connections.services import connection_connector
    from exchanges.base import OrderRequest
    from orders.reconcile import orphans_record

    connection = make_connection("okx")
    interrupted_order(connection, deadline_ms=None)  # the connection traded BTC/USDT
    stray_id = client_order_id_new()
    connection_connector(connection=connection).place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            price=Decimal("58000"),
            client_order_id=stray_id,
        )
    )
    assert orphans_record(connection_id=connection.pk) == 1
    orphan = Order.objects.get(client_order_id=stray_id)
    assert orphan.flagged and orphan.status == "open" and orphan.exchange_order_id
    assert orphan.events.get().source == "reconcile"
    assert orphans_record(connection_id=connection.pk) == 0


@pytest.mark.parametrize(
    "order_type, tif, cancel_requested, expected",
    [
        ("limit", "IOC", False, "expired"),
        ("market", "IOC", False, "expired"),
        ("limit", "GTC", True, "canceled"),
        ("limit", "GTC", False, "rejected"),
    ],
)
def test_a_pionex_closed_order_below_its_size_maps_as_section_9_says(
    order_type, tif, cancel_requested, expected
):
    from connections.models import ExchangeConnection
    from exchanges.base import ExchangeOrder
    from orders.submission import closed_status

    order = Order(
        type=order_type,
        time_in_force=tif,
        cancel_requested=cancel_requested,
        quantity=Decimal("1"),
        connection=ExchangeConnection(exchange="pionex"),
    )
    closed = ExchangeOrder(
        symbol="BTC/USDT",
        client_order_id=None,
        exchange_order_id="1",
        status="canceled",
        side="buy",
        type=order_type,
        quantity=Decimal("1"),
        filled_quantity=Decimal("0.4"),
        raw_status="CLOSED",
    )
    assert closed_status(order, closed) == expected
    filled = ExchangeOrder(
        symbol="BTC/USDT",
        client_order_id=None,
        exchange_order_id="1",
        status="filled",
        side="buy",
        type=order_type,
        quantity=Decimal("1"),
        filled_quantity=Decimal("1"),
        raw_status="CLOSED",
    )
    assert closed_status(order, filled) == "filled"


def test_an_exchange_order_two_unsettled_rows_could_claim_is_flagged_not_guessed(
    make_connection, paper
):
    """OrangeX echoes no client id: one resting order on the exchange, two unknown rows that
    look the same. Neither takes it until an operator (or the other row settling) decides."""
    from connections.services import connection_connector
    from exchanges.base import OrderRequest

    connection = make_connection("orangex", "perpetual_futures")
    first = interrupted_order(connection, deadline_ms=None)
    second = interrupted_order(connection, deadline_ms=None)
    Order.objects.filter(pk__in=[first.pk, second.pk]).update(
        status="unknown", last_sent_at=timezone.now()
    )
    connection_connector(connection=connection).place_order(
        OrderRequest(
            symbol=first.symbol,
            side="buy",
            type="limit",
            quantity=first.quantity,
            price=first.price,
            client_order_id=first.client_order_id,
        )
    )

    assert order_settle(order_id=first.pk, source="reconcile").status == "unknown"
    first.refresh_from_db()
    assert first.flagged and "another unsettled order" in first.flag_reason
    assert not first.exchange_order_id

    Order.objects.filter(pk=second.pk).update(status="failed")  # settled by an operator
    # the lookups may wait for OrangeX's small budget: settle as the task would
    assert settle_as_the_task_would(first.pk).status == "open"
