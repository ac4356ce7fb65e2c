"""The order, fill and wallet fields of Binance's user-data events (``executionReport``,
``ORDER_TRADE_UPDATE``'s order object, ``ACCOUNT_UPDATE``'s balances), which BingX's streams
copy key for key. Each exchange module passes what differs: the symbol, which field holds
the client id, how the average price is told, the fee's sign and the trade id's key.

docs/streams.md "Binance" and "BingX" have the samples and their sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from exchanges.streams.base import (
    BalanceUpdate,
    FillUpdate,
    MessageRefused,
    OrderUpdate,
    decimal,
    decimal_or_none,
    int_or_none,
    items,
    positive_or_none,
    required,
    side_of,
    status_of,
    text_or_none,
)


def execution_order(
    raw: Mapping[str, Any],
    *,
    exchange: str,
    symbol: str,
    status_map: Mapping[str, str],
    client_id: str | None,
    average_price: Decimal | None,
    event_time_ms: int | None,
) -> OrderUpdate:
    """The order as one execution event leaves it (``T`` its time, else the event's)."""
    raw_status = str(required(raw, "X"))
    return OrderUpdate(
        exchange=exchange,
        symbol=symbol,
        exchange_order_id=str(required(raw, "i")),
        client_order_id=client_id,
        status=status_of(status_map, raw_status, exchange),
        raw_status=raw_status,
        side=side_of(required(raw, "S")),
        quantity=decimal_or_none(raw.get("q"), "q"),
        filled_quantity=decimal(raw.get("z") or "0", "z"),
        average_price=average_price,
        price=positive_or_none(raw.get("p"), "p"),
        updated_at_ms=int_or_none(raw.get("T")) or event_time_ms,
    )


def trade_update_order(
    event: Mapping[str, Any],
    *,
    exchange: str,
    symbol_of: Callable[[str], str],
    status_map: Mapping[str, str],
    time_key: str,
) -> tuple[Mapping[str, Any], OrderUpdate]:
    """``ORDER_TRADE_UPDATE``: its order object ``o`` (the fill's fields are there too) and
    the order it leaves; the event's ``time_key`` dates it where the order has no ``T``."""
    raw = required(event, "o")
    if not isinstance(raw, Mapping):
        raise MessageRefused("ORDER_TRADE_UPDATE without an order", code="bad_field")
    order = execution_order(
        raw,
        exchange=exchange,
        symbol=symbol_of(str(required(raw, "s"))),
        status_map=status_map,
        client_id=text_or_none(raw.get("c")),
        average_price=positive_or_none(raw.get("ap"), "ap"),
        event_time_ms=int_or_none(event.get(time_key)),
    )
    return raw, order


def quote_average(raw: Mapping[str, Any]) -> Decimal | None:
    """Spot tells the cumulative quote (``Z``), not the average: average = Z / z."""
    filled = decimal(raw.get("z") or "0", "z")
    quote = decimal_or_none(raw.get("Z"), "Z")
    return quote / filled if quote is not None and filled > 0 else None


def execution_fill(
    raw: Mapping[str, Any],
    *,
    exchange: str,
    symbol: str,
    client_id: str | None,
    fee: Decimal,
    trade_key: str = "t",
) -> FillUpdate:
    """The fill an execution event reports (last quantity ``l`` at ``L``)."""
    maker = raw.get("m")
    return FillUpdate(
        exchange=exchange,
        trade_id=str(required(raw, trade_key)),
        exchange_order_id=str(required(raw, "i")),
        client_order_id=client_id,
        symbol=symbol,
        side=side_of(required(raw, "S")),
        price=decimal(required(raw, "L"), "L"),
        quantity=decimal(required(raw, "l"), "l"),
        fee=fee,
        fee_asset=text_or_none(raw.get("N")),
        liquidity=None if maker is None else ("maker" if maker is True else "taker"),
        time_ms=int_or_none(raw.get("T")),
    )


def wallet_balances(
    account: Mapping[str, Any], *, exchange: str, time_ms: int | None
) -> list[BalanceUpdate]:
    """``ACCOUNT_UPDATE``'s balances: the wallet balance (``wb``) is the total; free and
    locked are not told."""
    return [
        BalanceUpdate(
            exchange=exchange,
            asset=str(required(raw, "a")),
            free=None,
            locked=None,
            total=decimal(required(raw, "wb"), "wb"),
            time_ms=time_ms,
        )
        for raw in items(account.get("B", []), "balances")
    ]
