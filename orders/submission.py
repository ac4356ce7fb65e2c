"""Sending an order exactly once, and settling it when the answer was lost.

The row is committed ``pending`` before anything is sent. ``order_submit`` claims it
(pending -> submitting, conditionally, so a second copy of the task does nothing) and sends
with the order's own client id. An ambiguous outcome is never resent blindly:
``order_settle`` looks the order up; only when the original can no longer be accepted
(its deadline passed by 2 s on the exchange's clock, and two lookups 2 s apart found
nothing) is it sent again, with the same client id. At most MAX_SENDS sends.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.utils import timezone

from connections.services import connection_connector
from exchanges import errors
from exchanges.base import Connector, ExchangeOrder, OrderRequest
from exchanges.symbols import parse_symbol
from orders.locks import advisory_lock
from orders.models import Order
from orders.transitions import order_transition

logger = logging.getLogger(__name__)

MAX_SENDS = 3
NETWORK_BACKOFF_SECONDS = (0.5, 1.0, 2.0)
DEADLINE_GRACE_MS = 2000
LOOKUP_SPACING_SECONDS = 2.0
SETTLE_WAIT_LIMIT_SECONDS = 10.0
MATCH_WINDOW_MS = 10_000
READ_BACK_RETRY_SECONDS = 1.0
# the throttle may hold a request up to ~1 s before it is signed
SIGNING_SLACK_MS = 2000
UNKNOWN_FLAG_AFTER = timedelta(minutes=10)
# a lookup that failed this way tells nothing: the order stays unknown for reconciliation
UNREACHABLE = (errors.NetworkError, errors.RateLimited, errors.ExchangeUnavailable,
               errors.OrderOutcomeUnknown)


def _request(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol, side=order.side, type=order.type, quantity=order.quantity,
        client_order_id=order.client_order_id, price=order.price,
        time_in_force=order.time_in_force, reduce_only=order.reduce_only,
        margin=order.connection.api_type == "margin")


def closed_status(order: Order, found: ExchangeOrder) -> str:
    """Pionex says only OPEN or CLOSED: a CLOSED order below its size is expired for IOC,
    FOK and market orders, canceled if we asked, else rejected (DESIGN.md section 9)."""
    if found.raw_status != "CLOSED" or found.status == "filled":
        return found.status
    if order.type == "market" or order.time_in_force in ("IOC", "FOK"):
        return "expired"
    return "canceled" if order.cancel_requested else "rejected"


def _apply(order: Order, found: ExchangeOrder, source: str) -> Order | None:
    """Take the exchange's state of the order."""
    filled = max(found.filled_quantity, order.filled_quantity)
    return order_transition(
        order_id=order.pk, to_status=closed_status(order, found), source=source,
        exchange_order_id=found.exchange_order_id or order.exchange_order_id,
        filled_quantity=min(filled, order.quantity),
        average_price=found.average_price or order.average_price)


def order_submit(*, order_id: object) -> str:
    """Claim and send. Returns what happened (for the task result; no secrets)."""
    order = order_transition(order_id=order_id, to_status="submitting", source="task",
                             expected=("pending",))
    if order is None:
        return "not pending"
    if order.cancel_requested:
        order_transition(order_id=order.pk, to_status="canceled", source="task",
                         data={"reason": "canceled before it was sent"})
        return "canceled"
    connector = connection_connector(connection=order.connection)
    if order.leverage and parse_symbol(order.symbol).is_perpetual:
        outcome = _set_leverage(order, connector)
        if outcome:
            return outcome
    return _send(order, connector)


def _set_leverage(order: Order, connector: Connector) -> str:
    try:
        connector.set_leverage(order.symbol, order.leverage)
    except (errors.NetworkError, errors.RateLimited, errors.ExchangeUnavailable,
            errors.OrderOutcomeUnknown):
        order_transition(order_id=order.pk, to_status="pending", source="task",
                         data={"reason": "leverage not set yet; retrying"})
        return "retry"
    except errors.ExchangeError as exc:
        order_transition(order_id=order.pk, to_status="rejected", source="task",
                         error_message=f"leverage refused: {exc}"[:500])
        return "rejected"
    return ""


def _send(order: Order, connector: Connector, source: str = "task") -> str:
    """Send until placed, refused or ambiguous; surely-unsent failures back off."""
    while order.attempts < MAX_SENDS:
        # recorded before the send: a worker that dies mid-send leaves a provable deadline
        bound = connector.send_deadline_bound_ms(slack_ms=SIGNING_SLACK_MS)
        Order.objects.filter(pk=order.pk).update(attempts=order.attempts + 1,
                                                 last_sent_at=timezone.now(),
                                                 submit_deadline_ms=bound)
        order.attempts += 1
        order.submit_deadline_ms = bound
        try:
            placed = connector.place_order(_request(order))
        except errors.NetworkError:
            time.sleep(NETWORK_BACKOFF_SECONDS[min(order.attempts, MAX_SENDS) - 1])
            continue
        except errors.RateLimited as exc:
            # refused before it was accepted: not sent, so it may wait and go again
            Order.objects.filter(pk=order.pk).update(attempts=order.attempts - 1)
            order_transition(order_id=order.pk, to_status="pending", source=source,
                             data={"reason": "rate limited", "retryAfter": exc.retry_after})
            return f"retry:{exc.retry_after}"
        except (errors.OrderOutcomeUnknown, errors.DuplicateOrder) as exc:
            # the order may be on the exchange: look before anything else
            deadline = getattr(exc, "deadline_ms", None) or order.submit_deadline_ms
            Order.objects.filter(pk=order.pk).update(submit_deadline_ms=deadline)
            order.submit_deadline_ms = deadline
            return order_settle(order=order, connector=connector, source=source)
        except errors.ExchangeError as exc:
            order_transition(order_id=order.pk, to_status="rejected", source=source,
                             error_message=str(exc)[:500])
            return "rejected"
        _apply(order, placed, source)
        status = _read_back_if_acknowledged(order, placed, connector)
        _cancel_if_requested(order.pk)
        return status
    order_transition(order_id=order.pk, to_status="failed", source=source,
                     error_message="the exchange could not be reached; nothing was sent")
    return "failed"


def _read_back_if_acknowledged(order: Order, placed: ExchangeOrder,
                               connector: Connector) -> str:
    """Some placement answers are a bare acknowledgement (OKX: ``ordId`` and ``sCode``,
    no state), parsed as "open". A market, IOC or FOK order never rests, so read it back
    once instead of leaving it open until the next reconciliation."""
    never_rests = order.type == "market" or order.time_in_force in ("IOC", "FOK")
    if not never_rests or placed.status not in ("open", "partially_filled"):
        return placed.status
    order.refresh_from_db()
    try:
        found = _lookup(order, connector)
    except errors.ExchangeError as exc:
        # e.g. our own limiter's budget (Pionex's is small): read it back a little later
        from orders.tasks import refresh_task

        delay = getattr(exc, "retry_after", None) or READ_BACK_RETRY_SECONDS
        refresh_task.apply_async(args=[str(order.pk)], priority=4,
                                 countdown=min(max(delay, 0.5), 30))
        return placed.status
    if found is None or (found.status == placed.status
                         and found.filled_quantity == placed.filled_quantity):
        return placed.status
    _apply(order, found, "task")
    return found.status


def _lookup(order: Order, connector: Connector) -> ExchangeOrder | None:
    """The order on the exchange: by client id, by exchange id, or (exchanges without a
    client-id lookup) by matching open orders and recent history."""
    try:
        if order.exchange_order_id:
            return connector.get_order(order.symbol,
                                       exchange_order_id=order.exchange_order_id)
        return connector.get_order(order.symbol, client_order_id=order.client_order_id)
    except errors.OrderNotFound:
        return None
    except errors.NotSupported:
        return _match(order, connector)


def _match(order: Order, connector: Connector) -> ExchangeOrder | None:
    """Symbol, side, quantity, price and time within MATCH_WINDOW_MS. Two candidates are
    flagged for an operator rather than guessed."""
    sent_ms = int((order.last_sent_at or order.created_at).timestamp() * 1000)
    seen: dict[str, ExchangeOrder] = {}
    for candidate in [*connector.open_orders(order.symbol),
                      *connector.order_history(order.symbol, since_ms=sent_ms - MATCH_WINDOW_MS)]:
        if (candidate.side == order.side and candidate.quantity == order.quantity
                and (order.type == "market" or candidate.price == order.price)
                and abs((candidate.created_at_ms or sent_ms) - sent_ms) <= MATCH_WINDOW_MS
                and not Order.objects.filter(connection=order.connection,
                                             exchange_order_id=candidate.exchange_order_id)
                .exclude(pk=order.pk).exists()):
            seen[candidate.exchange_order_id] = candidate
    if len(seen) > 1:
        Order.objects.filter(pk=order.pk).update(
            flagged=True, flag_reason=f"{len(seen)} exchange orders match; pick one")
        return None
    return next(iter(seen.values()), None)


def order_settle(*, order: Order, connector: Connector | None = None, source: str) -> str:
    """Settle a submitting/unknown order: take the exchange's state, resend when the rule
    allows, or leave it unknown for reconciliation. One settler per order at a time (a
    PostgreSQL advisory lock), so two can never both resend."""
    with advisory_lock(f"settle:{order.pk}", wait=False) as held:
        if not held:
            return "busy"
        return _settle_locked(order, connector, source)


def _settle_locked(order: Order, connector: Connector | None, source: str) -> str:
    order.refresh_from_db()
    if order.status not in ("submitting", "unknown"):
        return order.status
    connector = connector or connection_connector(connection=order.connection)
    try:
        found = _lookup(order, connector)
        if found is not None:
            _apply(order, found, source)
            _cancel_if_requested(order.pk)
            return found.status
        may_resend = _may_resend(order, connector)
    except UNREACHABLE as exc:
        # the lookup itself failed: nothing is known, so nothing is resent
        return _leave_unknown(order, source, f"lookup failed: {type(exc).__name__}")
    if may_resend:
        if order.attempts >= MAX_SENDS:
            order_transition(order_id=order.pk, to_status="failed", source=source,
                             error_message="not on the exchange after every send")
            return "failed"
        order_transition(order_id=order.pk, to_status="submitting", source=source,
                         expected=("submitting", "unknown"),
                         data={"reason": "resent: the original can no longer be accepted"})
        order.refresh_from_db()
        return _send(order, connector, source)
    return _leave_unknown(order, source, "outcome unknown; reconciliation settles it")


def _leave_unknown(order: Order, source: str, reason: str) -> str:
    order_transition(order_id=order.pk, to_status="unknown", source=source,
                     expected=("submitting",), data={"reason": reason})
    _flag_if_unprovable(order.pk)
    return "unknown"


def _flag_if_unprovable(order_id: object) -> None:
    """An unknown order whose send carried no deadline can never be proven lost, and one
    unknown for long needs eyes: both are flagged for an operator."""
    order = Order.objects.get(pk=order_id)
    if order.status != "unknown" or order.flagged:
        return
    stale = order.last_sent_at and timezone.now() - order.last_sent_at > UNKNOWN_FLAG_AFTER
    if order.submit_deadline_ms is None or stale:
        reason = ("no deadline: the exchange may still hold it; check and settle by hand"
                  if order.submit_deadline_ms is None else
                  "unknown for over 10 minutes; check the exchange")
        Order.objects.filter(pk=order.pk).update(flagged=True, flag_reason=reason)


def _may_resend(order: Order, connector: Connector) -> bool:
    """Only when the original carried a deadline, the exchange's clock is 2 s past it, and
    a second lookup, 2 s after the first, also finds nothing."""
    if not order.submit_deadline_ms:
        return False
    wait_ms = order.submit_deadline_ms + DEADLINE_GRACE_MS - connector.server_time()
    wait = max(wait_ms / 1000, LOOKUP_SPACING_SECONDS)
    if wait > SETTLE_WAIT_LIMIT_SECONDS:
        return False
    time.sleep(wait)
    if connector.server_time() < order.submit_deadline_ms + DEADLINE_GRACE_MS:
        return False
    found = _lookup(order, connector)
    if found is not None:
        _apply(order, found, "task")
        return False
    return True


def _cancel_if_requested(order_id: object) -> None:
    order = Order.objects.get(pk=order_id)
    if order.cancel_requested and order.status in ("open", "partially_filled"):
        from orders.tasks import cancel_task

        cancel_task.apply_async(args=[str(order.pk)], priority=0)


def order_cancel_on_exchange(*, order_id: object) -> str:
    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in ("open", "partially_filled"):
        return order.status
    connector = connection_connector(connection=order.connection)
    try:
        canceled = connector.cancel_order(
            order.symbol, exchange_order_id=order.exchange_order_id or None,
            client_order_id=None if order.exchange_order_id else order.client_order_id)
    except errors.InvalidOrder:
        # unknown to the exchange or no longer cancelable (filled meanwhile): ask its state
        found = _lookup(order, connector)
        if found is None:
            return "not found"
        canceled = found
    if canceled.status in ("open", "partially_filled"):
        found = _lookup(order, connector)
        canceled = found or canceled
    if canceled.status in ("open", "partially_filled"):
        return "cancel pending"  # the exchange has not applied it yet: look again shortly
    _apply(order, canceled, "task")
    return canceled.status


def order_refresh(*, order: Order, connector: Connector, source: str) -> str:
    """Bring an open order's state up to date from the exchange."""
    found = _lookup(order, connector)
    if found is None:
        return order.status
    if found.status != order.status or found.filled_quantity != order.filled_quantity:
        _apply(order, found, source)
    return found.status
