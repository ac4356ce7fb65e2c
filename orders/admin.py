"""Orders in the operators' console: read-only rows, their events, and a cancel action that
goes through orders.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import ServiceError
from core.users import caller
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
    list_display = ("created_at", "connection", "symbol", "side", "type", "quantity", "price",
                    "status", "filled_quantity", "flagged", "client_order_id")
    list_filter = ("status", "flagged", "side", "type", "connection__exchange")
    search_fields = ("client_order_id", "exchange_order_id", "symbol", "owner__username")
    list_select_related = ("connection", "owner")
    inlines = (OrderEventInline,)
    actions = ("cancel_selected",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Order._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel the selected orders")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            try:
                order_cancel(order=order, actor=caller(request))
            except ServiceError as exc:
                self.message_user(request, f"{order.client_order_id}: {exc.message}",
                                  messages.WARNING)


@admin.register(Fill)
class FillAdmin(admin.ModelAdmin):
    list_display = ("traded_at", "connection", "symbol", "side", "quantity", "price", "fee",
                    "fee_asset", "liquidity", "trade_id", "order")
    list_filter = ("liquidity", "side", "source", "connection__exchange")
    search_fields = ("trade_id", "exchange_order_id", "client_order_id", "symbol")
    list_select_related = ("connection", "order")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in Fill._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
