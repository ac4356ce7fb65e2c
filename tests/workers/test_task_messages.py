"""What Flower shows of our tasks reads well and holds no secret: stable ``<app>.<verb>`` names,
primitive ids as arguments, and, in every message the services actually publish (captured
as kombu sends it, with eager execution off), no key, secret or passphrase anywhere."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery.signals import before_task_publish

from config.celery import app
from connections.models import ExchangeConnection
from connections.services import ConnectionSpec, connection_create, connection_credentials
from core.redis import redis_client
from orders.models import Order
from orders.transitions import order_transition
from tests.orders.conftest import order_body

# the names operators and beat's PeriodicTask rows know: renaming one is a migration
TASK_NAMES = {
    "connections.test",
    "connections.batch_test",
    "connections.health_check",
    "connections.heartbeat",
    "connections.health_sweep",
    "connections.heartbeat_sweep",
    "connections.rate_limits_refresh",
    "connections.stale_sweep",
    "connections.cleanup",
    "orders.submit",
    "orders.settle",
    "orders.refresh",
    "orders.cancel",
    "orders.cancel_all",
    "orders.reconcile",
    "orders.orphans",
    "orders.alerts_sweep",
    "connections.alert_send",
    "connections.stream_alerts_sweep",
}
NAME = re.compile(r"^(?P<app>connections|orders|workers)\.[a-z]+(?:_[a-z]+)*$")
# what a task may take: ids, an order's symbol, the fast path's run number
PARAMETER = re.compile(r"^(?:[a-z]+_)?id$|^symbol$|^run$")
PRIMITIVE_ANNOTATIONS = {"str", "int", "str | None", "int | None"}
SECRET_WORD = re.compile(r"key|secret|passphrase|password|token|credential|sign", re.I)
QUEUES = ("orders", "connections", "health", "maintenance")


def our_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_has_its_stable_readable_name_from_its_own_app():
    tasks = our_tasks()
    assert set(tasks) == TASK_NAMES
    for name, task in tasks.items():
        match = NAME.match(name)
        assert match, name
        assert task.run.__module__ == f"{match['app']}.tasks", name


def test_every_task_takes_primitive_ids_and_never_a_credential():
    for name, task in our_tasks().items():
        for parameter in inspect.signature(task.run).parameters.values():
            assert PARAMETER.match(parameter.name), f"{name}({parameter.name})"
            assert not SECRET_WORD.search(parameter.name), f"{name}({parameter.name})"
            assert str(parameter.annotation) in PRIMITIVE_ANNOTATIONS, (
                f"{name}({parameter.name}: {parameter.annotation})"
            )


@pytest.fixture
def published() -> Iterator[list[dict[str, Any]]]:
    """Every message as kombu is handed it (headers and body), then the queues emptied."""
    seen: list[dict[str, Any]] = []

    def capture(sender: Any = None, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        seen.append({"task": sender, "body": body, "headers": dict(headers or {})})

    assert not app.conf.task_always_eager
    before_task_publish.connect(capture, weak=False)
    try:
        yield seen
    finally:
        before_task_publish.disconnect(capture)
        client = redis_client()
        for queue in QUEUES:
            client.delete(queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9)))


def secrets_of(connection: ExchangeConnection) -> list[str]:
    credentials = connection_credentials(connection=connection)
    return [
        value
        for value in (credentials["api_key"], credentials["api_secret"], credentials["passphrase"])
        if value
    ]


@pytest.mark.django_db
def test_the_messages_the_services_publish_carry_ids_only(
    owner, owner_client, paper, published, django_capture_on_commit_callbacks
):
    from connections.tasks import health_sweep_task, heartbeat_sweep_task
    from orders.submission import Outcome
    from orders.tasks import _follow_up

    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(name="okx-spot", exchange="okx", api_type="spot", environment="paper"),
    )
    ExchangeConnection.objects.filter(pk=connection.pk).update(is_active=True)
    with django_capture_on_commit_callbacks(execute=True):
        placed = owner_client.post("/api/orders", order_body(connection), format="json")
        assert placed.status_code in (201, 202), placed.json()
        order_id = placed.json()["order"]["id"]
        order_transition(order_id=order_id, to_status="submitting", source="task")
        order_transition(
            order_id=order_id, to_status="open", source="task", exchange_order_id="paper-1"
        )
        assert owner_client.post(f"/api/orders/{order_id}/cancel").status_code == 202
        assert (
            owner_client.post(
                "/api/orders/cancel-all", {"connectionId": str(connection.pk)}, format="json"
            ).status_code
            == 202
        )
        assert (
            owner_client.post(
                "/api/settings/connections/batch-test",
                {"connectionIds": [str(connection.pk)], "async": True},
                format="json",
            ).status_code
            == 202
        )
    heartbeat_sweep_task()
    health_sweep_task()
    _follow_up(
        order_id, Outcome("open", retry_in=1.0, settle_in=1.0, refresh_in=1.0), resubmit=True
    )

    names = {message["task"] for message in published}
    assert {
        "orders.submit",
        "orders.cancel",
        "orders.cancel_all",
        "connections.batch_test",
        "connections.heartbeat",
        "connections.health_check",
        "orders.settle",
        "orders.refresh",
    } <= names
    secrets = secrets_of(ExchangeConnection.objects.get(pk=connection.pk))
    assert secrets and Order.objects.filter(pk=order_id).exists()
    for message in published:
        headers, (args, kwargs, _) = message["headers"], message["body"]
        assert headers["task"] == message["task"] in TASK_NAMES
        assert all(isinstance(arg, str | int | type(None)) for arg in args), message
        assert set(kwargs) <= {"run"}, message
        # the first argument is an id (a connection, an order or a batch)
        assert str(uuid.UUID(args[0])) == args[0] or re.fullmatch(r"[0-9a-f]{32}", args[0])
        assert headers["argsrepr"] == repr(args), "Flower shows argsrepr"
        text = repr(message)
        for secret in secrets:
            assert secret not in text, f"a credential in the {message['task']} message"
