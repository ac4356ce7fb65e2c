"""What an order needs and what an account has available, per exchange's documented rules
(docs/orders.md, "Margin", lists each rule with its source).

- **Needed**: a spot buy the quote for quantity x price plus the taker fee, a spot sell the
  base quantity, a perpetual the initial margin notional / leverage plus the taker fee on the
  notional. A reduce-only perpetual order needs none (it can only shrink a position).
- **Available**: the exchange's own "available for new orders" figure where we hold it
  (every REST read, and the stream updates that carry it). Every exchange already takes the
  reserve of the orders it has acknowledged out of that figure, so only our orders it may
  not have counted yet are taken off: those not on the exchange yet (pending, submitting,
  unknown) and those sent after the figure was true (``last_sent_at`` later than it).
- Where a stream update carries only the wallet balance (Binance USD-M and BingX swap
  ``ACCOUNT_UPDATE``: wallet, cross wallet; Bybit's wallet: wallet and the spot lock), the
  available figure is derived the exchange's way: wallet minus the positions' initial
  margin, minus every open order's reserve, plus unrealized losses (profits are not
  counted: the conservative side).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet

from exchanges.symbols import parse_symbol
from orders.models import Order

IN_FLIGHT = ("pending", "submitting", "unknown")
ACKNOWLEDGED = ("open", "partially_filled")
OPEN_STATUSES = (*IN_FLIGHT, *ACKNOWLEDGED)
# a taker fee nobody documents for us: the highest of the documented ones (spot 0.1%)
UNDOCUMENTED_FEE = Decimal("0.001")


@dataclass(frozen=True)
class MarginRule:
    """One exchange and product: the taker fee the check assumes (any order may cross and
    take), whether its stream's balance update carries the available figure, and whether
    its stream tells positions at all (OrangeX's documents no position channel: its
    ledger positions are only as fresh as the last snapshot)."""

    taker_fee: Decimal
    stream_carries_available: bool
    stream_carries_positions: bool = True


# (exchange, kind) -> rule; kind is spot or linear. Sources in docs/orders.md.
RULES: dict[tuple[str, str], MarginRule] = {
    ("binance", "spot"): MarginRule(Decimal("0.001"), True),  # f: free, l: locked
    ("binance", "linear"): MarginRule(Decimal("0.0005"), False),  # wb, cw only
    ("bybit", "spot"): MarginRule(Decimal("0.001"), True),  # wallet - spot locked
    ("bybit", "linear"): MarginRule(Decimal("0.00055"), False),  # order/position IM unread
    ("okx", "spot"): MarginRule(Decimal("0.001"), True),  # availBal
    ("okx", "linear"): MarginRule(Decimal("0.0005"), True),  # availBal
    ("bingx", "spot"): MarginRule(UNDOCUMENTED_FEE, True),  # wb - lk
    ("bingx", "linear"): MarginRule(UNDOCUMENTED_FEE, False),  # wb, cw only
    ("pionex", "spot"): MarginRule(UNDOCUMENTED_FEE, True),  # free, frozen
    ("pionex", "linear"): MarginRule(UNDOCUMENTED_FEE, True),  # CROSS free, frozen
    ("orangex", "linear"): MarginRule(
        UNDOCUMENTED_FEE,
        True,  # available, freeze;
        stream_carries_positions=False,
    ),  # no position topic
}


def rule_of(exchange: str, kind: str) -> MarginRule:
    """The rule of an exchange's product (``spot`` or ``linear``); an unlisted one assumes
    the highest fee and no available figure on the stream."""
    return RULES.get((exchange, kind), MarginRule(UNDOCUMENTED_FEE, False))


def rule_for(exchange: str, symbol: str) -> MarginRule:
    return rule_of(exchange, "linear" if parse_symbol(symbol).is_perpetual else "spot")


@dataclass(frozen=True)
class Need:
    asset: str
    amount: Decimal


def order_need(
    *,
    symbol: str,
    side: str,
    quantity: Decimal,
    price: Decimal,
    leverage: int | Decimal | None,
    fee: Decimal,
) -> Need:
    """What an order of ``quantity`` at ``price`` holds while it rests (reduce-only aside)."""
    market = parse_symbol(symbol)
    notional = quantity * price
    if market.is_perpetual:
        return Need(market.quote, notional / Decimal(leverage or 1) + notional * fee)
    if side == "sell":
        return Need(market.base, quantity)
    return Need(market.quote, notional * (1 + fee))


def open_order_need(
    order: Order, *, exchange: str, price_of: Callable[[str, str], Decimal | None]
) -> Need | None:
    """What the unfilled rest of one of our orders holds; None when nothing (reduce-only,
    fully filled, or a market order with no price to value it at)."""
    remaining = order.quantity - order.filled_quantity
    perpetual = parse_symbol(order.symbol).is_perpetual
    if remaining <= 0 or (perpetual and order.reduce_only):
        return None
    price = order.price or price_of(order.symbol, order.side)
    if price is None:
        return None
    return order_need(
        symbol=order.symbol,
        side=order.side,
        quantity=remaining,
        price=price,
        leverage=order.leverage,
        fee=rule_for(exchange, order.symbol).taker_fee,
    )


def not_yet_counted(order: Order, *, figure_at: datetime | None) -> bool:
    """Whether the exchange's available figure (true at ``figure_at``) may not include this
    order's reserve yet: it is not on the exchange yet, or it was sent after the figure."""
    if order.status in IN_FLIGHT:
        return True
    return figure_at is None or order.last_sent_at is None or order.last_sent_at > figure_at


def orders_to_count(
    orders: QuerySet[Order], *, figure_at: datetime | None, derived: bool
) -> list[Order]:
    """The open orders whose reserve may be missing from a figure true at ``figure_at``, in
    one query: every open one for a derived figure, else
    those not on the exchange yet and those sent after it (``not_yet_counted``). Whole rows:
    deferring fields costs a query per row (the related manager reads ``connection_id``)."""
    open_orders = orders.filter(status__in=OPEN_STATUSES)
    if not derived and figure_at is not None:
        open_orders = open_orders.filter(
            Q(status__in=IN_FLIGHT) | Q(last_sent_at__isnull=True) | Q(last_sent_at__gt=figure_at)
        )
    return list(open_orders.order_by())


def reserved(
    orders: Iterable[Order],
    *,
    asset: str,
    exchange: str,
    price_of: Callable[[str, str], Decimal | None],
    counts: Callable[[Order], bool],
) -> Decimal:
    """The sum, in ``asset``, of what the orders ``counts`` selects hold."""
    total = Decimal("0")
    for order in orders:
        if not counts(order):
            continue
        need = open_order_need(order, exchange=exchange, price_of=price_of)
        if need is not None and need.asset == asset:
            total += need.amount
    return total


@dataclass(frozen=True)
class PositionMargin:
    quantity: Decimal
    entry_price: Decimal | None
    leverage: Decimal | None
    unrealized_pnl: Decimal | None


def positions_hold(positions: Iterable[PositionMargin]) -> Decimal:
    """The positions' initial margin (|quantity| x entry / leverage, leverage 1 when not
    known) less their unrealized losses (profits not counted)."""
    held, pnl = Decimal("0"), Decimal("0")
    for position in positions:
        if position.quantity and position.entry_price:
            held += abs(position.quantity) * position.entry_price / (position.leverage or 1)
        pnl += position.unrealized_pnl or 0
    return held - min(pnl, Decimal("0"))
