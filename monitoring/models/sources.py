"""Who may send telemetry: sources with a hashed token and a scope, and outgoing webhooks."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

from catalog.models import Dataset, Jurisdiction, Region


def token_digest(token: str) -> str:
    """How a source token is stored and looked up: SHA-256 of a high-entropy random string."""
    return hashlib.sha256(token.encode()).hexdigest()


class TelemetrySource(models.Model):
    """A pipeline, data platform or audit log that reports telemetry, with its token and scope.

    Scope: an empty dataset list means any dataset, an empty region list any region.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        REVOKED = "revoked", "Revoked"

    name = models.CharField(max_length=120, unique=True)
    description = models.CharField(max_length=300, blank=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(
        max_length=12, editable=False, help_text="The token's first characters, to recognise it"
    )
    datasets = models.ManyToManyField(Dataset, blank=True, related_name="telemetry_sources")
    regions = models.ManyToManyField(Region, blank=True, related_name="telemetry_sources")
    default_purpose = models.CharField(
        max_length=60, default="analytics", help_text="Purpose of events that name none"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    drill = models.BooleanField(
        default=False,
        editable=False,
        help_text="Locus's own source of breach drills' synthetic events (monitoring.drills)",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class WebhookEndpoint(models.Model):
    """A Slack-compatible incoming webhook told about incidents in one jurisdiction (or all)."""

    name = models.CharField(max_length=120)
    jurisdiction = models.ForeignKey(
        Jurisdiction,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
        help_text="Empty: every jurisdiction",
    )
    url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.jurisdiction_id or 'all'})"


class WebhookDelivery(models.Model):
    """One message for one endpoint: a row first, sent after commit, retried until it goes."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    kind = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "created_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.kind} -> {self.endpoint_id} ({self.status})"
