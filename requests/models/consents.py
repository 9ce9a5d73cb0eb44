"""Consent records: each time a data subject gives or withdraws consent, one append-only event.

The subject appears only as the keyed pseudonym subject requests use (governance.ledger.chain.
pseudonym of their identifier), never their identifier. The current state of a subject's consent
to a purpose for a dataset is the latest event (by the time it was given or withdrawn): see
requests.consents.selectors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from catalog.append_only import append_only_reference
from catalog.models import AppendOnly, Dataset
from governance.models import ConsentNotice
from requests.models.subjects import Channel


class ConsentState(models.TextChoices):
    GIVEN = "given", "Given"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentEvent(AppendOnly):
    """A subject gave or withdrew consent to a purpose for a dataset, under a notice's version."""

    subject_key = models.CharField(max_length=64, help_text="Keyed pseudonym of the subject")
    purpose = models.CharField(max_length=60, help_text="The purpose's code")
    # References that deleting their targets leaves alone (the row is append-only); the slug,
    # the notice's code and version and the client's name say what and who.
    dataset = append_only_reference(Dataset, related_name="consent_events")
    dataset_slug = models.CharField(max_length=120)
    notice = append_only_reference(ConsentNotice, related_name="consent_events")
    notice_code = models.CharField(max_length=60)
    notice_version = models.CharField(max_length=40)
    jurisdiction_code = models.CharField(max_length=20, help_text="The regime it was given under")
    state = models.CharField(max_length=10, choices=ConsentState.choices)
    at = models.DateTimeField(help_text="When the subject gave or withdrew it")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    client = append_only_reference(settings.AUTH_USER_MODEL, related_name="+")
    client_name = models.CharField(max_length=150)
    key = models.CharField(
        max_length=100, help_text="The client's idempotency key, or the event's natural key"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            # One event per client key and dataset: a replayed batch finds its events here.
            models.UniqueConstraint(
                fields=["client", "key", "dataset_slug"], name="consent_event_once"
            )
        ]
        indexes = [
            models.Index(fields=["subject_key", "at"], name="consent_event_subject"),
            models.Index(fields=["dataset_slug", "state"], name="consent_event_dataset"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_key} {self.state} {self.purpose} for {self.dataset_slug}"

    @property
    def ref(self) -> str:
        """How the ledger names it."""
        return f"consent-event:{self.pk}"
