"""OpenLineage runs as Locus knows them: the run, its events as received, the datasets it named,
and where the jobs of a namespace run."""

from __future__ import annotations

from django.db import models

from catalog.models import AppendOnly, Dataset, Region
from monitoring.models.sources import TelemetrySource


class RunEventType(models.TextChoices):
    START = "START", "Start"
    RUNNING = "RUNNING", "Running"
    COMPLETE = "COMPLETE", "Complete"
    FAIL = "FAIL", "Fail"
    ABORT = "ABORT", "Abort"
    OTHER = "OTHER", "Other"


class LocationRule(models.TextChoices):
    """Which rule decided where a run executed (strongest first)."""

    RUN_FACET = "run_facet", "Run facet locus_location"
    NAMESPACE_TABLE = "namespace_table", "Job namespace (admin table)"
    NAMESPACE_SETTING = "namespace_setting", "Job namespace (OPENLINEAGE_NAMESPACE_REGIONS)"
    OUTPUT_STORAGE = "output_storage", "Storage region of the outputs"
    UNKNOWN = "unknown", "Unknown"


class LineageNamespaceRegion(models.Model):
    """Where the jobs of one OpenLineage job namespace run (edited in the admin)."""

    namespace = models.CharField(max_length=255, unique=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["namespace"]

    def __str__(self) -> str:
        return f"{self.namespace} -> {self.region_id}"


class LineageRun(models.Model):
    """One OpenLineage run (a job run in Locus), known by its runId, built from its events."""

    run_id = models.UUIDField(unique=True)
    source = models.ForeignKey(TelemetrySource, on_delete=models.PROTECT, related_name="+")
    job_namespace = models.CharField(max_length=255)
    job_name = models.CharField(max_length=500)
    parent_run_id = models.UUIDField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=RunEventType.choices)
    state_at = models.DateTimeField(help_text="eventTime of the event that set the state")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    region = models.CharField(max_length=60, blank=True, help_text="Where it executed")
    location_rule = models.CharField(
        max_length=20, choices=LocationRule.choices, default=LocationRule.UNKNOWN
    )
    location_detail = models.CharField(max_length=300, blank=True)
    purpose = models.CharField(max_length=60, blank=True)
    not_judged = models.TextField(
        blank=True,
        help_text="Why some of its reads could not be judged (blank: every read was judged)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-state_at", "-id"]
        indexes = [models.Index(fields=["job_namespace", "job_name"], name="lineage_run_job")]

    def __str__(self) -> str:
        return f"{self.job_namespace}/{self.job_name} {self.run_id} ({self.state})"


class LineageEvent(AppendOnly):
    """One RunEvent as it arrived, unknown fields and facets included (append-only).

    `dedupe_key` makes a resent event a no-op: the event type for START and the terminal types
    (one per run), the type and eventTime for RUNNING and OTHER (several per run).
    """

    run = models.ForeignKey(LineageRun, on_delete=models.PROTECT, related_name="events")
    source = models.ForeignKey(TelemetrySource, on_delete=models.PROTECT, related_name="+")
    event_type = models.CharField(max_length=10, choices=RunEventType.choices)
    event_time = models.DateTimeField()
    dedupe_key = models.CharField(max_length=60)
    received_at = models.DateTimeField()
    raw = models.JSONField()

    class Meta:
        ordering = ["event_time", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "dedupe_key"], name="lineage_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.run_id} @ {self.event_time:%Y-%m-%d %H:%M:%S}"


class LineageRunDataset(models.Model):
    """A dataset a run named as input or output, and the catalog entry it maps to (if any)."""

    class Role(models.TextChoices):
        INPUT = "input", "Input"
        OUTPUT = "output", "Output"

    run = models.ForeignKey(LineageRun, on_delete=models.CASCADE, related_name="datasets")
    role = models.CharField(max_length=6, choices=Role.choices)
    namespace = models.CharField(max_length=255)
    name = models.CharField(max_length=500)
    uri = models.CharField(max_length=500, help_text="namespace/name: what Dataset.uri matches")
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_seen_at = models.DateTimeField()
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    # What of bytes and records the telemetry volumes hold (None: no read judged yet): the
    # statistics of a later event of the run are added as the difference.
    bytes_counted = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    records_counted = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["run", "role", "uri"]
        constraints = [
            models.UniqueConstraint(fields=["run", "role", "uri"], name="lineage_run_dataset_once")
        ]
        indexes = [models.Index(fields=["uri"], name="lineage_run_dataset_uri")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.role} {self.uri}"
