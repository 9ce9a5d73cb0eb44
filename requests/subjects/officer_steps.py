"""The officers' steps on a request: extend, pause, resume, reject, withdraw, close."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.actors import Actor
from governance.errors import StateConflict
from requests import tasks
from requests.models.subjects import (
    SubjectRequest,
    SubjectRequestStatus,
)
from requests.subjects import deadlines
from requests.subjects.access import require_manager
from requests.subjects.calendars import calendar_of
from requests.subjects.intake import clock_of
from requests.subjects.packages import subject_request_fulfil
from requests.subjects.review import require_confirmed_if_empty
from requests.subjects.workflow import (
    locked,
    mail_subject,
    maybe_ready,
    outstanding,
    queue_work,
    required_reason,
    transition,
)

S = SubjectRequestStatus


@transaction.atomic
def subject_request_extend(
    *, actor: Actor, subject_request: SubjectRequest, reason: str
) -> SubjectRequest:
    """Extend once, before the first deadline, telling the subject why (GDPR Art. 12(3)).

    The extended deadline is counted from receipt (three months in all under the GDPR and UK
    GDPR), then moved on by the days the clock stood still, as the first deadline was."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    reason = required_reason(reason, "the extension")
    jurisdiction = subject_request.jurisdiction
    clock = clock_of(jurisdiction, subject_request.type)
    try:
        deadlines.check_extension(
            today=timezone.now().date(),
            deadline=subject_request.deadline,
            already_extended=subject_request.extended_deadline is not None,
        )
        received = deadlines.receipt_date(subject_request.received_at)
        extended = deadlines.extended_due_date(received, clock, calendar_of(jurisdiction))
        extended += dt.timedelta(days=subject_request.paused_days)
    except deadlines.DeadlineError as exc:
        raise StateConflict({"deadline": str(exc)}) from None
    subject_request = transition(
        subject_request,
        "extend",
        actor=actor,
        comment=reason,
        fields={"extended_deadline": extended, "extension_reason": reason},
        when=Q(extended_deadline__isnull=True),
        ledger={"extended_deadline": extended.isoformat()},
    )
    mail_subject(
        subject_request,
        "We need more time",
        f"We will answer by {extended.isoformat()} instead of "
        f"{subject_request.deadline.isoformat()}, because: {reason}",
    )
    return subject_request


@transaction.atomic
def subject_request_pause(
    *, actor: Actor, subject_request: SubjectRequest, reason: str
) -> SubjectRequest:
    """Stop the clock while waiting for the subject (e.g. for identity information)."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    reason = required_reason(reason, "the pause")
    return transition(
        subject_request,
        "pause",
        actor=actor,
        comment=reason,
        fields={"paused_at": timezone.now(), "resume_status": subject_request.status},
    )


@transaction.atomic
def subject_request_resume(
    *, actor: Actor, subject_request: SubjectRequest, reason: str = ""
) -> SubjectRequest:
    """Start the clock again; the deadlines move on by the days it stood still."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    paused_at = subject_request.paused_at  # the pause step sets it with the status
    if subject_request.status != S.PAUSED or paused_at is None:
        raise StateConflict({"status": "The request is not paused"})
    days = deadlines.paused_days(paused_at, timezone.now())
    fields = {
        "status": subject_request.resume_status,
        "paused_at": None,
        "resume_status": "",
        "paused_days": subject_request.paused_days + days,
        "deadline": deadlines.shift(subject_request.deadline, days),
        "extended_deadline": deadlines.shift(subject_request.extended_deadline, days),
    }
    subject_request = transition(
        subject_request,
        "resume",
        actor=actor,
        comment=reason,
        fields=fields,
        ledger={"paused_days": days},
    )
    if subject_request.status == S.VERIFIED:
        queue_work(tasks.subject_discovery, subject_request.pk)
    maybe_ready(subject_request)
    return subject_request


@transaction.atomic
def subject_request_reject(
    *, actor: Actor, subject_request: SubjectRequest, reason: str
) -> SubjectRequest:
    """Refuse, with reasons and the right to complain (GDPR Art. 12(4))."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    reason = required_reason(reason, "refusing")
    subject_request = transition(
        subject_request, "reject", actor=actor, comment=reason, fields={"outcome": reason}
    )
    mail_subject(
        subject_request,
        "We cannot act on your request",
        f"Reason: {reason}\n\nYou may complain to a data-protection supervisory "
        "authority and seek a judicial remedy.",
    )
    _revive_duplicates(subject_request)
    return subject_request


@transaction.atomic
def subject_request_withdraw(
    *, actor: Actor, subject_request: SubjectRequest, reason: str = ""
) -> SubjectRequest:
    """The subject withdrew the request."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    subject_request = transition(
        subject_request, "withdraw", actor=actor, comment=reason, fields={"outcome": reason}
    )
    _revive_duplicates(subject_request)
    return subject_request


def _revive_duplicates(subject_request: SubjectRequest) -> None:
    """Verified duplicates waited on this request: it ended unanswered, so they go on."""
    for duplicate in subject_request.duplicates.filter(status=S.DUPLICATE):
        transition(
            duplicate, "revive", comment=f"{subject_request.reference} ended without an answer"
        )
        queue_work(tasks.subject_discovery, duplicate.pk)


@transaction.atomic
def subject_request_close(
    *, actor: Actor, subject_request: SubjectRequest, confirm_empty: bool = False
) -> SubjectRequest:
    """The officer's approval of the reviewed answer: build it and send it to the subject.
    Refused while tasks or model decisions are open, and, for an empty answer, until the
    officer confirms it (`confirm_empty`)."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    if subject_request.status == S.IN_PROGRESS:
        missing = outstanding(subject_request)
        if missing:
            raise StateConflict({"tasks": "; ".join(missing)})
    elif subject_request.status != S.READY:
        raise StateConflict(
            {
                "status": f"A request that is {subject_request.get_status_display().lower()} "
                "cannot be closed"
            }
        )
    require_confirmed_if_empty(subject_request, confirm_empty)
    if subject_request.status == S.IN_PROGRESS:
        transition(subject_request, "ready", actor=actor, comment="Closed by an officer")
    return subject_request_fulfil(request_id=subject_request.pk, actor=actor) or subject_request


# --- The answer: package or certificate -----------------------------------------------------
