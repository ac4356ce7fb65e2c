"""Under /admin/dashboard/, behind the admin's own login (staff only)."""

from django.contrib import admin
from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", admin.site.admin_view(views.dashboard_page), name="page"),
    path("data.json", admin.site.admin_view(views.dashboard_data), name="data"),
]
