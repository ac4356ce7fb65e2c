"""The HTTP transport under every connector.

Three things the connectors rely on and ``requests`` alone does not give:

- **A whole-request deadline.** ``requests`` bounds each socket operation, so a host that
  trickles one byte every few seconds holds a thread for ever. One watchdog thread shuts
  the socket of any request still running at its deadline (connect, send and the whole
  body), and the request then fails as timed out.
- **Whether any byte could have left.** The connection classes note the moment before the
  first ``send`` on the socket. A failure before it (DNS, refused, connect timeout, TLS
  handshake, a bad URL, a refused destination) surely never reached the exchange; any
  failure after it may have. The connector's outcome rule (``exchanges/base.py``) is built
  on this one fact.
- **Vetted destinations.** Right before connecting, the resolved addresses are handed to
  the connector's destination guard, and only those addresses are dialled, so a name that
  resolves differently a moment later (DNS rebinding) cannot reach past the check.

Bodies are read in chunks up to the session's bound (``MAX_BODY_BYTES`` unless
``new_session`` is given another); nothing is decoded here.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from exchanges import errors

# (host, port, resolved addresses) -> None, or raises errors.DestinationNotAllowed
DestinationGuard = Callable[[str, int, Sequence[str]], None]

MAX_BODY_BYTES = 32 * 1024 * 1024  # Binance's full exchangeInfo is a few MB
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TransportFailure(Exception):
    """The request failed. ``may_have_arrived`` is False only when no request byte could
    have left this machine; ``timed_out`` when the whole-request deadline ran out."""

    def __init__(self, reason: str, *, may_have_arrived: bool, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.may_have_arrived = may_have_arrived
        self.timed_out = timed_out


@dataclass(eq=False)
class _CallState:
    """What the connection classes learn about the request running on this thread."""

    deadline: float  # time.monotonic()
    guard: DestinationGuard | None
    engaged: bool = False  # our connection class ran (real network)
    send_started: bool = False  # a byte may have left
    expired: bool = False
    finished: bool = False
    sock: socket.socket | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, sock: socket.socket | None) -> None:
        with self.lock:
            self.engaged = True
            self.sock = sock
            if self.expired and sock is not None:
                _shut(sock)

    def expire(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.expired = True
            if self.sock is not None:
                _shut(self.sock)

    def finish(self) -> None:
        with self.lock:
            self.finished = True


def _shut(sock: socket.socket) -> None:
    """Wake a thread blocked on ``sock``. The plain socket's shutdown is called even for a
    TLS socket: the TLS object's own would tear down state the reading thread still uses."""
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_local = threading.local()


def _current() -> _CallState | None:
    return getattr(_local, "state", None)


class _Watchdog:
    """One daemon thread for the whole process: expires requests at their deadlines."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _CallState]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, state: _CallState) -> None:
        with self._wake:
            heapq.heappush(self._heap, (state.deadline, next(self._counter), state))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="exchange-deadlines", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                deadline, _, state = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._wake.wait(timeout=wait)
                    continue
                heapq.heappop(self._heap)
            state.expire()


_WATCHDOG = _Watchdog()


class _GuardedMixin:
    """Connection behaviour shared by plain and TLS connections."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    sock: socket.socket | None

    def _new_conn(self) -> socket.socket:
        state = _current()
        if state is not None:
            state.attach(None)
        host = getattr(self, "_dns_host", self.host)
        try:
            infos = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if state is not None and state.guard is not None:
            state.guard(self.host, self.port, addresses)
        sock = self._dial(infos)
        if state is not None:
            state.attach(sock)
        return sock

    def _dial(self, infos: list[Any]) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        last: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.settimeout(timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(address)
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"connect to {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                last = exc
        raise NewConnectionError(self, f"could not connect to {self.host}: {last}")  # type: ignore[arg-type]

    def send(self, data: Any) -> None:
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        state = _current()
        if state is not None:
            state.send_started = True  # from here on a byte may have left
            state.attach(self.sock)
        super().send(data)  # type: ignore[misc]


class GuardedHTTPConnection(_GuardedMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """``requests`` adapter whose pools use the connection classes above, and which carries
    the largest answer body its session reads. It does not override ``send``, so test
    doubles that patch ``HTTPAdapter.send`` still apply."""

    def __init__(self, *args: Any, max_body_bytes: int = MAX_BODY_BYTES, **kwargs: Any) -> None:
        self.max_body_bytes = max_body_bytes
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def new_session(*, max_body_bytes: int = MAX_BODY_BYTES) -> requests.Session:
    """A session for one connector; an answer body past ``max_body_bytes`` is not read."""
    session = requests.Session()
    adapter = GuardedAdapter(max_body_bytes=max_body_bytes)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    body: str | None,
    headers: Mapping[str, str],
    timeout_seconds: float,
    connect_timeout_seconds: float,
    guard: DestinationGuard | None = None,
) -> RawAnswer:
    """One request under one deadline. Raises TransportFailure, or DestinationNotAllowed
    when the guard refused the address (nothing was sent)."""
    state = _CallState(deadline=time.monotonic() + timeout_seconds, guard=guard)
    _local.state = state
    _WATCHDOG.watch(state)
    try:
        return _exchange(
            session,
            method,
            url,
            body=body,
            headers=headers,
            state=state,
            timeouts=(min(connect_timeout_seconds, timeout_seconds), timeout_seconds),
        )
    except errors.DestinationNotAllowed:
        raise
    except TransportFailure:
        raise
    except Exception as exc:  # every failure, known or not, is judged by what was sent
        raise _failure(exc, state) from None
    finally:
        state.finish()
        _local.state = None


def _exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    body: str | None,
    headers: Mapping[str, str],
    state: _CallState,
    timeouts: tuple[float, float],
) -> RawAnswer:
    raw = session.request(
        method,
        url,
        data=body,
        headers=dict(headers),
        timeout=timeouts,
        allow_redirects=False,
        stream=True,
    )
    # the adapter that answered (a session of our own carries its bound; any other, ours)
    max_bytes = getattr(raw.connection, "max_body_bytes", MAX_BODY_BYTES)
    try:
        content = _read_body(raw, state, max_bytes=max_bytes)
    finally:
        raw.close()
    return RawAnswer(status=raw.status_code, headers=raw.headers, body=content)


def _read_body(raw: requests.Response, state: _CallState, *, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in raw.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise TransportFailure("the answer is larger than we accept", may_have_arrived=True)
        chunks.append(chunk)
    if state.expired:
        raise TransportFailure(
            "no whole answer before the deadline", may_have_arrived=True, timed_out=True
        )
    return b"".join(chunks)


# When the request never reached our connection classes (it failed before them, or a test
# double stands in for the network), the exception's kind is all there is to go on.
_BEFORE_SENDING = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.SSLError,
)
_NEVER_CONNECTED_MARKERS = (
    "NewConnectionError",
    "NameResolutionError",
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
)


def _failure(exc: Exception, state: _CallState) -> TransportFailure:
    reason = _reason(exc)
    if state.expired:
        return TransportFailure(
            "no whole answer before the deadline",
            may_have_arrived=state.send_started or not state.engaged,
            timed_out=True,
        )
    if state.engaged:
        return TransportFailure(
            reason,
            may_have_arrived=state.send_started,
            timed_out=isinstance(exc, requests.exceptions.ReadTimeout),
        )
    never_sent = isinstance(exc, _BEFORE_SENDING) or (
        isinstance(exc, requests.exceptions.ConnectionError)
        and any(marker in repr(exc) for marker in _NEVER_CONNECTED_MARKERS)
    )
    return TransportFailure(
        reason,
        may_have_arrived=not never_sent,
        timed_out=isinstance(exc, requests.exceptions.ReadTimeout),
    )


# most specific first: ConnectTimeout and SSLError are ConnectionErrors too
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (requests.exceptions.ConnectTimeout, "connect timeout"),
    (requests.exceptions.ReadTimeout, "no answer within the timeout"),
    (requests.exceptions.SSLError, "TLS failure"),
    (requests.exceptions.ChunkedEncodingError, "the answer was cut off"),
    (requests.exceptions.ContentDecodingError, "the answer could not be decompressed"),
    (requests.exceptions.ConnectionError, "connection failed or lost"),
)


def _reason(exc: Exception) -> str:
    """A short, URL-free description: exception messages carry the signed query string."""
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    if isinstance(exc, requests.exceptions.RequestException):
        return type(exc).__name__
    return f"unexpected {type(exc).__name__}"
