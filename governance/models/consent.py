"""Consent notices: what data subjects were asked to consent to, at one version."""

from django.conf import settings
from django.db import models

from catalog.models import Dataset, Jurisdiction
from governance.models.policy import Purpose


class ConsentNotice(models.Model):
    """One version of a consent notice: the law it was written under, the datasets it asks
    consent for (a dataset group) and the purposes it covers. A change is a new version."""

    code = models.SlugField(max_length=60, help_text="The notice, across its versions")
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    jurisdiction = models.ForeignKey(
        Jurisdiction, on_delete=models.PROTECT, related_name="consent_notices"
    )
    datasets = models.ManyToManyField(Dataset, related_name="consent_notices")
    purposes = models.ManyToManyField(Purpose, related_name="consent_notices")
    published_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="consent_notice_version")
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"
