"""Django-side fixtures: clean Redis state per test, the paper exchange as this test's
PAPER_EXCHANGE_URL, and paper control helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests


@pytest.fixture(autouse=True)
def clean_redis_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every Django test starts with an empty limiter, batch, lock, throttle and cache
    state."""
    if (
        "django_db_setup" not in request.fixturenames
        and "db" not in request.fixturenames
        and not request.node.get_closest_marker("django_db")
    ):
        yield
        return
    from connections.ratelimits import run_time_limits_forget
    from core.redis import redis_client

    client = redis_client()
    run_time_limits_forget()
    for pattern in (
        "ec:rl:*",
        "ec:batch*",
        "ec:lock:*",
        "ec:1:ec:instruments:*",
        "ec:1:ec:ticker:*",
        "ec:1:ec:position-mode:*",
        "ec:stream:lease:*",
        "ec:1:throttle_*",
    ):
        for key in client.scan_iter(pattern):
            client.delete(key)
    yield


@pytest.fixture
def paper(settings: Any, paper_url: str) -> Iterator[str]:
    """The session's paper exchange, faults cleared, as this test's PAPER_EXCHANGE_URL."""
    settings.PAPER_EXCHANGE_URL = paper_url
    requests.delete(f"{paper_url}/_paper/faults", timeout=5)
    yield paper_url
    requests.delete(f"{paper_url}/_paper/faults", timeout=5)


def set_faults(paper_url: str, exchange: str, **faults: Any) -> None:
    response = requests.post(
        f"{paper_url}/_paper/faults", json={"exchange": exchange, **faults}, timeout=5
    )
    assert response.status_code in (200, 201), response.text


def paper_stats(paper_url: str, exchange: str) -> dict[str, Any]:
    return requests.get(f"{paper_url}/_paper/stats", timeout=5).json()["exchanges"][exchange]
