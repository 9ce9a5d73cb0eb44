"""Monitoring API routes, mounted under /api/v1/ by governance.urls."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring import api

router = SimpleRouter()
router.register("telemetry/sources", api.TelemetrySourceViewSet, basename="telemetry-source")
router.register("violations", api.ViolationViewSet, basename="violation")
router.register("incidents", api.IncidentViewSet, basename="incident")
router.register("anomaly-alerts", api.AnomalyAlertViewSet, basename="anomaly-alert")
router.register("catalog-gaps", api.CatalogGapViewSet, basename="catalog-gap")

urlpatterns = [
    path("telemetry/events", api.TelemetryIngestView.as_view(), name="telemetry-events"),
    path("risk/stream", api.RiskStreamView.as_view(), name="risk-stream"),
    *router.urls,
]
