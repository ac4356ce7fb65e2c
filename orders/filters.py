"""The order list's filters, applied by django-filter. The query string is parsed and
refused by orders.serializers.OrderFilters first (unknown, repeated or blank parameters,
the messages docs/api.md gives); this set gets its validated values."""

from __future__ import annotations

import django_filters

from orders.models import Order


class OrderFilterSet(django_filters.FilterSet):
    connection_id = django_filters.UUIDFilter()

    class Meta:
        model = Order
        fields = ("connection_id", "status", "symbol")
