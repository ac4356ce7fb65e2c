"""Connections, their health state, health history and the audit log."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from exchanges.capabilities import API_TYPES, ENVIRONMENTS, EXCHANGES


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value.replace("_", " ").title()) for value in values]


class ExchangeConnection(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="exchange_connections")
    name = models.CharField(max_length=100)
    exchange = models.CharField(max_length=16, choices=_choices(EXCHANGES))
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
    # risk limits for orders (null: no limit); the price band keeps limit prices within
    # this percentage of the ticker (null: disabled)
    max_order_notional = models.DecimalField(max_digits=24, decimal_places=8, null=True,
                                             blank=True)
    max_open_orders = models.PositiveIntegerField(null=True, blank=True)
    price_band_percent = models.DecimalField(max_digits=6, decimal_places=2, null=True,
                                             blank=True, default=Decimal("5"))
    # the exchange's dead-man switch window, seconds (null: off); the exchange's range is
    # checked by connections.dead_man (docs/dead-man-switch.md)
    dead_man_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner"], condition=Q(is_active=True),
                                    name="one_active_connection_per_owner"),
            models.CheckConstraint(condition=Q(exchange__in=EXCHANGES),
                                   name="connection_exchange_known"),
            models.CheckConstraint(condition=Q(api_type__in=API_TYPES),
                                   name="connection_api_type_known"),
            models.CheckConstraint(condition=Q(environment__in=ENVIRONMENTS),
                                   name="connection_environment_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.exchange} {self.api_type} {self.environment})"

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
    connection = models.OneToOneField(ExchangeConnection, on_delete=models.CASCADE,
                                      primary_key=True, related_name="state")
    volume_factor_live = models.DecimalField(max_digits=12, decimal_places=6,
                                             default=Decimal("1"))
    volume_factor_preset = models.DecimalField(max_digits=12, decimal_places=6,
                                               default=Decimal("1"))
    test_results = models.JSONField(default=dict, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    health_status = models.CharField(max_length=16, choices=HealthStatus.choices,
                                     default=HealthStatus.UNKNOWN)
    circuit = models.CharField(max_length=16, choices=CircuitState.choices,
                               default=CircuitState.CLOSED)
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
                name="volume_factor_live_in_range"),
            models.CheckConstraint(
                condition=Q(volume_factor_preset__gt=0, volume_factor_preset__lte=100),
                name="volume_factor_preset_in_range"),
        ]

    def __str__(self) -> str:
        return f"state of {self.connection_id}"


class HealthCheck(models.Model):
    connection = models.ForeignKey(ExchangeConnection, on_delete=models.CASCADE,
                                   related_name="health_checks")
    checked_at = models.DateTimeField(db_index=True)
    kind = models.CharField(max_length=16, default="test")  # test | heartbeat | sweep
    ok = models.BooleanField()
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]
        # uptime and average latency per connection over the last 24 h
        indexes = [models.Index(fields=["connection", "-checked_at"],
                                name="healthcheck_conn_time")]

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
