"""The connection's ``stream`` (DESIGN section 8): its state where the exchange streams,
null where it has none, in the connection API and the health endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.ledger import stream_state_write
from connections.selectors import stream_supported
from tests.connections.factories import make_connection

pytestmark = pytest.mark.django_db


def test_a_connection_whose_stream_never_ran_shows_it_down(owner_client, owner):
    connection = make_connection(owner)
    stream = owner_client.get(f"/api/settings/connections/{connection.pk}").json()["connection"][
        "stream"
    ]
    assert stream == {
        "state": "down",
        "since": None,
        "reconnects": 0,
        "lastMessageAgeMs": None,
        "holder": None,
        "snapshotAt": None,
        "lastError": "",
    }


def test_the_stream_state_shows_its_holder_and_last_message_age(owner_client, owner):
    connection = make_connection(owner)
    stream_state_write(
        connection_id=connection.pk,
        state="connected",
        since=timezone.now(),
        reconnects=2,
        holder="host:1:ab",
        last_message_at=timezone.now() - timedelta(seconds=3),
    )
    stream = owner_client.get("/api/settings/connections").json()["connections"][0]["stream"]
    assert (stream["state"], stream["reconnects"], stream["holder"]) == (
        "connected",
        2,
        "host:1:ab",
    )
    assert 3000 <= stream["lastMessageAgeMs"] < 60_000
    health = owner_client.get("/api/settings/connections/health").json()
    assert health["connections"][0]["stream"]["state"] == "connected"


def test_the_stream_of_an_outsiders_connection_is_not_shown(outsider_client, owner):
    connection = make_connection(owner)
    assert outsider_client.get(f"/api/settings/connections/{connection.pk}").status_code == 404
    assert outsider_client.get("/api/settings/connections/health").json()["connections"] == []


@pytest.mark.parametrize(
    "exchange, api_type, environment, supported",
    [
        ("bybit", "spot", "live", True),
        ("bybit", "perpetual_futures", "paper", True),
        ("binance", "perpetual_futures", "testnet", True),
        ("okx", "spot", "paper", True),
    ],
)
def test_which_connections_have_a_stream(exchange, api_type, environment, supported):
    assert (
        stream_supported(exchange=exchange, api_type=api_type, environment=environment) is supported
    )


def test_an_exchange_without_a_stream_for_the_api_type_shows_null():
    assert stream_supported(exchange="bybit", api_type="options", environment="live") is False
    assert stream_supported(exchange="nowhere", api_type="spot", environment="live") is False


def test_a_connection_whose_exchange_streams_nothing_for_it_shows_null(owner_client, owner):
    from connections.models import ExchangeConnection

    connection = make_connection(owner)
    # OrangeX streams perpetuals only (docs/streams.md): set directly, as a stored row
    ExchangeConnection.objects.filter(pk=connection.pk).update(exchange="orangex")
    body = owner_client.get(f"/api/settings/connections/{connection.pk}").json()
    assert body["connection"]["stream"] is None
