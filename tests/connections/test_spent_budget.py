"""A connection test, its exchange reads and a batch test while our own rate budget for the
exchange is spent: a 429 throttled with Retry-After (or, for a batch, its documented result
shape), never a 500; nothing is counted against the connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connections.models import ConnectionState, HealthCheck
from connections.paper import paper_base_url
from connections.ratelimits import exchange_limiter
from exchanges.hosts import rest_destination
from tests.orders.conftest import make_connection

__all__ = ["make_connection"]  # the orders tests' fixture: a paper connection of the owner

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"
PAUSE_SECONDS = 30


def spend_the_budget(exchange: str) -> None:
    """Pause the paper exchange's destination, as an exchange's 429 would: every request
    to it waits past what an API request may wait."""
    exchange_limiter(exchange).pause(
        PAUSE_SECONDS, destination=rest_destination(paper_base_url(exchange))
    )


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "throttled"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= PAUSE_SECONDS + 1
    assert 0 < body["error"]["retryAfter"] <= PAUSE_SECONDS


def test_a_connection_test_under_a_spent_budget_is_429_with_retry_after(
    owner_client, make_connection
):
    connection = make_connection()
    spend_the_budget(connection.exchange)
    assert_throttled(owner_client.post(f"{URL}/{connection.pk}/test"))
    state = ConnectionState.objects.get(connection=connection)
    assert state.consecutive_failures == 0 and state.circuit == "closed"
    assert not HealthCheck.objects.exists()  # our own limit is not the connection's failure


@pytest.mark.parametrize(
    "read, api_type",
    [("balances", "spot"), ("open-orders", "spot"), ("positions", "perpetual_futures")],
)  # a spot connection has no positions to ask for
def test_an_exchange_read_under_a_spent_budget_is_429_with_retry_after(
    owner_client, make_connection, read, api_type
):
    connection = make_connection("okx", api_type)
    spend_the_budget(connection.exchange)
    assert_throttled(owner_client.get(f"{URL}/{connection.pk}/{read}"))


def test_repeated_tests_that_spend_the_budget_are_200_or_429_never_500(
    owner_client, make_connection
):
    connection = make_connection("orangex", "perpetual_futures")  # the smallest budget
    spend_the_budget("orangex")  # the first tests meet the spent budget, later ones may not
    statuses = {owner_client.post(f"{URL}/{connection.pk}/test").status_code for _ in range(15)}
    assert statuses <= {200, 429} and 429 in statuses, statuses


@pytest.fixture
def tasks_run_here() -> Iterator[None]:
    """Celery's eager mode: an enqueued task runs at once in this process, under this test's
    settings (a worker process would not see them)."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.mark.django_db(transaction=True)
def test_a_batch_test_under_a_spent_budget_answers_its_documented_shape(
    owner_client, make_connection, settings, tasks_run_here
):
    # the batch gives up on the budget at once instead of after 60 s
    settings.BATCH_THROTTLE_WAIT_LIMIT_SECONDS = 0
    settings.BATCH_BUDGET_WAIT_SECONDS = 0.1
    connection = make_connection()
    spend_the_budget(connection.exchange)
    response = owner_client.post(
        f"{URL}/batch-test", {"connectionIds": [str(connection.pk)]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "completed" and body["failed"] == 1
    result = body["results"][str(connection.pk)]
    assert result["success"] is False and result["error"]["code"] == "throttled"
