"""Orders in the operators' console: read-only rows, their events, and a cancel action that
goes through orders.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_display import decimal_column, readonly_columns
from core.errors import ServiceError
from core.users import caller
from exchanges.errors import ExchangeError
from orders.models import Fill, Order, OrderEvent
from orders.reconcile import order_reconcile
from orders.services import order_cancel


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "source", "data")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class FillInline(admin.TabularInline):
    """The order's trades, read-only (the exchange's record)."""

    model = Fill
    extra = 0
    can_delete = False
    fields = (
        "traded_at",
        "side",
        "quantity",
        "price",
        "fee",
        "fee_asset",
        "liquidity",
        "trade_id",
        "source",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # status early and decimals plain: the status column stays in view at 1400 px
    list_display = (
        "created_at",
        "status",
        "flagged",
        "connection",
        "symbol",
        "side",
        "type",
        decimal_column("quantity"),
        decimal_column("price"),
        decimal_column("filled_quantity", "filled"),
        "client_order_id",
    )
    list_filter = (
        "status",
        "flagged",
        ("connection__exchange", admin.AllValuesFieldListFilter),
        ("connection", admin.RelatedOnlyFieldListFilter),
        "side",
        "type",
    )
    search_fields = ("client_order_id", "exchange_order_id", "symbol", "owner__username")
    list_select_related = ("connection", "owner")
    inlines = (OrderEventInline, FillInline)
    actions = ("cancel_selected", "reconcile_selected")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(Order)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(Order)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a read-only page: no Save buttons (writes are the actions)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel the selected orders")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        canceled, asked = 0, 0
        for order in queryset:
            try:
                result = order_cancel(order=order, actor=caller(request))
            except ServiceError as exc:
                self.message_user(
                    request, f"{order.client_order_id}: not canceled: {exc.message}", messages.ERROR
                )
                continue
            if result.status == "canceled":
                canceled += 1
            else:
                asked += 1
        if canceled or asked:
            self.message_user(
                request,
                f"{canceled} order(s) canceled; {asked} asked to "
                "cancel (the exchange is told; they turn canceled once it "
                "confirms).",
                messages.SUCCESS,
            )

    @admin.action(description="Reconcile the selected orders with the exchange now")
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        done = []
        for order in queryset:
            try:
                done.append(f"{order.client_order_id}: {order_reconcile(order_id=order.pk)}")
            except (ServiceError, ExchangeError) as exc:
                message = getattr(exc, "message", "") or str(exc)
                self.message_user(
                    request,
                    f"{order.client_order_id}: not reconciled: {message}"[:300],
                    messages.ERROR,
                )
        if done:
            self.message_user(request, "Reconciled: " + "; ".join(done), messages.SUCCESS)


@admin.register(Fill)
class FillAdmin(admin.ModelAdmin):
    list_display = (
        "traded_at",
        "connection",
        "symbol",
        "side",
        decimal_column("quantity"),
        decimal_column("price"),
        decimal_column("fee"),
        "fee_asset",
        "liquidity",
        "trade_id",
        "order",
    )
    list_filter = ("liquidity", "side", "source", "connection__exchange")
    search_fields = ("trade_id", "exchange_order_id", "client_order_id", "symbol")
    list_select_related = ("connection", "order")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(Fill)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return readonly_columns(Fill)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
