"""The dead-man switch per connection: the operator's setting through the API (owner,
outsider, bad input), its display on the connection and in the health view, and the
refresh service against the real paper exchange: it arms the switch, records it, records
errors without raising, disarms when disabled, and an armed switch left unrefreshed
cancels the paper account's open orders."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from connections import dead_man
from connections.dead_man import connection_dead_man_refresh, connection_dead_man_set
from connections.models import ConnectionState, ConnectionSyncLog
from connections.services import ConnectionSpec, connection_connector, connection_create
from exchanges.base import OrderRequest
from tests.connections.factories import make_connection
from tests.django_fixtures import paper_stats, set_faults

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/settings/connections"


def okx_connection(owner, **values):
    return make_connection(owner, name="Desk OKX", exchange="okx", passphrase="Pass-1", **values)


def paper_connection(owner, exchange="okx", api_type="spot"):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"paper {exchange}", exchange=exchange, api_type=api_type, environment="paper"
        ),
    )


@pytest.fixture
def short_windows(paper):
    """TEST ONLY: the paper exchange runs every window armed meanwhile at 1/20 (OKX's 10 s
    minimum elapses in 0.5 s); restored after."""
    requests.post(f"{paper}/_paper/dead-man", json={"windowScale": 0.05}, timeout=5)
    yield paper
    requests.post(f"{paper}/_paper/dead-man", json={"windowScale": 1}, timeout=5)


def armed_on_paper(paper_url, exchange, api_key):
    return [
        s for s in paper_stats(paper_url, exchange)["deadMan"]["armed"] if s["apiKey"] == api_key
    ]


# -- the API -------------------------------------------------------------------------------


def test_owner_enables_the_switch_and_the_connection_shows_it(owner_client, owner):
    connection = okx_connection(owner)
    response = owner_client.patch(f"{URL}/{connection.pk}", {"deadManSeconds": 30}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["connection"]["deadManSwitch"] == {
        "enabled": True,
        "seconds": 30,
        "armed": False,
        "armedUntil": None,
        "supported": True,
        "kind": "countdown",
        "minSeconds": 10,
        "maxSeconds": 120,
        "lastError": None,
    }
    log = ConnectionSyncLog.objects.filter(action="dead_man_set").get()
    assert log.data == {"dead_man_seconds": 30, "was": None}


def test_other_users_connection_is_not_found(outsider_client, owner):
    connection = okx_connection(owner)
    response = outsider_client.patch(
        f"{URL}/{connection.pk}", {"deadManSeconds": 30}, format="json"
    )
    assert response.status_code == 404
    connection.refresh_from_db()
    assert connection.dead_man_seconds is None


@pytest.mark.parametrize(
    ("seconds", "status", "code"),
    [
        (9, 422, "dead_man_window_out_of_range"),
        (121, 422, "dead_man_window_out_of_range"),
        (0, 400, "validation_error"),
        ("ten", 400, "validation_error"),
        (3601, 400, "validation_error"),
    ],
)
def test_a_window_outside_the_exchanges_range_is_refused_naming_the_field(
    owner_client, owner, seconds, status, code
):
    connection = okx_connection(owner)
    response = owner_client.patch(
        f"{URL}/{connection.pk}", {"deadManSeconds": seconds, "name": "renamed"}, format="json"
    )
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code and "deadManSeconds" in error["fields"]
    connection.refresh_from_db()
    assert (connection.dead_man_seconds, connection.name) == (None, "Desk OKX")


def test_an_exchange_without_a_switch_is_a_422(owner_client, owner):
    connection = make_connection(owner, name="Desk Pionex", exchange="pionex")
    response = owner_client.patch(f"{URL}/{connection.pk}", {"deadManSeconds": 30}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "dead_man_not_supported"
    shown = owner_client.get(f"{URL}/{connection.pk}").json()["connection"]["deadManSwitch"]
    assert (shown["supported"], shown["enabled"], shown["kind"]) == (False, False, None)


def test_binance_spot_has_none_but_its_usdm_connection_has_one(owner_client, owner):
    spot = make_connection(owner, name="spot", exchange="binance")
    futures = make_connection(owner, name="usdm", exchange="binance", api_type="perpetual_futures")
    assert (
        owner_client.patch(f"{URL}/{spot.pk}", {"deadManSeconds": 30}, format="json").status_code
        == 422
    )
    assert (
        owner_client.patch(f"{URL}/{futures.pk}", {"deadManSeconds": 30}, format="json").status_code
        == 200
    )


def test_the_health_view_shows_the_switch(owner_client, owner):
    connection = okx_connection(owner)
    connection_dead_man_set(connection=connection, actor=owner, seconds=60)
    body = owner_client.get(f"{URL}/health").json()
    item = next(c for c in body["connections"] if c["connectionId"] == str(connection.pk))
    assert item["deadManSwitch"]["enabled"] is True
    assert item["deadManSwitch"]["seconds"] == 60


# -- the refresh service against the paper exchange ----------------------------------------


def test_refresh_arms_the_switch_and_an_unrefreshed_switch_cancels_the_open_orders(
    owner, short_windows
):
    connection = paper_connection(owner)
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=10)
    connector = connection_connector(connection=connection)
    order = connector.place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.001"),
            price=Decimal("30000"),
            client_order_id="deadman1",
        )
    )
    state = connection_dead_man_refresh(connection=connection)
    assert state.armed and state.kind == "countdown" and state.seconds == 10
    stored = ConnectionState.objects.get(connection=connection)
    assert stored.dead_man_armed_until is not None and stored.dead_man_error == ""
    api_key = connector.credentials.api_key
    assert [s["kind"] for s in armed_on_paper(short_windows, "okx", api_key)] == ["countdown"]
    deadline = time.monotonic() + 5
    while (
        connector.get_order("BTC/USDT", exchange_order_id=order.exchange_order_id).status == "open"
    ):
        assert time.monotonic() < deadline, "the switch did not fire"
        time.sleep(0.1)
    assert armed_on_paper(short_windows, "okx", api_key) == []


def test_refreshing_in_time_keeps_the_orders(owner, short_windows):
    # OKX takes one arming a second: a 3.5 s window refreshed every 1.1 s (about window / 3)
    requests.post(f"{short_windows}/_paper/dead-man", json={"windowScale": 0.35}, timeout=5)
    connection = paper_connection(owner)
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=10)
    connector = connection_connector(connection=connection)
    order = connector.place_order(
        OrderRequest(
            symbol="BTC/USDT",
            side="buy",
            type="limit",
            quantity=Decimal("0.001"),
            price=Decimal("30000"),
            client_order_id="deadman2",
        )
    )
    for _ in range(5):
        assert connection_dead_man_refresh(connection=connection).armed
        time.sleep(1.1)
    assert (
        connector.get_order("BTC/USDT", exchange_order_id=order.exchange_order_id).status == "open"
    )


def test_a_failed_refresh_is_recorded_not_raised(owner, paper):
    connection = paper_connection(owner)
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=30)
    set_faults(paper, "okx", endpoint="/api/v5/trade/cancel-all-after", error5xxRate=1.0)
    state = connection_dead_man_refresh(connection=connection)
    assert state.armed is False
    stored = ConnectionState.objects.get(connection=connection)
    assert stored.dead_man_error.startswith("ExchangeUnavailable")
    assert stored.dead_man_armed_until is None


def test_disabling_in_the_api_disarms_it_at_the_exchange(owner_client, owner, paper):
    connection = paper_connection(owner)
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=60)
    assert connection_dead_man_refresh(connection=connection).armed
    api_key = connection_connector(connection=connection).credentials.api_key
    assert armed_on_paper(paper, "okx", api_key)
    time.sleep(1.05)  # OKX allows 1 call of the switch per second
    response = owner_client.patch(f"{URL}/{connection.pk}", {"deadManSeconds": None}, format="json")
    assert response.status_code == 200
    assert response.json()["connection"]["deadManSwitch"]["enabled"] is False
    assert armed_on_paper(paper, "okx", api_key) == []


def test_a_disabled_switch_sends_nothing(owner, paper):
    connection = paper_connection(owner)
    before = paper_stats(paper, "okx")["requests"].get("POST /api/v5/trade/cancel-all-after", 0)
    state = connection_dead_man_refresh(connection=connection)
    assert state.armed is False
    after = paper_stats(paper, "okx")["requests"].get("POST /api/v5/trade/cancel-all-after", 0)
    assert after == before


@pytest.fixture
def order_symbols() -> Iterator[set[str]]:
    """A symbol source registered as the orders app registers its own (the connection has no
    orders, so the orders' source adds nothing): the test edits the set it yields."""
    symbols: set[str] = set()

    def source(_: object) -> set[str]:
        return set(symbols)

    dead_man.ORDER_SYMBOL_SOURCES.append(source)
    try:
        yield symbols
    finally:
        dead_man.ORDER_SYMBOL_SOURCES.remove(source)


def test_binance_arms_the_symbols_with_orders_and_disarms_those_without(
    owner, paper, order_symbols
):
    connection = paper_connection(owner, exchange="binance", api_type="perpetual_futures")
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=30)
    api_key = connection_connector(connection=connection).credentials.api_key
    symbols = order_symbols
    symbols.update({"BTC/USDT:USDT", "ETH/USDT:USDT"})
    state = connection_dead_man_refresh(connection=connection)
    assert state.symbols == ("BTC/USDT:USDT", "ETH/USDT:USDT")
    assert sorted(s["symbol"] for s in armed_on_paper(paper, "binance", api_key)) == [
        "BTC/USDT:USDT",
        "ETH/USDT:USDT",
    ]
    symbols.discard("ETH/USDT:USDT")
    connection_dead_man_refresh(connection=connection)
    assert [s["symbol"] for s in armed_on_paper(paper, "binance", api_key)] == ["BTC/USDT:USDT"]
    assert ConnectionState.objects.get(connection=connection).dead_man_symbols == ["BTC/USDT:USDT"]


def test_bybit_dcp_is_set_once_not_on_every_refresh(owner, paper):
    connection = paper_connection(owner, exchange="bybit", api_type="perpetual_futures")
    connection = connection_dead_man_set(connection=connection, actor=owner, seconds=10)
    path = "POST /v5/order/disconnected-cancel-all"
    before = paper_stats(paper, "bybit")["requests"].get(path, 0)
    for _ in range(3):
        state = connection_dead_man_refresh(connection=connection)
        assert (state.armed, state.kind) == (True, "disconnect")
    assert paper_stats(paper, "bybit")["requests"].get(path, 0) == before + 1
    api_key = connection_connector(connection=connection).credentials.api_key
    assert [(s["kind"], s["product"]) for s in armed_on_paper(paper, "bybit", api_key)] == [
        ("disconnect", "linear")
    ]


# -- the admin ---------------------------------------------------------------------------------


def admin_change(client, connection, owner, **fields):
    return client.post(
        f"/admin/connections/exchangeconnection/{connection.pk}/change/",
        {
            "owner": owner.pk,
            "name": connection.name,
            "exchange": connection.exchange,
            "api_type": connection.api_type,
            "environment": connection.environment,
            "enabled": "on",
            "api_key": "",
            "api_secret": "",
            "passphrase": "",
            "state-TOTAL_FORMS": "1",
            "state-INITIAL_FORMS": "1",
            "state-0-connection": str(connection.pk),
            **fields,
        },
    )


def test_staff_set_the_window_in_the_admin_within_the_exchanges_range(client, staff, owner):
    client.force_login(staff)
    connection = okx_connection(owner)
    refused = admin_change(client, connection, owner, dead_man_seconds="5")
    assert refused.status_code == 200  # the form again, with the error
    assert "takes 10 to 120 seconds" in refused.content.decode()
    assert admin_change(client, connection, owner, dead_man_seconds="60").status_code == 302
    connection.refresh_from_db()
    assert connection.dead_man_seconds == 60
    log = ConnectionSyncLog.objects.filter(action="dead_man_set").get()
    assert (log.actor, log.data["for_owner"]) == (staff.get_username(), owner.get_username())
