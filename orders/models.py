"""Orders and their events. Status changes only through orders.services.order_transition."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from connections.models import ExchangeConnection
from core.admin_display import plain_decimal

STATUSES = (
    "pending",
    "submitting",
    "open",
    "partially_filled",
    "filled",
    "canceled",
    "rejected",
    "expired",
    "failed",
    "unknown",
)
TERMINAL = frozenset({"filled", "canceled", "rejected", "expired", "failed"})
SIDES = ("buy", "sell")
TYPES = ("market", "limit")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "POST_ONLY")
EVENT_SOURCES = ("api", "task", "reconcile", "stream")
LIQUIDITIES = ("maker", "taker", "unknown")


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(value, value) for value in values]


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.PROTECT, related_name="orders"
    )
    client_order_id = models.CharField(max_length=64)
    # null, not "": the unique constraint holds only among orders that carry a key
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64)
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=_choices(SIDES))
    type = models.CharField(max_length=8, choices=_choices(TYPES))
    requested_quantity = models.DecimalField(max_digits=36, decimal_places=18)
    volume_factor_source = models.CharField(max_length=8, default="live")  # live | preset
    volume_factor = models.DecimalField(max_digits=12, decimal_places=6)
    quantity = models.DecimalField(max_digits=36, decimal_places=18)
    price = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    time_in_force = models.CharField(max_length=10, choices=_choices(TIME_IN_FORCE), default="GTC")
    reduce_only = models.BooleanField(default=False)
    leverage = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=_choices(STATUSES), default="pending")
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    filled_quantity = models.DecimalField(max_digits=36, decimal_places=18, default=0)
    average_price = models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    # exchange time (ms) after which the last send can no longer be accepted
    submit_deadline_ms = models.BigIntegerField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # when a lookup first found nothing since the last send (the two-lookup rule)
    missed_at = models.DateTimeField(null=True, blank=True)
    # when reconciliation last read it back (open orders are refreshed in turn)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    flagged = models.BooleanField(default=False)  # needs an operator (reconciliation)
    flag_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "client_order_id"],
                name="order_client_id_unique_per_connection",
            ),
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique_per_owner",
            ),
            models.CheckConstraint(condition=Q(status__in=STATUSES), name="order_status_known"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(
                condition=Q(filled_quantity__gte=0) & Q(filled_quantity__lte=F("quantity")),
                name="order_filled_within_quantity",
            ),
        ]
        indexes = [
            # reconciliation: orders of one status older than a moment
            models.Index(fields=["status", "updated_at"], name="order_status_updated"),
            # the order list filtered by connection, newest first
            models.Index(fields=["connection", "-created_at"], name="order_connection_created"),
            # reconciliation: open orders, least recently refreshed first
            models.Index(fields=["status", "refreshed_at"], name="order_status_refreshed"),
            # the live session: a stream message names the order by the exchange's id
            models.Index(
                fields=["connection", "exchange_order_id"], name="order_connection_exchange_id"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.side} {plain_decimal(self.quantity)} {self.symbol} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL


class OrderEvent(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20)
    source = models.CharField(max_length=10, choices=_choices(EVENT_SOURCES))
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status} -> {self.to_status} ({self.source})"


class Fill(models.Model):
    """One trade of a connection, as the exchange reported it (stream or REST). A fill whose
    order we do not know yet is kept with ``order`` null and attached once it is known
    (orders/live.py). The order's filled quantity and average price follow from its fills."""

    connection = models.ForeignKey(
        ExchangeConnection, on_delete=models.CASCADE, related_name="fills"
    )
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, null=True, blank=True, related_name="fills"
    )
    trade_id = models.CharField(max_length=100)
    exchange_order_id = models.CharField(max_length=64, blank=True, default="")
    client_order_id = models.CharField(max_length=64, blank=True, default="")
    symbol = models.CharField(max_length=40)
    side = models.CharField(max_length=4, choices=_choices(SIDES))
    price = models.DecimalField(max_digits=36, decimal_places=18)
    quantity = models.DecimalField(max_digits=36, decimal_places=18)
    fee = models.DecimalField(max_digits=36, decimal_places=18, default=0)
    fee_asset = models.CharField(max_length=20, blank=True, default="")
    liquidity = models.CharField(max_length=8, choices=_choices(LIQUIDITIES), default="unknown")
    traded_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=_choices(EVENT_SOURCES), default="stream")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["traded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "trade_id"], name="fill_trade_id_unique_per_connection"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
            models.CheckConstraint(
                condition=Q(liquidity__in=LIQUIDITIES), name="fill_liquidity_known"
            ),
        ]
        indexes = [
            # attaching fills that arrived before their order was known
            models.Index(
                fields=["connection", "exchange_order_id"],
                condition=Q(order__isnull=True),
                name="fill_unattached",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.side} {plain_decimal(self.quantity)} {self.symbol} @ "
            f"{plain_decimal(self.price)} ({self.trade_id})"
        )
