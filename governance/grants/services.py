"""Writes of transfer grants: the effective permission an approved exception gives, honoured
by the engine from its start until its end or its revocation.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.models import Dataset, Region
from catalog.revisions import revision_bump
from governance.ledger.chain import actor_name, ledger_append
from governance.models import (
    Purpose,
    TransferGrant,
)
from governance.policy.index import GOVERNANCE
from governance.workflow import row_move


@transaction.atomic
def grant_create(
    *,
    actor: Actor,
    datasets: list[Dataset],
    destination_regions: list[Region],
    mechanism: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    purpose: Purpose | None = None,
    mechanism_detail: str = "",
    reference: str = "",
) -> TransferGrant:
    """Create the effective permission an approved exception gives; honoured from valid_from."""
    if not may(actor, "governance.add_transfergrant"):
        raise PermissionDenied("Only privacy officers may create transfer grants")
    if not datasets:
        raise ValidationError({"datasets": "Name at least one dataset"})
    if not destination_regions:
        raise ValidationError({"destination_regions": "Name at least one destination region"})
    if valid_until <= valid_from:
        raise ValidationError({"valid_until": "The end must be after the start"})
    grant = TransferGrant(
        purpose=purpose,
        mechanism=mechanism,
        mechanism_detail=mechanism_detail,
        valid_from=valid_from,
        valid_until=valid_until,
        approved_by=actor,
        approved_by_name=actor_name(actor),
        reference=reference,
    )
    grant.full_clean()
    grant.save()
    grant.datasets.set(datasets)
    grant.destination_regions.set(destination_regions)
    revision_bump(GOVERNANCE)
    ledger_append(
        actor=actor,
        kind="grant.created",
        subjects=[f"grant:{grant.pk}", *(f"dataset:{d.slug}" for d in datasets)],
        data={
            "grant": grant.pk,
            "datasets": sorted(d.slug for d in datasets),
            "destination_regions": sorted(r.code for r in destination_regions),
            "purpose": purpose.code if purpose else None,
            "mechanism": mechanism,
            "mechanism_detail": mechanism_detail,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
            "reference": reference,
        },
    )
    return grant


@transaction.atomic
def grant_revoke(*, actor: Actor, grant: TransferGrant, reason: str) -> TransferGrant:
    """End a grant now; the engine stops honouring it at once."""
    if not may(actor, "governance.change_transfergrant"):
        raise PermissionDenied("Only privacy officers may revoke transfer grants")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason for revoking"})
    if TransferGrant.objects.filter(pk=grant.pk, revoked_at__isnull=False).exists():
        raise StateConflict({"grant": f"Grant #{grant.pk} is already revoked"})
    now = timezone.now()
    # Revoked once: a revocation that lost a race to another is a StateConflict too.
    row_move(
        TransferGrant,
        pk=grant.pk,
        expect=Q(revoked_at__isnull=True),
        what="grant",
        revoked_at=now,
        revoked_by=actor,
        revoke_reason=reason,
    )
    revision_bump(GOVERNANCE)
    ledger_append(
        actor=actor,
        kind="grant.revoked",
        subjects=[
            f"grant:{grant.pk}",
            *(f"dataset:{slug}" for slug in grant.datasets.values_list("slug", flat=True)),
        ],
        data={"grant": grant.pk, "revoked_at": now.isoformat(), "reason": reason},
    )
    grant.refresh_from_db()
    return grant
