"""Writes on orders: place (checks, then the row, then the task), cancel, cancel-all."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from connections.health import (
    CircuitOpen,
    connection_exchange_call,
)
from connections.models import ConnectionState, ExchangeConnection
from connections.selectors import connection_get_for_write, ledger_if_live
from connections.services import connection_connector
from connections.trading import connection_trading_check
from core.errors import Conflict, Unprocessable, ValidationFailed
from core.locks import advisory_lock
from core.types import Id
from exchanges.errors import NotSupported
from orders import prechecks
from orders.models import Order, OrderEvent
from orders.transitions import order_transition

# the symbols a connection-wide cancel-all covers where the exchange needs one symbol a call
CANCEL_ALL_LOOKBACK = timedelta(days=7)
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class OrderSpec:
    """An order to place. ``given`` names the fields the request set: a replay must repeat
    the same request, compared by those fields (None: by every field)."""

    connection_id: uuid.UUID | str
    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None = None  # a limit order's; a market order has none
    time_in_force: str = "GTC"
    reduce_only: bool = False
    leverage: int | None = None
    client_order_id: str | None = None  # None: one is generated
    volume_factor_source: str = "live"
    given: frozenset[str] | None = None

    def request_fields(self) -> dict[str, Any]:
        """The fields the request set, by name: what its hash covers."""
        names = (
            self.given
            if self.given is not None
            else {each.name for each in fields(self) if each.name != "given"}
        )
        return {name: getattr(self, name) for name in sorted(names)}


@dataclass(frozen=True)
class Placement:
    order: Order
    replayed: bool


def client_order_id_new() -> str:
    """Exactly 32 characters of [a-z0-9]: the prefix, then a uuid4 hex, cut to 32."""
    return (settings.CLIENT_ORDER_ID_PREFIX.lower() + uuid.uuid4().hex)[:32]


def _replay(
    *,
    owner: User,
    connection_id: Id,
    idempotency_key: str | None,
    client_order_id: str | None,
    request_hash: str,
) -> Order | None:
    existing = None
    if idempotency_key:
        existing = Order.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
    if existing is None and client_order_id:
        existing = Order.objects.filter(
            connection__pk=connection_id, client_order_id=client_order_id
        ).first()
    if existing is not None and existing.request_hash != request_hash:
        raise Conflict(
            "this idempotency key (or client order id) was used with another request body",
            code="idempotency_key_reused",
        )
    return existing


def order_place(*, owner: User, spec: OrderSpec, idempotency_key: str | None) -> Placement:
    """Check everything inside the request, then commit a pending row and enqueue
    orders.submit. The same key or client order id replays the first order."""
    if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValidationFailed(
            "Idempotency-Key must match ^[A-Za-z0-9_-]{1,64}$",
            fields={"idempotency_key": ["invalid"]},
        )
    connection = connection_get_for_write(user=owner, connection_id=spec.connection_id)
    key = idempotency_key or spec.client_order_id
    if not key:
        return _place(
            owner=owner, connection=connection, spec=spec, idempotency_key=idempotency_key
        )
    # copies of one request (same key or client id) run one at a time, so the later ones
    # replay the first order instead of each spending the exchange budget on pre-checks
    with advisory_lock(f"place:{owner.pk}:{connection.pk}:{key}"):
        return _place(
            owner=owner, connection=connection, spec=spec, idempotency_key=idempotency_key
        )


def _place(
    *, owner: User, connection: ExchangeConnection, spec: OrderSpec, idempotency_key: str | None
) -> Placement:
    request_hash = prechecks.order_request_hash(
        {**spec.request_fields(), "connection_id": str(connection.pk)}
    )
    replay = _replay(
        owner=owner,
        connection_id=connection.pk,
        idempotency_key=idempotency_key,
        client_order_id=spec.client_order_id,
        request_hash=request_hash,
    )
    if replay is not None:
        return Placement(order=replay, replayed=True)
    connection_trading_check(connection=connection, side=spec.side, reduce_only=spec.reduce_only)
    sized, factor, report = _prechecked(connection, spec)
    order = Order(
        owner=owner,
        connection=connection,
        idempotency_key=idempotency_key,
        client_order_id=spec.client_order_id or client_order_id_new(),
        request_hash=request_hash,
        symbol=spec.symbol,
        side=spec.side,
        type=spec.type,
        requested_quantity=spec.quantity,
        volume_factor_source=spec.volume_factor_source,
        volume_factor=factor,
        quantity=sized.quantity,
        price=sized.price,
        time_in_force=spec.time_in_force,
        reduce_only=spec.reduce_only,
        leverage=spec.leverage,
    )
    try:
        with transaction.atomic():
            order.save()
            OrderEvent.objects.create(
                order=order,
                to_status="pending",
                source="api",
                data={"quantity": str(order.quantity), **report},
            )
            _enqueue_submit(order.pk)
    except IntegrityError:
        # a concurrent request with the same key or client id won the insert
        replay = _replay(
            owner=owner,
            connection_id=connection.pk,
            idempotency_key=idempotency_key,
            client_order_id=order.client_order_id,
            request_hash=request_hash,
        )
        if replay is None:
            raise
        return Placement(order=replay, replayed=True)
    return Placement(order=order, replayed=False)


def _enqueue_submit(order_id: Id) -> None:
    from orders.tasks import submit_task

    submit_task.apply_async_on_commit(args=[str(order_id)], priority=0)


def _prechecked(
    connection: ExchangeConnection, spec: OrderSpec
) -> tuple[prechecks.Sized, Decimal, dict[str, Any]]:
    """Every check of the order, then its sizing, the volume factor, and what the first
    event records of the checks: ``{"prechecks": "ledger"}`` when the stream was live (and
    ``rest_reads`` naming a cold cache read from the exchange), ``{"prechecks": "rest"}``
    when the exchange was asked."""
    if not connection.enabled:
        raise Conflict("this connection is disabled", code="connection_disabled")
    client_id = spec.client_order_id
    state = ConnectionState.objects.get(connection=connection)
    if state.circuit != "closed":
        raise CircuitOpen("the circuit of this connection is open after repeated failures")
    live = spec.volume_factor_source == "live"
    factor = state.volume_factor_live if live else state.volume_factor_preset
    ledger = ledger_if_live(connection=connection)

    def check(connector: Any) -> tuple[prechecks.Sized, dict[str, Any]]:
        if client_id and not connector.client_order_id_pattern.fullmatch(client_id):
            raise Unprocessable(
                f"clientOrderId does not meet {connection.exchange}'s "
                f"rule {connector.client_order_id_pattern.pattern}",
                code="client_order_id_invalid",
                fields={"client_order_id": ["invalid for this exchange"]},
            )
        _market_or_invalid(connector, spec.symbol)
        view: prechecks.AccountView = (
            prechecks.LedgerView(connection, connector, ledger)
            if ledger is not None
            else prechecks.RestView(connection, connector)
        )
        instrument = view.instrument(spec.symbol)
        ticker = view.ticker(spec.symbol)
        sized = prechecks.size_order(
            instrument=instrument,
            ticker=ticker,
            side=spec.side,
            order_type=spec.type,
            requested=spec.quantity,
            factor=factor,
            price=spec.price,
        )
        prechecks.check_risk(
            connection=connection, sized=sized, ticker=ticker, order_type=spec.type
        )
        prechecks.check_position_mode(view=view, symbol=spec.symbol)
        prechecks.check_reduce_only(
            view=view,
            symbol=spec.symbol,
            side=spec.side,
            quantity=sized.quantity,
            reduce_only=spec.reduce_only,
        )
        prechecks.check_margin(
            view=view,
            symbol=spec.symbol,
            side=spec.side,
            sized=sized,
            leverage=spec.leverage,
            reduce_only=spec.reduce_only,
        )
        return sized, view.report()

    sized, report = connection_exchange_call(connection=connection, call=check)
    return sized, factor, report


def _market_or_invalid(connector: Any, symbol: str) -> None:
    """A symbol this connection cannot trade (a perpetual on a spot connection) is a 422,
    not an exchange failure: raised inside the exchange call, the connector's
    InvalidRequest would become a 502."""
    from exchanges import errors

    try:
        connector.market(symbol)
    except (errors.InvalidRequest, errors.NotSupported) as exc:
        raise Unprocessable(
            exc.message, code="symbol_not_traded", fields={"symbol": [exc.message]}
        ) from None


def order_cancel(*, order: Order, actor: User | None) -> Order:
    """pending: canceled here; submitting/unknown: canceled once settled; open: the
    exchange is asked (by a task); terminal: 409 order_not_cancelable. Idempotent."""
    if order.is_terminal:
        if order.status == "canceled":
            return order
        raise Conflict(f"the order is {order.status}", code="order_not_cancelable")
    if order.status == "pending":
        canceled = order_transition(
            order_id=order.pk,
            to_status="canceled",
            source="api",
            expected=("pending",),
            data={"reason": "canceled before it was sent"},
        )
        if canceled is not None:
            return canceled
        order.refresh_from_db()
    Order.objects.filter(pk=order.pk).update(cancel_requested=True)
    order.refresh_from_db()
    if order.status in ("open", "partially_filled"):
        _enqueue_cancel(order.pk)
    return order


def _enqueue_cancel(order_id: Id) -> None:
    from orders.tasks import cancel_task

    cancel_task.apply_async_on_commit(args=[str(order_id)], priority=0)


def order_cancel_all_on_exchange(*, connection_id: Id, symbol: str | None) -> int:
    """The exchange's own cancel-all, from the task. A connection deleted meanwhile has no
    orders left to cancel."""
    connection = ExchangeConnection.objects.filter(pk=connection_id).first()
    if connection is None:
        return 0
    connector = connection_connector(connection=connection)
    try:
        return connector.cancel_all(symbol)
    except NotSupported:
        if symbol is not None:
            raise
    # some exchanges cancel only one symbol at a time (Pionex spot): every symbol this
    # connection has traded lately, then
    symbols = (
        Order.objects.filter(
            connection=connection, created_at__gte=timezone.now() - CANCEL_ALL_LOOKBACK
        )
        .values_list("symbol", flat=True)
        .distinct()
    )
    return sum(connector.cancel_all(each) for each in sorted(set(symbols)))


def order_cancel_all(*, owner: User, connection_id: Id, symbol: str | None) -> int:
    """The kill switch: every open order of the connection (optionally one symbol) is
    canceled here or on the exchange, and the exchange is told to cancel all. Returns how
    many of our orders were canceled or asked to cancel."""
    connection = connection_get_for_write(user=owner, connection_id=connection_id)
    return connection_orders_cancel(connection=connection, actor=owner, symbol=symbol)


def connection_orders_cancel(
    *, connection: ExchangeConnection, actor: User | None, symbol: str | None = None
) -> int:
    """order_cancel_all for a connection already resolved (the admin, the command line, a
    halt that cancels open orders: connections.trading)."""
    orders = Order.objects.filter(connection=connection, status__in=prechecks.OPEN_STATUSES)
    if symbol:
        orders = orders.filter(symbol=symbol)
    count = 0
    for order in orders:
        try:
            order_cancel(order=order, actor=actor)
        except Conflict:
            continue  # it settled (filled, rejected) since the query: nothing to cancel
        count += 1
    from orders.tasks import cancel_all_task

    cancel_all_task.apply_async_on_commit(args=[str(connection.pk), symbol], priority=0)
    return count
