"""The paper exchange's matching engine and accounts, shared by every protocol adapter.

INTERFACE CONTRACT (adapters in ``paper/protocols/<exchange>.py`` code against it;
the bodies are filled in by the engine's author). Everything is synchronous and runs on the
aiohttp event loop thread, so no locking is needed. Symbols here are unified
(``BTC/USDT`` spot, ``BTC/USDT:USDT`` linear perpetual); quantities are base currency;
money is ``Decimal``.

Matching rules: no spread and no fees. A market order (or a limit order that crosses the
current price) fills at once, in full, at the current price; a resting limit order fills at
its own limit price when the price crosses it (control or ``--walk``) or when
``/_paper/fill`` fills it. IOC/FOK limits that cannot fill at once expire; a POST_ONLY that
would take is refused. Perpetuals net one position per symbol (one-way mode); margin is
notional / leverage, taken from the quote asset (USDT) into ``locked``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from paper import instruments as universe
from paper.deadman import DeadManSwitches

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]
DuplicateScope = Literal["open", "all", "none"]  # where a repeated client order id is refused

ERROR_KINDS = (
    "insufficient_funds",
    "duplicate_client_order_id",
    "order_not_found",
    "unknown_symbol",
    "invalid_quantity",
    "invalid_price",
    "reduce_only_rejected",
    "post_only_would_take",
    "permission_denied",
    "order_not_cancelable",
)

DEFAULT_LEVERAGE = 10
MAX_LEVERAGE = 125
DEFAULT_DUPLICATE_SCOPE: DuplicateScope = "open"  # for an exchange nobody registered
SIDES = ("buy", "sell")
TYPES = ("market", "limit")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "POST_ONLY")
ZERO = Decimal("0")
_FINEST = Decimal("1e-18")


class PaperError(Exception):
    """A business refusal. ``kind`` is one of ERROR_KINDS; adapters turn it into the
    exchange's own error code and envelope."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message or kind


@dataclass(frozen=True)
class PaperInstrument:
    symbol: str  # unified
    base: str
    quote: str
    kind: Literal["spot", "linear"]
    tick_size: Decimal
    lot_size: Decimal  # base currency
    min_quantity: Decimal  # base currency
    min_notional: Decimal
    contract_value: Decimal  # base per contract, for exchanges that count contracts (OKX)


@dataclass(frozen=True)
class PaperFill:
    """One execution of an order. ``trade_id`` is unique per exchange (so per account);
    the paper engine charges no fees, so ``fee`` is 0 in ``fee_asset`` (what the order
    receives: the base asset of a spot buy, the quote asset otherwise)."""

    trade_id: str
    order_id: str
    quantity: Decimal  # base currency
    price: Decimal
    fee: Decimal
    fee_asset: str
    maker: bool  # resting when it filled (taker: it crossed on arrival)
    time_ms: int


@dataclass
class PaperOrder:
    exchange: str
    api_key: str
    order_id: str  # numeric string, unique per exchange
    client_order_id: str | None
    symbol: str  # unified
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    time_in_force: str  # GTC | IOC | FOK | POST_ONLY
    quantity: Decimal  # base currency
    price: Decimal | None
    reduce_only: bool = False
    filled_quantity: Decimal = Decimal("0")
    average_price: Decimal | None = None
    status: OrderStatus = "new"
    canceled_by_user: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    fills: list[PaperFill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


@dataclass
class PaperPosition:
    symbol: str  # unified linear symbol
    quantity: Decimal  # signed base quantity: > 0 long, < 0 short
    entry_price: Decimal
    leverage: int
    mark_price: Decimal
    unrealized_pnl: Decimal


@dataclass
class PaperAccount:
    exchange: str
    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)
    permissions: list[str] = field(default_factory=lambda: ["read", "trade"])
    # asset -> (free, locked); perpetual margin is taken from the quote asset (USDT)
    balances: dict[str, list[Decimal]] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)  # unified symbol -> leverage
    hedge_mode: bool = False
    # what the key-info endpoints report: the IPs the key is bound to (empty: none) and
    # when the key expires (epoch ms; None: never)
    ip_whitelist: list[str] = field(default_factory=list)
    key_expires_at_ms: int | None = None


EventKind = Literal["accepted", "fill", "closed", "funded"]


@dataclass(frozen=True)
class EngineEvent:
    """What ``Engine.listeners`` hear (the private streams, ``paper/streams/hub.py``).

    ``accepted``: a new order was stored; ``fill``: ``fill`` executed part or all of it;
    ``closed``: it left the book (filled, canceled, expired); ``funded``: the control API
    set balances (``deltas``: asset -> change of the free amount). ``order`` is a copy taken
    when the event happened, so later changes do not rewrite it."""

    kind: EventKind
    exchange: str
    api_key: str
    order: PaperOrder | None = None
    fill: PaperFill | None = None
    deltas: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class OrderStats:
    """Per exchange, for /_paper/stats."""

    orders_accepted: int = 0
    duplicates_refused: int = 0
    orders_by_client_id: dict[str, int] = field(default_factory=dict)


@dataclass
class _Position:
    quantity: Decimal  # signed base quantity
    entry_price: Decimal
    margin: Decimal  # quote locked for this position


@dataclass
class _Lock:
    """Funds an open order holds: ``per_unit`` of ``asset`` per base unit still open."""

    asset: str
    per_unit: Decimal
    left: Decimal


def plain(value: Decimal) -> Decimal:
    """The same number without exponent notation (Decimal('60000') / 10 is '6E+3') and at
    most 18 decimal places, so str() of anything the engine hands out is wire-safe."""
    if value == 0:
        return ZERO  # Decimal("0E-10") would print as "0E-10"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        return value.quantize(Decimal(1))
    if isinstance(exponent, int) and exponent < -18:
        return value.quantize(_FINEST)
    return value


def _crosses(side: str, limit: Decimal, market: Decimal) -> bool:
    return limit >= market if side == "buy" else limit <= market


def _direction(side: str) -> int:
    return 1 if side == "buy" else -1


class Engine:
    """Accounts, instruments, prices and orders for all six exchanges.

    ``accounts_path``: the JSON file accounts persist in (None keeps them in memory only,
    as unit tests want). ``clock`` returns wall-clock seconds.
    """

    def __init__(
        self,
        accounts_path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts_path = Path(accounts_path) if accounts_path else None
        self._clock = clock
        self._scopes: dict[str, DuplicateScope] = {}
        self._instruments: dict[str, dict[str, PaperInstrument]] = {}
        self._prices: dict[str, dict[str, Decimal]] = {}
        self._accounts: dict[tuple[str, str], PaperAccount] = {}
        self._positions: dict[tuple[str, str], dict[str, _Position]] = {}
        self._stats: dict[str, OrderStats] = {}
        self._last_id: dict[str, int] = {}
        self._records: dict[tuple[str, str], str] = {}  # the accounts file, per account
        # called synchronously with every EngineEvent (the private streams listen here)
        self.listeners: list[Callable[[EngineEvent], None]] = []
        # the accounts' dead-man switches (paper/deadman.py); the adapters arm them
        self.dead_man = DeadManSwitches(self, clock)
        # ids start at the wall clock in microseconds, so they keep increasing across restarts
        self._id_base = self.now_ms() * 1000
        self._clear_orders()
        self._load()

    def _clear_orders(self) -> None:
        self._orders: dict[str, dict[str, PaperOrder]] = {}
        self._account_orders: dict[tuple[str, str], list[PaperOrder]] = {}
        self._client_orders: dict[tuple[str, str, str], list[PaperOrder]] = {}
        self._resting: dict[str, dict[str, PaperOrder]] = {}
        self._locks: dict[tuple[str, str], _Lock] = {}

    def register_exchange(self, exchange: str, *, duplicate_scope: DuplicateScope) -> None:
        """Called once per adapter at start-up."""
        if duplicate_scope not in ("open", "all", "none"):
            raise ValueError(f"bad duplicate scope {duplicate_scope!r}")
        self._scopes[exchange] = duplicate_scope

    def duplicate_scope(self, exchange: str) -> DuplicateScope:
        return self._scopes.get(exchange, DEFAULT_DUPLICATE_SCOPE)

    # accounts -----------------------------------------------------------------------
    def account(self, exchange: str, api_key: str) -> PaperAccount | None:
        return self._accounts.get((exchange, api_key))

    def accounts(self, exchange: str | None = None) -> list[PaperAccount]:
        return [a for a in self._accounts.values() if exchange in (None, a.exchange)]

    def upsert_account(
        self,
        exchange: str,
        *,
        api_key: str,
        api_secret: str,
        passphrase: str = "",
        balances: dict[str, Decimal] | None = None,
        permissions: list[str] | None = None,
    ) -> tuple[PaperAccount, bool]:
        """Returns (account, created). Given balances set those assets' free amounts."""
        amounts = {asset: plain(Decimal(value)) for asset, value in (balances or {}).items()}
        if any(not amount.is_finite() or amount < 0 for amount in amounts.values()):
            raise ValueError("balances must be finite and not negative")
        account = self._accounts.get((exchange, api_key))
        created = account is None
        if account is None:
            account = PaperAccount(exchange=exchange, api_key=api_key, api_secret=api_secret)
            self._accounts[(exchange, api_key)] = account
        account.api_secret = api_secret
        account.passphrase = passphrase
        if permissions is not None:
            account.permissions = list(permissions)
        deltas = {}
        for asset, amount in amounts.items():
            entry = account.balances.setdefault(asset, [ZERO, ZERO])
            if amount != entry[0]:
                deltas[asset] = plain(amount - entry[0])
            entry[0] = amount
        self._save(account)
        if deltas and not created:
            self._notify("funded", account=account, deltas=deltas)
        return account, created

    def set_hedge_mode(self, account: PaperAccount, hedge_mode: bool) -> None:
        account.hedge_mode = hedge_mode
        self._save(account)

    def set_key_restrictions(
        self, account: PaperAccount, *, ip_whitelist: list[str], expires_at_ms: int | None
    ) -> None:
        """What the key-info endpoints report; the paper never refuses a caller's IP."""
        account.ip_whitelist = list(ip_whitelist)
        account.key_expires_at_ms = expires_at_ms
        self._save(account)

    # market data --------------------------------------------------------------------
    def instruments(self, exchange: str) -> list[PaperInstrument]:
        return list(self._instrument_map(exchange).values())

    def instrument(self, exchange: str, symbol: str) -> PaperInstrument:
        """Raises PaperError('unknown_symbol')."""
        found = self._instrument_map(exchange).get(symbol)
        if found is None:
            raise PaperError("unknown_symbol", f"unknown symbol {symbol!r}")
        return found

    def price(self, exchange: str, symbol: str) -> Decimal:
        self.instrument(exchange, symbol)
        return self._price_map(exchange)[symbol]

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def set_price(self, exchange: str, symbol: str, price: Decimal) -> list[PaperOrder]:
        """Move one price; resting orders it crosses fill. Returns the orders filled."""
        self.instrument(exchange, symbol)
        if not price.is_finite() or price <= 0:
            raise PaperError("invalid_price", "price must be positive")
        self._price_map(exchange)[symbol] = plain(price)
        return self._match_resting(exchange, symbol)

    def walk_prices(self, rng: random.Random, step: float = 0.0005) -> list[PaperOrder]:
        """One random-walk step: each coin moves by the same factor on every exchange (spot
        and perpetual alike), rounded to the tick. Returns the resting orders it filled."""
        factors = {
            base: Decimal(str(round(1 + rng.gauss(0, step), 8))) for base in universe.START_PRICES
        }
        filled: list[PaperOrder] = []
        for exchange in sorted(set(self._scopes) | set(self._prices)):
            prices = self._price_map(exchange)
            for instrument in self.instruments(exchange):
                moved = (prices[instrument.symbol] * factors[instrument.base]).quantize(
                    instrument.tick_size
                )
                if moved > 0:
                    prices[instrument.symbol] = plain(moved)
            filled += self._match_resting(exchange)
        return filled

    def _instrument_map(self, exchange: str) -> dict[str, PaperInstrument]:
        if exchange not in self._instruments:
            self._instruments[exchange] = {
                spec.symbol: PaperInstrument(**vars(spec)) for spec in universe.specs_for(exchange)
            }
        return self._instruments[exchange]

    def _price_map(self, exchange: str) -> dict[str, Decimal]:
        if exchange not in self._prices:
            self._prices[exchange] = {
                symbol: universe.start_price(symbol) for symbol in self._instrument_map(exchange)
            }
        return self._prices[exchange]

    # trading ------------------------------------------------------------------------
    def place_order(
        self,
        exchange: str,
        account: PaperAccount,
        *,
        symbol: str,
        side: str,
        type: str,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        time_in_force: str = "GTC",
        client_order_id: str | None = None,
        reduce_only: bool = False,
        quote_quantity: Decimal | None = None,
    ) -> PaperOrder:
        """Validate, store and match. Market orders fill at once at the current price;
        limit orders rest until the price crosses (or /_paper/fill). ``quote_quantity`` is for
        spot market buys sized in quote (Pionex, BingX): quantity = quote / price.
        Counts the order under its client id for /_paper/stats (also when refused as a
        duplicate). Raises PaperError; ValueError for a side, type or time in force outside
        SIDES, TYPES, TIME_IN_FORCE (the adapter maps the wire's names)."""
        if client_order_id:
            counts = self.order_stats(exchange).orders_by_client_id
            counts[client_order_id] = counts.get(client_order_id, 0) + 1
        _check_choices(side, type, time_in_force)
        if "trade" not in account.permissions:
            raise PaperError("permission_denied", "the key has no trade permission")
        instrument = self.instrument(exchange, symbol)
        self._check_duplicate(exchange, account, client_order_id)
        market = self._price_map(exchange)[symbol]
        limit = _checked_price(instrument, type, price)
        qty = _checked_quantity(instrument, type, side, quantity, quote_quantity, market)
        if not reduce_only and qty * (limit or market) < instrument.min_notional:
            raise PaperError(
                "invalid_quantity", f"order value is below the minimum of {instrument.min_notional}"
            )
        takes = limit is None or _crosses(side, limit, market)
        if takes and time_in_force == "POST_ONLY":
            raise PaperError("post_only_would_take", "a post-only order would take liquidity")
        if reduce_only:
            self._check_reduce_only(account, instrument, side, qty)
        lock = self._lock_for(account, instrument, side, qty, limit or market, reduce_only)
        _check_funds(account, *lock)
        order = self._store(
            exchange,
            account,
            symbol=symbol,
            side=side,
            type=type,
            qty=qty,
            price=limit,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
            reduce_only=reduce_only,
        )
        self._hold(order, account, lock)
        if takes:
            self._fill(order, order.remaining, market, maker=False)
        elif time_in_force in ("IOC", "FOK"):
            self._close(order, "expired")
        else:
            self._resting.setdefault(exchange, {})[order.order_id] = order
        return order

    def cancel_order(
        self,
        exchange: str,
        account: PaperAccount,
        *,
        symbol: str | None = None,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> PaperOrder:
        """Raises PaperError('order_not_found') or ('order_not_cancelable') if closed."""
        order = self.get_order(
            exchange, account, order_id=order_id, client_order_id=client_order_id
        )
        if order is None or (symbol is not None and order.symbol != symbol):
            raise PaperError("order_not_found", "no such order")
        if not order.is_open:
            raise PaperError("order_not_cancelable", f"the order is already {order.status}")
        order.canceled_by_user = True
        self._close(order, "canceled")
        return order

    def cancel_all(
        self, exchange: str, account: PaperAccount, symbol: str | None = None
    ) -> list[PaperOrder]:
        canceled = self.open_orders(exchange, account, symbol)
        for order in canceled:
            order.canceled_by_user = True
            self._close(order, "canceled")
        return canceled

    def get_order(
        self,
        exchange: str,
        account: PaperAccount,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> PaperOrder | None:
        """By client id: the newest order with that id."""
        if order_id is not None:
            order = self._orders.get(exchange, {}).get(order_id)
            if order is None or order.api_key != account.api_key:
                return None
            if client_order_id is not None and order.client_order_id != client_order_id:
                return None
            return order
        if client_order_id:
            found = self._client_orders.get((exchange, account.api_key, client_order_id))
            return found[-1] if found else None
        return None

    def open_orders(
        self, exchange: str, account: PaperAccount, symbol: str | None = None
    ) -> list[PaperOrder]:
        """Oldest first."""
        return [
            order
            for order in self._account_orders.get((exchange, account.api_key), [])
            if order.is_open and symbol in (None, order.symbol)
        ]

    def order_history(
        self,
        exchange: str,
        account: PaperAccount,
        symbol: str | None = None,
        since_ms: int | None = None,
    ) -> list[PaperOrder]:
        """Every order of the account (open and closed), newest first."""
        orders = self._account_orders.get((exchange, account.api_key), [])
        return [
            order
            for order in reversed(orders)
            if symbol in (None, order.symbol) and (since_ms is None or order.created_ms >= since_ms)
        ]

    def account_fills(
        self,
        exchange: str,
        account: PaperAccount,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[tuple[PaperOrder, PaperFill]]:
        """Every fill of the account's orders (the trade history the REST adapters list),
        newest first, with its order; ``symbol`` unified, times inclusive."""
        found = [
            (order, fill)
            for order in self._account_orders.get((exchange, account.api_key), [])
            if symbol in (None, order.symbol)
            for fill in order.fills
            if (since_ms is None or fill.time_ms >= since_ms)
            and (until_ms is None or fill.time_ms <= until_ms)
        ]
        found.sort(key=lambda pair: (pair[1].time_ms, int(pair[1].trade_id)), reverse=True)
        return found

    def balances(self, exchange: str, account: PaperAccount) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked)."""
        return {asset: (free, locked) for asset, (free, locked) in account.balances.items()}

    def positions(self, exchange: str, account: PaperAccount) -> list[PaperPosition]:
        result = []
        for symbol, held in self._positions.get((exchange, account.api_key), {}).items():
            mark = self._price_map(exchange)[symbol]
            result.append(
                PaperPosition(
                    symbol=symbol,
                    quantity=held.quantity,
                    entry_price=held.entry_price,
                    leverage=self.leverage(account, symbol),
                    mark_price=mark,
                    unrealized_pnl=plain(held.quantity * (mark - held.entry_price)),
                )
            )
        return result

    def set_leverage(
        self, exchange: str, account: PaperAccount, symbol: str, leverage: int
    ) -> None:
        """Raises PaperError('unknown_symbol') for a non-perpetual; ValueError outside
        1..MAX_LEVERAGE (adapters check the range and answer with their own code)."""
        if self.instrument(exchange, symbol).kind != "linear":
            raise PaperError("unknown_symbol", f"{symbol} is not a perpetual")
        if isinstance(leverage, bool) or not 1 <= int(leverage) <= MAX_LEVERAGE:
            raise ValueError(f"leverage must be 1..{MAX_LEVERAGE}")
        account.leverage[symbol] = int(leverage)
        self._save(account)

    def leverage(self, account: PaperAccount, symbol: str) -> int:
        return account.leverage.get(symbol, DEFAULT_LEVERAGE)

    # control (/_paper/fill, /_paper/reset, /_paper/stats) -----------------------------
    def fill(
        self,
        exchange: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
        quantity: Decimal | None = None,
    ) -> PaperOrder:
        """Fill an open order (of any account) at its limit price; all of it unless
        ``quantity`` is less than what remains."""
        order = self._find_any(exchange, order_id, client_order_id)
        if order is None:
            raise PaperError("order_not_found", "no such order")
        if not order.is_open:
            raise PaperError("order_not_cancelable", f"the order is already {order.status}")
        amount = order.remaining if quantity is None else plain(quantity)
        if not amount.is_finite() or amount <= 0 or amount > order.remaining:
            raise PaperError(
                "invalid_quantity", f"quantity must be above 0 and at most {order.remaining}"
            )
        self._fill(
            order,
            amount,
            order.price or self._price_map(exchange)[order.symbol],
            maker=order.price is not None,
        )
        return order

    def order_stats(self, exchange: str) -> OrderStats:
        return self._stats.setdefault(exchange, OrderStats())

    def reset(self) -> None:
        """Drop every order and position (their funds go back to free), restore the start
        prices and zero the order statistics. Accounts and free balances stay."""
        for (exchange, order_id), lock in list(self._locks.items()):
            order = self._orders[exchange][order_id]
            self._release(self._accounts[(exchange, order.api_key)], lock, lock.left)
        for key, held in self._positions.items():
            account = self._accounts[key]
            for symbol, position in held.items():
                quote = self.instrument(account.exchange, symbol).quote
                _move(account, quote, position.margin, from_free=False)
        self._positions = {}
        self._clear_orders()
        self._prices = {}
        self._stats = {}
        self._save()

    # internals: validation ------------------------------------------------------------
    def _check_duplicate(
        self, exchange: str, account: PaperAccount, client_order_id: str | None
    ) -> None:
        if not client_order_id:
            return
        scope = self.duplicate_scope(exchange)
        earlier = self._client_orders.get((exchange, account.api_key, client_order_id), [])
        if (scope == "all" and earlier) or (scope == "open" and any(o.is_open for o in earlier)):
            self.order_stats(exchange).duplicates_refused += 1
            raise PaperError(
                "duplicate_client_order_id", f"client order id {client_order_id!r} is already used"
            )

    def _closable(self, account: PaperAccount, symbol: str, side: str) -> Decimal:
        """How much of the position an order on ``side`` would reduce."""
        held = self._positions.get((account.exchange, account.api_key), {}).get(symbol)
        if held is None or held.quantity * _direction(side) >= 0:
            return ZERO
        return abs(held.quantity)

    def _check_reduce_only(
        self, account: PaperAccount, instrument: PaperInstrument, side: str, qty: Decimal
    ) -> None:
        if instrument.kind != "linear":
            raise PaperError("reduce_only_rejected", "reduce-only applies to perpetuals")
        if qty > self._closable(account, instrument.symbol, side):
            raise PaperError(
                "reduce_only_rejected", "a reduce-only order would open or increase a position"
            )

    def _lock_for(
        self,
        account: PaperAccount,
        instrument: PaperInstrument,
        side: str,
        qty: Decimal,
        price: Decimal,
        reduce_only: bool,
    ) -> tuple[str, Decimal]:
        """(asset, amount) the order must hold: spot buys the quote, spot sells the base,
        perpetuals the margin of the part that opens or increases a position."""
        if instrument.kind == "spot":
            return (instrument.quote, qty * price) if side == "buy" else (instrument.base, qty)
        if reduce_only:
            return instrument.quote, ZERO
        opening = qty - min(qty, self._closable(account, instrument.symbol, side))
        return instrument.quote, opening * price / self.leverage(account, instrument.symbol)

    # internals: order book keeping ----------------------------------------------------
    def _next_order_id(self, exchange: str) -> str:
        self._last_id[exchange] = max(self._last_id.get(exchange, 0), self._id_base) + 1
        return str(self._last_id[exchange])

    def _next_trade_id(self, exchange: str) -> str:
        key = f"{exchange}/trades"
        self._last_id[key] = max(self._last_id.get(key, 0), self._id_base) + 1
        return str(self._last_id[key])

    def _notify(
        self,
        kind: EventKind,
        order: PaperOrder | None = None,
        *,
        account: PaperAccount | None = None,
        fill: PaperFill | None = None,
        deltas: dict[str, Decimal] | None = None,
    ) -> None:
        if not self.listeners:
            return
        snapshot = replace(order, fills=list(order.fills)) if order is not None else None
        owner = account or self._accounts[(order.exchange, order.api_key)]  # type: ignore[union-attr]
        event = EngineEvent(
            kind=kind,
            exchange=owner.exchange,
            api_key=owner.api_key,
            order=snapshot,
            fill=fill,
            deltas=dict(deltas or {}),
        )
        for listener in list(self.listeners):
            listener(event)

    def _store(
        self,
        exchange: str,
        account: PaperAccount,
        *,
        symbol: str,
        side: str,
        type: str,
        qty: Decimal,
        price: Decimal | None,
        time_in_force: str,
        client_order_id: str | None,
        reduce_only: bool,
    ) -> PaperOrder:
        now = self.now_ms()
        order = PaperOrder(
            exchange=exchange,
            api_key=account.api_key,
            order_id=self._next_order_id(exchange),
            client_order_id=client_order_id or None,
            symbol=symbol,
            side=side,  # type: ignore[arg-type]
            type=type,  # type: ignore[arg-type]
            time_in_force=time_in_force,
            quantity=qty,
            price=price,
            reduce_only=reduce_only,
            created_ms=now,
            updated_ms=now,
        )
        self._orders.setdefault(exchange, {})[order.order_id] = order
        self._account_orders.setdefault((exchange, account.api_key), []).append(order)
        if order.client_order_id:
            key = (exchange, account.api_key, order.client_order_id)
            self._client_orders.setdefault(key, []).append(order)
        self.order_stats(exchange).orders_accepted += 1
        self._notify("accepted", order)
        return order

    def _find_any(
        self, exchange: str, order_id: str | None, client_order_id: str | None
    ) -> PaperOrder | None:
        orders = self._orders.get(exchange, {})
        if order_id is not None:
            return orders.get(order_id)
        for order in reversed(orders.values()):
            if client_order_id and order.client_order_id == client_order_id:
                return order
        return None

    def _hold(self, order: PaperOrder, account: PaperAccount, lock: tuple[str, Decimal]) -> None:
        asset, amount = lock
        amount = plain(amount)
        if amount > 0:
            _move(account, asset, amount, from_free=True)
            self._locks[(order.exchange, order.order_id)] = _Lock(
                asset=asset, per_unit=amount / order.quantity, left=amount
            )

    def _release(self, account: PaperAccount, lock: _Lock, amount: Decimal) -> None:
        amount = plain(min(amount, lock.left))
        lock.left -= amount
        _move(account, lock.asset, amount, from_free=False)

    def _close(self, order: PaperOrder, status: OrderStatus) -> None:
        order.status = status
        order.updated_ms = self.now_ms()
        self._resting.get(order.exchange, {}).pop(order.order_id, None)
        lock = self._locks.pop((order.exchange, order.order_id), None)
        if lock is not None:
            self._release(self._accounts[(order.exchange, order.api_key)], lock, lock.left)
        self._notify("closed", order)

    # internals: fills -----------------------------------------------------------------
    def _match_resting(self, exchange: str, symbol: str | None = None) -> list[PaperOrder]:
        prices = self._price_map(exchange)
        filled = []
        for order in list(self._resting.get(exchange, {}).values()):
            if symbol not in (None, order.symbol) or order.price is None:
                continue
            if order.is_open and _crosses(order.side, order.price, prices[order.symbol]):
                self._fill(order, order.remaining, order.price, maker=True)
                filled.append(order)
        return filled

    def _fill(self, order: PaperOrder, quantity: Decimal, price: Decimal, *, maker: bool) -> None:
        account = self._accounts[(order.exchange, order.api_key)]
        instrument = self.instrument(order.exchange, order.symbol)
        if order.reduce_only:
            quantity = min(quantity, self._closable(account, order.symbol, order.side))
        if quantity > 0:
            lock = self._locks.get((order.exchange, order.order_id))
            if lock is not None:
                self._release(account, lock, lock.per_unit * quantity)
            if instrument.kind == "spot":
                _settle_spot(account, instrument, order.side, quantity, price)
            else:
                self._settle_linear(account, instrument, order.side, quantity, price)
            _record_fill(order, quantity, price, self.now_ms())
            fill = PaperFill(
                trade_id=self._next_trade_id(order.exchange),
                order_id=order.order_id,
                quantity=plain(quantity),
                price=price,
                fee=ZERO,
                fee_asset=instrument.base
                if instrument.kind == "spot" and order.side == "buy"
                else instrument.quote,
                maker=maker,
                time_ms=order.updated_ms,
            )
            order.fills.append(fill)
            self._notify("fill", order, fill=fill)
        if order.remaining == 0:
            self._close(order, "filled")
        elif order.reduce_only and self._closable(account, order.symbol, order.side) == 0:
            self._close(order, "expired")  # nothing left to reduce
        self._save(account)

    def _settle_linear(
        self,
        account: PaperAccount,
        instrument: PaperInstrument,
        side: str,
        quantity: Decimal,
        price: Decimal,
    ) -> None:
        book = self._positions.setdefault((account.exchange, account.api_key), {})
        held = book.get(instrument.symbol) or _Position(ZERO, ZERO, ZERO)
        direction = _direction(side)
        closing = min(quantity, self._closable(account, instrument.symbol, side))
        if closing > 0:
            size = abs(held.quantity)
            freed = held.margin if closing == size else plain(held.margin * closing / size)
            pnl = plain(closing * (price - held.entry_price) * (-direction))
            _move(account, instrument.quote, freed, from_free=False)
            quote = account.balances[instrument.quote]
            quote[0] = plain(quote[0] + pnl)
            held.margin -= freed
            held.quantity += closing * direction
        opening = quantity - closing
        if opening > 0:
            new_size = abs(held.quantity) + opening
            held.entry_price = plain(
                (abs(held.quantity) * held.entry_price + opening * price) / new_size
            )
            margin = plain(opening * price / self.leverage(account, instrument.symbol))
            _move(account, instrument.quote, margin, from_free=True)
            held.margin += margin
            held.quantity += opening * direction
        if held.quantity == 0:
            book.pop(instrument.symbol, None)
        else:
            book[instrument.symbol] = held

    # internals: persistence -----------------------------------------------------------
    def _save(self, *changed: PaperAccount) -> None:
        """Write every account to the accounts file (temp file + rename). Only the changed
        accounts are serialised again (every fill saves, so this must stay cheap with many
        accounts); none named means all. Funds held by open orders are written as free:
        open orders do not survive a restart."""
        if self.accounts_path is None:
            return
        for account in changed or tuple(self._accounts.values()):
            self._serialise(account)
        body = ",\n".join(self._records.values())
        _atomic_write(self.accounts_path, f'{{"version": 1, "accounts": [\n{body}\n]}}\n')

    def _serialise(self, account: PaperAccount) -> None:
        key = (account.exchange, account.api_key)
        record = _account_record(
            account, self._positions.get(key, {}), self._held_by_orders(account)
        )
        self._records[key] = json.dumps(record, sort_keys=True)

    def _held_by_orders(self, account: PaperAccount) -> dict[str, Decimal]:
        held: dict[str, Decimal] = {}
        for (exchange, order_id), lock in self._locks.items():
            order = self._orders[exchange][order_id]
            if (exchange, order.api_key) == (account.exchange, account.api_key):
                held[lock.asset] = held.get(lock.asset, ZERO) + lock.left
        return held

    def _load(self) -> None:
        if self.accounts_path is None or not self.accounts_path.exists():
            return
        try:
            data = json.loads(self.accounts_path.read_text(encoding="utf-8"))
            for record in data["accounts"]:
                account, positions = _account_from_record(record)
                self._accounts[(account.exchange, account.api_key)] = account
                if positions:
                    self._positions[(account.exchange, account.api_key)] = positions
                self._serialise(account)
        except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
            raise ValueError(
                f"the accounts file {self.accounts_path} is not valid: {type(exc).__name__}"
            ) from exc


def _check_choices(side: str, type: str, time_in_force: str) -> None:
    if side not in SIDES or type not in TYPES or time_in_force not in TIME_IN_FORCE:
        raise ValueError(f"bad side/type/time in force: {side!r} {type!r} {time_in_force!r}")


def _checked_price(instrument: PaperInstrument, type: str, price: Decimal | None) -> Decimal | None:
    """The limit price (None for market orders, whose price is ignored)."""
    if type == "market":
        return None
    if price is None or not price.is_finite() or price <= 0:
        raise PaperError("invalid_price", "a limit order needs a positive price")
    if price % instrument.tick_size != 0:
        raise PaperError(
            "invalid_price", f"price is not a multiple of the tick size {instrument.tick_size}"
        )
    return plain(price)


def _checked_quantity(
    instrument: PaperInstrument,
    type: str,
    side: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    market: Decimal,
) -> Decimal:
    if quantity is None:
        sized_in_quote = type == "market" and side == "buy" and instrument.kind == "spot"
        if quote_quantity is None or not sized_in_quote:
            raise PaperError("invalid_quantity", "the order has no quantity")
        if not quote_quantity.is_finite() or quote_quantity <= 0:
            raise PaperError("invalid_quantity", "the quote amount must be positive")
        quantity = (quote_quantity / market // instrument.lot_size) * instrument.lot_size
    if not quantity.is_finite() or quantity <= 0:
        raise PaperError("invalid_quantity", "quantity must be positive")
    if quantity % instrument.lot_size != 0:
        raise PaperError(
            "invalid_quantity", f"quantity is not a multiple of the lot size {instrument.lot_size}"
        )
    if quantity < instrument.min_quantity:
        raise PaperError(
            "invalid_quantity", f"quantity is below the minimum {instrument.min_quantity}"
        )
    return plain(quantity)


def _check_funds(account: PaperAccount, asset: str, amount: Decimal) -> None:
    free = account.balances.get(asset, [ZERO, ZERO])[0]
    if free < amount:
        raise PaperError(
            "insufficient_funds", f"needs {plain(amount)} {asset}, {free} {asset} is free"
        )


def _move(account: PaperAccount, asset: str, amount: Decimal, *, from_free: bool) -> None:
    """Move ``amount`` of ``asset`` free -> locked (or back)."""
    entry = account.balances.setdefault(asset, [ZERO, ZERO])
    signed = amount if from_free else -amount
    entry[0] = plain(entry[0] - signed)
    entry[1] = plain(entry[1] + signed)


def _settle_spot(
    account: PaperAccount, instrument: PaperInstrument, side: str, quantity: Decimal, price: Decimal
) -> None:
    cost = plain(quantity * price)
    base = account.balances.setdefault(instrument.base, [ZERO, ZERO])
    quote = account.balances.setdefault(instrument.quote, [ZERO, ZERO])
    direction = _direction(side)
    base[0] = plain(base[0] + quantity * direction)
    quote[0] = plain(quote[0] - cost * direction)


def _record_fill(order: PaperOrder, quantity: Decimal, price: Decimal, now_ms: int) -> None:
    total = order.filled_quantity + quantity
    spent = (order.average_price or ZERO) * order.filled_quantity + price * quantity
    order.average_price = plain(spent / total)
    order.filled_quantity = plain(total)
    order.status = "filled" if order.remaining == 0 else "partially_filled"
    order.updated_ms = now_ms


def _account_record(
    account: PaperAccount, positions: dict[str, _Position], held_by_orders: dict[str, Decimal]
) -> dict[str, Any]:
    balances = {}
    for asset, (free, locked) in account.balances.items():
        held = held_by_orders.get(asset, ZERO)
        balances[asset] = {"free": str(plain(free + held)), "locked": str(plain(locked - held))}
    return {
        "exchange": account.exchange,
        "apiKey": account.api_key,
        "apiSecret": account.api_secret,
        "passphrase": account.passphrase,
        "permissions": account.permissions,
        "hedgeMode": account.hedge_mode,
        "ipWhitelist": account.ip_whitelist,
        "keyExpiresAt": account.key_expires_at_ms,
        "leverage": account.leverage,
        "balances": balances,
        "positions": {
            symbol: {
                "quantity": str(p.quantity),
                "entryPrice": str(p.entry_price),
                "margin": str(p.margin),
            }
            for symbol, p in positions.items()
        },
    }


def _account_from_record(record: dict[str, Any]) -> tuple[PaperAccount, dict[str, _Position]]:
    account = PaperAccount(
        exchange=str(record["exchange"]),
        api_key=str(record["apiKey"]),
        api_secret=str(record["apiSecret"]),
        passphrase=str(record.get("passphrase", "")),
        permissions=[str(p) for p in record.get("permissions", ["read", "trade"])],
        balances={
            asset: [Decimal(v["free"]), Decimal(v["locked"])]
            for asset, v in record.get("balances", {}).items()
        },
        leverage={symbol: int(v) for symbol, v in record.get("leverage", {}).items()},
        hedge_mode=bool(record.get("hedgeMode", False)),
        ip_whitelist=[str(ip) for ip in record.get("ipWhitelist", [])],
        key_expires_at_ms=record.get("keyExpiresAt"),
    )
    positions = {
        symbol: _Position(Decimal(p["quantity"]), Decimal(p["entryPrice"]), Decimal(p["margin"]))
        for symbol, p in record.get("positions", {}).items()
    }
    return account, positions


def _atomic_write(path: Path, text: str) -> None:
    """A reader (or a crash) sees the old file or the new one, never half of one. The
    temp file is created 0600: the file holds API secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
