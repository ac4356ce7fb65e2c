"""Connections, their health state, health history and the audit log."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from exchanges.capabilities import API_TYPES, ENVIRONMENTS, EXCHANGES, exchange_display_name

# a new connection's price band when none is given (null disables the band)
DEFAULT_PRICE_BAND_PERCENT = Decimal("5")
# what a connection may send (connections/trading.py): everything; only orders that reduce
# a position; nothing new
TRADING_STATES = ("active", "reduce_only", "halted")


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ").title()) for value in values]


EXCHANGE_CHOICES = [(name, exchange_display_name(name)) for name in EXCHANGES]


class ExchangeConnection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_connections"
    )
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=16, choices=EXCHANGE_CHOICES)
    api_type = models.CharField(max_length=24, choices=_choices(API_TYPES))
    environment = models.CharField(max_length=16, choices=_choices(ENVIRONMENTS))
    base_url = models.CharField(max_length=255, blank=True, default="")
    ws_url = models.CharField(max_length=255, blank=True, default="")
    # Fernet tokens (connections.crypto); never plaintext.
    api_key_encrypted = models.TextField(blank=True, default="")
    api_secret_encrypted = models.TextField(blank=True, default="")
    passphrase_encrypted = models.TextField(blank=True, default="")
    api_key_last4 = models.CharField(max_length=4, blank=True, default="")
    enabled = models.BooleanField(default=True)
    is_active = models.BooleanField(default=False)
    # when it last became the active one: the stale sweep's grace counts from here
    activated_at = models.DateTimeField(null=True, blank=True)
    # risk limits for orders (null: no limit); the price band keeps limit prices within
    # this percentage of the ticker (null: disabled)
    max_order_notional = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    price_band_percent = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True, default=DEFAULT_PRICE_BAND_PERCENT
    )
    # the exchange's dead-man switch window, seconds (null: off); the exchange's range is
    # checked by connections.dead_man (docs/dead-man-switch.md)
    dead_man_seconds = models.PositiveIntegerField(null=True, blank=True)
    # set only by connections.trading.connection_trading_state_set (audited)
    trading_state = models.CharField(
        max_length=16, choices=_choices(TRADING_STATES), default="active"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner"],
                condition=Q(is_active=True),
                name="one_active_connection_per_owner",
            ),
            models.CheckConstraint(
                condition=Q(exchange__in=EXCHANGES), name="connection_exchange_known"
            ),
            models.CheckConstraint(
                condition=Q(api_type__in=API_TYPES), name="connection_api_type_known"
            ),
            models.CheckConstraint(
                condition=Q(environment__in=ENVIRONMENTS), name="connection_environment_known"
            ),
            models.CheckConstraint(
                condition=Q(trading_state__in=TRADING_STATES), name="connection_trading_state_known"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.name} ({exchange_display_name(self.exchange)} {self.api_type} "
            f"{self.environment})"
        )

    @property
    def has_passphrase(self) -> bool:
        return bool(self.passphrase_encrypted)


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"


class CircuitState(models.TextChoices):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ConnectionState(models.Model):
    connection = models.OneToOneField(
        ExchangeConnection, on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    volume_factor_live = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("1"))
    volume_factor_preset = models.DecimalField(
        max_digits=12, decimal_places=6, default=Decimal("1")
    )
    test_results = models.JSONField(default=dict, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    health_status = models.CharField(
        max_length=16, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN
    )
    circuit = models.CharField(
        max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(null=True, blank=True)
    total_requests = models.PositiveBigIntegerField(default=0)
    successful_requests = models.PositiveBigIntegerField(default=0)
    failed_requests = models.PositiveBigIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_error_code = models.CharField(max_length=64, blank=True, default="")
    # the dead-man switch as last armed (connections.dead_man): until when a countdown
    # holds unless refreshed (null: not armed, or a disconnect switch), the window and the
    # symbols it was armed with, when it was last refreshed and the last error ("" if none)
    dead_man_armed_until = models.DateTimeField(null=True, blank=True)
    dead_man_armed_seconds = models.PositiveIntegerField(null=True, blank=True)
    dead_man_symbols = models.JSONField(default=list, blank=True)
    dead_man_refreshed_at = models.DateTimeField(null=True, blank=True)
    dead_man_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(volume_factor_live__gt=0, volume_factor_live__lte=100),
                name="volume_factor_live_in_range",
            ),
            models.CheckConstraint(
                condition=Q(volume_factor_preset__gt=0, volume_factor_preset__lte=100),
                name="volume_factor_preset_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"state of {self.connection_id}"


class HealthCheck(models.Model):
    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="health_checks"
    )
    checked_at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, default="test")  # test | heartbeat | sweep
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]
        # uptime and average latency per connection over the last 24 h
        indexes = [models.Index(fields=["connection", "-checked_at"], name="healthcheck_conn_time")]

    def __str__(self) -> str:
        return f"{self.connection_id} {'ok' if self.ok else 'fail'} at {self.checked_at}"


class ConnectionSyncLog(models.Model):
    """Append-only audit trail. ``connection_id`` is text so rows outlive the connection."""

    connection_id = models.CharField(max_length=36, db_index=True)
    action = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.connection_id} by {self.actor}"


# -- the live session: the ledger and the stream's state (issue 12) ---------------------------

STREAM_STATES = ("connecting", "connected", "reconnecting", "down")
LEDGER_SOURCES = ("stream", "rest")


class StreamState(models.Model):
    """The private stream of one connection as its holder last wrote it (connections/ledger.py,
    throttled). ``holder`` is the runner that holds the connection's Redis lease."""

    connection = models.OneToOneField(
        ExchangeConnection, on_delete=models.CASCADE, primary_key=True, related_name="stream_state"
    )
    state = models.CharField(max_length=16, choices=[(s, s) for s in STREAM_STATES], default="down")
    since = models.DateTimeField(null=True, blank=True)
    reconnects = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=200, blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    # when the last REST snapshot (open orders, balances, positions) was reconciled
    snapshot_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(state__in=STREAM_STATES), name="stream_state_known")
        ]

    def __str__(self) -> str:
        return f"stream of {self.connection_id}: {self.state}"


class LedgerBalance(models.Model):
    """One asset of a connection's account as last told, stream or REST. ``updated_at`` is
    the time the exchange's figure is true of: an older update never overwrites a newer."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="ledger_balances"
    )
    asset = models.CharField(max_length=20)
    free = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    locked = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    total = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    updated_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=[(s, s) for s in LEDGER_SOURCES])
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "asset"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "asset"], name="ledger_balance_unique_per_asset"
            ),
            models.CheckConstraint(
                condition=Q(source__in=LEDGER_SOURCES), name="ledger_balance_source_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} {self.total} ({self.connection_id})"


class LedgerPosition(models.Model):
    """One position of a connection (one-way: side BOTH; hedge mode: LONG and SHORT rows).
    ``quantity`` is signed, base currency: > 0 long, < 0 short, 0 flat (the row stays, so
    an older non-zero update cannot bring a closed position back)."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="ledger_positions"
    )
    symbol = models.CharField(max_length=40)
    position_side = models.CharField(max_length=8, default="BOTH")
    quantity = models.DecimalField(max_digits=36, decimal_places=18)
    entry_price = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    leverage = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    unrealized_pnl = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    updated_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=[(s, s) for s in LEDGER_SOURCES])
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "symbol", "position_side"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "symbol", "position_side"],
                name="ledger_position_unique_per_side",
            ),
            models.CheckConstraint(
                condition=Q(source__in=LEDGER_SOURCES), name="ledger_position_source_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.quantity} ({self.connection_id})"
