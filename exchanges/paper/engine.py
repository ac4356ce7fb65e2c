"""The paper exchange's matching engine and accounts, shared by every protocol adapter.

INTERFACE CONTRACT (adapters in ``exchanges/paper/protocols/<exchange>.py`` code against it;
the bodies are filled in by the engine's author). Everything is synchronous and runs on the
aiohttp event loop thread, so no locking is needed. Symbols here are unified
(``BTC/USDT`` spot, ``BTC/USDT:USDT`` linear perpetual); quantities are base currency;
money is ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

OrderStatus = Literal["new", "partially_filled", "filled", "canceled", "rejected", "expired"]
DuplicateScope = Literal["open", "all", "none"]  # where a repeated client order id is refused

ERROR_KINDS = (
    "insufficient_funds", "duplicate_client_order_id", "order_not_found", "unknown_symbol",
    "invalid_quantity", "invalid_price", "reduce_only_rejected", "post_only_would_take",
    "permission_denied", "order_not_cancelable",
)


class PaperError(Exception):
    """A business refusal. ``kind`` is one of ERROR_KINDS; adapters turn it into the
    exchange's own error code and envelope."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message or kind


@dataclass(frozen=True)
class PaperInstrument:
    symbol: str                 # unified
    base: str
    quote: str
    kind: Literal["spot", "linear"]
    tick_size: Decimal
    lot_size: Decimal           # base currency
    min_quantity: Decimal       # base currency
    min_notional: Decimal
    contract_value: Decimal     # base per contract, for exchanges that count contracts (OKX)


@dataclass
class PaperOrder:
    exchange: str
    api_key: str
    order_id: str               # numeric string, unique per exchange
    client_order_id: str | None
    symbol: str                 # unified
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    time_in_force: str          # GTC | IOC | FOK | POST_ONLY
    quantity: Decimal           # base currency
    price: Decimal | None
    reduce_only: bool = False
    filled_quantity: Decimal = Decimal("0")
    average_price: Decimal | None = None
    status: OrderStatus = "new"
    canceled_by_user: bool = False
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity


@dataclass
class PaperPosition:
    symbol: str                 # unified linear symbol
    quantity: Decimal           # signed base quantity: > 0 long, < 0 short
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
    leverage: dict[str, int] = field(default_factory=dict)       # unified symbol -> leverage
    hedge_mode: bool = False


class Engine:
    """Accounts, instruments, prices and orders for all six exchanges."""

    def register_exchange(self, exchange: str, *, duplicate_scope: DuplicateScope) -> None:
        """Called once per adapter at start-up."""
        raise NotImplementedError

    # accounts -----------------------------------------------------------------------
    def account(self, exchange: str, api_key: str) -> PaperAccount | None: ...
    def upsert_account(self, exchange: str, *, api_key: str, api_secret: str,
                       passphrase: str = "", balances: dict[str, Decimal] | None = None,
                       permissions: list[str] | None = None) -> tuple[PaperAccount, bool]:
        """Returns (account, created)."""
        raise NotImplementedError

    # market data --------------------------------------------------------------------
    def instruments(self, exchange: str) -> list[PaperInstrument]: ...
    def instrument(self, exchange: str, symbol: str) -> PaperInstrument:
        """Raises PaperError('unknown_symbol')."""
        raise NotImplementedError
    def price(self, exchange: str, symbol: str) -> Decimal: ...
    def now_ms(self) -> int: ...

    # trading ------------------------------------------------------------------------
    def place_order(self, exchange: str, account: PaperAccount, *, symbol: str, side: str,
                    type: str, quantity: Decimal | None = None, price: Decimal | None = None,
                    time_in_force: str = "GTC", client_order_id: str | None = None,
                    reduce_only: bool = False, quote_quantity: Decimal | None = None
                    ) -> PaperOrder:
        """Validate, store and match. Market orders fill at once at the current price;
        limit orders rest until the price crosses (or /_paper/fill). ``quote_quantity`` is for
        spot market buys sized in quote (Pionex, BingX): quantity = quote / price.
        Counts the order under its client id for /_paper/stats (also when refused as a
        duplicate). Raises PaperError."""
        raise NotImplementedError

    def cancel_order(self, exchange: str, account: PaperAccount, *, symbol: str | None = None,
                     order_id: str | None = None, client_order_id: str | None = None
                     ) -> PaperOrder:
        """Raises PaperError('order_not_found') or ('order_not_cancelable') if closed."""
        raise NotImplementedError

    def cancel_all(self, exchange: str, account: PaperAccount,
                   symbol: str | None = None) -> list[PaperOrder]: ...

    def get_order(self, exchange: str, account: PaperAccount, *, order_id: str | None = None,
                  client_order_id: str | None = None) -> PaperOrder | None:
        """By client id: the newest order with that id."""
        raise NotImplementedError

    def open_orders(self, exchange: str, account: PaperAccount,
                    symbol: str | None = None) -> list[PaperOrder]: ...
    def order_history(self, exchange: str, account: PaperAccount, symbol: str | None = None,
                      since_ms: int | None = None) -> list[PaperOrder]:
        """Every order of the account (open and closed), newest first."""
        raise NotImplementedError

    def balances(self, exchange: str, account: PaperAccount) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked)."""
        raise NotImplementedError

    def positions(self, exchange: str, account: PaperAccount) -> list[PaperPosition]: ...
    def set_leverage(self, exchange: str, account: PaperAccount, symbol: str,
                     leverage: int) -> None: ...
