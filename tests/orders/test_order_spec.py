"""The order body becomes an OrderSpec; a replay is compared by the fields the request set,
exactly as when the service took the validated dict (orders stored before still replay)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from orders.prechecks import order_request_hash
from orders.serializers import order_input
from orders.services import OrderSpec

CONNECTION_ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    "body",
    [
        {"type": "limit", "price": "59000"},
        {"type": "limit", "price": "59000", "timeInForce": "IOC", "reduceOnly": False},
        {"type": "market", "leverage": None},
        {
            "type": "market",
            "price": None,
            "clientOrderId": "mine-1",
            "volumeFactorSource": "preset",
        },
    ],
)
def test_a_request_hashes_as_its_validated_fields_did(body):
    payload = order_input(
        {
            "connectionId": CONNECTION_ID,
            "symbol": "BTC/USDT",
            "side": "buy",
            "quantity": "0.01",
            **body,
        }
    )
    assert payload.is_valid(), payload.errors
    spec = payload.spec()
    assert spec.request_fields() == dict(sorted(payload.validated_data.items()))
    before = order_request_hash({**payload.validated_data, "connection_id": CONNECTION_ID})
    assert order_request_hash({**spec.request_fields(), "connection_id": CONNECTION_ID}) == before


def test_a_spec_made_in_code_takes_the_defaults_and_hashes_every_field():
    spec = OrderSpec(
        connection_id=CONNECTION_ID,
        symbol="BTC/USDT",
        side="buy",
        type="market",
        quantity=Decimal("0.01"),
    )
    assert (spec.price, spec.time_in_force, spec.reduce_only) == (None, "GTC", False)
    assert set(spec.request_fields()) == {
        "connection_id",
        "symbol",
        "side",
        "type",
        "quantity",
        "price",
        "time_in_force",
        "reduce_only",
        "leverage",
        "client_order_id",
        "volume_factor_source",
    }
