"""Services of the dead-man switch (docs/dead-man-switch.md): the operator's setting per
connection, and the refresh the live session calls on its schedule.

``connection_dead_man_refresh`` is meant for a loop (the private-stream runner calls it
every window / 3): it records what happened on the connection's state and never raises
an exchange error into its caller. Kept apart from services.py (which it builds on, so
services.py cannot call it); it follows the same rules (keyword-only arguments, writes
through ``.update()``, domain names in errors and the sync log).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from connections.models import ConnectionState, ExchangeConnection
from connections.services import (
    UNSET,
    ConnectionChanges,
    Unset,
    actor_name,
    connection_connector,
    connection_update,
    sync_log_write,
)
from core.errors import Unprocessable
from exchanges import errors
from exchanges.base import DeadManState
from exchanges.registry import connector_class

# Apps above this one (orders) name the symbols a connection has orders on: a per-symbol
# switch (Binance USD-M) is armed for those. They register here at start (imports point
# one way: this app cannot import orders).
ORDER_SYMBOL_SOURCES: list[Callable[[ExchangeConnection], set[str]]] = []
# a disconnect switch (Bybit DCP) is a setting, not a countdown: it is sent again only
# this often (or when its window changed), not on every refresh
DISCONNECT_RESEND = timedelta(minutes=10)
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class DeadManOffer:
    """What a connection's exchange and api type offer."""

    kind: str | None  # countdown | disconnect | None
    min_seconds: int = 0
    max_seconds: int = 0
    per_symbol: bool = False

    @property
    def supported(self) -> bool:
        return self.kind is not None


def dead_man_offer(*, exchange: str, api_type: str) -> DeadManOffer:
    """The switch the exchange's connector declares, for this api type."""
    connector = connector_class(exchange)
    kind = connector.dead_man_switch
    if kind is None or (
        connector.dead_man_api_types and api_type not in connector.dead_man_api_types
    ):
        return DeadManOffer(kind=None)
    low, high = connector.dead_man_window_seconds
    return DeadManOffer(
        kind=kind, min_seconds=low, max_seconds=high, per_symbol=connector.dead_man_per_symbol
    )


def dead_man_check(*, exchange: str, api_type: str, seconds: int | None) -> None:
    """The operator's window against the exchange's range; None (off) always passes. A 422
    ``dead_man_not_supported`` where the exchange has none; a 422
    ``dead_man_window_out_of_range`` outside its range (the schema allows any window the
    API takes: the range is the exchange's, like the other per-exchange rules)."""
    if seconds is None:
        return
    offer = dead_man_offer(exchange=exchange, api_type=api_type)
    if not offer.supported:
        message = f"{exchange} offers no dead-man switch for {api_type}"
        raise Unprocessable(
            message, code="dead_man_not_supported", fields={"dead_man_seconds": [message]}
        )
    if not offer.min_seconds <= seconds <= offer.max_seconds:
        message = (
            f"{exchange}'s dead-man switch takes {offer.min_seconds} to {offer.max_seconds} seconds"
        )
        raise Unprocessable(
            message, code="dead_man_window_out_of_range", fields={"dead_man_seconds": [message]}
        )


def connection_dead_man_set(
    *, connection: ExchangeConnection, actor: User | None, seconds: int | None
) -> ExchangeConnection:
    """Enable (a window in seconds), change or disable (None) the switch. Disabling it
    disarms it at the exchange at once; arming waits for the live session's refresh,
    which holds the stream the switch depends on. An exchange that cannot be reached to
    disarm is recorded on the state, not raised: the setting is off either way."""
    dead_man_check(exchange=connection.exchange, api_type=connection.api_type, seconds=seconds)
    was = connection.dead_man_seconds
    with transaction.atomic():
        ExchangeConnection.objects.filter(pk=connection.pk).update(dead_man_seconds=seconds)
        data: dict[str, Any] = {"dead_man_seconds": seconds, "was": was}
        if actor is not None and actor.pk and actor.pk != connection.owner_id:
            data["for_owner"] = connection.owner.get_username()  # staff, in the admin
        sync_log_write(
            connection_id=connection.pk, action="dead_man_set", actor=actor_name(actor), data=data
        )
    connection.refresh_from_db()
    if seconds is None and was is not None:
        _disarm(connection)
    return connection


def connection_update_with_dead_man(
    *, connection: ExchangeConnection, actor: User | None, changes: ConnectionChanges
) -> ExchangeConnection:
    """The API's PATCH and the admin's change: the other fields through
    ``services.connection_update``, then ``dead_man_seconds`` (when given). The window is
    checked first, against the api type the connection will have, so a refused window
    changes nothing."""
    asked = changes.dead_man_seconds
    given = not isinstance(asked, Unset)
    seconds = asked if not isinstance(asked, Unset) else connection.dead_man_seconds
    others = replace(changes, dead_man_seconds=UNSET)
    api_type = others.api_type if others.api_type is not UNSET else connection.api_type
    dead_man_check(exchange=connection.exchange, api_type=api_type, seconds=seconds)
    if others.given() or not given:
        connection = connection_update(connection=connection, actor=actor, changes=others)
    if given and seconds != connection.dead_man_seconds:
        connection = connection_dead_man_set(connection=connection, actor=actor, seconds=seconds)
    return connection


def connection_dead_man_refresh(*, connection: ExchangeConnection) -> DeadManState:
    """Arm or refresh the connection's switch as the operator set it; the state as armed.
    Records ``dead_man_armed_until`` (or the error) on the connection's state; never raises
    an exchange error. Off, or not offered: nothing is sent."""
    offer = dead_man_offer(exchange=connection.exchange, api_type=connection.api_type)
    seconds = connection.dead_man_seconds
    if seconds is None or not offer.supported or not connection.enabled:
        return DeadManState(armed=False, kind=offer.kind or "")
    state = ConnectionState.objects.get(connection=connection)
    if offer.kind == "disconnect" and _still_set(state, seconds):
        return DeadManState(armed=True, kind="disconnect", seconds=seconds)
    symbols = _symbols(connection) if offer.per_symbol else []
    try:
        armed = _arm(
            connection,
            seconds,
            symbols,
            dropped=[s for s in state.dead_man_symbols if s not in symbols],
        )
    except errors.ExchangeError as exc:
        _record(connection, error=f"{type(exc).__name__}: {exc}")
        return DeadManState(armed=False, kind=offer.kind or "", seconds=seconds)
    _record(connection, armed=armed)
    return armed


def _arm(
    connection: ExchangeConnection, seconds: int, symbols: list[str], *, dropped: list[str]
) -> DeadManState:
    connector = connection_connector(connection=connection)
    if dropped:
        # a symbol with no orders left is disarmed, so a stale countdown cannot later
        # cancel an order placed before the next refresh names the symbol again
        connector.disarm_dead_man_switch(dropped)
    if connector.dead_man_per_symbol and not symbols:
        return DeadManState(armed=False, kind="countdown", seconds=seconds)
    return connector.arm_dead_man_switch(seconds, symbols)


def _disarm(connection: ExchangeConnection) -> None:
    state = ConnectionState.objects.get(connection=connection)
    offer = dead_man_offer(exchange=connection.exchange, api_type=connection.api_type)
    if not offer.supported or (offer.per_symbol and not state.dead_man_symbols):
        _record(connection, armed=DeadManState(armed=False, kind=offer.kind or ""))
        return
    try:
        connector = connection_connector(connection=connection)
        disarmed = connector.disarm_dead_man_switch(list(state.dead_man_symbols))
    except errors.ExchangeError as exc:
        _record(connection, error=f"disarming failed: {type(exc).__name__}: {exc}")
        return
    _record(connection, armed=disarmed)


def _still_set(state: ConnectionState, seconds: int) -> bool:
    """A disconnect switch set with this window recently, without error since."""
    return (
        state.dead_man_armed_seconds == seconds
        and not state.dead_man_error
        and state.dead_man_refreshed_at is not None
        and timezone.now() - state.dead_man_refreshed_at < DISCONNECT_RESEND
    )


def _symbols(connection: ExchangeConnection) -> list[str]:
    found: set[str] = set()
    for source in ORDER_SYMBOL_SOURCES:
        found |= source(connection)
    return sorted(found)


def _record(
    connection: ExchangeConnection, *, armed: DeadManState | None = None, error: str = ""
) -> None:
    now = timezone.now()
    changes: dict[str, Any] = {
        "dead_man_refreshed_at": now,
        "dead_man_error": error[:MAX_ERROR_CHARS],
    }
    if armed is not None:
        changes.update(
            dead_man_armed_until=_moment(armed.trigger_at_ms) if armed.armed else None,
            dead_man_armed_seconds=armed.seconds if armed.armed else None,
            dead_man_symbols=list(armed.symbols) if armed.armed else [],
        )
    ConnectionState.objects.filter(connection=connection).update(**changes)


def _moment(epoch_ms: int | None) -> datetime | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class DeadManStatus:
    """A connection's dead-man switch as set and as last armed (the API's
    ``deadManSwitch``). ``armed``: a countdown whose deadline is ahead, or a disconnect
    switch set (it has no deadline while the stream is up)."""

    enabled: bool
    seconds: int | None
    armed: bool
    armed_until: datetime | None
    supported: bool
    kind: str | None  # countdown | disconnect | None (not offered)
    min_seconds: int | None  # the exchange's range; None where not offered
    max_seconds: int | None
    last_error: str | None


def dead_man_view(connection: ExchangeConnection) -> DeadManStatus:
    """The connection's switch, from its row and its state row (no query when the state is
    selected with it)."""
    offer = dead_man_offer(exchange=connection.exchange, api_type=connection.api_type)
    state = getattr(connection, "state", None)
    enabled = connection.dead_man_seconds is not None
    armed_until = state.dead_man_armed_until if state is not None and enabled else None
    armed = (
        enabled
        and state is not None
        and (
            (armed_until is not None and armed_until > timezone.now())
            or (offer.kind == "disconnect" and state.dead_man_armed_seconds is not None)
        )
    )
    return DeadManStatus(
        enabled=enabled,
        seconds=connection.dead_man_seconds,
        armed=armed,
        armed_until=armed_until,
        supported=offer.supported,
        kind=offer.kind,
        min_seconds=offer.min_seconds if offer.supported else None,
        max_seconds=offer.max_seconds if offer.supported else None,
        last_error=(state.dead_man_error if state is not None else "") or None,
    )
