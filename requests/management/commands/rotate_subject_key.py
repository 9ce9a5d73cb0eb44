"""Re-seal every sealed value under SUBJECT_DATA_KEY's first key, so older keys can be dropped."""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from requests import sealing


@dataclass
class Counts:
    """What one sealed column held: re-sealed, already under the first key, empty, unreadable."""

    resealed: int = 0
    current: int = 0
    empty: int = 0
    unreadable: int = 0


def sealed_fields() -> list[tuple[type[models.Model], models.Field]]:
    """Every concrete field named `sealed` or `*_sealed` (see requests.sealing)."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.name == "sealed" or field.name.endswith("_sealed")
    ]


def _token(value) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _stored(field: models.Field, token: bytes):
    return token if isinstance(field, models.BinaryField) else token.decode()


def rotate_batch(model, field, after, size: int, counts: Counts, dry_run: bool):
    """Re-seal one batch of rows past primary key `after`; returns the last key seen (or None).

    Each row is written only if it still holds the value read (a compare-and-swap), so a row
    changed meanwhile is left as its writer sealed it: under the first key already.
    """
    queryset = model._base_manager.order_by("pk")
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    rows = list(queryset.values_list("pk", field.attname)[:size])
    with transaction.atomic():
        for pk, value in rows:
            _rotate_row(model, field, pk, value, counts, dry_run)
    return rows[-1][0] if rows else None


def _rotate_row(model, field, pk, value, counts: Counts, dry_run: bool) -> None:
    if not value:
        counts.empty += 1
        return
    token = _token(value)
    if sealing.is_current(token):
        counts.current += 1
        return
    try:
        fresh = sealing.reseal(token)
    except sealing.SealedDataUnreadable:
        sealing.logger.error("%s.%s of row %s cannot be decrypted", model.__name__, field.name, pk)
        counts.unreadable += 1
        return
    if dry_run:
        counts.resealed += 1
        return
    changed = model._base_manager.filter(pk=pk, **{field.attname: value}).update(
        **{field.attname: _stored(field, fresh)}
    )
    counts.resealed += changed
    counts.current += 1 - changed  # rewritten meanwhile, by a writer that seals with the first key


class Command(BaseCommand):
    help = (
        "Re-seal every sealed subject value under the first key of SUBJECT_DATA_KEY, in "
        "batches; safe to run again. Put the new key first, run this, then drop the old keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )

    def handle(self, *args, batch_size: int = 500, dry_run: bool = False, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        unreadable = 0
        for model, field in sealed_fields():
            counts = self._rotate(model, field, batch_size, dry_run)
            unreadable += counts.unreadable
            self.stdout.write(
                f"{model._meta.label}.{field.name}: {counts.resealed} re-sealed"
                f"{' (dry run)' if dry_run else ''}, {counts.current} already under the first "
                f"key, {counts.empty} empty, {counts.unreadable} cannot be decrypted"
            )
        if unreadable:
            raise CommandError(
                f"{unreadable} sealed value(s) cannot be decrypted with any key of "
                "SUBJECT_DATA_KEY: keep the old keys until they are found (see the log)"
            )

    def _rotate(self, model, field, batch_size: int, dry_run: bool) -> Counts:
        counts = Counts()
        after = rotate_batch(model, field, None, batch_size, counts, dry_run)
        while after is not None:
            after = rotate_batch(model, field, after, batch_size, counts, dry_run)
        return counts
