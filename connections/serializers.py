"""API shapes for connections: camelCase keys, secrets write-only, decimals as strings."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from config.api import StrictBooleanField, StrictCharField, StrictDecimalField, StrictSerializer
from connections.models import ExchangeConnection
from connections.paper import paper_base_url, paper_ws_url
from exchanges.capabilities import API_TYPES, ENVIRONMENTS, EXCHANGES


def _choice(values: tuple[str, ...], **kwargs: Any) -> serializers.ChoiceField:
    # the message names the choices, not the value given: a connection body carries
    # secrets, and an error never echoes what was sent
    return serializers.ChoiceField(
        choices=values, error_messages={"invalid_choice": f"not one of {', '.join(values)}"},
        **kwargs)


class ConnectionHealthOut(serializers.Serializer):
    status = serializers.CharField(source="health_status")
    circuit = serializers.CharField()
    lastCheckAt = serializers.DateTimeField(source="last_check_at", allow_null=True)
    lastLatencyMs = serializers.IntegerField(source="last_latency_ms", allow_null=True)
    lastError = serializers.CharField(source="last_error", allow_blank=True)


class ConnectionOut(serializers.ModelSerializer):
    apiType = serializers.CharField(source="api_type")
    baseUrl = serializers.SerializerMethodField()
    wsUrl = serializers.SerializerMethodField()
    isActive = serializers.BooleanField(source="is_active")
    apiKeyLast4 = serializers.CharField(source="api_key_last4")
    hasPassphrase = serializers.BooleanField(source="has_passphrase")
    volumeFactorLive = serializers.DecimalField(source="state.volume_factor_live",
                                                max_digits=12, decimal_places=6)
    volumeFactorPreset = serializers.DecimalField(source="state.volume_factor_preset",
                                                  max_digits=12, decimal_places=6)
    maxOrderNotional = serializers.DecimalField(source="max_order_notional", max_digits=24,
                                                decimal_places=8, allow_null=True,
                                                normalize_output=True)
    maxOpenOrders = serializers.IntegerField(source="max_open_orders", allow_null=True)
    priceBandPercent = serializers.DecimalField(source="price_band_percent", max_digits=6,
                                                decimal_places=2, allow_null=True,
                                                normalize_output=True)
    health = ConnectionHealthOut(source="state")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = ExchangeConnection
        fields = ["id", "name", "exchange", "apiType", "environment", "baseUrl", "wsUrl",
                  "enabled", "isActive", "apiKeyLast4", "hasPassphrase", "volumeFactorLive",
                  "volumeFactorPreset", "maxOrderNotional", "maxOpenOrders",
                  "priceBandPercent", "health", "createdAt", "updatedAt"]

    def get_baseUrl(self, connection: ExchangeConnection) -> str:
        if connection.environment == "paper" and not connection.base_url:
            return paper_base_url(connection.exchange)
        return connection.base_url

    def get_wsUrl(self, connection: ExchangeConnection) -> str:
        if connection.environment == "paper" and not connection.ws_url:
            return paper_ws_url(connection.exchange)
        return connection.ws_url


class ConnectionWrite(StrictSerializer):
    """Create; PATCH uses it with partial=True. ``exchange`` is refused on PATCH by the
    service, so the error names the rule rather than an unknown field."""

    name = StrictCharField(max_length=100, min_length=1, trim_whitespace=True)
    exchange = _choice(EXCHANGES)
    apiType = _choice(API_TYPES, source="api_type")
    environment = _choice(ENVIRONMENTS)
    # which hosts a URL may name depends on the exchange and environment: the service
    # checks them (connections.services._check_urls)
    baseUrl = StrictCharField(source="base_url", max_length=255, required=False,
                              allow_blank=True)
    wsUrl = StrictCharField(source="ws_url", max_length=255, required=False,
                            allow_blank=True)
    apiKey = StrictCharField(source="api_key", max_length=256, required=False,
                             write_only=True, trim_whitespace=True)
    apiSecret = StrictCharField(source="api_secret", max_length=512, required=False,
                                write_only=True, trim_whitespace=True)
    passphrase = StrictCharField(max_length=128, required=False, write_only=True,
                                 allow_blank=True, trim_whitespace=True)
    enabled = StrictBooleanField(required=False)
    volumeFactorLive = StrictDecimalField(source="volume_factor_live", max_digits=12,
                                          decimal_places=6, required=False)
    volumeFactorPreset = StrictDecimalField(source="volume_factor_preset", max_digits=12,
                                            decimal_places=6, required=False)

    maxOrderNotional = StrictDecimalField(source="max_order_notional", max_digits=24,
                                          decimal_places=8, required=False, allow_null=True,
                                          min_value=Decimal("0.00000001"))
    maxOpenOrders = serializers.IntegerField(source="max_open_orders", required=False,
                                             allow_null=True, min_value=1, max_value=100000)
    priceBandPercent = StrictDecimalField(source="price_band_percent", max_digits=6,
                                          decimal_places=2, required=False, allow_null=True,
                                          min_value=Decimal("0.01"), max_value=Decimal("100"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("volume_factor_live", "volume_factor_preset"):
            if name in attrs and not (0 < attrs[name] <= 100):
                api_name = "volumeFactorLive" if name.endswith("live") else "volumeFactorPreset"
                raise serializers.ValidationError(
                    {api_name: ["must be greater than 0 and at most 100"]})
        return attrs


class ConnectionFilters(StrictSerializer):
    exchange = _choice(EXCHANGES, required=False)
    apiType = _choice(API_TYPES, source="api_type", required=False)
    environment = _choice(ENVIRONMENTS, required=False)
    isActive = serializers.BooleanField(source="is_active", required=False, allow_null=True,
                                        default=None)
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data: Any) -> Any:
        for name in ("isActive", "enabled"):
            value = data.get(name)
            if value is not None and value not in ("true", "false"):
                raise serializers.ValidationError({name: ["use true or false"]})
        return super().to_internal_value(data)


class ConnectionListOut(serializers.Serializer):
    success = serializers.BooleanField()
    count = serializers.IntegerField()
    filters = serializers.DictField()
    connections = ConnectionOut(many=True)


class ConnectionEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    connection = ConnectionOut()


class SuccessOut(serializers.Serializer):
    success = serializers.BooleanField()


class TokenIn(StrictSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    success = serializers.BooleanField()
    token = serializers.CharField()


class BatchTestIn(StrictSerializer):
    connectionIds = serializers.ListField(child=StrictCharField(max_length=64))

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = StrictBooleanField(required=False, default=False)  # a keyword
        return fields


class TestResultError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class TestResultOut(serializers.Serializer):
    connectionId = serializers.CharField()
    success = serializers.BooleanField()
    latencyMs = serializers.IntegerField(allow_null=True)
    serverTimeOffsetMs = serializers.IntegerField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    error = TestResultError(allow_null=True)
    testedAt = serializers.CharField(allow_null=True)


class TestEnvelope(serializers.Serializer):
    success = serializers.BooleanField()
    result = TestResultOut()


class BatchOut(serializers.Serializer):
    success = serializers.BooleanField()
    batchId = serializers.CharField()
    status = serializers.CharField()
    totalConnections = serializers.IntegerField()
    completed = serializers.IntegerField()
    successful = serializers.IntegerField()
    failed = serializers.IntegerField()
    duration = serializers.IntegerField()
    results = serializers.DictField(child=TestResultOut())


class HealthOut(serializers.Serializer):
    connectionId = serializers.CharField()
    name = serializers.CharField()
    exchange = serializers.CharField()
    status = serializers.CharField()
    circuit = serializers.CharField()
    lastCheckAt = serializers.DateTimeField(allow_null=True)
    averageResponseTimeMs = serializers.IntegerField(allow_null=True)
    successCount = serializers.IntegerField()
    errorCount = serializers.IntegerField()
    uptimePercent24h = serializers.FloatField(allow_null=True)
    rateLimitUsagePercent = serializers.FloatField()


class HealthSummaryOut(serializers.Serializer):
    total = serializers.IntegerField()
    healthy = serializers.IntegerField()
    degraded = serializers.IntegerField()
    unhealthy = serializers.IntegerField()
    unknown = serializers.IntegerField()
    averageUptimePercent = serializers.FloatField(allow_null=True)
    averageResponseTimeMs = serializers.IntegerField(allow_null=True)


class RateWindowOut(serializers.Serializer):
    """One window of a pool: units counted now against its ceiling."""

    name = serializers.CharField()
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    seconds = serializers.FloatField()
    percent = serializers.FloatField()


class RatePoolOut(serializers.Serializer):
    """One destination pool (REST host group, and product pool) seen from one egress."""

    egress = serializers.CharField()
    destination = serializers.CharField()
    usagePercent = serializers.FloatField()
    weightLastMinute = serializers.IntegerField()
    inFlight = serializers.IntegerField()
    concurrent = serializers.IntegerField()
    pausedForSeconds = serializers.FloatField()
    windows = RateWindowOut(many=True)


class ExchangeUsageOut(serializers.Serializer):
    """Budgets belong to destination pools (an exchange's REST host group seen from one
    egress): usagePercent is the fullest window's, the rest are over all pools."""

    usagePercent = serializers.FloatField()
    weightLastMinute = serializers.IntegerField()
    inFlight = serializers.IntegerField()
    pausedForSeconds = serializers.FloatField()
    destinations = serializers.IntegerField()
    pools = RatePoolOut(many=True)


class HealthListOut(serializers.Serializer):
    success = serializers.BooleanField()
    summary = HealthSummaryOut()
    connections = HealthOut(many=True)
    rateLimits = serializers.DictField(child=ExchangeUsageOut())


class BalanceOut(serializers.Serializer):
    asset = serializers.CharField()
    free = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=True,
                                    normalize_output=True)
    locked = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=True,
                                      normalize_output=True)
    total = serializers.DecimalField(max_digits=40, decimal_places=18, coerce_to_string=True,
                                     normalize_output=True)


class PositionOut(serializers.Serializer):
    symbol = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=40, decimal_places=18, normalize_output=True)
    entryPrice = serializers.DecimalField(source="entry_price", max_digits=40,
                                          decimal_places=18, allow_null=True,
                                          normalize_output=True)
    leverage = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True,
                                        normalize_output=True)
    unrealizedPnl = serializers.DecimalField(source="unrealized_pnl", max_digits=40,
                                             decimal_places=18, allow_null=True,
                                             normalize_output=True)
    markPrice = serializers.DecimalField(source="mark_price", max_digits=40,
                                         decimal_places=18, allow_null=True,
                                         normalize_output=True)


class ExchangeOrderOut(serializers.Serializer):
    symbol = serializers.CharField()
    clientOrderId = serializers.CharField(source="client_order_id", allow_null=True)
    exchangeOrderId = serializers.CharField(source="exchange_order_id")
    status = serializers.CharField()
    side = serializers.CharField()
    type = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=40, decimal_places=18, normalize_output=True)
    filledQuantity = serializers.DecimalField(source="filled_quantity", max_digits=40,
                                              decimal_places=18, normalize_output=True)
    price = serializers.DecimalField(max_digits=40, decimal_places=18, allow_null=True,
                                     normalize_output=True)
    averagePrice = serializers.DecimalField(source="average_price", max_digits=40,
                                            decimal_places=18, allow_null=True,
                                            normalize_output=True)
