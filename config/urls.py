from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from config.api import json_not_found
from config.metrics import metrics_view
from connections.auth import throttled_login
from connections.views import ConnectionViewSet, LogoutView, SystemStatusView, TokenView
from orders.views import OrderViewSet

# the admin's "View site" link: the API docs (the site has no page of its own at /)
admin.site.site_url = "/api/docs/"

router = SimpleRouter(trailing_slash=False)
router.register("settings/connections", ConnectionViewSet, basename="connection")
router.register("orders", OrderViewSet, basename="order")

urlpatterns = [
    # the admin's login behind the token endpoint's throttles (per username and address)
    path("admin/login/", throttled_login(admin.site.login), name="admin-login"),
    path("admin/dashboard/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/auth/token", TokenView.as_view(), name="auth-token"),
    path("api/auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("api/system/status", SystemStatusView.as_view(), name="system-status"),
    # Prometheus (Bearer METRICS_TOKEN); a plain Django view, outside the API and its schema
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include(router.urls)),
    # Unknown API paths answer the JSON error body even with DEBUG on, for every method
    # (csrf_exempt: a POST there is a 404, not a CSRF page).
    re_path(r"^api(/.*)?$", csrf_exempt(json_not_found)),
]

handler404 = "config.api.json_not_found"
handler500 = "config.api.json_server_error"
