"""Breach drills: a synthetic violation an officer starts to rehearse the incident path."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from catalog.models import Dataset


class Drill(models.Model):
    """One rehearsal: its synthetic violation goes through ingest, incident, notices and the
    breach assessment like a real one, marked as a drill and kept out of every real figure
    (monitoring.drills). Its report measures the response against the regime's clock."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"

    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.RUNNING, editable=False
    )
    scenario = models.CharField(max_length=300, help_text="What the drill rehearses")
    dataset = models.ForeignKey(Dataset, on_delete=models.SET_NULL, null=True, related_name="+")
    dataset_slug = models.CharField(max_length=120)
    destination_region = models.CharField(max_length=60)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    started_by_name = models.CharField(max_length=150)
    started_at = models.DateTimeField()
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(
        default=dict, blank=True, help_text="The measured times, frozen when it completed"
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Drill #{self.pk}: {self.scenario}"
