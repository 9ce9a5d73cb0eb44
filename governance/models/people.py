"""Who answers for what, and what they are told: jurisdiction responsibilities, notifications,
each person's delivery preferences and the digests sent to them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from catalog.models import Jurisdiction


class Responsibility(models.Model):
    """A privacy officer answers for a jurisdiction: reviews its transfer exceptions, watches its
    violations and subject requests. An officer with no responsibility answers for every one,
    so a small team needs no set-up; once given one, they answer for theirs alone."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="responsibilities"
    )
    jurisdiction = models.ForeignKey(
        Jurisdiction, on_delete=models.CASCADE, related_name="responsibilities"
    )

    class Meta:
        verbose_name_plural = "responsibilities"
        ordering = ["jurisdiction__code", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "jurisdiction"], name="one_responsibility")
        ]

    def __str__(self) -> str:
        return f"{self.user} answers for {self.jurisdiction}"


class NotificationTopic(models.TextChoices):
    """What a notification is about: the "kind" people choose their delivery by."""

    INCIDENT = "incident", "Incidents"
    ALERT = "alert", "Access anomalies"
    EXCEPTION = "exception", "Transfer exceptions"
    SUBJECT_REQUEST = "subject_request", "Subject requests"
    OTHER = "other", "Other"
    DIGEST = "digest", "Digests"


class NotificationSeverity(models.TextChoices):
    """How urgent a notification is (an incident's own severity, or its kind's)."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Delivery(models.TextChoices):
    """How a person wants one topic and severity delivered."""

    IMMEDIATE = "immediate", "At once"
    HOURLY = "hourly", "Hourly digest"
    DAILY = "daily", "Daily digest"
    OFF = "off", "Off"


class DigestFrequency(models.TextChoices):
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"


class Notification(models.Model):
    """One in-app message to one person; its e-mail copy goes out after the commit that made
    it (delivery immediate) or in that person's next digest (hourly, daily)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=60)
    topic = models.CharField(
        max_length=20, choices=NotificationTopic.choices, default=NotificationTopic.OTHER
    )
    severity = models.CharField(
        max_length=10, choices=NotificationSeverity.choices, default=NotificationSeverity.MEDIUM
    )
    delivery = models.CharField(
        max_length=10, choices=Delivery.choices, default=Delivery.IMMEDIATE, editable=False
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        "NotificationDigest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="items",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "read_at"], name="notification_unread"),
            models.Index(fields=["recipient", "-created_at"], name="notification_newest"),
            # What the digest task looks for: items waiting for a digest, few at any time.
            models.Index(
                fields=["recipient", "delivery"],
                name="notification_awaiting_digest",
                condition=models.Q(digest__isnull=True)
                & models.Q(delivery__in=["hourly", "daily"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (to {self.recipient})"


class NotificationPreference(models.Model):
    """One person's choice for one topic and severity; without a row, the role's default
    (governance.notifications.preferences.default_delivery) applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    topic = models.CharField(max_length=20, choices=NotificationTopic.choices)
    severity = models.CharField(max_length=10, choices=NotificationSeverity.choices)
    delivery = models.CharField(max_length=10, choices=Delivery.choices)

    class Meta:
        ordering = ["user_id", "topic", "severity"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "topic", "severity"], name="one_notification_preference"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.topic}/{self.severity} {self.delivery}"


class NotificationSettings(models.Model):
    """A person's digest settings: the hour (UTC) their daily digest goes out."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notification_settings",
        primary_key=True,
    )
    daily_digest_hour = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(23)], help_text="0-23, UTC"
    )

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"{self.user}: daily digest at {self.daily_digest_hour:02d}:00 UTC"


class NotificationDigest(models.Model):
    """One digest sent to one person: the items it took (Notification.digest), the period it
    covers, and its in-app summary (whose e-mail copy is the digest e-mail). One per person,
    frequency and slot, so a second run of the task for the same slot sends nothing."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_digests"
    )
    frequency = models.CharField(max_length=10, choices=DigestFrequency.choices)
    since = models.DateTimeField(null=True, blank=True, help_text="The previous digest's slot")
    until = models.DateTimeField(help_text="The slot: items created before it")
    item_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    summary = models.OneToOneField(
        Notification, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-until", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "frequency", "until"], name="one_digest_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.frequency} digest to {self.recipient} until {self.until:%Y-%m-%d %H:%M}"
