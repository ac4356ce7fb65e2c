"""A REST read-back that is behind what the private stream already applied leaves the row
as it is (orders.submission.order_refresh), instead of failing on a backward move."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order
from orders.submission import order_refresh
from orders.transitions import order_transition
from tests.workers.conftest import place_open_order

pytestmark = pytest.mark.django_db


def test_a_refresh_that_reads_less_than_the_stream_told_leaves_the_row_as_it_is(bybit_connection):
    order = place_open_order(bybit_connection, "ec00000000000000000000000behind")
    # the stream told of a partial fill the exchange's REST read does not show yet
    order_transition(
        order_id=order.pk,
        to_status="partially_filled",
        source="stream",
        filled_quantity=Decimal("0.004"),
    )
    outcome = order_refresh(order_id=order.pk, source="reconcile")
    order.refresh_from_db()
    assert outcome.status == order.status == "partially_filled"
    assert order.filled_quantity == Decimal("0.004")
    assert (
        list(Order.objects.get(pk=order.pk).events.values_list("source", flat=True))[-1] == "stream"
    )
