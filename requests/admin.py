"""Admin for the workflows: read-only. Exceptions and subject requests move only through their
services (transition tables, permissions, ledger, notices); their events are append-only.
Sealed subject data, codes and link tokens are never shown. Retention runs and legal holds
move only through requests.retention (holds are placed and lifted on the decision log)."""

from django.contrib import admin

from catalog.admin import ReadOnlyAdmin
from requests.models import (
    ConsentEvent,
    DatasetConnector,
    ExceptionApproval,
    ExceptionEvent,
    ExceptionReminder,
    LegalHold,
    MlPropagationDecision,
    RetentionRun,
    SubjectEvent,
    SubjectMail,
    SubjectPackage,
    SubjectReminder,
    SubjectRequest,
    SubjectTask,
    TransferException,
    TransferExceptionGroupObjectPermission,
    TransferExceptionUserObjectPermission,
    VerificationChallenge,
)

# --- Transfer exceptions ----------------------------------------------------------------------


@admin.register(TransferException)
class TransferExceptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "title", "status", "requester", "mechanism", "starts_at", "ends_at"]
    list_filter = ["status", "mechanism", "risk"]
    search_fields = ["title"]
    list_select_related = ["requester"]


@admin.register(ExceptionEvent)
class ExceptionEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "exception", "action", "from_status", "to_status", "actor_name"]
    list_filter = ["action"]
    list_select_related = ["exception"]


@admin.register(ExceptionApproval)
class ExceptionApprovalAdmin(ReadOnlyAdmin):
    list_display = ["at", "exception", "review_round", "approver_name"]
    list_select_related = ["exception"]


@admin.register(ExceptionReminder)
class ExceptionReminderAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "exception", "days_before"]
    list_select_related = ["exception"]


@admin.register(TransferExceptionUserObjectPermission, TransferExceptionGroupObjectPermission)
class TransferExceptionObjectPermissionAdmin(ReadOnlyAdmin):
    """Granted by the exception services (to the officers who answer for it)."""

    list_display = ["content_object", "permission", "__str__"]
    list_select_related = ["content_object", "permission"]


# --- Data-subject requests ----------------------------------------------------------------------


@admin.register(SubjectRequest)
class SubjectRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "status", "jurisdiction", "received_at", "deadline", "closed_at"]
    list_filter = ["status", "type", "jurisdiction", "channel"]
    list_select_related = ["jurisdiction"]


@admin.register(VerificationChallenge)
class VerificationChallengeAdmin(ReadOnlyAdmin):
    # The hashes of a short code can be searched through: never shown.
    exclude = ["code_hash", "token_hash"]
    list_display = ["request", "created_at", "expires_at", "attempts", "locked_at", "used_at"]


@admin.register(DatasetConnector)
class DatasetConnectorAdmin(ReadOnlyAdmin):
    """Connectors are set and approved on the subject-request pages (versioned, ledgered)."""

    list_display = ["dataset", "kind", "enabled", "version", "approved_version", "approved_by_name"]
    list_filter = ["kind", "enabled"]
    list_select_related = ["dataset"]


@admin.register(SubjectTask)
class SubjectTaskAdmin(ReadOnlyAdmin):
    list_display = ["request", "dataset_slug", "owner", "status", "due_on", "automatic"]
    list_filter = ["status", "automatic"]
    search_fields = ["dataset_slug"]
    list_select_related = ["owner"]


@admin.register(MlPropagationDecision)
class MlPropagationDecisionAdmin(ReadOnlyAdmin):
    list_display = ["request", "run_name", "model_name", "decision", "decided_by_name"]
    list_filter = ["decision"]


@admin.register(SubjectPackage)
class SubjectPackageAdmin(ReadOnlyAdmin):
    list_display = ["request", "kind", "filename", "size", "expires_at", "downloads"]
    list_filter = ["kind"]


@admin.register(SubjectEvent)
class SubjectEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "request", "action", "from_status", "to_status", "actor_name"]
    list_filter = ["action"]


@admin.register(SubjectReminder)
class SubjectReminderAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "request", "task", "kind"]
    list_filter = ["kind"]


@admin.register(SubjectMail)
class SubjectMailAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "request", "title", "sent_at", "attempts", "last_error"]


# --- Consent ------------------------------------------------------------------------------------


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "subject_key", "purpose", "dataset_slug", "state", "at", "client_name"]
    list_filter = ["state", "channel", "jurisdiction_code"]
    search_fields = ["subject_key", "dataset_slug", "purpose", "notice_code"]


# --- Retention ---------------------------------------------------------------------------------


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ["dataset_slug", "period_start", "cutoff", "due_on", "status", "automatic"]
    list_filter = ["status", "automatic"]
    search_fields = ["dataset_slug"]


@admin.register(LegalHold)
class LegalHoldAdmin(ReadOnlyAdmin):
    list_display = ["dataset", "placed_by_name", "placed_at", "until", "lifted_at"]
    list_select_related = ["dataset"]
