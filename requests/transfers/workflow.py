"""The transfer exception's workflow: its table of allowed steps and who takes each, who may
do what, and the one function that moves the status (a compare-and-swap) with its timeline
event and ledger entry; the notices and ledger details every step shares."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeGuard

from django.contrib.auth.models import AnonymousUser, Permission, User
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from catalog.actors import Actor, actor_account, may
from governance.ledger.chain import actor_name, ledger_append
from governance.models import TransferMechanism
from governance.notifications.services import notify
from governance.workflow import Step, status_move
from requests.models import (
    ExceptionEvent,
    ExceptionStatus,
    TransferException,
    TransferExceptionUserObjectPermission,
)

S = ExceptionStatus
REQUESTER, REVIEWER, SYSTEM = "requester", "reviewer", "system"
# The actions the engine is asked about when judging what an exception would change.
JUDGED_ACTIONS = ("transfer", "process", "train")
EDITABLE = (S.DRAFT, S.CHANGES_REQUESTED)
OPEN = (S.SUBMITTED, S.UNDER_REVIEW)
FOUR_EYES_MECHANISMS = {
    TransferMechanism.ART49,
    TransferMechanism.PIPL_STANDARD_CONTRACT,
    TransferMechanism.PIPL_CERTIFICATION,
    TransferMechanism.PIPL_SECURITY_ASSESSMENT,
}


# The one table of allowed transitions. `approve` lands on approved (or active when the
# start has come) once enough people approved; before that it moves to under review.
TRANSITIONS: dict[str, Step] = {
    "submit": Step(frozenset(EDITABLE), S.SUBMITTED),
    "withdraw": Step(frozenset({*EDITABLE, *OPEN}), S.WITHDRAWN),
    "start_review": Step(frozenset({S.SUBMITTED}), S.UNDER_REVIEW),
    "request_changes": Step(frozenset(OPEN), S.CHANGES_REQUESTED),
    "approve": Step(frozenset(OPEN), S.APPROVED),
    "reject": Step(frozenset(OPEN), S.REJECTED),
    "revoke": Step(frozenset({S.APPROVED, S.ACTIVE}), S.REVOKED),
    "activate": Step(frozenset({S.APPROVED}), S.ACTIVE),
    "expire": Step(frozenset({S.APPROVED, S.ACTIVE}), S.EXPIRED),
    # Its whole period passed before anyone decided: it can no longer be approved.
    "lapse": Step(frozenset({*EDITABLE, *OPEN}), S.EXPIRED),
}
# Who takes each step: its requester, a reviewer, or Locus itself when the time comes.
ACTED_BY: dict[str, str] = {
    "submit": REQUESTER,
    "withdraw": REQUESTER,
    "start_review": REVIEWER,
    "request_changes": REVIEWER,
    "approve": REVIEWER,
    "reject": REVIEWER,
    "revoke": REVIEWER,
    "activate": SYSTEM,
    "expire": SYSTEM,
    "lapse": SYSTEM,
}
# A decision by a reviewer needs a comment saying why, except an approval.
NEEDS_COMMENT = {"request_changes", "reject", "revoke"}


# --- Who may do what -------------------------------------------------------------------------


def is_reviewer(user: Actor, exception: TransferException) -> TypeGuard[User]:
    """A privacy officer given this exception to review when it was submitted."""
    return bool(user and user.is_authenticated) and may(
        user, "workflows.review_transferexception", exception
    )


def may_comment(user: Actor, exception: TransferException) -> bool:
    """The requester and its reviewers remark on an exception's timeline."""
    if user is None or not user.is_authenticated:
        return False
    return exception.requester_id == user.pk or is_reviewer(user, exception)


def may_view(user: User | AnonymousUser, exception: TransferException) -> bool:
    """The requester, the roles that read every exception, and its reviewers."""
    return (
        exception.requester_id == user.pk
        or user.has_perm("workflows.view_transferexception")
        or user.has_perm("workflows.view_transferexception", exception)
    )


def may_request(user: Actor) -> TypeGuard[User]:
    """Data owners and engineers ask for exceptions (privacy officers too, for their teams)."""
    return may(user, "workflows.add_transferexception")


def check_actor(actor: Actor, exception: TransferException, action: str, by: str) -> User | None:
    """PermissionDenied unless `actor` is who takes this step (`by`) on this exception; the
    person who takes it, or None when Locus itself does."""
    if by == SYSTEM:
        if actor is not None:
            raise PermissionDenied(f"{action} is done by Locus itself, when its time comes")
        return None
    if actor is None:
        raise PermissionDenied(f"Only a person may {action.replace('_', ' ')} this exception")
    if by == REQUESTER and exception.requester_id != actor.pk:
        raise PermissionDenied(f"Only the requester may {action.replace('_', ' ')} this exception")
    if by == REVIEWER:
        if exception.requester_id == actor.pk:
            raise PermissionDenied("The requester can never review their own exception")
        if not is_reviewer(actor, exception):
            raise PermissionDenied(
                "Only the privacy officers responsible for its source jurisdictions may "
                f"{action.replace('_', ' ')} this exception"
            )
    return actor_account(actor)  # the anonymous visitor was refused above: a User


def move_status(
    exception: TransferException,
    target: str,
    actor: Actor,
    action: str,
    comment: str,
    *,
    partial: bool = False,
) -> None:
    """Compare-and-swap the status, then write the timeline and the ledger."""
    current = exception.status
    status_move(
        TransferException,
        pk=exception.pk,
        current=current,
        target=target,
        what="exception",
        updated_at=timezone.now(),
    )
    exception.status = target
    event_add(exception, actor, action, current, target, comment)
    ledger_append(
        actor=actor,
        kind="exception.approval" if partial else f"exception.{target}",
        subjects=ledger_subjects(exception),
        data={
            "exception": exception.pk,
            "action": action,
            "from": current,
            "to": target,
            "comment": comment,
            "grant": exception.grant_id,
            "review_round": exception.review_round,
        },
    )


def event_add(
    exception: TransferException,
    actor: Actor,
    action: str,
    from_status: str,
    to_status: str,
    comment: str,
) -> None:
    """A line on the exception's timeline (append-only)."""
    ExceptionEvent.objects.create(
        exception=exception,
        actor=actor_account(actor),
        actor_name=actor_name(actor),
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
    )


def review_grant(exception: TransferException, reviewers: Iterable[User]) -> None:
    """Give these privacy officers the object permissions to see and decide this exception."""
    perms = Permission.objects.filter(
        content_type__app_label="workflows",
        codename__in=["view_transferexception", "review_transferexception"],
    )
    TransferExceptionUserObjectPermission.objects.bulk_create(
        [
            TransferExceptionUserObjectPermission(
                user=user, permission=perm, content_object=exception
            )
            for user in reviewers
            for perm in perms
        ],
        ignore_conflicts=True,
    )


def reviewers_of(exception: TransferException) -> list[User]:
    """The privacy officers given this exception to review."""
    from django.contrib.auth import get_user_model

    return list(
        get_user_model()
        .objects.filter(
            transferexceptionuserobjectpermission__content_object=exception,
            transferexceptionuserobjectpermission__permission__codename="review_transferexception",
        )
        .distinct()
    )


def tell(
    recipients: Iterable[User], exception: TransferException, kind: str, title: str, body: str
) -> None:
    """Notify these people about the exception, linking to it."""
    notify(
        recipients=recipients,
        kind=kind,
        title=title,
        body=body,
        url=reverse("workflows:exception-detail", args=[exception.pk]),
    )


def mechanism_detail(exception: TransferException) -> str:
    """The transfer mechanism in words, for the grant an approval creates."""
    parts = [
        exception.get_scc_module_display() if exception.scc_module else "",
        exception.get_derogation_display() if exception.derogation else "",
        exception.mechanism_detail,
    ]
    return "; ".join(p for p in parts if p)[:200]


def ledger_subjects(exception: TransferException) -> list[str]:
    """What the exception's ledger entries are about: it and its datasets."""
    return [
        f"exception:{exception.pk}",
        *(f"dataset:{slug}" for slug in exception.datasets.values_list("slug", flat=True)),
    ]


def ledger_terms(exception: TransferException) -> dict[str, Any]:
    """The exception's terms as its ledger entries keep them."""
    return {
        "exception": exception.pk,
        "datasets": sorted(exception.datasets.values_list("slug", flat=True)),
        "source_regions": sorted(exception.source_regions.values_list("code", flat=True)),
        "destination_regions": sorted(exception.destination_regions.values_list("code", flat=True)),
        "purpose": exception.purpose_id,
        "mechanism": exception.mechanism,
        "mechanism_detail": mechanism_detail(exception),
        "starts_at": exception.starts_at.isoformat(),
        "ends_at": exception.ends_at.isoformat(),
        "tia_risk_level": exception.tia_risk_level,
        "tia_measures": sorted(exception.tia_measures),
    }
