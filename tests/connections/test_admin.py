"""The admin: lists and filters connections, masks secrets, writes through services."""

from __future__ import annotations

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection
from tests.connections.factories import BYBIT_KEY, BYBIT_SECRET, make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_changelist_lists_connections_with_filters_and_no_secret(admin_client, owner):
    make_connection(owner, exchange="okx", passphrase="okx-pass-secret")
    response = admin_client.get(
        "/admin/connections/exchangeconnection/",
        {"exchange": "okx", "state__health_status": "unknown"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Desk Bybit" in page and "••••" + BYBIT_KEY[-4:] in page
    for secret in (BYBIT_KEY, BYBIT_SECRET, "okx-pass-secret"):
        assert secret not in page


def test_change_page_masks_secrets_and_shows_the_state_inline(admin_client, owner):
    connection = make_connection(owner)
    page = admin_client.get(
        f"/admin/connections/exchangeconnection/{connection.pk}/change/"
    ).content.decode()
    assert 'type="password"' in page
    assert BYBIT_SECRET not in page and BYBIT_KEY not in page
    assert connection.api_secret_encrypted not in page
    assert "Health status" in page or "health status" in page.lower()


def test_admin_add_creates_through_the_service_with_an_audit_row(admin_client, owner):
    response = admin_client.post(
        "/admin/connections/exchangeconnection/add/",
        {
            "owner": owner.pk,
            "name": "From admin",
            "exchange": "binance",
            "api_type": "spot",
            "environment": "live",
            "base_url": "",
            "ws_url": "",
            "enabled": "on",
            "api_key": "admin-key-0001",
            "api_secret": "admin-secret-0001",
            "passphrase": "",
            "volume_factor_live": "",
            "volume_factor_preset": "2",
            "state-TOTAL_FORMS": "0",
            "state-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    connection = ExchangeConnection.objects.get(name="From admin")
    assert connection.api_key_last4 == "0001" and connection.state.volume_factor_preset == 2
    assert ConnectionSyncLog.objects.filter(
        connection_id=str(connection.pk), action="created", actor="staff"
    ).exists()


def test_admin_add_refuses_what_the_exchange_lacks(admin_client, owner):
    response = admin_client.post(
        "/admin/connections/exchangeconnection/add/",
        {
            "owner": owner.pk,
            "name": "Bad",
            "exchange": "pionex",
            "api_type": "spot",
            "environment": "testnet",
            "enabled": "on",
            "api_key": "k",
            "api_secret": "s",
            "state-TOTAL_FORMS": "0",
            "state-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "offers environment" in response.content.decode()
    assert not ExchangeConnection.objects.exists()


def test_admin_change_with_blank_secrets_keeps_them(admin_client, owner):
    connection = make_connection(owner)
    response = admin_client.post(
        f"/admin/connections/exchangeconnection/{connection.pk}/change/",
        {
            "owner": owner.pk,
            "name": "Renamed",
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
    assert response.status_code == 302
    from connections.services import connection_credentials

    connection.refresh_from_db()
    assert connection.name == "Renamed"
    assert connection_credentials(connection=connection)["api_secret"] == BYBIT_SECRET


def test_sync_log_is_read_only_in_the_admin(admin_client, owner):
    make_connection(owner)
    log = ConnectionSyncLog.objects.get()
    assert admin_client.get("/admin/connections/connectionsynclog/").status_code == 200
    assert admin_client.get("/admin/connections/connectionsynclog/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/connections/connectionsynclog/{log.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert ConnectionSyncLog.objects.filter(pk=log.pk).exists()
