"""The contract every connector passes, against exact exchange payloads via ``responses``.

Each ``tests/exchanges/test_<exchange>.py`` subclasses ``ConnectorContract`` (the class name
must start with ``Test``) and supplies the exchange's own payloads through the hooks below.
The tests here assert the shared behaviour: signing present and correct, throttle called
with the endpoint weight, status and error mapping by table, transport failures classified
as surely-not-sent or outcome-unknown, rate-limit answers pausing the throttle, and no
secret in any error text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar

import pytest
import requests
import responses

from exchanges import errors
from exchanges.base import Connector, Credentials, ExchangeOrder, OrderRequest
from exchanges.hosts import rest_destination
from exchanges.limits import Charge, UsageSignal

API_KEY = "contract-api-key-0001"
API_SECRET = "contract-api-secret-do-not-leak-0001"
PASSPHRASE = "contract-passphrase-0001"
FROZEN_NOW = 1_700_000_000.0
CLIENT_ID = "ec0123456789abcdef0123456789abcd"


class RecordingThrottle:
    """Records every acquire, usage report and pause, and the destination of each (a test
    double of the limiter: it applies pauses as asked, unbounded)."""

    def __init__(self) -> None:
        self.acquired: list[tuple[int, str]] = []
        self.charges: list[Charge] = []
        self.usage: list[UsageSignal] = []
        self.pauses: list[float] = []
        self.destinations: list[str] = []

    @contextmanager
    def __call__(self, charge: Charge, *, destination: str) -> Iterator[None]:
        self.acquired.append((charge.weight, charge.path))
        self.charges.append(charge)
        self.destinations.append(destination)
        yield

    def report_usage(
        self, signals: Sequence[UsageSignal], *, charge: Charge, destination: str
    ) -> None:
        self.usage.extend(signals)

    def pause(
        self, seconds: float, *, reason: str, destination: str, product: str = "spot"
    ) -> float:
        self.pauses.append(seconds)
        return seconds


class ConnectorContract:
    exchange: ClassVar[str]
    connector_class: ClassVar[type[Connector]]
    api_type: ClassVar[str] = "spot"
    symbol: ClassVar[str] = "BTC/USDT"
    base_url: ClassVar[str] = "https://contract.test"
    # (raw order payload as the exchange sends it in an order query, expected status)
    status_cases: ClassVar[list[tuple[dict[str, Any], str]]] = []
    # (http status, response body, expected error class) for the place-order endpoint
    error_cases: ClassVar[list[tuple[int, Any, type[errors.ExchangeError]]]] = []
    # (path, weight) as declared in the facts file
    weight_cases: ClassVar[list[tuple[str, int]]] = []

    # -- hooks each exchange test provides ----------------------------------------------

    def add_place_success(self, rsps: responses.RequestsMock, order: OrderRequest) -> None:
        """Register the exact success payload(s) for placing ``order``."""
        raise NotImplementedError

    def add_place_answer(
        self,
        rsps: responses.RequestsMock,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Register one answer (any status/body) on the place-order endpoint."""
        raise NotImplementedError

    def add_place_exception(self, rsps: responses.RequestsMock, exc: Exception) -> None:
        raise NotImplementedError

    def add_cancel_success(self, rsps: responses.RequestsMock, client_order_id: str) -> None:
        raise NotImplementedError

    def add_get_not_found(self, rsps: responses.RequestsMock) -> None:
        """Register the exchange's 'no such order' answer for a lookup by client id
        (by exchange id where the exchange cannot look up by client id)."""
        raise NotImplementedError

    def add_server_time(self, rsps: responses.RequestsMock) -> None:
        raise NotImplementedError

    def parse_order(self, raw: dict[str, Any]) -> ExchangeOrder:
        raise NotImplementedError

    def assert_signed(self, request: requests.PreparedRequest) -> None:
        """Recompute the signature of a sent request with the module's pure ``sign`` and
        compare; fail if missing or wrong."""
        raise NotImplementedError

    def lookup_kwargs(self) -> dict[str, str]:
        """How this exchange looks an order up (client id unless it cannot)."""
        return {"client_order_id": CLIENT_ID}

    # -- fixtures -----------------------------------------------------------------------

    @pytest.fixture
    def throttle(self) -> RecordingThrottle:
        return RecordingThrottle()

    @pytest.fixture
    def connector(self, throttle: RecordingThrottle) -> Connector:
        return self.connector_class(
            credentials=Credentials(API_KEY, API_SECRET, PASSPHRASE),
            api_type=self.api_type,
            environment="live",
            base_url=self.base_url,
            throttle=throttle,
            clock=lambda: FROZEN_NOW,
        )

    @pytest.fixture
    def rsps(self) -> Iterator[responses.RequestsMock]:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            yield mock

    def limit_order(self, **changes: Any) -> OrderRequest:
        values: dict[str, Any] = {
            "symbol": self.symbol,
            "side": "buy",
            "type": "limit",
            "quantity": Decimal("0.01"),
            "price": Decimal("50000"),
            "client_order_id": CLIENT_ID,
        }
        values.update(changes)
        return OrderRequest(**values)

    # -- the contract -------------------------------------------------------------------

    def test_place_order_returns_the_order_under_our_client_id(self, connector, rsps):
        order = self.limit_order()
        self.add_place_success(rsps, order)
        placed = connector.place_order(order)
        # None only where the exchange's answer carries no client id at all
        assert placed.client_order_id in (CLIENT_ID, None)
        assert placed.exchange_order_id
        assert placed.status in ("open", "partially_filled", "filled")

    def test_place_order_is_signed_correctly(self, connector, rsps):
        order = self.limit_order()
        self.add_place_success(rsps, order)
        connector.place_order(order)
        signed_calls = [
            call.request for call in rsps.calls if call.request.method in ("POST", "DELETE", "PUT")
        ]
        assert signed_calls, "placing an order sent no write request"
        self.assert_signed(signed_calls[-1])

    def test_place_order_sends_our_client_id_and_decimal_strings(self, connector, rsps):
        order = self.limit_order(quantity=Decimal("0.01000"), price=Decimal("50000.10"))
        self.add_place_success(rsps, order)
        connector.place_order(order)
        sent = " ".join(f"{call.request.url} {call.request.body or ''}" for call in rsps.calls)
        assert CLIENT_ID in sent
        # hex signatures and nonces may hold "1e5" by chance: only decimal-looking values count
        values = re.findall(r"(?<![0-9A-Za-z])-?\d+(?:\.\d+)?[eE][+-]?\d+(?![0-9A-Za-z])", sent)
        assert not values, f"a decimal went out in exponent form: {values}"
        assert "50000.1" in sent

    def test_throttle_is_called_before_every_request_with_its_weight(
        self, connector, rsps, throttle
    ):
        order = self.limit_order()
        self.add_place_success(rsps, order)
        connector.place_order(order)
        assert len(throttle.acquired) == len(rsps.calls)
        for weight, endpoint in throttle.acquired:
            assert weight == connector.weights.get(endpoint, weight) and weight >= 0

    def test_the_throttle_learns_the_destination_of_every_call(self, connector, rsps, throttle):
        order = self.limit_order()
        self.add_place_success(rsps, order)
        connector.place_order(order)
        assert throttle.destinations and set(throttle.destinations) == {
            rest_destination(self.base_url)
        }

    def test_declared_weights_match_the_facts_file(self, connector):
        for path, weight in self.weight_cases:
            assert connector.weights.get(path, 1) == weight, path

    def test_lookup_of_a_missing_order_raises_order_not_found(self, connector, rsps):
        self.add_get_not_found(rsps)
        with pytest.raises(errors.OrderNotFound):
            connector.get_order(self.symbol, **self.lookup_kwargs())

    def test_cancel_returns_the_order(self, connector, rsps):
        self.add_cancel_success(rsps, CLIENT_ID)
        canceled = connector.cancel_order(self.symbol, **self.lookup_kwargs())
        assert canceled.exchange_order_id or canceled.client_order_id

    def test_exchange_statuses_map_to_ours(self):
        assert self.status_cases, "no status cases declared"
        for raw, expected in self.status_cases:
            assert self.parse_order(raw).status == expected, raw

    def test_error_answers_map_to_error_classes(self, connector, rsps):
        assert self.error_cases, "no error cases declared"
        for status, body, expected in self.error_cases:
            rsps.reset()
            self.add_place_answer(rsps, status, body)
            with pytest.raises(expected) as caught:
                connector.place_order(self.limit_order())
            if expected is errors.ExchangeError:
                assert type(caught.value) is errors.ExchangeError

    def test_5xx_on_place_is_outcome_unknown(self, connector, rsps):
        self.add_place_answer(rsps, 502, {"message": "bad gateway"})
        with pytest.raises(errors.OrderOutcomeUnknown):
            connector.place_order(self.limit_order())

    def test_read_timeout_on_place_is_request_timeout_with_deadline(self, connector, rsps):
        self.add_place_exception(rsps, requests.exceptions.ReadTimeout("read timed out"))
        with pytest.raises(errors.RequestTimeout) as caught:
            connector.place_order(self.limit_order())
        self.assert_deadline(caught.value)

    def assert_deadline(self, error: errors.OrderOutcomeUnknown) -> None:
        """Exchanges whose requests carry a validity window report its end."""
        assert error.deadline_ms is None or error.deadline_ms > FROZEN_NOW * 1000

    def test_refused_connection_is_network_error(self, connector, rsps):
        refused = requests.exceptions.ConnectionError(
            "HTTPConnectionPool: NewConnectionError: [Errno 111] Connection refused"
        )
        self.add_place_exception(rsps, refused)
        with pytest.raises(errors.NetworkError):
            connector.place_order(self.limit_order())

    def test_reset_after_sending_is_outcome_unknown(self, connector, rsps):
        reset = requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('closed without response'))"
        )
        self.add_place_exception(rsps, reset)
        with pytest.raises(errors.OrderOutcomeUnknown):
            connector.place_order(self.limit_order())

    def test_rate_limit_answer_pauses_the_throttle(self, connector, rsps, throttle):
        rate_limited = [case for case in self.error_cases if case[2] is errors.RateLimited]
        assert rate_limited, "declare the exchange's rate-limit answer in error_cases"
        status, body, _ = rate_limited[0]
        self.add_place_answer(rsps, status, body)
        with pytest.raises(errors.RateLimited) as caught:
            connector.place_order(self.limit_order())
        assert caught.value.retry_after > 0
        assert throttle.pauses == [caught.value.retry_after]

    def test_errors_never_carry_credentials(self, connector, rsps):
        for status, body, _ in self.error_cases:
            rsps.reset()
            self.add_place_answer(rsps, status, body)
            with pytest.raises(errors.ExchangeError) as caught:
                connector.place_order(self.limit_order())
            text = f"{caught.value!s} {caught.value!r} {caught.value.args!r}"
            assert API_SECRET not in text and PASSPHRASE not in text
        assert API_SECRET not in repr(connector.credentials)

    def test_caller_client_ids_are_checked_against_the_exchange_rule(self, connector):
        assert connector.client_order_id_pattern.fullmatch(CLIENT_ID)
        assert not connector.client_order_id_pattern.fullmatch("x" * 65)
        assert not re.fullmatch(connector.client_order_id_pattern, "bad id with spaces")
