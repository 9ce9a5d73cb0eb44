"""What each jurisdiction's law says, as data: how personal data may leave it, where it must be
stored, which destinations its government restricts, when a breach must be reported, and which
rights its data subjects have.

Every fact carries its citation, whether it was verified against the law's own text (or the
regulator's official page), and the address that was read. The reference data
(``reference_data.json``) is where these rows come from; the policy engine compiles them
(governance.policy.law), and the legal coverage report prints them.
"""

from __future__ import annotations

import datetime as dt

from django.db import models


class Verifiable(models.Model):
    """The provenance every legal fact carries."""

    citation = models.CharField(max_length=300)
    verified = models.BooleanField(
        default=False,
        help_text="Checked against the law's own text or the regulator's official page",
    )
    source = models.CharField(max_length=300, blank=True, help_text="The address that was read")
    notes = models.TextField(blank=True)

    class Meta:
        abstract = True


class TransferModel(models.TextChoices):
    """How a law treats personal data leaving its territory."""

    RESTRICTED = "restricted", "Restricted: a recognised destination or a listed mechanism"
    ACCOUNTABILITY = "accountability", "Open: the exporter stays accountable"
    OPEN_EXCEPT_LISTED = "open_except_listed", "Open, except to destinations the government lists"


class TransferLaw(Verifiable):
    """A jurisdiction's rule for personal data leaving it (its home area is its countries)."""

    jurisdiction = models.OneToOneField(
        "catalog.Jurisdiction",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="transfer_law",
    )
    model = models.CharField(max_length=20, choices=TransferModel.choices)
    mechanisms = models.JSONField(
        default=list, blank=True, help_text="[{code, name, citation}]: the routes the law accepts"
    )
    effective_from = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {self.get_model_display()}"


class LocalisationDuty(Verifiable):
    """A duty to store or process personal data inside the jurisdiction."""

    class Duty(models.TextChoices):
        STORE_FIRST = "store_first", "Record and store in the country first; copies may then leave"
        STORE_ONLY = "store_only", "Store and process only in the country"
        CONDITIONAL = "conditional", "Only for some organisations or above some volumes"

    jurisdiction = models.ForeignKey(
        "catalog.Jurisdiction", on_delete=models.CASCADE, related_name="localisation_duties"
    )
    duty = models.CharField(max_length=20, choices=Duty.choices)
    applies_to = models.CharField(max_length=300)
    categories = models.JSONField(
        default=list, blank=True, help_text="Personal data categories it covers (empty: all)"
    )
    effective_from = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["jurisdiction_id", "duty", "pk"]

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {self.get_duty_display()}"

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from is None or self.effective_from <= day


class DestinationRestriction(Verifiable):
    """Destinations a jurisdiction's government bars or conditions for some personal data (e.g.
    the US rule on bulk sensitive data to countries of concern, 28 CFR Part 202)."""

    class Effect(models.TextChoices):
        DENY = "deny", "Prohibited"
        NEEDS_MECHANISM = "needs_mechanism", "Allowed only with a listed safeguard"

    code = models.SlugField(max_length=60, unique=True)
    jurisdiction = models.ForeignKey(
        "catalog.Jurisdiction", on_delete=models.CASCADE, related_name="destination_restrictions"
    )
    countries = models.JSONField(default=list, help_text="ISO 3166-1 alpha-2 codes")
    categories = models.JSONField(
        default=list, blank=True, help_text="Personal data categories it covers (empty: all)"
    )
    bulk_thresholds = models.JSONField(
        default=dict, blank=True, help_text="{category: people} above which it applies"
    )
    effect = models.CharField(max_length=20, choices=Effect.choices)
    mechanisms = models.JSONField(default=list, blank=True)
    effective_from = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["jurisdiction_id", "code"]

    def __str__(self) -> str:
        return self.code


class BreachClock(Verifiable):
    """When a personal-data breach must be reported to the regulator and to the people affected."""

    jurisdiction = models.OneToOneField(
        "catalog.Jurisdiction",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="breach_clock",
    )
    regulator_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty where the law gives no number of hours"
    )
    regulator_deadline_text = models.CharField(max_length=300)
    threshold = models.CharField(max_length=300, blank=True)
    subjects_notice = models.CharField(max_length=300, blank=True)
    regulator = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {self.regulator_deadline_text}"


class SubjectRights(Verifiable):
    """The rights a jurisdiction's law gives data subjects, each with its article."""

    jurisdiction = models.OneToOneField(
        "catalog.Jurisdiction",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="subject_rights",
    )
    rights = models.JSONField(default=list, help_text="[{code, label, citation}]")
    citation = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name_plural = "subject rights"

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {len(self.rights)} rights"


class ConsentLaw(Verifiable):
    """Consent as a jurisdiction's lawful basis: the article that makes it one (given for
    specific purposes) and the article that lets the subject withdraw it."""

    jurisdiction = models.OneToOneField(
        "catalog.Jurisdiction",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="consent_law",
    )
    withdrawal_citation = models.CharField(max_length=300)
    says = models.CharField(
        max_length=300, help_text="What the law asks of consent, as an answer quotes it"
    )

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {self.citation}"
