"""The user-stream runner (``manage.py run_user_streams``): one private stream per enabled
connection whose exchange offers one, each held by exactly one runner in the cluster.

- **Leases.** Every STREAM_SCAN_SECONDS the runner lists its candidates
  (``connection_ids_for_streams``) and tries to take each one's Redis lease:
  ``SET ec:stream:lease:<id> <holder> NX PX <lease>``. The holder renews it every lease/3
  with a compare-and-extend (Lua), and stops that connection's stream at once when a
  renewal fails, errs or cannot finish before the lease would lapse on its own clock: the
  stream ends before anyone else can take the lease, so two streams of one account never
  run at once. On shutdown it releases with a compare-and-delete. A runner that dies keeps
  nothing: its leases lapse and another runner takes them within one lease period (plus at
  most one scan).
- **Snapshot, then live.** On every (re)connect the REST snapshot
  (``orders.live.connection_snapshot_reconcile``) runs while the stream's messages queue;
  they apply after it, in order. Everything applied is idempotent and order-safe, so a
  message older than the snapshot changes nothing.
- **Refused auth** opens the connection's circuit (``connection_stream_auth_refused``);
  the runner no longer lists it until its half-open probe closes the circuit.
- **State.** The stream's state goes to ``StreamState`` (state changes at once, the last
  message's time at most once per STREAM_STATE_WRITE_SECONDS), and a live stream is the
  connection's heartbeat.

Django's ORM is synchronous: every database call runs in a thread of the runner's own pool
(``STREAM_DB_THREADS``, kept below the database pool). Redis (the leases) is asyncio, so a
renewal never waits behind the database. docs/live-session.md has the whole picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import redis.asyncio as aioredis
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from connections.dead_man import connection_dead_man_refresh
from connections.health import connection_stream_auth_refused
from connections.ledger import stream_alive, stream_state_write
from connections.models import ExchangeConnection
from connections.selectors import (
    STREAM_LEASE_PREFIX,
    connection_ids_for_streams,
    stream_heartbeat,
)
from connections.services import connection_connector
from core.types import Id
from exchanges import errors
from exchanges.base import Call, Connector
from exchanges.streams import protocol_for
from exchanges.streams.base import Heartbeat, StreamProtocol, Update
from exchanges.streams.session import AuthRefused, StreamSession
from orders.live import connection_snapshot_reconcile, updates_apply
from orders.models import TERMINAL, Order
from workers.market_refresh import MarketRefresher

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_PREFIX = STREAM_LEASE_PREFIX  # named where "live" is judged (connections.selectors)
# compare-and-extend: only the holder renews
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
# compare-and-delete: only the holder releases
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
# a renewal must be answered this long before the lease would lapse on our clock
LEASE_SAFETY_SECONDS = 0.5
SNAPSHOT_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
# after this many failed snapshots the queued messages apply anyway (they are safe on
# their own); the snapshot keeps being retried
SNAPSHOT_TRIES_BEFORE_LIVE = 3
SUBSCRIBED_SYMBOL_DAYS = 7
# a held connection's dead-man switch: refreshed every window / 3 but at least this far
# apart (OKX takes one call a second); while it is off, the setting is read this often
DEAD_MAN_MIN_SECONDS = 1.0
DEAD_MAN_IDLE_SECONDS = 30.0


def lease_key(connection_id: Id) -> str:
    return f"{LEASE_PREFIX}{connection_id}"


class Lease:
    """One connection's lease, as one holder sees it. ``valid_until`` is on this process's
    monotonic clock, measured from before each request was sent, so it never outlives the
    lease Redis holds."""

    def __init__(
        self, client: aioredis.Redis, connection_id: Id, holder: str, seconds: float
    ) -> None:
        self.client = client
        self.key = lease_key(connection_id)
        self.holder = holder
        self.ms = int(seconds * 1000)
        self.valid_until = 0.0

    def remaining(self) -> float:
        return self.valid_until - time.monotonic()

    async def acquire(self) -> bool:
        started = time.monotonic()
        if await self.client.set(self.key, self.holder, nx=True, px=self.ms):
            self.valid_until = started + self.ms / 1000
            return True
        return False

    async def renew(self) -> bool:
        started = time.monotonic()
        if await self.client.eval(RENEW, 1, self.key, self.holder, self.ms):
            self.valid_until = started + self.ms / 1000
            return True
        return False

    async def release(self) -> None:
        self.valid_until = 0.0
        await self.client.eval(RELEASE, 1, self.key, self.holder)


@dataclass(frozen=True)
class Prepared:
    """What a stream needs, read from the database once per hold."""

    connection_id: str
    environment: str
    connector: Connector
    protocol: StreamProtocol
    heartbeat: Heartbeat
    symbols: tuple[str, ...]


def _prepare(connection_id: str) -> Prepared:
    connection = ExchangeConnection.objects.get(pk=connection_id)
    connector = connection_connector(connection=connection)
    contract_value = _contract_values(connector) if connection.exchange == "okx" else None
    protocol = protocol_for(
        connection.exchange,
        connection.api_type,
        contract_value=contract_value,
        dead_man=connection.dead_man_seconds is not None,
    )
    since = timezone.now() - timedelta(days=SUBSCRIBED_SYMBOL_DAYS)
    symbols = sorted(
        set(
            Order.objects.filter(connection=connection, created_at__gte=since).values_list(
                "symbol", flat=True
            )
        )
        | set(
            Order.objects.filter(connection=connection)
            .exclude(status__in=TERMINAL)
            .values_list("symbol", flat=True)
        )
    )
    return Prepared(
        connection_id=str(connection.pk),
        environment=connection.environment,
        connector=connector,
        protocol=protocol,
        heartbeat=stream_heartbeat(exchange=connection.exchange),
        symbols=tuple(symbols),
    )


def _contract_values(connector: Connector) -> Callable[[str], Decimal | None]:
    """OKX swap sizes are in contracts: base per contract by instId, read once per hold."""
    values = {i.exchange_symbol: i.contract_value for i in connector.instruments()}
    return values.get


def listen_key_request(
    connector: Connector, product: str
) -> Callable[[str, str, Mapping[str, str]], Any]:
    """The connector's own signed request, for the listen-key endpoints (Binance USD-M,
    BingX): through its limiter and address check like any other call."""

    def request(method: str, path: str, params: Mapping[str, str]) -> Any:
        call = Call(
            method=method,
            path=path,
            params=list(params.items()),
            signed=True,
            product="linear" if product == "linear" else "spot",
        )
        return connector.request(call).payload

    return request


class ConnectionStream:
    """One held connection: its stream session, its lease renewal, its snapshot and its
    queue of updates. Ends when stopped, when the lease is lost, or when auth is refused."""

    def __init__(self, runner: StreamRunner, connection_id: str, lease: Lease) -> None:
        self.runner = runner
        self.connection_id = connection_id
        self.lease = lease
        self.stop = asyncio.Event()
        self.queue: asyncio.Queue[list[Update]] = asyncio.Queue()
        self.live = asyncio.Event()  # set once the snapshot after a connect is in
        self.snapshot_wanted = asyncio.Event()
        self.session: StreamSession | None = None
        self.lease_lost = False
        self.state_written: tuple[str, str] | None = None
        self.message_written: float | None = None
        self.task: asyncio.Task[None] | None = None
        self.symbols: tuple[str, ...] = ()  # what the snapshot asks per-symbol exchanges
        self.state_lock = asyncio.Lock()  # state writes land in the order they happened

    async def run(self) -> None:
        helpers: list[asyncio.Task[Any]] = []
        try:
            prepared = await self.runner.db(_prepare, self.connection_id)
            self.symbols = prepared.symbols
            self.session = self._session(prepared)
            await self._write_state("connecting", "")
            helpers = [
                asyncio.create_task(self._keep_lease()),
                asyncio.create_task(self._apply_updates()),
                asyncio.create_task(self._snapshots(prepared.connector)),
                asyncio.create_task(self._write_liveness()),
                asyncio.create_task(self._keep_dead_man()),
            ]
            await self.session.run(self.stop)
        except AuthRefused as refused:
            await self._auth_refused(refused.code, str(refused))
        except errors.AuthenticationError as exc:
            await self._auth_refused(str(exc.code or ""), str(exc))
        except asyncio.CancelledError:
            if not self.lease_lost:
                raise
        except Exception as exc:  # a connection that cannot start is tried again next scan
            log.exception("stream of %s failed", self.connection_id)
            await self._write_state("down", f"{type(exc).__name__}: {exc}"[:500], force=True)
        finally:
            for helper in helpers:
                helper.cancel()
            # awaited, so none is left pending when the loop closes
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._end()

    def _session(self, prepared: Prepared) -> StreamSession:
        connector = prepared.connector
        request = None
        if prepared.protocol.listen_key is not None:
            request = listen_key_request(connector, prepared.protocol.product)
        return StreamSession(
            prepared.protocol,
            credentials=connector.credentials,
            environment=prepared.environment,
            base=connector.ws_url,
            symbols=prepared.symbols,
            listen_key_request=request,
            on_updates=self._on_updates,
            on_state=self._on_state,
            destination_guard=connector.destination_guard,
            heartbeat=prepared.heartbeat,
        )

    # -- the session's callbacks (on the event loop, never blocking) ---------------------

    def _on_updates(self, updates: list[Update]) -> None:
        self.queue.put_nowait(updates)

    def _on_state(self, state: str, reason: str) -> None:
        if state == "connected":
            self.live.clear()  # messages from now on wait for the snapshot
            self.snapshot_wanted.set()
        self.runner.spawn(self._write_state(state, reason))

    # -- helpers ---------------------------------------------------------------------------

    async def _keep_lease(self) -> None:
        """Renew every lease/3; a renewal that fails, errs or cannot finish before the lease
        lapses on our clock stops the stream at once."""
        period = self.lease.ms / 3000
        while True:
            await asyncio.sleep(
                max(0.0, min(period, self.lease.remaining() - 2 * LEASE_SAFETY_SECONDS))
            )
            budget = self.lease.remaining() - LEASE_SAFETY_SECONDS
            try:
                renewed = budget > 0 and await asyncio.wait_for(self.lease.renew(), budget)
            except Exception as exc:  # Redis unreachable: we cannot prove we hold it
                log.warning("lease renewal of %s failed: %s", self.connection_id, exc)
                renewed = False
            if not renewed:
                log.warning("lease of %s lost: stopping its stream", self.connection_id)
                self.lease_lost = True
                if self.task is not None:
                    self.task.cancel()
                return

    async def _keep_dead_man(self) -> None:
        """The connection's dead-man switch (docs/dead-man-switch.md): armed once the
        stream is live (its first snapshot in), then refreshed every window / 3 (at least
        1 s apart) while the switch is enabled, the setting read anew each time; a refresh
        due between a reconnect and its snapshot waits for it. Ends with the stream: a
        runner that stops or dies refreshes nothing, and the exchange then cancels."""
        while True:
            await self.live.wait()
            delay = DEAD_MAN_MIN_SECONDS
            try:
                connection = await self.runner.db(
                    ExchangeConnection.objects.get, pk=self.connection_id
                )
                seconds = connection.dead_man_seconds
                delay = DEAD_MAN_IDLE_SECONDS if seconds is None else max(delay, seconds / 3)
                if seconds is not None:
                    await self.runner.db(connection_dead_man_refresh, connection=connection)
            except Exception as exc:  # the database away: tried again shortly
                log.warning("dead-man refresh of %s failed: %s", self.connection_id, exc)
            await asyncio.sleep(delay)

    async def _apply_updates(self) -> None:
        while True:
            batch = await self.queue.get()
            await self.live.wait()  # nothing applies while a snapshot is due
            await self.runner.db(updates_apply, connection_id=self.connection_id, updates=batch)

    async def _snapshots(self, connector: Connector) -> None:
        """After every connect: the REST snapshot, then the queued messages apply. A failed
        snapshot is retried; after SNAPSHOT_TRIES_BEFORE_LIVE failures the messages apply
        anyway (each is safe on its own) while the retries go on."""
        while True:
            await self.snapshot_wanted.wait()
            self.snapshot_wanted.clear()
            attempt = 0
            while not await self._snapshot_once(connector):
                attempt += 1
                if attempt >= SNAPSHOT_TRIES_BEFORE_LIVE:
                    self.live.set()
                delay = SNAPSHOT_RETRY_SECONDS[min(attempt, len(SNAPSHOT_RETRY_SECONDS)) - 1]
                await asyncio.sleep(delay)
                if self.snapshot_wanted.is_set():
                    break  # reconnected meanwhile: a fresh snapshot is due
            if not self.snapshot_wanted.is_set():
                self.live.set()

    async def _snapshot_once(self, connector: Connector) -> bool:
        try:
            await self.runner.db(
                connection_snapshot_reconcile,
                connection_id=self.connection_id,
                connector=connector,
                symbols=self.symbols,
            )
            return True
        except errors.AuthenticationError as exc:
            await self._auth_refused(str(exc.code or ""), str(exc))
            self.stop.set()
            if self.task is not None:
                self.task.cancel()
            return True
        except Exception as exc:
            log.warning("snapshot of %s failed: %s", self.connection_id, exc)
            await self._write_state(None, f"snapshot failed: {exc}"[:500])
            return False

    async def _write_liveness(self) -> None:
        """The last message's time, at most once per STREAM_STATE_WRITE_SECONDS; it is the
        connection's heartbeat too."""
        while True:
            await asyncio.sleep(settings.STREAM_STATE_WRITE_SECONDS)
            at = self.session.last_message_at if self.session else None
            if at is not None and at != self.message_written:
                self.message_written = at
                await self.runner.db(
                    stream_alive,
                    connection_id=self.connection_id,
                    at=datetime.fromtimestamp(at, tz=UTC),
                )

    async def _write_state(self, state: str | None, reason: str, *, force: bool = False) -> None:
        async with self.state_lock:
            await self._write_state_locked(state, reason, force=force)

    async def _write_state_locked(self, state: str | None, reason: str, *, force: bool) -> None:
        fields: dict[str, Any] = {"holder": self.runner.holder, "last_error": reason[:500]}
        if state is not None and (
            force or self.state_written is None or self.state_written[0] != state
        ):
            fields.update(state=state, since=timezone.now())
        if state is not None:
            self.state_written = (state, reason)
        if self.session is not None:
            fields["reconnects"] = self.session.reconnects
        await self.runner.db(stream_state_write, connection_id=self.connection_id, **fields)

    async def _auth_refused(self, code: str, message: str) -> None:
        log.warning("stream auth of %s refused: %s", self.connection_id, message)
        await self.runner.db(
            connection_stream_auth_refused,
            connection_id=self.connection_id,
            code=code,
            message=message,
        )
        await self._write_state("down", message[:500], force=True)

    async def _end(self) -> None:
        """Leave the connection: state down (unless another holder has it now), the lease
        released (compare-and-delete: never someone else's)."""
        with contextlib.suppress(Exception):
            if not self.lease_lost:
                await self.runner.db(
                    stream_state_write,
                    connection_id=self.connection_id,
                    state="down",
                    since=timezone.now(),
                    holder="",
                )
        with contextlib.suppress(Exception):
            if not self.lease_lost:
                await self.lease.release()


class StreamRunner:
    def __init__(
        self,
        *,
        holder: str | None = None,
        lease_seconds: float | None = None,
        scan_seconds: float | None = None,
        redis_url: str | None = None,
        db_threads: int | None = None,
    ) -> None:
        self.holder = holder or settings.STREAM_HOLDER_ID
        self.lease_seconds = lease_seconds or settings.STREAM_LEASE_SECONDS
        self.scan_seconds = scan_seconds or settings.STREAM_SCAN_SECONDS
        self.redis = aioredis.Redis.from_url(redis_url or settings.REDIS_URL)
        self.executor = ThreadPoolExecutor(
            max_workers=db_threads or settings.STREAM_DB_THREADS, thread_name_prefix="streams-db"
        )
        self.streams: dict[str, ConnectionStream] = {}
        self.background: set[asyncio.Task[Any]] = set()

    async def db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database function in the runner's pool; its connection is returned after."""

        def call() -> T:
            try:
                return function(*args, **kwargs)
            finally:
                close_old_connections()

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def run(self, stop: asyncio.Event) -> None:
        """Scan until ``stop`` is set, then stop every stream and release its lease. The
        pre-checks' market caches are kept warm meanwhile (workers/market_refresh.py)."""
        refresher = asyncio.create_task(MarketRefresher(self).run(stop))
        try:
            while not stop.is_set():
                try:
                    await self.scan()
                except Exception:  # the database or Redis away: the next scan tries again
                    log.exception("stream scan failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._scan_delay())
        finally:
            refresher.cancel()
            with contextlib.suppress(BaseException):
                await refresher
            await self.shutdown()

    def _scan_delay(self) -> float:
        # spread the runners' scans so they do not contend in step
        return self.scan_seconds * (0.75 + random.random() / 2)

    async def scan(self) -> None:
        wanted = set(await self.db(connection_ids_for_streams))
        for connection_id, stream in list(self.streams.items()):
            if stream.task is not None and stream.task.done():
                del self.streams[connection_id]
            elif connection_id not in wanted:
                await self._stop(stream)
        for connection_id in sorted(wanted - set(self.streams)):
            lease = Lease(self.redis, connection_id, self.holder, self.lease_seconds)
            if await lease.acquire():
                self._start(connection_id, lease)

    def _start(self, connection_id: str, lease: Lease) -> None:
        stream = ConnectionStream(self, connection_id, lease)
        stream.task = asyncio.create_task(stream.run(), name=f"stream-{connection_id}")
        self.streams[connection_id] = stream

    async def _stop(self, stream: ConnectionStream) -> None:
        stream.stop.set()
        if stream.task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(stream.task), timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                stream.task.cancel()
                with contextlib.suppress(BaseException):
                    await stream.task
        self.streams.pop(stream.connection_id, None)

    async def shutdown(self) -> None:
        for stream in list(self.streams.values()):
            await self._stop(stream)
        for task in list(self.background):
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=2)
        await self.redis.aclose()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def held(self) -> set[str]:
        """The connections whose stream this runner is running now."""
        return {
            cid
            for cid, stream in self.streams.items()
            if stream.task is not None and not stream.task.done()
        }
