"""The connector base class and the shapes every exchange module returns.

A connector is built with credentials, an api type, an environment and optional URL
overrides. It owns one ``requests.Session``, a 10 s timeout, the server-time offset and
the mapping of transport failures; each exchange module adds signing, endpoints, parsers
and its error table. Money and quantities are ``Decimal`` end to end.
"""

from __future__ import annotations

import abc
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol
from urllib.parse import urlencode

import requests

from exchanges import errors, observe, transport
from exchanges.capabilities import capability
from exchanges.hosts import rest_destination
from exchanges.limits import (
    DEFAULT_PAUSE_SECONDS,
    OTHER_HOST_PAUSE_CAP_SECONDS,
    Budget,
    Charge,
    UsageSignal,
    Window,
    bounded_pause_seconds,
    retry_after_seconds,
)
from exchanges.parsing import format_decimal as format_decimal  # the paper imports it here
from exchanges.symbols import Market, parse_symbol

DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.05

ORDER_STATUSES = ("open", "partially_filled", "filled", "canceled", "rejected", "expired")
ORDER_SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "POST_ONLY")


@dataclass(frozen=True)
class Credentials:
    api_key: str
    api_secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)

    @property
    def key_id(self) -> str:
        """A stable, non-secret id for per-key rate limits and logs."""
        return hashlib.sha256(self.api_key.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"Credentials(api_key='…{self.api_key[-4:]}')"


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class Instrument:
    symbol: str  # unified
    exchange_symbol: str  # the exchange's own name
    base: str
    quote: str
    kind: str  # spot | linear
    tick_size: Decimal
    lot_size: Decimal  # in base currency
    min_quantity: Decimal  # in base currency
    min_notional: Decimal = Decimal("0")
    contract_value: Decimal = Decimal("1")  # base per contract (OKX swaps); 1 elsewhere


@dataclass(frozen=True)
class Ticker:
    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal


@dataclass(frozen=True)
class OrderRequest:
    symbol: str  # unified
    side: str  # buy | sell
    type: str  # market | limit
    quantity: Decimal  # always base currency
    client_order_id: str
    price: Decimal | None = None
    time_in_force: str = "GTC"  # GTC | IOC | FOK | POST_ONLY
    reduce_only: bool = False
    margin: bool = False  # spot margin (Bybit isLeverage, OKX tdMode=cross)


@dataclass(frozen=True)
class ExchangeOrder:
    symbol: str  # unified
    client_order_id: str | None
    exchange_order_id: str
    status: str  # one of ORDER_STATUSES
    side: str
    type: str
    quantity: Decimal  # base currency
    filled_quantity: Decimal = Decimal("0")
    average_price: Decimal | None = None
    price: Decimal | None = None
    raw_status: str = ""
    created_at_ms: int | None = None
    updated_at_ms: int | None = None


@dataclass(frozen=True)
class Position:
    symbol: str  # unified
    quantity: Decimal  # signed, base currency: > 0 long, < 0 short
    entry_price: Decimal | None
    leverage: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    mark_price: Decimal | None = None


@dataclass(frozen=True)
class FillUpdate:
    """One trade (execution) of ours: what a private stream yields and what ``recent_fills``
    reads over REST, in one shape so ``orders/live.py`` applies both the same way."""

    exchange: str
    trade_id: str  # the exchange's own id, the same on stream and REST
    exchange_order_id: str
    client_order_id: str | None
    symbol: str  # unified
    side: str
    price: Decimal
    quantity: Decimal  # base currency
    fee: Decimal  # > 0 paid, < 0 a rebate, in fee_asset
    fee_asset: str | None
    liquidity: str | None  # maker | taker | None when the exchange does not say
    time_ms: int | None


@dataclass(frozen=True)
class KeyInfo:
    """What the exchange says of the API key itself (its documented key-info endpoint;
    docs/exchanges/<name>.md). ``ip_restricted`` and ``expires_at`` are None where the
    exchange does not report them: unknown, not "no"."""

    permissions: frozenset[str]  # of read, trade, withdraw, transfer, margin, futures
    ip_restricted: bool | None  # bound to IP addresses; None: not reported
    ips: tuple[str, ...] = ()  # the bound addresses, where reported
    expires_at: datetime | None = None  # UTC; None: no expiry reported

    @property
    def withdraw_enabled(self) -> bool:
        return "withdraw" in self.permissions

    def warnings(self) -> tuple[str, ...]:
        """The key's own warnings, in a fixed order."""
        found = []
        if self.withdraw_enabled:
            found.append("withdraw_enabled")
        if self.ip_restricted is False:
            found.append("no_ip_whitelist")
        if "trade" not in self.permissions:
            found.append("read_only")
        return tuple(found)


def unrestricted_key(permissions: Sequence[str]) -> KeyInfo:
    """A key whose IP binding and expiry the exchange does not report (Pionex, OrangeX)."""
    return KeyInfo(permissions=frozenset(permissions), ip_restricted=None)


@dataclass(frozen=True)
class CredentialCheck:
    permissions: tuple[str, ...]  # of read, trade, withdraw, transfer, margin, futures
    warnings: tuple[str, ...] = ()  # e.g. withdraw_enabled, no_ip_whitelist, read_only
    key: KeyInfo | None = None  # from the same answer, where the module reads one


@dataclass(frozen=True)
class ConnectionTest:
    latency_ms: int
    server_time_offset_ms: int
    permissions: tuple[str, ...]
    warnings: tuple[str, ...]
    key: KeyInfo | None = None


DEAD_MAN_KINDS = ("countdown", "disconnect")


@dataclass(frozen=True)
class DeadManState:
    """What the exchange holds after a dead-man switch was armed, refreshed or disarmed.

    ``kind``: ``countdown`` (the exchange cancels unless called again within the window) or
    ``disconnect`` (it cancels when the private stream stays away for the window).
    ``trigger_at_ms``: on the exchange's clock, when a countdown fires unless refreshed
    (None when disarmed, and for a disconnect switch, which has no deadline while the
    stream is up). ``symbols``: the unified symbols it covers where the switch is per
    symbol (Binance USD-M); empty where it covers the account or product."""

    armed: bool
    kind: str
    seconds: int = 0
    trigger_at_ms: int | None = None
    symbols: tuple[str, ...] = ()


class Throttle(Protocol):
    """What a connector asks before every request and tells after it.

    Calling it with the request's ``Charge`` returns a context manager held for the request
    (a concurrency lease); it may block briefly or raise ``RateLimited``. ``destination`` is
    the REST host the request goes to (``scheme://host:port``): destination budgets and
    pauses belong to it (and to the product's pool where the exchange has one per product).
    ``report_usage`` passes on what the exchange says it counted; ``pause`` returns the
    seconds it applied, bounded however the answer was spelled.
    """

    def __call__(self, charge: Charge, *, destination: str) -> AbstractContextManager[None]: ...

    def report_usage(
        self, signals: Sequence[UsageSignal], *, charge: Charge, destination: str
    ) -> None: ...

    def pause(
        self, seconds: float, *, reason: str, destination: str, product: str = "spot"
    ) -> float: ...


class NoThrottle:
    """The default: no limits (unit tests, the paper exchange's own clients)."""

    @contextmanager
    def __call__(self, charge: Charge, *, destination: str) -> Iterator[None]:
        yield

    def report_usage(
        self, signals: Sequence[UsageSignal], *, charge: Charge, destination: str
    ) -> None:
        return None

    def pause(
        self, seconds: float, *, reason: str, destination: str, product: str = "spot"
    ) -> float:
        return bounded_pause_seconds(seconds, cap=OTHER_HOST_PAUSE_CAP_SECONDS)


@dataclass
class Call:
    """One HTTP request being prepared; ``sign`` fills headers/params and the deadline."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    signed: bool = False
    write: bool = False  # may change state on the exchange (place, cancel, leverage)
    weight: int = 1
    product: str = "spot"  # spot | linear: picks the REST host
    deadline_ms: int | None = None  # exchange time after which the request is void
    instrument: str = ""  # for per-instrument rate windows (OKX orders)
    orders: int = 1  # orders it places, amends or cancels (a batch: n)

    @property
    def query_string(self) -> str:
        return urlencode(self.params)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    payload: Any


class Connector(abc.ABC):
    """Base class. Subclasses set the class attributes and implement the hooks.

    What is the same on every exchange is done here, once: the capability check of the api
    type and environment (``exchanges.capabilities``), the validation of every order and of
    every lookup (``place_order``, ``cancel_order``, ``get_order`` refuse what no exchange
    takes with ``InvalidRequest`` before anything is sent, then call the module's
    ``_place_order``, ``_cancel_order``, ``_get_order``), the request pipeline and the
    outcome rule. A module adds only what its exchange does differently.
    """

    name: ClassVar[str]
    # (environment, product) -> REST root; product is spot | linear
    rest_hosts: ClassVar[Mapping[tuple[str, str], str]]
    ws_hosts: ClassVar[Mapping[tuple[str, str], str]] = {}
    # the module's WEIGHTS: "METHOD /path" or "/path" -> request weight, the method-and-path
    # key first (one path may weigh differently per method); anything absent weighs 1
    weights: ClassVar[Mapping[str, int]] = {}
    # the module's RATE_LIMITS: the published windows, per destination pool and per key
    # (exchanges.limits; docs/rate-limits.md has their sources)
    rate_limits: ClassVar[Budget] = Budget(windows={})
    error_table: ClassVar[errors.ErrorTable]
    recv_window_ms: ClassVar[int] = 5000
    # how long after signing an order request the exchange may still accept it (recvWindow,
    # expTime, a timestamp window); None where a request carries no such limit (OrangeX)
    deadline_window_ms: ClassVar[int | None] = None
    # HTTP statuses that refuse for rate limits: definite whatever the body looks like
    rate_limit_statuses: ClassVar[frozenset[int]] = frozenset({418, 429})
    # the exchange's own codes for "received, outcome not known" (timeouts behind its gateway)
    status_unknown_codes: ClassVar[frozenset[str]] = frozenset()
    # what the exchange accepts as a client order id (callers' own ids are checked against it)
    client_order_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_-]{1,36}$")

    # the exchange's dead-man switch (docs/dead-man-switch.md): "countdown", "disconnect" or
    # None where it offers none; the window it accepts, in whole seconds, both ends
    # included; whether the switch is per symbol (the caller names the symbols); the api
    # types it covers (empty: every api type the exchange offers)
    dead_man_switch: ClassVar[str | None] = None
    dead_man_window_seconds: ClassVar[tuple[int, int]] = (0, 0)
    dead_man_per_symbol: ClassVar[bool] = False
    dead_man_api_types: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        *,
        credentials: Credentials,
        api_type: str = "spot",
        environment: str = "live",
        base_url: str | None = None,
        ws_url: str | None = None,
        throttle: Throttle | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        destination_guard: transport.DestinationGuard | None = None,
    ) -> None:
        self.credentials = credentials
        self.api_type = api_type
        self.environment = environment
        self.check_capabilities()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.ws_url = ws_url.rstrip("/") if ws_url else None
        self.throttle: Throttle = throttle or NoThrottle()
        self.session = session or transport.new_session()
        # called with the deadline (or None) of every signed write, right before it is sent
        self.before_write: Callable[[int | None], None] | None = None
        self.clock = clock
        self.timeout = timeout
        # called with (host, port, resolved addresses) right before connecting; raises
        # DestinationNotAllowed to refuse (exchanges.hosts.vet_addresses)
        self.destination_guard = destination_guard
        self.time_offset_ms = 0
        # whose calls these are, for the call log and its observers (exchanges.observe);
        # the Django side sets it to the connection's id
        self.connection_id = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.environment} {self.api_type}>"

    def check_capabilities(self) -> None:
        """Refuse an api type or environment the exchange lacks, as the capability table
        (``exchanges.capabilities``, the one source) says, before anything is built."""
        offered = capability(self.name)
        if not offered.supports_api_type(self.api_type):
            raise errors.NotSupported(
                f"{self.name} offers {', '.join(offered.api_types)}, not {self.api_type}",
                code="api_type_not_supported",
                exchange=self.name,
            )
        if not offered.supports_environment(self.environment, self.api_type):
            narrower = (
                f" (its testnet serves {', '.join(offered.testnet_api_types)} only)"
                if self.environment == "testnet" and "testnet" in offered.environments
                else ""
            )
            raise errors.NotSupported(
                f"{self.name} offers environment {', '.join(offered.environments)}{narrower}; "
                f"not {self.environment} for {self.api_type}",
                code="environment_not_supported",
                exchange=self.name,
            )

    # -- time ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Local clock corrected by the last measured server-time offset."""
        return int(self.clock() * 1000) + self.time_offset_ms

    def send_deadline_bound_ms(self, *, slack_ms: int = 0) -> int | None:
        """An upper bound, on the exchange's clock, of the deadline a request signed within
        ``slack_ms`` from now will carry; None when requests carry none. Stored before an
        order is sent, so a worker that dies mid-send still leaves a provable deadline."""
        if self.deadline_window_ms is None:
            return None
        return self.now_ms() + self.deadline_window_ms + slack_ms

    def sync_time(self) -> tuple[int, int]:
        """Measure the offset to the exchange clock; returns (offset ms, round trip ms)."""
        started = self.clock()
        server_ms = self.server_time()
        finished = self.clock()
        midpoint_ms = int((started + finished) * 500)
        self.time_offset_ms = server_ms - midpoint_ms
        return self.time_offset_ms, int((finished - started) * 1000)

    # -- urls ---------------------------------------------------------------------------

    def rest_root(self, product: str) -> str:
        if self.base_url:
            return self.base_url
        key = (self.environment, product)
        if key not in self.rest_hosts:
            raise errors.NotSupported(
                f"{self.name} has no {product} REST host for environment {self.environment}",
                exchange=self.name,
            )
        return self.rest_hosts[key]

    def destination(self, call: Call) -> str:
        """The rate-limit destination of ``call``: scheme, host and port of its REST root.
        A root that is no URL can send nothing: a NetworkError, surely not received."""
        try:
            return rest_destination(self.rest_root(call.product))
        except ValueError:
            raise errors.NetworkError("the exchange URL is not a URL", exchange=self.name) from None

    def market(self, symbol: str) -> Market:
        """Parse a unified symbol and check that this connection's api type trades it."""
        market = parse_symbol(symbol)
        if market.is_perpetual and self.api_type in ("spot", "margin"):
            raise errors.InvalidRequest(
                f"{symbol} is a perpetual; this connection is {self.api_type}", exchange=self.name
            )
        if not market.is_perpetual and self.api_type == "perpetual_futures":
            raise errors.InvalidRequest(
                f"{symbol} is spot; this connection trades perpetuals", exchange=self.name
            )
        return market

    def default_product(self) -> str:
        return "linear" if self.api_type == "perpetual_futures" else "spot"

    # -- the request pipeline -----------------------------------------------------------

    @abc.abstractmethod
    def sign(self, call: Call) -> None:
        """Add authentication to ``call`` in place (headers, params or body)."""

    def request(self, call: Call) -> Response:
        """Throttle, sign, send, map errors. Returns the decoded response on success. Every
        call, whatever its end, is told once to ``exchanges.observe`` (the call log and the
        metrics)."""
        tracker = _CallTracker()
        try:
            response = self._request(call, tracker)
        except BaseException as exc:
            self._observe(call, tracker, exc)
            raise
        self._observe(call, tracker, None)
        return response

    def _request(self, call: Call, tracker: _CallTracker) -> Response:
        call.weight = self.weight(call)
        destination = self.destination(call)
        charge = self.charge(call)
        with self.throttle(charge, destination=destination):
            tracker.granted()
            if call.signed:
                self.sign(call)
            if call.write and self.before_write is not None:
                # the last moment before a byte may leave: the deadline the request carries
                # is known now and is recorded before it could be accepted
                self.before_write(call.deadline_ms)
            tracker.sending()
            response = self._send(call)
            tracker.status = response.status
        self._report_usage(charge, response.headers, destination=destination)
        self.check_response(call, response)
        return response

    def _observe(self, call: Call, tracker: _CallTracker, exc: BaseException | None) -> None:
        status = tracker.status
        if status is None and isinstance(exc, errors.ExchangeError):
            status = exc.http_status
        code = getattr(exc, "code", None) if isinstance(exc, errors.ExchangeError) else None
        observe.call_finished(
            observe.CallRecord(
                exchange=self.name,
                connection_id=str(self.connection_id or ""),
                method=call.method,
                endpoint=observe.endpoint_template(call.path),
                status=status,
                latency_ms=tracker.latency_ms(),
                # a NetworkError means no byte could have left, whenever it was raised
                sent=tracker.sent and not isinstance(exc, errors.NetworkError),
                error=type(exc).__name__ if exc is not None else "",
                error_code="" if code is None else str(code)[:64],
            )
        )

    def weight(self, call: Call) -> int:
        """The request weight of ``call`` from ``weights``: by "METHOD /path", then by path,
        else the call's own (1 unless the module set it)."""
        return self.weights.get(
            f"{call.method} {call.path}", self.weights.get(call.path, call.weight)
        )

    def charge(self, call: Call) -> Charge:
        """What ``call`` is to the rate budgets."""
        return Charge(
            method=call.method,
            path=call.path,
            weight=call.weight,
            product=call.product,
            signed=call.signed,
            orders=call.orders,
            instrument=call.instrument,
        )

    def _send(self, call: Call) -> Response:
        url = self.rest_root(call.product) + call.path
        if call.params:
            url = f"{url}?{call.query_string}"
        try:
            answer = transport.send(
                self.session,
                call.method,
                url,
                body=call.body,
                headers=call.headers,
                timeout_seconds=self.timeout,
                connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
                guard=self.destination_guard,
            )
        except transport.TransportFailure as failure:
            if not failure.may_have_arrived:
                raise errors.NetworkError(failure.reason, exchange=self.name) from None
            raise self.arrival_unknown(call, failure.reason, timed_out=failure.timed_out) from None
        payload, decoded = _decode(answer.body)
        if not decoded and answer.status not in self.rate_limit_statuses:
            raise self.arrival_unknown(
                call, f"HTTP {answer.status} answer that is not JSON", http_status=answer.status
            )
        return Response(status=answer.status, headers=answer.headers, payload=payload)

    def arrival_unknown(
        self,
        call: Call,
        reason: str,
        *,
        timed_out: bool = False,
        http_status: int | None = None,
        code: str | int | None = None,
    ) -> errors.ExchangeError:
        """THE OUTCOME RULE: the request may have reached the exchange. A write's outcome is
        then unknown (with the deadline after which it is void); a read is merely
        unavailable and may be retried. Every module gets this one rule."""
        if not call.write:
            return errors.ExchangeUnavailable(
                reason, exchange=self.name, code=code, http_status=http_status
            )
        error_class = errors.RequestTimeout if timed_out else errors.OrderOutcomeUnknown
        return error_class(
            reason,
            exchange=self.name,
            code=code,
            http_status=http_status,
            deadline_ms=call.deadline_ms,
        )

    def _report_usage(
        self, charge: Charge, headers: Mapping[str, str], *, destination: str
    ) -> None:
        signals = self.usage_signals(charge, headers)
        if signals:
            self.throttle.report_usage(signals, charge=charge, destination=destination)

    def usage_signals(self, charge: Charge, headers: Mapping[str, str]) -> list[UsageSignal]:
        """What the exchange's usage headers say it counted, per window of
        ``rate_limits``; none by default."""
        return []

    def account_window(self, charge: Charge) -> tuple[str, Window] | None:
        """(name, published window) of the per-account window of this request's own
        endpoint (the one Bybit's and BingX's usage headers speak of), if declared."""
        for name, window in self.rate_limits.windows.items():
            if window.scope == "account" and window.endpoints and window.applies_to(charge):
                return name, window
        return None

    def check_response(self, call: Call, response: Response) -> None:
        """Raise the mapped error when ``response`` is a failure. Modules override
        ``error_of`` to read their envelope; this handles the shared rules."""
        failure = self.error_of(response)
        if failure is None:
            return
        code, message = failure
        error_class = self.error_table.classify(
            code=code, message=message, http_status=response.status
        )
        if self.leaves_outcome_open(error_class, code=code, status=response.status):
            raise self.arrival_unknown(
                call,
                message,
                code=code,
                http_status=response.status,
                timed_out=issubclass(error_class, errors.RequestTimeout)
                or response.status in (408, 504),
            )
        raise self.build_error(
            error_class, call=call, response=response, code=code, message=message
        )

    def leaves_outcome_open(
        self, error_class: type[errors.ExchangeError], *, code: str | int | None, status: int
    ) -> bool:
        """An answer that does not say whether the request was carried out: any 5xx, a
        408, an outcome-unknown class, or one of the module's own "status unknown" codes
        where the message did not name a more specific failure (BingX's 80012 is "busy" or
        "margin is not enough"). A rate-limit refusal is definite: nothing was done."""
        if issubclass(error_class, errors.RateLimited):
            return False
        unknown_code = str(code) in self.status_unknown_codes and error_class in (
            errors.ExchangeError,
            errors.ExchangeUnavailable,
        )
        return (
            status >= 500
            or status == 408
            or unknown_code
            or issubclass(error_class, errors.OrderOutcomeUnknown)
        )

    def build_error(
        self,
        error_class: type[errors.ExchangeError],
        *,
        call: Call,
        response: Response,
        code: str | int | None,
        message: str,
    ) -> errors.ExchangeError:
        kwargs: dict[str, Any] = {
            "code": code,
            "exchange": self.name,
            "http_status": response.status,
        }
        if issubclass(error_class, errors.RateLimited):
            pause = self.pause_seconds(response, code)
            pause = self.throttle.pause(
                pause,
                reason=f"{self.name} {code or response.status}",
                destination=self.destination(call),
                product=call.product,
            )
            return errors.RateLimited(message, retry_after=pause, **kwargs)
        return error_class(message, **kwargs)

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        """How long every process using this destination must hold off after a rate-limit
        answer, as the answer asks; the throttle caps it (exchanges.limits)."""
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        return self.error_table.rate_limit_pause.get(str(code), DEFAULT_PAUSE_SECONDS)

    @abc.abstractmethod
    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        """(code, message) when the response is a failure, else None."""

    # -- operations ---------------------------------------------------------------------

    @abc.abstractmethod
    def server_time(self) -> int:
        """The exchange's clock, ms."""

    @abc.abstractmethod
    def check_credentials(self) -> CredentialCheck:
        """The key's permissions and warnings, from the exchange."""

    def key_info(self) -> KeyInfo:
        """The key's permissions, IP binding and expiry from the exchange's key-info
        endpoint. Each module reads its own; this default takes the credential check's."""
        check = self.check_credentials()
        return check.key or unrestricted_key(check.permissions)

    @abc.abstractmethod
    def heartbeat_read(self) -> None:
        """The module's cheapest signed read."""

    def is_hedge_mode(self) -> bool:
        """True when the account holds two-way (hedge) positions; spot is never hedged."""
        return False

    def test_connection(self) -> ConnectionTest:
        started = self.clock()
        offset_ms, _ = self.sync_time()
        check = self.check_credentials()
        latency_ms = int((self.clock() - started) * 1000)
        return ConnectionTest(
            latency_ms=latency_ms,
            server_time_offset_ms=offset_ms,
            permissions=check.permissions,
            warnings=check.warnings,
            key=check.key or unrestricted_key(check.permissions),
        )

    def heartbeat(self) -> int:
        """Server time plus the cheapest signed read; returns the latency in ms."""
        started = self.clock()
        self.sync_time()
        self.heartbeat_read()
        return int((self.clock() - started) * 1000)

    @abc.abstractmethod
    def balances(self) -> list[Balance]: ...

    @abc.abstractmethod
    def instruments(self) -> list[Instrument]: ...

    @abc.abstractmethod
    def ticker(self, symbol: str) -> Ticker: ...

    @abc.abstractmethod
    def set_leverage(self, symbol: str, leverage: int) -> None: ...

    def place_order(self, order: OrderRequest) -> ExchangeOrder:
        """Validate ``order`` once (``check_order``), then the module places it."""
        market = self.market(order.symbol)
        return self._place_order(self.check_order(order, market), market)

    def cancel_order(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder:
        require_one_id(client_order_id, exchange_order_id)
        return self._cancel_order(
            self.market(symbol),
            client_order_id=client_order_id,
            exchange_order_id=exchange_order_id,
        )

    def get_order(
        self,
        symbol: str,
        *,
        client_order_id: str | None = None,
        exchange_order_id: str | None = None,
    ) -> ExchangeOrder:
        """By exchange id or client id (exchange id first where both are given)."""
        require_one_id(client_order_id, exchange_order_id)
        return self._get_order(
            self.market(symbol),
            client_order_id=client_order_id,
            exchange_order_id=exchange_order_id,
        )

    @abc.abstractmethod
    def cancel_all(self, symbol: str | None = None) -> int: ...

    @abc.abstractmethod
    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]: ...

    @abc.abstractmethod
    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]: ...

    @abc.abstractmethod
    def positions(self, symbol: str | None = None) -> list[Position]: ...

    # -- the dead-man switch ----------------------------------------------------------------
    # Arming is a write, but an idempotent one: arming twice, or arming after a lost answer,
    # leaves the exchange exactly as arming once does, and no order is placed or cancelled
    # by the call itself. Its calls are therefore sent as reads (``write=False``): a lost
    # answer is ExchangeUnavailable, retryable by the next refresh, never an
    # OrderOutcomeUnknown to be looked up.

    def dead_man_supported(self) -> bool:
        """Whether this connection's exchange and api type offer a dead-man switch."""
        return self.dead_man_switch is not None and (
            not self.dead_man_api_types or self.api_type in self.dead_man_api_types
        )

    def arm_dead_man_switch(self, seconds: int, symbols: Sequence[str] = ()) -> DeadManState:
        """Arm (or refresh) the switch with a window of ``seconds``; ``symbols`` (unified)
        where it is per symbol, ignored elsewhere. ``NotSupported`` where the exchange has
        none; ``InvalidRequest`` for a window outside the exchange's range."""
        self._require_dead_man()
        low, high = self.dead_man_window_seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or not (low <= seconds <= high)
        ):
            raise errors.InvalidRequest(
                f"{self.name}'s dead-man switch takes {low} to {high} seconds, not {seconds}",
                code="dead_man_window_out_of_range",
                exchange=self.name,
            )
        return self._arm_dead_man_switch(seconds, self._dead_man_markets(symbols))

    def disarm_dead_man_switch(self, symbols: Sequence[str] = ()) -> DeadManState:
        """Turn the switch off (for ``symbols`` where it is per symbol)."""
        self._require_dead_man()
        return self._disarm_dead_man_switch(self._dead_man_markets(symbols))

    def _require_dead_man(self) -> None:
        if not self.dead_man_supported():
            raise errors.NotSupported(
                f"{self.name} offers no dead-man switch for {self.api_type}",
                code="dead_man_not_supported",
                exchange=self.name,
            )

    def _dead_man_markets(self, symbols: Sequence[str]) -> list[Market]:
        if not self.dead_man_per_symbol:
            return []
        if not symbols:
            raise errors.InvalidRequest(
                f"{self.name}'s dead-man switch is per symbol: name the symbols",
                code="dead_man_needs_symbols",
                exchange=self.name,
            )
        return [self.market(symbol) for symbol in dict.fromkeys(symbols)]

    def _arm_dead_man_switch(self, seconds: int, markets: list[Market]) -> DeadManState:
        """The module's arming call (``markets``: empty unless the switch is per symbol)."""
        raise errors.NotSupported(
            f"{self.name} offers no dead-man switch",
            code="dead_man_not_supported",
            exchange=self.name,
        )

    def _disarm_dead_man_switch(self, markets: list[Market]) -> DeadManState:
        raise errors.NotSupported(
            f"{self.name} offers no dead-man switch",
            code="dead_man_not_supported",
            exchange=self.name,
        )

    # how far back ``recent_fills`` can read (the exchange's trade-history lookback); None
    # where the connector reads no fills over REST
    fills_lookback_ms: ClassVar[int | None] = None
    # whether the trade-history read needs a symbol (Binance, BingX spot, Pionex, OrangeX)
    fills_per_symbol: ClassVar[bool] = False

    def recent_fills(
        self, symbol: str | None = None, *, since_ms: int | None = None, limit: int = 100
    ) -> list[FillUpdate]:
        """Our trades, oldest first, from ``since_ms`` (capped at ``fills_lookback_ms``) or
        the exchange's default window, at most ``limit`` of them (the newest kept). Where
        ``fills_per_symbol``, a symbol is required. The REST twin of the stream's fills:
        same trade ids, fee positive when paid, quantity in base currency."""
        if self.fills_lookback_ms is None:
            raise errors.NotSupported(f"{self.name} reads no fills over REST", exchange=self.name)
        if limit < 1:
            raise errors.InvalidRequest("limit must be at least 1", exchange=self.name)
        market = self.market(symbol) if symbol else None
        if market is None and self.fills_per_symbol:
            raise errors.InvalidRequest(
                f"{self.name} lists fills per symbol only", exchange=self.name
            )
        floor = self.now_ms() - self.fills_lookback_ms
        since = None if since_ms is None else max(int(since_ms), floor)
        fills = self._recent_fills(market, since_ms=since, limit=limit)
        fills = [fill for fill in fills if since is None or (fill.time_ms or since) >= since]
        fills.sort(key=lambda fill: (fill.time_ms or 0, fill.trade_id))
        return fills[-limit:]

    def _recent_fills(
        self, market: Market | None, *, since_ms: int | None, limit: int
    ) -> list[FillUpdate]:
        """The module's trade-history read (``market`` None: every symbol it can list)."""
        raise errors.NotSupported(f"{self.name} reads no fills over REST", exchange=self.name)

    # -- the hooks behind the validated operations ----------------------------------------

    @abc.abstractmethod
    def _place_order(self, order: OrderRequest, market: Market) -> ExchangeOrder:
        """Place an order ``check_order`` passed; exchange-specific rules stay here."""

    @abc.abstractmethod
    def _cancel_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        """Cancel by one of the ids (at least one is given)."""

    @abc.abstractmethod
    def _get_order(
        self, market: Market, *, client_order_id: str | None, exchange_order_id: str | None
    ) -> ExchangeOrder:
        """Look up by one of the ids (at least one is given)."""

    # -- order validation ---------------------------------------------------------------

    def check_order(self, order: OrderRequest, market: Market) -> OrderRequest:
        """Refuse what no exchange takes, with one error class (``InvalidRequest``, a 4xx
        at our API), before anything is sent; spot margin where the exchange has none is
        ``NotSupported``. Returns the order as the module gets it: a market order's price
        is ignored (dropped), whatever the caller passed."""
        problem = self.order_problem(order, market)
        if problem:
            raise errors.InvalidRequest(problem, exchange=self.name)
        if order.margin and not capability(self.name).supports_api_type("margin"):
            raise errors.NotSupported(f"{self.name} offers no spot margin", exchange=self.name)
        if order.type == "market" and order.price is not None:
            return replace(order, price=None)
        return order

    def order_problem(self, order: OrderRequest, market: Market) -> str:
        """What is wrong with ``order`` on any exchange, or "" when nothing is."""
        if order.side not in ORDER_SIDES:
            return f"side must be buy or sell, not {order.side!r}"
        if order.type not in ORDER_TYPES:
            return f"type must be market or limit, not {order.type!r}"
        if order.quantity <= 0:
            return "quantity must be positive"
        if order.type == "limit" and (order.price is None or order.price <= 0):
            return "a limit order needs a positive price"
        if order.time_in_force not in TIME_IN_FORCE:
            return (
                f"time in force must be one of {', '.join(TIME_IN_FORCE)}, not "
                f"{order.time_in_force!r}"
            )
        if order.type == "market" and order.time_in_force == "POST_ONLY":
            return "a market order cannot be post-only"
        if order.reduce_only and not market.is_perpetual and not self.reduces_on_spot(order):
            return "reduce-only applies to perpetuals only"
        if not self.client_order_id_pattern.fullmatch(order.client_order_id or ""):
            return f"client order id must match {self.client_order_id_pattern.pattern}"
        return ""

    def reduces_on_spot(self, order: OrderRequest) -> bool:
        """Whether a spot order may be reduce-only (OKX's margin orders); no by default."""
        return False

    # -- statuses -----------------------------------------------------------------------

    @classmethod
    def settled_status(
        cls,
        found: ExchangeOrder,
        *,
        order_type: str,
        time_in_force: str,
        rested: bool,
        cancel_requested: bool,
    ) -> str:
        """Our status of ``found`` given what only the caller knows of the order: its type
        and time in force, whether it rested on the book, whether we asked to cancel it.
        The connector's own status by default; an exchange whose terminal status does not
        say why an order ended (Pionex's CLOSED) overrides it."""
        return found.status


class _CallTracker:
    """How far one call got: the limiter's grant (latency counts from it, so waiting for
    budget is not exchange latency), whether a byte may have left, the answer's status."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.sent = False
        self.status: int | None = None

    def granted(self) -> None:
        self.started = time.perf_counter()

    def sending(self) -> None:
        self.sent = True

    def latency_ms(self) -> float:
        return 0.0 if self.started is None else (time.perf_counter() - self.started) * 1000


def require_one_id(client_order_id: str | None, exchange_order_id: str | None) -> None:
    if not client_order_id and not exchange_order_id:
        raise errors.InvalidRequest("give client_order_id or exchange_order_id")


def compact_json(data: Mapping[str, Any]) -> str:
    """Serialise once, sign and send the same bytes."""
    return json.dumps(data, separators=(",", ":"))


def _decode(body: bytes) -> tuple[Any, bool]:
    """(payload, True) for JSON or an empty body; (None, False) for anything else:
    gateway pages, cut-off or garbled text, JSON nested past the parser's depth."""
    if not body.strip():
        return None, True
    try:
        return json.loads(body), True
    except (ValueError, RecursionError):
        return None, False
