"""Violations, the incidents they group into, anomaly alerts, and the stream outbox."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.models import Dataset, Jurisdiction
from monitoring.models.events import TelemetryEvent

ART33_HOURS = 72  # GDPR Art. 33(1): notify the supervisory authority within 72 hours of awareness


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK: dict[str, int] = {
    Severity.LOW: 0,
    Severity.MEDIUM: 1,
    Severity.HIGH: 2,
    Severity.CRITICAL: 3,
}
PLAYBOOK_STEPS = ("contain", "assess", "notify", "remediate", "review")


def empty_playbook() -> dict:
    return {step: None for step in PLAYBOOK_STEPS}


class Incident(models.Model):
    """Violations of one dataset towards one destination within a window, handled as one case."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CONTAINED = "contained", "Contained"
        RESOLVED = "resolved", "Resolved"

    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    dataset_slug = models.CharField(max_length=120)
    destination_region = models.CharField(max_length=60)
    destination_country = models.CharField(max_length=2, blank=True)
    title = models.CharField(max_length=300)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, editable=False
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    jurisdictions = models.ManyToManyField(Jurisdiction, related_name="incidents", blank=True)
    jurisdiction_codes = models.JSONField(default=list, help_text="The same, for display")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="monitoring_incidents",
        help_text="Who handles it",
    )
    personal_data = models.BooleanField(default=False)
    opened_at = models.DateTimeField(help_text="When Locus became aware (Art. 33 clock starts)")
    first_violation_at = models.DateTimeField()
    last_violation_at = models.DateTimeField()
    violation_count = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    playbook = models.JSONField(default=empty_playbook)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change (CAS)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_violation_at", "-id"]
        indexes = [
            models.Index(fields=["status", "last_violation_at"], name="incident_status"),
            models.Index(fields=["dataset", "destination_region", "status"], name="incident_group"),
        ]

    def __str__(self) -> str:
        return f"Incident #{self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED

    @property
    def art33_deadline(self) -> dt.datetime | None:
        """Where personal data is involved: when the supervisory authority must be told by."""
        if not self.personal_data:
            return None
        return self.opened_at + dt.timedelta(hours=ART33_HOURS)

    @property
    def art33_hours_left(self) -> float | None:
        """Hours to the Art. 33 deadline (negative: overdue); None when not applicable or done."""
        deadline = self.art33_deadline
        if deadline is None or self.authority_notified_at is not None:
            return None
        return round((deadline - timezone.now()).total_seconds() / 3600, 1)


class Violation(models.Model):
    """An event the engine denied: its decision, severity and the jurisdictions involved."""

    event = models.OneToOneField(TelemetryEvent, on_delete=models.PROTECT, related_name="violation")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="violations")
    occurred_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="violations"
    )
    dataset_slug = models.CharField(max_length=120)
    kind = models.CharField(max_length=20)
    actor = models.CharField(max_length=200, blank=True)
    source_region = models.CharField(max_length=60, blank=True)
    destination_region = models.CharField(max_length=60)
    source_country = models.CharField(max_length=2, blank=True)
    destination_country = models.CharField(max_length=2, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    rule = models.CharField(max_length=120)
    reason = models.TextField()
    policy_version = models.CharField(max_length=60)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    jurisdiction_codes = models.JSONField(default=list)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="violation_time"),
            models.Index(fields=["dataset", "occurred_at"], name="violation_dataset"),
        ]

    def __str__(self) -> str:
        return f"Violation #{self.pk}: {self.dataset_slug} -> {self.destination_region}"


class AnomalyAlert(models.Model):
    """An actor did something unlike their past: a new region or dataset, or far more volume."""

    class Kind(models.TextChoices):
        NEW_REGION = "new_region", "First access from a new region"
        NEW_DATASET = "new_dataset", "First access to a new dataset"
        VOLUME = "volume", "Volume far above baseline"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        DISMISSED = "dismissed", "Dismissed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.OPEN, editable=False
    )
    dedupe_key = models.CharField(max_length=700, unique=True, editable=False)
    actor = models.CharField(max_length=200)
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="anomaly_alerts"
    )
    dataset_ref = models.CharField(max_length=500, blank=True)
    region = models.CharField(max_length=60, blank=True)
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="anomaly_alerts",
        help_text="Whose officers are told (empty: all)",
    )
    detected_at = models.DateTimeField()
    occurred_at = models.DateTimeField()
    observed = models.FloatField(null=True, blank=True, help_text="Bytes in the hour (volume)")
    baseline_median = models.FloatField(null=True, blank=True)
    baseline_mad = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    detail = models.CharField(max_length=500)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        indexes = [models.Index(fields=["status", "detected_at"], name="anomaly_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.actor}"


class StreamMessage(models.Model):
    """The outbox of the risk stream: one row per pushed message, in commit order.

    `seq` grows in commit order (writers take a lock just before inserting, as the last step of
    their transaction), so "everything after seq N" never skips a row that commits later.
    `jurisdictions` and `dataset_ids` say who may see it (see monitoring.selectors).
    """

    class Kind(models.TextChoices):
        VIOLATION = "violation.created", "Violation"
        INCIDENT_OPENED = "incident.opened", "Incident opened"
        INCIDENT_UPDATED = "incident.updated", "Incident updated"
        ALERT = "alert.raised", "Anomaly alert"
        ALERT_UPDATED = "alert.updated", "Anomaly alert updated"
        KPI = "kpi.delta", "KPI delta"

    seq = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    jurisdictions = models.JSONField(default=list)
    dataset_ids = models.JSONField(default=list)
    payload = models.JSONField()
    # Not a column: monitoring.consumers keeps the row's JSON for those who see everything on
    # the row (encoded once per process); unset until then.
    _json_for_all: str | None

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}"
