"""Staff read every owner's connections and orders but write only their own: every write
endpoint answers another owner's object with a 403 permission_denied and changes nothing
(outsiders, who cannot see it, get the 404). Acting for an owner happens in the admin,
where the sync log names the staff member and the owner."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection, HealthCheck
from orders.models import Order
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"


def connection_writes(connection_id: object) -> list[tuple[str, str, Any]]:
    return [
        ("PATCH", f"{URL}/{connection_id}", {"name": "taken over"}),
        ("DELETE", f"{URL}/{connection_id}", None),
        ("POST", f"{URL}/{connection_id}/activate", None),
        ("POST", f"{URL}/{connection_id}/test", None),
        ("POST", f"{URL}/batch-test", {"connectionIds": [str(connection_id)]}),
        ("POST", f"{URL}/{connection_id}/trading-state", {"state": "halted"}),
    ]


def make_order(connection: ExchangeConnection, **overrides: Any) -> Order:
    values: dict[str, Any] = {
        "owner_id": connection.owner_id,
        "connection": connection,
        "client_order_id": f"ec{Order.objects.count():030d}",
        "request_hash": "0" * 64,
        "symbol": "BTC/USDT",
        "side": "buy",
        "type": "limit",
        "requested_quantity": Decimal("0.01"),
        "volume_factor": Decimal("1"),
        "quantity": Decimal("0.01"),
        "price": Decimal("100"),
        "status": "open",
    }
    values.update(overrides)
    return Order.objects.create(**values)


def snapshot(connection: ExchangeConnection) -> dict[str, Any]:
    return {
        "row": ExchangeConnection.objects.filter(pk=connection.pk).values().first(),
        "log": ConnectionSyncLog.objects.count(),
        "checks": HealthCheck.objects.count(),
    }


def send(client: Any, method: str, path: str, body: Any) -> Any:
    return client.generic(
        method, path, "" if body is None else json.dumps(body), content_type="application/json"
    )


@pytest.mark.parametrize(
    "index", range(6), ids=["patch", "delete", "activate", "test", "batch-test", "trading-state"]
)
def test_a_staff_write_on_another_owners_connection_is_403(staff_client, owner, index):
    connection = make_connection(owner)
    before = snapshot(connection)
    method, path, body = connection_writes(connection.pk)[index]
    response = send(staff_client, method, path, body)
    assert response.status_code == 403, response.json()
    assert response.json()["error"]["code"] == "permission_denied"
    assert snapshot(connection) == before


@pytest.mark.parametrize(
    "index", range(6), ids=["patch", "delete", "activate", "test", "batch-test", "trading-state"]
)
def test_an_outsiders_write_on_another_owners_connection_is_404(outsider_client, owner, index):
    connection = make_connection(owner)
    before = snapshot(connection)
    method, path, body = connection_writes(connection.pk)[index]
    response = send(outsider_client, method, path, body)
    # batch-test too: an id the caller cannot see is simply not found
    assert response.status_code == 404, response.json()
    assert response.json()["error"]["code"] == "not_found"
    assert snapshot(connection) == before


def test_staff_still_read_another_owners_connection(staff_client, owner):
    connection = make_connection(owner)
    assert staff_client.get(f"{URL}/{connection.pk}").status_code == 200
    assert staff_client.get(URL).json()["count"] == 1


def test_staff_write_their_own_connections(staff_client, staff):
    connection = make_connection(staff)
    response = staff_client.patch(f"{URL}/{connection.pk}", {"name": "mine"}, format="json")
    assert response.status_code == 200 and response.json()["connection"]["name"] == "mine"
    assert staff_client.post(f"{URL}/{connection.pk}/activate").status_code == 200


def test_a_staff_order_on_another_owners_connection_is_403(staff_client, owner):
    connection = make_connection(owner)
    response = staff_client.post(
        "/api/orders",
        {
            "connectionId": str(connection.pk),
            "symbol": "BTC/USDT",
            "side": "buy",
            "type": "limit",
            "quantity": "0.01",
            "price": "100",
        },
        format="json",
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert not Order.objects.exists()


def test_a_staff_cancel_of_another_owners_order_is_403(staff_client, owner):
    order = make_order(make_connection(owner))
    response = staff_client.post(f"/api/orders/{order.pk}/cancel")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    order.refresh_from_db()
    assert order.status == "open" and not order.cancel_requested


def test_an_outsiders_cancel_of_another_owners_order_is_404(outsider_client, owner):
    order = make_order(make_connection(owner))
    assert outsider_client.post(f"/api/orders/{order.pk}/cancel").status_code == 404


def test_a_staff_cancel_all_on_another_owners_connection_is_403_and_enqueues_nothing(
    staff_client, owner, django_capture_on_commit_callbacks
):
    connection = make_connection(owner)
    order = make_order(connection)
    with django_capture_on_commit_callbacks() as callbacks:
        response = staff_client.post(
            "/api/orders/cancel-all", {"connectionId": str(connection.pk)}, format="json"
        )
    assert response.status_code == 403 and callbacks == []
    order.refresh_from_db()
    assert not order.cancel_requested


def test_staff_still_read_another_owners_orders(staff_client, owner):
    order = make_order(make_connection(owner))
    assert staff_client.get(f"/api/orders/{order.pk}").status_code == 200
    assert staff_client.get("/api/orders").json()["count"] == 1


@pytest.fixture
def admin_client(client: Any, staff: Any) -> Any:
    client.force_login(staff)
    return client


def test_an_admin_change_for_another_owner_is_audited_with_the_staff_actor(admin_client, owner):
    connection = make_connection(owner)
    response = admin_client.post(
        f"/admin/connections/exchangeconnection/{connection.pk}/change/",
        {
            "name": "Renamed by staff",
            "exchange": "bybit",
            "api_type": "spot",
            "environment": "live",
            "enabled": "on",
            "api_key": "",
            "api_secret": "",
            "passphrase": "",
            "state-TOTAL_FORMS": "1",
            "state-INITIAL_FORMS": "1",
            "state-0-connection": str(connection.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = ConnectionSyncLog.objects.get(connection_id=str(connection.pk), action="updated")
    assert row.actor == "staff" and row.data["for_owner"] == "owner"
    assert "name" in row.data["fields"]


def test_an_admin_activation_for_another_owner_is_audited_with_the_staff_actor(admin_client, owner):
    connection = make_connection(owner)
    admin_client.post(
        "/admin/connections/exchangeconnection/",
        {"action": "activate_selected", "_selected_action": [str(connection.pk)]},
    )
    row = ConnectionSyncLog.objects.get(connection_id=str(connection.pk), action="activated")
    assert row.actor == "staff" and row.data["for_owner"] == "owner"


def test_an_admin_delete_for_another_owner_is_audited_with_the_staff_actor(admin_client, owner):
    connection = make_connection(owner)
    admin_client.post(
        f"/admin/connections/exchangeconnection/{connection.pk}/delete/", {"post": "yes"}
    )
    assert not ExchangeConnection.objects.filter(pk=connection.pk).exists()
    row = ConnectionSyncLog.objects.get(connection_id=str(connection.pk), action="deleted")
    assert row.actor == "staff" and row.data["for_owner"] == "owner"


def test_an_owners_own_change_names_no_other_owner(owner_client, owner):
    connection = make_connection(owner)
    owner_client.patch(f"{URL}/{connection.pk}", {"name": "mine"}, format="json")
    row = ConnectionSyncLog.objects.get(connection_id=str(connection.pk), action="updated")
    assert row.actor == "owner" and "for_owner" not in row.data


def test_the_admin_cannot_move_a_connection_to_another_owner(admin_client, owner, outsider):
    connection = make_connection(owner)
    page = admin_client.get(f"/admin/connections/exchangeconnection/{connection.pk}/change/")
    assert 'name="owner"' not in page.content.decode()
