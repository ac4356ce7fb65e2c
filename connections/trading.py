"""Trading states of a connection (writes, and the one rule the order path applies).

``active``: every order may go out. ``reduce_only``: only orders that reduce a position:
a reduce-only order, or on a spot connection a sell (spot cannot go short, so a sell only
reduces what is held). ``halted``: nothing new goes out; open orders stay unless the
operator asks to cancel them. Cancels are always allowed. The state is checked when an
order is placed (``connection_trading_check``) and again just before it is sent
(``trading_refusal``, orders/submission.py), so an order accepted before a halt is not sent
after it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction

from connections.models import TRADING_STATES, ExchangeConnection
from connections.services import _audit, actor_name, sync_log_write
from core.errors import Unprocessable, ValidationFailed

# Apps above this one (orders) cancel a connection's open orders; this app cannot import
# them (imports point one way), so they register here at start. Each returns how many
# orders it canceled or asked the exchange to cancel.
OPEN_ORDER_CANCELERS: list[Callable[..., int]] = []

HALTED_MESSAGE = "this connection is halted: no new orders are sent (cancels still are)"
REDUCE_ONLY_MESSAGE = (
    "this connection is reduce-only: only orders that reduce a position "
    "are accepted (reduceOnly: true; on spot, a sell)"
)


class TradingRefused(Unprocessable):
    """A connection's trading state refuses an order; ``reason`` is what the order's event
    says when the refusal comes at the send (the order is canceled, not sent)."""

    reason = ""


class ConnectionHalted(TradingRefused):
    code = "trading_halted"
    reason = "the connection is halted"


class ConnectionReduceOnly(TradingRefused):
    code = "reduce_only"
    reason = "the connection is reduce-only and the order does not reduce a position"


@dataclass(frozen=True)
class TradingStateChange:
    connection: ExchangeConnection
    previous: str
    canceled_orders: int


def trading_refusal(
    *, trading_state: str, api_type: str, side: str, reduce_only: bool
) -> TradingRefused | None:
    """Why an order may not go out on a connection in this state, or None when it may."""
    if trading_state == "halted":
        return ConnectionHalted(HALTED_MESSAGE)
    if trading_state == "reduce_only" and not _reduces(
        api_type=api_type, side=side, reduce_only=reduce_only
    ):
        return ConnectionReduceOnly(
            REDUCE_ONLY_MESSAGE, fields={"reduce_only": [REDUCE_ONLY_MESSAGE]}
        )
    return None


def _reduces(*, api_type: str, side: str, reduce_only: bool) -> bool:
    return reduce_only or (api_type == "spot" and side == "sell")


def connection_trading_check(
    *, connection: ExchangeConnection, side: str, reduce_only: bool
) -> None:
    """Raise the refusal of a new order on this connection, if its state refuses it."""
    refusal = trading_refusal(
        trading_state=connection.trading_state,
        api_type=connection.api_type,
        side=side,
        reduce_only=reduce_only,
    )
    if refusal is not None:
        raise refusal


ActorLike = User | str | None


def _actor_label(actor: ActorLike) -> str:
    """A user (the API, the admin) or a label (the command line: ``cli``)."""
    return actor if isinstance(actor, str) else actor_name(actor)


def connection_trading_state_set(
    *,
    connection: ExchangeConnection,
    state: str,
    actor: ActorLike,
    cancel_open_orders: bool = False,
) -> TradingStateChange:
    """Set the state (in the sync log with its actor, every time it is asked, even when
    the state stays), then cancel the open orders when asked (halted only): the halt is
    committed first, so nothing pending is sent while the cancels run."""
    if state not in TRADING_STATES:
        raise ValidationFailed(
            f"state is one of {', '.join(TRADING_STATES)}",
            fields={"state": [f"not one of {', '.join(TRADING_STATES)}"]},
        )
    if cancel_open_orders and state != "halted":
        # a rule between two fields the API's schema cannot state: a 422, not a 400
        raise Unprocessable(
            "open orders are canceled only with a halt (state halted)",
            code="cancel_needs_halt",
            fields={"cancel_open_orders": ["only with state halted"]},
        )
    with transaction.atomic():
        locked = ExchangeConnection.objects.select_for_update().get(pk=connection.pk)
        previous = locked.trading_state
        ExchangeConnection.objects.filter(pk=connection.pk).update(trading_state=state)
        user = None if isinstance(actor, str) else actor
        sync_log_write(
            connection_id=connection.pk,
            action="trading_state_set",
            actor=_actor_label(actor),
            data=_audit(
                connection,
                user,
                {"from": previous, "to": state, "cancel_open_orders": cancel_open_orders},
            ),
        )
    canceled = 0
    if cancel_open_orders:
        canceled = sum(cancel(connection=connection, actor=user) for cancel in OPEN_ORDER_CANCELERS)
        sync_log_write(
            connection_id=connection.pk,
            action="open_orders_canceled",
            actor=_actor_label(actor),
            data=_audit(connection, user, {"count": canceled, "reason": "halted"}),
        )
    connection.refresh_from_db()
    return TradingStateChange(connection=connection, previous=previous, canceled_orders=canceled)
