"""Pages of OpenLineage ingest, mounted at /monitoring/lineage/ by governance.urls."""

from django.urls import path

from monitoring.lineage import views

app_name = "lineage"

urlpatterns = [
    path("gaps/", views.gap_list, name="gap-list"),
    path("gaps/<int:pk>/register/", views.gap_register, name="gap-register"),
]
