"""The paper faults of exchanges/README.md on every exchange, against the running paper
exchange over real HTTP: what the client sees on the wire, and that the order was stored
(or the cancel applied) exactly once.

Each exchange's connector only builds and signs the requests: its session stops at the
first request for one of the adapter's ``write_routes`` (or at the read under test) and
hands it over unsent; what the connector needs first, such as OrangeX's token, goes through.
The test sends the request itself, with plain ``requests`` or a raw socket, so every
assertion is about the wire and none about a connector's error mapping.
"""

from __future__ import annotations

import itertools
import math
import socket
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from exchanges.base import Connector, Credentials, OrderRequest
from exchanges.capabilities import CAPABILITIES, EXCHANGES
from exchanges.registry import connector_class
from paper.network import PIECE_BYTES
from paper.protocol import Protocol
from paper.server import load_protocols
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

FAR_PRICE = Decimal("30000")  # half the BTC start price: the order rests
QUANTITY = Decimal("0.001")
SEND_TIMEOUT_SECONDS = 5.0
CLIENT_TIMEOUT_SECONDS = 0.3
STALL_MS = 1000  # past CLIENT_TIMEOUT_SECONDS
SHORT_STALL_MS = 300
TRICKLE_MS = 20
# longer than the pause between two pieces, far shorter than a whole trickled answer
PER_READ_TIMEOUT_SECONDS = 0.25
OPERATIONS = ("place", "cancel")
PROTOCOLS: dict[str, type[Protocol]] = {p.exchange: p for p in load_protocols()}
# where each exchange's placement answer carries the exchange order id (Pionex and OrangeX
# cancel by it only, so every exchange cancels by it here)
ORDER_ID_OF: dict[str, Callable[[Any], Any]] = {
    "binance": lambda answer: answer["orderId"],
    "bybit": lambda answer: answer["result"]["orderId"],
    "okx": lambda answer: answer["data"][0]["ordId"],
    "bingx": lambda answer: answer["data"]["orderId"],
    "pionex": lambda answer: answer["data"]["orderId"],
    "orangex": lambda answer: answer["result"]["order"]["order_id"],
}


# -- requests built by the connector, sent by the test ------------------------------------


def route_of(request: requests.PreparedRequest, prefix: str) -> str:
    """``"METHOD /real/path"``, as the adapters' ``write_routes`` and the stats name it."""
    return f"{request.method} {urlsplit(request.url).path.removeprefix(prefix)}"


class Unsent(BaseException):
    """Carries the request the connector was about to send. A BaseException, so it passes
    the transport, which turns every Exception into the outcome rule's errors."""

    def __init__(self, request: requests.PreparedRequest) -> None:
        super().__init__(request.method, request.url)
        self.request = request


class StoppingSession(requests.Session):
    """Sends what the connector asks, except the first request ``stop_when`` picks."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.stop_when: Callable[[str], bool] = lambda route: False

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,  # type: ignore[override]
        headers: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        prepared = self.prepare_request(
            requests.Request(method, url, params=params, data=data, headers=headers)
        )
        if self.stop_when(route_of(prepared, self.prefix)):
            raise Unsent(prepared)
        return super().request(method, url, params=params, data=data, headers=headers, **kwargs)

    def stopped(
        self, operation: Callable[[], object], stop_when: Callable[[str], bool]
    ) -> requests.PreparedRequest:
        self.stop_when = stop_when
        try:
            operation()
        except Unsent as unsent:
            return unsent.request
        finally:
            self.stop_when = lambda route: False
        raise AssertionError("the connector sent nothing for the test to take over")


def send(
    request: requests.PreparedRequest, timeout: float = SEND_TIMEOUT_SECONDS
) -> requests.Response:
    with requests.Session() as session:
        return session.send(request, timeout=timeout)


@dataclass
class RawAnswer:
    """What a raw socket read until the server ended the connection."""

    pieces: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, one recv)
    ended_by: OSError | None = None  # None: a clean close (FIN)
    seconds: float = 0.0  # from sending to the end

    @property
    def data(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)

    @property
    def status_line(self) -> str:
        return self.data.split(b"\r\n", 1)[0].decode()

    @property
    def headers(self) -> dict[str, str]:
        head = self.data.split(b"\r\n\r\n", 1)[0].decode()
        lines = head.split("\r\n")[1:]
        return {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}

    @property
    def body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1]


def request_bytes(request: requests.PreparedRequest) -> bytes:
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    headers = request.headers.copy()
    headers["Host"] = urlsplit(request.url).netloc
    headers["Content-Length"] = str(len(body))
    headers["Connection"] = "close"  # so a normal answer also ends with the connection
    lines = [
        f"{request.method} {request.path_url} HTTP/1.1",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send_raw(
    request: requests.PreparedRequest, read_timeout: float = SEND_TIMEOUT_SECONDS
) -> RawAnswer:
    """Send over a plain socket and read until the server ends the connection, with
    ``read_timeout`` for each single read."""
    url = urlsplit(request.url)
    answer = RawAnswer()
    with socket.create_connection((url.hostname, url.port), timeout=SEND_TIMEOUT_SECONDS) as sock:
        started = time.monotonic()
        sock.sendall(request_bytes(request))
        sock.settimeout(read_timeout)
        while True:
            try:
                piece = sock.recv(65536)
            except OSError as exc:  # a reset, or a per-read timeout (TimeoutError)
                answer.ended_by = exc
                break
            if not piece:
                break
            answer.pieces.append((time.monotonic(), piece))
        answer.seconds = time.monotonic() - started
    return answer


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps (requests and urllib3 keep the cause in ``args``)."""
    seen: list[BaseException] = [error]
    while seen:
        current = seen.pop()
        yield current
        seen += [arg for arg in current.args if isinstance(arg, BaseException)]
        seen += [linked for linked in (current.__cause__, current.__context__) if linked]


# -- one fresh account per test -------------------------------------------------------------


@dataclass
class Trader:
    """A funded paper account on one exchange and a connector that only builds requests."""

    exchange: str
    paper_url: str
    credentials: Credentials
    session: StoppingSession
    connector: Connector

    @property
    def symbol(self) -> str:
        perpetual = self.connector.api_type == "perpetual_futures"
        return "BTC/USDT:USDT" if perpetual else "BTC/USDT"

    def is_write(self, route: str) -> bool:
        return route in PROTOCOLS[self.exchange].write_routes

    def new_order(self) -> OrderRequest:
        return OrderRequest(
            symbol=self.symbol,
            side="buy",
            type="limit",
            quantity=QUANTITY,
            price=FAR_PRICE,
            client_order_id=("ec" + uuid.uuid4().hex)[:32],
        )

    def placement(self, order: OrderRequest) -> requests.PreparedRequest:
        return self.session.stopped(lambda: self.connector.place_order(order), self.is_write)

    def cancellation(self, order_id: str) -> requests.PreparedRequest:
        return self.session.stopped(
            lambda: self.connector.cancel_order(self.symbol, exchange_order_id=order_id),
            self.is_write,
        )

    def cancel_all(self) -> requests.PreparedRequest:
        return self.session.stopped(lambda: self.connector.cancel_all(self.symbol), self.is_write)

    def read(self, operation: Callable[[], object]) -> requests.PreparedRequest:
        return self.session.stopped(operation, lambda route: not self.is_write(route))

    def rest_order(self) -> str:
        """Place a resting order with no fault on; its exchange order id."""
        response = send(self.placement(self.new_order()))
        assert response.status_code == 200, response.text
        return str(ORDER_ID_OF[self.exchange](response.json()))

    def set_faults(self, **faults: object) -> None:
        requests.post(
            f"{self.paper_url}/_paper/faults",
            json={"exchange": self.exchange, **faults},
            timeout=SEND_TIMEOUT_SECONDS,
        ).raise_for_status()

    def stats(self) -> dict[str, Any]:
        answer = requests.get(f"{self.paper_url}/_paper/stats", timeout=SEND_TIMEOUT_SECONDS)
        return answer.json()["exchanges"][self.exchange]

    def locked_usdt(self) -> Decimal:
        answer = requests.get(
            f"{self.paper_url}/_paper/accounts",
            timeout=SEND_TIMEOUT_SECONDS,
            params={"exchange": self.exchange, "apiKey": self.credentials.api_key},
        )
        return Decimal(answer.json()["accounts"][0]["balances"]["USDT"]["locked"])


@pytest.fixture(params=EXCHANGES)
def exchange(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def trader(exchange: str, paper_url: str, paper_reset: str) -> Trader:
    credentials = make_paper_credentials(paper_url, exchange)
    session = StoppingSession(prefix=f"/{exchange}")
    connector = connector_class(exchange)(
        credentials=credentials,
        api_type=CAPABILITIES[exchange].api_types[0],
        environment="paper",
        base_url=f"{paper_url}/{exchange}",
        session=session,
    )
    return Trader(exchange, paper_url, credentials, session, connector)


@dataclass
class Write:
    """A signed placement or cancel, not sent yet, and the proof that it took effect once."""

    trader: Trader
    operation: str
    request: requests.PreparedRequest
    client_order_id: str | None
    before: dict[str, Any]

    def counted(self, stat: str) -> int:
        return self.trader.stats()[stat] - self.before[stat]

    def assert_applied_once(self) -> None:
        if self.operation == "place":
            assert self.trader.stats()["ordersByClientId"].get(self.client_order_id) == 1
            assert self.counted("ordersAccepted") == 1
        else:
            assert self.counted("cancelsApplied") == 1
            assert self.trader.locked_usdt() == 0  # the canceled order held all of it


def prepare(trader: Trader, operation: str) -> Write:
    """The write under test, prepared before any fault is set."""
    if operation == "place":
        order = trader.new_order()
        return Write(
            trader, operation, trader.placement(order), order.client_order_id, trader.stats()
        )
    cancel = trader.cancellation(trader.rest_order())
    return Write(trader, operation, cancel, None, trader.stats())


# -- truncate ------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_truncate_after_accept_is_a_body_cut_short_for_requests(
    trader: Trader, operation: str
) -> None:
    write = prepare(trader, operation)
    trader.set_faults(endpoint="writes", truncateAfterAcceptRate=1)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        send(write.request)
    write.assert_applied_once()
    assert write.counted("truncatedAfterAccept") == 1


def test_a_truncated_answer_has_the_real_head_and_half_its_body(trader: Trader) -> None:
    write = prepare(trader, "place")
    trader.set_faults(endpoint="writes", truncateAfterAcceptRate=1)
    answer = send_raw(write.request)
    full_length = int(answer.headers["content-length"])
    assert answer.status_line.startswith("HTTP/1.1 200 ")
    assert answer.ended_by is None  # closed, not reset
    assert len(answer.body) == full_length // 2 < full_length
    assert answer.body[:1] in (b"{", b"[")  # the start of the real JSON
    write.assert_applied_once()


# -- reset ---------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_reset_after_accept_resets_before_any_byte(trader: Trader, operation: str) -> None:
    write = prepare(trader, operation)
    trader.set_faults(endpoint="writes", resetAfterAcceptRate=1)
    answer = send_raw(write.request)
    assert answer.data == b""
    assert isinstance(answer.ended_by, ConnectionResetError)
    write.assert_applied_once()
    assert write.counted("resetAfterAccept") == 1


def test_requests_sees_a_reset_as_a_connection_reset(trader: Trader) -> None:
    write = prepare(trader, "place")
    trader.set_faults(endpoint="writes", resetAfterAcceptRate=1)
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        send(write.request)
    assert any(isinstance(cause, ConnectionResetError) for cause in causes(caught.value))
    write.assert_applied_once()


def test_a_cancel_all_is_applied_before_its_answer_is_reset(trader: Trader) -> None:
    trader.rest_order()
    trader.rest_order()
    cancel_all = trader.cancel_all()
    before = trader.stats()
    trader.set_faults(endpoint="writes", resetAfterAcceptRate=1)
    answer = send_raw(cancel_all)
    assert answer.data == b"" and isinstance(answer.ended_by, ConnectionResetError)
    assert trader.stats()["cancelsApplied"] == before["cancelsApplied"] + 1
    assert trader.locked_usdt() == 0


# -- stall ---------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_stall_after_accept_holds_the_answer_past_the_client_timeout(
    trader: Trader, operation: str
) -> None:
    write = prepare(trader, operation)
    trader.set_faults(endpoint="writes", stallAfterAcceptMs=STALL_MS)
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(write.request, timeout=CLIENT_TIMEOUT_SECONDS)
    write.assert_applied_once()
    assert write.counted("stalledAfterAccept") == 1


def test_a_stalled_answer_reaches_a_client_that_waits(trader: Trader) -> None:
    write = prepare(trader, "place")
    trader.set_faults(endpoint="writes", stallAfterAcceptMs=SHORT_STALL_MS)
    response = send(write.request)
    assert response.status_code == 200 and response.json()
    write.assert_applied_once()
    assert write.counted("stalledAfterAccept") == 1  # held, then answered


# -- html ----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", OPERATIONS)
def test_html_after_accept_answers_a_502_gateway_page(trader: Trader, operation: str) -> None:
    write = prepare(trader, operation)
    trader.set_faults(endpoint="writes", htmlAfterAcceptRate=1)
    response = send(write.request)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in response.text
    with pytest.raises(ValueError):
        response.json()
    write.assert_applied_once()
    assert write.counted("htmlAfterAccept") == 1


# -- trickle -------------------------------------------------------------------------------


def assert_trickled(answer: RawAnswer) -> None:
    """Small pieces about TRICKLE_MS apart, each read well within the per-read timeout,
    while the whole answer takes longer than that timeout."""
    assert answer.ended_by is None  # no per-read timeout fired
    assert len(answer.body) == int(answer.headers["content-length"])
    sizes = [len(piece) for _, piece in answer.pieces]
    assert statistics.median(sizes) <= PIECE_BYTES
    arrivals = [at for at, _ in answer.pieces]
    gaps_ms = [1000 * (later - earlier) for earlier, later in itertools.pairwise(arrivals)]
    assert TRICKLE_MS / 2 <= statistics.median(gaps_ms) <= TRICKLE_MS * 10
    pieces_sent = math.ceil(len(answer.data) / PIECE_BYTES)
    assert answer.seconds >= (pieces_sent - 1) * TRICKLE_MS / 1000 > PER_READ_TIMEOUT_SECONDS


@pytest.mark.parametrize("operation", OPERATIONS)
def test_trickle_spaces_the_answer_so_only_a_whole_request_deadline_catches_it(
    trader: Trader, operation: str
) -> None:
    write = prepare(trader, operation)
    trader.set_faults(endpoint="writes", trickleMs=TRICKLE_MS)
    answer = send_raw(write.request, read_timeout=PER_READ_TIMEOUT_SECONDS)
    assert_trickled(answer)
    assert answer.status_line.startswith("HTTP/1.1 200 ")
    write.assert_applied_once()
    assert write.counted("trickled") == 1


def test_trickle_spaces_an_error_answer_too(trader: Trader) -> None:
    write = prepare(trader, "place")
    trader.set_faults(endpoint="writes", trickleMs=TRICKLE_MS, error5xxRate=1)
    answer = send_raw(write.request, read_timeout=PER_READ_TIMEOUT_SECONDS)
    assert_trickled(answer)
    assert answer.status_line.split()[1].startswith("5")
    assert trader.stats()["ordersByClientId"].get(write.client_order_id) is None
    assert write.counted("trickled") == 1


# -- scopes --------------------------------------------------------------------------------


def test_a_fault_on_the_cancel_route_leaves_placements_alone(trader: Trader) -> None:
    cancel = trader.cancellation(trader.rest_order())
    trader.set_faults(endpoint=route_of(cancel, f"/{trader.exchange}"), htmlAfterAcceptRate=1)
    placed = send(trader.placement(trader.new_order()))
    assert placed.status_code == 200 and placed.json()
    assert send(cancel).status_code == 502


def test_faults_on_writes_leave_reads_alone(trader: Trader) -> None:
    order_id = trader.rest_order()
    # an order lookup: on Binance, BingX swap and Pionex the path of placements and cancels
    lookup = trader.read(
        lambda: trader.connector.get_order(trader.symbol, exchange_order_id=order_id)
    )
    server_time = trader.read(trader.connector.server_time)
    trader.set_faults(endpoint="writes", error5xxRate=1)
    assert send(server_time).status_code == 200
    assert send(lookup).status_code == 200
    assert send(trader.placement(trader.new_order())).status_code >= 500


def test_every_declared_write_route_is_a_served_trade_route(exchange: str, paper_url: str) -> None:
    """An unsigned request to each reaches the adapter, which refuses its authentication."""

    def signature_failures() -> int:
        stats = requests.get(f"{paper_url}/_paper/stats", timeout=SEND_TIMEOUT_SECONDS).json()
        return stats["exchanges"][exchange]["signatureFailures"]

    for route in sorted(PROTOCOLS[exchange].write_routes):
        method, path = route.split(" ")
        before = signature_failures()
        requests.request(
            method, f"{paper_url}/{exchange}{path}", json={}, timeout=SEND_TIMEOUT_SECONDS
        )
        assert signature_failures() == before + 1, route
