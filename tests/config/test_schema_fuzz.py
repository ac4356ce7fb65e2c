"""Schemathesis over the API's own schema, as /api/schema/ serves it from a live server on a
free port of this process (pytest-django's live_server, over real HTTP on 127.0.0.1),
every operation, every check and every phase (schema examples, coverage boundaries, fuzzing,
stateful sequences through inferred links), as a user who owns a paper connection. It must
find nothing: every answer is documented (status, headers, body), every request the schema
allows is accepted or refused for a documented reason, and every request it forbids is
refused with a 4xx.

Bounded (MAX_EXAMPLES per operation and phase, a fixed seed, no example database), so it
takes about a minute here. No request leaves this machine: the fuzzer's own live and testnet
connections resolve no host (resolve_only_loopback), and no task reaches the broker, where a
worker of another test would run it (tasks_in_process).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from celery.app.task import Task
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished

from connections.models import ExchangeConnection
from tests.orders.conftest import make_connection, order_body

__all__ = ["make_connection"]  # the orders tests' fixture: a paper connection of the owner

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEED = 20261203
MAX_EXAMPLES = 40
STATEFUL_MAX_STEPS = 25
# A request the schema allows may be refused only for a reason the schema documents: an id
# that is not found, the object's state (409), a rule the schema cannot state (422), the
# rate of requests (429, the login throttles). Never 400, never 5xx.
POSITIVE_REFUSALS = ["2xx", "404", "409", "422", "429"]
# A request the schema forbids is a 400 (a malformed path id a 404; a body type the API does
# not read a 415; the coverage phase's methods the path lacks a 405). Never a 2xx, a 409 or
# 422 (the serializer let it through), nor a 5xx.
NEGATIVE_REFUSALS = ["400", "401", "404", "405", "406", "413", "415"]
LOGIN = "/api/auth/token"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class FuzzReport:
    requests: int = 0
    scenarios: int = 0
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tested: set[str] = field(default_factory=set)  # operations that got requests
    seconds: float = 0.0


def fuzz_config(token: str) -> SchemathesisConfig:
    checks = {
        "enabled": True,
        "positive_data_acceptance": {"expected-statuses": POSITIVE_REFUSALS},
        "negative_data_rejection": {"expected-statuses": NEGATIVE_REFUSALS},
    }
    # logins: unknown credentials are a 401 and, past the throttle, a 429 (with Retry-After)
    login_checks = {
        "positive_data_acceptance": {"expected-statuses": [*POSITIVE_REFUSALS, "401"]},
        "negative_data_rejection": {"expected-statuses": [*NEGATIVE_REFUSALS, "429"]},
    }
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            # Connection: close: the live server writes headers and body apart, and on a kept
            # alive connection Nagle's algorithm holds the body ~40 ms for the client's ACK
            "headers": {"Authorization": f"Token {token}", "Connection": "close"},
            # no state between runs (no example database, no response cache): same seed, same run
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "database": "none"},
            "cache": {"enabled": False},
            "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS}},
            "checks": checks,
            "operations": [{"include-path": LOGIN, "checks": login_checks}],
        }
    )


def run_fuzz(schema: Any) -> FuzzReport:
    report = FuzzReport()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, ScenarioFinished):
            _record_scenario(report, event)
        elif isinstance(event, NonFatalError):
            report.errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, FatalError):
            raise event.exception
        elif isinstance(event, EngineFinished):
            report.failures += [
                f"after the run: {failure.title}: {failure.message}" for failure in event.failures
            ]
    report.seconds = time.monotonic() - started
    return report


def _record_scenario(report: FuzzReport, event: ScenarioFinished) -> None:
    recorder = event.recorder
    report.scenarios += 1
    report.requests += len(recorder.interactions)
    if recorder.interactions:
        report.tested.add(recorder.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                report.failures.append(_describe(recorder, case_id, check))
            elif check.status == Status.ERROR:
                report.errors.append(f"{recorder.label}: the check {check.name} crashed")


def _describe(recorder: Any, case_id: str, check: Any) -> str:
    failure = check.failure_info.failure
    interaction = recorder.interactions.get(case_id)
    sent = answer = ""
    if interaction is not None:
        request = interaction.request
        body = (request.body or b"")[:300].decode(errors="replace")
        sent = f"\n  sent: {request.method} {request.uri} {body}"
        if interaction.response is not None:
            answer = (
                f"\n  got: {interaction.response.status_code} "
                f"{interaction.response.content[:300]!r}"
            )
    return f"[{recorder.label}] {check.name}: {failure.title}: {failure.message}{sent}{answer}"


def unreachable_exchange(case: Any, response: Any) -> bool:
    """The documented 503 exchange_unavailable (with Retry-After) of a connection to a real
    exchange host, which this offline machine cannot reach: the API's right answer here."""
    headers = {name.lower() for name in response.headers}
    if response.status_code != 503 or "retry-after" not in headers:
        return False
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return False
    body = case.body if isinstance(case.body, dict) else {}
    connection_id = (case.path_parameters or {}).get("id") or body.get("connectionId")
    return (
        code == "exchange_unavailable"
        and ExchangeConnection.objects.filter(pk=connection_id)
        .exclude(environment="paper")
        .exists()
    )


@pytest.fixture
def resolve_only_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections the fuzzer creates point at real exchange hosts; resolving one fails here
    as it would offline (a NetworkError the API reports), and nothing is looked up."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.strip("[]") not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not resolved in this test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def tasks_in_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Batch tests run here, at once (on the batch's own thread pool, whose threads hand
    their database connections back after each test), so a batch completes inside its
    request; every other task is only noted (orders stay pending, which the cancel endpoint
    handles). Celery's Task is patched, none of our code."""
    noted: list[str] = []

    def apply_async(self: Task, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if self.name == "connections.batch_test":
            return self.apply(args=args, kwargs=kwargs)
        noted.append(self.name)
        return None

    monkeypatch.setattr(Task, "apply_async", apply_async)
    return noted


@pytest.fixture
def fuzz_schema(
    owner_client: Any,
    make_connection: Callable[..., Any],
    resolve_only_loopback: None,
    tasks_in_process: list[str],
    live_server: Any,
) -> Iterator[Any]:
    # live_server last: it is set up after the test database, so it stops before the
    # database is dropped (its thread holds a connection until then)
    """Our schema loaded from the app, authenticated as the owner of a paper connection
    with one order on it (so ids in the stateful phase can name real objects)."""
    connection = make_connection()
    placed = owner_client.post("/api/orders", order_body(connection), format="json")
    assert placed.status_code == 202, placed.json()
    owner = owner_client.user
    key = Token.objects.get(user=owner).key
    # 127.0.0.1, not the live server's "localhost": no resolution, no IPv6 attempt first
    origin = live_server.url.replace("localhost", "127.0.0.1")
    schema = schemathesis.openapi.from_url(f"{origin}/api/schema/", config=fuzz_config(key))

    def before_call(context: Any, case: Any, kwargs: Any) -> None:
        # the fuzzer calls logout too: the owner's token comes back before the next request
        Token.objects.get_or_create(user=owner, defaults={"key": key})

    def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
        return not unreachable_exchange(case, response)

    # global hooks (the stateful phase runs on a copy of the schema), removed after
    hooks = [schemathesis.hook(before_call), schemathesis.hook(filter_failure)]
    try:
        yield schema
    finally:
        for hook in hooks:
            schemathesis.hooks.unregister(hook)


def test_the_fuzzer_finds_nothing_over_every_operation_and_check(fuzz_schema):
    report = run_fuzz(fuzz_schema)
    print(
        f"\nschema fuzz: {report.requests} requests in {report.scenarios} scenarios, "
        f"{report.seconds:.1f} s"
    )
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, f"{len(report.failures)} failures:\n" + "\n".join(
        report.failures[:40]
    )
    operations = {
        f"{method.upper()} {path}"
        for path, item in fuzz_schema.raw_schema["paths"].items()
        for method in item
    }
    assert operations <= report.tested, operations - report.tested  # every one, really
    assert "Stateful tests" in report.tested
