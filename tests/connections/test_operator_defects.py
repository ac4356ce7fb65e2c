"""Defects an operator met after `make run` (issue 13, item 9), each pinned by a test."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.health import connections_stale_deactivate
from connections.models import ConnectionState, ConnectionSyncLog, ExchangeConnection
from connections.services import connection_activate
from orders.models import Order
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db
CHANGE = "/admin/connections/exchangeconnection/{}/change/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def logged(connection: ExchangeConnection, action: str) -> list[ConnectionSyncLog]:
    return list(ConnectionSyncLog.objects.filter(connection_id=str(connection.pk), action=action))


# -- (a) the stale sweep's grace counts from the activation ---------------------------------


def test_an_old_connection_activated_a_moment_ago_survives_the_stale_sweep(owner, settings):
    settings.STALE_AFTER_SECONDS = 60
    connection = make_connection(owner)
    long_ago = timezone.now() - timedelta(days=3)
    ExchangeConnection.objects.filter(pk=connection.pk).update(created_at=long_ago)
    connection_activate(connection=connection, actor=owner)
    assert connections_stale_deactivate() == 0
    connection.refresh_from_db()
    assert connection.is_active is True and logged(connection, "stale_deactivated") == []


def test_an_activated_connection_without_heartbeats_goes_stale_after_its_grace(owner, settings):
    settings.STALE_AFTER_SECONDS = 60
    connection = connection_activate(connection=make_connection(owner), actor=owner)
    ExchangeConnection.objects.filter(pk=connection.pk).update(
        activated_at=timezone.now() - timedelta(seconds=120)
    )
    assert connections_stale_deactivate() == 1
    connection.refresh_from_db()
    assert connection.is_active is False and len(logged(connection, "stale_deactivated")) == 1


# -- (b) saving the admin form changes, resets and logs only what changed -------------------


def form_body(connection: ExchangeConnection, **changes: str) -> dict[str, str]:
    body = {
        "name": connection.name,
        "exchange": connection.exchange,
        "api_type": connection.api_type,
        "environment": connection.environment,
        "base_url": connection.base_url,
        "ws_url": connection.ws_url,
        "enabled": "on",
        "api_key": "",
        "api_secret": "",
        "passphrase": "",
        "volume_factor_live": "",
        "volume_factor_preset": "",
        # the risk limits as the page shows them
        "max_order_notional": "",
        "max_open_orders": "",
        "price_band_percent": str(connection.price_band_percent),
        "state-TOTAL_FORMS": "1",
        "state-INITIAL_FORMS": "1",
        "state-0-connection": str(connection.pk),
    }
    body.update(changes)
    return body


def open_circuit(connection: ExchangeConnection) -> None:
    ConnectionState.objects.filter(connection=connection).update(
        circuit="open", opened_at=timezone.now(), health_status="unhealthy", consecutive_failures=5
    )


def test_saving_the_form_unchanged_keeps_the_circuit_open_and_logs_nothing(admin_client, owner):
    connection = make_connection(owner)
    open_circuit(connection)
    response = admin_client.post(CHANGE.format(connection.pk), form_body(connection))
    assert response.status_code == 302, response.content.decode()[:2000]
    state = ConnectionState.objects.get(connection=connection)
    assert (state.circuit, state.health_status, state.consecutive_failures) == (
        "open",
        "unhealthy",
        5,
    )
    assert logged(connection, "updated") == []


def test_saving_a_rename_logs_only_the_name_and_leaves_the_circuit(admin_client, owner):
    connection = make_connection(owner)
    open_circuit(connection)
    response = admin_client.post(
        CHANGE.format(connection.pk), form_body(connection, name="Renamed desk")
    )
    assert response.status_code == 302
    [entry] = logged(connection, "updated")
    assert entry.data["fields"] == ["name"]
    assert ConnectionState.objects.get(connection=connection).circuit == "open"


def test_a_new_key_does_reset_the_circuit_and_is_logged_by_name(admin_client, owner):
    connection = make_connection(owner)
    open_circuit(connection)
    admin_client.post(CHANGE.format(connection.pk), form_body(connection, api_key="a-new-key-9999"))
    [entry] = logged(connection, "updated")
    assert entry.data["fields"] == ["api_key"]
    assert ConnectionState.objects.get(connection=connection).circuit == "closed"


# -- (c), (e), (g): orders in the admin ------------------------------------------------------


@pytest.fixture
def order(owner) -> Order:
    return Order.objects.create(
        owner=owner,
        connection=make_connection(owner),
        client_order_id="ec0000admintest01",
        request_hash="x",
        symbol="BTC/USDT",
        side="buy",
        type="limit",
        requested_quantity=Decimal("0.5"),
        volume_factor=1,
        quantity=Decimal("0.5"),
        price=Decimal("59000"),
        status="unknown",
    )


def test_the_order_list_shows_plain_decimals_and_the_status_near_the_front(admin_client, order):
    page = admin_client.get("/admin/orders/order/").content.decode()
    assert "0.500000000000000000" not in page and "59000.000000000000000000" not in page
    assert ">0.5<" in page and ">59000<" in page
    table = page[page.index('id="result_list"') :]
    columns = re.findall(r'class="[^"]*column-(\w+)', table[: table.index("</thead>")])
    assert "status" in columns[:3], columns


def test_an_order_page_is_read_only_without_save_buttons_and_plain_decimals(admin_client, order):
    page = admin_client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="_continue"' not in page
    assert "0.500000000000000000" not in page and "0.5" in page


def test_read_only_connection_pages_show_no_save_buttons(admin_client, owner):
    make_connection(owner)
    log = ConnectionSyncLog.objects.get()
    page = admin_client.get(
        f"/admin/connections/connectionsynclog/{log.pk}/change/"
    ).content.decode()
    assert 'name="_save"' not in page


# -- (d) the exchanges' own spellings --------------------------------------------------------


def test_choice_labels_spell_the_exchanges_as_they_do(admin_client, owner):
    labels = dict(ExchangeConnection._meta.get_field("exchange").choices)
    assert labels == {
        "bybit": "Bybit",
        "binance": "Binance",
        "okx": "OKX",
        "bingx": "BingX",
        "pionex": "Pionex",
        "orangex": "OrangeX",
    }
    make_connection(owner, exchange="okx", passphrase="okx-pass-1")
    page = admin_client.get("/admin/connections/exchangeconnection/").content.decode()
    assert "OKX" in page and "Okx" not in page and "Bingx" not in page
    assert "Orangex" not in page


# -- (f) "View site" and the favicon ----------------------------------------------------------


def test_view_site_points_at_the_api_docs_which_exist(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert 'href="/api/docs/"' in page
    assert admin_client.get("/api/docs/").status_code == 200


def test_the_favicon_is_served_and_linked(admin_client, client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert (
        b"".join(response.streaming_content if response.streaming else [response.content])[:4]
        == b"\x00\x00\x01\x00"
    )
    assert 'rel="icon" href="/favicon.ico"' in admin_client.get("/admin/").content.decode()
