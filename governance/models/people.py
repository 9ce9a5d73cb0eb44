"""Who answers for what, and what they are told: jurisdiction responsibilities, notifications."""

from django.conf import settings
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


class Notification(models.Model):
    """One in-app message to one person; the e-mail copy goes out after the commit that made it."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"{self.title} (to {self.recipient})"
