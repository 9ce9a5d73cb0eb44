"""Data-subject requests: intake, verification, discovery, tasks, fulfilment, deadlines.

Every verb is one transaction with its ledger entry and timeline event. The request's state is
its `status`; `TRANSITIONS` is the one table of allowed steps and `_transition` the one place
that takes them, with a compare-and-swap on the status. Celery tasks (requests/tasks.py) only
call the functions here with ids; each is safe to run twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, Jurisdiction
from governance.errors import StateConflict
from governance.ledger.chain import ledger_append, pseudonym
from governance.models import TrainingRunDataset
from governance.notifications import notify, officers_for
from requests import connectors, deadlines, subject_attempts
from requests.models.subjects import (
    EXPORTING_TYPES,
    OPEN_STATUSES,
    Channel,
    ConnectorKind,
    DatasetConnector,
    IdentifierKind,
    MlDecision,
    MlPropagationDecision,
    SubjectEvent,
    SubjectPackage,
    SubjectReminder,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectRequestType,
    SubjectTask,
    TaskStatus,
    VerificationChallenge,
    VerificationState,
    seal,
    seal_bytes,
)
from requests.sealing import SealedDataUnreadable, hmac_key
from requests.subject_mail import subject_mail_queue

log = logging.getLogger(__name__)
S = SubjectRequestStatus
OPEN = frozenset(OPEN_STATUSES)
MAX_IDENTIFIER_LENGTH = 200
MAX_MANUAL_ROWS = 10_000

# action -> (statuses it may start from, status it leads to; None keeps the status).
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "verify": (frozenset({S.AWAITING_VERIFICATION}), S.VERIFIED),
    "link_duplicate": (frozenset({S.AWAITING_VERIFICATION}), S.DUPLICATE),
    "discover": (frozenset({S.VERIFIED}), S.IN_PROGRESS),
    "pause": (frozenset({S.AWAITING_VERIFICATION, S.VERIFIED, S.IN_PROGRESS}), S.PAUSED),
    "resume": (frozenset({S.PAUSED}), None),
    "extend": (OPEN, None),
    "ready": (frozenset({S.IN_PROGRESS}), S.READY),
    "complete": (frozenset({S.READY}), S.COMPLETED),
    "reject": (OPEN, S.REJECTED),
    "withdraw": (OPEN, S.WITHDRAWN),
    "revive": (frozenset({S.DUPLICATE}), S.VERIFIED),
    "answered_with_original": (frozenset({S.DUPLICATE}), S.COMPLETED),
}
CLOSING = {S.COMPLETED, S.REJECTED, S.WITHDRAWN}


def actor_name(user) -> str:
    """How a person is shown in records that outlive their account."""
    return (user.get_full_name() or user.get_username()) if user else "system"


# --- Who may do what ------------------------------------------------------------------------


def can_manage(user, request: SubjectRequest | None = None) -> bool:
    """Privacy officers manage requests; one given jurisdictions manages only theirs."""
    if request is None:
        return user.has_perm("workflows.change_subjectrequest")
    return manager_check(user)(request)


def manager_check(user) -> Callable[[SubjectRequest], bool]:
    """`can_manage` for many requests of one person (a list): their jurisdictions read once,
    by the one scope the selectors read with."""
    from requests.subject_selectors import managed_scope

    return managed_scope(user).covers


def can_view(user, request: SubjectRequest) -> bool:
    """Officers who manage it, and the read-only roles (executives, auditors)."""
    return can_manage(user, request) or user.has_perm("workflows.view_subjectrequest")


def can_work_task(user, task: SubjectTask) -> bool:
    """The task's owner, or an officer who manages its request."""
    return task.owner_id == user.pk or can_manage(user, task.request)


def _require_manager(user, request: SubjectRequest | None = None) -> None:
    if not can_manage(user, request):
        raise PermissionDenied("Only a privacy officer who answers for it may do this")


# --- Transitions ----------------------------------------------------------------------------


def _event(request, *, actor, action, from_status="", to_status="", comment="", name=None):
    SubjectEvent.objects.create(
        request=request,
        actor=actor,
        actor_name=name or actor_name(actor),
        action=action,
        from_status=from_status,
        to_status=to_status,
        comment=comment,
    )


def _ledger(request, *, actor, kind: str, data: dict | None = None) -> None:
    ledger_append(
        actor=actor,
        kind=f"subject_request.{kind}",
        subjects=[request.ref, request.subject_key],
        data={"type": request.type, "jurisdiction": request.jurisdiction_id, **(data or {})},
    )


def _transition(
    request: SubjectRequest,
    action: str,
    *,
    actor=None,
    comment: str = "",
    fields: dict | None = None,
    when: Q | None = None,
    ledger: dict | None = None,
    name: str | None = None,
) -> SubjectRequest:
    """Take one step of TRANSITIONS with a compare-and-swap; write event and ledger."""
    sources, target = TRANSITIONS[action]
    current = request.status
    if current not in sources:
        raise StateConflict(
            {
                "status": f"A request that is {S(current).label.lower()} cannot {action.replace('_', ' ')}"
            }
        )
    changes = dict(fields or {})
    target = target or changes.pop("status", current)
    if target in CLOSING:
        changes.setdefault("closed_at", timezone.now())
    rows = SubjectRequest.objects.filter(pk=request.pk, status=current)
    if when is not None:
        rows = rows.filter(when)
    if rows.update(status=target, **changes) != 1:
        raise StateConflict({"status": "The request changed meanwhile; reload and try again"})
    request.refresh_from_db()
    _event(request, actor=actor, action=action, from_status=current, to_status=target,
           comment=comment, name=name)  # fmt: skip
    _ledger(
        request, actor=actor, kind=action, data={"from": current, "to": target, **(ledger or {})}
    )
    return request


def _queue(task_name: str, *args) -> None:
    """Queue a Celery task of requests.tasks once the transaction has committed."""

    def send():
        from requests import tasks

        queue = settings.SUBJECT_REQUESTS_QUEUE or None  # None: Celery's default queue
        getattr(tasks, task_name).apply_async(args=args, queue=queue)

    transaction.on_commit(send)


def _mail_subject(request: SubjectRequest, subject: str, body: str) -> None:
    """E-mail the data subject (they have no account to notify): a row now, sent on commit."""
    subject_mail_queue(request=request, subject=subject, body=body)


def _url(name: str, *args) -> str:
    return reverse(name, args=args)


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _officers_notify(request: SubjectRequest, kind: str, title: str, body: str = "") -> None:
    notify(
        recipients=officers_for([request.jurisdiction]),
        kind=f"subject_request.{kind}",
        title=f"{request.reference}: {title}",
        body=body,
        url=_url("workflows:subject-detail", request.pk),
    )


# --- Intake ---------------------------------------------------------------------------------


def _clean_identifiers(identifiers) -> dict[str, str]:
    if not isinstance(identifiers, dict) or not identifiers:
        raise ValidationError({"identifiers": "Give at least the subject's e-mail address"})
    cleaned = {}
    for kind, value in identifiers.items():
        if kind not in IdentifierKind.values:
            known = ", ".join(IdentifierKind.values)
            raise ValidationError({"identifiers": f"Unknown identifier kind {kind!r}; use {known}"})
        value = str(value or "").strip()
        if not value:
            continue
        if len(value) > MAX_IDENTIFIER_LENGTH:
            raise ValidationError({"identifiers": f"The {kind} is longer than 200 characters"})
        cleaned[kind] = value
    email = cleaned.get(IdentifierKind.EMAIL)
    if not email:
        raise ValidationError(
            {"identifiers": "The subject's e-mail address is needed to verify who asks"}
        )
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"identifiers": f"{email!r} is not an e-mail address"}) from None
    cleaned[IdentifierKind.EMAIL] = email.lower()
    return cleaned


def _jurisdiction(value) -> Jurisdiction:
    if isinstance(value, Jurisdiction):
        return value
    found = Jurisdiction.objects.filter(pk=str(value or "")).first()
    if found is None:
        raise ValidationError({"jurisdiction": f"Unknown jurisdiction {value!r}"})
    return found


def clock_of(jurisdiction: Jurisdiction) -> deadlines.Clock:
    return deadlines.Clock.of(jurisdiction, settings.SUBJECT_REQUEST_DEFAULT_DAYS)


def _open_original(subject_key: str, type_: str) -> SubjectRequest | None:
    """The open request of the same subject and type that a new one duplicates."""
    return (
        SubjectRequest.objects.filter(
            subject_key=subject_key, type=type_, status__in=OPEN, duplicate_of__isnull=True
        )
        .order_by("received_at", "id")
        .first()
    )


@transaction.atomic
def subject_request_create(
    *,
    actor,
    type: str,
    jurisdiction,
    identifiers: dict,
    received_at: dt.datetime | None = None,
    channel: str = Channel.WEB_FORM,
    agent_name: str = "",
    agent_authority: str = "",
    details: str = "",
) -> SubjectRequest:
    """Take a request in (staff, API or the public form), start its clock, send verification."""
    if actor is not None and not actor.has_perm("workflows.add_subjectrequest"):
        raise PermissionDenied("Only privacy officers may record subject requests")
    if type not in SubjectRequestType.values:
        known = ", ".join(SubjectRequestType.values)
        raise ValidationError({"type": f"Unknown request type {type!r}; use one of {known}"})
    if channel not in Channel.values:
        raise ValidationError({"channel": f"Unknown channel {channel!r}"})
    jurisdiction = _jurisdiction(jurisdiction)
    identifiers = _clean_identifiers(identifiers)
    now = timezone.now()
    received_at = received_at or now
    if received_at > now + dt.timedelta(minutes=5):
        raise ValidationError({"received_at": "A request cannot be received in the future"})
    if agent_authority and not agent_name:
        raise ValidationError({"agent_name": "Name the agent whose authority is described"})
    clock = clock_of(jurisdiction)
    received = deadlines.receipt_date(received_at)
    subject_key = pseudonym(identifiers[IdentifierKind.EMAIL])
    request = SubjectRequest.objects.create(
        type=type,
        jurisdiction=jurisdiction,
        sealed=seal({"identifiers": identifiers, "details": details}),
        subject_key=subject_key,
        identifier_kinds=sorted(identifiers),
        received_at=received_at,
        channel=channel,
        agent_name=agent_name,
        agent_authority=agent_authority,
        deadline=deadlines.due_date(received, clock),
        acknowledge_by=deadlines.acknowledge_by(received, clock),
        acknowledged_at=now,
        deadline_basis=deadlines.basis(clock, jurisdiction.dsr_citation)[:300],
        duplicate_of=_open_original(subject_key, type),
        created_by=actor,
    )
    original = request.duplicate_of
    comment = f"Duplicate of {original.reference}: verified on its own" if original else ""
    _event(request, actor=actor, action="received", to_status=request.status, comment=comment,
           name=None if actor else "the subject")  # fmt: skip
    _ledger(request, actor=actor, kind="received", data={
        "channel": channel, "deadline": request.deadline.isoformat(),
        "agent": bool(agent_name), "duplicate_of": original.pk if original else None,
    })  # fmt: skip
    _issue_challenge(request)
    _officers_notify(request, "received", f"new {request.get_type_display()} request",
                     f"Due {request.deadline.isoformat()}.")  # fmt: skip
    return request


# --- Identity verification ------------------------------------------------------------------


def _secret_hash(request_id: int, purpose: str, secret: str) -> str:
    key = hmac_key()
    return hmac.new(key, f"{purpose}:{request_id}:{secret}".encode(), hashlib.sha256).hexdigest()


def _issue_challenge(request: SubjectRequest) -> VerificationChallenge:
    code = f"{secrets.randbelow(10**6):06d}"
    token = secrets.token_urlsafe(32)
    challenge = VerificationChallenge.objects.create(
        request=request,
        code_hash=_secret_hash(request.pk, "code", code),
        token_hash=_secret_hash(request.pk, "link", token),
        expires_at=timezone.now() + dt.timedelta(minutes=settings.SUBJECT_VERIFICATION_MINUTES),
        max_attempts=settings.SUBJECT_VERIFICATION_ATTEMPTS,
    )
    # Addressed by the request's unguessable token, never by its id.
    link = _absolute(_url("workflows:subject-verify-link", request.verify_token, token))
    hours = settings.SUBJECT_VERIFICATION_MINUTES // 60
    _mail_subject(
        request,
        "Please confirm your request",
        f"We received your {request.get_type_display()} request ({request.reference}).\n\n"
        f"To confirm it is yours, enter the code {code} at "
        f"{_absolute(_url('workflows:subject-verify', request.verify_token))} or open {link}.\n"
        f"The code works for {hours} hours. If you did not ask, ignore this message.",
    )
    return challenge


class VerificationWait(ValidationError):
    """Wrong codes came too fast (for this request, or from this address): no code is taken
    or sent for `retry_after` seconds."""

    def __init__(self, retry_after: int):
        minutes = -(-retry_after // 60)
        wait = f"{retry_after} seconds" if retry_after < 120 else f"{minutes} minutes"
        super().__init__({"code": f"Too many wrong codes: try again in {wait}"})
        self.retry_after = retry_after


def _refuse_codes(request: SubjectRequest, client: str, now: dt.datetime) -> None:
    """No code while verification is locked or while a wait earned by wrong codes runs."""
    if request.status != S.AWAITING_VERIFICATION:
        raise StateConflict({"code": "This request is not waiting for verification"})
    if request.verification == VerificationState.LOCKED:
        raise ValidationError(
            {"code": "Too many wrong codes: no code is taken until we contact you"}
        )
    waits = [request.verify_wait_until, subject_attempts.address_wait_until(client)]
    until = max((w for w in waits if w is not None), default=None)
    if until is not None and until > now:
        raise VerificationWait(int((until - now).total_seconds()) + 1)


def verification_resend(
    *, request: SubjectRequest, client: str = "", now: dt.datetime | None = None
) -> VerificationChallenge:
    """A fresh code and link (the earlier ones stop working), a limited number of times; when
    they run out, verification locks until an officer unlocks it (the request stays open)."""
    now = now or timezone.now()
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        _refuse_codes(request, client, now)
        if request.codes_resent + 1 < settings.SUBJECT_VERIFICATION_CHALLENGES:
            SubjectRequest.objects.filter(pk=request.pk).update(codes_resent=F("codes_resent") + 1)
            _retire_challenges(request, now)
            _event(request, actor=None, action="verification_resent", name="the subject")
            return _issue_challenge(request)
        _lock_verification(request, "A new code was asked for when none was left")
    raise ValidationError({"code": "No more codes can be sent: we will contact you"})


def _retire_challenges(request: SubjectRequest, now: dt.datetime) -> None:
    request.challenges.filter(used_at__isnull=True, locked_at__isnull=True).update(expires_at=now)


def verification_check(
    *,
    request: SubjectRequest,
    code: str = "",
    token: str = "",
    client: str = "",
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """Check a code or link token. Every wrong one counts (committed even when wrong) for the
    request and for the client's address, and slows the next; none ever rejects the request."""
    if not code and not token:
        raise ValidationError({"code": "Enter the code from the e-mail"})
    now = now or timezone.now()
    with transaction.atomic():
        challenge = _claim_attempt(request, client, now)
    field, secret, purpose, stored = (
        ("code", code, "code", challenge.code_hash)
        if code
        else ("token", token, "link", challenge.token_hash)
    )
    if hmac.compare_digest(_secret_hash(request.pk, purpose, secret.strip()), stored):
        return _verified(request, challenge)
    subject_attempts.address_failed(client, now)
    raise ValidationError({field: _wrong_code(request, challenge, now)})


def _claim_attempt(request: SubjectRequest, client: str, now: dt.datetime) -> VerificationChallenge:
    """Count one attempt against the current challenge by compare-and-swap."""
    request.refresh_from_db()
    _refuse_codes(request, client, now)
    challenge = request.challenges.order_by("-created_at", "-id").first()
    if challenge is None:
        raise ValidationError({"code": "No code was sent for this request"})
    if challenge.locked_at:
        raise ValidationError({"code": "This code was tried too often: ask for a new one"})
    if challenge.used_at:
        raise StateConflict({"code": "This code was already used"})
    if challenge.expires_at <= now:
        raise ValidationError({"code": "The code has expired: ask for a new one"})
    claimed = VerificationChallenge.objects.filter(
        pk=challenge.pk, attempts=challenge.attempts, locked_at__isnull=True, used_at__isnull=True
    ).update(attempts=F("attempts") + 1)
    if not claimed:
        raise ValidationError({"code": "Another attempt is being checked: try again"})
    challenge.attempts += 1
    return challenge


@transaction.atomic
def _wrong_code(request: SubjectRequest, challenge: VerificationChallenge, now) -> str:
    """Record a wrong code on the request (its wait grows); say what the subject may do next."""
    rows = SubjectRequest.objects.select_for_update().filter(pk=request.pk)
    rows.update(verify_failures=F("verify_failures") + 1)
    request = rows.get()
    wait = subject_attempts.wait_after(request.verify_failures)
    if wait:
        rows.update(verify_wait_until=now + wait)
    left = challenge.max_attempts - challenge.attempts
    if left > 0:
        later = f"; try again in {int(wait.total_seconds())} seconds" if wait else ""
        return f"Wrong code: {left} attempt{'s' if left > 1 else ''} left{later}"
    VerificationChallenge.objects.filter(pk=challenge.pk).update(locked_at=now)
    if request.codes_resent + 1 >= settings.SUBJECT_VERIFICATION_CHALLENGES:
        _lock_verification(request, "Every code sent was tried too often")
        return "Wrong code: no more codes can be tried; we will contact you"
    _event(request, actor=None, action="verification_locked", name="the subject",
           comment="This code was tried too often; a new one may be sent")  # fmt: skip
    _ledger(request, actor=None, kind="verification_locked", data={"final": False})
    return "Wrong code: this code was tried too often; ask for a new one"


def _lock_verification(request: SubjectRequest, why: str) -> None:
    """Codes stop until an officer unlocks; the request itself stays open, never rejected."""
    SubjectRequest.objects.filter(pk=request.pk).update(verification=VerificationState.LOCKED)
    _event(request, actor=None, action="verification_locked", name="the subject",
           comment=f"{why}: no code is taken until an officer unlocks")  # fmt: skip
    _ledger(request, actor=None, kind="verification_locked", data={"final": True})
    _officers_notify(request, "verification_locked", "verification locked: the subject "
                     "needs an officer to unlock it")  # fmt: skip


def verification_unlockable(request: SubjectRequest) -> bool:
    """Waiting for verification, with codes locked or slowed by wrong ones."""
    stopped = request.verification == VerificationState.LOCKED or request.verify_failures > 0
    return request.status == S.AWAITING_VERIFICATION and stopped


@transaction.atomic
def verification_unlock(*, actor, request: SubjectRequest, reason: str = "") -> SubjectRequest:
    """An officer lets codes be tried again: waits and counts cleared, a fresh code sent."""
    request = _locked(request)
    _require_manager(actor, request)
    if not verification_unlockable(request):
        raise StateConflict(
            {"verification": "Only a request waiting for verification after wrong codes unlocks"}
        )
    SubjectRequest.objects.filter(pk=request.pk).update(
        verification=VerificationState.PENDING,
        verify_failures=0,
        verify_wait_until=None,
        codes_resent=0,
    )
    request.refresh_from_db()
    _retire_challenges(request, timezone.now())
    _event(request, actor=actor, action="verification_unlocked", comment=reason)
    _ledger(request, actor=actor, kind="verification_unlocked")
    _issue_challenge(request)
    return request


@transaction.atomic
def _verified(request: SubjectRequest, challenge: VerificationChallenge) -> SubjectRequest:
    used = VerificationChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if not used:
        raise StateConflict({"code": "This code was already used"})
    request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
    original = request.duplicate_of
    fields = {"verification": VerificationState.VERIFIED, "verified_at": timezone.now()}
    if original is not None and original.is_open:
        request = _transition(request, "link_duplicate", fields=fields, name="the subject",
                              comment=f"Answered with {original.reference}")  # fmt: skip
        _mail_subject(request, "We are already working on this",
                      f"Your request duplicates {original.reference}, which is already open; "
                      "you will receive one answer.")  # fmt: skip
        return request
    request = _transition(request, "verify", fields=fields, name="the subject")
    _queue("subject_discovery", request.pk)
    return request


# --- Discovery ------------------------------------------------------------------------------


def discovery_run(*, request_id: int) -> int:
    """Create one task per dataset that may hold the subject's data; returns tasks created.

    Exactly once: the request row is locked, tasks are unique per (request, dataset), and the
    status moves on only from `verified`, all in one transaction."""
    from requests.subject_selectors import candidate_datasets

    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.status != S.VERIFIED:
            return 0
        datasets = list(candidate_datasets(request))
        today = timezone.now().date()
        exports = request.type in EXPORTING_TYPES or request.type == SubjectRequestType.ERASURE
        connectors_by_dataset = {
            c.dataset_id: c for c in DatasetConnector.objects.filter(dataset__in=datasets)
        }
        SubjectTask.objects.bulk_create(
            [
                SubjectTask(
                    request=request,
                    dataset=dataset,
                    dataset_slug=dataset.slug,
                    owner_id=dataset.owner_id,
                    due_on=deadlines.task_due(request.due, today),
                    automatic=exports
                    and dataset.pk in connectors_by_dataset
                    and connectors_by_dataset[dataset.pk].automatic,
                )
                for dataset in datasets
            ],
            ignore_conflicts=True,
        )
        if request.type == SubjectRequestType.ERASURE:
            _create_ml_decisions(request, datasets)
        slugs = sorted(d.slug for d in datasets)
        request = _transition(request, "discover", fields={"discovered_at": timezone.now()},
                              ledger={"datasets": slugs},
                              comment=f"{len(slugs)} dataset(s) may hold the subject's data")  # fmt: skip
        tasks = list(request.tasks.select_related("owner"))
        _tell_owners(request, tasks)
        for task in tasks:
            if task.automatic:
                _queue("subject_connector_run", task.pk)
        _maybe_ready(request)
        return len(tasks)


def _create_ml_decisions(request: SubjectRequest, datasets) -> None:
    """One decision to make per training run that read any of the datasets to erase from."""
    by_run: dict[int, list[str]] = defaultdict(list)
    runs = {}
    reads = TrainingRunDataset.objects.filter(dataset__in=datasets).select_related("run", "dataset")
    for read in reads:
        by_run[read.run_id].append(read.dataset.slug)
        runs[read.run_id] = read.run
    MlPropagationDecision.objects.bulk_create(
        [
            MlPropagationDecision(
                request=request,
                training_run=runs[run_id],
                run_name=runs[run_id].name,
                model_name=runs[run_id].model_name,
                datasets=sorted(set(slugs)),
            )
            for run_id, slugs in by_run.items()
        ],
        ignore_conflicts=True,
    )


def _tell_owners(request: SubjectRequest, tasks: list[SubjectTask]) -> None:
    by_owner: dict = defaultdict(list)
    for task in tasks:
        by_owner[task.owner].append(task)
    for owner, theirs in by_owner.items():
        slugs = ", ".join(t.dataset_slug for t in theirs)
        notify(
            recipients=[owner],
            kind="subject_request.task",
            title=f"{request.reference}: {request.get_type_display()} for {slugs}",
            body=f"Due {min(t.due_on for t in theirs).isoformat()}.",
            url=_url("workflows:subject-task-list"),
        )


# --- Connectors: how each dataset answers ------------------------------------------------------

CONNECTOR_FIELDS = (
    "kind",
    "identifier_kinds",
    "database",
    "dsn_setting",
    "table",
    "identifier_column",
    "identifier_kind",
    "erase_mode",
    "mask_columns",
    "enabled",
)
# What a connector reaches and does: a change to any of these is a new version to approve.
CONNECTOR_REACH = tuple(name for name in CONNECTOR_FIELDS if name != "enabled")
NOT_APPROVED = (
    "This version of the connector is not approved by a privacy officer yet: it runs once one "
    "approves it (or answer the task by hand)"
)


def may_set_connector(user, dataset: Dataset) -> bool:
    """The dataset's owner, or a privacy officer."""
    return dataset.owner_id == user.pk or user.has_perm("workflows.change_subjectrequest")


def may_approve_connector(user, connector: DatasetConnector) -> bool:
    """A privacy officer who answers for the connector: for the dataset's jurisdiction or its
    subjects' (the same scope in which they see it)."""
    from requests.subject_selectors import connectors_managed_by

    return connectors_managed_by(user).filter(pk=connector.pk).exists()


def _reach(connector: DatasetConnector) -> tuple:
    return tuple(getattr(connector, name) for name in CONNECTOR_REACH)


def _connector_data(connector: DatasetConnector) -> dict:
    return {**{name: getattr(connector, name) for name in CONNECTOR_FIELDS},
            "version": connector.version}  # fmt: skip


def connector_save(
    *, actor, dataset: Dataset, connector: DatasetConnector | None = None, **fields
) -> DatasetConnector:
    """Set how a dataset answers subject requests (a new connector, or changes to its own);
    on the ledger, since it decides what an erasure removes. A change to what it reaches is a
    new version, which does not run until a privacy officer approves it."""
    if not may_set_connector(actor, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may set this")
    with transaction.atomic():
        # The dataset row is locked so that two first connectors for it cannot race.
        list(Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("pk"))
        if connector is None:
            if DatasetConnector.objects.filter(dataset=dataset).exists():
                raise ValidationError(
                    {
                        "dataset": f"{dataset.slug} already has a connector; "
                        "change that one (PATCH its id)"
                    }
                )
            connector = DatasetConnector(dataset=dataset)
        elif connector.dataset_id != dataset.pk:
            raise ValidationError({"dataset": "A connector stays with its dataset"})
        else:  # the version in force, not the one the caller read
            connector = DatasetConnector.objects.select_for_update().get(pk=connector.pk)
        before = _reach(connector)
        for name in CONNECTOR_FIELDS:
            if name in fields:
                setattr(connector, name, fields[name])
        _check_connector(connector)
        if connector.pk and _reach(connector) != before:
            connector.version += 1  # the approval was of the version before
        connector.save()
        ledger_append(
            actor=actor,
            kind="subject_connector.saved",
            subjects=[f"dataset:{dataset.slug}"],
            data=_connector_data(connector),
        )
        if connector.automatic and not connector.approved:
            _ask_approval(connector)
    return connector


def _ask_approval(connector: DatasetConnector) -> None:
    notify(
        recipients=officers_for([connector.dataset.jurisdiction_id]),
        kind="subject_connector.approval",
        title=f"The connector of {connector.dataset.slug} (version {connector.version}) "
        "awaits approval",
        body="It reads and erases subject data once a privacy officer approves it "
        "(POST approve/ on its address in the API).",
        url=_url("v1:dataset-connector-detail", connector.pk),
    )


def _check_connector(connector: DatasetConnector) -> None:
    """A SQL connector names allowed things: plain identifiers, a database named for subject
    data, and a table and columns its catalog holds; 400 naming the field otherwise."""
    if connector.kind != ConnectorKind.SQL:
        return
    try:
        connectors.validate_config(connector)
    except connectors.ConnectorError as exc:
        raise ValidationError({exc.field: str(exc)}) from None
    if connector.identifier_kind not in connector.identifier_kinds:
        raise ValidationError(
            {"identifier_kind": "It must be one of the identifier kinds declared"}
        )
    try:
        connectors.check_catalog(connector)
    except connectors.TransientError as exc:
        raise ValidationError(
            {exc.field: f"Could not reach the database to look the table up ({exc})"}
        ) from None
    except connectors.ConnectorError as exc:
        raise ValidationError({exc.field: str(exc)}) from None


def connector_approve(
    *, actor, connector: DatasetConnector, version: int | None = None
) -> DatasetConnector:
    """A privacy officer approves the connector's current version (the one they reviewed,
    when `version` is given), on the ledger; tasks that waited for it run."""
    if not may_approve_connector(actor, connector):
        raise PermissionDenied(
            "Only a privacy officer who answers for the dataset's or its subjects' "
            "jurisdiction may approve"
        )
    with transaction.atomic():
        connector = (
            DatasetConnector.objects.select_for_update(of=("self",))
            .select_related("dataset")
            .get(pk=connector.pk)
        )
        if connector.kind != ConnectorKind.SQL:
            raise StateConflict({"kind": "A manual connector never runs: nothing to approve"})
        if version is not None and version != connector.version:
            raise StateConflict(
                {"version": f"The connector changed meanwhile: review version {connector.version}"}
            )
        if connector.approved:
            raise StateConflict({"version": f"Version {connector.version} is already approved"})
        _check_connector(connector)
        connector.approved_version = connector.version
        connector.approved_by = actor
        connector.approved_by_name = actor_name(actor)
        connector.approved_at = timezone.now()
        connector.save(update_fields=["approved_version", "approved_by", "approved_by_name",
                                      "approved_at"])  # fmt: skip
        ledger_append(
            actor=actor,
            kind="subject_connector.approved",
            subjects=[f"dataset:{connector.dataset.slug}"],
            data=_connector_data(connector),
        )
        _rerun_waiting(actor, connector)
    return connector


def _rerun_waiting(actor, connector: DatasetConnector) -> None:
    """Tasks that stopped because their connector was not approved run now."""
    waiting = SubjectTask.objects.filter(
        dataset_id=connector.dataset_id,
        automatic=True,
        status=TaskStatus.FAILED,
        last_error__startswith=f"{connectors.NotApproved.__name__}:",
        request__status=S.IN_PROGRESS,
    ).select_related("request")
    for task in waiting:
        SubjectTask.objects.filter(pk=task.pk, status=TaskStatus.FAILED).update(
            status=TaskStatus.OPEN, attempts=0, last_error=""
        )
        _event(task.request, actor=actor, action="task_retry", comment=task.dataset_slug)
        _queue("subject_connector_run", task.pk)


# --- Tasks: connectors and manual answers ---------------------------------------------------


class ConnectorRetry(Exception):
    """A connector failed for a reason that may pass (the database was unreachable)."""


class ConnectorCrashed(Exception):
    """A connector run failed on something other than its target; its message is redacted."""


def connector_run(*, task_id: int) -> str:
    """Run a task's connector once: claim it by compare-and-swap, run, record, release.

    A run whose worker died keeps its claim until the lease passes, then anyone may retake it;
    erasures are idempotent (deleted rows are gone, masked rows no longer match)."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS)
    claimed = (
        SubjectTask.objects.filter(pk=task_id, automatic=True)
        .filter(Q(status=TaskStatus.OPEN) | Q(status=TaskStatus.RUNNING, claimed_at__lt=stale))
        .update(status=TaskStatus.RUNNING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return "not-claimed"
    task = SubjectTask.objects.select_related("request", "dataset__connector").get(pk=task_id)
    if task.request.status != S.IN_PROGRESS:
        _release(task, "")
        return "request-not-in-progress"
    connector = getattr(task.dataset, "connector", None) if task.dataset else None
    try:
        identifier = task.request.identifiers.get(connector.identifier_kind) if connector else None
    except SealedDataUnreadable as exc:  # a key problem: the owner and the log are told
        return _failed(task, exc, transient=False)
    if connector is None or not connector.automatic or not identifier:
        _to_manual(task, "No connector or no identifier it can look up: answer by hand")
        return "manual"
    values = list(task.request.identifiers.values())  # what every error is redacted of
    if not connector.approved:
        return _failed(task, connectors.NotApproved(NOT_APPROVED), transient=False)
    try:
        result = connectors.run(connector, task.request.type, identifier, task)
    except connectors.TransientError as exc:
        if _failed(task, exc, transient=True, values=values) == "retry":
            raise ConnectorRetry(connectors.failure_text(exc, values)) from None
        return "failed"
    except connectors.ConnectorError as exc:
        return _failed(task, exc, transient=False, values=values)
    except Exception as exc:
        # Not the target's answer (a fault of Locus's own): the claim waits for its lease, and
        # neither the log nor the worker's report of the task carries the identifiers.
        log.error("The connector run of task %s crashed:\n%s", task.pk,
                  connectors.failure_traceback(exc, values))  # fmt: skip
        raise ConnectorCrashed(connectors.failure_text(exc, values)) from None
    return "done" if result else "lost-claim"


def record_connector_result(task: SubjectTask, result: connectors.Result) -> bool:
    """Write a connector's counts and export and finish the task, inside the caller's
    transaction; False when the claim was lost meanwhile."""
    rows = SubjectTask.objects.filter(
        pk=task.pk, status=TaskStatus.RUNNING, claimed_at=task.claimed_at
    )
    changes = {
        "status": TaskStatus.DONE,
        "rows_found": result.found,
        "completed_at": timezone.now(),
        "completed_by_name": "connector",
        "last_error": "",
    }
    if result.rows is not None:
        changes.update(rows_exported=len(result.rows), export_sealed=seal(result.rows))
    if result.erased is not None:
        changes["rows_erased"] = result.erased
    if result.masked is not None:
        changes["rows_masked"] = result.masked
    if rows.update(**changes) != 1:
        return False
    request = SubjectRequest.objects.select_for_update().get(pk=task.request_id)
    _task_ledger(request, task, "connector", result.as_dict())
    _maybe_ready(request)
    return True


def prepare_connector_count(task: SubjectTask, count: int) -> None:
    """Keep the count of rows about to be erased, committed before the target commits."""
    SubjectTask.objects.filter(pk=task.pk, claimed_at=task.claimed_at).update(prepared_rows=count)


def _task_ledger(request, task, mode: str, data: dict) -> None:
    _event(request, actor=None, action="task_done",
           comment=f"{task.dataset_slug}: {json.dumps(data, sort_keys=True)}", name=mode)  # fmt: skip
    ledger_append(
        actor=None,
        kind="subject_task.done",
        subjects=[request.ref, request.subject_key, f"dataset:{task.dataset_slug}"],
        data={"mode": mode, **data},
    )


def _release(task: SubjectTask, error: str) -> None:
    SubjectTask.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(
        status=TaskStatus.OPEN, last_error=error
    )


@transaction.atomic
def _to_manual(task: SubjectTask, why: str) -> None:
    SubjectTask.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(
        status=TaskStatus.OPEN, automatic=False, last_error=why
    )
    _event(task.request, actor=None, action="task_manual", comment=f"{task.dataset_slug}: {why}")


# How the timeline tells a failure: the kind only. The timeline is append-only (an erasure
# cannot take anything out of it), and a target's own words may quote the subject.
FAILURE_KINDS = {
    "NotApproved": "its version is not approved yet",
    "TransientError": "the database could not be reached",
    "SealedDataUnreadable": "the subject's identifiers could not be decrypted",
}


@transaction.atomic
def _failed(task: SubjectTask, exc: Exception, *, transient: bool, values=()) -> str:
    """Surface a connector failure on the task; transient ones are retried until the cap.

    What is kept and sent is redacted of every value in `values` (the subject's identifiers);
    the timeline says only that it failed, and how."""
    message = connectors.failure_text(exc, values)
    log.warning("The connector of task %s failed: %s", task.pk, message)
    if transient and task.attempts < settings.SUBJECT_CONNECTOR_MAX_ATTEMPTS:
        _release(task, message)
        return "retry"
    SubjectTask.objects.filter(pk=task.pk, status=TaskStatus.RUNNING).update(
        status=TaskStatus.FAILED, last_error=message
    )
    how = FAILURE_KINDS.get(type(exc).__name__, "the database refused the work")
    _event(task.request, actor=None, action="task_failed",
           comment=f"{task.dataset_slug}: the connector failed ({how}); the task says why")  # fmt: skip
    notify(
        recipients=[task.owner],
        kind="subject_request.task_failed",
        title=f"{task.request.reference}: the connector for {task.dataset_slug} failed",
        body=message,
        url=_url("workflows:subject-task-detail", task.pk),
    )
    return "failed"


@transaction.atomic
def task_retry(*, actor, task: SubjectTask) -> SubjectTask:
    """Run a failed connector again (after the owner fixed its configuration)."""
    if not can_work_task(actor, task):
        raise PermissionDenied("Only the task's owner or a privacy officer may retry it")
    if not task.automatic:
        raise StateConflict({"task": "This task has no connector: answer it by hand"})
    if (
        SubjectTask.objects.filter(pk=task.pk, status=TaskStatus.FAILED).update(
            status=TaskStatus.OPEN, attempts=0, last_error=""
        )
        != 1
    ):
        raise StateConflict({"status": "Only a failed connector run can be retried"})
    _event(task.request, actor=actor, action="task_retry", comment=task.dataset_slug)
    _queue("subject_connector_run", task.pk)
    task.refresh_from_db()
    return task


def _clean_rows(rows) -> list[dict]:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValidationError({"rows": "Give the export as a list of records (objects)"})
    if len(rows) > MAX_MANUAL_ROWS:
        raise ValidationError({"rows": f"At most {MAX_MANUAL_ROWS} records per dataset"})
    return [{str(k): connectors.json_safe(v) for k, v in row.items()} for row in rows]


@transaction.atomic
def task_complete(*, actor, task: SubjectTask, note: str = "", rows=None) -> SubjectTask:
    """The owner answers a task by hand: the export they made, or how the data was erased."""
    if not can_work_task(actor, task):
        raise PermissionDenied("Only the task's owner or a privacy officer may answer it")
    request = SubjectRequest.objects.select_for_update().get(pk=task.request_id)
    if request.status != S.IN_PROGRESS:
        raise StateConflict({"status": "The request is not in progress"})
    note = (note or "").strip()
    exporting = request.type in EXPORTING_TYPES
    cleaned = _clean_rows(rows) if rows is not None else None
    if exporting and cleaned is None and not note:
        raise ValidationError(
            {"rows": "Upload the subject's records, or say in a note why there are none"}
        )
    if not exporting and not note:
        raise ValidationError({"note": "Say what was done (for an erasure: what was erased, how)"})
    changes = {
        "status": TaskStatus.DONE,
        "note": note,
        "completed_at": timezone.now(),
        "completed_by_name": actor_name(actor),
    }
    if exporting:
        changes.update(rows_exported=len(cleaned or []), export_sealed=seal(cleaned or []))
    done = SubjectTask.objects.filter(
        pk=task.pk, status__in=[TaskStatus.OPEN, TaskStatus.FAILED]
    ).update(**changes)
    if done != 1:
        raise StateConflict({"status": "This task is already done or its connector is running"})
    task.refresh_from_db()
    data = {"dataset": task.dataset_slug, "rows": task.rows_exported}  # the entry names the actor
    _task_ledger(request, task, "manual", data)
    _maybe_ready(request)
    return task


@transaction.atomic
def ml_decision_record(
    *, actor, decision: MlPropagationDecision, choice: str, reason: str = ""
) -> MlPropagationDecision:
    """The owner decides what happens to a model trained on data being erased."""
    request = SubjectRequest.objects.select_for_update().get(pk=decision.request_id)
    owns = request.tasks.filter(owner=actor, dataset_slug__in=decision.datasets).exists()
    if not (owns or can_manage(actor, request)):
        raise PermissionDenied("Only an owner of the erased datasets or a privacy officer decides")
    if choice not in MlDecision.values:
        raise ValidationError(
            {"decision": f"Unknown decision {choice!r}; use {', '.join(MlDecision.values)}"}
        )
    reason = (reason or "").strip()
    if choice == MlDecision.ACCEPT and not reason:
        raise ValidationError({"reason": "Accepting the risk needs a reason"})
    if request.status not in OPEN:
        raise StateConflict({"status": "The request is closed"})
    changed = MlPropagationDecision.objects.filter(pk=decision.pk, decision="").update(
        decision=choice, reason=reason, decided_by=actor, decided_by_name=actor_name(actor),
        decided_at=timezone.now(),
    )  # fmt: skip
    if changed != 1:
        raise StateConflict({"decision": "This model's decision was already recorded"})
    decision.refresh_from_db()
    _event(request, actor=actor, action="ml_decision",
           comment=f"{decision.run_name}: {choice}" + (f" ({reason})" if reason else ""))  # fmt: skip
    ledger_append(actor=actor, kind="subject_request.ml_decision",
                  subjects=[request.ref, request.subject_key, f"training-run:{decision.training_run_id}"],
                  data={"decision": choice, "model": decision.model_name})  # fmt: skip
    _maybe_ready(request)
    return decision


def _outstanding(request: SubjectRequest) -> list[str]:
    """What still stands between the request and its answer, in words."""
    open_tasks = list(
        request.tasks.exclude(status=TaskStatus.DONE).values_list("dataset_slug", flat=True)
    )
    undecided = list(request.ml_decisions.filter(decision="").values_list("run_name", flat=True))
    reasons = []
    if open_tasks:
        reasons.append(f"{len(open_tasks)} task(s) still open: {', '.join(open_tasks)}")
    if undecided:
        reasons.append(f"{len(undecided)} model decision(s) to make: {', '.join(undecided)}")
    return reasons


def _maybe_ready(request: SubjectRequest) -> bool:
    """Once every task is done and every model decided, the answer is put together."""
    if request.status != S.IN_PROGRESS or _outstanding(request):
        return False
    _transition(request, "ready", comment="Every task is done")
    _queue("subject_fulfil", request.pk)
    return True


# --- Officer steps --------------------------------------------------------------------------


def _locked(request: SubjectRequest) -> SubjectRequest:
    return SubjectRequest.objects.select_for_update().get(pk=request.pk)


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"Give the reason for {what}"})
    return reason


@transaction.atomic
def subject_request_extend(*, actor, request: SubjectRequest, reason: str) -> SubjectRequest:
    """Extend once, before the first deadline, telling the subject why (GDPR Art. 12(3))."""
    request = _locked(request)
    _require_manager(actor, request)
    reason = _reason(reason, "the extension")
    clock = clock_of(request.jurisdiction)
    try:
        deadlines.check_extension(
            today=timezone.now().date(),
            deadline=request.deadline,
            already_extended=request.extended_deadline is not None,
        )
        extended = deadlines.extended_due_date(request.deadline, clock)
    except deadlines.DeadlineError as exc:
        raise StateConflict({"deadline": str(exc)}) from None
    request = _transition(request, "extend", actor=actor, comment=reason,
                          fields={"extended_deadline": extended, "extension_reason": reason},
                          when=Q(extended_deadline__isnull=True),
                          ledger={"extended_deadline": extended.isoformat()})  # fmt: skip
    _mail_subject(request, "We need more time",
                  f"We will answer by {extended.isoformat()} instead of "
                  f"{request.deadline.isoformat()}, because: {reason}")  # fmt: skip
    return request


@transaction.atomic
def subject_request_pause(*, actor, request: SubjectRequest, reason: str) -> SubjectRequest:
    """Stop the clock while waiting for the subject (e.g. for identity information)."""
    request = _locked(request)
    _require_manager(actor, request)
    reason = _reason(reason, "the pause")
    return _transition(request, "pause", actor=actor, comment=reason,
                       fields={"paused_at": timezone.now(), "resume_status": request.status})  # fmt: skip


@transaction.atomic
def subject_request_resume(*, actor, request: SubjectRequest, reason: str = "") -> SubjectRequest:
    """Start the clock again; the deadlines move on by the days it stood still."""
    request = _locked(request)
    _require_manager(actor, request)
    if request.status != S.PAUSED:
        raise StateConflict({"status": "The request is not paused"})
    days = deadlines.paused_days(request.paused_at, timezone.now())
    fields = {
        "status": request.resume_status,
        "paused_at": None,
        "resume_status": "",
        "paused_days": request.paused_days + days,
        "deadline": deadlines.shift(request.deadline, days),
        "extended_deadline": deadlines.shift(request.extended_deadline, days),
    }
    request = _transition(request, "resume", actor=actor, comment=reason, fields=fields,
                          ledger={"paused_days": days})  # fmt: skip
    if request.status == S.VERIFIED:
        _queue("subject_discovery", request.pk)
    _maybe_ready(request)
    return request


@transaction.atomic
def subject_request_reject(*, actor, request: SubjectRequest, reason: str) -> SubjectRequest:
    """Refuse, with reasons and the right to complain (GDPR Art. 12(4))."""
    request = _locked(request)
    _require_manager(actor, request)
    reason = _reason(reason, "refusing")
    request = _transition(
        request, "reject", actor=actor, comment=reason, fields={"outcome": reason}
    )
    _mail_subject(request, "We cannot act on your request",
                  f"Reason: {reason}\n\nYou may complain to a data-protection supervisory "
                  "authority and seek a judicial remedy.")  # fmt: skip
    _revive_duplicates(request)
    return request


@transaction.atomic
def subject_request_withdraw(*, actor, request: SubjectRequest, reason: str = "") -> SubjectRequest:
    """The subject withdrew the request."""
    request = _locked(request)
    _require_manager(actor, request)
    request = _transition(
        request, "withdraw", actor=actor, comment=reason, fields={"outcome": reason}
    )
    _revive_duplicates(request)
    return request


def _revive_duplicates(request: SubjectRequest) -> None:
    """Verified duplicates waited on this request: it ended unanswered, so they go on."""
    for duplicate in request.duplicates.filter(status=S.DUPLICATE):
        _transition(duplicate, "revive", comment=f"{request.reference} ended without an answer")
        _queue("subject_discovery", duplicate.pk)


@transaction.atomic
def subject_request_close(*, actor, request: SubjectRequest) -> SubjectRequest:
    """Close a request whose tasks are all done: put the answer together now."""
    request = _locked(request)
    _require_manager(actor, request)
    if request.status == S.IN_PROGRESS:
        outstanding = _outstanding(request)
        if outstanding:
            raise StateConflict({"tasks": "; ".join(outstanding)})
        _transition(request, "ready", actor=actor, comment="Closed by an officer")
    elif request.status != S.READY:
        raise StateConflict(
            {"status": f"A request that is {request.get_status_display().lower()} cannot be closed"}
        )
    return subject_request_fulfil(request_id=request.pk) or request


# --- The answer: package or certificate -----------------------------------------------------


def _package_token_hash(request_id: int, token: str) -> str:
    return _secret_hash(request_id, "package", token)


@transaction.atomic
def subject_request_fulfil(*, request_id: int) -> SubjectRequest | None:
    """Build the answer of a ready request, send the subject its link, close it (once)."""
    from requests import subject_package

    request = SubjectRequest.objects.select_for_update().filter(pk=request_id).first()
    if request is None or request.status != S.READY:
        return None
    tasks = list(request.tasks.order_by("dataset_slug"))
    decisions = list(request.ml_decisions.all())
    built = subject_package.build(request, tasks, decisions, timezone.now())
    token = secrets.token_urlsafe(32)
    package = SubjectPackage.objects.create(
        request=request,
        kind=built.kind,
        filename=built.filename,
        content_sealed=seal_bytes(built.content),
        size=len(built.content),
        sha256=hashlib.sha256(built.content).hexdigest(),
        manifest=built.manifest,
        token_hash=_package_token_hash(request.pk, token),
        expires_at=timezone.now() + dt.timedelta(days=settings.SUBJECT_PACKAGE_DAYS),
    )
    request = _transition(request, "complete", fields={"outcome": built.summary},
                          comment=built.summary, ledger={"package_sha256": package.sha256,
                          "manifest_sha256": built.manifest_sha256})  # fmt: skip
    _send_package_link(request, package, token)
    for duplicate in request.duplicates.filter(status=S.DUPLICATE):
        _transition(
            duplicate, "answered_with_original", comment=f"Answered with {request.reference}"
        )
    _officers_notify(request, "completed", "answered", built.summary)
    return request


def _send_package_link(request: SubjectRequest, package: SubjectPackage, token: str) -> None:
    link = _absolute(_url("workflows:subject-package", request.pk, token))
    what = "your data" if package.kind == SubjectPackage.Kind.EXPORT else "our confirmation"
    _mail_subject(request, "Your request is answered",
                  f"Download {what} at {link} until {package.expires_at:%Y-%m-%d %H:%M} UTC.\n"
                  f"SHA-256 of the file: {package.sha256}")  # fmt: skip


@transaction.atomic
def package_reissue(*, actor, request: SubjectRequest) -> SubjectPackage:
    """A new download link (the old one stops working), for another SUBJECT_PACKAGE_DAYS."""
    request = _locked(request)
    _require_manager(actor, request)
    package = SubjectPackage.objects.filter(request=request).first()
    if package is None:
        raise StateConflict({"package": "The request has no package yet"})
    token = secrets.token_urlsafe(32)
    package.token_hash = _package_token_hash(request.pk, token)
    package.expires_at = timezone.now() + dt.timedelta(days=settings.SUBJECT_PACKAGE_DAYS)
    package.save(update_fields=["token_hash", "expires_at"])
    _event(request, actor=actor, action="package_reissued")
    _ledger(request, actor=actor, kind="package_reissued")
    _send_package_link(request, package, token)
    return package


class PackageLinkInvalid(PermissionDenied):
    """A download link that is not this request's current one (wrong, reissued, another's)."""


class PackageLinkExpired(PermissionDenied):
    """This request's current download link, past its time."""


def package_for_download(*, request_id: int, token: str) -> SubjectPackage:
    """The package a download link names, if the link is right and has not expired.

    The token is checked against an HMAC over this request's id, so a link made for one
    request never opens another's package, and a reissued link replaces the old one."""
    package = SubjectPackage.objects.filter(request_id=request_id).first()
    if package is None or not hmac.compare_digest(
        package.token_hash, _package_token_hash(request_id, token)
    ):
        raise PackageLinkInvalid("This download link is not valid")
    if package.expires_at <= timezone.now():
        raise PackageLinkExpired("This download link has expired: ask us for a new one")
    SubjectPackage.objects.filter(pk=package.pk).update(downloads=F("downloads") + 1)
    return package


# --- SLA watch ------------------------------------------------------------------------------


def _claim_reminder(request_id: int, task_id: int | None, kind: str) -> bool:
    key = f"{request_id}:{task_id or '-'}:{kind}"
    try:
        with transaction.atomic():
            SubjectReminder.objects.create(
                request_id=request_id, task_id=task_id, kind=kind, key=key
            )
    except IntegrityError:
        return False
    return True


def subject_sla_watch(now: dt.datetime | None = None) -> dict[str, int]:
    """Remind owners of due tasks, escalate to officers before deadlines, and restart work a
    lost message left behind (periodic)."""
    now = now or timezone.now()
    today = now.date()
    counts = {"reminded": 0, "escalated": 0, "requeued": 0}
    counts["reminded"] = _remind_owners(today)
    counts["escalated"] = _escalate(today)
    counts["requeued"] = _requeue_lost(now)
    return counts


def _remind_owners(today: dt.date) -> int:
    soon = today + dt.timedelta(days=settings.SUBJECT_TASK_REMINDER_DAYS)
    due = SubjectTask.objects.filter(
        request__status=S.IN_PROGRESS,
        due_on__lte=soon,
        status__in=[TaskStatus.OPEN, TaskStatus.FAILED],
    ).select_related("request", "owner")
    sent = 0
    for task in due:
        kind = "task-overdue" if task.due_on < today else "task-due"
        with transaction.atomic():
            if not _claim_reminder(task.request_id, task.pk, kind):
                continue
            notify(recipients=[task.owner], kind=f"subject_request.{kind}",
                   title=f"{task.request.reference}: {task.dataset_slug} is due {task.due_on.isoformat()}",
                   url=_url("workflows:subject-task-detail", task.pk))  # fmt: skip
            sent += 1
    return sent


def _escalate(today: dt.date) -> int:
    horizon = today + dt.timedelta(days=settings.SUBJECT_ESCALATION_DAYS)
    candidates = SubjectRequest.objects.filter(status__in=OPEN).exclude(status=S.PAUSED)
    candidates = candidates.filter(
        Q(extended_deadline__isnull=True, deadline__lte=horizon) | Q(extended_deadline__lte=horizon)
    ).select_related("jurisdiction")
    sent = 0
    for request in candidates:
        left = deadlines.days_left(request.due, today)
        kind = "overdue" if left < 0 else "escalated"
        with transaction.atomic():
            if not _claim_reminder(request.pk, None, f"{kind}-{request.due.isoformat()}"):
                continue
            _officers_notify(request, kind, "overdue" if left < 0 else f"{left} day(s) left",
                             f"Deadline {request.due.isoformat()}; status {request.get_status_display()}.")  # fmt: skip
            _event(request, actor=None, action=kind, comment=f"{left} day(s) left")
            sent += 1
    return sent


def _requeue_lost(now: dt.datetime) -> int:
    """Work whose Celery message was lost: verified but never discovered, connectors never
    run or whose worker died, ready but never fulfilled."""
    quiet = now - dt.timedelta(seconds=settings.SUBJECT_REQUEUE_AFTER_SECONDS)
    stale = now - dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS)
    jobs: list[tuple[str, int]] = []
    for pk in SubjectRequest.objects.filter(status=S.VERIFIED, verified_at__lt=quiet).values_list(
        "pk", flat=True
    ):
        jobs.append(("subject_discovery", pk))
    for pk in SubjectRequest.objects.filter(status=S.READY).values_list("pk", flat=True):
        jobs.append(("subject_fulfil", pk))
    lost = SubjectTask.objects.filter(request__status=S.IN_PROGRESS, automatic=True).filter(
        Q(status=TaskStatus.OPEN, created_at__lt=quiet)
        | Q(status=TaskStatus.RUNNING, claimed_at__lt=stale)
    )
    for pk in lost.values_list("pk", flat=True):
        jobs.append(("subject_connector_run", pk))
    for pk in SubjectRequest.objects.filter(status=S.IN_PROGRESS).values_list("pk", flat=True):
        with transaction.atomic():
            _maybe_ready(SubjectRequest.objects.select_for_update().get(pk=pk))
    for name, pk in jobs:
        _queue(name, pk)
    return len(jobs)


def identifiers_for_task(task: SubjectTask) -> dict[str, str]:
    """What a task's owner needs to find the subject's data by hand (need to know only)."""
    return task.request.identifiers_shown
