"""Legal holds: a privacy officer suspends a dataset's retention (who, why, until when or until
lifted), and lifts it; both on the decision log."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, actor_account
from catalog.models import Dataset
from governance.ledger.chain import actor_name, ledger_append
from governance.roles import Role, has_role
from governance.workflow import row_move
from requests.models.retention import LegalHold
from requests.retention import selectors
from requests.retention.services import runs_resume


def may_hold(actor: Actor) -> bool:
    """Privacy officers place and lift legal holds."""
    return has_role(actor, Role.PRIVACY_OFFICER)


@transaction.atomic
def legal_hold_place(
    *, actor: Actor, dataset: Dataset, reason: str, until: dt.datetime | None = None
) -> LegalHold:
    """Suspend the dataset's retention: no run opens, and no connector deletes, while it holds."""
    if not may_hold(actor):
        raise PermissionDenied("Only a privacy officer may place a legal hold")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the data must be kept (the matter, the order)"})
    now = timezone.now()
    if until is not None and until <= now:
        raise ValidationError({"until": "A hold's end must be in the future (or left empty)"})
    hold = LegalHold.objects.create(
        dataset=dataset,
        reason=reason,
        placed_by=actor_account(actor),
        placed_by_name=actor_name(actor),
        placed_at=now,
        until=until,
    )
    ledger_append(
        actor=actor,
        kind="legal_hold.placed",
        subjects=[f"dataset:{dataset.slug}", f"legal-hold:{hold.pk}"],
        data={"reason": reason, "until": until.isoformat() if until else None},
    )
    return hold


@transaction.atomic
def legal_hold_lift(*, actor: Actor, hold: LegalHold, reason: str) -> LegalHold:
    """End a hold; the dataset's retention resumes unless another hold is in force."""
    if not may_hold(actor):
        raise PermissionDenied("Only a privacy officer may lift a legal hold")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the hold ends"})
    now = timezone.now()
    row_move(LegalHold, pk=hold.pk, expect=selectors.in_force(now), what="legal hold",
             lifted_at=now, lifted_by=actor_account(actor), lifted_by_name=actor_name(actor),
             lift_reason=reason)  # fmt: skip
    hold.refresh_from_db()
    ledger_append(
        actor=actor,
        kind="legal_hold.lifted",
        subjects=[f"dataset:{hold.dataset.slug}", f"legal-hold:{hold.pk}"],
        data={"reason": reason, "placed_at": hold.placed_at.isoformat()},
    )
    if not selectors.is_held(hold.dataset_id, now):
        runs_resume(hold.dataset_id)
    return hold
