"""The connection list's filters, applied by django-filter. The query string is parsed and
refused by connections.serializers.ConnectionFilters first (unknown, repeated or blank
parameters, the messages docs/api.md gives); this set gets its validated values."""

from __future__ import annotations

import django_filters

from connections.models import ExchangeConnection


class ConnectionFilterSet(django_filters.FilterSet):
    class Meta:
        model = ExchangeConnection
        fields = ("exchange", "api_type", "environment", "is_active", "enabled")
