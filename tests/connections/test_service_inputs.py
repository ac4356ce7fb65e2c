"""The typed inputs of the connection services: made from the serializers' validated data,
secrets never in a repr, a partial update telling 'leave it' from 'clear it'."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connections.serializers import ConnectionUpdate, ConnectionWrite
from connections.services import UNSET, ConnectionChanges, ConnectionSpec

SECRET = "the-secret-value-0123456789"


def test_a_create_body_becomes_a_spec_in_domain_names():
    payload = ConnectionWrite(
        data={
            "name": "Desk",
            "exchange": "okx",
            "apiType": "spot",
            "environment": "live",
            "apiKey": "key-1234",
            "apiSecret": SECRET,
            "passphrase": "pass",
            "priceBandPercent": None,
        }
    )
    assert payload.is_valid(), payload.errors
    spec = payload.spec()
    assert (spec.api_type, spec.api_secret, spec.price_band_percent) == ("spot", SECRET, None)
    assert spec.volume_factor_live == Decimal("1") and spec.max_open_orders is None
    assert spec.named_fields() == [
        "api_key",
        "api_secret",
        "api_type",
        "environment",
        "exchange",
        "name",
        "passphrase",
        "price_band_percent",
    ]


def test_a_patch_body_sets_only_what_it_names_and_null_clears():
    payload = ConnectionUpdate(data={"name": "renamed", "maxOrderNotional": None}, partial=True)
    assert payload.is_valid(), payload.errors
    changes = payload.changes()
    assert changes.given() == {"name": "renamed", "max_order_notional": None}
    assert changes.api_type is UNSET and changes.price_band_percent is UNSET


@pytest.mark.parametrize(
    "value",
    [
        ConnectionSpec(
            name="x",
            exchange="okx",
            api_type="spot",
            environment="live",
            api_key="key-1234",
            api_secret=SECRET,
            passphrase=SECRET,
        ),
        ConnectionChanges(api_secret=SECRET, passphrase=SECRET),
    ],
)
def test_a_service_input_never_shows_a_secret_in_its_repr(value):
    assert SECRET not in repr(value) and SECRET not in str(value)
