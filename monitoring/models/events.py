"""Telemetry as it arrived (append-only), catalog gaps, and the rollups dashboards read."""

from __future__ import annotations

from django.db import models

from catalog.models import AppendOnly, Dataset
from monitoring.models.sources import TelemetrySource


class EventKind(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    TRANSFER = "transfer", "Transfer"
    TRAINING_STEP = "training_step", "Training step"
    ACCESS = "access", "Access"


class EventOutcome(models.TextChoices):
    COMPLIANT = "compliant", "Compliant"
    GRANTED = "granted", "Covered by a grant"
    VIOLATION = "violation", "Violation"
    UNKNOWN_DATASET = "unknown_dataset", "Unknown dataset"


class TelemetryEvent(AppendOnly):
    """One reported event and the engine's judgement of it, written once (ingest only)."""

    # Neither foreign key gets an index of its own: the unique (source, client id) and the
    # (dataset, time) indexes lead with them, and each index is paid for on every insert.
    # Nor a database constraint on the source: only ingest writes events, with the source it
    # authenticated, and sources are revoked, never deleted (PROTECT still refuses it); the
    # constraint's check, one lookup per event at commit, cost 3 ms per 1,000 events.
    source = models.ForeignKey(
        TelemetrySource,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,
        db_constraint=False,
    )
    client_id = models.CharField(max_length=100, help_text="The sender's id, for idempotency")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    # No database constraint: the row outlives the dataset and is never updated (trigger).
    dataset = models.ForeignKey(
        Dataset,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    dataset_ref = models.CharField(max_length=500, help_text="Slug or URI, as sent")
    actor = models.CharField(max_length=200, blank=True)
    source_region = models.CharField(max_length=60, blank=True)
    destination_region = models.CharField(
        max_length=60, blank=True, help_text="Where the data went or is computed on"
    )
    source_country = models.CharField(max_length=2, blank=True)
    destination_country = models.CharField(max_length=2, blank=True)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)
    run_id = models.CharField(max_length=200, blank=True)
    purpose = models.CharField(max_length=60, blank=True)
    outcome = models.CharField(max_length=20, choices=EventOutcome.choices)
    rule = models.CharField(max_length=120, blank=True)
    reason = models.TextField(blank=True)
    grant_id = models.PositiveBigIntegerField(null=True, blank=True)
    policy_version = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "client_id"], name="telemetry_event_once")
        ]
        indexes = [
            models.Index(fields=["occurred_at"], name="telemetry_event_time"),
            models.Index(fields=["dataset", "occurred_at"], name="telemetry_event_dataset"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.dataset_ref} -> {self.destination_region} ({self.outcome})"


class UnregisteredAsset(models.Model):
    """A catalog gap: telemetry names a dataset the catalog does not know (counted on ingest)."""

    dataset_ref = models.CharField(max_length=500, unique=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    events = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    last_source = models.ForeignKey(
        TelemetrySource, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_actor = models.CharField(max_length=200, blank=True)
    last_region = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "id"]

    def __str__(self) -> str:
        return self.dataset_ref


class FlowDaily(models.Model):
    """Counts per day x dataset x source country x destination country x outcome (on ingest).

    `dataset_key` is the dataset's id, 0 for datasets the catalog does not know; `jurisdiction`
    is the dataset's storage jurisdiction ("" when unknown), kept so figures need no join.
    """

    day = models.DateField()
    dataset_key = models.BigIntegerField()
    source_country = models.CharField(max_length=2)
    destination_country = models.CharField(max_length=2)
    outcome = models.CharField(max_length=20, choices=EventOutcome.choices)
    jurisdiction = models.CharField(max_length=20, blank=True)
    events = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-day", "dataset_key"]
        verbose_name_plural = "daily flows"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "dataset_key", "source_country", "destination_country", "outcome"],
                name="flow_daily_key",
            )
        ]
        indexes = [
            models.Index(fields=["jurisdiction", "day"], name="flow_daily_jurisdiction"),
            models.Index(fields=["dataset_key", "day"], name="flow_daily_dataset"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.dataset_key} {self.source_country}->{self.destination_country}"


class ActorVolumeHourly(models.Model):
    """What one actor moved per hour: the baseline the volume anomaly rule reads (on ingest)."""

    actor = models.CharField(max_length=200)
    hour = models.DateTimeField()
    events = models.PositiveBigIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["actor", "-hour"]
        constraints = [
            models.UniqueConstraint(fields=["actor", "hour"], name="actor_volume_hour_key")
        ]

    def __str__(self) -> str:
        return f"{self.actor} @ {self.hour:%Y-%m-%d %H}h"


class ActorFootprint(models.Model):
    """A place or dataset an actor has touched ("actor" itself: when they were first seen).

    first_seen_at is exact; last_seen_at and events are refreshed at most hourly (ingest writes
    a footprint when it is new or an hour stale, adding that batch's events).
    """

    class Kind(models.TextChoices):
        ACTOR = "actor", "Actor"
        REGION = "region", "Region"
        DATASET = "dataset", "Dataset"

    actor = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=500, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    events = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["actor", "kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["actor", "kind", "value"], name="actor_footprint_key")
        ]

    def __str__(self) -> str:
        return f"{self.actor}: {self.kind} {self.value}"
