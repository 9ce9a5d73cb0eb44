"""Pages of OpenLineage ingest, mounted at /monitoring/lineage/ by governance.urls."""

from django.urls import path

from monitoring import gap_views

app_name = "lineage"

urlpatterns = [
    path("gaps/", gap_views.gap_list, name="gap-list"),
    path("gaps/<int:pk>/register/", gap_views.gap_register, name="gap-register"),
]
