"""The subject request's workflow: its table of allowed steps, the one function that takes
them (a compare-and-swap on the status, with its timeline event and ledger entry), and the
helpers every step uses to tell people and to queue work on commit."""

from __future__ import annotations

from typing import Any

from celery import Task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from catalog.actors import Actor, actor_account
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from governance.notifications.services import notify, officers_for
from governance.workflow import Step, queue_after_commit, status_move
from requests.models.subjects import (
    OPEN_STATUSES,
    SubjectEvent,
    SubjectRequest,
    SubjectRequestStatus,
    TaskStatus,
)
from requests.subjects.mail import subject_mail_queue

S = SubjectRequestStatus
OPEN = frozenset(OPEN_STATUSES)
# The periodic task that finds work whose Celery message was never sent or was lost.
SWEEP = "requests.tasks.subject_sla_watch"

# The one table of allowed steps (a target of None keeps the status).
TRANSITIONS: dict[str, Step] = {
    "verify": Step(frozenset({S.AWAITING_VERIFICATION}), S.VERIFIED),
    "link_duplicate": Step(frozenset({S.AWAITING_VERIFICATION}), S.DUPLICATE),
    "discover": Step(frozenset({S.VERIFIED}), S.IN_PROGRESS),
    "pause": Step(frozenset({S.AWAITING_VERIFICATION, S.VERIFIED, S.IN_PROGRESS}), S.PAUSED),
    "resume": Step(frozenset({S.PAUSED}), None),
    "extend": Step(OPEN, None),
    "ready": Step(frozenset({S.IN_PROGRESS}), S.READY),
    "complete": Step(frozenset({S.READY}), S.COMPLETED),
    "reject": Step(OPEN, S.REJECTED),
    "withdraw": Step(OPEN, S.WITHDRAWN),
    "revive": Step(frozenset({S.DUPLICATE}), S.VERIFIED),
    "answered_with_original": Step(frozenset({S.DUPLICATE}), S.COMPLETED),
}
CLOSING = {S.COMPLETED, S.REJECTED, S.WITHDRAWN}


def event_add(
    subject_request: SubjectRequest,
    *,
    actor: Actor,
    action: str,
    from_status: str = "",
    to_status: str = "",
    comment: str = "",
    name: str | None = None,
) -> None:
    """A line on the request's timeline (append-only)."""
    SubjectEvent.objects.create(
        request=subject_request,
        actor=actor_account(actor),
        actor_name=name or actor_name(actor),
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
    )


def ledger_add(
    subject_request: SubjectRequest, *, actor: Actor, kind: str, data: dict[str, Any] | None = None
) -> None:
    """The request's ledger entry: its kind, pseudonymous subject, type and jurisdiction."""
    ledger_append(
        actor=actor,
        kind=f"subject_request.{kind}",
        subjects=[subject_request.ref, subject_request.subject_key],
        data={
            "type": subject_request.type,
            "jurisdiction": subject_request.jurisdiction_id,
            **(data or {}),
        },
    )


def transition(
    subject_request: SubjectRequest,
    action: str,
    *,
    actor: Actor = None,
    comment: str = "",
    fields: dict[str, Any] | None = None,
    when: Q | None = None,
    ledger: dict[str, Any] | None = None,
    name: str | None = None,
) -> SubjectRequest:
    """Take one step of TRANSITIONS with a compare-and-swap; write event and ledger."""
    step = TRANSITIONS[action]
    current = subject_request.status
    if not step.allows(current):
        raise StateConflict(
            {
                "status": f"A request that is {S(current).label.lower()} "
                f"cannot {action.replace('_', ' ')}"
            }
        )
    changes = dict(fields or {})
    target = step.target or changes.pop("status", current)
    if target in CLOSING:
        changes.setdefault("closed_at", timezone.now())
    status_move(
        SubjectRequest,
        pk=subject_request.pk,
        current=current,
        target=target,
        when=when,
        what="request",
        **changes,
    )
    subject_request.refresh_from_db()
    event_add(
        subject_request,
        actor=actor,
        action=action,
        from_status=current,
        to_status=target,
        comment=comment,
        name=name,
    )
    ledger_add(
        subject_request,
        actor=actor,
        kind=action,
        data={"from": current, "to": target, **(ledger or {})},
    )
    return subject_request


def queue_work(task: Task, *args: int) -> None:
    """Queue a task of requests.tasks once the transaction commits, on the subject requests'
    queue (or Celery's default); with the broker down the SLA watch finds the work later."""
    queue_after_commit(task, *args, queue=settings.SUBJECT_REQUESTS_QUEUE or None, sweep=SWEEP)


def mail_subject(subject_request: SubjectRequest, subject: str, body: str) -> None:
    """E-mail the data subject (they have no account to notify): a row now, sent on commit."""
    subject_mail_queue(subject_request=subject_request, subject=subject, body=body)


def page_url(name: str, *args: object) -> str:
    """A page's path by its URL name."""
    return reverse(name, args=args)


def officers_notify(subject_request: SubjectRequest, kind: str, title: str, body: str = "") -> None:
    """Tell the officers of the request's jurisdiction, linking to the request."""
    notify(
        recipients=officers_for([subject_request.jurisdiction]),
        kind=f"subject_request.{kind}",
        title=f"{subject_request.reference}: {title}",
        body=body,
        url=page_url("workflows:subject-detail", subject_request.pk),
    )


def outstanding(subject_request: SubjectRequest) -> list[str]:
    """What still stands between the request and its answer, in words."""
    open_tasks = list(
        subject_request.tasks.exclude(status=TaskStatus.DONE).values_list("dataset_slug", flat=True)
    )
    undecided = list(
        subject_request.ml_decisions.filter(decision="").values_list("run_name", flat=True)
    )
    reasons = []
    if open_tasks:
        reasons.append(f"{len(open_tasks)} task(s) still open: {', '.join(open_tasks)}")
    if undecided:
        reasons.append(f"{len(undecided)} model decision(s) to make: {', '.join(undecided)}")
    return reasons


def maybe_ready(subject_request: SubjectRequest) -> bool:
    """Once every task is done and every model decided, the answer waits for an officer's
    review: nothing goes to the subject until a person has looked at what will be sent."""
    if subject_request.status != S.IN_PROGRESS or outstanding(subject_request):
        return False
    transition(subject_request, "ready", comment="Every task is done: the answer awaits review")
    officers_notify(
        subject_request,
        "review",
        "ready for review",
        "Every task is done. Review the answer and send it.",
    )
    return True


# --- Officer steps --------------------------------------------------------------------------


def locked(subject_request: SubjectRequest) -> SubjectRequest:
    """The request's row as stored, locked until the transaction ends."""
    return SubjectRequest.objects.select_for_update().get(pk=subject_request.pk)


def required_reason(reason: str, what: str) -> str:
    """The stripped reason; a 400 naming `reason` when there is none."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"Give the reason for {what}"})
    return reason
