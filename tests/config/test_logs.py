"""Structured logs as production writes them (the root handler's formatter, core.logs): one
line per exchange call with its fields, and never a key, secret, signature or passphrase in
any line, tracebacks included, around real calls to the paper exchange that succeed, fail
authentication, meet a 5xx, or raise inside the connector with the secret in scope; and the
same for what a real Celery worker logs while it runs our tasks."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connections import crypto
from connections.health import connection_check
from connections.models import ExchangeConnection
from connections.services import ConnectionSpec, connection_create, connection_credentials
from core.logs import formatter
from exchanges import errors
from exchanges.base import Call, Credentials
from exchanges.binance import BinanceConnector
from exchanges.okx import OkxConnector
from tests.django_fixtures import set_faults
from tests.orders.conftest import wait_until
from tests.paper import make_paper_credentials

CONNECTION_ID = "5ec7e75a-1065-4c5e-9d55-000000000042"
WRONG_SECRET = "WrOnG-sEcReT-sentinel-d41d8cd98f00b204"
UNSENDABLE_KEY = "clé-ключ-unsendable-7c2e"
# header and parameter names whose values are signatures (each exchange's own spelling)
SIGNATURE_NAMES = re.compile(r"sign", re.I)
log = logging.getLogger("tests.logs")


class Capture:
    """The root handler as production sets it up, writing to memory."""

    def __init__(self, log_format: str) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter(log_format))
        self.log_format = log_format

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line.strip()]

    def records(self) -> list[dict[str, Any]]:
        assert self.log_format == "json"
        return [json.loads(line) for line in self.lines if line.startswith("{")]


@pytest.fixture(params=["json", "console"])
def captured(request: pytest.FixtureRequest) -> Iterator[Capture]:
    capture = Capture(request.param)
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture.handler)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture.handler)
        root.setLevel(level)


class RecordsSignatures:
    """Mixed into a real connector class: keeps every signature header and parameter it
    computed, exactly as it would go on the wire; nothing else changes."""

    def sign(self, call: Call) -> None:
        super().sign(call)  # type: ignore[misc]
        self.__dict__.setdefault("signatures", []).extend(
            value
            for name, value in [*call.headers.items(), *call.params]
            if SIGNATURE_NAMES.search(name) and value
        )


class SignedOkx(RecordsSignatures, OkxConnector):
    pass


class SignedBinance(RecordsSignatures, BinanceConnector):
    pass


def secrets_of(credentials: Credentials) -> list[str]:
    return [
        value
        for value in (credentials.api_key, credentials.api_secret, credentials.passphrase)
        if value
    ]


def assert_clean(lines: list[str], forbidden: list[str]) -> None:
    assert forbidden and all(forbidden)
    for line in lines:
        for value in forbidden:
            assert value not in line, f"{value[:6]}… leaked into {line[:300]}"


def okx(paper_url: str, credentials: Credentials) -> SignedOkx:
    connector = SignedOkx(credentials=credentials, environment="paper", base_url=f"{paper_url}/okx")
    connector.connection_id = CONNECTION_ID
    return connector


@pytest.mark.integration
def test_exchange_calls_that_succeed_fail_and_raise_leak_no_secret(captured, paper_reset):
    paper_url = paper_reset
    good = make_paper_credentials(paper_url, "okx")
    bad = Credentials(good.api_key, WRONG_SECRET, good.passphrase)
    # a key the HTTP library cannot put in a header: the request fails after signing
    unsendable = Credentials(UNSENDABLE_KEY, good.api_secret, good.passphrase)
    forbidden = [*secrets_of(good), WRONG_SECRET, UNSENDABLE_KEY]
    signed = []

    # 1. success
    connector = okx(paper_url, good)
    signed.append(connector)
    connector.balances()

    # 2. the exchange refuses the signature: logged with its traceback, as a task would
    refused = okx(paper_url, bad)
    signed.append(refused)
    with pytest.raises(errors.AuthenticationError):
        try:
            refused.balances()
        except errors.ExchangeError:
            log.exception("the balance read failed")
            raise

    # 3. a 5xx answer
    set_faults(paper_url, "okx", error5xxRate=1.0)
    failing = okx(paper_url, good)
    signed.append(failing)
    with pytest.raises(errors.ExchangeUnavailable):
        try:
            failing.balances()
        except errors.ExchangeError:
            log.exception("the exchange answered 5xx")
            raise
    requests.delete(f"{paper_url}/_paper/faults", timeout=5)

    # 4. an exception inside the request, after signing, before a byte leaves
    breaking = okx(paper_url, unsendable)
    signed.append(breaking)
    with pytest.raises(errors.ExchangeUnavailable) as unsent:
        try:
            breaking.balances()
        except errors.ExchangeError:
            log.exception("the request could not be sent")
            raise
    assert "UnicodeEncodeError" in str(unsent.value)

    signatures = [value for each in signed for value in each.signatures]
    assert len(signatures) >= 4
    lines = captured.lines
    assert_clean(lines, forbidden + signatures)
    assert sum("Traceback" in line for line in lines) >= 3 or captured.log_format == "console"
    if captured.log_format == "json":
        calls = [r for r in captured.records() if r["logger"] == "exchanges.calls"]
        assert {(r["endpoint"], r["status"], r.get("error", "")) for r in calls} >= {
            ("/api/v5/account/balance", 200, ""),
            ("/api/v5/account/balance", 401, "AuthenticationError"),
            ("/api/v5/account/balance", 503, "ExchangeUnavailable"),
            ("/api/v5/account/balance", None, "ExchangeUnavailable"),
        }
        assert all(
            r["exchange"] == "okx"
            and r["connection_id"] == CONNECTION_ID
            and isinstance(r["latency_ms"], float)
            for r in calls
        )
        tracebacks = [r["exception"] for r in captured.records() if "exception" in r]
        assert len(tracebacks) == 3 and all("Traceback" in text for text in tracebacks)


def closed_port() -> int:
    """A loopback port nothing listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
def test_an_error_quoting_the_signed_request_is_masked(captured, paper_reset):
    """A library's message may quote a request: requests names the URL, its signed query
    included, when the connection is refused. Logged, the signature's value is masked."""
    credentials = make_paper_credentials(paper_reset, "binance")
    connector = SignedBinance(credentials=credentials, environment="paper", base_url=paper_reset)
    call = Call("GET", "/api/v3/account", params=[("omitZeroBalances", "true")], signed=True)
    connector.sign(call)
    url = f"http://127.0.0.1:{closed_port()}/api/v3/account?{call.query_string}"
    with pytest.raises(requests.ConnectionError) as refused:
        try:
            requests.get(url, headers=call.headers, timeout=5)
        except requests.ConnectionError:
            log.exception("the request failed")
            raise
    assert connector.signatures and connector.signatures[0] in str(refused.value)
    assert "signature=***" in "\n".join(captured.lines)
    assert_clean(captured.lines, [*secrets_of(credentials), *connector.signatures])


@pytest.mark.django_db
def test_a_connection_check_logs_its_calls_and_no_secret(captured, owner, paper):
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(name="okx", exchange="okx", api_type="spot", environment="paper"),
    )
    credentials = connection_credentials(connection=connection)
    assert connection_check(connection=connection).success is True
    ExchangeConnection.objects.filter(pk=connection.pk).update(
        api_secret_encrypted=crypto.encrypt(WRONG_SECRET)
    )
    connection_check(connection=ExchangeConnection.objects.get(pk=connection.pk))
    assert_clean(
        captured.lines,
        [
            credentials["api_key"],
            credentials["api_secret"],
            credentials["passphrase"],
            WRONG_SECRET,
        ],
    )
    if captured.log_format == "json":
        calls = [r for r in captured.records() if r["logger"] == "exchanges.calls"]
        assert {r["connection_id"] for r in calls} == {str(connection.pk)}
        assert any(r.get("error") == "AuthenticationError" for r in calls)


def test_a_request_object_is_logged_as_its_method_and_path(captured, rf):
    request = rf.get(
        "/api/orders?apiKey=leaky-key-123&page=2", HTTP_AUTHORIZATION="Token leaky-token-456"
    )
    logging.getLogger("django.request").warning(
        "Not Found: %s", request.path, extra={"status_code": 404, "request": request}
    )
    [line] = captured.lines
    assert "GET /api/orders" in line
    assert "leaky-key-123" not in line and "leaky-token-456" not in line


def test_console_tracebacks_show_no_local_variables(captured):
    def fail() -> None:
        hidden_local = "LoCaL-sentinel-9a8b7c"  # noqa: F841
        raise ValueError("plain")

    try:
        fail()
    except ValueError:
        log.exception("failed")
    assert "LoCaL-sentinel" not in captured.stream.getvalue()
    assert "ValueError: plain" in captured.stream.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_celery_workers_lines_are_json_and_leak_no_secret(owner, paper, celery_worker):
    """The worker (DEBUG off, as in production) logs through the same formatter: its task
    lines and the exchange calls they make, with no credential in any line."""
    from connections.tasks import test_task

    log_path = celery_worker.log_path
    start = log_path.stat().st_size
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(name="bybit", exchange="bybit", api_type="spot", environment="paper"),
    )
    credentials = connection_credentials(connection=connection)
    assert test_task.delay(str(connection.pk)).get(timeout=30)["success"] is True
    ExchangeConnection.objects.filter(pk=connection.pk).update(
        api_secret_encrypted=crypto.encrypt(WRONG_SECRET)
    )
    test_task.delay(str(connection.pk)).get(timeout=30)

    def written() -> list[dict[str, Any]]:
        with log_path.open() as log_file:
            log_file.seek(start)
            text = log_file.read()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    lines = wait_until(
        lambda: (
            [
                r
                for r in written()
                if r.get("task") == "connections.test" and "succeeded" in r["event"]
            ][1:]
            and written()
        )
    )
    ours = [r for r in lines if r.get("connection_id") == str(connection.pk)]
    assert {r["endpoint"] for r in ours} >= {"/v5/market/time", "/v5/user/query-api"}
    assert any(r.get("error") == "AuthenticationError" for r in ours)
    with log_path.open() as log_file:
        log_file.seek(start)
        assert_clean(
            log_file.read().splitlines(),
            [credentials["api_key"], credentials["api_secret"], WRONG_SECRET],
        )
