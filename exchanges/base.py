"""The connector base class and the shapes every exchange module returns.

A connector is built with credentials, an api type, an environment and optional URL
overrides. It owns one ``requests.Session``, a 10 s timeout, the server-time offset and
the mapping of transport failures; each exchange module adds signing, endpoints, parsers
and its error table. Money and quantities are ``Decimal`` end to end.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol
from urllib.parse import urlencode

import requests

from exchanges import errors, transport
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
from exchanges.symbols import Market, parse_symbol

DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.05

ORDER_STATUSES = ("open", "partially_filled", "filled", "canceled", "rejected", "expired")


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
    symbol: str                      # unified
    exchange_symbol: str             # the exchange's own name
    base: str
    quote: str
    kind: str                        # spot | linear
    tick_size: Decimal
    lot_size: Decimal                # in base currency
    min_quantity: Decimal            # in base currency
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
    symbol: str                      # unified
    side: str                        # buy | sell
    type: str                        # market | limit
    quantity: Decimal                # always base currency
    client_order_id: str
    price: Decimal | None = None
    time_in_force: str = "GTC"       # GTC | IOC | FOK | POST_ONLY
    reduce_only: bool = False
    margin: bool = False             # spot margin (Bybit isLeverage, OKX tdMode=cross)


@dataclass(frozen=True)
class ExchangeOrder:
    symbol: str                      # unified
    client_order_id: str | None
    exchange_order_id: str
    status: str                      # one of ORDER_STATUSES
    side: str
    type: str
    quantity: Decimal                # base currency
    filled_quantity: Decimal = Decimal("0")
    average_price: Decimal | None = None
    price: Decimal | None = None
    raw_status: str = ""
    created_at_ms: int | None = None
    updated_at_ms: int | None = None


@dataclass(frozen=True)
class Position:
    symbol: str                      # unified
    quantity: Decimal                # signed, base currency: > 0 long, < 0 short
    entry_price: Decimal | None
    leverage: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    mark_price: Decimal | None = None


@dataclass(frozen=True)
class CredentialCheck:
    permissions: tuple[str, ...]     # of read, trade, withdraw, transfer, margin, futures
    warnings: tuple[str, ...] = ()   # e.g. withdraw_enabled, no_ip_whitelist, read_only


@dataclass(frozen=True)
class ConnectionTest:
    latency_ms: int
    server_time_offset_ms: int
    permissions: tuple[str, ...]
    warnings: tuple[str, ...]


class Throttle(Protocol):
    """What a connector asks before every request and tells after it.

    Calling it with the request's ``Charge`` returns a context manager held for the request
    (a concurrency lease); it may block briefly or raise ``RateLimited``. ``destination`` is
    the REST host the request goes to (``scheme://host:port``): destination budgets and
    pauses belong to it (and to the product's pool where the exchange has one per product).
    ``report_usage`` passes on what the exchange says it counted; ``pause`` returns the
    seconds it applied, bounded however the answer was spelled.
    """

    def __call__(self, charge: Charge, *,
                 destination: str) -> AbstractContextManager[None]: ...

    def report_usage(self, signals: Sequence[UsageSignal], *, charge: Charge,
                     destination: str) -> None: ...

    def pause(self, seconds: float, *, reason: str, destination: str,
              product: str = "spot") -> float: ...


class NoThrottle:
    """The default: no limits (unit tests, the paper exchange's own clients)."""

    @contextmanager
    def __call__(self, charge: Charge, *, destination: str) -> Iterator[None]:
        yield

    def report_usage(self, signals: Sequence[UsageSignal], *, charge: Charge,
                     destination: str) -> None:
        return None

    def pause(self, seconds: float, *, reason: str, destination: str,
              product: str = "spot") -> float:
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
    write: bool = False              # may change state on the exchange (place, cancel, leverage)
    weight: int = 1
    product: str = "spot"            # spot | linear: picks the REST host
    deadline_ms: int | None = None   # exchange time after which the request is void
    instrument: str = ""             # for per-instrument rate windows (OKX orders)
    orders: int = 1                  # orders it places, amends or cancels (a batch: n)

    @property
    def query_string(self) -> str:
        return urlencode(self.params)


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    payload: Any


def decimal_or_none(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def format_decimal(value: Decimal) -> str:
    """Plain notation for the wire: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text not in ("-0", "") else "0"


class Connector:
    """Base class. Subclasses set the class attributes and implement the operations."""

    name: ClassVar[str]
    # (environment, product) -> REST root; product is spot | linear
    rest_hosts: ClassVar[Mapping[tuple[str, str], str]]
    ws_hosts: ClassVar[Mapping[tuple[str, str], str]] = {}
    # path -> request weight; anything absent weighs 1
    weights: ClassVar[Mapping[str, int]] = {}
    # the published rate windows (exchanges.limits; docs/rate-limits.md has their sources)
    rate_limits: ClassVar[Budget] = Budget(windows={})
    error_table: ClassVar[errors.ErrorTable]
    api_types: ClassVar[Sequence[str]] = ("spot", "perpetual_futures")
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

    def __init__(self, *, credentials: Credentials, api_type: str = "spot",
                 environment: str = "live", base_url: str | None = None,
                 ws_url: str | None = None, throttle: Throttle | None = None,
                 session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 destination_guard: transport.DestinationGuard | None = None) -> None:
        self.credentials = credentials
        self.api_type = api_type
        self.environment = environment
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

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.environment} {self.api_type}>"

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
            raise errors.NetworkError("the exchange URL is not a URL",
                                      exchange=self.name) from None

    def market(self, symbol: str) -> Market:
        """Parse a unified symbol and check that this connection's api type trades it."""
        market = parse_symbol(symbol)
        if market.is_perpetual and self.api_type in ("spot", "margin"):
            raise errors.InvalidRequest(f"{symbol} is a perpetual; this connection is "
                                        f"{self.api_type}", exchange=self.name)
        if not market.is_perpetual and self.api_type == "perpetual_futures":
            raise errors.InvalidRequest(f"{symbol} is spot; this connection trades "
                                        f"perpetuals", exchange=self.name)
        return market

    def default_product(self) -> str:
        return "linear" if self.api_type == "perpetual_futures" else "spot"

    # -- the request pipeline -----------------------------------------------------------

    def sign(self, call: Call) -> None:
        """Add authentication to ``call`` in place (headers, params or body)."""
        raise NotImplementedError

    def request(self, call: Call) -> Response:
        """Throttle, sign, send, map errors. Returns the decoded response on success."""
        call.weight = self.weights.get(call.path, call.weight)
        destination = self.destination(call)
        charge = self.charge(call)
        with self.throttle(charge, destination=destination):
            if call.signed:
                self.sign(call)
            if call.write and self.before_write is not None:
                # the last moment before a byte may leave: the deadline the request carries
                # is known now and is recorded before it could be accepted
                self.before_write(call.deadline_ms)
            response = self._send(call)
        self._report_usage(charge, response.headers, destination=destination)
        self.check_response(call, response)
        return response

    def charge(self, call: Call) -> Charge:
        """What ``call`` is to the rate budgets."""
        return Charge(method=call.method, path=call.path, weight=call.weight,
                      product=call.product, signed=call.signed, orders=call.orders,
                      instrument=call.instrument)

    def _send(self, call: Call) -> Response:
        url = self.rest_root(call.product) + call.path
        if call.params:
            url = f"{url}?{call.query_string}"
        try:
            answer = transport.send(
                self.session, call.method, url, body=call.body, headers=call.headers,
                timeout_seconds=self.timeout, connect_timeout_seconds=CONNECT_TIMEOUT_SECONDS,
                guard=self.destination_guard)
        except transport.TransportFailure as failure:
            if not failure.may_have_arrived:
                raise errors.NetworkError(failure.reason, exchange=self.name) from None
            raise self.arrival_unknown(call, failure.reason, timed_out=failure.timed_out
                                       ) from None
        payload, decoded = _decode(answer.body)
        if not decoded and answer.status not in self.rate_limit_statuses:
            raise self.arrival_unknown(call, f"HTTP {answer.status} answer that is not JSON",
                                       http_status=answer.status)
        return Response(status=answer.status, headers=answer.headers, payload=payload)

    def arrival_unknown(self, call: Call, reason: str, *, timed_out: bool = False,
                        http_status: int | None = None,
                        code: str | int | None = None) -> errors.ExchangeError:
        """THE OUTCOME RULE: the request may have reached the exchange. A write's outcome is
        then unknown (with the deadline after which it is void); a read is merely
        unavailable and may be retried. Every module gets this one rule."""
        if not call.write:
            return errors.ExchangeUnavailable(reason, exchange=self.name, code=code,
                                              http_status=http_status)
        error_class = errors.RequestTimeout if timed_out else errors.OrderOutcomeUnknown
        return error_class(reason, exchange=self.name, code=code, http_status=http_status,
                           deadline_ms=call.deadline_ms)

    def _report_usage(self, charge: Charge, headers: Mapping[str, str], *,
                      destination: str) -> None:
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
        error_class = self.error_table.classify(code=code, message=message,
                                                http_status=response.status)
        if self.leaves_outcome_open(error_class, code=code, status=response.status):
            raise self.arrival_unknown(call, message, code=code, http_status=response.status,
                                       timed_out=issubclass(error_class, errors.RequestTimeout)
                                       or response.status in (408, 504))
        raise self.build_error(error_class, call=call, response=response, code=code,
                               message=message)

    def leaves_outcome_open(self, error_class: type[errors.ExchangeError], *,
                            code: str | int | None, status: int) -> bool:
        """An answer that does not say whether the request was carried out: any 5xx, a
        408, an outcome-unknown class, or one of the module's own "status unknown" codes
        where the message did not name a more specific failure (BingX's 80012 is "busy" or
        "margin is not enough"). A rate-limit refusal is definite: nothing was done."""
        if issubclass(error_class, errors.RateLimited):
            return False
        unknown_code = str(code) in self.status_unknown_codes and error_class in (
            errors.ExchangeError, errors.ExchangeUnavailable)
        return (status >= 500 or status == 408 or unknown_code
                or issubclass(error_class, errors.OrderOutcomeUnknown))

    def build_error(self, error_class: type[errors.ExchangeError], *, call: Call,
                    response: Response, code: str | int | None,
                    message: str) -> errors.ExchangeError:
        kwargs: dict[str, Any] = {"code": code, "exchange": self.name,
                                  "http_status": response.status}
        if issubclass(error_class, errors.RateLimited):
            pause = self.pause_seconds(response, code)
            pause = self.throttle.pause(pause, reason=f"{self.name} {code or response.status}",
                                        destination=self.destination(call),
                                        product=call.product)
            return errors.RateLimited(message, retry_after=pause, **kwargs)
        return error_class(message, **kwargs)

    def pause_seconds(self, response: Response, code: str | int | None) -> float:
        """How long every process using this destination must hold off after a rate-limit
        answer, as the answer asks; the throttle caps it (exchanges.limits)."""
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            return retry_after
        return self.error_table.rate_limit_pause.get(str(code), DEFAULT_PAUSE_SECONDS)

    def error_of(self, response: Response) -> tuple[str | int | None, str] | None:
        """(code, message) when the response is a failure, else None."""
        raise NotImplementedError

    # -- operations (each module implements them) ---------------------------------------

    def server_time(self) -> int:
        raise NotImplementedError

    def check_credentials(self) -> CredentialCheck:
        """The key's permissions and warnings, from the exchange."""
        raise NotImplementedError

    def heartbeat_read(self) -> None:
        """The module's cheapest signed read."""
        raise NotImplementedError

    def is_hedge_mode(self) -> bool:
        """True when the account holds two-way (hedge) positions; spot is never hedged."""
        return False

    def test_connection(self) -> ConnectionTest:
        started = self.clock()
        offset_ms, _ = self.sync_time()
        check = self.check_credentials()
        latency_ms = int((self.clock() - started) * 1000)
        return ConnectionTest(latency_ms=latency_ms, server_time_offset_ms=offset_ms,
                              permissions=check.permissions, warnings=check.warnings)

    def heartbeat(self) -> int:
        """Server time plus the cheapest signed read; returns the latency in ms."""
        started = self.clock()
        self.sync_time()
        self.heartbeat_read()
        return int((self.clock() - started) * 1000)

    def balances(self) -> list[Balance]:
        raise NotImplementedError

    def instruments(self) -> list[Instrument]:
        raise NotImplementedError

    def ticker(self, symbol: str) -> Ticker:
        raise NotImplementedError

    def set_leverage(self, symbol: str, leverage: int) -> None:
        raise NotImplementedError

    def place_order(self, order: OrderRequest) -> ExchangeOrder:
        raise NotImplementedError

    def cancel_order(self, symbol: str, *, client_order_id: str | None = None,
                     exchange_order_id: str | None = None) -> ExchangeOrder:
        raise NotImplementedError

    def cancel_all(self, symbol: str | None = None) -> int:
        raise NotImplementedError

    def get_order(self, symbol: str, *, client_order_id: str | None = None,
                  exchange_order_id: str | None = None) -> ExchangeOrder:
        raise NotImplementedError

    def open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        raise NotImplementedError

    def order_history(self, symbol: str, *, since_ms: int | None = None) -> list[ExchangeOrder]:
        raise NotImplementedError

    def positions(self, symbol: str | None = None) -> list[Position]:
        raise NotImplementedError


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
