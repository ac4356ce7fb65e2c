"""Alerts reach the webhook (a real local receiver, through a real worker): one POST per
subject per ten minutes, and a dead webhook never slows or fails the work that raised it."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from decimal import Decimal

import celery
import kombu.exceptions
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from config.webhooks import alert_webhook_url
from connections.alerts import DEDUPE_KEY, Alert, alert_raise, streams_down_alert
from connections.health import connection_check, connections_stale_deactivate
from connections.models import ConnectionState, ConnectionSyncLog, StreamState
from connections.ratelimits import connection_throttle
from connections.services import ConnectionSpec, connection_activate, connection_create
from connections.tasks import alert_send_task
from core.redis import redis_client
from exchanges.hosts import url_endpoint
from orders.alerts import orders_stuck_alert
from orders.models import Order
from tests.connections.factories import make_connection
from tests.django_fixtures import set_faults
from tests.paper import make_paper_credentials

pytestmark = pytest.mark.django_db(transaction=True)


def paper_connection(owner, exchange="bybit"):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"paper {exchange}", exchange=exchange, api_type="spot", environment="paper"
        ),
    )


def open_the_circuit(connection, settings) -> None:
    """Fail checks until the circuit opens."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    connection_check(connection=connection)
    connection_check(connection=connection)
    assert ConnectionState.objects.get(connection=connection).circuit == "open"


def circuit_subject(connection) -> str:
    return f"circuit_opened:{connection.pk}"


def after_all_queued_alerts(webhook) -> None:
    """Queue one more alert behind everything queued so far and wait for it: the worker
    takes its queue in order, so an alert queued before it was taken, and its POST begun,
    before this one's."""
    subject = f"queued-last:{uuid.uuid4().hex}"
    alert_raise(Alert(kind="circuit_opened", subject=subject, text="queued last"))
    webhook.wait_for(lambda: webhook.about(subject))


def test_a_circuit_opening_posts_one_alert_with_the_expected_text(
    owner, paper, settings, webhook, celery_worker
):
    connection = paper_connection(owner)
    set_faults(paper, "bybit", error5xxRate=1.0)
    open_the_circuit(connection, settings)
    [alert] = webhook.wait_for(lambda: webhook.about(circuit_subject(connection)))
    assert alert["text"].startswith("Circuit opened: paper bybit (Bybit spot paper)")
    assert "exchange_unavailable" in alert["text"]
    assert (alert["kind"], alert["connectionId"], alert["exchange"]) == (
        "circuit_opened",
        str(connection.pk),
        "bybit",
    )
    assert alert["time"].endswith("Z")


def test_a_second_opening_within_ten_minutes_posts_nothing_more(
    owner, paper, settings, webhook, celery_worker
):
    connection = paper_connection(owner, "bingx")
    set_faults(paper, "bingx", error5xxRate=1.0)
    open_the_circuit(connection, settings)
    webhook.wait_for(lambda: webhook.about(circuit_subject(connection)))
    # closed again (as a passing probe would), then it opens again at once
    ConnectionState.objects.filter(connection=connection).update(
        circuit="closed", consecutive_failures=0, opened_at=None
    )
    open_the_circuit(connection, settings)
    assert (
        ConnectionSyncLog.objects.filter(
            connection_id=str(connection.pk), action="circuit_opened"
        ).count()
        == 2
    )
    after_all_queued_alerts(webhook)
    assert len(webhook.about(circuit_subject(connection))) == 1


def test_a_dead_webhook_neither_slows_nor_fails_the_circuit_opening(
    owner, paper, settings, webhook, celery_worker
):
    webhook.mode = "hang"
    # a send inside the check would wait for the receiver's answer, not give up before it
    settings.ALERT_TIMEOUT_SECONDS = 60.0
    connection = paper_connection(owner, "okx")
    set_faults(paper, "okx", error5xxRate=1.0)
    open_the_circuit(connection, settings)
    subject = circuit_subject(connection)
    # the receiver answers nothing until released: the opening returned without an answer
    assert webhook.about(subject) == []
    # and the alert was queued: the worker's POST is what the receiver is holding
    webhook.wait_for(lambda: webhook.held_about(subject))
    assert webhook.about(subject) == []
    webhook.release.set()
    assert (
        ConnectionSyncLog.objects.filter(
            connection_id=str(connection.pk), action="circuit_opened"
        ).count()
        == 1
    )


def test_no_webhook_no_alert_and_a_broken_broker_costs_only_a_log_line(
    owner, paper, settings, monkeypatch, caplog
):
    connection = paper_connection(owner, "pionex")
    set_faults(paper, "pionex", error5xxRate=1.0)
    settings.ALERT_WEBHOOK_URL = "http://127.0.0.1:9/hook"

    def broker_down(*args, **kwargs):
        raise kombu.exceptions.OperationalError("Error 111 connecting to the broker")

    # Celery's publishing fails as it does when Redis is unreachable (Celery is patched, none
    # of our code)
    monkeypatch.setattr(celery.Task, "apply_async", broker_down)
    with caplog.at_level(logging.WARNING, logger="connections.alerts"):
        open_the_circuit(connection, settings)
    assert "alert circuit_opened" in caplog.text and "not queued" in caplog.text


def test_the_send_task_gives_up_quietly_after_its_retries_without_naming_the_url(
    settings, alert_receiver, caplog
):
    alert_receiver.mode = "fail"
    settings.ALERT_WEBHOOK_URL = alert_receiver.url + "?token=webhook-secret-123"
    settings.ALERT_TIMEOUT_SECONDS = 0.5
    payload = Alert(kind="circuit_opened", subject="circuit_opened:x", text="t").payload()
    # claimed as alert_raise claims it: the JSON under the subject's dedupe key
    redis_client().set(DEDUPE_KEY.format(subject="circuit_opened:x"), json.dumps(payload), ex=60)
    before = len(alert_receiver.about("circuit_opened:x"))
    try:
        with caplog.at_level(logging.WARNING, logger="connections.tasks"):
            result = alert_send_task.apply(args=["circuit_opened:x"]).get()
    finally:
        alert_receiver.mode = "ok"
    assert result is False
    assert len(alert_receiver.about("circuit_opened:x")) - before == 3  # tried, then 2 retries
    assert "giving up" in caplog.text and "webhook-secret-123" not in caplog.text


def test_a_refused_key_alerts_that_the_connection_was_disabled(
    owner, paper, settings, webhook, celery_worker
):
    settings.EXCHANGE_HOST_ALLOWLIST = frozenset({url_endpoint(paper)})
    credentials = make_paper_credentials(paper, "bybit")
    connection = make_connection(
        owner,
        base_url=f"{paper}/bybit",
        api_key=credentials.api_key,
        api_secret="not-the-secret-00",
    )
    assert connection_check(connection=connection).error.code == "authentication_failed"
    [alert] = webhook.wait_for(lambda: webhook.about(f"key_disabled:{connection.pk}"))
    assert alert["text"].startswith("Key refused, connection disabled: Desk Bybit")
    assert "not-the-secret-00" not in str(alert) and credentials.api_key not in str(alert)


def test_a_rate_limit_pause_alerts_once_per_pool(settings, webhook, celery_worker):
    throttle = connection_throttle(exchange="bybit", connection_id="c1", key_id="k")
    # a pool no other test pauses: a pause another test left running would start nothing
    destination = "https://alerts.bybit.test:443"
    throttle.pause(30, reason="bybit 10006", destination=destination)
    throttle.pause(30, reason="bybit 10006", destination=destination)  # already paused
    subject = f"rate_limit_pause:bybit:{destination}:spot"
    [alert] = webhook.wait_for(lambda: webhook.about(subject))
    assert alert["text"] == (
        f"Rate-limit pause: Bybit spot at {destination} paused for 30 s (bybit 10006)"
    )


def test_orders_unknown_or_flagged_for_minutes_alert_per_connection(
    owner, paper, settings, webhook, celery_worker
):
    connection = paper_connection(owner, "binance")
    for number, (status, flagged) in enumerate(
        [("unknown", False), ("open", True), ("unknown", False)]
    ):
        Order.objects.create(
            owner=owner,
            connection=connection,
            client_order_id=f"ec0000stuck{number}",
            request_hash="x",
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            requested_quantity=Decimal("0.01"),
            volume_factor=1,
            quantity=Decimal("0.01"),
            price=Decimal("59000"),
            status=status,
            flagged=flagged,
        )
    Order.objects.update(updated_at=timezone.now() - timedelta(minutes=6))
    assert orders_stuck_alert() == 1
    [alert] = webhook.wait_for(lambda: webhook.about(f"orders_stuck:{connection.pk}"))
    assert alert["text"].startswith(
        "Orders need an operator: 2 unknown and 1 flagged for over 5 min on paper binance"
    )


def test_a_stale_connection_alerts_through_the_worker(
    owner, paper, settings, webhook, celery_worker
):
    settings.STALE_AFTER_SECONDS = 60
    connection = connection_activate(connection=paper_connection(owner, "binance"), actor=owner)
    type(connection).objects.filter(pk=connection.pk).update(
        activated_at=timezone.now() - timedelta(seconds=120)
    )
    assert connections_stale_deactivate() == 1
    [stale] = webhook.wait_for(lambda: webhook.about(f"connection_stale:{connection.pk}"))
    assert stale["text"].startswith("Connection went stale and was deactivated: paper binance")


def test_a_stream_down_for_minutes_alerts_once(owner, paper, settings, webhook, celery_worker):
    settings.ALERT_STREAM_DOWN_SECONDS = 300
    connection = connection_activate(connection=paper_connection(owner, "pionex"), actor=owner)
    StreamState.objects.create(
        connection=connection,
        state="reconnecting",
        reconnects=4,
        since=timezone.now() - timedelta(minutes=7),
    )
    assert streams_down_alert() == 1
    assert streams_down_alert() == 1  # raised again; the dedupe drops it
    [alert] = webhook.wait_for(lambda: webhook.about(f"stream_down:{connection.pk}"))
    assert alert["text"].startswith("Private stream reconnecting for 7 min: paper pionex")
    after_all_queued_alerts(webhook)
    assert len(webhook.about(f"stream_down:{connection.pk}")) == 1


@pytest.mark.parametrize(
    "value",
    ["ftp://hooks.example/x", "hooks.example/x", "http://", "javascript:alert(1)", "http://a b/"],
)
def test_the_webhook_url_is_refused_at_start_unless_http_or_https(value):
    with pytest.raises(ImproperlyConfigured) as refused:
        alert_webhook_url(value)
    assert value not in str(refused.value)


def test_a_blank_webhook_url_turns_alerts_off_and_https_passes():
    assert alert_webhook_url("  ") == ""
    assert alert_webhook_url("https://hooks.slack.com/services/T/B/X") == (
        "https://hooks.slack.com/services/T/B/X"
    )
