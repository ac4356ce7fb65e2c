"""What the base connector enforces for every exchange: one validation of orders and lookups
(one error class, nothing sent), and the capability table as the one check of api types and
environments."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import responses

from exchanges import errors
from exchanges.base import Connector, Credentials, OrderRequest
from exchanges.capabilities import API_TYPES, CAPABILITIES, ENVIRONMENTS, EXCHANGES
from exchanges.registry import connector_class

BASE_URL = "https://base.test"
CLIENT_ID = "ec0123456789abcdef0123456789ab"  # valid on all six


def make(exchange: str, *, api_type: str | None = None, environment: str = "live") -> Connector:
    offered = CAPABILITIES[exchange]
    return connector_class(exchange)(
        credentials=Credentials("key", "secret", "passphrase"),
        api_type=api_type or offered.api_types[0],
        environment=environment,
        base_url=BASE_URL,
        clock=lambda: 1_700_000_000.0,
    )


def symbol_of(connector: Connector) -> str:
    return "BTC/USDT:USDT" if connector.api_type == "perpetual_futures" else "BTC/USDT"


def order(connector: Connector, **changes: Any) -> OrderRequest:
    values: dict[str, Any] = {
        "symbol": symbol_of(connector),
        "side": "buy",
        "type": "limit",
        "quantity": Decimal("0.01"),
        "price": Decimal("50000"),
        "client_order_id": CLIENT_ID,
    }
    return OrderRequest(**(values | changes))


INVALID_ORDERS = {
    "side": {"side": "long"},
    "type": {"type": "stop"},
    "zero quantity": {"quantity": Decimal("0")},
    "negative quantity": {"quantity": Decimal("-1")},
    "limit without price": {"price": None},
    "limit at zero": {"price": Decimal("0")},
    "negative price": {"price": Decimal("-5")},
    "time in force": {"time_in_force": "GTD"},
    "market post-only": {"type": "market", "price": None, "time_in_force": "POST_ONLY"},
    "client id with spaces": {"client_order_id": "has spaces"},
    "client id too long": {"client_order_id": "x" * 65},
    "no client id": {"client_order_id": ""},
}


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("changes", INVALID_ORDERS.values(), ids=INVALID_ORDERS.keys())
@responses.activate
def test_every_connector_refuses_an_invalid_order_with_one_class_before_any_request(
    exchange, changes
):
    connector = make(exchange)
    with pytest.raises(errors.InvalidRequest) as caught:
        connector.place_order(order(connector, **changes))
    assert type(caught.value) is errors.InvalidRequest
    assert caught.value.exchange == exchange
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    "exchange", [name for name in EXCHANGES if "spot" in CAPABILITIES[name].api_types]
)
@responses.activate
def test_reduce_only_on_a_spot_cash_order_is_refused_before_any_request(exchange):
    connector = make(exchange, api_type="spot")
    with pytest.raises(errors.InvalidRequest):
        connector.place_order(order(connector, reduce_only=True))
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    "exchange", [name for name in EXCHANGES if "margin" not in CAPABILITIES[name].api_types]
)
@responses.activate
def test_spot_margin_where_the_table_offers_none_is_not_supported(exchange):
    connector = make(exchange)
    with pytest.raises(errors.NotSupported):
        connector.place_order(order(connector, margin=True))
    assert len(responses.calls) == 0


@pytest.mark.parametrize("exchange", EXCHANGES)
@responses.activate
def test_a_market_order_s_price_is_dropped_before_the_module_sees_it(exchange):
    connector = make(exchange)
    checked = connector.check_order(
        order(connector, type="market", price=Decimal("1")), connector.market(symbol_of(connector))
    )
    assert checked.price is None


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize("operation", ["cancel_order", "get_order"])
@responses.activate
def test_a_lookup_or_cancel_without_any_id_is_refused_before_any_request(exchange, operation):
    connector = make(exchange)
    with pytest.raises(errors.InvalidRequest):
        getattr(connector, operation)(symbol_of(connector))
    assert len(responses.calls) == 0


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_module_must_provide_every_operation(exchange):
    assert not connector_class(exchange).__abstractmethods__
    with pytest.raises(TypeError, match="abstract"):
        Connector(credentials=Credentials("key", "secret"))  # type: ignore[abstract]


# -- capabilities: exchanges/capabilities.py is the one table --------------------------------


@pytest.mark.parametrize(
    ("exchange", "api_type"),
    [(exchange, api_type) for exchange in EXCHANGES for api_type in API_TYPES],
)
def test_an_api_type_is_refused_exactly_where_the_table_lacks_it(exchange, api_type):
    if CAPABILITIES[exchange].supports_api_type(api_type):
        assert make(exchange, api_type=api_type).api_type == api_type
        return
    with pytest.raises(errors.NotSupported) as caught:
        make(exchange, api_type=api_type)
    assert caught.value.code == "api_type_not_supported"
    assert api_type in caught.value.message and caught.value.exchange == exchange


@pytest.mark.parametrize(
    ("exchange", "environment", "api_type"),
    [
        (exchange, environment, api_type)
        for exchange in EXCHANGES
        for environment in ENVIRONMENTS
        for api_type in CAPABILITIES[exchange].api_types
    ],
)
def test_an_environment_is_refused_exactly_where_the_table_lacks_it(
    exchange, environment, api_type
):
    offered = CAPABILITIES[exchange]
    if offered.supports_environment(environment, api_type):
        assert make(exchange, api_type=api_type, environment=environment)
        return
    with pytest.raises(errors.NotSupported) as caught:
        make(exchange, api_type=api_type, environment=environment)
    assert caught.value.code == "environment_not_supported"
    assert environment in caught.value.message


def test_bingx_s_testnet_names_what_it_serves():
    with pytest.raises(errors.NotSupported, match="perpetual_futures only"):
        make("bingx", api_type="spot", environment="testnet")
