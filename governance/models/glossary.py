"""The shared glossary: terms, the changes proposed to them, and every version published."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from catalog.fields import LONG_TEXT, TEXT, BoundedTextField
from catalog.models import AppendOnly


class TermStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    DEPRECATED = "deprecated", "Deprecated"


class Term(models.Model):
    """A glossary term; once approved, its fields are the published text."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True, help_text="Set once; the term's URL")
    definition = BoundedTextField(max_length=LONG_TEXT)
    synonyms = models.JSONField(default=list, blank=True)
    related = models.ManyToManyField("self", symmetrical=False, blank=True)
    steward = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stewarded_terms",
    )
    datasets = models.ManyToManyField("catalog.Dataset", blank=True, related_name="glossary_terms")
    # The term's machine-readable definition: the personal-data categories it means. A locality
    # rule that names the term matches datasets holding any of them (governance.policy).
    categories = models.ManyToManyField(
        "catalog.PersonalDataCategory", blank=True, related_name="glossary_terms"
    )
    rules = models.ManyToManyField(
        "governance.LocalityRule", blank=True, related_name="glossary_terms"
    )
    status = models.CharField(
        max_length=20, choices=TermStatus.choices, default=TermStatus.DRAFT, editable=False
    )
    version = models.PositiveIntegerField(default=0, help_text="0 until first approved")
    # Casefolded name, synonyms and definition: one column that every database searches the same
    # way, Unicode included (SQLite's LIKE folds only ASCII, JSON text escapes non-ASCII).
    search_text = models.TextField(editable=False, default="")
    deprecation_reason = BoundedTextField(max_length=TEXT, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Django orders by expressions too; the stubs accept only names and OrderBy.
        ordering = [Lower("name"), "id"]  # type: ignore[list-item]
        constraints = [models.UniqueConstraint(Lower("name"), name="term_name_ci_unique")]
        permissions = [
            ("approve_term", "Can approve or reject glossary changes"),
            ("deprecate_term", "Can deprecate glossary terms"),
        ]

    def __str__(self) -> str:
        return self.name


class TermRevision(models.Model):
    """A proposed text for a term (its first one, or a change), and the review's outcome."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # PROTECT: terms are deprecated, never deleted, and their review history stays.
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="revisions")
    base_version = models.PositiveIntegerField(help_text="The version it changes; 0: the first")
    proposed = models.JSONField(help_text="The proposed fields")
    note = BoundedTextField(max_length=TEXT, blank=True, help_text="Why, in the proposer's words")
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PROPOSED, editable=False
    )
    proposer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    proposer_name = models.CharField(max_length=150)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewer_name = models.CharField(max_length=150, blank=True)
    comment = BoundedTextField(max_length=TEXT, blank=True, help_text="The reviewer's")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One open proposal per term: approving one can never silently undo another.
            models.UniqueConstraint(
                fields=["term"], condition=Q(status="proposed"), name="term_one_open_proposal"
            )
        ]

    def __str__(self) -> str:
        return f"{self.term_id} proposal #{self.pk} ({self.status})"


class TermVersion(AppendOnly):
    """A published state of a term (approved or deprecated), as it was: append-only."""

    # No foreign keys to people: a deleted account must never need an UPDATE of this row.
    term = models.ForeignKey(Term, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=20)
    snapshot = models.JSONField()
    revision = models.ForeignKey(
        TermRevision, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    proposer_name = models.CharField(max_length=150, blank=True)
    actor_name = models.CharField(max_length=150)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["term", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["term", "version"], name="term_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.term_id} v{self.version}"
