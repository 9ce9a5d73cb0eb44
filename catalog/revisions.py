"""Revision counters: the cheap signal that tells every process its policy index is stale."""

from django.db import transaction
from django.db.models import F

from catalog.models import Revision

CATALOG = "catalog"


def revision_bump(key: str) -> None:
    """Advance a counter inside the caller's transaction (it moves only if the change commits)."""
    with transaction.atomic():
        updated = Revision.objects.filter(key=key).update(value=F("value") + 1)
        if not updated:
            Revision.objects.get_or_create(key=key, defaults={"value": 1})


def revisions() -> dict[str, int]:
    """Every counter, in one query."""
    return dict(Revision.objects.values_list("key", "value"))
