"""Stream updates applied to orders, fills and the ledger: idempotent and order-safe
(orders/live.py, connections/ledger.py), on real PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connections.ledger import BalanceFigure, PositionFigure, ledger_snapshot_apply
from connections.models import LedgerBalance, LedgerPosition
from exchanges.streams.base import BalanceUpdate, FillUpdate, OrderUpdate, PositionUpdate
from orders.live import updates_apply
from orders.models import Fill, Order
from orders.transitions import order_transition
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
def connection(owner):
    return make_connection(owner, api_type="perpetual_futures")


@pytest.fixture
def order(connection, owner) -> Order:
    created = Order.objects.create(
        owner=owner,
        connection=connection,
        client_order_id="ec00000000000000000000000live01",
        request_hash="x",
        symbol=SYMBOL,
        side="buy",
        type="limit",
        requested_quantity=Decimal("1"),
        volume_factor=1,
        quantity=Decimal("1"),
        price=Decimal("50000"),
    )
    order_transition(order_id=created.pk, to_status="submitting", source="task")
    return created


def order_update(
    order: Order, status: str, filled: str, average: str | None = None, raw: str = ""
) -> OrderUpdate:
    return OrderUpdate(
        exchange="bybit",
        symbol=SYMBOL,
        exchange_order_id="x-1",
        client_order_id=order.client_order_id,
        status=status,
        raw_status=raw or status,
        side="buy",
        quantity=Decimal("1"),
        filled_quantity=Decimal(filled),
        average_price=Decimal(average) if average else None,
    )


def fill(
    order: Order | None, trade_id: str, quantity: str, price: str, exchange_order_id: str = "x-1"
) -> FillUpdate:
    return FillUpdate(
        exchange="bybit",
        trade_id=trade_id,
        exchange_order_id=exchange_order_id,
        client_order_id=order.client_order_id if order else None,
        symbol=SYMBOL,
        side="buy",
        price=Decimal(price),
        quantity=Decimal(quantity),
        fee=Decimal("0.01"),
        fee_asset="USDT",
        liquidity="maker",
        time_ms=1_700_000_000_000,
    )


def state(order: Order) -> tuple[str, Decimal, Decimal | None]:
    order.refresh_from_db()
    return order.status, order.filled_quantity, order.average_price


def test_an_order_update_moves_the_order_through_the_one_transition_function(connection, order):
    updates_apply(connection_id=connection.pk, updates=[order_update(order, "open", "0")])
    assert state(order) == ("open", Decimal("0"), None)
    event = order.events.latest("id")
    assert (event.from_status, event.to_status, event.source) == ("submitting", "open", "stream")
    assert order.exchange_order_id == "x-1"


def test_a_repeated_order_update_changes_nothing_and_records_no_event(connection, order):
    update = order_update(order, "partially_filled", "0.4", "50000")
    updates_apply(connection_id=connection.pk, updates=[update])
    events = order.events.count()
    applied = updates_apply(connection_id=connection.pk, updates=[update, update])
    assert applied.orders == 0
    assert state(order) == ("partially_filled", Decimal("0.4"), Decimal("50000"))
    assert order.events.count() == events


def test_a_late_open_after_filled_is_ignored(connection, order):
    updates_apply(
        connection_id=connection.pk,
        updates=[order_update(order, "filled", "1", "50000"), order_update(order, "open", "0")],
    )
    assert state(order) == ("filled", Decimal("1"), Decimal("50000"))


def test_filled_quantity_never_shrinks_when_an_older_partial_arrives_late(connection, order):
    updates_apply(
        connection_id=connection.pk,
        updates=[
            order_update(order, "partially_filled", "0.7", "50000"),
            order_update(order, "partially_filled", "0.3", "50000"),
            order_update(order, "open", "0"),
        ],
    )
    assert state(order)[:2] == ("partially_filled", Decimal("0.7"))


def test_every_order_of_the_same_updates_ends_in_the_same_state(connection, order, owner):
    updates = [
        order_update(order, "open", "0"),
        order_update(order, "partially_filled", "0.5", "50000"),
        order_update(order, "filled", "1", "50100"),
        fill(order, "t-1", "0.5", "50000"),
        fill(order, "t-2", "0.5", "50200"),
    ]
    finals = set()
    for permutation in itertools.permutations(updates):
        Fill.objects.all().delete()
        Order.objects.filter(pk=order.pk).update(
            status="submitting", filled_quantity=0, average_price=None, exchange_order_id=""
        )
        updates_apply(connection_id=connection.pk, updates=permutation)
        finals.add(state(order))
    assert finals == {("filled", Decimal("1"), Decimal("50100"))}


def test_a_repeated_fill_is_stored_once(connection, order):
    updates_apply(connection_id=connection.pk, updates=[order_update(order, "open", "0")])
    applied = updates_apply(
        connection_id=connection.pk, updates=[fill(order, "t-1", "0.25", "50000")] * 3
    )
    assert applied.fills == 1
    assert Fill.objects.filter(connection=connection).count() == 1
    assert state(order)[:2] == ("partially_filled", Decimal("0.25"))


def test_fills_give_the_orders_filled_quantity_and_average_price(connection, order):
    updates_apply(
        connection_id=connection.pk,
        updates=[
            order_update(order, "open", "0"),
            fill(order, "t-1", "0.25", "50000"),
            fill(order, "t-2", "0.75", "50400"),
        ],
    )
    assert state(order) == ("filled", Decimal("1"), Decimal("50300"))
    row = Fill.objects.get(trade_id="t-2")
    assert (row.order_id, row.fee, row.fee_asset, row.liquidity) == (
        order.pk,
        Decimal("0.01"),
        "USDT",
        "maker",
    )
    assert row.traded_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)


def test_fills_never_lower_what_the_exchanges_order_update_said(connection, order):
    updates_apply(
        connection_id=connection.pk,
        updates=[
            order_update(order, "partially_filled", "0.6", "50000"),
            fill(order, "t-1", "0.2", "49000"),
        ],
    )
    assert state(order) == ("partially_filled", Decimal("0.6"), Decimal("50000"))


def test_a_fill_whose_order_is_unknown_is_kept_and_attached_when_the_order_is(connection, order):
    stranger = fill(None, "t-9", "0.5", "50000", exchange_order_id="x-1")
    updates_apply(connection_id=connection.pk, updates=[stranger])
    assert Fill.objects.get(trade_id="t-9").order is None
    updates_apply(connection_id=connection.pk, updates=[order_update(order, "open", "0")])
    assert Fill.objects.get(trade_id="t-9").order_id == order.pk
    assert state(order)[:2] == ("partially_filled", Decimal("0.5"))


def test_a_fill_of_an_order_we_have_no_row_of_is_kept_without_an_order(connection):
    updates_apply(
        connection_id=connection.pk,
        updates=[fill(None, "t-elsewhere", "1", "3000", exchange_order_id="far")],
    )
    assert Fill.objects.get(trade_id="t-elsewhere").order is None


def test_a_terminal_order_is_not_moved_by_anything_the_stream_says(connection, order):
    order_transition(order_id=order.pk, to_status="canceled", source="task")
    updates_apply(
        connection_id=connection.pk,
        updates=[
            order_update(order, "partially_filled", "0.5"),
            fill(order, "t-1", "0.5", "50000"),
        ],
    )
    assert state(order) == ("canceled", Decimal("0"), None)
    assert Fill.objects.filter(trade_id="t-1").exists()  # the trade itself is kept


def balance(total: str, ms: int) -> BalanceUpdate:
    return BalanceUpdate(
        exchange="bybit",
        asset="USDT",
        free=None,
        locked=Decimal("10"),
        total=Decimal(total),
        time_ms=ms,
    )


def test_an_older_balance_never_overwrites_a_newer_one(connection):
    updates_apply(
        connection_id=connection.pk, updates=[balance("900", 2000), balance("1000", 1000)]
    )
    row = LedgerBalance.objects.get(connection=connection, asset="USDT")
    assert (row.total, row.free, row.locked, row.source) == (
        Decimal("900"),
        Decimal("890"),
        Decimal("10"),
        "stream",
    )
    updates_apply(connection_id=connection.pk, updates=[balance("800", 3000)])
    row.refresh_from_db()
    assert row.total == Decimal("800")


def position(quantity: str, ms: int) -> PositionUpdate:
    return PositionUpdate(
        exchange="bybit",
        symbol=SYMBOL,
        quantity=Decimal(quantity),
        entry_price=Decimal("50000"),
        position_side="BOTH",
        time_ms=ms,
    )


def test_a_closed_position_is_not_brought_back_by_an_older_update(connection):
    updates_apply(connection_id=connection.pk, updates=[position("0", 3000), position("0.5", 2000)])
    row = LedgerPosition.objects.get(connection=connection, symbol=SYMBOL)
    assert (row.quantity, row.entry_price) == (Decimal("0"), None)


def test_a_snapshot_zeroes_what_it_no_longer_lists_unless_a_newer_update_said_otherwise(connection):
    updates_apply(
        connection_id=connection.pk,
        updates=[
            balance("500", 1000),
            position("0.5", 1000),
            BalanceUpdate(
                exchange="bybit",
                asset="BTC",
                free=Decimal("1"),
                locked=Decimal("0"),
                total=Decimal("1"),
                time_ms=9000,
            ),
        ],
    )
    ledger_snapshot_apply(
        connection_id=connection.pk,
        balances=[BalanceFigure(asset="ETH", free=Decimal("2"), locked=Decimal("0"), total=None)],
        positions=[PositionFigure(symbol="ETH/USDT:USDT", quantity=Decimal("-3"))],
        at=datetime.fromtimestamp(5, tz=UTC),
    )
    totals = dict(LedgerBalance.objects.filter(connection=connection).values_list("asset", "total"))
    assert totals == {"USDT": Decimal("0"), "ETH": Decimal("2"), "BTC": Decimal("1")}
    quantities = dict(
        LedgerPosition.objects.filter(connection=connection).values_list("symbol", "quantity")
    )
    assert quantities == {SYMBOL: Decimal("0"), "ETH/USDT:USDT": Decimal("-3")}
