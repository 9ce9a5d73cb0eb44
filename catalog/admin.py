"""Admin for the catalog, and the read-only base every app's admin uses for records that are
never edited there: append-only history, rows the workflows and ingest write."""

from django.contrib import admin
from django.db import models
from guardian.admin import GuardedModelAdmin

from catalog import services
from catalog.law import (
    BreachClock,
    ConsentLaw,
    DestinationRestriction,
    LocalisationDuty,
    SubjectRights,
    TransferLaw,
)
from catalog.models import (
    AdequacyDecision,
    Country,
    Dataset,
    DatasetChange,
    DatasetGroupObjectPermission,
    DatasetUserObjectPermission,
    IdempotencyRecord,
    Jurisdiction,
    LineageEdge,
    PersonalDataCategory,
    Region,
    Revision,
    Tag,
)
from catalog.revisions import CATALOG, revision_bump


def sealed_fields(model: type[models.Model]) -> list[str]:
    """The model's sealed fields (`sealed`, `..._sealed`): encrypted subject data, never shown."""
    names = [field.name for field in model._meta.get_fields()]
    return [name for name in names if name == "sealed" or name.endswith("_sealed")]


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are never edited in the admin: append-only history (ledger entries,
    events, versions), and rows that services, workflows and ingest write. Staff can read
    them; adding, changing and deleting are refused. Sealed fields are never shown."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_exclude(self, request, obj=None):
        return [*(super().get_exclude(request, obj) or ()), *sealed_fields(self.model)]


class PolicyInputAdmin(admin.ModelAdmin):
    """Reference data the policy engine reads: an edit tells every process to rebuild its index."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        revision_bump(CATALOG)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        revision_bump(CATALOG)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        revision_bump(CATALOG)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        revision_bump(CATALOG)


@admin.register(Country)
class CountryAdmin(PolicyInputAdmin):
    list_display = ["code", "iso3", "name", "in_eea"]
    list_filter = ["in_eea"]
    search_fields = ["code", "iso3", "name"]


@admin.register(Jurisdiction)
class JurisdictionAdmin(PolicyInputAdmin):
    list_display = ["code", "name", "regime", "dsr_deadline_amount", "dsr_deadline_unit"]
    list_filter = ["regime"]
    search_fields = ["code", "name"]
    filter_horizontal = ["countries"]


@admin.register(AdequacyDecision)
class AdequacyDecisionAdmin(PolicyInputAdmin):
    list_display = [
        "country",
        "decided_by",
        "scope",
        "instrument",
        "effective_from",
        "effective_until",
        "verified",
    ]
    list_filter = ["decided_by", "scope", "verified"]
    search_fields = ["country__name", "instrument"]


@admin.register(Region)
class RegionAdmin(PolicyInputAdmin):
    list_display = ["code", "provider", "name", "country", "jurisdiction"]
    list_filter = ["provider", "jurisdiction"]
    search_fields = ["code", "name", "city"]


@admin.register(PersonalDataCategory)
class PersonalDataCategoryAdmin(PolicyInputAdmin):
    list_display = ["code", "name", "special"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Dataset)
class DatasetAdmin(GuardedModelAdmin):
    list_display = ["slug", "name", "owner", "storage_region", "jurisdiction", "sensitivity"]
    list_filter = ["sensitivity", "jurisdiction", "storage_region__provider"]
    search_fields = ["slug", "name", "uri"]
    list_select_related = ["owner", "storage_region", "jurisdiction"]
    autocomplete_fields = ["owner", "steward", "storage_region"]
    filter_horizontal = [
        "personal_data_categories",
        "subject_jurisdictions",
        "allowed_processing_regions",
        "tags",
    ]

    def save_model(self, request, obj, form, change):
        # Admin edits go through the same rules and history as everyone else's: a service call.
        fields = {
            name: form.cleaned_data[name]
            for name in services.SCALAR_FIELDS
            if name in form.cleaned_data
        }
        fields.update(
            {
                name: form.cleaned_data[name]
                for name in services.MANY_FIELDS
                if name in form.cleaned_data
            }
        )
        if change:
            fields.pop("slug", None)
            saved = services.dataset_update(actor=request.user, dataset=obj, **fields)
        else:
            saved = services.dataset_create(actor=request.user, **fields)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """The service already set the many-to-many fields."""

    def delete_model(self, request, obj):
        services.dataset_delete(actor=request.user, dataset=obj)


@admin.register(LineageEdge)
class LineageEdgeAdmin(admin.ModelAdmin):
    list_display = ["upstream", "downstream", "transformation", "created_at"]
    search_fields = ["upstream__slug", "downstream__slug"]
    autocomplete_fields = ["upstream", "downstream"]


@admin.register(DatasetChange)
class DatasetChangeAdmin(ReadOnlyAdmin):
    """History is read-only."""

    list_display = ["dataset_slug", "version", "action", "actor_name", "at"]
    list_filter = ["action"]
    search_fields = ["dataset_slug", "actor_name"]


@admin.register(DatasetUserObjectPermission, DatasetGroupObjectPermission)
class DatasetObjectPermissionAdmin(ReadOnlyAdmin):
    """Granted by the catalog services; a dataset's own admin page edits them (Object permissions)."""

    list_display = ["content_object", "permission", "__str__"]
    list_select_related = ["content_object", "permission"]


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    """The counters that tell every process to rebuild its policy index; bumped by writes."""

    list_display = ["key", "value", "stamp"]


# The law's facts come from the shipped reference data, which the next load writes over: they
# are read here, and changed in reference_data.json (with their citations) and a migration.
@admin.register(TransferLaw)
class TransferLawAdmin(ReadOnlyAdmin):
    list_display = ["jurisdiction", "model", "citation", "verified"]
    list_filter = ["model", "verified"]


@admin.register(LocalisationDuty)
class LocalisationDutyAdmin(ReadOnlyAdmin):
    list_display = ["jurisdiction", "duty", "applies_to", "citation", "verified"]
    list_filter = ["duty", "verified"]


@admin.register(DestinationRestriction)
class DestinationRestrictionAdmin(ReadOnlyAdmin):
    list_display = ["code", "jurisdiction", "effect", "citation", "verified"]


@admin.register(BreachClock)
class BreachClockAdmin(ReadOnlyAdmin):
    list_display = ["jurisdiction", "regulator_hours", "regulator_deadline_text", "verified"]
    list_filter = ["verified"]


@admin.register(SubjectRights)
class SubjectRightsAdmin(ReadOnlyAdmin):
    list_display = ["jurisdiction", "citation", "verified"]
    list_filter = ["verified"]


@admin.register(ConsentLaw)
class ConsentLawAdmin(ReadOnlyAdmin):
    list_display = ["jurisdiction", "citation", "withdrawal_citation", "verified"]
    list_filter = ["verified"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    """The answers kept for retried creates (catalog.idempotency), for a support question."""

    list_display = ["key", "user", "status", "location", "created_at"]
    list_select_related = ["user"]
    search_fields = ["key", "user__username"]
