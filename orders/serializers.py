"""API shapes for orders: camelCase, decimals as strings, numbers accepted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from config.api import StrictBooleanField, StrictCharField, StrictDecimalField, StrictSerializer
from exchanges.errors import InvalidRequest
from exchanges.symbols import parse_symbol
from orders.models import SIDES, STATUSES, TIME_IN_FORCE, TYPES, Order


def _decimal(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=36, decimal_places=18, normalize_output=True,
                                    **kwargs)


# The deepest page a list may ask for: far past any desk's history, far below the
# database's bigint (an offset of 1e20 would be a DataError, a 500).
MAX_OFFSET = 1_000_000_000


def symbol_checked(value: str) -> str:
    """A ccxt-style symbol (BTC/USDT, BTC/USDT:USDT), normalised; else a 400."""
    try:
        return parse_symbol(value).symbol
    except InvalidRequest as exc:
        raise serializers.ValidationError(exc.message) from None


class StrictUUIDField(serializers.UUIDField):
    """A UUID string only: DRF's UUIDField turns the JSON number 5 into
    00000000-0000-0000-0000-000000000005 (a 404 instead of a 400)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class OrderIn(StrictSerializer):
    connectionId = StrictUUIDField(source="connection_id")
    symbol = StrictCharField(max_length=40)
    side = serializers.ChoiceField(choices=SIDES)
    type = serializers.ChoiceField(choices=TYPES)
    quantity = StrictDecimalField(max_digits=30, decimal_places=12,
                                  min_value=Decimal("0.000000000001"))
    price = StrictDecimalField(max_digits=30, decimal_places=12, required=False,
                               allow_null=True, min_value=Decimal("0.000000000001"))
    timeInForce = serializers.ChoiceField(source="time_in_force", choices=TIME_IN_FORCE,
                                          required=False)
    reduceOnly = StrictBooleanField(source="reduce_only", required=False)
    leverage = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                        max_value=125)
    clientOrderId = StrictCharField(source="client_order_id", max_length=64, required=False)
    volumeFactorSource = serializers.ChoiceField(source="volume_factor_source",
                                                 choices=("live", "preset"), required=False)

    def validate_symbol(self, value: str) -> str:
        return symbol_checked(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["type"] == "limit" and attrs.get("price") is None:
            raise serializers.ValidationError({"price": ["a limit order needs a price"]})
        if attrs["type"] == "market":
            if attrs.get("price") is not None:
                raise serializers.ValidationError({"price": ["a market order takes no price"]})
            if attrs.get("time_in_force") == "POST_ONLY":
                raise serializers.ValidationError(
                    {"timeInForce": ["a market order cannot be post-only"]})
            attrs.setdefault("time_in_force", "IOC")
        if attrs.get("price") is None:
            attrs.pop("price", None)
        return attrs


class OrderFilters(StrictSerializer):
    connectionId = serializers.UUIDField(source="connection_id", required=False)
    status = serializers.ChoiceField(choices=STATUSES, required=False)
    symbol = StrictCharField(max_length=40, required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET)


class CancelAllIn(StrictSerializer):
    connectionId = StrictUUIDField(source="connection_id")
    symbol = StrictCharField(max_length=40, required=False)

    def validate_symbol(self, value: str) -> str:
        return symbol_checked(value)


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
        fields = ["id", "connectionId", "clientOrderId", "idempotencyKey", "symbol", "side",
                  "type", "requestedQuantity", "volumeFactorSource", "volumeFactor",
                  "quantity", "price", "timeInForce", "reduceOnly", "leverage", "status",
                  "exchangeOrderId", "filledQuantity", "averagePrice", "errorMessage",
                  "attempts", "cancelRequested", "flagged", "flagReason", "createdAt",
                  "updatedAt"]


class OrderEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    order = OrderOut()


class OrderListOut(serializers.Serializer):
    success = serializers.BooleanField()
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    orders = OrderOut(many=True)
