"""The asyncio driver of one private stream: connect, authenticate, subscribe, keep alive,
detect silence, reconnect with exponential backoff and full jitter.

It knows no exchange: everything exchange-specific comes from the ``StreamProtocol``. It
knows no Django either: updates go to ``on_updates`` and state changes to ``on_state``;
the runner (Django side) owns leases, the REST snapshot before live messages apply, and the
ledger. A refused auth stops the session (``AuthRefused``) instead of looping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc

from exchanges.base import Credentials
from exchanges.streams.base import (
    Heartbeat,
    MessageRefused,
    SignedRequest,
    StreamProtocol,
    Update,
)
from exchanges.transport import DestinationGuard

log = logging.getLogger(__name__)

STATES = ("connecting", "connected", "reconnecting", "down")
AUTH_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 10.0


class AuthRefused(Exception):
    """The exchange refused our credentials: permanent until the operator acts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"stream auth refused [{code}] {message}".strip())
        self.code = code


# The upgrade refused for who we are: the credentials are in the URL (Pionex spot's signed
# query, a listen key), so this is the exchange refusing them, not a passing fault (RFC 6455
# section 4.1: a server may answer the handshake with 401 to demand authentication).
AUTH_HANDSHAKE_STATUSES = (401, 403)


@contextlib.asynccontextmanager
async def _refused_handshake_is_auth() -> AsyncIterator[None]:
    try:
        yield
    except aiohttp.WSServerHandshakeError as exc:
        if exc.status in AUTH_HANDSHAKE_STATUSES:
            raise AuthRefused(str(exc.status), exc.message or "handshake refused") from None
        raise


class _FixedResolver(aiohttp.abc.AbstractResolver):
    """Answers for the one vetted host with the addresses the guard passed, nothing else."""

    def __init__(self, host: str, port: int, infos: Sequence[Any]) -> None:
        self.host = host
        self.port = port
        self.infos = infos

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        if host != self.host:
            raise OSError(f"{host} was not vetted")
        return [
            {
                "hostname": host,
                "host": str(info[4][0]),
                "port": port,
                "family": info[0],
                "proto": info[2],
                "flags": socket.AI_NUMERICHOST,
            }
            for info in self.infos
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class Backoff:
    """Exponential with full jitter: attempt n waits uniform(0, min(cap, base * 2**n)),
    never less than ``floor_seconds`` (keeps reconnects inside the connection quota)."""

    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    floor_seconds: float = 0.2

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** min(attempt, 30))
        return max(self.floor_seconds, ceiling * rng())


class StreamSession:
    def __init__(
        self,
        protocol: StreamProtocol,
        *,
        credentials: Credentials,
        environment: str,
        on_updates: Callable[[list[Update]], Awaitable[None] | None],
        on_state: Callable[[str, str], None] | None = None,
        base: str | None = None,
        symbols: Sequence[str] = (),
        listen_key_request: SignedRequest | None = None,
        backoff: Backoff = Backoff(),
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        destination_guard: DestinationGuard | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self.protocol = protocol
        self.heartbeat = heartbeat or protocol.heartbeat
        self.credentials = credentials
        self.environment = environment
        self.on_updates = on_updates
        self.on_state = on_state or (lambda state, reason: None)
        self.base = base
        self.symbols = tuple(symbols)
        self.listen_key_request = listen_key_request
        self.backoff = backoff
        self.clock = clock
        self.rng = rng
        # (host, port, resolved addresses) -> None or DestinationNotAllowed: the connector's
        # own check (exchanges.hosts.vet_addresses), so the socket goes where REST may
        self.destination_guard = destination_guard
        self.reconnects = 0
        self.last_message_at: float | None = None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the stream until ``stop`` is set; AuthRefused ends it for good."""
        attempt = 0
        while not stop.is_set():
            self.on_state("connecting" if attempt == 0 else "reconnecting", "")
            try:
                reason = await self.run_once(stop)
                attempt = 0 if reason == "stopped" else attempt
            except AuthRefused as refused:
                self.on_state("down", str(refused))
                raise
            except (TimeoutError, aiohttp.ClientError, OSError, MessageRefused) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                break
            self.reconnects += 1
            self.on_state("reconnecting", reason)
            delay = self.backoff.delay(attempt, self.rng)
            attempt += 1
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        self.on_state("down", "stopped")

    async def run_once(self, stop: asyncio.Event) -> str:
        """One connection from connect to its end; returns why it ended."""
        listen_key = None
        if self.protocol.listen_key is not None:
            if self.listen_key_request is None:
                raise ValueError(f"{self.protocol.name} needs the connector's request function")
            listen_key = await asyncio.to_thread(
                self.protocol.create_listen_key, self.listen_key_request
            )
        url = self.protocol.url(
            self.environment,
            base=self.base,
            listen_key=listen_key,
            credentials=self.credentials,
            now_ms=self.now_ms(),
        )
        timeout = aiohttp.ClientTimeout(total=None, connect=CONNECT_TIMEOUT_SECONDS)
        resolver = await self._vetted_resolver(url)
        connector = aiohttp.TCPConnector(resolver=resolver) if resolver is not None else None
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as http,
            _refused_handshake_is_auth(),
            http.ws_connect(url, autoping=False, max_msg_size=0, compress=0) as ws,
        ):
            await self._authenticate(ws)
            for frame in self.protocol.subscribe_messages(self.symbols):
                await ws.send_str(frame)
            self.on_state("connected", "")
            tasks = [asyncio.create_task(self._heartbeat(ws))]
            if listen_key is not None:
                tasks.append(asyncio.create_task(self._keep_alive(listen_key)))
            try:
                return await self._read(ws, stop)
            finally:
                for task in tasks:
                    task.cancel()

    async def _vetted_resolver(self, url: str) -> aiohttp.abc.AbstractResolver | None:
        """The REST transport's destination check, for the socket: the host is resolved
        here, its addresses go to the guard (DestinationNotAllowed refuses them), and only
        those addresses are dialled, so a second lookup cannot differ (DNS rebinding)."""
        if self.destination_guard is None:
            return None
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        self.destination_guard(host, port, addresses)
        return _FixedResolver(host, port, infos)

    async def _authenticate(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        frames = self.protocol.auth_messages(self.credentials, self.now_ms())
        for frame in frames:
            await ws.send_str(frame)
        if not frames or not self.protocol.auth_acknowledged:
            return
        deadline = asyncio.get_running_loop().time() + AUTH_TIMEOUT_SECONDS
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await ws.receive(timeout=max(remaining, 0.001))
            data = self._payload(message)
            if data is None:
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    raise aiohttp.ClientError("closed before authenticating")
                continue
            outcome = self.protocol.auth_outcome(data)
            if outcome is not None:
                if not outcome.ok:
                    raise AuthRefused(outcome.code, outcome.message)
                return
            await self._answer(ws, data)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, stop: asyncio.Event) -> str:
        dead_after = self.heartbeat.dead_after_seconds
        while not stop.is_set():
            try:
                message = await ws.receive(timeout=dead_after)
            except TimeoutError:
                return "silent"  # nothing at all for dead_after: the stream is dead
            self.last_message_at = self.clock()
            if message.type == aiohttp.WSMsgType.PING:
                await ws.pong(message.data)
                continue
            data = self._payload(message)
            if data is None:
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return "closed"
                continue
            if await self._answer(ws, data):
                continue
            self._refused_late(data)
            if self.protocol.ends_stream(data):
                return "ended by the exchange"
            try:
                updates = self.protocol.parse(data)
            except MessageRefused as refused:
                log.warning("%s stream frame refused: %s", self.protocol.name, refused)
                continue
            if updates:
                result = self.on_updates(updates)
                if asyncio.iscoroutine(result):
                    await result
        return "stopped"

    def _refused_late(self, data: Any) -> None:
        """Where the server does not answer our auth before we go on (Pionex futures), its
        refusal comes among the stream's frames: it ends the session like any refusal,
        instead of the close that follows it looking like a passing fault."""
        if self.protocol.auth_acknowledged:
            return
        outcome = self.protocol.auth_outcome(data)
        if outcome is not None and not outcome.ok:
            raise AuthRefused(outcome.code, outcome.message)

    def _payload(self, message: aiohttp.WSMessage) -> Any:
        if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            try:
                return self.protocol.decode(message.data)
            except MessageRefused as refused:
                log.warning("%s stream frame refused: %s", self.protocol.name, refused)
        return None

    async def _answer(self, ws: aiohttp.ClientWebSocketResponse, data: Any) -> bool:
        reply = self.protocol.reply(data)
        if reply is not None:
            await ws.send_str(reply)
        return reply is not None

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        heartbeat = self.heartbeat
        if heartbeat.send is None and not heartbeat.ping_frames:
            return
        while not ws.closed:
            await asyncio.sleep(heartbeat.interval_seconds)
            if heartbeat.ping_frames:
                await ws.ping()
            if heartbeat.send is not None:
                await ws.send_str(heartbeat.send)

    async def _keep_alive(self, listen_key: str) -> None:
        lifecycle = self.protocol.listen_key
        assert lifecycle is not None and self.listen_key_request is not None
        while True:
            await asyncio.sleep(lifecycle.keep_alive_every_seconds)
            try:
                await asyncio.to_thread(
                    self.protocol.keep_alive_listen_key, self.listen_key_request, listen_key
                )
            except Exception as exc:  # the next failed read reconnects with a new key
                log.warning("%s listen key keep-alive failed: %s", self.protocol.name, exc)
