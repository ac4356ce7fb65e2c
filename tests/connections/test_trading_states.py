"""Trading states through the API: POST .../trading-state sets active, reduce_only or
halted, audited in the sync log with its actor; owners only (staff 403 on another owner's,
outsiders 404); bad input is a 400 naming the field."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.trading import connection_trading_state_set, trading_refusal
from core.errors import Unprocessable, ValidationFailed
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"


def set_state(client, connection_id, body):
    return client.post(f"{URL}/{connection_id}/trading-state", body, format="json")


def test_a_new_connection_is_active(owner_client, owner):
    connection = make_connection(owner)
    body = owner_client.get(f"{URL}/{connection.pk}").json()
    assert body["connection"]["tradingState"] == "active"


@pytest.mark.parametrize("state", ["reduce_only", "halted", "active"])
def test_the_owner_sets_each_state_and_the_sync_log_names_them(owner_client, owner, state):
    connection = make_connection(owner)
    response = set_state(owner_client, connection.pk, {"state": state})
    assert response.status_code == 200, response.json()
    assert response.json()["connection"]["tradingState"] == state
    connection.refresh_from_db()
    assert connection.trading_state == state
    log = ConnectionSyncLog.objects.get(
        connection_id=str(connection.pk), action="trading_state_set"
    )
    assert log.actor == "owner"
    assert log.data == {"from": "active", "to": state, "cancel_open_orders": False}


def test_the_state_shows_in_the_list_too(owner_client, owner):
    connection = make_connection(owner)
    set_state(owner_client, connection.pk, {"state": "halted"})
    listed = owner_client.get(URL).json()["connections"]
    assert [each["tradingState"] for each in listed] == ["halted"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"state": "paused"}, "state"),
        ({}, "state"),
        ({"state": None}, "state"),
        ({"state": "halted", "cancelOpenOrders": "yes"}, "cancelOpenOrders"),
        ({"state": "halted", "cancel": True}, "cancel"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(owner_client, owner, body, field):
    connection = make_connection(owner)
    response = set_state(owner_client, connection.pk, body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "active"
    assert not ConnectionSyncLog.objects.filter(action="trading_state_set").exists()


@pytest.mark.parametrize("state", ["active", "reduce_only"])
def test_cancel_open_orders_without_a_halt_is_a_422(owner_client, owner, state):
    connection = make_connection(owner)
    response = set_state(owner_client, connection.pk, {"state": state, "cancelOpenOrders": True})
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "cancel_needs_halt" and "cancelOpenOrders" in error["fields"]
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "active"


def test_an_outsider_gets_a_404_and_changes_nothing(outsider_client, owner):
    connection = make_connection(owner)
    response = set_state(outsider_client, connection.pk, {"state": "halted"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "active"


def test_an_unknown_or_malformed_id_is_a_404(owner_client):
    for connection_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        response = set_state(owner_client, connection_id, {"state": "halted"})
        assert response.status_code == 404


def test_staff_cannot_set_another_owners_state_through_the_api(staff_client, owner):
    connection = make_connection(owner)
    response = set_state(staff_client, connection.pk, {"state": "halted"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert ExchangeConnection.objects.get(pk=connection.pk).trading_state == "active"


def test_anonymous_is_a_401(anonymous_client, owner):
    connection = make_connection(owner)
    response = set_state(anonymous_client, connection.pk, {"state": "halted"})
    assert response.status_code == 401


def test_the_database_refuses_an_unknown_state(owner):
    connection = make_connection(owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        ExchangeConnection.objects.filter(pk=connection.pk).update(trading_state="paused")


def test_the_service_refuses_an_unknown_state_and_a_cancel_without_a_halt(owner):
    connection = make_connection(owner)
    with pytest.raises(ValidationFailed):
        connection_trading_state_set(connection=connection, state="paused", actor=owner)
    with pytest.raises(Unprocessable):
        connection_trading_state_set(
            connection=connection, state="active", actor=owner, cancel_open_orders=True
        )


def test_a_staff_member_acting_for_an_owner_is_the_actor_with_the_owner_beside(owner, staff):
    connection = make_connection(owner)
    connection_trading_state_set(connection=connection, state="halted", actor=staff)
    log = ConnectionSyncLog.objects.get(action="trading_state_set")
    assert log.actor == "staff" and log.data["for_owner"] == "owner"


def test_a_label_acts_for_the_command_line(owner):
    connection = make_connection(owner)
    change = connection_trading_state_set(connection=connection, state="reduce_only", actor="cli")
    assert change.previous == "active" and change.connection.trading_state == "reduce_only"
    assert ConnectionSyncLog.objects.get(action="trading_state_set").actor == "cli"


@pytest.mark.parametrize(
    "state, api_type, side, reduce_only, code",
    [
        ("active", "spot", "buy", False, None),
        ("halted", "spot", "sell", False, "trading_halted"),
        ("halted", "perpetual_futures", "sell", True, "trading_halted"),
        ("reduce_only", "perpetual_futures", "buy", False, "reduce_only"),
        ("reduce_only", "perpetual_futures", "buy", True, None),
        ("reduce_only", "spot", "buy", False, "reduce_only"),
        ("reduce_only", "spot", "sell", False, None),
        ("reduce_only", "margin", "sell", False, "reduce_only"),
    ],
)
def test_the_rule(state, api_type, side, reduce_only, code):
    refusal = trading_refusal(
        trading_state=state, api_type=api_type, side=side, reduce_only=reduce_only
    )
    assert (refusal.code if refusal else None) == code
