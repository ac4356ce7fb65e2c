"""The one definition of a live stream (connections.selectors.ledger_if_live): each of its
conditions, one at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import StreamState
from connections.selectors import STREAM_LEASE_PREFIX, ledger_if_live, stream_silence_seconds
from connections.services import ConnectionSpec, connection_create
from core.redis import redis_client
from tests.ledger_support import balance, make_live
from workers.user_streams import LEASE_PREFIX

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(owner, paper):
    return connection_create(
        owner=owner,
        actor=owner,
        spec=ConnectionSpec(
            name="binance", exchange="binance", api_type="spot", environment="paper"
        ),
    )


def test_the_lease_key_is_the_one_the_runner_holds():
    assert STREAM_LEASE_PREFIX == LEASE_PREFIX


def test_a_connected_stream_with_a_snapshot_a_fresh_message_and_its_lease_is_live(connection):
    make_live(connection)
    balance(connection, "USDT", free="10", locked="0", total="10")
    ledger = ledger_if_live(connection=connection)
    assert ledger is not None and set(ledger.balances) == {"USDT"}


@pytest.mark.parametrize("state", ["connecting", "reconnecting", "down"])
def test_a_stream_that_is_not_connected_is_not_live(connection, state):
    make_live(connection)
    StreamState.objects.filter(connection=connection).update(state=state)
    assert ledger_if_live(connection=connection) is None


def test_a_snapshot_older_than_the_current_connect_is_not_live(connection):
    now = make_live(connection)
    StreamState.objects.filter(connection=connection).update(snapshot_at=now - timedelta(seconds=5))
    assert ledger_if_live(connection=connection) is None


def test_a_stream_silent_past_its_protocols_deadline_is_not_live(connection):
    now = make_live(connection)
    deadline = stream_silence_seconds(exchange="binance")  # 60 s + the write throttle
    StreamState.objects.filter(connection=connection).update(
        last_message_at=now - timedelta(seconds=deadline - 1)
    )
    assert ledger_if_live(connection=connection, now=now) is not None
    assert ledger_if_live(connection=connection, now=now + timedelta(seconds=2)) is None


def test_a_stream_whose_runner_lost_the_lease_is_not_live(connection):
    make_live(connection)
    redis_client().delete(f"{STREAM_LEASE_PREFIX}{connection.pk}")
    assert ledger_if_live(connection=connection) is None
    redis_client().set(f"{STREAM_LEASE_PREFIX}{connection.pk}", "another-runner")
    assert ledger_if_live(connection=connection) is None


def test_a_connection_no_runner_ever_held_is_not_live(connection):
    assert ledger_if_live(connection=connection) is None
    assert not StreamState.objects.filter(
        connection=connection, since__lte=timezone.now(), state="connected"
    ).exists()
