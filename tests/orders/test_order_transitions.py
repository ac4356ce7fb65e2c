"""The one transition function: legal moves only, terminal states never move, filled
quantity never shrinks, every change leaves an OrderEvent with its source."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import TERMINAL, Order, OrderEvent
from orders.transitions import IllegalTransition, order_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(make_connection, owner) -> Order:
    created = Order.objects.create(
        owner=owner,
        connection=make_connection(),
        client_order_id="ec0000transitiontest",
        request_hash="x",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.01"),
        volume_factor=1,
        quantity=Decimal("0.01"),
        price=Decimal("59000"),
    )
    return created


def move(order: Order, *path: str, **fields) -> Order:
    for status in path:
        order_transition(order_id=order.pk, to_status=status, source="task", **fields)
    order.refresh_from_db()
    return order


@pytest.mark.parametrize(
    "path, illegal",
    [
        ((), "open"),
        ((), "unknown"),
        ((), "partially_filled"),
        ((), "filled"),
        (("submitting", "open"), "pending"),
        (("submitting", "open"), "submitting"),
        (("submitting", "open"), "rejected"),
        (("submitting", "open"), "unknown"),
        (("submitting", "unknown"), "pending"),
    ],
)
def test_an_illegal_move_raises_and_changes_nothing(order, path, illegal):
    move(order, *path)
    events = order.events.count()
    with pytest.raises(IllegalTransition):
        order_transition(order_id=order.pk, to_status=illegal, source="task")
    order.refresh_from_db()
    assert order.status == (path[-1] if path else "pending")
    assert order.events.count() == events


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_a_terminal_order_never_moves(order, terminal):
    path = {"canceled": ("canceled",), "failed": ("failed",)}.get(
        terminal, ("submitting", terminal)
    )
    fields = {"filled_quantity": order.quantity} if terminal == "filled" else {}
    move(order, *path, **fields)
    for status in (
        "pending",
        "submitting",
        "open",
        "partially_filled",
        "unknown",
        *sorted(TERMINAL - {terminal}),
    ):
        with pytest.raises(IllegalTransition):
            order_transition(order_id=order.pk, to_status=status, source="reconcile")
    with pytest.raises(IllegalTransition):  # not even its fills
        order_transition(
            order_id=order.pk,
            to_status=terminal,
            source="reconcile",
            filled_quantity=Decimal("0.005"),
        )
    order.refresh_from_db()
    assert order.status == terminal


def test_filled_quantity_never_shrinks(order):
    move(order, "submitting", "open")
    order_transition(
        order_id=order.pk,
        to_status="partially_filled",
        source="stream",
        filled_quantity=Decimal("0.004"),
    )
    with pytest.raises(IllegalTransition):
        order_transition(
            order_id=order.pk,
            to_status="partially_filled",
            source="stream",
            filled_quantity=Decimal("0.003"),
        )
    with pytest.raises(IllegalTransition):
        order_transition(
            order_id=order.pk, to_status="canceled", source="stream", filled_quantity=Decimal("0")
        )
    order.refresh_from_db()
    assert order.filled_quantity == Decimal("0.004")


def test_every_change_writes_an_event_with_its_source(order):
    order_transition(order_id=order.pk, to_status="submitting", source="task")
    order_transition(order_id=order.pk, to_status="open", source="task", exchange_order_id="123")
    order_transition(
        order_id=order.pk,
        to_status="partially_filled",
        source="stream",
        filled_quantity=Decimal("0.004"),
        average_price=Decimal("59000"),
    )
    order_transition(
        order_id=order.pk,
        to_status="partially_filled",
        source="reconcile",
        filled_quantity=Decimal("0.006"),
    )
    order_transition(
        order_id=order.pk,
        to_status="partially_filled",
        source="reconcile",
        filled_quantity=Decimal("0.006"),
    )  # no change: no event
    order_transition(order_id=order.pk, to_status="canceled", source="api")
    events = list(
        OrderEvent.objects.filter(order=order).values_list("from_status", "to_status", "source")
    )
    assert events == [
        ("pending", "submitting", "task"),
        ("submitting", "open", "task"),
        ("open", "partially_filled", "stream"),
        ("partially_filled", "partially_filled", "reconcile"),
        ("partially_filled", "canceled", "api"),
    ]
    opened = OrderEvent.objects.get(order=order, to_status="open")
    assert opened.data == {"exchange_order_id": "123"}
    last_fill = OrderEvent.objects.filter(order=order, to_status="partially_filled").last()
    assert last_fill.data == {"filled_quantity": "0.006"}


def test_a_claim_that_lost_the_race_returns_none_and_writes_nothing(order):
    assert (
        order_transition(
            order_id=order.pk, to_status="submitting", source="task", expected=("pending",)
        )
        is not None
    )
    assert (
        order_transition(
            order_id=order.pk, to_status="submitting", source="task", expected=("pending",)
        )
        is None
    )
    assert order.events.count() == 1


def test_the_database_refuses_a_fill_above_the_quantity(order):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(filled_quantity=Decimal("0.02"))
