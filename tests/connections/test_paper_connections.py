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
    owner_client, settings
):
    settings.PAPER_EXCHANGE_URL = closed_port_url()
    response = owner_client.post(
        URL,
        {"name": "Paper", "exchange": "binance", "apiType": "spot", "environment": "paper"},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "paper_exchange_unavailable"
    assert not ExchangeConnection.objects.exists()
    assert not ConnectionSyncLog.objects.exists()


def test_paper_connections_refuse_supplied_credentials(owner_client):
    response = owner_client.post(
        URL,
        {
            "name": "Paper",
            "exchange": "binance",
            "apiType": "spot",
            "environment": "paper",
            "apiKey": "mine",
            "apiSecret": "mine",
        },
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "credentials_not_allowed"
    assert "apiKey" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_paper_connection_generates_credentials_that_work_on_the_paper_exchange(
    owner_client, settings, paper_url
):
    import requests

    from connections.services import connection_connector, connection_credentials

    settings.PAPER_EXCHANGE_URL = paper_url
    response = owner_client.post(
        URL,
        {"name": "Paper OKX", "exchange": "okx", "apiType": "spot", "environment": "paper"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()["connection"]
    assert body["baseUrl"] == f"{paper_url}/okx"
    assert body["wsUrl"] == f"{paper_url.replace('http://', 'ws://')}/okx"
    assert body["hasPassphrase"] is True
    connection = ExchangeConnection.objects.get(pk=body["id"])
    credentials = connection_credentials(connection=connection)
    assert credentials["api_key"].endswith(body["apiKeyLast4"])
    assert credentials["api_secret"] not in response.content.decode()

    accounts = requests.get(
        f"{paper_url}/_paper/accounts",
        params={"exchange": "okx", "apiKey": credentials["api_key"]},
        timeout=5,
    ).json()
    assert credentials["api_secret"] not in str(accounts)
    connector = connection_connector(connection=connection)
    balances = {balance.asset: balance.free for balance in connector.balances()}
    assert balances["USDT"] == 100000
    assert connector.test_connection().permissions


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "exchange, api_type",
    [
        ("bybit", "spot"),
        ("binance", "perpetual_futures"),
        ("bingx", "spot"),
        ("pionex", "spot"),
        ("orangex", "perpetual_futures"),
    ],
)
def test_every_exchange_gets_a_working_paper_connection(
    owner, settings, paper_url, exchange, api_type
):
    from connections.services import ConnectionSpec, connection_connector, connection_create

    settings.PAPER_EXCHANGE_URL = paper_url
    connection = connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name=f"paper {exchange}", exchange=exchange, api_type=api_type, environment="paper"
        ),
    )
    result = connection_connector(connection=connection).test_connection()
    assert "trade" in result.permissions
