"""Retention enforced: a run per dataset and period that deletes the records older than the
dataset's retention (by its connector, or by its owner), and the legal holds that suspend it.

The workflow lives in `requests/retention/`."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.fields import TEXT, BoundedTextField
from catalog.models import Dataset


class RunStatus(models.TextChoices):
    OPEN = "open", "Open"
    RUNNING = "running", "Connector running"
    FAILED = "failed", "Connector failed: needs the owner"
    DONE = "done", "Done"


UNFINISHED = (RunStatus.OPEN, RunStatus.RUNNING, RunStatus.FAILED)


class RetentionRun(models.Model):
    """One period's deletion of a dataset's records older than its retention (once per
    dataset and period: the row is the work, claimed like a subject-request task)."""

    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, related_name="retention_runs"
    )
    dataset_slug = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="retention_runs"
    )
    period_start = models.DateField(help_text="The first day of the retention period it answers")
    retention_days = models.PositiveIntegerField(help_text="The dataset's retention when opened")
    cutoff = models.DateTimeField(help_text="Records older than this are deleted")
    due_on = models.DateField()
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.OPEN, editable=False
    )
    automatic = models.BooleanField(default=False, help_text="The dataset's connector runs it")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # Rows counted inside the target's transaction before it commits (as for subject tasks).
    prepared_rows = models.PositiveIntegerField(null=True, blank=True, editable=False)
    rows_deleted = models.PositiveIntegerField(null=True, blank=True)
    note = BoundedTextField(max_length=TEXT, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "period_start"], name="one_retention_run_per_period"
            )
        ]
        indexes = [models.Index(fields=["status", "due_on"], name="retention_run_due")]

    def __str__(self) -> str:
        return f"{self.dataset_slug}: before {self.cutoff:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.status in UNFINISHED

    def overdue(self, today: dt.date) -> bool:
        return self.is_open and self.due_on < today


class LegalHold(models.Model):
    """A legal hold on a dataset: no retention run opens or deletes while it is in force."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="legal_holds")
    reason = BoundedTextField(max_length=TEXT)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    placed_by_name = models.CharField(max_length=150)
    placed_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until lifted")
    lifted_at = models.DateTimeField(null=True, blank=True, editable=False)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    lifted_by_name = models.CharField(max_length=150, blank=True, editable=False)
    lift_reason = BoundedTextField(max_length=TEXT, blank=True, editable=False)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(until__isnull=True) | Q(until__gt=models.F("placed_at")),
                name="legal_hold_until_after_placed",
            )
        ]

    def __str__(self) -> str:
        return f"Hold on {self.dataset_id} since {self.placed_at:%Y-%m-%d}"

    def in_force(self, now: dt.datetime) -> bool:
        return self.lifted_at is None and (self.until is None or self.until > now)
