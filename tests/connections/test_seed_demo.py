"""`make run`'s demo seed: paper connections for every exchange, checked at once so the
dashboard has figures before the first 5-minute sweep."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from connections.models import ExchangeConnection, HealthCheck
from tests.orders.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_seed_checks_its_paper_connections_at_once(paper, celery_worker, capsys):
    call_command("seed_demo", "--paper", "--wait", "5")
    seeded = set(
        ExchangeConnection.objects.filter(environment="paper").values_list("pk", flat=True)
    )
    assert len(seeded) == 6
    assert "health sweep queued" in capsys.readouterr().out
    wait_until(
        lambda: (
            set(
                HealthCheck.objects.filter(connection_id__in=seeded).values_list(
                    "connection_id", flat=True
                )
            )
            == seeded
        )
    )
