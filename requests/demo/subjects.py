"""The demo's subject requests, in every state and under several laws: taken in, verified by
the e-mailed code (or by an officer, for a phone request), their tasks answered by the owners,
and the officer's steps (pause, extend, reject, close)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.utils import timezone

from governance.ledger.chain import pseudonym
from requests.models.mail import SubjectMail
from requests.models.subjects import (
    Channel,
    SubjectRequest,
    SubjectRequestStatus,
    TaskStatus,
    unseal,
)
from requests.subjects import officer_steps, verification
from requests.subjects.discovery import discovery_run
from requests.subjects.intake import subject_request_create
from requests.subjects.work import task_complete


@dataclass(frozen=True)
class SubjectStory:
    """One subject's request: how it came in, how far it got."""

    email: str
    name: str
    type: str
    jurisdiction: str
    days_ago: int
    # awaiting | rejected | in_progress | paused | extended | ready | completed
    ends: str
    channel: str = Channel.WEB_FORM
    phone_check: str = ""  # verified by an officer by telephone, what was checked
    comment: str = ""  # the officer's reason (reject, pause, extend)
    answered_days_ago: int | None = None  # completed: closed then (backdated)
    extra: dict[str, str] = field(default_factory=dict)


SUBJECTS = [
    SubjectStory("lena.vogel@example.de", "Lena Vogel", "access", "eu", 0, "awaiting"),
    SubjectStory("noah.miller@example.com", "Noah Miller", "access", "us-ca", 1, "awaiting"),
    SubjectStory(
        "jules.martin@example.fr",
        "Jules Martin",
        "access",
        "eu",
        3,
        "in_progress",
        channel=Channel.PHONE,
        phone_check="Called back on the number on the customer account; confirmed the date of "
        "birth and the last order number.",
    ),
    SubjectStory("sofia.rossi@example.it", "Sofia Rossi", "access", "eu", 8, "in_progress"),
    SubjectStory("ava.chen@example.com", "Ava Chen", "opt_out_sale", "us-ca", 2, "in_progress"),
    # Received 45 days ago under a one-month clock: past its deadline, still in progress.
    SubjectStory("pieter.janssen@example.nl", "Pieter Janssen", "access", "eu", 45, "in_progress"),
    SubjectStory(
        "marta.nowak@example.pl",
        "Marta Nowak",
        "erasure",
        "eu",
        20,
        "extended",
        comment="Her data sits in dozens of datasets and in models trained on them; retraining "
        "without it takes longer than a month (GDPR Art. 12(3)).",
    ),
    SubjectStory(
        "oliver.hughes@example.co.uk",
        "Oliver Hughes",
        "rectification",
        "uk",
        6,
        "paused",
        comment="Asked the subject which of his two postal addresses is the right one.",
    ),
    SubjectStory("amelia.clarke@example.co.uk", "Amelia Clarke", "access", "uk", 12, "ready"),
    SubjectStory(
        "rafael.souza@example.com.br",
        "Rafael Souza",
        "access",
        "br",
        28,
        "completed",
        answered_days_ago=10,  # after its 15-day clock: answered late
    ),
    SubjectStory(
        "priya.nair@example.in",
        "Priya Nair",
        "access",
        "in",
        18,
        "completed",
        answered_days_ago=4,
    ),
    SubjectStory(
        "ethan.brooks@example.com",
        "Ethan Brooks",
        "erasure",
        "us-ca",
        9,
        "rejected",
        comment="The e-mail address matches no customer, and the subject did not answer our "
        "request for the account number.",
    ),
]
OPEN_ENDS = {"in_progress", "paused", "extended"}


def _code_sent(subject_request: SubjectRequest) -> str:
    """The code the subject reads in the e-mail they were sent (the demo's stand-in for them)."""
    mail = SubjectMail.objects.filter(request=subject_request).order_by("-id").first()
    body = unseal(mail.sealed)["body"] if mail else ""
    found = re.search(r"\bcode (\d{6})\b", body)
    return found.group(1) if found else ""


def _verify(story: SubjectStory, subject_request: SubjectRequest, officer: User):
    if story.phone_check:
        return verification.verification_record(
            actor=officer,
            subject_request=subject_request,
            method="call_back",
            checked=story.phone_check,
        )
    if subject_request.status != SubjectRequestStatus.AWAITING_VERIFICATION:
        return subject_request  # taken at once: its law forbids asking for proof (a CCPA opt-out)
    return verification.verification_check(
        subject_request=subject_request, code=_code_sent(subject_request)
    )


def _answer_tasks(subject_request: SubjectRequest, *, leave_open: bool) -> None:
    """The owners answer their tasks; with leave_open, each owner keeps their first one and
    every third one open."""
    kept: set[int] = set()
    tasks = subject_request.tasks.select_related("owner").order_by("dataset_slug")
    for number, task in enumerate(tasks):
        if task.status != TaskStatus.OPEN:
            continue
        if leave_open and (task.owner_id not in kept or number % 3 == 2):
            kept.add(task.owner_id)
            continue
        exporting = subject_request.type in ("access", "portability")
        rows = [{"dataset": task.dataset_slug, "customer_ref": f"C-{subject_request.pk:05d}"}]
        task_complete(
            actor=task.owner,
            task=task,
            rows=rows if exporting else None,
            note="" if exporting else "Done as asked; the change was checked in the source.",
        )


def _backdate(subject_request: SubjectRequest, story: SubjectStory) -> None:
    """Backdating: acknowledgement, verification and discovery were stamped now by the
    services; the subject asked `days_ago`, so they move to the day it came in."""
    if not story.days_ago:
        return
    when = subject_request.received_at + dt.timedelta(hours=2)
    SubjectRequest.objects.filter(pk=subject_request.pk).update(acknowledged_at=when)
    SubjectRequest.objects.filter(pk=subject_request.pk, verified_at__isnull=False).update(
        verified_at=when + dt.timedelta(hours=1)
    )
    SubjectRequest.objects.filter(pk=subject_request.pk, discovered_at__isnull=False).update(
        discovered_at=when + dt.timedelta(hours=1)
    )


def _tell_subject(story: SubjectStory, officer: User) -> SubjectRequest:
    staff = story.channel != Channel.WEB_FORM
    subject_request = subject_request_create(
        actor=officer if staff else None,
        type=story.type,
        jurisdiction=story.jurisdiction,
        identifiers={"email": story.email, **story.extra},
        details=f"{story.name} asks about the data we hold on them.",
        received_at=timezone.now() - dt.timedelta(days=story.days_ago, hours=3),
        channel=story.channel,
    )
    if story.ends == "rejected":
        return officer_steps.subject_request_reject(
            actor=officer, subject_request=subject_request, reason=story.comment
        )
    if story.ends != "awaiting":
        subject_request = _verify(story, subject_request, officer)
        discovery_run(request_id=subject_request.pk)
        subject_request.refresh_from_db()
        _answer_tasks(subject_request, leave_open=story.ends in OPEN_ENDS)
        subject_request.refresh_from_db()
    if story.ends == "paused":
        subject_request = officer_steps.subject_request_pause(
            actor=officer, subject_request=subject_request, reason=story.comment
        )
    elif story.ends == "extended":
        subject_request = officer_steps.subject_request_extend(
            actor=officer, subject_request=subject_request, reason=story.comment
        )
    elif story.ends == "completed":
        subject_request = officer_steps.subject_request_close(
            actor=officer, subject_request=subject_request
        )
    _backdate(subject_request, story)
    return subject_request


def _answered_then(subject_request: SubjectRequest, story: SubjectStory) -> None:
    """Backdating: the answer went out `answered_days_ago` (the service stamped it now)."""
    if story.answered_days_ago is None or subject_request.closed_at is None:
        return
    closed = timezone.now() - dt.timedelta(days=story.answered_days_ago)
    SubjectRequest.objects.filter(pk=subject_request.pk).update(closed_at=closed)


def seed_subject_requests(people: dict[str, User]) -> int:
    """Tell each subject's story once; returns how many were told now."""
    officer = people["priya"]
    told = 0
    for story in SUBJECTS:
        if SubjectRequest.objects.filter(subject_key=pseudonym(story.email)).exists():
            continue
        subject_request = _tell_subject(story, officer)
        _answered_then(subject_request, story)
        told += 1
    return told
