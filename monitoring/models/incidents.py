"""Violations, the incidents they group into, anomaly alerts, and the stream outbox."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from catalog.fields import TEXT, BoundedTextField
from catalog.models import AppendOnly, Dataset, Jurisdiction
from monitoring.models.events import TelemetryEvent


class Basis(models.TextChoices):
    """Which rules a violation broke: the law (the transfer was unlawful: the legal verdict was
    deny, or needs a mechanism none was recorded for), or only the house's own rules."""

    LEGAL = "legal", "The law"
    HOUSE = "house", "House rules only"


class BreachAssessment(models.TextChoices):
    """A privacy officer's finding: was this a personal-data breach, and must it be reported?"""

    NOT_ASSESSED = "not_assessed", "Not assessed"
    NOT_A_BREACH = "not_a_breach", "Not a personal-data breach"
    NOTIFIABLE = "breach_notifiable", "Breach, notifiable"
    NOT_NOTIFIABLE = "breach_not_notifiable", "Breach, not notifiable"


class ClockState(models.TextChoices):
    """Whether an incident's regulator clock runs."""

    NONE = "", "No regulator clock"
    POSSIBLE = "if_breach", "If this is a notifiable breach"
    DUE = "due", "Notifiable breach"


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
    """The violations of one dataset towards one destination under one rule, handled as one
    case: at most one is unresolved per group, and a recently resolved one is reopened
    (monitoring.incidents.violations)."""

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
    rule = models.CharField(
        max_length=120,
        blank=True,
        help_text="The rule its violations broke, as the engine names it (law:..., rule:<id>, "
        "builtin:...): with the dataset and destination, what groups violations",
    )
    explanation = models.JSONField(
        default=dict,
        help_text="What the law and the house rules said when it opened: {legal: {outcome, "
        "rule, reason, citation, regime}, house: {outcome, rule, reason}, policy_version}",
    )
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
    basis = models.CharField(
        max_length=10,
        choices=Basis.choices,
        default=Basis.HOUSE,
        help_text="Legal if any of its violations broke the law, else house rules only",
    )
    opened_at = models.DateTimeField(
        help_text="When Locus became aware (where the laws' breach clocks start)"
    )
    first_violation_at = models.DateTimeField()
    last_violation_at = models.DateTimeField()
    violation_count = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    playbook = models.JSONField(default=empty_playbook)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    reopened_at = models.DateTimeField(
        null=True, blank=True, help_text="When a violation last reopened it after it was resolved"
    )
    authority_notified_at = models.DateTimeField(null=True, blank=True)
    breach_assessment = models.CharField(
        max_length=30,
        choices=BreachAssessment.choices,
        default=BreachAssessment.NOT_ASSESSED,
        editable=False,
    )
    breach_reasoning = BoundedTextField(max_length=TEXT, blank=True)
    breach_assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    breach_assessed_at = models.DateTimeField(null=True, blank=True)
    breach_clocks = models.JSONField(
        default=list,
        help_text="The breach clocks of the data's laws when it opened "
        "(monitoring.incidents.breach.clocks_for)",
    )
    regulator_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="opened_at plus the shortest clock given in hours: when a regulator must be "
        "told by, if this is a notifiable breach",
    )
    resolution = BoundedTextField(max_length=TEXT, blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change (CAS)")
    updated_at = models.DateTimeField(auto_now=True)
    drill = models.ForeignKey(
        "monitoring.Drill",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="incidents",
        help_text="Set on a breach drill's incident: never counted in the real figures",
    )

    class Meta:
        ordering = ["-last_violation_at", "-id"]
        indexes = [
            models.Index(fields=["status", "last_violation_at"], name="incident_status"),
            models.Index(
                fields=["dataset", "destination_region", "rule", "status"],
                name="incident_rule_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{'Drill incident' if self.drill_id else 'Incident'} #{self.pk}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED

    @property
    def legal_verdict(self) -> dict:
        """What the law said when it opened ({} when not recorded)."""
        return self.explanation.get("legal") or {}

    @property
    def house_verdict(self) -> dict:
        """What the house rules said when it opened ({} when not recorded)."""
        return self.explanation.get("house") or {}

    @property
    def rule_kind(self) -> str:
        """ "law" when the law was broken, else "house"."""
        return "law" if self.basis == Basis.LEGAL else "house"

    @property
    def rule_label(self) -> str:
        """The broken rule in a few words: the article for the law, the officers' rule or the
        dataset's declared regions for house rules."""
        legal, house = self.legal_verdict, self.house_verdict
        if self.basis == Basis.LEGAL and legal:
            cited = legal.get("citation") or legal.get("rule") or self.rule
            scoped = legal.get("rule", "").endswith(":scope")
            return f"{cited} (only for some recipients)" if scoped else cited
        if house.get("outcome") == "deny":
            return house_rule_label(house.get("rule", ""), house.get("reason", ""))
        return house_rule_label(self.rule, "")

    @property
    def clock_state(self) -> str:
        """Whether the regulator clock runs. The laws' clocks start when a controller becomes
        aware of a personal-data breach. A house-rule deviation is no breach by itself: no clock
        until an officer finds it a notifiable one. An unlawful transfer of personal data may be
        one: until assessed, its clock is shown as what it would be ("if a breach")."""
        if not self.personal_data:
            return ClockState.NONE
        if self.breach_assessment == BreachAssessment.NOTIFIABLE:
            return ClockState.DUE
        if self.breach_assessment == BreachAssessment.NOT_ASSESSED and self.basis == Basis.LEGAL:
            return ClockState.POSSIBLE
        return ClockState.NONE

    @property
    def regulator_deadline(self) -> dt.datetime | None:
        """When the regulator must be told by: only for a breach assessed notifiable, and only
        where one of its laws gives a number of hours."""
        return self.regulator_due_at if self.clock_state == ClockState.DUE else None

    @property
    def possible_regulator_deadline(self) -> dt.datetime | None:
        """The deadline the incident would have if it is a notifiable breach (not assessed)."""
        return self.regulator_due_at if self.clock_state == ClockState.POSSIBLE else None

    @property
    def regulator_hours_left(self) -> float | None:
        """Hours to the deadline shown, real or possible (negative: overdue); None when there is
        none or the regulator was told."""
        if not self.clock_state or self.regulator_due_at is None:
            return None
        if self.authority_notified_at is not None:
            return None
        return round((self.regulator_due_at - timezone.now()).total_seconds() / 3600, 1)

    @property
    def regulator_clocks(self) -> list[dict]:
        """The clocks that apply now (those of the data's laws, when a clock runs)."""
        return list(self.breach_clocks) if self.clock_state else []


HOUSE_RULE_LABELS = {
    "builtin:dataset-allowed-regions": "the dataset's declared regions",
    "builtin:restricted-stays-in-storage-region": "restricted data stays where it is stored",
    "builtin:storage-region": "the dataset's storage region",
}


def house_rule_label(rule: str, reason: str) -> str:
    """A house rule in words: an officers' rule by its name (from the engine's reason), or the
    dataset's declared regions."""
    if rule in HOUSE_RULE_LABELS:
        return HOUSE_RULE_LABELS[rule]
    if rule.startswith("rule:") and "'" in reason:
        return "officers' rule " + reason[reason.index("'") : reason.rindex("'") + 1]
    return rule or "a house rule"


class IncidentEvent(AppendOnly):
    """One line of an incident's timeline: a step someone took, a comment, a reopening."""

    class Kind(models.TextChoices):
        REOPENED = "reopened", "Reopened by a new violation"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CONTAINED = "contained", "Contained"
        RESOLVED = "resolved", "Resolved"
        ASSIGNED = "assigned", "Assigned"
        ASSESSED = "assessed", "Breach assessed"
        PLAYBOOK = "playbook", "Playbook step"
        COMMENT = "comment", "Comment"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="Empty: Locus itself")
    note = BoundedTextField(max_length=TEXT, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="incident_event_time")]

    def __str__(self) -> str:
        return f"#{self.incident_id} {self.kind} at {self.at:%Y-%m-%d %H:%M}"


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
    basis = models.CharField(max_length=10, choices=Basis.choices, default=Basis.HOUSE)
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
