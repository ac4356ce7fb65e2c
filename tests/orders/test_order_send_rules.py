"""When an order may (not) go out: cancel requests, the connection's state, waits for
budget, and the deadline recorded at signing. Against the paper exchange (and a real worker
where the task's policy is the point)."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.result import AsyncResult
from django.db.models import F
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection
from exchanges.base import ExchangeOrder
from orders import submission
from orders.models import Order, OrderEvent
from orders.services import client_order_id_new
from tests.django_fixtures import paper_stats, set_faults
from tests.orders.conftest import (
    order_body,
    submit_as_the_task_would,
    wait_for_status,
    wait_until,
)
from tests.paper import clear_faults

pytestmark = pytest.mark.django_db(transaction=True)

PIONEX_TICKERS = "/api/v1/market/bookTickers"  # the read before a market buy


def retried_on_budget(call, attempts: int = 20):
    """Run ``call`` again after a wait for budget, as the task's retry would."""
    from exchanges.errors import RateLimited

    for _ in range(attempts - 1):
        try:
            return call()
        except RateLimited as exc:
            time.sleep(min(max(exc.retry_after, 0.5), 3))
    return call()


def pending_order(connection, **fields) -> Order:
    values = {
        "owner": connection.owner,
        "connection": connection,
        "client_order_id": client_order_id_new(),
        "request_hash": "x",
        "symbol": "BTC/USDT:USDT" if connection.api_type == "perpetual_futures" else "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "requested_quantity": Decimal("0.01"),
        "volume_factor": Decimal("1"),
        "quantity": Decimal("0.01"),
        "price": Decimal("59000"),
        **fields,
    }
    order = Order.objects.create(**values)
    OrderEvent.objects.create(order=order, to_status=order.status, source="api")
    return order


def unknown_past_its_deadline(connection, **fields) -> Order:
    """An order whose send was lost, its deadline long gone, one lookup already empty: the
    next settle would resend it."""
    past = int((timezone.now() - timedelta(seconds=30)).timestamp() * 1000)
    return pending_order(
        connection,
        status="unknown",
        attempts=1,
        submit_deadline_ms=past,
        last_sent_at=timezone.now() - timedelta(seconds=40),
        missed_at=timezone.now() - timedelta(seconds=20),
        **fields,
    )


def never_reached_the_exchange(paper, exchange, order) -> bool:
    return order.client_order_id not in paper_stats(paper, exchange)["ordersByClientId"]


@pytest.mark.parametrize("exchange", ["binance", "okx"])
def test_an_unknown_order_whose_cancel_was_requested_is_never_resent(
    make_connection, paper, exchange
):
    connection = make_connection(exchange)
    order = unknown_past_its_deadline(connection, cancel_requested=True)
    outcome = submission.order_settle(order_id=order.pk, source="reconcile")
    order.refresh_from_db()
    assert outcome.status == "canceled" and order.status == "canceled"
    assert order.attempts == 1
    assert order.events.filter(data__reason="canceled before it was sent").exists()
    assert never_reached_the_exchange(paper, exchange, order)


def test_a_pending_order_of_a_disabled_connection_is_canceled_not_sent(make_connection, paper):
    connection = make_connection("bybit")
    order = pending_order(connection)
    ExchangeConnection.objects.filter(pk=connection.pk).update(enabled=False)
    assert submission.order_submit(order_id=order.pk).status == "canceled"
    order.refresh_from_db()
    assert order.status == "canceled" and order.attempts == 0
    assert order.events.filter(data__reason="the connection is disabled").exists()
    assert never_reached_the_exchange(paper, "bybit", order)


def test_a_pending_order_behind_an_open_circuit_is_canceled_not_sent(make_connection, paper):
    connection = make_connection("okx")
    order = pending_order(connection)
    ConnectionState.objects.filter(connection=connection).update(
        circuit="open", opened_at=timezone.now()
    )
    assert submission.order_submit(order_id=order.pk).status == "canceled"
    assert (
        Order.objects.get(pk=order.pk)
        .events.filter(data__reason="the connection's circuit is open")
        .exists()
    )
    assert never_reached_the_exchange(paper, "okx", order)


def test_an_unknown_order_is_not_resent_once_its_connection_is_disabled(make_connection, paper):
    connection = make_connection("binance")
    order = unknown_past_its_deadline(connection)
    ExchangeConnection.objects.filter(pk=connection.pk).update(enabled=False)
    assert submission.order_settle(order_id=order.pk, source="reconcile").status == "canceled"
    assert never_reached_the_exchange(paper, "binance", order)


def test_cancel_all_stops_orders_that_were_waiting_to_be_sent(owner_client, make_connection, paper):
    connection = make_connection("okx")
    waiting = [pending_order(connection) for _ in range(2)]
    unknown = unknown_past_its_deadline(connection)
    response = owner_client.post(
        "/api/orders/cancel-all", {"connectionId": str(connection.pk)}, format="json"
    )
    assert response.status_code in (200, 202), response.json()
    for order in waiting:
        assert submission.order_submit(order_id=order.pk).status == "not pending"
        assert Order.objects.get(pk=order.pk).status == "canceled"
    assert submission.order_settle(order_id=unknown.pk, source="reconcile").status == "canceled"
    assert all(never_reached_the_exchange(paper, "okx", o) for o in [*waiting, unknown])


def test_two_submits_of_one_order_never_send_twice(make_connection, paper):
    """The submit path holds the order's lock for its whole run: a second copy arriving
    while the first still runs does not even claim it."""
    import threading

    from django.db import connection as db_connection

    connection = make_connection("okx")
    order = pending_order(connection)
    outcomes: list[str] = []

    def submit() -> None:
        try:
            outcomes.append(submission.order_submit(order_id=order.pk).status)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes.count("open") == 1
    assert set(outcomes) <= {"open", "busy", "not pending"}
    assert paper_stats(paper, "okx")["ordersByClientId"][order.client_order_id] == 1


def test_the_deadline_stored_is_the_one_the_request_was_signed_with(make_connection, paper):
    """A Pionex spot market buy reads the ticker before it signs (Pionex takes market buys
    in quote): the deadline is stored when the request is signed, so it is exactly the
    request's own (its timestamp, stamped 12 s early, + 20 s), not a bound taken before the
    read. The read is made to last READ_MS: a bound taken before it would be signed at least
    that long before the send is recorded (right after signing), however slow the machine."""
    read_ms = 500
    connection = make_connection("pionex")
    order = pending_order(connection, type="market", price=None)
    set_faults(paper, "pionex", endpoint=f"GET {PIONEX_TICKERS}", latencyMs=read_ms)
    try:
        assert submission.order_submit(order_id=order.pk).status in ("filled", "open")
    finally:
        clear_faults(paper)
    order.refresh_from_db()
    signed_ms = order.submit_deadline_ms - 20_000 + 12_000
    recorded_ms = int(order.last_sent_at.timestamp() * 1000)
    assert recorded_ms - read_ms < signed_ms <= recorded_ms


@pytest.mark.parametrize("exchange", ["pionex", "bybit"])
def test_a_claimed_order_whose_worker_died_before_sending_is_sent_at_once_not_flagged(
    make_connection, paper, exchange
):
    """Claimed (submitting), then the worker died before the send was counted: no deadline,
    no attempt. Nothing can be on the exchange, so a settle sends it instead of leaving it
    unknown for an operator."""
    connection = make_connection(exchange)
    order = pending_order(
        connection, status="submitting", last_sent_at=None, submit_deadline_ms=None
    )
    outcome = submission.order_settle(order_id=order.pk, source="reconcile")
    order.refresh_from_db()
    assert outcome.status == "open" and order.status == "open"
    assert not order.flagged and order.attempts == 1
    assert paper_stats(paper, exchange)["ordersByClientId"][order.client_order_id] == 1
    assert order.events.filter(data__reason="never sent: sending it now").exists()


def test_a_market_buy_whose_ticker_read_fails_is_not_sent_and_not_rejected(make_connection, paper):
    connection = make_connection("pionex")
    order = pending_order(connection, type="market", price=None)
    set_faults(paper, "pionex", endpoint=f"GET {PIONEX_TICKERS}", error5xxRate=1.0)
    try:
        outcome = submission.order_submit(order_id=order.pk)
    finally:
        clear_faults(paper)
    order.refresh_from_db()
    assert outcome.status == "pending" and outcome.retry_in, "tried again shortly"
    assert order.status == "pending" and order.attempts == 0
    assert never_reached_the_exchange(paper, "pionex", order)
    assert submit_as_the_task_would(order.pk).status in ("open", "filled")  # an ack: "open"
    assert paper_stats(paper, "pionex")["ordersByClientId"][order.client_order_id] == 1


def test_a_wait_for_budget_is_one_retrying_task_and_one_event(
    make_connection, paper, celery_worker
):
    """The exchange answers 429 for a while: the submit task retries with countdowns (its
    state is RETRY, never a success while the order waits) and the order says it waits
    once, however many times it is refused."""
    from orders.tasks import submit_task

    connection = make_connection("okx")
    order = pending_order(connection)
    sent_before = sum(paper_stats(paper, "okx")["requests"].values())
    set_faults(paper, "okx", rateLimit429Rate=1.0, retryAfterSeconds=1)
    try:
        result = submit_task.apply_async(args=[str(order.pk)], priority=0)
        wait_until(lambda: AsyncResult(result.id).state == "RETRY")
        # refused by the exchange at least twice (every request meets the 429), and waiting
        wait_until(
            lambda: (
                sum(paper_stats(paper, "okx")["requests"].values()) >= sent_before + 2
                and Order.objects.get(pk=order.pk).status == "pending"
            )
        )
    finally:
        clear_faults(paper)
    order = wait_for_status(order.pk, ("open",))
    wait_until(lambda: AsyncResult(result.id).state == "SUCCESS")
    assert AsyncResult(result.id).result == "open"
    waits = order.events.filter(data__reason=submission.WAITING_FOR_BUDGET).count()
    assert waits == 1
    assert list(order.events.values_list("to_status", flat=True)) == [
        "pending",
        "submitting",
        "pending",
        "open",
    ]
    assert order.attempts == 1
    assert paper_stats(paper, "okx")["ordersByClientId"][order.client_order_id] == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("environment", "live"),
        ("apiType", "perpetual_futures"),
        ("baseUrl", "https://api.bybit.com"),
        ("apiKey", "another-key-0001"),
    ],
)
def test_a_connection_with_an_order_in_flight_keeps_what_the_order_was_sent_with(
    owner_client, make_connection, paper, field, value
):
    connection = make_connection("bybit")
    pending_order(connection, status="open", exchange_order_id="1")
    response = owner_client.patch(
        f"/api/settings/connections/{connection.pk}", {field: value}, format="json"
    )
    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "connection_has_open_orders"
    connection.refresh_from_db()
    assert (connection.environment, connection.api_type, connection.base_url) == (
        "paper",
        "spot",
        "",
    )


def test_a_connection_whose_orders_are_settled_may_change_and_a_rename_always_may(
    owner_client, make_connection, paper
):
    connection = make_connection("bybit")
    order = pending_order(connection, status="open", exchange_order_id="1")
    renamed = owner_client.patch(
        f"/api/settings/connections/{connection.pk}", {"name": "renamed"}, format="json"
    )
    assert renamed.status_code == 200, renamed.json()
    Order.objects.filter(pk=order.pk).update(status="canceled")
    moved = owner_client.patch(
        f"/api/settings/connections/{connection.pk}",
        {"apiType": "perpetual_futures"},
        format="json",
    )
    assert moved.status_code == 200, moved.json()


def test_open_orders_are_refreshed_in_turn_not_oldest_first(
    make_connection, paper, settings, celery_worker
):
    from orders import reconcile

    connection = make_connection("okx")
    orders = [pending_order(connection, status="open", exchange_order_id=str(n)) for n in range(3)]
    settings.ORDER_OPEN_REFRESH_LIMIT = 1
    refreshed = []
    for _ in range(3):
        reconcile.orders_reconcile()
        newest = (
            Order.objects.filter(pk__in=[o.pk for o in orders])
            .order_by(F("refreshed_at").desc(nulls_last=True))
            .first()
        )
        refreshed.append(newest.pk)
    assert sorted(refreshed) == sorted(o.pk for o in orders), "each one had its turn"


def test_a_pionex_order_that_rested_and_closed_unfilled_is_canceled_never_rejected():
    order = Order(
        type="limit",
        time_in_force="GTC",
        cancel_requested=False,
        quantity=Decimal("1"),
        status="open",
        connection=ExchangeConnection(exchange="pionex"),
    )
    closed = ExchangeOrder(
        symbol="BTC/USDT",
        client_order_id=None,
        exchange_order_id="1",
        status="canceled",
        side="buy",
        type="limit",
        quantity=Decimal("1"),
        filled_quantity=Decimal("0"),
        raw_status="CLOSED",
    )
    assert submission.closed_status(order, closed) == "canceled"


def test_other_exchanges_keep_the_status_their_connector_read():
    """Only Pionex's connector refines a terminal status; orders/ has no exchange branch."""
    order = Order(
        type="limit",
        time_in_force="GTC",
        cancel_requested=False,
        quantity=Decimal("1"),
        status="pending",
        connection=ExchangeConnection(exchange="bybit"),
    )
    closed = ExchangeOrder(
        symbol="BTC/USDT",
        client_order_id=None,
        exchange_order_id="1",
        status="canceled",
        side="buy",
        type="limit",
        quantity=Decimal("1"),
        filled_quantity=Decimal("0"),
        raw_status="CLOSED",
    )
    assert submission.closed_status(order, closed) == "canceled"


def test_a_cancel_that_never_gets_through_flags_the_order_for_reconciliation(
    make_connection, paper
):
    from orders.tasks import MAX_CANCEL_RETRIES, cancel_task

    connection = make_connection("okx")
    order = pending_order(
        connection, status="open", exchange_order_id="12345", cancel_requested=True
    )
    set_faults(paper, "okx", error5xxRate=1.0)
    try:
        result = cancel_task.apply(args=[str(order.pk)], retries=MAX_CANCEL_RETRIES)
    finally:
        clear_faults(paper)
    assert result.result == "gave up; flagged"
    order.refresh_from_db()
    assert order.status == "open" and order.flagged
    assert "cancel not confirmed" in order.flag_reason


def test_reconciliation_redrives_requested_cancels(
    owner_client, make_connection, paper, celery_worker
):
    from orders import reconcile

    connection = make_connection("okx")
    response = owner_client.post("/api/orders", order_body(connection), format="json")
    order = wait_for_status(response.json()["order"]["id"], ("open",))
    # a cancel was asked for but its task is gone (a worker died with it)
    Order.objects.filter(pk=order.pk).update(cancel_requested=True)
    assert reconcile.orders_reconcile().cancels_redriven == 1
    assert wait_for_status(order.pk, ("canceled",)).status == "canceled"


def test_a_connection_wide_cancel_all_reaches_exchanges_that_cancel_per_symbol(
    make_connection, paper
):
    """Pionex spot cancels all orders of one symbol at a time: the kill switch without a
    symbol covers every symbol the connection traded lately."""
    from connections.services import connection_connector
    from exchanges.base import OrderRequest
    from orders.services import order_cancel_all_on_exchange

    connection = make_connection("pionex")
    pending_order(connection, status="canceled")  # the connection traded BTC/USDT
    connector = connection_connector(connection=connection)
    resting = connector.place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.01"),
            price=Decimal("58000"),
            client_order_id=client_order_id_new(),
        )
    )
    assert (
        retried_on_budget(
            lambda: order_cancel_all_on_exchange(connection_id=connection.pk, symbol=None)
        )
        >= 1
    )
    found = retried_on_budget(
        lambda: connector.get_order("BTC/USDT", exchange_order_id=resting.exchange_order_id)
    )
    assert found.status == "canceled"


def test_a_resend_that_meets_a_wait_for_budget_goes_back_to_submit_not_to_reconciliation(
    make_connection, paper, celery_worker
):
    from orders.tasks import settle_task

    connection = make_connection("okx")
    order = unknown_past_its_deadline(connection)
    set_faults(paper, "okx", endpoint="writes", rateLimit429Rate=1.0, retryAfterSeconds=1)
    try:
        settle_task.apply_async(args=[str(order.pk)], kwargs={"run": 1})
        wait_until(lambda: Order.objects.get(pk=order.pk).status == "pending")
    finally:
        clear_faults(paper)
    # no reconciliation runs here: only the submit the settle handed it to can open it
    assert wait_for_status(order.pk, ("open",), timeout=15).attempts == 2
    assert paper_stats(paper, "okx")["ordersByClientId"][order.client_order_id] == 1
