"""Revision counters: the cheap signal that tells every process its policy index is stale."""

import secrets

from django.db import transaction
from django.db.models import F

from catalog import revision_notices
from catalog.models import Revision

CATALOG = "catalog"


def revision_bump(key: str) -> None:
    """Advance a counter inside the caller's transaction (it moves only if the change commits;
    then this process's policy index is stale at once, every other's when notified)."""
    stamp = secrets.token_hex(8)
    with transaction.atomic():
        revision_notices.bumped()
        updated = Revision.objects.filter(key=key).update(value=F("value") + 1, stamp=stamp)
        if not updated:
            Revision.objects.get_or_create(key=key, defaults={"value": 1, "stamp": stamp})


def revisions() -> dict[str, tuple[int, str]]:
    """Every counter with its stamp, in one query."""
    return {
        key: (value, stamp)
        for key, value, stamp in Revision.objects.values_list("key", "value", "stamp")
    }
