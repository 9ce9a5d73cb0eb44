"""Monitoring API routes, mounted under /api/v1/ by governance.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring.drills import api as drills_api
from monitoring.incidents import api as incidents_api
from monitoring.lineage import api as lineage_api
from monitoring.plans import api as plans_api
from monitoring.telemetry import api as telemetry_api

router = SimpleRouter()
router.register(
    "telemetry/sources", telemetry_api.TelemetrySourceViewSet, basename="telemetry-source"
)
router.register("violations", incidents_api.ViolationViewSet, basename="violation")
router.register("incidents", incidents_api.IncidentViewSet, basename="incident")
router.register("anomaly-alerts", incidents_api.AnomalyAlertViewSet, basename="anomaly-alert")
router.register("drills", drills_api.DrillViewSet, basename="drill")
router.register("catalog-gaps", lineage_api.CatalogGapViewSet, basename="catalog-gap")

urlpatterns = [
    path("telemetry/events", telemetry_api.TelemetryIngestView.as_view(), name="telemetry-events"),
    path("risk/stream", telemetry_api.RiskStreamView.as_view(), name="risk-stream"),
    path("lineage", lineage_api.OpenLineageView.as_view(), name="openlineage"),
    path("plans/check", plans_api.PlanCheckView.as_view(), name="plan-check"),
    *router.urls,
]
