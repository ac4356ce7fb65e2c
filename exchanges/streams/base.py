"""What a private stream yields, and the shape every exchange's stream protocol has.

A protocol is pure: it builds URLs and messages from credentials and an injected clock, and
turns one raw frame into our updates. It opens no socket (``session.py`` does) and makes no
REST call (the listen-key methods take the connector's signed-request function). Parsing is
pure and repeatable: the same frame always gives the same updates, so repeats and reordering
are the ledger's business, not the parser's. What each exchange documents, with sources, is
in docs/streams.md.
"""

from __future__ import annotations

import json
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from exchanges.base import Credentials, FillUpdate
from exchanges.errors import ExchangeError, NotSupported
from exchanges.symbols import parse_symbol

# -- bounds: a frame bigger or deeper than any documented payload is refused unread ----------

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB, compressed or not, and after gunzip
MAX_DEPTH = 12  # the deepest documented payload nests 5 levels
MAX_NODES = 50_000  # values in one frame (a 1000-order burst is ~40k)

LIQUIDITIES = ("maker", "taker")
SIDES = ("buy", "sell")
# Longest first, so BTCUSDT splits as BTC + USDT and ETHFDUSD as ETH + FDUSD.
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


class MessageRefused(ExchangeError):
    """A frame we will not read: too big, too deep, not JSON, or not the documented shape."""


# -- what a stream yields ----------------------------------------------------------------------


@dataclass(frozen=True)
class OrderUpdate:
    exchange: str
    symbol: str  # unified: BTC/USDT, BTC/USDT:USDT
    exchange_order_id: str
    client_order_id: str | None
    status: str  # one of exchanges.base.ORDER_STATUSES
    raw_status: str
    side: str  # buy | sell
    quantity: Decimal | None  # base currency; None where the frame does not say
    filled_quantity: Decimal  # cumulative, base currency
    average_price: Decimal | None = None
    price: Decimal | None = None
    updated_at_ms: int | None = None


@dataclass(frozen=True)
class BalanceUpdate:
    exchange: str
    asset: str
    free: Decimal | None  # None where the exchange pushes only a wallet total
    locked: Decimal | None
    total: Decimal | None
    time_ms: int | None = None


@dataclass(frozen=True)
class PositionUpdate:
    exchange: str
    symbol: str
    quantity: Decimal  # signed, base currency: > 0 long, < 0 short, 0 flat
    entry_price: Decimal | None
    unrealized_pnl: Decimal | None = None
    position_side: str = "BOTH"  # the exchange's own; one-way accounts say BOTH/net
    time_ms: int | None = None


Update = OrderUpdate | FillUpdate | BalanceUpdate | PositionUpdate


# -- what a protocol declares ----------------------------------------------------------------


@dataclass(frozen=True)
class Heartbeat:
    """How the stream is kept alive and when silence means it is dead.

    ``send`` is text the client sends every ``interval_seconds`` (None: nothing of ours);
    ``ping_frames`` asks for WebSocket ping frames at that interval instead. Where the
    server pings (``server_pings``), the protocol's ``reply`` answers. A stream from which
    no frame at all (data, pong, ping) arrived for ``dead_after_seconds`` is dead."""

    interval_seconds: float
    dead_after_seconds: float
    send: str | None = None
    ping_frames: bool = False
    server_pings: bool = False
    source: str = ""


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str


@dataclass(frozen=True)
class ListenKeyLifecycle:
    """A REST-issued stream key: create, keep alive on a schedule, delete.

    ``key_param`` names the query parameter that carries the key on keep-alive and delete
    (None: the key is implied by the API key). The key lives ``valid_for_seconds`` after its
    last keep-alive; we renew every ``keep_alive_every_seconds``."""

    create: Endpoint
    keep_alive: Endpoint
    delete: Endpoint
    keep_alive_every_seconds: float
    valid_for_seconds: float
    key_param: str | None = None
    signed: bool = False
    shared_per_account: bool = False  # a second POST returns the same key (one per account)
    source: str = ""


@dataclass(frozen=True)
class Quotas:
    """Connection limits as published; the runner backs off inside them."""

    connections_per_ip: int | None = None
    new_connections: int | None = None  # per new_connections_window_seconds
    new_connections_window_seconds: float | None = None
    subscriptions_per_connection: int | None = None
    messages_per_second: float | None = None  # what the client may send
    max_connection_seconds: float | None = None  # the server ends a connection after this
    source: str = ""


@dataclass(frozen=True)
class AuthOutcome:
    ok: bool
    code: str = ""
    message: str = ""


# (method, path, params) -> decoded JSON payload: the connector's signed (or keyed) request.
SignedRequest = Callable[[str, str, Mapping[str, str]], Any]
# exchange symbol (e.g. "BTC-USDT-SWAP") -> base currency per contract
ContractValue = Callable[[str], Decimal | None]


# -- shared parsing rules ----------------------------------------------------------------------


def gunzip_bounded(raw: bytes, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """Gunzip at most ``limit`` bytes; a frame that inflates past it is refused."""
    inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
    try:
        out = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise MessageRefused("frame is not gzip", code="not_gzip") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise MessageRefused("frame inflates past the size bound", code="too_big")
    return out


def decode_frame(raw: str | bytes | bytearray) -> Any:
    """One frame as JSON, or its stripped text when it is no JSON object or array (the
    text heartbeats: ``pong``, ``Ping``, ``PONG``). Refuses oversize and deep frames."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MessageRefused("frame is over the size bound", code="too_big")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise MessageRefused("frame is not UTF-8", code="not_utf8") from None
    elif isinstance(raw, str):
        text = raw
    else:
        raise MessageRefused("frame is neither text nor bytes", code="bad_frame")
    if len(text) > MAX_MESSAGE_BYTES:
        raise MessageRefused("frame is over the size bound", code="too_big")
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return stripped
    try:
        value = json.loads(stripped, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise MessageRefused("frame is not JSON", code="not_json") from None
    check_shape_bounds(value)
    return value


def check_shape_bounds(value: Any) -> None:
    """Refuse values nested deeper than MAX_DEPTH or holding more than MAX_NODES values."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise MessageRefused("frame is nested too deep or too large", code="too_deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def decimal(value: Any, what: str) -> Decimal:
    """A documented numeric field (strings on the wire); refuses what is no finite number."""
    if isinstance(value, bool) or value is None:
        raise MessageRefused(f"{what} is not a number", code="bad_field")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MessageRefused(f"{what} is not a number", code="bad_field") from None
    if not number.is_finite():
        raise MessageRefused(f"{what} is not a finite number", code="bad_field")
    return number


def decimal_or_none(value: Any, what: str) -> Decimal | None:
    return None if value in (None, "") else decimal(value, what)


def positive_or_none(value: Any, what: str) -> Decimal | None:
    number = decimal_or_none(value, what)
    return number if number is not None and number > 0 else None


def int_or_none(value: Any) -> int | None:
    if value in (None, "") or isinstance(value, bool):
        return None
    try:
        return int(str(value))
    except ValueError:
        raise MessageRefused("a time field is not an integer", code="bad_field") from None


def text_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def required(raw: Mapping[str, Any], key: str) -> Any:
    if not isinstance(raw, Mapping) or raw.get(key) in (None, ""):
        raise MessageRefused(f"field {key!r} is missing", code="bad_field")
    return raw[key]


def side_of(value: Any) -> str:
    side = str(value).lower()
    if side not in SIDES:
        raise MessageRefused(f"unknown side {value!r}", code="bad_field")
    return side


def status_of(status_map: Mapping[str, str], raw: Any, exchange: str) -> str:
    if raw not in status_map:
        raise MessageRefused(
            f"unknown {exchange} order status {raw!r}", code="bad_status", exchange=exchange
        )
    return status_map[raw]


def split_concatenated(name: str, kind: str) -> str:
    """BTCUSDT + spot -> BTC/USDT; + linear -> BTC/USDT:USDT (Bybit and Binance names)."""
    for quote in QUOTE_ASSETS:
        if name.endswith(quote) and len(name) > len(quote):
            base = name[: -len(quote)]
            unified = f"{base}/{quote}:{quote}" if kind == "linear" else f"{base}/{quote}"
            return checked_symbol(unified)
    raise MessageRefused(f"cannot split symbol {name!r}", code="bad_symbol")


def checked_symbol(unified: str) -> str:
    try:
        return parse_symbol(unified).symbol
    except ExchangeError:
        raise MessageRefused(f"not a symbol we trade: {unified!r}", code="bad_symbol") from None


def mapping_of(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def items(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A documented list of objects (a single object counts as a list of one)."""
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise MessageRefused(f"{what} is not a list of objects", code="bad_field")
    return value


def product_of(api_type: str) -> str:
    """Our api type -> the stream product: spot (spot, margin), linear, or unified."""
    return {
        "spot": "spot",
        "margin": "spot",
        "perpetual_futures": "linear",
        "unified_account": "unified",
    }.get(api_type, api_type)


# -- the protocol --------------------------------------------------------------------------


class StreamProtocol(ABC):
    """One exchange's private stream for one api type. Subclasses set the data and
    implement the messages and ``parse``; nothing here touches the network."""

    name: ClassVar[str]
    # (environment, product) -> wss root; the product's path is appended
    ws_roots: ClassVar[Mapping[tuple[str, str], str]]
    ws_paths: ClassVar[Mapping[str, str]]
    products: ClassVar[Sequence[str]] = ("spot", "linear")
    heartbeat: ClassVar[Heartbeat]
    quotas: Quotas = Quotas()
    gzip: ClassVar[bool] = False
    # whether the server answers our auth message (else the session subscribes at once)
    auth_acknowledged: bool = True

    def __init__(
        self, api_type: str, *, contract_value: ContractValue | None = None, dead_man: bool = False
    ) -> None:
        """``dead_man``: the connection's dead-man switch is enabled, so the stream also
        subscribes what the exchange's switch watches (Bybit's ``dcp``; the others' switches
        are countdowns and subscribe nothing)."""
        product = product_of(api_type)
        if product not in self.products:
            raise NotSupported(
                f"{self.name} has no private stream for {api_type}", exchange=self.name
            )
        self.api_type = api_type
        self.product = product
        self.contract_value = contract_value
        self.dead_man = dead_man

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.api_type}>"

    # -- connection ----------------------------------------------------------------------

    def url(
        self,
        environment: str,
        *,
        base: str | None = None,
        listen_key: str | None = None,
        credentials: Credentials | None = None,
        now_ms: int | None = None,
    ) -> str:
        """The stream URL. ``base`` replaces the official root (paper: ``.../<exchange>``);
        a listen key or a signed query is added where the exchange wants one there."""
        root = base.rstrip("/") if base else self.ws_roots.get((environment, self.product))
        if root is None:
            raise NotSupported(
                f"{self.name} has no {self.product} stream in {environment}", exchange=self.name
            )
        return (
            root
            + self.ws_paths[self.product]
            + self.url_suffix(listen_key=listen_key, credentials=credentials, now_ms=now_ms)
        )

    def url_suffix(
        self, *, listen_key: str | None, credentials: Credentials | None, now_ms: int | None
    ) -> str:
        return ""

    def auth_messages(self, credentials: Credentials, now_ms: int) -> list[str]:
        """Frames to send right after connecting (empty where the URL authenticates)."""
        return []

    def auth_outcome(self, message: Any) -> AuthOutcome | None:
        """The server's answer to our auth, or None when ``message`` is something else."""
        return None

    @abstractmethod
    def subscribe_messages(self, symbols: Sequence[str] = ()) -> list[str]:
        """Frames that subscribe orders, fills, balances and positions. ``symbols`` (unified)
        matter only where the exchange subscribes per symbol."""

    def reply(self, message: Any) -> str | None:
        """The answer to a server heartbeat, or None."""
        return None

    def ends_stream(self, message: Any) -> bool:
        """Whether ``message`` says the server ended our subscription (expired listen key,
        terminated subscription, announced shutdown): the session must reconnect."""
        return False

    # -- listen keys ----------------------------------------------------------------------

    listen_key: ListenKeyLifecycle | None = None

    def create_listen_key(self, request: SignedRequest) -> str:
        lifecycle = self._lifecycle()
        payload = request(lifecycle.create.method, lifecycle.create.path, {})
        key = payload.get("listenKey") if isinstance(payload, Mapping) else None
        if (
            key is None
            and isinstance(payload, Mapping)
            and isinstance(payload.get("data"), Mapping)
        ):
            key = payload["data"].get("listenKey")
        if not isinstance(key, str) or not key or len(key) > 256:
            raise MessageRefused(
                "no listenKey in the answer", code="no_listen_key", exchange=self.name
            )
        return key

    def keep_alive_listen_key(self, request: SignedRequest, key: str) -> None:
        lifecycle = self._lifecycle()
        request(lifecycle.keep_alive.method, lifecycle.keep_alive.path, self._key_params(key))

    def delete_listen_key(self, request: SignedRequest, key: str) -> None:
        """Only the lease holder may call this: where the key is one per account, deleting
        it silences every stream of that account (issue 12, section 2)."""
        lifecycle = self._lifecycle()
        request(lifecycle.delete.method, lifecycle.delete.path, self._key_params(key))

    def _key_params(self, key: str) -> dict[str, str]:
        lifecycle = self._lifecycle()
        return {lifecycle.key_param: key} if lifecycle.key_param else {}

    def _lifecycle(self) -> ListenKeyLifecycle:
        if self.listen_key is None:
            raise NotSupported(
                f"{self.name} {self.product} streams use no listen key", exchange=self.name
            )
        return self.listen_key

    # -- frames ------------------------------------------------------------------------------

    def decode(self, raw: str | bytes | bytearray | Any) -> Any:
        """One raw frame as JSON (or heartbeat text); already-decoded values pass through."""
        if isinstance(raw, bytes | bytearray):
            if len(raw) > MAX_MESSAGE_BYTES:
                raise MessageRefused(
                    "frame is over the size bound", code="too_big", exchange=self.name
                )
            if self.gzip:
                raw = gunzip_bounded(bytes(raw))
        if isinstance(raw, str | bytes | bytearray):
            return decode_frame(raw)
        check_shape_bounds(raw)
        return raw

    def parse(self, message: str | bytes | Any) -> list[Update]:
        """Our updates from one frame; pongs, acks and unknown topics give none."""
        return self.parse_decoded(self.decode(message))

    @abstractmethod
    def parse_decoded(self, message: Any) -> list[Update]:
        """``parse`` after decoding."""

    def quantity(self, exchange_symbol: str, size: Decimal) -> Decimal:
        """Base-currency quantity of ``size``; contract exchanges override."""
        return size
