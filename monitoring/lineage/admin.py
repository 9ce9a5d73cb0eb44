"""Admin for OpenLineage ingest: namespace regions are edited (through the services, ledgered);
runs and their events are read-only."""

from django.contrib import admin

from catalog.admin import ReadOnlyAdmin
from monitoring.lineage import services
from monitoring.models import (
    LineageEvent,
    LineageNamespaceRegion,
    LineageRun,
    LineageRunDataset,
)


@admin.register(LineageNamespaceRegion)
class LineageNamespaceRegionAdmin(admin.ModelAdmin):
    list_display = ["namespace", "region", "note"]
    search_fields = ["namespace"]

    def save_model(self, request, obj, form, change):
        services.namespace_region_save(actor=request.user, row=obj)

    def delete_model(self, request, obj):
        services.namespace_region_delete(actor=request.user, row=obj)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            services.namespace_region_delete(actor=request.user, row=row)


@admin.register(LineageRun)
class LineageRunAdmin(ReadOnlyAdmin):
    list_display = ["job_namespace", "job_name", "run_id", "state", "region", "location_rule"]
    list_filter = ["state", "location_rule"]
    search_fields = ["job_namespace", "job_name", "run_id"]


@admin.register(LineageEvent)
class LineageEventAdmin(ReadOnlyAdmin):
    list_display = ["event_time", "event_type", "run", "received_at"]
    list_filter = ["event_type"]
    show_full_result_count = False


@admin.register(LineageRunDataset)
class LineageRunDatasetAdmin(ReadOnlyAdmin):
    """What an OpenLineage run read and wrote, written by ingest."""

    list_display = ["run", "role", "uri", "dataset", "bytes", "records"]
    list_filter = ["role"]
    list_select_related = ["run", "dataset"]
