"""The live session end to end: a real stream runner (asyncio, its Redis leases, its
database threads) against the paper exchange's private streams, for every exchange and
api type that streams. The stream library (exchanges/streams/) and the paper's stream
servers (paper/streams/) were written apart from the same facts; here they meet.

The paper exchange runs in its own process with every exchange's stream timings scaled so
that its heartbeat period is HEARTBEAT_SECONDS; the runner's heartbeats are scaled by the
same factor (STREAM_HEARTBEAT_SECONDS), so every ratio (ping period, silence deadline, idle
timeout) is the real one.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from connections import crypto
from connections.models import (
    ConnectionState,
    ExchangeConnection,
    LedgerBalance,
    LedgerPosition,
    StreamState,
)
from connections.selectors import stream_heartbeat
from connections.services import ConnectionSpec, connection_connector, connection_create
from exchanges.base import OrderRequest
from exchanges.streams import PROTOCOLS
from orders.models import Fill, Order
from orders.transitions import order_transition
from paper.streams.routes import _module as paper_stream_module
from tests.paper import READY_TIMEOUT_SECONDS, REPO_ROOT, _read_ready_line, _stop
from tests.workers.conftest import LEASE_SECONDS, SCAN_SECONDS, db, until
from workers.user_streams import StreamRunner

pytestmark = pytest.mark.django_db(transaction=True)

# every exchange's heartbeat period, in these tests (the real ones are 5 to 20 s)
HEARTBEAT_SECONDS = 0.5
PAPER_TIMINGS = ("ping_interval", "futures_ping_interval", "idle_timeout")
CASES = [
    ("bybit", "spot"),
    ("bybit", "perpetual_futures"),
    ("binance", "spot"),
    ("binance", "perpetual_futures"),
    ("okx", "spot"),
    ("okx", "perpetual_futures"),
    ("bingx", "spot"),
    ("bingx", "perpetual_futures"),
    ("pionex", "spot"),
    ("pionex", "perpetual_futures"),
    ("orangex", "perpetual_futures"),
]
# OrangeX documents no position channel: its positions come from the REST snapshot
NO_POSITION_CHANNEL = {"orangex"}
LISTEN_KEYS = {("binance", "perpetual_futures"), ("bingx", "spot"), ("bingx", "perpetual_futures")}
DB_THREADS = 4
QUANTITY = Decimal("0.01")
PRICE = Decimal("59000")


def _factor(exchange: str) -> float:
    """How much faster than the real one this exchange's stream runs here."""
    return PROTOCOLS[exchange].heartbeat.interval_seconds / HEARTBEAT_SECONDS


def _paper_timings() -> dict[str, dict[str, float]]:
    timings: dict[str, dict[str, float]] = {}
    for exchange in PROTOCOLS:
        server = getattr(paper_stream_module(exchange), f"{exchange.capitalize()}Streams")
        timings[exchange] = {
            name: getattr(server, name) / _factor(exchange)
            for name in PAPER_TIMINGS
            if getattr(server, name, None)
        }
    return timings


@pytest.fixture(scope="module")
def fast_paper_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A paper exchange of its own whose stream timings are scaled (the session's keeps the
    real ones)."""
    directory = tmp_path_factory.mktemp("fast-paper")
    with (directory / "paper.log").open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paper",
                "--port",
                "0",
                "--accounts",
                str(directory / "accounts.json"),
                "--stream-timing",
                json.dumps(_paper_timings()),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        yield _read_ready_line(process, READY_TIMEOUT_SECONDS)
    finally:
        _stop(process)


@pytest.fixture
def fast_streams(settings: Any, fast_paper_url: str) -> str:
    """Paper connections on the fast paper exchange; short leases and scans; each protocol's
    heartbeat scaled like the paper's."""
    settings.PAPER_EXCHANGE_URL = fast_paper_url
    settings.STREAM_STATE_WRITE_SECONDS = 0.1
    settings.STREAM_LEASE_SECONDS = LEASE_SECONDS
    settings.STREAM_SCAN_SECONDS = SCAN_SECONDS
    settings.STREAM_HEARTBEAT_SECONDS = HEARTBEAT_SECONDS
    return fast_paper_url


# -- helpers --------------------------------------------------------------------------------


def e2e_runner() -> StreamRunner:
    # a few database threads: the PostgreSQL server is shared with other test runs
    return StreamRunner(
        holder="e2e", lease_seconds=LEASE_SECONDS, scan_seconds=SCAN_SECONDS, db_threads=DB_THREADS
    )


def symbol_of(api_type: str) -> str:
    return "BTC/USDT:USDT" if api_type == "perpetual_futures" else "BTC/USDT"


def connection_for(owner: Any, exchange: str, api_type: str) -> ExchangeConnection:
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"{exchange}-{api_type}-streams",
            exchange=exchange,
            api_type=api_type,
            environment="paper",
        ),
    )


def place_open_order(connection: ExchangeConnection, client_order_id: str) -> Order:
    """A limit buy resting on the paper exchange, and its row, open, as submission leaves
    it."""
    symbol = symbol_of(connection.api_type)
    placed = connection_connector(connection=connection).place_order(
        OrderRequest(
            symbol=symbol,
            side="buy",
            type="limit",
            quantity=QUANTITY,
            client_order_id=client_order_id,
            price=PRICE,
        )
    )
    order = Order.objects.create(
        owner=connection.owner,
        connection=connection,
        client_order_id=client_order_id,
        request_hash="x",
        symbol=symbol,
        side="buy",
        type="limit",
        requested_quantity=QUANTITY,
        volume_factor=1,
        quantity=QUANTITY,
        price=PRICE,
    )
    order_transition(order_id=order.pk, to_status="submitting", source="task")
    order_transition(
        order_id=order.pk,
        to_status="open",
        source="task",
        exchange_order_id=placed.exchange_order_id,
    )
    return Order.objects.get(pk=order.pk)


def paper_post(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{url}{path}", json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def stream_stats(url: str, exchange: str) -> dict[str, int]:
    answer = requests.get(f"{url}/_paper/stats", timeout=5).json()
    return answer["exchanges"][exchange]["streams"]


def api_key_of(connection: ExchangeConnection) -> str:
    from connections.services import connection_credentials

    return connection_credentials(connection=connection)["api_key"]


class Transitions:
    """The session's state changes as they happen (on the event loop), with their time."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, str]] = []

    def wrap(self, session: Any) -> None:
        original = session.on_state

        def recorded(state: str, reason: str) -> None:
            self.seen.append((time.monotonic(), state, reason))
            original(state, reason)

        session.on_state = recorded

    def after(self, moment: float) -> list[tuple[float, str, str]]:
        return [seen for seen in self.seen if seen[0] >= moment]


def order_row(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def fills_of(order: Order) -> list[Fill]:
    return list(Fill.objects.filter(order_id=order.pk).order_by("id"))


def events_of(order: Order) -> list[tuple[str, str, str]]:
    return [
        (e.to_status, e.source, str(e.data.get("filledQuantity", "")))
        for e in order.events.order_by("id")
    ]


# -- the scenario ------------------------------------------------------------------------------


@pytest.mark.parametrize(("exchange", "api_type"), CASES, ids=[f"{e}-{a}" for e, a in CASES])
def test_the_live_session_holds_against_the_paper_exchange(fast_streams, owner, exchange, api_type):
    url = fast_streams
    connection = connection_for(owner, exchange, api_type)
    key = api_key_of(connection)
    main = place_open_order(connection, f"ec{exchange[:4]}{api_type[:4]}main0000000001")
    later = place_open_order(connection, f"ec{exchange[:4]}{api_type[:4]}later000000001")
    heartbeat = stream_heartbeat(exchange=exchange)
    transitions = Transitions()

    async def fill(order: Order, quantity: str) -> None:
        await asyncio.to_thread(
            paper_post,
            url,
            "/_paper/fill",
            {"exchange": exchange, "clientOrderId": order.client_order_id, "quantity": quantity},
        )

    async def fault(action: str) -> None:
        answer = await asyncio.to_thread(
            paper_post,
            url,
            "/_paper/streams",
            {"exchange": exchange, "apiKey": key, "action": action},
        )
        assert answer["matched"] >= 1, answer

    async def filled_to(order: Order, quantity: str, fills: int | None = None) -> Order:
        def check() -> Order | None:
            row = order_row(order)
            count = Fill.objects.filter(order_id=order.pk).count()
            if row.filled_quantity == Decimal(quantity) and (fills is None or count >= fills):
                return row
            return None

        return await until(check, what=f"{order.client_order_id} filled to {quantity}")

    async def reconnected(since: float) -> None:
        await until(
            lambda: [s for s in transitions.after(since) if s[1] == "connected"],
            in_thread=False,
            what="connected again",
        )
        await until(
            lambda: StreamState.objects.filter(connection=connection, state="connected").exists(),
            what="connected state written",
        )
        # the snapshot after the reconnect is in before live messages apply again
        stream = runner.streams[str(connection.pk)]
        await until(lambda: stream.live.is_set(), in_thread=False, what="snapshot in")

    runner = e2e_runner()

    async def scenario() -> dict[str, Any]:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            stream = await until(
                lambda: runner.streams.get(str(connection.pk)),
                in_thread=False,
                what="stream started",
            )
            await until(lambda: stream.session is not None, in_thread=False, what="session")
            transitions.wrap(stream.session)
            await until(
                lambda: StreamState.objects.filter(
                    connection=connection, state="connected", snapshot_at__isnull=False
                ).exists(),
                what="connected and snapshot in",
            )
            await until(lambda: stream.live.is_set(), in_thread=False, what="live")
            result: dict[str, Any] = {}

            # 1. a fill reaches the order row and a Fill row through the stream
            await fill(main, "0.001")
            await filled_to(main, "0.001", fills=1)
            await fill(main, "0.002")
            await filled_to(main, "0.003", fills=2)
            plain_events = len(await db(events_of, main))

            # 4. a repeated and a reordered message change nothing
            await fault("repeat")
            await fill(main, "0.003")
            await filled_to(main, "0.006", fills=3)
            await fault("reorder")
            await fill(main, "0.002")
            await filled_to(main, "0.008", fills=4)
            await fill(later, "0.001")  # releases what the reorder may still hold
            await filled_to(later, "0.001", fills=1)
            await asyncio.sleep(HEARTBEAT_SECONDS / 2)  # a late duplicate has time to land
            result["events_after_faults"] = (plain_events, len(await db(events_of, main)))

            # 7. balances and positions reach the ledger from the stream
            result["ledger"] = await ledger_matches_paper()

            # 2. a dropped stream reconnects; the fill made in the gap is recovered
            dropped = time.monotonic()
            await fault("drop")
            await fill(main, "0.002")  # the stream is down: nobody hears this
            await reconnected(dropped)
            await filled_to(main, "0.01")

            # 3. a silent stall is detected by the heartbeat deadline; the stream comes back
            stalled = time.monotonic()
            await fault("stall")
            await reconnected(stalled)
            seen = transitions.after(stalled)
            result["stall"] = (seen[0][1], seen[0][2])
            await fill(later, "0.002")
            await filled_to(later, "0.003", fills=2)

            # 6. an expired listen key is renewed and the stream comes back
            if (exchange, api_type) in LISTEN_KEYS:
                expired = time.monotonic()
                await fault("expireListenKey")
                await reconnected(expired)
                await fill(later, "0.003")
                await filled_to(later, "0.006", fills=3)
            result["stats"] = await asyncio.to_thread(stream_stats, url, exchange)
            return result
        finally:
            stop.set()
            await task

    async def ledger_matches_paper() -> dict[str, Any]:
        """The ledger's quote balance (and the position, for a perpetual) from the stream,
        as the paper account has them now."""
        answer = await asyncio.to_thread(
            lambda: requests.get(
                f"{url}/_paper/accounts", params={"exchange": exchange, "apiKey": key}, timeout=5
            ).json()
        )
        paper_usdt = answer["accounts"][0]["balances"]["USDT"]
        free, locked = Decimal(paper_usdt["free"]), Decimal(paper_usdt["locked"])

        def balance() -> Any:
            row = LedgerBalance.objects.filter(
                connection=connection, asset="USDT", source="stream"
            ).first()
            if row is None or (row.free, row.total) == (None, None):
                return None
            # the free figure where the exchange pushes one (a margin total may carry the
            # unrealised PnL), else the wallet total
            if row.free is not None:
                return row if row.free == free else None
            return row if row.total == free + locked else None

        row = await until(balance, what="the stream's USDT balance in the ledger")
        seen: dict[str, Any] = {"usdt": (row.free, row.locked, row.total), "paper": (free, locked)}
        if api_type == "perpetual_futures":
            source = "rest" if exchange in NO_POSITION_CHANNEL else "stream"
            if source == "rest":
                await fault("drop")  # the snapshot on reconnect reads the positions
            position = await until(
                lambda: LedgerPosition.objects.filter(
                    connection=connection,
                    symbol=symbol_of(api_type),
                    source=source,
                    quantity=Decimal("0.009"),
                ).first(),
                what=f"the {source} position in the ledger",
            )
            seen["position"] = (position.quantity, position.entry_price)
        return seen

    result = asyncio.run(scenario())
    main_row = order_row(main)
    assert (main_row.status, main_row.filled_quantity) == ("filled", QUANTITY)
    stream_fills = [f for f in fills_of(main) if f.source == "stream"]
    assert [f.quantity for f in stream_fills] == [
        Decimal("0.001"),
        Decimal("0.002"),
        Decimal("0.003"),
        Decimal("0.002"),
    ]
    assert len({f.trade_id for f in stream_fills}) == 4
    # the fill made while the stream was down is a Fill row too, read back by the snapshot
    # on reconnect (recent fills over REST)
    gap_fills = [f for f in fills_of(main) if f.source == "reconcile"]
    assert [f.quantity for f in gap_fills] == [Decimal("0.002")]
    assert len({f.trade_id for f in fills_of(main)}) == 5
    # no reconcile moved the order before the gap: its fills came through the stream
    events = events_of(main_row)
    before_gap = [e for e in events if e[0] != "filled"]
    assert all(source in ("task", "stream") for _, source, _ in before_gap), events
    assert main_row.events.get(to_status="filled").source == "reconcile"
    plain, after = result["events_after_faults"]
    assert after - plain == 2, events  # one per fill, none for the repeat or reorder
    # the paper held the stalled socket open: only the silence deadline could end it
    assert result["stall"] == ("reconnecting", "silent")
    assert heartbeat.dead_after_seconds <= 2 * heartbeat.interval_seconds
    assert StreamState.objects.get(connection=connection).reconnects >= 2
    usdt_free, _, usdt_total = result["ledger"]["usdt"]
    paper_free, paper_locked = result["ledger"]["paper"]
    assert usdt_free in (None, paper_free)
    assert usdt_total is None or usdt_total >= paper_free + paper_locked


def test_a_bad_key_fails_auth_once_per_connection_and_opens_its_circuit(fast_streams, owner):
    """Every exchange and api type at once, under one runner: an API key the exchange does
    not know is refused once (the paper's authFailures), the circuit opens, and the runner
    does not try again while scans come and go."""
    url = fast_streams
    connections = [connection_for(owner, exchange, api_type) for exchange, api_type in CASES]
    ExchangeConnection.objects.filter(pk__in=[c.pk for c in connections]).update(
        api_key_encrypted=crypto.encrypt(f"paper{'0' * 28}")
    )
    before = {exchange: stream_stats(url, exchange)["authFailures"] for exchange in PROTOCOLS}
    runner = e2e_runner()

    async def scenario() -> set[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await until(
                lambda: (
                    ConnectionState.objects.filter(
                        connection__in=connections, circuit="open"
                    ).count()
                    == len(connections)
                ),
                what="every circuit open",
            )
            await asyncio.sleep(LEASE_SECONDS + 5 * SCAN_SECONDS)  # scans come and go
            return runner.held()
        finally:
            stop.set()
            await task

    held = asyncio.run(scenario())
    assert held == set()
    after = {exchange: stream_stats(url, exchange)["authFailures"] for exchange in PROTOCOLS}
    expected = {exchange: sum(1 for e, _ in CASES if e == exchange) for exchange in PROTOCOLS}
    # refused once per connection, twice at most (Pionex futures answers its refusal after
    # the subscribe): a runner that looped would count one per scan over the scans waited
    for exchange in PROTOCOLS:
        refusals = after[exchange] - before[exchange]
        assert expected[exchange] <= refusals <= 2 * expected[exchange], (exchange, refusals)
    for connection in connections:
        state = ConnectionState.objects.get(connection=connection)
        stream = StreamState.objects.get(connection=connection)
        assert (state.circuit, state.last_error_code) == ("open", "authentication_failed"), (
            connection.exchange,
            connection.api_type,
        )
        assert stream.state == "down", (connection.exchange, connection.api_type)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_ws_url_naming_an_internal_host_is_never_connected_to(fast_streams, owner, host):
    """The stream socket passes the destination check REST calls do
    (exchanges.hosts.vet_addresses with the connector's allowlist): a stored ws URL whose
    host is (or resolves to) an internal address is refused before any connection."""
    connection = connection_for(owner, "bybit", "spot")
    accepted: list[Any] = []

    async def scenario() -> None:
        async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(writer.get_extra_info("peername"))
            writer.close()

        server = await asyncio.start_server(count, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        # a direct update, as a row written before the URL checks, or by hand, would be
        await db(
            lambda: ExchangeConnection.objects.filter(pk=connection.pk).update(
                ws_url=f"ws://{host}:{port}/bybit"
            )
        )
        runner = e2e_runner()
        stop = asyncio.Event()
        task = asyncio.create_task(runner.run(stop))
        try:
            await until(
                lambda: StreamState.objects.filter(
                    connection=connection,
                    state="down",
                    last_error__contains="DestinationNotAllowed",
                ).exists(),
                what="refused",
            )
            await asyncio.sleep(3 * SCAN_SECONDS)  # later scans are refused alike
        finally:
            stop.set()
            await task
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
    assert accepted == []
