"""What every exchange's private-stream server shares.

A server (one per exchange, ``paper/streams/<exchange>.py``) declares its WebSocket paths,
checks what the handshake carries (a listen key, a signed query), answers each client frame
in its exchange's words (auth, subscribe, ping, errors), renders engine events into its
exchange's messages and says which stream wants which message. This module runs the socket:

- every client frame is bounded: at most ``MAX_FRAME_BYTES`` (aiohttp closes a larger one
  with 1009) and, once parsed, at most ``MAX_JSON_DEPTH`` levels of nesting;
- everything the server sends goes through one queue per connection, written in order, so
  the stream faults act on it: ``stall`` silences the queue (and the answers to pings),
  ``repeat`` doubles the next event message, ``reorder`` holds it back until the next one;
- ``drop`` closes the TCP connection without a close frame;
- server-initiated heartbeats (``ping_interval``) and an idle deadline (``idle_timeout``)
  where the exchange has them; timings can be shrunk for tests (``StreamTiming``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import WSMsgType, web

from paper.engine import Engine, EngineEvent, PaperAccount, PaperOrder, PaperPosition
from paper.wire import plain

if TYPE_CHECKING:
    from paper.streams.hub import StreamHub

log = logging.getLogger("paper.streams")

MAX_FRAME_BYTES = 64 * 1024
MAX_JSON_DEPTH = 8
SPOT, LINEAR = "spot", "linear"

Frame = str | bytes


class BadFrame(ValueError):
    """A client frame that is not JSON (``reason="json"``) or nests too deep (``"depth"``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_json(text: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadFrame("depth") from None
    except ValueError:
        raise BadFrame("json") from None
    if not _within_depth(value, max_depth):
        raise BadFrame("depth")
    return value


def _within_depth(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def num(value: Decimal | int | None) -> str:
    """A number as the exchanges put it in strings: plain notation, "0" for none."""
    return plain(value if value is not None else Decimal(0))


def product_of(symbol: str) -> str:
    return LINEAR if ":" in symbol else SPOT


def split_symbol(symbol: str) -> tuple[str, str]:
    """``BTC/USDT`` or ``BTC/USDT:USDT`` -> (``BTC``, ``USDT``)."""
    base, _, rest = symbol.partition("/")
    return base, rest.partition(":")[0]


@dataclass(frozen=True)
class Outgoing:
    """One message of an exchange, before the stream encodes it.

    ``channel`` is the exchange's own topic family (``order``, ``execution``, ...),
    ``product`` the product it belongs to (``""``: any), ``symbol`` the exchange's symbol
    where subscriptions are per symbol."""

    channel: str
    product: str
    payload: Any
    symbol: str = ""


@dataclass
class Connection:
    """One live stream: who it is (once authenticated), what it subscribed to, and its
    queue. ``channels`` and ``subscriptions`` are the server's to fill."""

    server: StreamServer
    ws: web.WebSocketResponse
    request: web.Request
    product: str
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    api_key: str | None = None
    listen_key: str | None = None
    channels: set[str] = field(default_factory=set)
    subscriptions: dict[str, Any] = field(default_factory=dict)
    stalled: bool = False
    repeat_next: bool = False
    reorder_next: bool = False
    held: Frame | None = None
    unanswered_pings: int = 0
    closing: bool = False
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)

    @property
    def exchange(self) -> str:
        return self.server.exchange

    @property
    def authenticated(self) -> bool:
        return self.api_key is not None

    def send(self, frame: Frame) -> None:
        """A control frame (an answer, a pong, a heartbeat): never repeated or held."""
        self.queue.put_nowait(("frame", frame))

    def send_json(self, payload: Any) -> None:
        self.send(dumps(payload))

    def push(self, frame: Frame) -> None:
        """An event message, which the repeat and reorder faults act on."""
        if self.held is not None:
            frames = [frame, self.held]
            self.held = None
        elif self.reorder_next:
            self.reorder_next, self.held = False, frame
            return
        elif self.repeat_next:
            self.repeat_next = False
            frames = [frame, frame]
        else:
            frames = [frame]
        for each in frames:
            self.queue.put_nowait(("event", each))

    def close(self, code: int = 1000, message: str = "") -> None:
        """A clean close (a close frame), after what is queued."""
        self.closing = True
        self.queue.put_nowait(("close", (code, message)))

    def drop(self) -> None:
        """The TCP connection closes at once: no close frame, nothing queued is sent."""
        self.closing = True
        transport = self.request.transport
        if transport is not None:
            transport.close()


class StreamServer:
    """The base of every exchange's stream server. Subclasses set ``exchange`` and
    ``paths`` and override the hooks below."""

    exchange: ClassVar[str]
    # (real ws path, product): product "" serves every product on one socket
    paths: ClassVar[tuple[tuple[str, str], ...]]
    ping_interval: float | None = None  # server heartbeats, seconds
    max_missed_pongs: int | None = None  # close after this many unanswered heartbeats
    idle_timeout: float | None = None  # close when the client is silent this long
    compress_frames: bool = False

    def __init__(self, engine: Engine, hub: StreamHub) -> None:
        self.engine = engine
        self.hub = hub

    # -- the socket ------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"/{self.exchange}{path}", self._handler(product))
            for path, product in self.paths
        ]

    def _handler(self, product: str) -> Any:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.serve(request, product)

        return handle

    async def serve(self, request: web.Request, product: str) -> web.StreamResponse:
        refusal = self.handshake_refusal(request, product)
        if refusal is not None:
            self.hub.count(self.exchange, auth_failures=1)
            return refusal
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        conn = Connection(server=self, ws=ws, request=request, product=product)
        self.hub.attach(conn)
        tasks = [asyncio.create_task(self._write(conn))]
        if self.heartbeat_interval(conn):
            tasks.append(asyncio.create_task(self._heartbeat(conn)))
        try:
            self.opened(conn, request)
            await self._read(conn)
        finally:
            self.hub.detach(conn)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await task
        return ws

    async def _read(self, conn: Connection) -> None:
        while not conn.ws.closed:
            try:
                message = await conn.ws.receive(timeout=self.idle_timeout)
            except TimeoutError:
                conn.drop()  # the exchange closes a socket its client left silent
                return
            if message.type in (
                WSMsgType.CLOSE,
                WSMsgType.CLOSING,
                WSMsgType.CLOSED,
                WSMsgType.ERROR,
            ):
                return
            if conn.stalled:
                continue
            if message.type == WSMsgType.PING:
                conn.queue.put_nowait(("pong", message.data))
            elif message.type == WSMsgType.PONG:
                conn.unanswered_pings = 0
            elif message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                text = message.data
                if isinstance(text, bytes):
                    try:
                        text = text.decode()
                    except UnicodeDecodeError:
                        text = "\ufffd"
                try:
                    self.received(conn, text)
                except Exception:  # one bad frame must not end the server's loop
                    log.exception("%s stream: frame handling failed", self.exchange)

    async def _write(self, conn: Connection) -> None:
        ws = conn.ws
        while True:
            kind, data = await conn.queue.get()
            if conn.stalled or ws.closed:
                continue
            if kind == "close":
                await ws.close(code=data[0], message=data[1].encode())
                return
            if kind == "pong":
                await ws.pong(data)
                continue
            if kind == "ping":
                await ws.ping(data)
                continue
            frame = self.wire_frame(data)
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
            if kind == "event":
                self.hub.count(self.exchange, messages_sent=1)

    def heartbeat_interval(self, conn: Connection) -> float | None:
        return self.ping_interval

    async def _heartbeat(self, conn: Connection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval(conn) or 1.0)
            if conn.stalled or conn.closing:
                continue
            if self.max_missed_pongs is not None and conn.unanswered_pings >= self.max_missed_pongs:
                conn.close(1000, "heartbeat missed")
                return
            conn.unanswered_pings += 1
            self.send_heartbeat(conn)

    def wire_frame(self, frame: Frame) -> Frame:
        """How a frame travels (BingX gzips every one)."""
        return frame

    # -- hooks -----------------------------------------------------------------------------

    def handshake_refusal(self, request: web.Request, product: str) -> web.Response | None:
        """An HTTP answer refusing the upgrade (a bad listen key or signed query), or None."""
        return None

    def opened(self, conn: Connection, request: web.Request) -> None:
        """The socket is open (authenticate here what the handshake carried)."""

    def received(self, conn: Connection, text: str) -> None:
        raise NotImplementedError

    def send_heartbeat(self, conn: Connection) -> None:
        conn.queue.put_nowait(("ping", b""))

    def authenticate(self, conn: Connection, account: PaperAccount) -> None:
        conn.api_key = account.api_key

    def refuse_auth(self) -> None:
        self.hub.count(self.exchange, auth_failures=1)

    def render(self, event: EngineEvent) -> list[Outgoing]:
        """The messages of one order event (accepted, fill, closed)."""
        return []

    def render_balances(
        self, account: PaperAccount, assets: Mapping[str, list[str]]
    ) -> list[Outgoing]:
        """The balance messages for the assets touched, per product (spot, linear)."""
        return []

    def render_positions(self, account: PaperAccount, symbols: Iterable[str]) -> list[Outgoing]:
        return []

    def render_funding(self, event: EngineEvent) -> list[Outgoing]:
        """Deposits and transfers (the control API setting balances)."""
        return []

    def wants(self, conn: Connection, message: Outgoing) -> bool:
        return (
            message.product in ("", conn.product) or conn.product == ""
        ) and message.channel in conn.channels

    def encode(self, conn: Connection, message: Outgoing) -> Frame:
        return dumps(message.payload)

    def listen_key_expired(self, conn: Connection) -> None:
        """The stream's listen key lapsed: the exchange's expiry event, then the close."""
        conn.close(1000, "listen key expired")

    # -- helpers for the renderers ----------------------------------------------------------

    def positions_for(
        self, account: PaperAccount, symbols: Iterable[str]
    ) -> list[tuple[str, PaperPosition | None]]:
        """(unified symbol, its position or None when flat), for each symbol."""
        held = {p.symbol: p for p in self.engine.positions(self.exchange, account)}
        return [(symbol, held.get(symbol)) for symbol in symbols]

    def balance_of(self, account: PaperAccount, asset: str) -> tuple[Decimal, Decimal]:
        free, locked = account.balances.get(asset, [Decimal(0), Decimal(0)])
        return free, locked

    def now_ms(self) -> int:
        return self.engine.now_ms()


def order_event_status(event: EngineEvent) -> str:
    """The engine status an order event reports."""
    order = event.order
    assert order is not None
    return order.status


def last_fill_of(event: EngineEvent) -> tuple[Decimal, Decimal]:
    """(quantity, price) of the event's fill, zeros when it is no fill."""
    if event.fill is None:
        return Decimal(0), Decimal(0)
    return event.fill.quantity, event.fill.price


def cumulative_quote(order: PaperOrder) -> Decimal:
    return sum((fill.quantity * fill.price for fill in order.fills), Decimal(0))


def cumulative_fee(order: PaperOrder) -> Decimal:
    return sum((fill.fee for fill in order.fills), Decimal(0))


def all_assets(assets: Mapping[str, list[str]]) -> list[str]:
    """The assets touched in any product, each once."""
    return list(dict.fromkeys(asset for touched in assets.values() for asset in touched))
