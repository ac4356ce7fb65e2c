"""GET balances and positions: from the ledger while the stream is live (with each figure's
age, no exchange call), from the exchange otherwise."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.models import StreamState
from connections.services import ConnectionSpec, connection_create
from tests.django_fixtures import paper_stats
from tests.ledger_support import balance, make_live, position

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(owner, paper):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="okx", exchange="okx", api_type="perpetual_futures", environment="paper"
        ),
    )


def url(connection, what: str) -> str:
    return f"/api/settings/connections/{connection.pk}/{what}"


def test_balances_of_a_live_connection_come_from_the_ledger_with_their_age(
    owner_client, paper, connection
):
    make_live(connection)
    balance(connection, "USDT", free="900", locked="100", total="1000")
    balance(connection, "ETH", free="0", locked="0", total="0", source="rest")
    before = paper_stats(paper, "okx")["requests"]
    body = owner_client.get(url(connection, "balances")).json()
    assert paper_stats(paper, "okx")["requests"] == before
    assert body["success"] is True and body["source"] == "ledger"
    assert 0 <= body["ageMs"] < 60_000
    [usdt] = body["balances"]  # an asset at zero is not listed
    assert (usdt["asset"], usdt["free"], usdt["locked"], usdt["total"]) == (
        "USDT",
        "900",
        "100",
        "1000",
    )
    assert usdt["ageMs"] >= 2000 and usdt["asOf"]


def test_a_wallet_only_stream_balance_shows_free_as_null(owner_client, paper, connection):
    make_live(connection)
    balance(connection, "USDT", total="1000")
    [usdt] = owner_client.get(url(connection, "balances")).json()["balances"]
    assert (usdt["free"], usdt["locked"], usdt["total"]) == (None, None, "1000")


def test_positions_of_a_live_connection_come_from_the_ledger(owner_client, paper, connection):
    make_live(connection)
    position(connection, "BTC/USDT:USDT", "-0.02", entry="60000", leverage="5", pnl="-3")
    position(connection, "ETH/USDT:USDT", "0")
    body = owner_client.get(url(connection, "positions")).json()
    assert body["source"] == "ledger"
    [btc] = body["positions"]
    assert (
        btc["symbol"],
        btc["quantity"],
        btc["entryPrice"],
        btc["leverage"],
        btc["unrealizedPnl"],
        btc["markPrice"],
    ) == ("BTC/USDT:USDT", "-0.02", "60000", "5", "-3", None)


def test_without_a_live_stream_balances_are_read_from_the_exchange(owner_client, paper, connection):
    make_live(connection)
    # the last message is older than OKX's 40 s silence deadline: not live
    StreamState.objects.filter(connection=connection).update(
        last_message_at=timezone.now() - timedelta(seconds=60)
    )
    balance(connection, "USDT", free="1", locked="0", total="1")
    body = owner_client.get(url(connection, "balances")).json()
    assert body["source"] == "exchange" and body["ageMs"] == 0
    usdt = next(b for b in body["balances"] if b["asset"] == "USDT")
    assert Decimal(usdt["total"]) == Decimal("100000") and usdt["ageMs"] == 0


def test_another_users_connection_balances_are_not_found(outsider_client, connection):
    make_live(connection)
    assert outsider_client.get(url(connection, "balances")).status_code == 404
    assert outsider_client.get(url(connection, "positions")).status_code == 404
