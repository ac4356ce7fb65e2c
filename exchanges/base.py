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

from exchanges import errors
from exchanges.hosts import rest_destination
from exchanges.limits import (
    DEFAULT_PAUSE_SECONDS,
    OTHER_HOST_PAUSE_CAP_SECONDS,
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

    Calling it with a weight returns a context manager held for the request (a concurrency
    lease); it may block briefly or raise ``RateLimited``. ``destination`` is the REST host
    the request goes to (``scheme://host:port``): budgets and pauses belong to it.
    ``pause`` returns the seconds it applied, bounded however the answer was spelled.
    """

    def __call__(self, weight: int, *, endpoint: str,
                 destination: str) -> AbstractContextManager[None]: ...

    def report_usage(self, *, used_weight: int, window_seconds: int,
                     destination: str) -> None: ...

    def pause(self, seconds: float, *, reason: str, destination: str) -> float: ...


class NoThrottle:
    """The default: no limits (unit tests, the paper exchange's own clients)."""

    @contextmanager
    def __call__(self, weight: int, *, endpoint: str, destination: str) -> Iterator[None]:
        yield

    def report_usage(self, *, used_weight: int, window_seconds: int,
                     destination: str) -> None:
        return None

    def pause(self, seconds: float, *, reason: str, destination: str) -> float:
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
    error_table: ClassVar[errors.ErrorTable]
    api_types: ClassVar[Sequence[str]] = ("spot", "perpetual_futures")
    recv_window_ms: ClassVar[int] = 5000
    # how long after signing an order request the exchange may still accept it (recvWindow,
    # expTime, a timestamp window); None where a request carries no such limit (OrangeX)
    deadline_window_ms: ClassVar[int | None] = None
    # what the exchange accepts as a client order id (callers' own ids are checked against it)
    client_order_id_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9_-]{1,36}$")

    def __init__(self, *, credentials: Credentials, api_type: str = "spot",
                 environment: str = "live", base_url: str | None = None,
                 ws_url: str | None = None, throttle: Throttle | None = None,
                 session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time,
                 timeout: float = DEFAULT_TIMEOUT_SECONDS,
                 destination_guard: Callable[[str, int, Sequence[str]], None] | None = None
                 ) -> None:
        self.credentials = credentials
        self.api_type = api_type
        self.environment = environment
        self.base_url = base_url.rstrip("/") if base_url else None
        self.ws_url = ws_url.rstrip("/") if ws_url else None
        self.throttle: Throttle = throttle or NoThrottle()
        self.session = session or requests.Session()
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
        """The rate-limit destination of ``call``: scheme, host and port of its REST root."""
        return rest_destination(self.rest_root(call.product))

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
        with self.throttle(call.weight, endpoint=call.path, destination=destination):
            if call.signed:
                self.sign(call)
            response = self._send(call)
        self._report_usage(response.headers, destination=destination)
        self.check_response(call, response)
        return response

    def _send(self, call: Call) -> Response:
        url = self.rest_root(call.product) + call.path
        if call.params:
            url = f"{url}?{call.query_string}"
        try:
            raw = self.session.request(
                call.method, url, data=call.body, headers=call.headers,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, self.timeout), self.timeout),
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise errors.NetworkError("connect timeout", exchange=self.name) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise errors.RequestTimeout("no answer within the timeout", exchange=self.name,
                                        deadline_ms=call.deadline_ms) from exc
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise errors.NetworkError("connection refused or unreachable",
                                          exchange=self.name) from exc
            if call.write:
                raise errors.OrderOutcomeUnknown("connection lost after sending",
                                                 exchange=self.name,
                                                 deadline_ms=call.deadline_ms) from exc
            raise errors.ExchangeUnavailable("connection lost", exchange=self.name) from exc
        except requests.exceptions.RequestException as exc:
            raise errors.NetworkError(type(exc).__name__, exchange=self.name) from exc
        return Response(status=raw.status_code, headers=raw.headers, payload=_decode(raw))

    def _report_usage(self, headers: Mapping[str, str], *, destination: str) -> None:
        for used, window_seconds in self.usage_from_headers(headers):
            self.throttle.report_usage(used_weight=used, window_seconds=window_seconds,
                                       destination=destination)

    def usage_from_headers(self, headers: Mapping[str, str]) -> list[tuple[int, int]]:
        """(weight used, window seconds) pairs the exchange reports; none by default."""
        return []

    def check_response(self, call: Call, response: Response) -> None:
        """Raise the mapped error when ``response`` is a failure. Modules override
        ``error_of`` to read their envelope; this handles the shared rules."""
        failure = self.error_of(response)
        if failure is None:
            return
        code, message = failure
        error_class = self.error_table.classify(code=code, message=message,
                                                http_status=response.status)
        if call.write and response.status >= 500 and error_class in (
                errors.ExchangeUnavailable, errors.ExchangeError):
            error_class = errors.OrderOutcomeUnknown
        raise self.build_error(error_class, call=call, response=response, code=code,
                               message=message)

    def build_error(self, error_class: type[errors.ExchangeError], *, call: Call,
                    response: Response, code: str | int | None,
                    message: str) -> errors.ExchangeError:
        kwargs: dict[str, Any] = {"code": code, "exchange": self.name,
                                  "http_status": response.status}
        if issubclass(error_class, errors.RateLimited):
            pause = self.pause_seconds(response, code)
            pause = self.throttle.pause(pause, reason=f"{self.name} {code or response.status}",
                                        destination=self.destination(call))
            return errors.RateLimited(message, retry_after=pause, **kwargs)
        if issubclass(error_class, errors.OrderOutcomeUnknown):
            return error_class(message, deadline_ms=call.deadline_ms, **kwargs)
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


def _decode(raw: requests.Response) -> Any:
    if not raw.content:
        return None
    try:
        return raw.json()
    except ValueError:
        return {"_text": raw.text[:500]}


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True when the TCP connection was never made, so nothing was sent."""
    text = repr(exc)
    return any(marker in text for marker in (
        "NewConnectionError", "Connection refused", "Name or service not known",
        "nodename nor servname", "Temporary failure in name resolution", "ConnectTimeout",
    ))
