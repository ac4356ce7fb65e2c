"""Concurrent activations for one owner leave exactly one active connection."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection as db_connection

from connections.models import ConnectionSyncLog, ExchangeConnection
from connections.services import connection_activate
from tests.connections.factories import make_connection


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_activations_leave_exactly_one_active(owner):
    connections = [make_connection(owner, name=f"c{i}") for i in range(20)]

    def activate(connection):
        try:
            return connection_activate(connection=connection, actor=owner).pk
        finally:
            db_connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(activate, connections))

    assert len(results) == 20
    assert ExchangeConnection.objects.filter(owner=owner, is_active=True).count() == 1
    assert ConnectionSyncLog.objects.filter(action="activated").count() == 20
