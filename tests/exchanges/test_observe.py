"""Every exchange call is told once to exchanges.observe: one log record on exchanges.calls and
one CallRecord per observer, with the path template, the status, the latency and the error
class, and nothing of the query string, the body, the headers or the credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import responses

from exchanges import errors, observe
from exchanges.base import Credentials
from exchanges.bybit import BybitConnector

BASE_URL = "https://bybit.test"
KEY, SECRET = "observe-key-0b1c2d3e", "observe-secret-9f8e7d6c5b4a"
TIME_BODY = {"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1700000000"}}


@pytest.fixture
def records() -> Iterator[list[observe.CallRecord]]:
    seen: list[observe.CallRecord] = []
    observe.register(seen.append)
    yield seen
    observe.unregister(seen.append)


def bybit(**kwargs) -> BybitConnector:
    connector = BybitConnector(credentials=Credentials(KEY, SECRET), base_url=BASE_URL, **kwargs)
    connector.connection_id = "c0ffee00-0000-4000-8000-000000000001"
    return connector


@responses.activate
def test_a_successful_call_is_one_record_and_one_info_line(records, caplog):
    responses.get(f"{BASE_URL}/v5/market/time", json=TIME_BODY)
    caplog.set_level(logging.INFO, logger="exchanges.calls")
    bybit().server_time()
    [record] = records
    assert (
        record.exchange,
        record.method,
        record.endpoint,
        record.status,
        record.error,
        record.sent,
    ) == ("bybit", "GET", "/v5/market/time", 200, "", True)
    assert record.connection_id == "c0ffee00-0000-4000-8000-000000000001"
    assert record.latency_ms >= 0
    [line] = [r for r in caplog.records if r.name == "exchanges.calls"]
    assert line.levelno == logging.INFO and line.getMessage() == "exchange call"
    assert line.endpoint == "/v5/market/time" and line.status == 200


@responses.activate
def test_a_refused_signed_call_names_the_error_class_and_code_but_no_query(records, caplog):
    responses.get(
        f"{BASE_URL}/v5/account/wallet-balance",
        status=401,
        json={"retCode": 10003, "retMsg": "API key is invalid."},
    )
    caplog.set_level(logging.INFO, logger="exchanges.calls")
    with pytest.raises(errors.AuthenticationError):
        bybit().balances()
    [record] = records
    assert record.endpoint == "/v5/account/wallet-balance"
    assert (record.status, record.error, record.error_code) == (401, "AuthenticationError", "10003")
    [line] = [r for r in caplog.records if r.name == "exchanges.calls"]
    assert line.levelno == logging.WARNING
    signed = responses.calls[0].request
    for secret_part in (KEY, SECRET, signed.headers["X-BAPI-SIGN"], "accountType"):
        assert secret_part not in repr(line.__dict__)


def test_a_call_that_never_left_is_not_sent(records):
    refused = BybitConnector(
        credentials=Credentials(KEY, SECRET), base_url="http://127.0.0.1:1"
    )  # nothing listens on port 1
    with pytest.raises(errors.NetworkError):
        refused.server_time()
    [record] = records
    assert (record.status, record.sent, record.error) == (None, False, "NetworkError")


class RefusingThrottle:
    @contextmanager
    def __call__(self, charge, *, destination) -> Iterator[None]:
        raise errors.RateLimited("budget exhausted", retry_after=2.0, exchange="bybit")
        yield

    def report_usage(self, signals, *, charge, destination) -> None: ...

    def pause(self, seconds, *, reason, destination, product="spot") -> float:
        return seconds


@responses.activate
def test_our_limiters_refusal_is_a_record_that_was_not_sent(records):
    with pytest.raises(errors.RateLimited):
        bybit(throttle=RefusingThrottle()).server_time()
    [record] = records
    assert (record.sent, record.error, record.latency_ms) == (False, "RateLimited", 0.0)
    assert len(responses.calls) == 0


def test_an_exception_while_signing_is_a_record_with_its_class(records):
    # a secret that cannot be encoded fails inside the signing, before anything is sent
    connector = BybitConnector(credentials=Credentials(KEY, "\ud800"), base_url=BASE_URL)
    with pytest.raises(UnicodeEncodeError):
        connector.balances()
    [record] = records
    assert (record.error, record.sent, record.status) == ("UnicodeEncodeError", False, None)


@responses.activate
def test_an_observer_that_raises_never_breaks_the_call(records, caplog):
    responses.get(f"{BASE_URL}/v5/market/time", json=TIME_BODY)

    def broken(record: observe.CallRecord) -> None:
        raise RuntimeError("observer down")

    observe.register(broken)
    try:
        assert bybit().server_time() == 1_700_000_000_000
    finally:
        observe.unregister(broken)
    assert len(records) == 1
    assert any(r.getMessage() == "exchange call observer failed" for r in caplog.records)


@pytest.mark.parametrize(
    "path, template",
    [
        ("/v5/order/create", "/v5/order/create"),
        ("/api/v3/order?symbol=BTCUSDT&signature=abc", "/api/v3/order"),
        ("/api/v1/orders/1234567890", "/api/v1/orders/{id}"),
        ("/orders/3f2a9c1e-7b6d-4e5f-8a9b-0c1d2e3f4a5b/cancel", "/orders/{id}/cancel"),
        ("/api/v5/trade/order", "/api/v5/trade/order"),
    ],
)
def test_the_endpoint_is_a_path_template(path, template):
    assert observe.endpoint_template(path) == template
