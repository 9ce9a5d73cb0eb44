"""The risk pages, mounted at /monitoring/ by governance.urls."""

from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("", views.home, name="home"),
    path("executive/", views.executive, name="executive"),
    path("executive/data", views.executive_data, name="executive-data"),
    path("officer/", views.officer, name="officer"),
    path("officer/data", views.officer_data, name="officer-data"),
    path("owner/", views.owner, name="owner"),
    path("owner/data", views.owner_data, name="owner-data"),
    path("incidents/<int:pk>/<slug:verb>", views.incident_action, name="incident-action"),
    path("alerts/<int:pk>/<slug:verb>", views.alert_action, name="alert-action"),
]
