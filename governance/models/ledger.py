"""The decision log: an append-only, hash-chained ledger, its signed checkpoints, and the
decisions people record in it."""

from django.conf import settings
from django.db import models

from catalog.fields import LONG_TEXT, BoundedTextField
from catalog.models import AppendOnly

GENESIS_HASH = "0" * 64


class LedgerEntry(AppendOnly):
    """One governance event. `payload` holds the exact canonical bytes that were hashed:
    hash = SHA-256(previous hash || payload), and the payload repeats every other column."""

    sequence = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    # No foreign keys: a deleted user or object must never need an UPDATE of the chain.
    actor_id = models.BigIntegerField(null=True)
    actor_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=60, db_index=True)
    subjects = models.TextField(
        blank=True, help_text="Space-separated references, e.g. ' dataset:payments rule:12 '"
    )
    payload = models.BinaryField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind}"

    @property
    def subject_list(self) -> list[str]:
        return self.subjects.split()


class LedgerHead(models.Model):
    """The chain's last entry (one row, id 1), moved by every append in its transaction.

    Appends lock it (on PostgreSQL) so the chain never forks, and verification compares the
    chain with it, so entries cut from the tail are found even between checkpoints.
    """

    id = models.SmallIntegerField(primary_key=True)
    sequence = models.BigIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        db_table = "governance_ledgerhead"

    def __str__(self) -> str:
        return f"head @{self.sequence}"


class LedgerCheckpoint(AppendOnly):
    """The signed head of the chain at a moment, publishable elsewhere."""

    sequence = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    at = models.DateTimeField()
    algorithm = models.CharField(max_length=20)
    key_id = models.CharField(max_length=64)
    public_key = models.CharField(max_length=200, blank=True)
    signature = models.CharField(max_length=200)
    created_by_name = models.CharField(max_length=150)

    class Meta:
        ordering = ["-sequence", "-id"]

    def __str__(self) -> str:
        return f"checkpoint @{self.sequence}"


class RecordedDecision(models.Model):
    """A decision people write down, ADR-style; every version is a ledger entry."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

    title = models.CharField(max_length=200)
    context = BoundedTextField(max_length=LONG_TEXT)
    decision = BoundedTextField(max_length=LONG_TEXT)
    rationale = BoundedTextField(max_length=LONG_TEXT, blank=True)
    alternatives = BoundedTextField(max_length=LONG_TEXT, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    datasets = models.ManyToManyField(
        "catalog.Dataset", blank=True, related_name="recorded_decisions"
    )
    rules = models.ManyToManyField(
        "governance.LocalityRule", blank=True, related_name="recorded_decisions"
    )
    links = models.JSONField(
        default=list, blank=True, help_text="Other references, e.g. exception:12"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title
