"""Admin for governance. Writes go through the services, so the ledger and the policy index
see every change; append-only records are read-only here. Officers' jurisdictions
(Responsibility) are set on each person's page."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from catalog.admin import ReadOnlyAdmin
from governance.grants.services import grant_create, grant_revoke
from governance.identity.devices.services import second_factor_reset
from governance.models import (
    AccessReview,
    AccessReviewItem,
    ConsentNotice,
    ExternalIdentity,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    LedgerQueued,
    LedgerTreeHead,
    LedgerTreeNode,
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    ModelDeployment,
    Notification,
    NotificationDigest,
    NotificationPreference,
    NotificationSettings,
    Purpose,
    RecordedDecision,
    Responsibility,
    Term,
    TermRevision,
    TermVersion,
    TrainedModel,
    TrainedModelChange,
    TrainingRun,
    TrainingRunDataset,
    TransferGrant,
)
from governance.policy.rules import purposes_changed


@admin.register(Purpose)
class PurposeAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        purposes_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        purposes_changed()


@admin.register(ConsentNotice)
class ConsentNoticeAdmin(ReadOnlyAdmin):
    """Published through the API (governance.consent.services): versions are never edited."""

    list_display = ["code", "version", "title", "jurisdiction", "published_at"]
    list_filter = ["jurisdiction"]


@admin.register(LocalityRule)
class LocalityRuleAdmin(ReadOnlyAdmin):
    """Rules are written on the Rules pages or the API, where they are versioned and checked."""

    list_display = [
        "name",
        "effect",
        "priority",
        "enabled",
        "version",
        "jurisdiction",
        "sensitivity",
    ]
    list_filter = ["effect", "enabled"]
    search_fields = ["name"]


@admin.register(LocalityRuleVersion)
class LocalityRuleVersionAdmin(ReadOnlyAdmin):
    list_display = ["rule_ref", "version", "action", "actor_name", "at"]


@admin.register(TransferGrant)
class TransferGrantAdmin(admin.ModelAdmin):
    """Grants are created through the service (ledger, policy index) and revoked by an action."""

    list_display = [
        "id",
        "mechanism",
        "purpose",
        "valid_from",
        "valid_until",
        "revoked_at",
        "approved_by_name",
    ]
    list_filter = ["mechanism", "revoked_at"]
    filter_horizontal = ["datasets", "destination_regions"]
    fields = [
        "datasets",
        "destination_regions",
        "purpose",
        "mechanism",
        "mechanism_detail",
        "valid_from",
        "valid_until",
        "reference",
    ]
    actions = ["revoke_selected"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        grant = grant_create(
            actor=request.user,
            datasets=list(data["datasets"]),
            destination_regions=list(data["destination_regions"]),
            purpose=data["purpose"],
            mechanism=data["mechanism"],
            mechanism_detail=data["mechanism_detail"],
            valid_from=data["valid_from"],
            valid_until=data["valid_until"],
            reference=data["reference"],
        )
        obj.pk = grant.pk

    def save_related(self, request, form, formsets, change):
        """The service already set the datasets and regions."""

    @admin.action(description="Revoke the selected grants now")
    def revoke_selected(self, request, queryset):
        for grant in queryset.filter(revoked_at__isnull=True):
            grant_revoke(
                actor=request.user, grant=grant, reason=f"Revoked in the admin by {request.user}"
            )
        messages.success(request, "Revoked.")


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["name", "verdict", "mode", "purpose", "created_by_name", "created_at"]
    list_filter = ["verdict", "mode"]
    search_fields = ["name", "external_id"]


@admin.register(TrainedModel)
class TrainedModelAdmin(ReadOnlyAdmin):
    """Models are registered, changed and deployed on their pages, where each step is ledgered."""

    list_display = ["name", "version", "owner", "uri", "updated_at"]
    search_fields = ["name", "uri"]


@admin.register(TrainedModelChange)
class TrainedModelChangeAdmin(ReadOnlyAdmin):
    list_display = ["model_repr", "revision", "action", "actor_name", "at"]
    list_filter = ["action"]


@admin.register(ModelDeployment)
class ModelDeploymentAdmin(ReadOnlyAdmin):
    list_display = ["trained_model", "region", "status", "outcome", "legal_outcome"]
    list_filter = ["status", "outcome"]


@admin.register(LocalityDecision)
class LocalityDecisionAdmin(ReadOnlyAdmin):
    list_display = ["id", "outcome", "dataset_slug", "action", "region_code", "rule", "decided_at"]
    list_filter = ["outcome", "context", "action"]
    search_fields = ["dataset_slug", "region_code", "rule"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "at", "kind", "actor_name", "subjects", "hash"]
    list_filter = ["kind"]
    search_fields = ["kind", "subjects", "actor_name"]


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "hash", "at", "algorithm", "key_id"]


@admin.register(LedgerQueued)
class LedgerQueuedAdmin(ReadOnlyAdmin):
    """Entries appended and waiting for the sequencer (which deletes each as it sequences it)."""

    list_display = ["id", "at", "kind", "actor_name", "leaf_hash"]


@admin.register(LedgerTreeNode)
class LedgerTreeNodeAdmin(ReadOnlyAdmin):
    list_display = ["level", "index", "hash"]
    list_filter = ["level"]


@admin.register(LedgerTreeHead)
class LedgerTreeHeadAdmin(ReadOnlyAdmin):
    list_display = ["size", "root", "at", "algorithm", "key_id"]


@admin.register(RecordedDecision)
class RecordedDecisionAdmin(ReadOnlyAdmin):
    """Recorded decisions are written on the decision-log pages, where each version is ledgered."""

    list_display = ["title", "status", "author_name", "version", "created_at"]
    list_filter = ["status"]
    search_fields = ["title"]


@admin.register(LedgerHead)
class LedgerHeadAdmin(ReadOnlyAdmin):
    """The chain's last entry, moved by every append."""

    list_display = ["sequence", "hash"]


@admin.register(TrainingRunDataset)
class TrainingRunDatasetAdmin(ReadOnlyAdmin):
    list_display = ["run", "dataset", "dataset_version"]
    list_select_related = ["run", "dataset"]


@admin.register(Term)
class TermAdmin(ReadOnlyAdmin):
    """Terms change on the glossary pages, by reviewed revisions, each version ledgered."""

    list_display = ["name", "slug", "status", "version", "steward", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]


@admin.register(TermRevision)
class TermRevisionAdmin(ReadOnlyAdmin):
    list_display = [
        "term",
        "base_version",
        "status",
        "proposer_name",
        "reviewer_name",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["term__name"]


@admin.register(TermVersion)
class TermVersionAdmin(ReadOnlyAdmin):
    list_display = ["term", "version", "action", "actor_name", "at"]
    search_fields = ["term__name"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "topic", "severity", "delivery", "title", "created_at", "read_at",
                    "emailed_at"]  # fmt: skip
    list_filter = ["topic", "severity", "delivery", "kind"]
    search_fields = ["title", "recipient__username"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    """A person's delivery for one kind and severity (people set theirs on their preferences
    page; without a row, their role's default applies)."""

    list_display = ["user", "topic", "severity", "delivery"]
    list_filter = ["topic", "severity", "delivery"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ["user", "daily_digest_hour"]
    search_fields = ["user__username"]
    autocomplete_fields = ["user"]


@admin.register(NotificationDigest)
class NotificationDigestAdmin(ReadOnlyAdmin):
    """The digests sent: whom, which period, how many items (the digest task writes them)."""

    list_display = ["recipient", "frequency", "since", "until", "item_count", "created_at"]
    list_filter = ["frequency"]
    search_fields = ["recipient__username"]


@admin.register(Responsibility)
class ResponsibilityAdmin(admin.ModelAdmin):
    """Which jurisdictions an officer answers for (also on each person's page)."""

    list_display = ["user", "jurisdiction"]
    list_filter = ["jurisdiction"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user", "jurisdiction"]


class ResponsibilityInline(admin.TabularInline):
    """An officer's jurisdictions, on their page: none means they answer for every one."""

    model = Responsibility
    extra = 0
    autocomplete_fields = ["jurisdiction"]
    verbose_name_plural = "responsibilities (jurisdictions this officer answers for; none: all)"


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyAdmin):
    """Who signs in through the identity provider: made and updated at each sign-in."""

    list_display = ["user", "issuer", "subject", "granted_roles", "granted_jurisdictions"]
    list_filter = ["issuer"]
    search_fields = ["user__username", "subject"]


class PersonAdmin(UserAdmin):
    """Django's user admin, with the jurisdictions the person answers for (by hand; those an
    identity provider gives are set again at each sign-in)."""

    inlines = [*UserAdmin.inlines, ResponsibilityInline]


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), PersonAdmin)


# --- Second factor ----------------------------------------------------------------------------
# django-otp's own admin shows authenticators' secrets and recovery codes and changes devices
# off the record; here staff see who has what, and a superuser's delete is a reset, logged.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(TOTPDevice)
class AuthenticatorAdmin(ReadOnlyAdmin):
    """A person's authenticator, never its secret; deleting it resets their second factor."""

    fields = ["user", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_display = ["user", "confirmed", "created_at", "last_used_at", "throttling_failure_count"]
    list_select_related = ["user"]

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def delete_model(self, request, obj):
        second_factor_reset(actor=request.user, person=obj.user)

    def delete_queryset(self, request, queryset):
        for person in {device.user for device in queryset.select_related("user")}:
            second_factor_reset(actor=request.user, person=person)


@admin.register(StaticDevice)
class RecoveryCodesAdmin(ReadOnlyAdmin):
    """A person's recovery codes: how many are left, never the codes."""

    fields = ["user", "codes_left", "created_at", "last_used_at"]
    list_display = ["user", "codes_left", "created_at", "last_used_at"]
    readonly_fields = ["codes_left"]
    list_select_related = ["user"]

    @admin.display(description="codes left")
    def codes_left(self, device) -> int:
        return device.token_set.count()


@admin.register(AccessReview)
class AccessReviewAdmin(ReadOnlyAdmin):
    list_display = ["name", "status", "opened_at", "due_at", "closed_at"]
    list_filter = ["status"]


@admin.register(AccessReviewItem)
class AccessReviewItemAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "dataset_slug", "kind", "holder", "status", "decided_by_name"]
    list_filter = ["status", "kind"]
    search_fields = ["dataset_slug", "holder"]
