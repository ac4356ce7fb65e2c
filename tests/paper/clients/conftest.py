"""Outside clients (ccxt, the exchanges' official SDKs) pointed at the paper exchange.

Every client here runs unmodified: only its base URLs are configured. Nothing may reach the
internet, so name resolution is limited to loopback for the whole directory: a client that
tries a real exchange host fails at once (``socket.gaierror``) instead of hanging, and the
host it tried is recorded in ``outside_hosts``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from exchanges.base import Credentials
from tests.paper import make_paper_credentials

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CLIENT_TIMEOUT_SECONDS = 5


_TRIED: list[str] = []  # every non-loopback name a client tried to resolve


@pytest.fixture(scope="package", autouse=True)
def loopback_only() -> Iterator[list[str]]:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name.strip("[]") not in LOOPBACK:
            _TRIED.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"{name} is not resolved in these tests")
        return real(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield _TRIED


class TriedSince:
    """The outside names tried since this object was made, read when called."""

    def __init__(self) -> None:
        self.start = len(_TRIED)

    def __call__(self) -> list[str]:
        return list(_TRIED[self.start :])


@pytest.fixture
def outside_hosts() -> TriedSince:
    """``outside_hosts()``: the outside names tried during this test (none, for a correctly
    pointed client)."""
    return TriedSince()


def exchange_stats(paper_url: str, exchange: str) -> dict[str, Any]:
    response = requests.get(f"{paper_url}/_paper/stats", timeout=5)
    response.raise_for_status()
    return response.json()["exchanges"][exchange]


def signature_failures(paper_url: str, exchange: str) -> int:
    return int(exchange_stats(paper_url, exchange)["signatureFailures"])


def paper_fill(paper_url: str, exchange: str, order_id: str) -> dict[str, Any]:
    response = requests.post(
        f"{paper_url}/_paper/fill", json={"exchange": exchange, "orderId": str(order_id)}, timeout=5
    )
    response.raise_for_status()
    return response.json()["order"]


def set_start_prices(paper_url: str, exchange: str) -> None:
    """BTC at 60000 on spot and perpetual (another test may have moved it)."""
    for symbol in ("BTC/USDT", "BTC/USDT:USDT"):
        response = requests.post(
            f"{paper_url}/_paper/prices",
            timeout=5,
            json={"exchange": exchange, "symbol": symbol, "price": "60000"},
        )
        response.raise_for_status()


def paper_account(paper_url: str, exchange: str) -> Credentials:
    set_start_prices(paper_url, exchange)
    return make_paper_credentials(
        paper_url, exchange, balances={"USDT": "100000", "BTC": "2", "ETH": "20"}
    )
