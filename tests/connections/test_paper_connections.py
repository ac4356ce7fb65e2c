"""Paper connections generate their own credentials on the paper exchange."""

from __future__ import annotations

import socket

import pytest

from connections.models import ConnectionSyncLog, ExchangeConnection

pytestmark = pytest.mark.django_db
URL = "/api/settings/connections"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_paper_connection_is_503_and_saves_nothing_when_the_paper_exchange_is_down(
        owner_client, settings):
    settings.PAPER_EXCHANGE_URL = closed_port_url()
    response = owner_client.post(URL, {"name": "Paper", "exchange": "binance",
                                       "apiType": "spot", "environment": "paper"},
                                 format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "paper_exchange_unavailable"
    assert not ExchangeConnection.objects.exists()
    assert not ConnectionSyncLog.objects.exists()


def test_paper_connections_refuse_supplied_credentials(owner_client):
    response = owner_client.post(URL, {"name": "Paper", "exchange": "binance",
                                       "apiType": "spot", "environment": "paper",
                                       "apiKey": "mine", "apiSecret": "mine"}, format="json")
    assert response.status_code == 400
    assert "apiKey" in response.json()["error"]["fields"]
