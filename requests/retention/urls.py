"""Retention pages, included by requests/urls.py under the "workflows" namespace."""

from django.urls import path

from requests.retention import views

urlpatterns = [
    path("", views.retention_page, name="retention"),
    path("holds/new/", views.hold_place, name="retention-hold-place"),
    path("holds/<int:pk>/lift/", views.hold_lift, name="retention-hold-lift"),
    path("runs/<int:pk>/done/", views.run_done, name="retention-run-done"),
]
