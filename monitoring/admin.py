"""Admin for monitoring: read-only views of what ingest wrote; sources and incidents change
through the API (services, ledger). Webhook endpoints are plain configuration."""

from django.contrib import admin

from catalog.admin import ReadOnlyAdmin
from monitoring.models import (
    ActorFootprint,
    ActorVolumeHourly,
    AnomalyAlert,
    Drill,
    FlowDaily,
    Incident,
    IncidentEvent,
    StreamMessage,
    TelemetryEvent,
    TelemetrySource,
    UnregisteredAsset,
    Violation,
    WebhookDelivery,
    WebhookEndpoint,
)


@admin.register(TelemetrySource)
class TelemetrySourceAdmin(ReadOnlyAdmin):
    list_display = ["name", "status", "token_prefix", "created_at", "rotated_at", "last_seen_at"]
    list_filter = ["status", "drill"]


@admin.register(TelemetryEvent)
class TelemetryEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "source", "kind", "dataset_ref", "destination_region", "outcome"]
    list_filter = ["outcome", "kind"]
    list_select_related = ["source"]
    show_full_result_count = False


@admin.register(Violation)
class ViolationAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "dataset_slug", "destination_region", "severity", "incident"]
    list_filter = ["severity"]
    show_full_result_count = False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["id", "title", "status", "severity", "owner", "violation_count", "opened_at"]
    list_filter = ["status", "severity", "personal_data", ("drill", admin.EmptyFieldListFilter)]


@admin.register(Drill)
class DrillAdmin(ReadOnlyAdmin):
    list_display = ["id", "scenario", "status", "dataset_slug", "started_at", "started_by_name"]
    list_filter = ["status"]


@admin.register(IncidentEvent)
class IncidentEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "incident", "kind", "actor_name"]
    list_filter = ["kind"]
    list_select_related = ["incident"]


@admin.register(AnomalyAlert)
class AnomalyAlertAdmin(ReadOnlyAdmin):
    list_display = ["detected_at", "kind", "actor", "status", "detail"]
    list_filter = ["kind", "status"]


@admin.register(UnregisteredAsset)
class UnregisteredAssetAdmin(ReadOnlyAdmin):
    list_display = ["dataset_ref", "events", "bytes", "first_seen_at", "last_seen_at"]
    search_fields = ["dataset_ref"]


@admin.register(FlowDaily)
class FlowDailyAdmin(ReadOnlyAdmin):
    list_display = [
        "day",
        "dataset_key",
        "source_country",
        "destination_country",
        "outcome",
        "events",
    ]
    list_filter = ["outcome"]


@admin.register(StreamMessage)
class StreamMessageAdmin(ReadOnlyAdmin):
    list_display = ["seq", "kind", "created_at"]
    list_filter = ["kind"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "jurisdiction", "url", "active"]
    list_filter = ["active", "jurisdiction"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "endpoint", "kind", "status", "attempts", "last_error"]
    list_filter = ["status"]


@admin.register(ActorVolumeHourly)
class ActorVolumeHourlyAdmin(ReadOnlyAdmin):
    """The volume anomaly rule's baseline, written by ingest."""

    list_display = ["hour", "actor", "events", "bytes", "records"]
    search_fields = ["actor"]
    show_full_result_count = False


@admin.register(ActorFootprint)
class ActorFootprintAdmin(ReadOnlyAdmin):
    """Where each actor has been seen, written by ingest."""

    list_display = ["actor", "kind", "value", "first_seen_at", "last_seen_at", "events"]
    list_filter = ["kind"]
    search_fields = ["actor", "value"]


# OpenLineage runs and namespace regions.
from monitoring.lineage import admin as lineage_admin  # noqa: E402, F401
