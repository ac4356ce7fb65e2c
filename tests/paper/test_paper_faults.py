"""Every connector against the running paper exchange with faults injected: the failure
each fault causes must come out as the error class docs/orders.md promises.

A connector whose module (or whose paper adapter) does not exist yet is skipped; once all
six exist, all six run. Each connector first places and cancels one order without faults,
so anything it caches (time offset, instruments, tokens) is warm and the faulted call is the
call under test.
"""

from __future__ import annotations

import importlib.util
import socket
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from exchanges import errors
from exchanges.base import Connector, Credentials, OrderRequest
from exchanges.capabilities import CAPABILITIES, EXCHANGES
from exchanges.registry import connector_class
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.integration

FAR_PRICE = Decimal("30000")  # half the BTC start price: the order rests
QUANTITY = Decimal("0.001")
SLOW_TIMEOUT_SECONDS = 0.5
SLOW_LATENCY_MS = 1500


def connector_class_or_skip(exchange: str) -> type[Connector]:
    try:
        return connector_class(exchange)
    except ModuleNotFoundError as exc:
        if exc.name != f"exchanges.{exchange}":
            raise
        pytest.skip(f"exchanges/{exchange}.py is not written yet")


def require_paper_adapter(exchange: str) -> None:
    if importlib.util.find_spec(f"paper.protocols.{exchange}") is None:
        pytest.skip(f"paper/protocols/{exchange}.py is not written yet")


def api_type_of(exchange: str) -> str:
    """Spot where the exchange has it (OrangeX is perpetual-only)."""
    return CAPABILITIES[exchange].api_types[0]


def symbol_for(api_type: str) -> str:
    return "BTC/USDT:USDT" if api_type == "perpetual_futures" else "BTC/USDT"


def new_client_id() -> str:
    return ("ec" + uuid.uuid4().hex)[:32]


def far_order(api_type: str) -> OrderRequest:
    return OrderRequest(
        symbol=symbol_for(api_type),
        side="buy",
        type="limit",
        quantity=QUANTITY,
        price=FAR_PRICE,
        client_order_id=new_client_id(),
    )


def build(
    exchange: str, credentials: Credentials, base_url: str, timeout: float = 10.0
) -> Connector:
    return connector_class_or_skip(exchange)(
        credentials=credentials,
        api_type=api_type_of(exchange),
        environment="paper",
        base_url=base_url,
        timeout=timeout,
    )


def set_faults(paper_url: str, exchange: str, **faults: object) -> None:
    response = requests.post(
        f"{paper_url}/_paper/faults", json={"exchange": exchange, **faults}, timeout=5
    )
    response.raise_for_status()


def exchange_stats(paper_url: str, exchange: str) -> dict:
    return requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"][exchange]


@pytest.fixture(params=EXCHANGES)
def exchange(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def connector(exchange: str, paper_url: str, paper_reset: str) -> Iterator[Connector]:
    """A warmed-up connector on a fresh paper account, faults cleared before and after."""
    connector_class_or_skip(exchange)
    require_paper_adapter(exchange)
    credentials = make_paper_credentials(paper_url, exchange)
    connector = build(
        exchange, credentials, f"{paper_url}/{exchange}", timeout=SLOW_TIMEOUT_SECONDS
    )
    warm_up = far_order(connector.api_type)
    connector.place_order(warm_up)
    connector.cancel_all(warm_up.symbol)
    yield connector


def test_5xx_on_place_is_order_outcome_unknown(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, error5xxRate=1)
    with pytest.raises(errors.OrderOutcomeUnknown):
        connector.place_order(far_order(connector.api_type))


def test_5xx_on_a_read_is_exchange_unavailable(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, error5xxRate=1)
    with pytest.raises(errors.ExchangeUnavailable):
        connector.balances()


def test_rate_limit_fault_is_rate_limited_with_a_pause(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, rateLimit429Rate=1, retryAfterSeconds=2)
    with pytest.raises(errors.RateLimited) as caught:
        connector.balances()
    assert caught.value.retry_after > 0


def test_drop_after_accept_is_outcome_unknown_and_the_order_exists(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, dropAfterAcceptRate=1)
    order = far_order(connector.api_type)
    with pytest.raises(errors.OrderOutcomeUnknown):
        connector.place_order(order)
    stats = exchange_stats(paper_url, exchange)
    assert stats["ordersByClientId"].get(order.client_order_id) == 1
    assert stats["droppedAfterAccept"] >= 1


def test_latency_beyond_the_timeout_is_request_timeout(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, latencyMs=SLOW_LATENCY_MS)
    with pytest.raises(errors.RequestTimeout):
        connector.place_order(far_order(connector.api_type))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_stopped_server_is_network_error(exchange: str) -> None:
    credentials = Credentials("paper-closed-key", "paper-closed-secret", "Paper-pass-1")
    connector = build(
        exchange, credentials, f"http://127.0.0.1:{closed_port()}/{exchange}", timeout=2.0
    )
    with pytest.raises(errors.NetworkError):
        connector.place_order(far_order(connector.api_type))
    with pytest.raises(errors.NetworkError):
        connector.balances()


# -- the fault matrix: every fault of the paper exchange x (place, cancel) x every exchange --

STALL_MS = 1500  # past SLOW_TIMEOUT_SECONDS
TRICKLE_MS = 60  # 8 bytes a piece: any answer takes well over SLOW_TIMEOUT_SECONDS
AFTER_ACCEPT_FAULTS = {
    "drop": ({"dropAfterAcceptRate": 1}, errors.OrderOutcomeUnknown),
    "truncate": ({"truncateAfterAcceptRate": 1}, errors.OrderOutcomeUnknown),
    "reset": ({"resetAfterAcceptRate": 1}, errors.OrderOutcomeUnknown),
    "stall": ({"stallAfterAcceptMs": STALL_MS}, errors.RequestTimeout),
    "html": ({"htmlAfterAcceptRate": 1}, errors.OrderOutcomeUnknown),
    "trickle": ({"trickleMs": TRICKLE_MS}, errors.RequestTimeout),
}


def exchange_order_state(connector: Connector, order: OrderRequest, exchange_id: str) -> str:
    return connector.get_order(order.symbol, exchange_order_id=exchange_id).status


@pytest.mark.parametrize("fault", AFTER_ACCEPT_FAULTS)
def test_a_place_whose_answer_is_lost_is_outcome_unknown_and_stored_once(
    connector: Connector, exchange: str, paper_url: str, fault: str
) -> None:
    faults, expected = AFTER_ACCEPT_FAULTS[fault]
    set_faults(paper_url, exchange, endpoint="writes", **faults)
    order = far_order(connector.api_type)
    with pytest.raises(expected) as caught:
        connector.place_order(order)
    if connector.deadline_window_ms is not None:
        assert caught.value.deadline_ms is not None, "a deadline-carrying send reports it"
    assert exchange_stats(paper_url, exchange)["ordersByClientId"].get(order.client_order_id) == 1


@pytest.mark.parametrize("fault", AFTER_ACCEPT_FAULTS)
def test_a_cancel_whose_answer_is_lost_is_outcome_unknown_and_applied(
    connector: Connector, exchange: str, paper_url: str, fault: str
) -> None:
    faults, expected = AFTER_ACCEPT_FAULTS[fault]
    order = far_order(connector.api_type)
    placed = connector.place_order(order)
    set_faults(paper_url, exchange, endpoint="writes", **faults)
    with pytest.raises(expected):
        connector.cancel_order(order.symbol, exchange_order_id=placed.exchange_order_id)
    set_faults(paper_url, exchange)  # faults off: read what the exchange did
    assert exchange_order_state(connector, order, placed.exchange_order_id) == "canceled"


@pytest.mark.parametrize("fault", ["error5xx", "rateLimit429"])
def test_a_cancel_refused_before_the_exchange_is_unknown_or_rate_limited(
    connector: Connector, exchange: str, paper_url: str, fault: str
) -> None:
    order = far_order(connector.api_type)
    placed = connector.place_order(order)
    set_faults(paper_url, exchange, endpoint="writes", **{f"{fault}Rate": 1})
    expected = errors.OrderOutcomeUnknown if fault == "error5xx" else errors.RateLimited
    with pytest.raises(expected):
        connector.cancel_order(order.symbol, exchange_order_id=placed.exchange_order_id)
    set_faults(paper_url, exchange)
    assert exchange_order_state(connector, order, placed.exchange_order_id) == "open"


def test_faults_on_writes_leave_reads_alone(
    connector: Connector, exchange: str, paper_url: str
) -> None:
    set_faults(paper_url, exchange, endpoint="writes", error5xxRate=1, trickleMs=TRICKLE_MS)
    assert connector.balances() is not None
    connector.server_time()
