"""Pre-checks from the ledger: a real stream runner (its own thread and event loop) holds
paper connections' private streams; while they are live, POST /api/orders asks the paper
exchange nothing, and accepts a valid order even when the exchange's reads all fail. When
the stream is not live the exchange is asked, each read retried."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from connections.models import ExchangeConnection
from connections.selectors import ledger_if_live
from orders import market_data
from orders.models import Order
from paper.server import load_protocols
from tests.django_fixtures import paper_stats, set_faults
from tests.orders.conftest import order_body, wait_until
from workers.user_streams import StreamRunner

pytestmark = pytest.mark.django_db(transaction=True)

LIVE_EXCHANGES = [
    ("okx", "spot"),
    ("binance", "spot"),
    ("bybit", "spot"),
    ("bingx", "spot"),
    ("pionex", "spot"),
    ("orangex", "perpetual_futures"),
]
LIVE_WAIT_SECONDS = 30


class RunnerThread:
    """A StreamRunner on its own event loop in a thread, stopped at the end of the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            self.started.set()
            await StreamRunner(holder="prechecks-test", lease_seconds=3, scan_seconds=0.2).run(
                self.stop_event
            )

        self.loop.run_until_complete(main())

    def start(self) -> None:
        self.thread.start()
        self.started.wait(10)

    def stop(self) -> None:
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


@pytest.fixture
def live_settings(settings: Any, paper: str) -> Any:
    settings.STREAM_STATE_WRITE_SECONDS = 0.1
    settings.MARKET_REFRESH_SECONDS = 0.2
    settings.MARKET_PLAN_SECONDS = 0.2
    # the test pauses the refresher before it counts requests: tickers must outlast that
    settings.MARKET_TICKER_CACHE_SECONDS = 120
    return settings


@pytest.fixture
def runner(live_settings: Any) -> Iterator[RunnerThread]:
    thread = RunnerThread()
    thread.start()
    yield thread
    thread.stop()


def wait_live(connection: ExchangeConnection) -> None:
    wait_until(lambda: ledger_if_live(connection=connection) is not None, timeout=LIVE_WAIT_SECONDS)


def warm(connection: ExchangeConnection, symbol: str) -> None:
    """The refresher has the symbol's ticker and the instruments in the shared caches."""
    from orders.prechecks import instrument_cached

    wait_until(
        lambda: (
            market_data.ticker_cached(connection=connection, symbol=symbol) is not None
            and instrument_cached(connection=connection, symbol=symbol) is not None
        ),
        timeout=LIVE_WAIT_SECONDS,
    )


def read_counts(paper: str, exchange: str) -> dict[str, int]:
    """The paper's request counts without its placements and cancels: a session worker
    started by an earlier test sends an accepted order at any moment, and that send is the
    order itself, not a pre-check."""
    writes = load_protocols([exchange])[0].write_routes
    counts = paper_stats(paper, exchange)["requests"]
    return {route: count for route, count in counts.items() if route not in writes}


def pause_refresher(settings: Any, paper: str, exchange: str) -> dict[str, int]:
    """Stop the out-of-band reads and wait until the paper's read counts stand still."""
    settings.MARKET_REFRESH_SECONDS = 3600
    previous = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = read_counts(paper, exchange)
        if counts == previous:
            return counts
        previous = counts
        time.sleep(1.0)
    raise AssertionError("the paper exchange kept counting requests")


def first_event(order_id: str) -> dict[str, Any]:
    return Order.objects.get(pk=order_id).events.order_by("created_at", "id").first().data


def symbol_of(connection: ExchangeConnection) -> str:
    return "BTC/USDT:USDT" if connection.api_type == "perpetual_futures" else "BTC/USDT"


@pytest.mark.parametrize(("exchange", "api_type"), LIVE_EXCHANGES)
def test_a_placement_on_a_live_connection_asks_the_exchange_nothing(
    owner_client, paper, make_connection, runner, live_settings, exchange, api_type
):
    connection = make_connection(exchange, api_type)
    wait_live(connection)
    # the first order on a symbol finds its ticker cold: one REST read, named in the event
    first = owner_client.post("/api/orders", order_body(connection), format="json")
    assert first.status_code == 202, first.json()
    data = first_event(first.json()["order"]["id"])
    assert data["prechecks"] == "ledger" and "balances" not in data.get("rest_reads", [])
    warm(connection, symbol_of(connection))
    before = pause_refresher(live_settings, paper, exchange)
    response = owner_client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 202, response.json()
    assert read_counts(paper, exchange) == before
    data = first_event(response.json()["order"]["id"])
    assert data["prechecks"] == "ledger" and "rest_reads" not in data


def test_a_live_connection_accepts_a_valid_order_while_every_exchange_read_fails(
    owner_client, paper, make_connection, runner, live_settings
):
    connection = make_connection("okx")
    wait_live(connection)
    assert (
        owner_client.post("/api/orders", order_body(connection), format="json").status_code == 202
    )
    warm(connection, "BTC/USDT")
    pause_refresher(live_settings, paper, "okx")
    set_faults(paper, "okx", error5xxRate=1)
    response = owner_client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 202, response.json()
    assert first_event(response.json()["order"]["id"])["prechecks"] == "ledger"
    # the same order on a connection whose stream is not live asks the exchange: refused
    runner.stop()
    wait_until(lambda: ledger_if_live(connection=connection) is None)
    refused = owner_client.post("/api/orders", order_body(connection), format="json")
    assert refused.status_code == 503, refused.json()
    assert refused.json()["error"]["code"] == "exchange_unavailable"


def test_without_a_live_stream_the_exchange_is_asked_and_a_read_failing_once_is_retried(
    owner_client, paper, make_connection
):
    connection = make_connection("okx")
    # seed 1: the first roll fails (0.13 < 0.5), the second passes (0.85)
    set_faults(paper, "okx", endpoint="/api/v5/account/balance", error5xxRate=0.5, seed=1)
    before = paper_stats(paper, "okx")["requests"].get("GET /api/v5/account/balance", 0)
    response = owner_client.post("/api/orders", order_body(connection), format="json")
    assert response.status_code == 202, response.json()
    assert first_event(response.json()["order"]["id"])["prechecks"] == "rest"
    after = paper_stats(paper, "okx")["requests"].get("GET /api/v5/account/balance", 0)
    assert after - before == 2
