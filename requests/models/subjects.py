"""Data-subject requests: a person asks to see, take, correct, limit or erase their data.

The workflow lives in `requests/subjects/`. The subject's identifiers are sealed (Fernet,
keyed by settings.SUBJECT_DATA_KEY) on the request and on exports; everywhere else, including
the ledger and the timeline, the subject appears only as a keyed pseudonym.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.append_only import append_only_reference
from catalog.fields import TEXT, BoundedTextField
from catalog.models import AppendOnly, Dataset, Jurisdiction
from governance.models import TrainingRun
from requests.sealing import UNREADABLE, SealedDataUnreadable, unseal

# Sealing lives in requests.sealing; these names stay importable from here.
from requests.sealing import seal as seal
from requests.sealing import seal_bytes as seal_bytes
from requests.sealing import unseal_bytes as unseal_bytes


class SubjectRequestType(models.TextChoices):
    """What the workflow answers. The subject's law names each right and its article
    (requests.subjects.rights, from the catalog's SubjectRights); these labels name no law."""

    ACCESS = "access", "Access"
    ERASURE = "erasure", "Erasure"
    PORTABILITY = "portability", "Portability"
    RECTIFICATION = "rectification", "Rectification"
    RESTRICTION = "restriction", "Restriction"
    OBJECTION = "objection", "Objection"
    # Answered as an objection is: each dataset's owner stops the processing and says so.
    OPT_OUT_SALE = "opt_out_sale", "Opt-out of sale or sharing"
    WITHDRAW_CONSENT = "withdraw_consent", "Withdrawal of consent"


EXPORTING_TYPES = {SubjectRequestType.ACCESS, SubjectRequestType.PORTABILITY}


class SubjectRequestStatus(models.TextChoices):
    AWAITING_VERIFICATION = "awaiting_verification", "Awaiting verification"
    VERIFIED = "verified", "Verified: finding the data"
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused: waiting for the subject"
    READY = "ready", "Ready: awaiting the officer's review"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    DUPLICATE = "duplicate", "Duplicate of an open request"


OPEN_STATUSES = (
    SubjectRequestStatus.AWAITING_VERIFICATION,
    SubjectRequestStatus.VERIFIED,
    SubjectRequestStatus.IN_PROGRESS,
    SubjectRequestStatus.PAUSED,
    SubjectRequestStatus.READY,
)


class Channel(models.TextChoices):
    WEB_FORM = "web_form", "Public web form"
    EMAIL = "email", "E-mail"
    API = "api", "API"
    PHONE = "phone", "Telephone"
    POST = "post", "Post"
    IN_PERSON = "in_person", "In person"


class IdentifierKind(models.TextChoices):
    EMAIL = "email", "E-mail address"
    CUSTOMER_ID = "customer_id", "Customer id"
    ACCOUNT_ID = "account_id", "Account id"
    PHONE = "phone", "Telephone number"
    DEVICE_ID = "device_id", "Device or advertising id"
    NATIONAL_ID = "national_id", "National identity number"


class VerificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    LOCKED = "locked", "Locked: no code is taken until an officer unlocks"
    WAIVED = "waived", "Not required by law"  # a CCPA opt-out (11 CCR §7026): none awaited


def new_verify_token() -> str:
    """A request's verify-page address: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


class OtherMeans(models.TextChoices):
    """How an officer may have verified a subject's identity without the e-mailed code."""

    CALL_BACK = "call_back", "Called back on a number already on file"
    IN_PERSON = "in_person", "In person, with an identity document"
    SIGNED_ACCOUNT = "signed_in_account", "From the subject's signed-in account"
    POSTAL = "postal", "By post, to an address already on file"
    KNOWLEDGE = "knowledge", "Answers only the subject could know (account details)"


class SubjectRequest(models.Model):
    """One person's request about their data, with its legal clock."""

    type = models.CharField(max_length=20, choices=SubjectRequestType.choices)
    status = models.CharField(
        max_length=30,
        choices=SubjectRequestStatus.choices,
        default=SubjectRequestStatus.AWAITING_VERIFICATION,
        editable=False,
        db_index=True,
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction, on_delete=models.PROTECT, related_name="subject_requests"
    )
    # Sealed {"identifiers": {kind: value}, "details": str, "agent_email": str}.
    sealed = models.TextField(editable=False)
    subject_key = models.CharField(
        max_length=64, db_index=True, editable=False, help_text="Keyed pseudonym of the e-mail"
    )
    identifier_kinds = models.JSONField(default=list, editable=False)
    received_at = models.DateTimeField()
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB_FORM)
    agent_name = models.CharField(
        max_length=200, blank=True, help_text="An authorised agent acting for the subject"
    )
    agent_authority = models.CharField(
        max_length=300, blank=True, help_text="How the agent's authority was shown"
    )
    verification = models.CharField(
        max_length=10, choices=VerificationState.choices, default=VerificationState.PENDING
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    # The public verify page's address: unguessable, unlike the id (see new_verify_token).
    verify_token = models.CharField(
        max_length=64, unique=True, editable=False, default=new_verify_token
    )
    verify_failures = models.PositiveIntegerField(
        default=0, editable=False, help_text="Wrong codes since the last success or unlock"
    )
    verify_wait_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="No code is checked or sent before"
    )
    codes_resent = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="New codes asked for since the last unlock"
    )
    deadline = models.DateField(help_text="The legal deadline, before any extension")
    extended_deadline = models.DateField(null=True, blank=True)
    extension_reason = BoundedTextField(max_length=TEXT, blank=True)
    acknowledge_by = models.DateField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    deadline_basis = models.CharField(max_length=300, blank=True)
    right_basis = models.CharField(
        max_length=300,
        blank=True,
        help_text="The right as the subject's law names it, with its article",
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    resume_status = models.CharField(max_length=30, blank=True, editable=False)
    paused_days = models.PositiveIntegerField(default=0)
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.TextField(blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Not columns: the counts a list's rows carry (selectors.with_task_counts, count_tasks).
    tasks_total: int
    tasks_open: int

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["subject_key", "type", "status"], name="subject_request_dupes"),
            models.Index(fields=["status", "deadline"], name="subject_request_due"),
            # The list order (newest first): a page is read off the index, not sorted from all.
            models.Index(fields=["received_at", "id"], name="subject_request_list_order"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_type_display()})"

    @property
    def reference(self) -> str:
        return f"DSR-{self.pk}"

    @property
    def ref(self) -> str:
        """How the ledger names it."""
        return f"subject-request:{self.pk}"

    @property
    def due(self) -> dt.date:
        """The deadline in force: the extended one when extended."""
        return self.extended_deadline or self.deadline

    @property
    def right_shown(self) -> str:
        """The right asked for, as the subject's law names it (the type where not recorded)."""
        return self.right_basis or self.get_type_display()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def identifiers(self) -> dict:
        """The subject's identifiers; raises SealedDataUnreadable when no key opens them."""
        return unseal(self.sealed, {}, what=f"identifiers of {self.reference}").get(
            "identifiers", {}
        )

    @property
    def identifiers_shown(self) -> dict:
        """The identifiers as a page or answer shows them: a stated "cannot be decrypted"
        (already logged) in place of identifiers no key opens."""
        try:
            return self.identifiers
        except SealedDataUnreadable:
            return {"sealed identifiers": UNREADABLE}

    @property
    def details(self) -> str:
        return unseal(self.sealed, {}, what=f"details of {self.reference}").get("details", "")

    @property
    def email(self) -> str:
        return self.identifiers.get(IdentifierKind.EMAIL, "")


class VerificationChallenge(models.Model):
    """A one-time code and link sent to the subject; only their HMACs are kept."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="challenges")
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    locked_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Challenge {self.pk} for {self.request_id}"


class ConnectorKind(models.TextChoices):
    SQL = "sql", "SQL table"
    MANUAL = "manual", "Manual (the owner answers)"


class EraseMode(models.TextChoices):
    DELETE = "delete", "Delete the subject's rows"
    MASK = "mask", "Mask the declared columns"


class DatasetConnector(models.Model):
    """How a dataset answers subject requests: which identifiers it holds and, for SQL, where."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="connector")
    kind = models.CharField(max_length=10, choices=ConnectorKind.choices, default=ConnectorKind.SQL)
    identifier_kinds = models.JSONField(
        default=list, help_text="The kinds of subject identifiers the dataset holds"
    )
    database = models.CharField(
        max_length=100, blank=True, help_text="A DATABASES alias (settings)"
    )
    dsn_setting = models.CharField(
        max_length=100,
        blank=True,
        help_text="Or the name of a SUBJECT_CONNECTOR_DSNS entry (a PostgreSQL DSN)",
    )
    table = models.CharField(max_length=200, blank=True)
    identifier_column = models.CharField(max_length=100, blank=True)
    identifier_kind = models.CharField(
        max_length=20, choices=IdentifierKind.choices, default=IdentifierKind.EMAIL
    )
    erase_mode = models.CharField(
        max_length=10, choices=EraseMode.choices, default=EraseMode.DELETE
    )
    mask_columns = models.JSONField(default=list, blank=True)
    retention_column = models.CharField(
        max_length=100,
        blank=True,
        help_text="The column holding each record's time: retention deletes rows older than "
        "the dataset's retention by it (empty: the owner deletes them by hand)",
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Each change to what the connector reaches is a new version, which runs only once a
    # privacy officer has approved that very version (on the ledger).
    version = models.PositiveIntegerField(default=1, editable=False)
    approved_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    approved_by_name = models.CharField(max_length=150, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.dataset_id}"

    @property
    def automatic(self) -> bool:
        return self.enabled and self.kind == ConnectorKind.SQL

    @property
    def approved(self) -> bool:
        """Its current version is the one a privacy officer approved."""
        return self.approved_version == self.version


class TaskStatus(models.TextChoices):
    OPEN = "open", "Open"
    RUNNING = "running", "Connector running"
    FAILED = "failed", "Connector failed: needs the owner"
    DONE = "done", "Done"


class SubjectTask(models.Model):
    """The part of a request one dataset's owner answers for."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="tasks")
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, related_name="subject_tasks"
    )
    dataset_slug = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subject_tasks"
    )
    due_on = models.DateField()
    status = models.CharField(
        max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN, editable=False
    )
    automatic = models.BooleanField(default=False, help_text="A connector answers it")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    rows_found = models.PositiveIntegerField(null=True, blank=True)
    rows_exported = models.PositiveIntegerField(null=True, blank=True)
    rows_erased = models.PositiveIntegerField(null=True, blank=True)
    rows_masked = models.PositiveIntegerField(null=True, blank=True)
    # Rows counted inside a connector's target transaction before it commits: a worker lost
    # between that commit and ours still leaves the true count (see subjects.connector_run).
    prepared_rows = models.PositiveIntegerField(null=True, blank=True, editable=False)
    export_sealed = models.TextField(blank=True, editable=False)
    note = BoundedTextField(max_length=TEXT, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "dataset"], name="one_task_per_dataset")
        ]
        indexes = [models.Index(fields=["owner", "status"], name="subject_task_queue")]

    def __str__(self) -> str:
        return f"{self.request.reference} / {self.dataset_slug}"

    @property
    def export_rows(self) -> list[dict]:
        return unseal(self.export_sealed, [], what=f"export of task {self.pk}")


class MlDecision(models.TextChoices):
    RETRAIN = "retrain", "Retrain without the subject's data"
    UNLEARN = "unlearn", "Machine unlearning"
    SUPPRESS = "suppress", "Suppress the subject's outputs"
    ACCEPT = "accept", "Accept the residual risk (with reason)"


class MlPropagationDecision(models.Model):
    """For an erasure, or a withdrawal of consent: what happens to a model trained on the data."""

    # Its source: an erasure request, or a consent withdrawal (exactly one).
    request = models.ForeignKey(
        SubjectRequest, on_delete=models.CASCADE, null=True, blank=True, related_name="ml_decisions"
    )
    consent_withdrawal = models.ForeignKey(
        "workflows.ConsentEvent",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ml_decisions",
    )
    training_run = models.ForeignKey(
        TrainingRun, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    run_name = models.CharField(max_length=200)
    model_name = models.CharField(max_length=200, blank=True)
    datasets = models.JSONField(
        default=list, help_text="Slugs of the erased (or consent-withdrawn) datasets it read"
    )
    decision = models.CharField(max_length=10, choices=MlDecision.choices, blank=True)
    reason = BoundedTextField(max_length=TEXT, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "training_run"], name="one_ml_decision_per_run"
            ),
            models.UniqueConstraint(
                fields=["consent_withdrawal", "training_run"],
                name="one_ml_decision_per_withdrawn_run",
            ),
            models.CheckConstraint(
                condition=Q(request__isnull=False, consent_withdrawal__isnull=True)
                | Q(request__isnull=True, consent_withdrawal__isnull=False),
                name="ml_decision_has_one_source",
            ),
            models.CheckConstraint(
                condition=~Q(decision="accept") | ~Q(reason=""), name="ml_accept_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_name}: {self.decision or 'undecided'}"


class SubjectPackage(models.Model):
    """What the subject receives: an export zip (access, portability) or an erasure certificate."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export package"
        CERTIFICATE = "certificate", "Erasure certificate"

    request = models.OneToOneField(SubjectRequest, on_delete=models.CASCADE, related_name="package")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    filename = models.CharField(max_length=200)
    content_sealed = models.BinaryField(editable=False)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the file the subject downloads")
    manifest = models.JSONField(default=dict)
    token_hash = models.CharField(max_length=64, db_index=True, editable=False)
    expires_at = models.DateTimeField()
    downloads = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.request_id}"


class SubjectEvent(AppendOnly):
    """One step of a request's timeline: never rewritten, never holding raw identifiers."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True)
    # Deleting the person leaves the event alone (it is append-only); actor_name says who.
    actor = append_only_reference(settings.AUTH_USER_MODEL, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name}"


class SubjectReminder(models.Model):
    """A reminder or escalation sent: the row's unique key claims it, so it goes out once."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="reminders")
    task = models.ForeignKey(SubjectTask, on_delete=models.CASCADE, null=True, blank=True)
    kind = models.CharField(max_length=30)
    key = models.CharField(max_length=100, unique=True, help_text="request:task:kind")
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} for {self.request_id}"
