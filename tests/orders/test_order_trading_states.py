"""The order path obeys the connection's trading state: a halted connection takes no new
order and sends none that was waiting; a reduce-only one takes only orders that reduce a
position; cancels always go through. Against the paper exchange, with a real worker where
the send is the point."""

from __future__ import annotations

from typing import Any

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.trading import connection_trading_state_set
from orders import submission
from orders.models import Order
from orders.tasks import submit_task
from tests.django_fixtures import paper_stats
from tests.orders.conftest import order_body, wait_for_status
from tests.orders.test_order_send_rules import never_reached_the_exchange, pending_order

pytestmark = pytest.mark.django_db(transaction=True)


def refused(client: Any, body: dict[str, Any], code: str) -> None:
    response = client.post("/api/orders", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == code
    assert not Order.objects.filter(
        symbol=body["symbol"], side=body["side"], status="pending"
    ).exists()


def accepted(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/orders", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["order"]


def test_a_halted_connection_refuses_every_new_order_and_sends_nothing(
    owner_client, make_connection, paper
):
    connection = make_connection("okx", trading_state="halted")
    before = paper_stats(paper, "okx")["ordersAccepted"]
    refused(owner_client, order_body(connection), "trading_halted")
    refused(owner_client, order_body(connection, side="sell", price="61000"), "trading_halted")
    assert Order.objects.count() == 0
    assert paper_stats(paper, "okx")["ordersAccepted"] == before


def test_the_halt_set_through_the_api_refuses_the_next_order(owner_client, make_connection, paper):
    connection = make_connection("okx")
    response = owner_client.post(
        f"/api/settings/connections/{connection.pk}/trading-state",
        {"state": "halted"},
        format="json",
    )
    assert response.status_code == 200
    refused(owner_client, order_body(connection), "trading_halted")
    owner_client.post(
        f"/api/settings/connections/{connection.pk}/trading-state",
        {"state": "active"},
        format="json",
    )
    accepted(owner_client, order_body(connection))


def test_a_reduce_only_spot_connection_takes_a_sell_and_refuses_a_buy(
    owner_client, make_connection, paper
):
    connection = make_connection("bybit", trading_state="reduce_only")
    refused(owner_client, order_body(connection), "reduce_only")
    order = accepted(owner_client, order_body(connection, side="sell", price="61000"))
    assert order["side"] == "sell"


def test_a_reduce_only_perpetual_connection_takes_only_reduce_only_orders(
    owner_client, make_connection, paper
):
    connection = make_connection("orangex", "perpetual_futures", trading_state="reduce_only")
    refused(owner_client, order_body(connection), "reduce_only")
    refused(owner_client, order_body(connection, side="sell", price="61000"), "reduce_only")
    # a reduce-only order passes the trading state; with no position to reduce, the
    # pre-checks then refuse it for what it is (a reduce-only order needs a position)
    refused(
        owner_client,
        order_body(connection, side="sell", price="61000", reduceOnly=True),
        "no_position_to_reduce",
    )


def test_a_replay_of_an_order_placed_before_the_halt_answers_the_first_order(
    owner_client, make_connection, paper
):
    connection = make_connection("okx")
    first = owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY="before-halt"
    )
    assert first.status_code == 202
    connection_trading_state_set(connection=connection, state="halted", actor="cli")
    again = owner_client.post(
        "/api/orders", order_body(connection), format="json", HTTP_IDEMPOTENCY_KEY="before-halt"
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["order"]["id"] == first.json()["order"]["id"]


def test_a_pending_order_of_a_halted_connection_is_canceled_not_sent(make_connection, paper):
    connection = make_connection("bybit")
    order = pending_order(connection)
    ExchangeConnection.objects.filter(pk=connection.pk).update(trading_state="halted")
    assert submission.order_submit(order_id=order.pk).status == "canceled"
    order.refresh_from_db()
    assert order.status == "canceled" and order.attempts == 0
    assert order.events.filter(data__reason="the connection is halted").exists()
    assert never_reached_the_exchange(paper, "bybit", order)


def test_a_pending_buy_of_a_reduce_only_connection_is_canceled_and_a_sell_is_sent(
    make_connection, paper
):
    connection = make_connection("bybit")
    buy = pending_order(connection)
    sell = pending_order(connection, side="sell", price="61000")
    ExchangeConnection.objects.filter(pk=connection.pk).update(trading_state="reduce_only")
    assert submission.order_submit(order_id=buy.pk).status == "canceled"
    assert (
        Order.objects.get(pk=buy.pk)
        .events.filter(
            data__reason="the connection is reduce-only and the order does not reduce a position"
        )
        .exists()
    )
    assert submission.order_submit(order_id=sell.pk).status == "open"
    assert never_reached_the_exchange(paper, "bybit", buy)


def test_the_worker_does_not_send_an_order_left_pending_when_the_trading_halted(
    make_connection, paper, celery_worker
):
    connection = make_connection("okx")
    waiting = [pending_order(connection) for _ in range(2)]
    connection_trading_state_set(connection=connection, state="halted", actor="cli")
    for order in waiting:
        submit_task.apply_async(args=[str(order.pk)], priority=0)
    for order in waiting:
        done = wait_for_status(order.pk, ("canceled",))
        assert done.attempts == 0
        assert done.events.filter(data__reason="the connection is halted").exists()
        assert never_reached_the_exchange(paper, "okx", done)


def test_a_halt_that_cancels_open_orders_cancels_them_on_the_exchange(
    owner_client, make_connection, paper, celery_worker
):
    connection = make_connection("okx")
    resting = wait_for_status(accepted(owner_client, order_body(connection))["id"], ("open",))
    response = owner_client.post(
        f"/api/settings/connections/{connection.pk}/trading-state",
        {"state": "halted", "cancelOpenOrders": True},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["connection"]["tradingState"] == "halted"
    canceled = wait_for_status(resting.pk, ("canceled",))
    assert canceled.cancel_requested
    assert ConnectionSyncLog.objects.get(action="open_orders_canceled").data["count"] == 1
    refused(owner_client, order_body(connection), "trading_halted")


def test_cancels_are_always_allowed_on_a_halted_connection(
    owner_client, make_connection, paper, celery_worker
):
    connection = make_connection("okx")
    resting = wait_for_status(accepted(owner_client, order_body(connection))["id"], ("open",))
    connection_trading_state_set(connection=connection, state="halted", actor="cli")
    response = owner_client.post(f"/api/orders/{resting.pk}/cancel")
    assert response.status_code in (200, 202), response.json()
    assert wait_for_status(resting.pk, ("canceled",)).status == "canceled"
