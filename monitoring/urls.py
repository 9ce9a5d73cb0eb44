"""The risk pages, mounted at /monitoring/ by governance.urls."""

from django.urls import path

from monitoring.dashboards import views as dashboards
from monitoring.drills import views as drills
from monitoring.incidents import views as incidents

app_name = "monitoring"

urlpatterns = [
    path("", dashboards.home, name="home"),
    path("executive/", dashboards.executive, name="executive"),
    path("executive/data", dashboards.executive_data, name="executive-data"),
    path("officer/", dashboards.officer, name="officer"),
    path("officer/data", dashboards.officer_data, name="officer-data"),
    path("officer/bulk", incidents.queue_bulk, name="queue-bulk"),
    path("owner/", dashboards.owner, name="owner"),
    path("owner/data", dashboards.owner_data, name="owner-data"),
    path("incidents/<int:pk>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/exception/", incidents.incident_exception, name="incident-exception"),
    path("incidents/<int:pk>/comment", incidents.incident_comment, name="incident-comment"),
    path("incidents/<int:pk>/<slug:verb>", incidents.incident_action, name="incident-action"),
    path("alerts/<int:pk>/<slug:verb>", incidents.alert_action, name="alert-action"),
    path("drills/", drills.drill_list, name="drill-list"),
    path("drills/<int:pk>/", drills.drill_detail, name="drill-detail"),
    path("drills/<int:pk>/complete", drills.drill_complete, name="drill-complete"),
]
