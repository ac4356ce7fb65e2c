"""The connection list's actions, as a staff member uses them: each goes through a service,
says what it did in a message, and shows a refusal as a message (never a 500)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from connections.models import ConnectionState, ConnectionSyncLog, ExchangeConnection
from connections.selectors import batch_meta_key
from core.redis import redis_client
from orders.models import Order
from tests.connections.factories import make_connection
from tests.connections.test_staff_scope import make_order

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/connections/exchangeconnection/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def run_action(
    client: Any, action: str, connections: list[ExchangeConnection]
) -> tuple[Any, list[tuple[str, str]]]:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(each.pk) for each in connections]},
        follow=True,
    )
    assert response.status_code == 200
    said = [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]
    return response, said


def texts(said: list[tuple[str, str]], level: str) -> str:
    return " | ".join(text for tag, text in said if tag == level)


def test_test_selected_starts_a_batch_and_links_to_its_results(admin_client, owner):
    connections = [make_connection(owner), make_connection(owner, name="Second")]
    response, said = run_action(admin_client, "test_selected", connections)
    message = texts(said, "success")
    assert "Testing 2 connection(s) in batch" in message
    batch_id = message.split("in batch ")[1].split(":")[0]
    meta = json.loads(redis_client().get(batch_meta_key(batch_id)))
    assert sorted(meta["ids"]) == sorted(str(each.pk) for each in connections)
    link = f"/api/settings/connections/batch-test/{batch_id}"
    assert f'href="{link}"' in response.content.decode()
    status = admin_client.get(link)
    assert status.status_code == 200 and status.json()["totalConnections"] == 2


def test_test_selected_of_too_many_is_an_error_message(admin_client, owner, settings):
    settings.BATCH_MAX_SIZE = 1
    _, said = run_action(
        admin_client,
        "test_selected",
        [make_connection(owner), make_connection(owner, name="Second")],
    )
    assert "Not tested: at most 1 connections per batch" in texts(said, "error")


def test_activate_with_one_selected_activates_it_and_says_so(admin_client, owner):
    connection = make_connection(owner)
    _, said = run_action(admin_client, "activate_selected", [connection])
    assert ExchangeConnection.objects.get(pk=connection.pk).is_active
    assert texts(said, "success") == "Desk Bybit is now the active connection of owner."
    log = ConnectionSyncLog.objects.get(action="activated")
    assert log.actor == "staff" and log.data["for_owner"] == "owner"


def test_activate_with_several_selected_changes_nothing_and_says_why(admin_client, owner):
    first, second = make_connection(owner), make_connection(owner, name="Second")
    _, said = run_action(admin_client, "activate_selected", [first, second])
    assert "Select exactly one connection" in texts(said, "error")
    assert not ExchangeConnection.objects.filter(is_active=True).exists()


def test_activate_of_a_disabled_connection_is_an_error_message(admin_client, owner):
    connection = make_connection(owner, enabled=False)
    _, said = run_action(admin_client, "activate_selected", [connection])
    assert "not activated: a disabled connection cannot be activated" in texts(said, "error")


def test_disable_and_enable_go_through_the_service(admin_client, owner):
    first, second = make_connection(owner), make_connection(owner, name="Second")
    _, said = run_action(admin_client, "disable_selected", [first, second])
    assert not ExchangeConnection.objects.filter(enabled=True).exists()
    assert texts(said, "success") in (
        "Disabled: Desk Bybit, Second.",
        "Disabled: Second, Desk Bybit.",
    )
    assert ConnectionSyncLog.objects.filter(action="updated", actor="staff").count() == 2
    ExchangeConnection.objects.filter(pk=second.pk).update(enabled=True)
    _, said = run_action(admin_client, "enable_selected", [first, second])
    assert ExchangeConnection.objects.filter(enabled=True).count() == 2
    assert texts(said, "success") == "Enabled: Desk Bybit."
    assert texts(said, "info") == "Already so, unchanged: Second."


def test_reset_circuit_closes_an_open_circuit_with_a_log_entry(admin_client, owner):
    connection = make_connection(owner)
    ConnectionState.objects.filter(connection=connection).update(
        circuit="open", opened_at=timezone.now(), consecutive_failures=5, health_status="unhealthy"
    )
    _, said = run_action(admin_client, "reset_circuit_selected", [connection])
    state = ConnectionState.objects.get(connection=connection)
    assert (state.circuit, state.consecutive_failures, state.opened_at) == ("closed", 0, None)
    assert state.health_status == "unknown"
    assert texts(said, "success") == "Circuit reset: Desk Bybit."
    log = ConnectionSyncLog.objects.get(action="circuit_reset")
    assert log.actor == "staff" and log.data == {"from": "open", "failures": 5}


def test_reset_circuit_of_a_closed_one_says_it_was_already(admin_client, owner):
    connection = make_connection(owner)
    _, said = run_action(admin_client, "reset_circuit_selected", [connection])
    assert texts(said, "info") == "Already so, unchanged: Desk Bybit."
    assert not ConnectionSyncLog.objects.filter(action="circuit_reset").exists()


@pytest.mark.parametrize(
    "action, state, verb",
    [
        ("halt_selected", "halted", "Halted"),
        ("reduce_only_selected", "reduce_only", "Set to reduce-only"),
        ("resume_selected", "active", "Resumed"),
    ],
)
def test_trading_state_actions_set_the_state_with_the_staff_member_as_actor(
    admin_client, owner, action, state, verb
):
    connection = make_connection(owner)
    if state == "active":
        ExchangeConnection.objects.filter(pk=connection.pk).update(trading_state="halted")
    _, said = run_action(admin_client, action, [connection])
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == state
    assert texts(said, "success") == f"{verb}: Desk Bybit."
    log = ConnectionSyncLog.objects.get(action="trading_state_set")
    assert log.actor == "staff" and log.data["to"] == state
    assert log.data["for_owner"] == "owner"


def test_halt_and_cancel_cancels_the_open_orders(admin_client, owner):
    connection = make_connection(owner)
    waiting = make_order(connection, status="pending")
    _, said = run_action(admin_client, "halt_and_cancel_selected", [connection])
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "halted"
    assert Order.objects.get(pk=waiting.pk).status == "canceled"
    assert "1 open order(s) canceled or asked to cancel." in texts(said, "success")


def test_the_list_shows_the_trading_state_and_filters_by_it(admin_client, owner):
    make_connection(owner)
    halted = make_connection(owner, name="Stopped desk")
    ExchangeConnection.objects.filter(pk=halted.pk).update(trading_state="halted")
    page = admin_client.get(CHANGELIST, {"trading_state": "halted"}).content.decode()
    assert "Stopped desk" in page and "Desk Bybit" not in page


def test_the_risk_limits_are_editable_on_the_change_form(admin_client, owner):
    connection = make_connection(owner)
    url = f"{CHANGELIST}{connection.pk}/change/"
    assert 'name="max_order_notional"' in admin_client.get(url).content.decode()
    response = admin_client.post(
        url,
        {
            "name": "Desk Bybit",
            "exchange": "bybit",
            "api_type": "spot",
            "environment": "live",
            "enabled": "on",
            "api_key": "",
            "api_secret": "",
            "passphrase": "",
            "max_order_notional": "2500",
            "max_open_orders": "3",
            "price_band_percent": "",
            "state-TOTAL_FORMS": "1",
            "state-INITIAL_FORMS": "1",
            "state-0-connection": str(connection.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    connection.refresh_from_db()
    assert connection.max_order_notional == Decimal("2500")
    assert connection.max_open_orders == 3 and connection.price_band_percent is None


def test_a_risk_limit_out_of_bounds_is_refused_on_the_form(admin_client, owner):
    connection = make_connection(owner)
    response = admin_client.post(
        f"{CHANGELIST}{connection.pk}/change/",
        {
            "name": "Desk Bybit",
            "exchange": "bybit",
            "api_type": "spot",
            "environment": "live",
            "enabled": "on",
            "max_open_orders": "0",
            "price_band_percent": "150",
            "state-TOTAL_FORMS": "1",
            "state-INITIAL_FORMS": "1",
            "state-0-connection": str(connection.pk),
        },
    )
    assert response.status_code == 200
    connection.refresh_from_db()
    assert connection.max_open_orders is None and connection.price_band_percent == 5
