"""Transfer exceptions: a request to let work touch data outside its allowed regions for a while.

The workflow lives in `requests/transfers/`; an approved exception becomes a
`governance.TransferGrant`, which is what the policy engine honours.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from catalog.append_only import append_only_reference
from catalog.fields import TEXT, BoundedTextField
from catalog.models import AppendOnly, Dataset, Region
from governance.models import Purpose, TrainingRun, TransferGrant, TransferMechanism


class ExceptionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    UNDER_REVIEW = "under_review", "Under review"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class SccModule(models.TextChoices):
    """The four modules of the Commission's SCCs, Decision (EU) 2021/914."""

    C2C = "c2c", "Module 1: controller to controller"
    C2P = "c2p", "Module 2: controller to processor"
    P2P = "p2p", "Module 3: processor to processor"
    P2C = "p2c", "Module 4: processor to controller"


class Derogation(models.TextChoices):
    """GDPR Art. 49 derogations."""

    CONSENT = "49_1_a", "Art. 49(1)(a) explicit consent"
    CONTRACT_SUBJECT = "49_1_b", "Art. 49(1)(b) contract with the subject"
    CONTRACT_INTEREST = "49_1_c", "Art. 49(1)(c) contract in the subject's interest"
    PUBLIC_INTEREST = "49_1_d", "Art. 49(1)(d) important reasons of public interest"
    LEGAL_CLAIMS = "49_1_e", "Art. 49(1)(e) legal claims"
    VITAL_INTERESTS = "49_1_f", "Art. 49(1)(f) vital interests"
    PUBLIC_REGISTER = "49_1_g", "Art. 49(1)(g) public register"
    COMPELLING = "49_1_2", "Art. 49(1) second subparagraph: compelling legitimate interests"


class SupplementaryMeasure(models.TextChoices):
    """Measures a transfer impact assessment may rely on (EDPB Recommendations 01/2020)."""

    ENCRYPTION_TRANSIT = "encryption_in_transit", "Encryption in transit"
    ENCRYPTION_REST = "encryption_at_rest_keys_at_source", "Encryption at rest, keys kept at source"
    PSEUDONYMISATION = "pseudonymisation", "Pseudonymisation before transfer"
    SPLIT_PROCESSING = "split_processing", "Split or multi-party processing"
    ACCESS_CONTROLS = "access_controls", "Strict access controls and logging"
    DATA_MINIMISATION = "data_minimisation", "Data minimisation"
    CONTRACTUAL = "contractual", "Contractual measures (transparency, challenge of requests)"
    ORGANISATIONAL = "organisational", "Organisational measures (policies, training)"


class TransferException(models.Model):
    """Someone asks that datasets may be used in destination regions, for a purpose, for a time."""

    title = models.CharField(max_length=200)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfer_exceptions"
    )
    datasets = models.ManyToManyField(Dataset, related_name="transfer_exceptions")
    source_regions = models.ManyToManyField(Region, related_name="+")
    destination_regions = models.ManyToManyField(Region, related_name="+")
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT)
    training_runs = models.ManyToManyField(TrainingRun, related_name="exceptions", blank=True)
    mechanism = models.CharField(max_length=40, choices=TransferMechanism.choices)
    scc_module = models.CharField(max_length=10, choices=SccModule.choices, blank=True)
    derogation = models.CharField(max_length=10, choices=Derogation.choices, blank=True)
    mechanism_detail = models.CharField(max_length=200, blank=True)
    # The transfer impact assessment, as structured fields.
    tia_destination_laws = BoundedTextField(
        max_length=TEXT,
        blank=True,
        help_text="The destination's laws and practices that bear on the transfer",
    )
    tia_risks = models.JSONField(default=list, blank=True, help_text="The risks found, one each")
    tia_risk_level = models.CharField(
        max_length=10, choices=RiskLevel.choices, default=RiskLevel.MEDIUM
    )
    tia_measures = models.JSONField(
        default=list, blank=True, help_text="Supplementary measures (codes)"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    justification = BoundedTextField(max_length=TEXT)
    status = models.CharField(
        max_length=20,
        choices=ExceptionStatus.choices,
        default=ExceptionStatus.DRAFT,
        editable=False,
        db_index=True,
    )
    # How risky and how many approvers: fixed when submitted.
    risk = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    approvals_required = models.PositiveSmallIntegerField(default=1, editable=False)
    review_round = models.PositiveIntegerField(default=0, editable=False)
    grant = models.OneToOneField(
        TransferGrant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="exception",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("review_transferexception", "Can review this transfer exception")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="exception_ends_after_start"
            )
        ]
        indexes = [models.Index(fields=["status", "ends_at"], name="exception_due")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.title}"

    @property
    def reference(self) -> str:
        return f"EX-{self.pk}"


class TransferExceptionUserObjectPermission(UserObjectPermissionBase):
    """guardian's direct foreign-key permissions: who may review which exception."""

    content_object = models.ForeignKey(TransferException, on_delete=models.CASCADE)


class TransferExceptionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(TransferException, on_delete=models.CASCADE)


class ExceptionEvent(AppendOnly):
    """One step of an exception's timeline: a transition or a comment, never rewritten."""

    exception = models.ForeignKey(
        TransferException, on_delete=models.CASCADE, related_name="events"
    )
    at = models.DateTimeField(auto_now_add=True)
    # Deleting the person leaves the event alone (it is append-only); actor_name says who.
    actor = append_only_reference(settings.AUTH_USER_MODEL, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=30)
    from_status = models.CharField(max_length=20, choices=ExceptionStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ExceptionStatus.choices, blank=True)
    comment = BoundedTextField(max_length=TEXT, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_name}"


class ExceptionApproval(models.Model):
    """One reviewer's approval in one review round; four-eyes exceptions need two."""

    exception = models.ForeignKey(
        TransferException, on_delete=models.CASCADE, related_name="approvals"
    )
    review_round = models.PositiveIntegerField()
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approver_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exception", "review_round", "approver"], name="one_approval_per_round"
            )
        ]

    def __str__(self) -> str:
        return f"Approved by {self.approver_name}"


class ExceptionReminder(models.Model):
    """An expiry notice sent: the row claims the notice, so it goes out once."""

    exception = models.ForeignKey(
        TransferException, on_delete=models.CASCADE, related_name="reminders"
    )
    days_before = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exception", "days_before"], name="one_reminder")
        ]

    def __str__(self) -> str:
        return f"{self.days_before}-day notice"
