"""Sending an order exactly once, and settling it when the answer was lost.

The row is committed ``pending`` before anything is sent. ``order_submit`` takes the
order's lock, claims it (pending -> submitting, conditionally, so a second copy of the task
does nothing) and sends it once with the order's own client id. An ambiguous outcome is
never resent blindly: ``order_settle`` looks the order up; only when the original can no
longer be accepted (its deadline passed by 2 s on the exchange's clock, and two lookups at
least 2 s apart found nothing) is it sent again, with the same client id. At most MAX_SENDS
sends. The submit path and every settler hold the same per-order lock for their whole run,
so there is never a second sender.

Nothing here sleeps or re-enqueues: each function returns an ``Outcome`` and the task
(``orders/tasks.py``) acts on it, so retry, backoff and the fast settle path are decided in
one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection
from connections.services import connection_connector
from connections.trading import trading_refusal
from core.locks import advisory_lock
from core.types import Id
from exchanges import errors
from exchanges.base import Connector, ExchangeOrder, OrderRequest
from exchanges.registry import connector_class
from exchanges.symbols import parse_symbol
from orders.models import Order, OrderEvent
from orders.transitions import IllegalTransition, order_transition

MAX_SENDS = 3
# surely-unsent sends wait this long before the next try (by attempt number)
NETWORK_BACKOFF_SECONDS = (0.5, 1.0, 2.0)
DEADLINE_GRACE_MS = 2000
LOOKUP_SPACING_SECONDS = 2.0
# the fast settle path comes back at most this soon and this late
SETTLE_SOON_SECONDS = 0.5
SETTLE_LATEST_SECONDS = 5.0
MATCH_WINDOW_MS = 10_000
READ_BACK_SECONDS = 1.0
UNKNOWN_FLAG_AFTER = timedelta(minutes=10)
WAITING_FOR_BUDGET = "waiting for rate budget"
# a lookup that failed this way tells nothing about the order
UNREACHABLE = (
    errors.NetworkError,
    errors.RateLimited,
    errors.ExchangeUnavailable,
    errors.OrderOutcomeUnknown,
)


@dataclass(frozen=True)
class Outcome:
    """What one run left, for the task to act on. ``status`` is the order's status (or a
    word such as ``busy``); the rest are follow-ups in seconds, None when there is none."""

    status: str
    retry_in: float | None = None  # run the same task again
    settle_in: float | None = None  # settle the order (the fast path)
    refresh_in: float | None = None  # read the order back from the exchange


def order_lock_name(order_id: Id) -> str:
    return f"order:{order_id}"


def _request(order: Order) -> OrderRequest:
    return OrderRequest(
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        quantity=order.quantity,
        client_order_id=order.client_order_id,
        price=order.price,
        time_in_force=order.time_in_force,
        reduce_only=order.reduce_only,
        margin=order.connection.api_type == "margin",
    )


def closed_status(order: Order, found: ExchangeOrder) -> str:
    """The exchange's status of the order, refined by the connector with what only we know
    (type, time in force, whether it rested, whether we asked to cancel): an exchange whose
    terminal status does not say why the order ended decides it there (docs/orders.md)."""
    return connector_class(order.connection.exchange).settled_status(
        found,
        order_type=order.type,
        time_in_force=order.time_in_force,
        rested=order.status in ("open", "partially_filled"),
        cancel_requested=order.cancel_requested,
    )


def _apply(order: Order, found: ExchangeOrder, source: str) -> Order | None:
    """Take the exchange's state of the order."""
    filled = max(found.filled_quantity, order.filled_quantity)
    return order_transition(
        order_id=order.pk,
        to_status=closed_status(order, found),
        source=source,
        exchange_order_id=found.exchange_order_id or order.exchange_order_id,
        filled_quantity=min(filled, order.quantity),
        average_price=found.average_price or order.average_price,
    )


# -- submit ------------------------------------------------------------------------------


def order_submit(*, order_id: Id) -> Outcome:
    """Claim and send once, holding the order's lock for the whole run."""
    with advisory_lock(order_lock_name(order_id), wait=False) as held:
        if not held:
            return Outcome("busy", retry_in=1.0)
        return _submit_locked(order_id)


def _submit_locked(order_id: Id) -> Outcome:
    order = order_transition(
        order_id=order_id,
        to_status="submitting",
        source="task",
        expected=("pending",),
        quiet=_was_waiting_for_budget(order_id),
    )
    if order is None:
        return Outcome("not pending")
    if order.attempts >= MAX_SENDS:
        order_transition(
            order_id=order.pk,
            to_status="failed",
            source="task",
            error_message="not on the exchange after every send",
        )
        return Outcome("failed")
    connector = connection_connector(connection=order.connection)
    if order.leverage and parse_symbol(order.symbol).is_perpetual:
        outcome = _set_leverage(order, connector, order.leverage)
        if outcome is not None:
            return outcome
    return _send(order, connector, source="task")


def _was_waiting_for_budget(order_id: Id) -> bool:
    """A claim after a wait for budget is not worth an event: the wait said it once."""
    last = OrderEvent.objects.filter(order_id=order_id).order_by("-created_at", "-id").first()
    return last is not None and last.data.get("reason") == WAITING_FOR_BUDGET


def _set_leverage(order: Order, connector: Connector, leverage: int) -> Outcome | None:
    try:
        connector.set_leverage(order.symbol, leverage)
    except errors.RateLimited as exc:
        return _wait_for_budget(order, exc.retry_after)
    except (errors.NetworkError, errors.ExchangeUnavailable, errors.OrderOutcomeUnknown):
        # setting leverage again is harmless, so any doubt means: try again shortly
        order_transition(
            order_id=order.pk,
            to_status="pending",
            source="task",
            data={"reason": "leverage not set yet; retrying"},
        )
        return Outcome("pending", retry_in=1.0)
    except errors.ExchangeError as exc:
        order_transition(
            order_id=order.pk,
            to_status="rejected",
            source="task",
            error_message=f"leverage refused: {exc}"[:500],
        )
        return Outcome("rejected")
    return None


def _why_not_send(order: Order) -> str:
    """A reason the order must not (or no longer) go out, or "" when it may."""
    fresh = Order.objects.filter(pk=order.pk).values("cancel_requested").first()
    if fresh is None or fresh["cancel_requested"]:
        return "canceled before it was sent"
    connection = (
        ExchangeConnection.objects.filter(pk=order.connection_id)
        .values("enabled", "trading_state", "api_type")
        .first()
    )
    if connection is None or not connection["enabled"]:
        return "the connection is disabled"
    refusal = trading_refusal(
        trading_state=connection["trading_state"],
        api_type=connection["api_type"],
        side=order.side,
        reduce_only=order.reduce_only,
    )
    if refusal is not None:
        return refusal.reason
    circuit = (
        ConnectionState.objects.filter(connection_id=order.connection_id)
        .values_list("circuit", flat=True)
        .first()
    )
    if circuit not in (None, "closed"):
        return "the connection's circuit is open"
    return ""


def _send(order: Order, connector: Connector, *, source: str) -> Outcome:
    """Send the submitting order once. Surely-unsent failures go back to pending for the
    task to try again; an ambiguous one is settled."""
    reason = _why_not_send(order)
    if reason:
        order_transition(
            order_id=order.pk, to_status="canceled", source=source, data={"reason": reason}
        )
        return Outcome("canceled")
    # A worker that dies before signing sent nothing, so any deadline is true of it; this one
    # lets such an order be proven lost as soon as one signed now could be. At signing the
    # exact deadline replaces it (committed before any byte leaves).
    bound = connector.send_deadline_bound_ms()
    Order.objects.filter(pk=order.pk).update(
        attempts=F("attempts") + 1,
        missed_at=None,
        last_sent_at=timezone.now(),
        submit_deadline_ms=bound,
    )
    order.attempts += 1
    order.submit_deadline_ms = bound
    recorder = _DeadlineRecorder(order)
    connector.before_write = recorder
    try:
        placed = connector.place_order(_request(order))
    except errors.ExchangeError as exc:
        return _send_failed(order, connector, exc, signed=recorder.signed, source=source)
    finally:
        connector.before_write = None
    _apply(order, placed, source)
    return _after_placed(order, placed)


def _send_failed(
    order: Order, connector: Connector, exc: errors.ExchangeError, *, signed: bool, source: str
) -> Outcome:
    """What a failed place means depends on whether the write itself was signed: a module
    may read first (a ticker for a market buy in quote), and a read's failure sent nothing."""
    if isinstance(exc, errors.RateLimited) or (not signed and exc.retryable):
        # refused before it went out (our limiter, the exchange's 429, a failed read
        # first): not a send
        Order.objects.filter(pk=order.pk).update(attempts=F("attempts") - 1)
        if isinstance(exc, errors.RateLimited):
            return _wait_for_budget(order, exc.retry_after)
        order_transition(
            order_id=order.pk,
            to_status="pending",
            source=source,
            data={"reason": "not sent: a read before it failed"},
        )
        return Outcome("pending", retry_in=NETWORK_BACKOFF_SECONDS[0])
    if isinstance(exc, errors.NetworkError):
        order_transition(
            order_id=order.pk,
            to_status="pending",
            source=source,
            data={"reason": "not sent: the exchange could not be reached"},
        )
        return Outcome(
            "pending",
            retry_in=NETWORK_BACKOFF_SECONDS[min(order.attempts, len(NETWORK_BACKOFF_SECONDS)) - 1],
        )
    if signed and (
        exc.retryable or isinstance(exc, errors.OrderOutcomeUnknown | errors.DuplicateOrder)
    ):
        # the order may be on the exchange: look before anything else
        if isinstance(exc, errors.OrderOutcomeUnknown) and exc.deadline_ms:
            Order.objects.filter(pk=order.pk).update(submit_deadline_ms=exc.deadline_ms)
        return _settle_locked(order.pk, connector, source)
    order_transition(
        order_id=order.pk, to_status="rejected", source=source, error_message=str(exc)[:500]
    )
    return Outcome("rejected")


class _DeadlineRecorder:
    """Stores the deadline the request carries when it is signed, before it is sent: a
    worker that dies mid-send still leaves a provable deadline. ``signed`` tells whether
    the write itself was ever about to leave."""

    def __init__(self, order: Order) -> None:
        self.order = order
        self.signed = False

    def __call__(self, deadline_ms: int | None) -> None:
        self.signed = True
        Order.objects.filter(pk=self.order.pk).update(
            submit_deadline_ms=deadline_ms, last_sent_at=timezone.now()
        )
        self.order.submit_deadline_ms = deadline_ms


def _wait_for_budget(order: Order, retry_after: float) -> Outcome:
    order_transition(
        order_id=order.pk,
        to_status="pending",
        source="task",
        data={"reason": WAITING_FOR_BUDGET},
        quiet=_was_waiting_for_budget(order.pk),
    )
    return Outcome("pending", retry_in=retry_after)


def _after_placed(order: Order, placed: ExchangeOrder) -> Outcome:
    """Some placement answers are a bare acknowledgement (OKX: ``ordId`` and ``sCode``,
    no state), parsed as "open". A market, IOC or FOK order never rests, so it is read
    back soon instead of left open until the next reconciliation."""
    if _cancel_if_requested(order.pk):
        return Outcome(placed.status)
    never_rests = order.type == "market" or order.time_in_force in ("IOC", "FOK")
    if never_rests and placed.status in ("open", "partially_filled"):
        return Outcome(placed.status, refresh_in=READ_BACK_SECONDS)
    return Outcome(placed.status)


# -- settle ------------------------------------------------------------------------------


def order_settle(*, order_id: Id, source: str) -> Outcome:
    """Settle a submitting/unknown order: take the exchange's state, resend when the rule
    allows, or leave it unknown with a time to look again."""
    with advisory_lock(order_lock_name(order_id), wait=False) as held:
        if not held:
            return Outcome("busy")
        return _settle_locked(order_id, None, source)


def _settle_locked(order_id: Id, connector: Connector | None, source: str) -> Outcome:
    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in ("submitting", "unknown"):
        return Outcome(order.status)
    connector = connector or connection_connector(connection=order.connection)
    try:
        found = _lookup(order, connector)
        if found is not None:
            _apply(order, found, source)
            _cancel_if_requested(order.pk)
            return Outcome(found.status)
        if order.attempts == 0:
            # claimed, then its worker died before the send was counted (or every try was
            # refused before it left): nothing can be on the exchange, so send it now
            return _resend(order, connector, source, reason="never sent: sending it now")
        wait = _seconds_until_resend(order, connector)
    except UNREACHABLE as exc:
        # the lookup itself failed: nothing is known, so nothing is resent
        return _leave_unknown(
            order, source, f"lookup failed: {type(exc).__name__}", settle_in=SETTLE_SOON_SECONDS
        )
    if wait is None:
        return _leave_unknown(order, source, "no deadline: reconciliation settles it")
    if wait > 0:
        return _leave_unknown(
            order,
            source,
            "not found yet; looking again after its deadline",
            settle_in=min(max(wait, SETTLE_SOON_SECONDS), SETTLE_LATEST_SECONDS),
        )
    return _resend(order, connector, source)


def _seconds_until_resend(order: Order, connector: Connector) -> float | None:
    """After a lookup found nothing: 0 when the original can no longer be accepted (the
    exchange's clock is 2 s past its deadline and an earlier lookup, at least 2 s ago, also
    found nothing), else the seconds until that can be true; None when the send carried
    no deadline, so it can never be proven lost."""
    if not order.submit_deadline_ms:
        return None
    now = timezone.now()
    if order.missed_at is None:
        Order.objects.filter(pk=order.pk).update(missed_at=now)
        spacing = LOOKUP_SPACING_SECONDS
    else:
        spacing = LOOKUP_SPACING_SECONDS - (now - order.missed_at).total_seconds()
    past_deadline_ms = connector.server_time() - order.submit_deadline_ms - DEADLINE_GRACE_MS
    return max(spacing, -past_deadline_ms / 1000, 0.0)


def _resend(
    order: Order,
    connector: Connector,
    source: str,
    *,
    reason: str = "resent: the original can no longer be accepted",
) -> Outcome:
    if order.attempts >= MAX_SENDS:
        order_transition(
            order_id=order.pk,
            to_status="failed",
            source=source,
            error_message="not on the exchange after every send",
        )
        return Outcome("failed")
    claimed = order_transition(
        order_id=order.pk,
        to_status="submitting",
        source=source,
        expected=("submitting", "unknown"),
        data={"reason": reason},
    )
    if claimed is None:
        return Outcome(Order.objects.get(pk=order.pk).status)
    return _send(claimed, connector, source=source)


def _leave_unknown(
    order: Order, source: str, reason: str, *, settle_in: float | None = None
) -> Outcome:
    order_transition(
        order_id=order.pk,
        to_status="unknown",
        source=source,
        expected=("submitting",),
        data={"reason": reason},
    )
    _flag_if_unprovable(order.pk)
    return Outcome("unknown", settle_in=settle_in)


def _flag_if_unprovable(order_id: Id) -> None:
    """An unknown order whose send carried no deadline can never be proven lost, and one
    unknown for long needs eyes: both are flagged for an operator."""
    order = Order.objects.get(pk=order_id)
    if order.status != "unknown" or order.flagged:
        return
    stale = order.last_sent_at and timezone.now() - order.last_sent_at > UNKNOWN_FLAG_AFTER
    if order.submit_deadline_ms is None or stale:
        reason = (
            "no deadline: the exchange may still hold it; check and settle by hand"
            if order.submit_deadline_ms is None
            else "unknown for over 10 minutes; check the exchange"
        )
        Order.objects.filter(pk=order.pk).update(flagged=True, flag_reason=reason)


# -- lookups -----------------------------------------------------------------------------


def _lookup(order: Order, connector: Connector) -> ExchangeOrder | None:
    """The order on the exchange: by exchange id, by client id, or (exchanges without a
    client-id lookup) by matching open orders and recent history."""
    try:
        if order.exchange_order_id:
            return connector.get_order(order.symbol, exchange_order_id=order.exchange_order_id)
        return connector.get_order(order.symbol, client_order_id=order.client_order_id)
    except errors.OrderNotFound:
        return None
    except errors.NotSupported:
        return _match(order, connector)


def _match(order: Order, connector: Connector) -> ExchangeOrder | None:
    """Symbol, side, quantity, price and time within MATCH_WINDOW_MS; a candidate carrying
    another client id is not ours. Two candidates, or another unsettled order of ours that
    the same candidate would match, are flagged for an operator rather than guessed."""
    sent_ms = int((order.last_sent_at or order.created_at).timestamp() * 1000)
    seen: dict[str, ExchangeOrder] = {}
    for candidate in [
        *connector.open_orders(order.symbol),
        *connector.order_history(order.symbol, since_ms=sent_ms - MATCH_WINDOW_MS),
    ]:
        if (
            _matches(order, candidate, sent_ms)
            and not Order.objects.filter(
                connection=order.connection, exchange_order_id=candidate.exchange_order_id
            )
            .exclude(pk=order.pk)
            .exists()
        ):
            seen[candidate.exchange_order_id] = candidate
    if len(seen) > 1:
        return _flag_ambiguous(order, f"{len(seen)} exchange orders match; pick one")
    if seen and _rivals(order):
        return _flag_ambiguous(
            order, "another unsettled order matches the same exchange order; pick one"
        )
    return next(iter(seen.values()), None)


def _rivals(order: Order) -> bool:
    """Other orders of ours, still unsettled, that look the same on the exchange."""
    window = timedelta(milliseconds=MATCH_WINDOW_MS * 2)
    sent = order.last_sent_at or order.created_at
    rivals = Order.objects.filter(
        connection=order.connection,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        type=order.type,
        status__in=("submitting", "unknown"),
        exchange_order_id="",
        last_sent_at__range=(sent - window, sent + window),
    ).exclude(pk=order.pk)
    if order.type == "limit":
        rivals = rivals.filter(price=order.price)
    return rivals.exists()


def _flag_ambiguous(order: Order, reason: str) -> ExchangeOrder | None:
    """Flag the order for an operator; no match is taken."""
    Order.objects.filter(pk=order.pk).update(flagged=True, flag_reason=reason)
    return None


def _matches(order: Order, candidate: ExchangeOrder, sent_ms: int) -> bool:
    other_client = (
        candidate.client_order_id
        and candidate.client_order_id.lower() != order.client_order_id.lower()
    )
    return (
        not other_client
        and candidate.side == order.side
        and candidate.quantity == order.quantity
        and (order.type == "market" or candidate.price == order.price)
        and abs((candidate.created_at_ms or sent_ms) - sent_ms) <= MATCH_WINDOW_MS
    )


# -- cancel and refresh ------------------------------------------------------------------


def _cancel_if_requested(order_id: Id) -> bool:
    """A settle or placement that finds a cancel-requested order open cancels it."""
    order = Order.objects.get(pk=order_id)
    if order.cancel_requested and order.status in ("open", "partially_filled"):
        from orders.tasks import cancel_task

        cancel_task.apply_async(args=[str(order.pk)], priority=0)
        return True
    return False


def order_cancel_on_exchange(*, order_id: Id) -> Outcome:
    """Ask the exchange to cancel an open order, then take the state it reports. A cancel
    whose answer was lost, or that the exchange refused, is looked up, never assumed."""
    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in ("open", "partially_filled"):
        return Outcome(order.status)  # settling orders are canceled once settled
    connector = connection_connector(connection=order.connection)
    try:
        answer: ExchangeOrder | None = connector.cancel_order(
            order.symbol,
            exchange_order_id=order.exchange_order_id or None,
            client_order_id=None if order.exchange_order_id else order.client_order_id,
        )
    except errors.RateLimited as exc:
        return Outcome("cancel pending", retry_in=exc.retry_after)
    except (errors.NetworkError, errors.ExchangeUnavailable):
        return Outcome("cancel pending", retry_in=1.0)
    except errors.ExchangeError:
        answer = None  # lost (outcome unknown) or refused (filled meanwhile?): look
    return _cancel_read_back(order, connector, answer)


def _cancel_read_back(order: Order, connector: Connector, answer: ExchangeOrder | None) -> Outcome:
    if answer is None or answer.status in ("open", "partially_filled"):
        try:
            answer = _lookup(order, connector) or answer
        except errors.ExchangeError:
            return Outcome("cancel pending", retry_in=1.0)
    if answer is None:
        Order.objects.filter(pk=order.pk).update(
            flagged=True, flag_reason="the exchange does not know this order; check it"
        )
        return Outcome("not found")
    if answer.status in ("open", "partially_filled"):
        _apply(order, answer, "task")  # fills that came meanwhile
        return Outcome("cancel pending", retry_in=1.0)
    _apply(order, answer, "task")
    return Outcome(answer.status)


def order_cancel_gave_up(*, order_id: Id) -> None:
    """Cancel retries ran out: an operator is told, reconciliation tries again."""
    Order.objects.filter(pk=order_id, status__in=("open", "partially_filled")).update(
        flagged=True, flag_reason="cancel not confirmed after retries; reconciliation retries"
    )


def order_refresh(*, order_id: Id, source: str) -> Outcome:
    """Bring an open order's state up to date from the exchange."""
    order = Order.objects.select_related("connection").get(pk=order_id)
    if order.status not in ("open", "partially_filled"):
        return Outcome(order.status)
    connector = connection_connector(connection=order.connection)
    found = _lookup(order, connector)
    if found is None:
        return Outcome(order.status)
    if found.status != order.status or found.filled_quantity != order.filled_quantity:
        try:
            _apply(order, found, source)
        except IllegalTransition:
            # the private stream moved the row past what this read saw: the row stands
            return Outcome(Order.objects.get(pk=order.pk).status)
    _cancel_if_requested(order.pk)
    return Outcome(found.status)
