"""Access reviews: periodic campaigns in which each data owner confirms or revokes who may read
or change their datasets (governance.reviews)."""

from django.conf import settings
from django.db import models

from catalog.models import Dataset


class AccessReview(models.Model):
    """One campaign: every access to every dataset, as it stood when the campaign opened."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=120)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, editable=False
    )
    opened_at = models.DateTimeField()
    remind_at = models.DateTimeField(help_text="Owners with items still pending are reminded")
    due_at = models.DateTimeField(help_text="Items still pending are escalated to officers")
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    opened_by_name = models.CharField(max_length=150, help_text="A person, or the schedule")

    class Meta:
        ordering = ["-opened_at", "-id"]

    def __str__(self) -> str:
        return self.name


class AccessReviewItem(models.Model):
    """One access under review: a person's object permission, a role, an API token, a
    telemetry source; confirmed or revoked by its reviewer (the dataset's owner, or a privacy
    officer for organisation-wide access)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CONFIRMED = "confirmed", "Confirmed"
        REVOKED = "revoked", "Revoked"
        GONE = "gone", "No longer held"

    campaign = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    dataset = models.ForeignKey(
        Dataset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dataset_slug = models.CharField(max_length=120, blank=True, help_text="'' : organisation-wide")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The dataset's owner; empty: any privacy officer",
    )
    kind = models.CharField(max_length=30, help_text="governance.reviews.subjects")
    reference = models.CharField(max_length=200, help_text="What the kind revokes, by id")
    holder = models.CharField(max_length=200, help_text="Who or what holds the access")
    access = models.CharField(max_length=200, help_text="What it may do")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, editable=False
    )
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_by_name = models.CharField(max_length=150, blank=True, editable=False)
    note = models.CharField(max_length=300, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["dataset_slug", "kind", "holder", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "dataset_slug", "kind", "reference"],
                name="access_review_item_once",
            )
        ]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.holder}: {self.access} ({self.dataset_slug or 'organisation'})"
