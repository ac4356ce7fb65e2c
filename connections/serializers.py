"""API shapes for connections: camelCase keys, secrets write-only, decimals as strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from connections.dead_man import dead_man_view
from connections.models import (
    STREAM_STATES,
    TRADING_STATES,
    CircuitState,
    ExchangeConnection,
    HealthStatus,
)
from connections.paper import paper_base_url, paper_ws_url
from connections.selectors import connection_stream, max_batch_size
from connections.services import ConnectionChanges, ConnectionSpec
from core.fields import (
    UUID_PATTERN,
    StrictBooleanField,
    StrictCharField,
    StrictDecimalField,
    StrictIntegerField,
    StrictSerializer,
    StrictUUIDField,
)
from core.schema import ConstantBooleanField
from exchanges.capabilities import API_TYPES, ENVIRONMENTS, EXCHANGES

# A URL's shape (the serializer and the schema): scheme, host name or bracketed IPv6
# literal, optional port, optional path of letters, digits and . _ ~ - (blank, the
# default URLs, is allowed beside it). Which hosts are allowed the service judges: 422.
_URL_REST = (
    r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9._~-]*)*"
)
BASE_URL_PATTERN = rf"^https?://{_URL_REST}$"
WS_URL_PATTERN = rf"^wss?://{_URL_REST}$"


def _choice(values: tuple[str, ...], **kwargs: Any) -> serializers.ChoiceField:
    # the message names the choices, not the value given: a connection body carries
    # secrets, and an error never echoes what was sent
    return serializers.ChoiceField(
        choices=values,
        error_messages={"invalid_choice": f"not one of {', '.join(values)}"},
        **kwargs,
    )


class ConnectionHealthOut(serializers.Serializer):
    status = serializers.ChoiceField(source="health_status", choices=HealthStatus.values)
    circuit = serializers.ChoiceField(choices=CircuitState.values)
    lastCheckAt = serializers.DateTimeField(source="last_check_at", allow_null=True)
    lastLatencyMs = serializers.IntegerField(source="last_latency_ms", allow_null=True)
    lastError = serializers.CharField(source="last_error", allow_blank=True)


class StreamOut(serializers.Serializer):
    """The connection's private stream (the live session): null where the exchange has
    none. ``holder`` is the stream runner holding the connection's lease."""

    state = serializers.ChoiceField(choices=STREAM_STATES)
    since = serializers.DateTimeField(allow_null=True)
    reconnects = serializers.IntegerField(min_value=0)
    lastMessageAgeMs = serializers.IntegerField(
        source="last_message_age_ms", allow_null=True, min_value=0
    )
    holder = serializers.CharField(allow_null=True)
    snapshotAt = serializers.DateTimeField(
        source="snapshot_at",
        allow_null=True,
        help_text="when the last REST snapshot was reconciled (every (re)connect)",
    )
    lastError = serializers.CharField(source="last_error", allow_blank=True)


# renders a connections.dead_man.DeadManStatus
class DeadManOut(serializers.Serializer):
    """The connection's dead-man switch (docs/dead-man-switch.md)."""

    enabled = serializers.BooleanField()
    seconds = serializers.IntegerField(allow_null=True)
    armed = serializers.BooleanField()
    armedUntil = serializers.DateTimeField(source="armed_until", allow_null=True)
    supported = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=["countdown", "disconnect"], allow_null=True)
    minSeconds = serializers.IntegerField(source="min_seconds", allow_null=True)
    maxSeconds = serializers.IntegerField(source="max_seconds", allow_null=True)
    lastError = serializers.CharField(source="last_error", allow_null=True)


class ConnectionOut(serializers.ModelSerializer):
    apiType = serializers.ChoiceField(source="api_type", choices=API_TYPES)
    baseUrl = serializers.SerializerMethodField()
    wsUrl = serializers.SerializerMethodField()
    isActive = serializers.BooleanField(source="is_active")
    tradingState = serializers.ChoiceField(source="trading_state", choices=TRADING_STATES)
    apiKeyLast4 = serializers.CharField(source="api_key_last4")
    hasPassphrase = serializers.BooleanField(source="has_passphrase")
    volumeFactorLive = serializers.DecimalField(
        source="state.volume_factor_live", max_digits=12, decimal_places=6
    )
    volumeFactorPreset = serializers.DecimalField(
        source="state.volume_factor_preset", max_digits=12, decimal_places=6
    )
    maxOrderNotional = serializers.DecimalField(
        source="max_order_notional",
        max_digits=24,
        decimal_places=8,
        allow_null=True,
        normalize_output=True,
    )
    maxOpenOrders = serializers.IntegerField(source="max_open_orders", allow_null=True)
    priceBandPercent = serializers.DecimalField(
        source="price_band_percent",
        max_digits=6,
        decimal_places=2,
        allow_null=True,
        normalize_output=True,
    )
    health = ConnectionHealthOut(source="state")
    stream = serializers.SerializerMethodField()
    deadManSwitch = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = ExchangeConnection
        fields = [
            "id",
            "name",
            "exchange",
            "apiType",
            "environment",
            "baseUrl",
            "wsUrl",
            "enabled",
            "isActive",
            "tradingState",
            "apiKeyLast4",
            "hasPassphrase",
            "volumeFactorLive",
            "volumeFactorPreset",
            "maxOrderNotional",
            "maxOpenOrders",
            "priceBandPercent",
            "health",
            "stream",
            "deadManSwitch",
            "createdAt",
            "updatedAt",
        ]

    @extend_schema_field(StreamOut(allow_null=True))
    def get_stream(self, connection: ExchangeConnection) -> dict[str, Any] | None:
        stream = connection_stream(connection=connection)
        return None if stream is None else StreamOut(stream).data

    @extend_schema_field(DeadManOut)
    def get_deadManSwitch(self, connection: ExchangeConnection) -> dict[str, Any]:
        return DeadManOut(dead_man_view(connection)).data

    def get_baseUrl(self, connection: ExchangeConnection) -> str:
        if connection.environment == "paper" and not connection.base_url:
            return paper_base_url(connection.exchange)
        return connection.base_url

    def get_wsUrl(self, connection: ExchangeConnection) -> str:
        if connection.environment == "paper" and not connection.ws_url:
            return paper_ws_url(connection.exchange)
        return connection.ws_url


# the request fields that carry secrets (views mask them in Django's error reports)
SECRET_INPUTS = ("apiKey", "apiSecret", "passphrase")


class ConnectionWrite(StrictSerializer):
    """Create a connection. What the exchange offers (apiType, environment), which hosts a
    URL may name and which credentials a connection needs are the service's rules (a 422
    that names the field): they depend on the exchange and the environment together."""

    name = StrictCharField(max_length=100, min_length=1)
    exchange = _choice(EXCHANGES)
    apiType = _choice(API_TYPES, source="api_type")
    environment = _choice(ENVIRONMENTS)
    baseUrl = StrictCharField(
        source="base_url",
        max_length=255,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        pattern=BASE_URL_PATTERN,
    )
    wsUrl = StrictCharField(
        source="ws_url",
        max_length=255,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        pattern=WS_URL_PATTERN,
    )
    apiKey = StrictCharField(source="api_key", max_length=256, required=False, write_only=True)
    apiSecret = StrictCharField(
        source="api_secret", max_length=512, required=False, write_only=True
    )
    passphrase = StrictCharField(max_length=128, required=False, write_only=True, allow_blank=True)
    enabled = StrictBooleanField(required=False)
    # 0 < factor <= 100
    volumeFactorLive = StrictDecimalField(
        source="volume_factor_live", whole_digits=3, decimal_places=6, at_most=100, required=False
    )
    volumeFactorPreset = StrictDecimalField(
        source="volume_factor_preset", whole_digits=3, decimal_places=6, at_most=100, required=False
    )
    maxOrderNotional = StrictDecimalField(
        source="max_order_notional",
        whole_digits=16,
        decimal_places=8,
        required=False,
        allow_null=True,
    )
    maxOpenOrders = StrictIntegerField(
        source="max_open_orders", required=False, allow_null=True, min_value=1, max_value=100000
    )
    priceBandPercent = StrictDecimalField(
        source="price_band_percent",
        whole_digits=3,
        decimal_places=2,
        at_most=100,
        required=False,
        allow_null=True,
    )

    def spec(self) -> ConnectionSpec:
        """The validated body as the service takes it."""
        return ConnectionSpec(**self.validated_data)


EXCHANGE_IS_FIXED = "the exchange of a connection cannot change; create a new connection instead"


class ConnectionUpdate(ConnectionWrite):
    """PATCH: any field of a new connection but the exchange, which cannot change; and the
    dead-man switch's window (null: off), whose range is the exchange's (the service's 422
    ``dead_man_window_out_of_range``; 422 ``dead_man_not_supported`` where it has none)."""

    deadManSeconds = StrictIntegerField(
        source="dead_man_seconds", required=False, allow_null=True, min_value=1, max_value=3600
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        del fields["exchange"]
        return fields

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "exchange" in data:
            raise serializers.ValidationError({"exchange": [EXCHANGE_IS_FIXED]})
        return super().to_internal_value(data)

    def changes(self) -> ConnectionChanges:
        """The validated fields as the service takes them (the others stay as they are)."""
        return ConnectionChanges(**self.validated_data)


class ConnectionFilters(StrictSerializer):
    exchange = _choice(EXCHANGES, required=False)
    apiType = _choice(API_TYPES, source="api_type", required=False)
    environment = _choice(ENVIRONMENTS, required=False)
    isActive = serializers.BooleanField(
        source="is_active", required=False, allow_null=True, default=None
    )
    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data: Any) -> Any:
        for name in ("isActive", "enabled"):
            value = data.get(name)
            if value is not None and value not in ("true", "false"):
                raise serializers.ValidationError({name: ["use true or false"]})
        return super().to_internal_value(data)


class AppliedFiltersOut(serializers.Serializer):
    """The list's filters as applied: every one, null when absent."""

    exchange = serializers.ChoiceField(choices=EXCHANGES, allow_null=True)
    apiType = serializers.ChoiceField(choices=API_TYPES, allow_null=True)
    environment = serializers.ChoiceField(choices=ENVIRONMENTS, allow_null=True)
    isActive = serializers.BooleanField(allow_null=True)
    enabled = serializers.BooleanField(allow_null=True)


@extend_schema_serializer(many=False)
class ConnectionListOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    count = serializers.IntegerField(min_value=0)
    filters = AppliedFiltersOut()
    connections = ConnectionOut(many=True)


class ConnectionEnvelope(serializers.Serializer):
    success = ConstantBooleanField(True)
    connection = ConnectionOut()


class TradingStateIn(StrictSerializer):
    state = _choice(
        TRADING_STATES,
        help_text="active: every order; reduce_only: only "
        "orders that reduce a position (reduceOnly: true; on spot, a sell); "
        "halted: no new order is sent.",
    )
    cancelOpenOrders = StrictBooleanField(
        source="cancel_open_orders",
        required=False,
        default=False,
        help_text="With state halted only: cancel the connection's open orders too.",
    )


class TokenIn(StrictSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    token = serializers.CharField()


@extend_schema_field(
    {
        "type": "array",
        "minItems": 1,
        "maxItems": settings.BATCH_MAX_SIZE,
        "uniqueItems": True,
        "items": {"type": "string", "format": "uuid", "pattern": UUID_PATTERN},
        "description": "Ids of your own connections, each once (ids compare case-insensitively).",
    }
)
class ConnectionIdsField(serializers.ListField):
    """1..BATCH_MAX_SIZE connection ids; repeats and unknown ids are the service's 400/404.
    The limit is read as each field is built (DRF builds its declared fields anew for each
    serializer instance)."""

    def __init__(self, **kwargs: Any) -> None:
        most = max_batch_size()
        super().__init__(
            child=StrictUUIDField(),
            min_length=1,
            max_length=most,
            error_messages={
                "min_length": "give at least one connection id",
                "max_length": f"at most {most} connections per batch",
            },
            **kwargs,
        )

    def to_internal_value(self, data: Any) -> list[str]:
        return [str(value) for value in super().to_internal_value(data)]


class BatchTestIn(StrictSerializer):
    connectionIds = ConnectionIdsField(source="connection_ids")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["async"] = StrictBooleanField(required=False, default=False)  # a keyword
        return fields


class TestResultError(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class UtcTimestampField(serializers.CharField):
    """A time as ISO 8601 in UTC with a Z and every digit the clock gave
    (2026-11-20T10:01:02.345678Z); a plain string in the schema."""

    def to_representation(self, value: datetime) -> str:  # type: ignore[override]
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class KeyOut(serializers.Serializer):
    """What the exchange says of the API key (null where the test read none)."""

    permissions = serializers.SerializerMethodField()
    ipRestricted = serializers.BooleanField(
        source="ip_restricted",
        allow_null=True,
        help_text="bound to IP addresses; null where the exchange does not report it",
    )
    expiresAt = UtcTimestampField(
        source="expires_at",
        allow_null=True,
        help_text="when the key expires; null where the exchange reports no expiry",
    )

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_permissions(self, key: Any) -> list[str]:
        return sorted(key.permissions)


# renders a connections.results.TestResult (a docstring would be the schema's description)
class TestResultOut(serializers.Serializer):
    connectionId = serializers.CharField(source="connection_id")
    success = serializers.BooleanField()
    latencyMs = serializers.IntegerField(source="latency_ms", allow_null=True)
    serverTimeOffsetMs = serializers.IntegerField(source="server_time_offset_ms", allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    error = TestResultError(allow_null=True)
    testedAt = UtcTimestampField(source="tested_at", allow_null=True)
    key = KeyOut(allow_null=True)


class TestEnvelope(serializers.Serializer):
    success = ConstantBooleanField(True)
    result = TestResultOut()


# renders a connections.results.BatchStatus (a docstring would be the schema's description)
class BatchOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    batchId = serializers.CharField(source="batch_id")
    status = serializers.ChoiceField(choices=("running", "completed"))
    totalConnections = serializers.IntegerField(source="total_connections", min_value=1)
    completed = serializers.IntegerField(min_value=0)
    successful = serializers.IntegerField(min_value=0)
    failed = serializers.IntegerField(min_value=0)
    duration = serializers.IntegerField(
        source="duration_ms", help_text="milliseconds since the batch was created"
    )
    queuedMs = serializers.IntegerField(
        source="queued_ms",
        allow_null=True,
        help_text="milliseconds the batch waited for a worker; null until one took it",
    )
    results = serializers.DictField(
        child=TestResultOut(),
        help_text="connection id -> TestResult, for the connections tested so far",
    )


class NumberField(serializers.FloatField):
    """A number as the domain gives it: an int stays an int (a window of 10 s is ``10``,
    not ``10.0``); a number in the schema all the same."""

    def to_representation(self, value: Any) -> Any:
        return value


# renders a connections.selectors.ConnectionHealth
class HealthOut(serializers.Serializer):
    connectionId = serializers.CharField(source="connection_id")
    name = serializers.CharField()
    exchange = serializers.CharField()
    status = serializers.CharField()
    circuit = serializers.CharField()
    lastCheckAt = serializers.DateTimeField(source="last_check_at", allow_null=True)
    averageResponseTimeMs = serializers.IntegerField(
        source="average_response_time_ms", allow_null=True
    )
    successCount = serializers.IntegerField(source="success_count")
    errorCount = serializers.IntegerField(source="error_count")
    uptimePercent24h = serializers.FloatField(source="uptime_percent_24h", allow_null=True)
    rateLimitUsagePercent = serializers.FloatField(source="rate_limit_usage_percent")
    stream = StreamOut(allow_null=True)
    deadManSwitch = DeadManOut(source="dead_man_switch")


# renders a connections.selectors.HealthSummary
class HealthSummaryOut(serializers.Serializer):
    total = serializers.IntegerField()
    healthy = serializers.IntegerField()
    degraded = serializers.IntegerField()
    unhealthy = serializers.IntegerField()
    unknown = serializers.IntegerField()
    averageUptimePercent = serializers.FloatField(source="average_uptime_percent", allow_null=True)
    averageResponseTimeMs = serializers.IntegerField(
        source="average_response_time_ms", allow_null=True
    )


class RateWindowOut(serializers.Serializer):
    """One window of a pool: units counted now against its ceiling."""

    name = serializers.CharField()
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    seconds = NumberField()
    percent = serializers.FloatField()


class RatePoolOut(serializers.Serializer):
    """One destination pool (REST host group, and product pool) seen from one egress."""

    egress = serializers.CharField()
    destination = serializers.CharField()
    usagePercent = serializers.FloatField(source="usage.busiest_percent")
    weightLastMinute = serializers.IntegerField(source="usage.weight_last_minute")
    inFlight = serializers.IntegerField(source="usage.in_flight")
    concurrent = serializers.IntegerField(source="usage.concurrent")
    pausedForSeconds = serializers.FloatField(source="usage.paused_for_seconds")
    windows = RateWindowOut(source="usage.windows", many=True)


class ExchangeUsageOut(serializers.Serializer):
    """Budgets belong to destination pools (an exchange's REST host group seen from one
    egress): usagePercent is the fullest window's, the rest are over all pools."""

    usagePercent = serializers.FloatField(source="busiest_percent_of_minute")
    weightLastMinute = serializers.IntegerField(source="weight_last_minute")
    inFlight = serializers.IntegerField(source="in_flight")
    pausedForSeconds = serializers.FloatField(source="paused_for_seconds")
    destinations = serializers.IntegerField()
    pools = RatePoolOut(many=True)


# renders a connections.selectors.HealthList
class HealthListOut(serializers.Serializer):
    success = ConstantBooleanField(True)
    summary = HealthSummaryOut()
    connections = HealthOut(many=True)
    rateLimits = serializers.DictField(source="rate_limits", child=ExchangeUsageOut())


ACCOUNT_SOURCES = ("ledger", "exchange")


def _amount(**options: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=40, decimal_places=18, normalize_output=True, **options
    )


class BalanceOut(serializers.Serializer):
    asset = serializers.CharField()
    free = _amount(
        coerce_to_string=True,
        allow_null=True,
        help_text="available for new orders; null when the live stream told only "
        "the wallet balance (Binance USD-M, BingX swap)",
    )
    locked = _amount(coerce_to_string=True, allow_null=True)
    total = _amount(coerce_to_string=True, allow_null=True)
    asOf = serializers.DateTimeField(
        source="as_of",
        help_text="when the exchange's figure was last told (stream update or REST read)",
    )
    ageMs = serializers.IntegerField(source="age_ms", min_value=0)


class PositionOut(serializers.Serializer):
    symbol = serializers.CharField()
    quantity = _amount()
    entryPrice = _amount(source="entry_price", allow_null=True)
    leverage = _amount(allow_null=True)
    unrealizedPnl = _amount(source="unrealized_pnl", allow_null=True)
    markPrice = _amount(
        source="mark_price",
        allow_null=True,
        help_text="null from the ledger (the streams carry none)",
    )
    asOf = serializers.DateTimeField(source="as_of")
    ageMs = serializers.IntegerField(source="age_ms", min_value=0)


class AccountReadFields(serializers.Serializer):
    success = ConstantBooleanField(True)
    # "source" is a key of the answer (DRF's metaclass moves declared fields off the class)
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=ACCOUNT_SOURCES,
        help_text="ledger: the live stream's; exchange: read from the exchange now",
    )
    asOf = serializers.DateTimeField(
        source="as_of",
        help_text="known true as of: the read, or the live stream's last message or heartbeat",
    )
    ageMs = serializers.IntegerField(source="age_ms", min_value=0)


class BalancesOut(AccountReadFields):
    balances = BalanceOut(many=True)


class PositionsOut(AccountReadFields):
    positions = PositionOut(many=True)


class ExchangeOrderOut(serializers.Serializer):
    symbol = serializers.CharField()
    clientOrderId = serializers.CharField(source="client_order_id", allow_null=True)
    exchangeOrderId = serializers.CharField(source="exchange_order_id")
    status = serializers.CharField()
    side = serializers.CharField()
    type = serializers.CharField()
    quantity = serializers.DecimalField(max_digits=40, decimal_places=18, normalize_output=True)
    filledQuantity = serializers.DecimalField(
        source="filled_quantity", max_digits=40, decimal_places=18, normalize_output=True
    )
    price = serializers.DecimalField(
        max_digits=40, decimal_places=18, allow_null=True, normalize_output=True
    )
    averagePrice = serializers.DecimalField(
        source="average_price",
        max_digits=40,
        decimal_places=18,
        allow_null=True,
        normalize_output=True,
    )


# the parts of a connections.selectors.SystemStatus
class StatusConnectionsOut(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    active = serializers.IntegerField(min_value=0)
    enabled = serializers.IntegerField(min_value=0)
    byExchange = serializers.DictField(
        source="by_exchange", child=serializers.IntegerField(min_value=0)
    )


class StatusHealthOut(serializers.Serializer):
    healthy = serializers.IntegerField(min_value=0)
    degraded = serializers.IntegerField(min_value=0)
    unhealthy = serializers.IntegerField(min_value=0)
    unknown = serializers.IntegerField(min_value=0)
    uptimePercent24h = serializers.FloatField(source="uptime_percent_24h", allow_null=True)


class StatusMetricsOut(serializers.Serializer):
    totalRequests = serializers.IntegerField(source="total_requests", min_value=0)
    successRate = serializers.FloatField(source="success_rate", allow_null=True)
    averageResponseTime = serializers.IntegerField(source="average_response_time", allow_null=True)


class StatusBatchOut(serializers.Serializer):
    running = serializers.IntegerField(min_value=0)
    maxBatchSize = serializers.IntegerField(source="max_batch_size")
    maxConcurrent = serializers.IntegerField(source="max_concurrent")


class StatusFeaturesOut(serializers.Serializer):
    exchanges = serializers.DictField(
        child=serializers.DictField(),
        help_text="exchange -> its capabilities (apiTypes, environments, transports)",
    )


class SystemStatusOut(serializers.Serializer):
    """Totals for the caller (staff: everyone's)."""

    status = serializers.ChoiceField(choices=("ok", "degraded", "down"))
    connections = StatusConnectionsOut()
    health = StatusHealthOut()
    metrics = StatusMetricsOut()
    batch = StatusBatchOut()
    features = StatusFeaturesOut(source="*")  # {exchanges}: the SystemStatus's matrix
