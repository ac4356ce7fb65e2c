"""Connections created through the service, as the API would."""

from __future__ import annotations

from typing import Any

from connections.models import ExchangeConnection
from connections.services import ConnectionSpec, connection_create

BYBIT_KEY = "bybit-key-plaintext-1234"
BYBIT_SECRET = "bybit-secret-plaintext-abcdefghijkl"


def make_connection(owner: Any, **overrides: Any) -> ExchangeConnection:
    values: dict[str, Any] = {
        "name": "Desk Bybit",
        "exchange": "bybit",
        "api_type": "spot",
        "environment": "live",
        "api_key": BYBIT_KEY,
        "api_secret": BYBIT_SECRET,
    }
    values.update(overrides)
    return connection_create(owner=owner, actor=owner, spec=ConnectionSpec(**values))


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Desk Bybit",
        "exchange": "bybit",
        "apiType": "spot",
        "environment": "live",
        "apiKey": BYBIT_KEY,
        "apiSecret": BYBIT_SECRET,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}
