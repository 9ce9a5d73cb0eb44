"""Publishing a consent notice version: privacy officers; on the ledger; the engine follows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.models import Dataset, Jurisdiction
from catalog.revisions import revision_bump
from governance.errors import StateConflict
from governance.ledger.chain import ledger_append
from governance.models import ConsentNotice, Purpose
from governance.policy.index import GOVERNANCE


@transaction.atomic
def consent_notice_publish(
    *,
    actor: Actor,
    code: str,
    version: str,
    title: str,
    jurisdiction: Jurisdiction,
    datasets: Sequence[Dataset],
    purposes: Sequence[Purpose],
    published_at: dt.datetime | None = None,
) -> ConsentNotice:
    """A new version of a consent notice; an existing version is never changed."""
    if not may(actor, "governance.add_consentnotice"):
        raise PermissionDenied("Only privacy officers publish consent notices")
    if ConsentNotice.objects.filter(code=code, version=version).exists():
        raise StateConflict({"version": f"{code} v{version} is already published"})
    notice = ConsentNotice.objects.create(
        code=code,
        version=version,
        title=title,
        jurisdiction=jurisdiction,
        published_at=published_at or timezone.now(),
        created_by=actor,
    )
    notice.datasets.set(datasets)
    notice.purposes.set(purposes)
    ledger_append(
        actor=actor,
        kind="consent_notice.published",
        subjects=[f"consent-notice:{notice.code}", *(f"dataset:{d.slug}" for d in datasets)],
        data={
            "notice": str(notice),
            "regime": jurisdiction.code,
            "purposes": sorted(p.code for p in purposes),
            "datasets": sorted(d.slug for d in datasets),
        },
    )
    revision_bump(GOVERNANCE)  # the engine's consent facts changed
    return notice
