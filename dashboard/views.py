"""The health dashboard in the admin: the page, and the JSON its script polls.

Both adapt the request and call dashboard.selectors; the charts' geometry comes from
dashboard.charts. The JSON carries the figures and the page's live parts rendered again
(``fragments``), which dashboard.js swaps in place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse

from core.errors import ValidationFailed
from core.users import caller
from dashboard.charts import Chart, bar_chart, line_chart, usage_bars, usage_height
from dashboard.selectors import dashboard_overview

# the parts of the page the script replaces, each a template dashboard/_<name>.html
FRAGMENTS = ("summary", "exchanges", "connections")
TIME_FORMATS = {"1h": "%H:%M", "24h": "%H:%M", "7d": "%d %b"}
DEFAULT_REFRESH_SECONDS = 5


def _orders_url(**filters: str) -> str:
    return f"{reverse('admin:orders_order_changelist')}?{urlencode(filters)}"


def _health_charts(
    prefix: str, series: dict[str, list[Any]], buckets: list[Any], time_format: str, subject: str
) -> tuple[Chart, Chart]:
    latency = line_chart(
        id=f"{prefix}-latency",
        title=f"Check latency of {subject} (ms, p50 and p99)",
        unit="ms",
        buckets=buckets,
        time_format=time_format,
        series=[
            ("p50", "p50", "line-p50", series["p50"]),
            ("p99", "p99", "line-p99", series["p99"]),
        ],
    )
    errors = bar_chart(
        id=f"{prefix}-errors",
        title=f"Checks of {subject}: passed and failed",
        unit="checks",
        buckets=buckets,
        time_format=time_format,
        series=[
            ("failed", "failed", "bar-failed", series["failed"]),
            (
                "passed",
                "passed",
                "bar-passed",
                [t - f for t, f in zip(series["checks"], series["failed"], strict=True)],
            ),
        ],
    )
    return latency, errors


def _order_chart(
    prefix: str, series: dict[str, list[int]], buckets: list[Any], time_format: str, subject: str
) -> Chart:
    return bar_chart(
        id=f"{prefix}-orders",
        title=f"Orders of {subject} by outcome",
        unit="orders",
        buckets=buckets,
        time_format=time_format,
        series=[
            ("accepted", "accepted", "bar-accepted", series["accepted"]),
            ("refused", "refused", "bar-refused", series["refused"]),
            ("unknown", "unknown", "bar-unknown", series["unknown"]),
        ],
    )


def _context(overview: dict[str, Any]) -> dict[str, Any]:
    """The figures with their charts and admin links, as the templates place them."""
    buckets, time_format = overview["buckets"], TIME_FORMATS[overview["range"]]
    summary = overview["summary"]
    summary_latency, summary_checks = _health_charts(
        "all", summary["healthSeries"], buckets, time_format, "all connections"
    )
    summary_orders = _order_chart(
        "all", summary["orderSeries"], buckets, time_format, "all connections"
    )
    exchanges = [
        {
            **item,
            "usage_bars": (bars := usage_bars(item["rateLimits"]["pools"])),
            "usage_height": usage_height(bars),
            "unknown_url": _orders_url(
                status__exact="unknown", connection__exchange__exact=item["exchange"]
            ),
            "flagged_url": _orders_url(
                flagged__exact="1", connection__exchange__exact=item["exchange"]
            ),
        }
        for item in overview["exchanges"]
    ]
    connections = []
    for item in overview["connections"]:
        latency, checks = _health_charts(
            f"c-{item['id']}", item["series"], buckets, time_format, item["name"]
        )
        connections.append(
            {
                **item,
                "latency_chart": latency,
                "checks_chart": checks,
                "orders_chart": _order_chart(
                    f"c-{item['id']}", item["orders"]["series"], buckets, time_format, item["name"]
                ),
                "change_url": reverse(
                    "admin:connections_exchangeconnection_change", args=[item["id"]]
                ),
                "unknown_url": _orders_url(status__exact="unknown", connection__exact=item["id"]),
                "flagged_url": _orders_url(flagged__exact="1", connection__exact=item["id"]),
            }
        )
    return {
        "overview": overview,
        "summary": summary,
        "exchanges": exchanges,
        "connections": connections,
        "summary_latency": summary_latency,
        "summary_checks": summary_checks,
        "summary_orders": summary_orders,
        "unknown_url": _orders_url(status__exact="unknown"),
        "flagged_url": _orders_url(flagged__exact="1"),
    }


def _bad_range(exc: ValidationFailed) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": exc.code, "message": exc.message, "fields": exc.fields},
    }


def dashboard_page(request: HttpRequest) -> HttpResponse:
    base = {**admin.site.each_context(request), "title": "Health dashboard"}
    try:
        overview = dashboard_overview(user=caller(request), range_name=request.GET.get("range"))
    except ValidationFailed as exc:
        return render(
            request, "dashboard/bad_request.html", {**base, "error": exc.message}, status=400
        )
    query = urlencode({"range": overview["range"]})
    return render(
        request,
        "dashboard/page.html",
        {
            **base,
            **_context(overview),
            "fragments": FRAGMENTS,
            "data_url": f"{reverse('dashboard:data')}?{query}",
            "refresh_seconds": getattr(
                settings, "DASHBOARD_REFRESH_SECONDS", DEFAULT_REFRESH_SECONDS
            ),
        },
    )


def dashboard_data(request: HttpRequest) -> JsonResponse:
    try:
        overview = dashboard_overview(user=caller(request), range_name=request.GET.get("range"))
    except ValidationFailed as exc:
        return JsonResponse(_bad_range(exc), status=400)
    context = _context(overview)
    fragments = {
        name: render_to_string(f"dashboard/_{name}.html", context, request=request)
        for name in FRAGMENTS
    }
    return JsonResponse({**overview, "fragments": fragments}, encoder=DjangoJSONEncoder)
