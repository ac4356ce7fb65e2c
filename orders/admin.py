"""Orders in the operators' console: read-only rows, their events, and a cancel action that
goes through orders.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_display import decimal_column, readonly_columns
from core.errors import ServiceError
from orders.models import Fill, Order, OrderEvent
from orders.services import order_cancel


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "source", "data")
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    # status early and decimals plain: the status column stays in view at 1400 px
    list_display = ("created_at", "status", "flagged", "connection", "symbol", "side", "type",
                    decimal_column("quantity"), decimal_column("price"),
                    decimal_column("filled_quantity", "filled"), "client_order_id")
    list_filter = ("status", "flagged", "side", "type", "connection__exchange")
    search_fields = ("client_order_id", "exchange_order_id", "symbol", "owner__username")
    list_select_related = ("connection", "owner")
    inlines = (OrderEventInline,)
    actions = ("cancel_selected",)

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
        for order in queryset:
            try:
                order_cancel(order=order, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, f"{order.client_order_id}: {exc.message}",
                                  messages.WARNING)


@admin.register(Fill)
class FillAdmin(admin.ModelAdmin):
    list_display = ("traded_at", "connection", "symbol", "side", decimal_column("quantity"),
                    decimal_column("price"), decimal_column("fee"), "fee_asset", "liquidity",
                    "trade_id", "order")
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
