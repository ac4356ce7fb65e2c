"""API shapes for orders: camelCase, decimals as strings, numbers accepted."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from core.fields import (
    QueryIntegerField,
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
)
from core.schema import ConstantBooleanField
from exchanges.errors import InvalidRequest
from exchanges.symbols import parse_symbol
from orders.models import LIQUIDITIES, SIDES, STATUSES, TIME_IN_FORCE, TYPES, Fill, Order
from orders.services import OrderSpec


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=36, decimal_places=18, normalize_output=True, **kwargs
    )


# The deepest page a list may ask for: far past any desk's history, far below the
# database's bigint (an offset of 1e20 would be a DataError, a 500).
MAX_OFFSET = 1_000_000_000
MAX_PAGE = 500
# A unified symbol as the API takes it: upper case, BTC/USDT (spot) or BTC/USDT:USDT (a
# linear perpetual, settled in its quote currency). The schema states the same pattern;
# its lengths keep the whole within SYMBOL_MAX_LENGTH (20 + 1 + 9 + 1 + 9).
SYMBOL_MAX_LENGTH = 40
SYMBOL_PATTERN = r"^([A-Z0-9]{1,20})/([A-Z0-9]{1,9})(?::\2)?$"
# What a caller's own clientOrderId may hold on some exchange; each exchange allows a part
# of it (OKX letters and digits up to 32, BingX lower case ...): a 422 for the rest.
CLIENT_ORDER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
MARKET_TIME_IN_FORCE = tuple(value for value in TIME_IN_FORCE if value != "POST_ONLY")


def symbol_checked(value: str) -> str:
    """A ccxt-style symbol (BTC/USDT, BTC/USDT:USDT) written exactly so; else a 400."""
    try:
        symbol = parse_symbol(value).symbol
    except InvalidRequest as exc:
        raise serializers.ValidationError(exc.message) from None
    if symbol != value:
        raise serializers.ValidationError(f"write the symbol as {symbol}")
    return symbol


def _symbol_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        max_length=SYMBOL_MAX_LENGTH,
        trim_whitespace=False,
        pattern=SYMBOL_PATTERN,
        validators=[symbol_checked],
        **kwargs,
    )


def _amount(**kwargs: Any) -> StrictDecimalField:
    return StrictDecimalField(whole_digits=18, decimal_places=12, **kwargs)


@extend_schema_field(
    {
        "nullable": True,
        "enum": [None],
        "description": "A market order has no price: leave it out or null.",
    },
    component_name="NoPrice",
)
class NoPriceField(serializers.Field):
    """A market order's price: absent or null, nothing else."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data: Any) -> None:
        raise serializers.ValidationError("a market order takes no price")


class _OrderFields(StrictSerializer):
    """What every order has; LimitOrderIn and MarketOrderIn add the type's own rules."""

    connectionId = StrictUUIDField(source="connection_id")
    symbol = _symbol_field()
    side = serializers.ChoiceField(choices=SIDES)
    quantity = _amount()
    reduceOnly = StrictBooleanField(source="reduce_only", required=False)
    leverage = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=125)
    clientOrderId = StrictCharField(
        source="client_order_id",
        max_length=64,
        required=False,
        trim_whitespace=False,
        pattern=CLIENT_ORDER_ID_PATTERN,
    )
    volumeFactorSource = serializers.ChoiceField(
        source="volume_factor_source", choices=("live", "preset"), required=False
    )

    def spec(self) -> OrderSpec:
        """The validated order as the service takes it, naming the fields the request set
        (a replay is compared by those)."""
        return OrderSpec(**self.validated_data, given=frozenset(self.validated_data))


class LimitOrderIn(_OrderFields):
    """A limit order: a price, any time in force (GTC by default)."""

    type = serializers.ChoiceField(choices=("limit",))
    price = _amount()
    timeInForce = serializers.ChoiceField(
        source="time_in_force", choices=TIME_IN_FORCE, required=False
    )


class MarketOrderIn(_OrderFields):
    """A market order: no price, never post-only (IOC by default)."""

    type = serializers.ChoiceField(choices=("market",))
    price = NoPriceField()
    timeInForce = serializers.ChoiceField(
        source="time_in_force", choices=MARKET_TIME_IN_FORCE, required=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.pop("price", None)  # null: the same request as no price
        attrs.setdefault("time_in_force", "IOC")
        return attrs


class OrderIn(_OrderFields):
    """An order whose type is missing or unknown: every field's error at once."""

    type = serializers.ChoiceField(choices=TYPES)
    price = _amount(required=False, allow_null=True)
    timeInForce = serializers.ChoiceField(
        source="time_in_force", choices=TIME_IN_FORCE, required=False
    )


ORDER_TYPES: dict[str, type[_OrderFields]] = {"limit": LimitOrderIn, "market": MarketOrderIn}


def order_input(data: Any) -> _OrderFields:
    """The serializer for an order body: the one its type names (so each type's rules
    are the schema's oneOf), or OrderIn to report a bad or missing type."""
    kind = data.get("type") if isinstance(data, dict) else None
    order_class = ORDER_TYPES.get(kind, OrderIn) if isinstance(kind, str) else OrderIn
    return order_class(data=data)


class OrderFilters(StrictSerializer):
    connectionId = StrictUUIDField(source="connection_id", required=False)
    status = serializers.ChoiceField(choices=STATUSES, required=False)
    symbol = _symbol_field(required=False)
    limit = QueryIntegerField(required=False, min_value=1, max_value=MAX_PAGE)
    offset = QueryIntegerField(required=False, min_value=0, max_value=MAX_OFFSET)


class CancelAllIn(StrictSerializer):
    connectionId = StrictUUIDField(source="connection_id")
    symbol = _symbol_field(required=False)


class OrderOut(serializers.ModelSerializer):
    connectionId = serializers.UUIDField(source="connection_id")
    clientOrderId = serializers.CharField(source="client_order_id")
    idempotencyKey = serializers.CharField(source="idempotency_key", allow_null=True)
    requestedQuantity = _decimal(source="requested_quantity")
    volumeFactorSource = serializers.CharField(source="volume_factor_source")
    volumeFactor = _decimal(source="volume_factor")
    quantity = _decimal()
    price = _decimal(allow_null=True)
    timeInForce = serializers.CharField(source="time_in_force")
    reduceOnly = serializers.BooleanField(source="reduce_only")
    exchangeOrderId = serializers.CharField(source="exchange_order_id")
    filledQuantity = _decimal(source="filled_quantity")
    averagePrice = _decimal(source="average_price", allow_null=True)
    errorMessage = serializers.CharField(source="error_message")
    cancelRequested = serializers.BooleanField(source="cancel_requested")
    flagReason = serializers.CharField(source="flag_reason")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = Order
        fields = [
            "id",
            "connectionId",
            "clientOrderId",
            "idempotencyKey",
            "symbol",
            "side",
            "type",
            "requestedQuantity",
            "volumeFactorSource",
            "volumeFactor",
            "quantity",
            "price",
            "timeInForce",
            "reduceOnly",
            "leverage",
            "status",
            "exchangeOrderId",
            "filledQuantity",
            "averagePrice",
            "errorMessage",
            "attempts",
            "cancelRequested",
            "flagged",
            "flagReason",
            "createdAt",
            "updatedAt",
        ]


class FillOut(serializers.ModelSerializer):
    tradeId = serializers.CharField(source="trade_id")
    orderId = serializers.UUIDField(source="order_id")
    exchangeOrderId = serializers.CharField(source="exchange_order_id")
    clientOrderId = serializers.CharField(source="client_order_id")
    side = serializers.ChoiceField(choices=SIDES)
    price = _decimal()
    quantity = _decimal()
    fee = _decimal(help_text="> 0 paid, < 0 a rebate, in feeAsset")
    feeAsset = serializers.CharField(source="fee_asset")
    liquidity = serializers.ChoiceField(choices=LIQUIDITIES)
    tradedAt = serializers.DateTimeField(source="traded_at")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Fill
        fields = [
            "tradeId",
            "orderId",
            "exchangeOrderId",
            "clientOrderId",
            "symbol",
            "side",
            "price",
            "quantity",
            "fee",
            "feeAsset",
            "liquidity",
            "source",
            "tradedAt",
            "createdAt",
        ]


class FillListOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    fills = FillOut(many=True)


class OrderEnvelope(serializers.Serializer):
    success = ConstantBooleanField(True)
    order = OrderOut()


@extend_schema_serializer(many=False)
class OrderListOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    count = serializers.IntegerField(min_value=0)
    next = serializers.URLField(allow_null=True, help_text="the next page, null on the last")
    previous = serializers.URLField(
        allow_null=True, help_text="the previous page, null on the first"
    )
    orders = OrderOut(many=True)


class CancelAllOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    canceled = serializers.IntegerField(
        min_value=0,
        help_text="our open orders canceled "
        "or asked to cancel; the exchange is also told to "
        "cancel all",
    )
