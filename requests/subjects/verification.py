"""Proving the subject is who asks: an e-mailed code or link, every wrong one counted (for the
request and the client's address) and slowing the next; locked codes need an officer."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.actors import Actor
from governance.errors import StateConflict
from governance.site import absolute
from requests import tasks
from requests.models.subjects import (
    OtherMeans,
    SubjectRequest,
    SubjectRequestStatus,
    VerificationChallenge,
    VerificationState,
)
from requests.sealing import hmac_key
from requests.subjects import attempts
from requests.subjects.access import require_manager
from requests.subjects.workflow import (
    event_add,
    ledger_add,
    locked,
    mail_subject,
    officers_notify,
    page_url,
    queue_work,
    transition,
)

S = SubjectRequestStatus


def secret_hash(request_id: int, purpose: str, secret: str) -> str:
    """A keyed hash of a code, link or package token, bound to its request and purpose."""
    key = hmac_key()
    return hmac.new(key, f"{purpose}:{request_id}:{secret}".encode(), hashlib.sha256).hexdigest()


def issue_challenge(subject_request: SubjectRequest) -> VerificationChallenge:
    """A fresh code and link for the subject, e-mailed on commit; only their hashes are kept."""
    code = f"{secrets.randbelow(10**6):06d}"
    token = secrets.token_urlsafe(32)
    challenge = VerificationChallenge.objects.create(
        request=subject_request,
        code_hash=secret_hash(subject_request.pk, "code", code),
        token_hash=secret_hash(subject_request.pk, "link", token),
        expires_at=timezone.now() + dt.timedelta(minutes=settings.SUBJECT_VERIFICATION_MINUTES),
        max_attempts=settings.SUBJECT_VERIFICATION_ATTEMPTS,
    )
    # Addressed by the request's unguessable token, never by its id.
    link = absolute(page_url("workflows:subject-verify-link", subject_request.verify_token, token))
    hours = settings.SUBJECT_VERIFICATION_MINUTES // 60
    mail_subject(
        subject_request,
        "Please confirm your request",
        f"We received your {subject_request.get_type_display()} request "
        f"({subject_request.reference}).\n\n"
        f"To confirm it is yours, enter the code {code} at "
        f"{absolute(page_url('workflows:subject-verify', subject_request.verify_token))} "
        f"or open {link}.\n"
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


def _refuse_codes(subject_request: SubjectRequest, client: str, now: dt.datetime) -> None:
    """No code while verification is locked or while a wait earned by wrong codes runs."""
    if subject_request.status != S.AWAITING_VERIFICATION:
        raise StateConflict({"code": "This request is not waiting for verification"})
    if subject_request.verification == VerificationState.LOCKED:
        raise ValidationError(
            {"code": "Too many wrong codes: no code is taken until we contact you"}
        )
    waits = [subject_request.verify_wait_until, attempts.address_wait_until(client)]
    until = max((w for w in waits if w is not None), default=None)
    if until is not None and until > now:
        raise VerificationWait(int((until - now).total_seconds()) + 1)


def verification_resend(
    *, subject_request: SubjectRequest, client: str = "", now: dt.datetime | None = None
) -> VerificationChallenge:
    """A fresh code and link (the earlier ones stop working), a limited number of times; when
    they run out, verification locks until an officer unlocks it (the request stays open)."""
    now = now or timezone.now()
    with transaction.atomic():
        subject_request = SubjectRequest.objects.select_for_update().get(pk=subject_request.pk)
        _refuse_codes(subject_request, client, now)
        if subject_request.codes_resent + 1 < settings.SUBJECT_VERIFICATION_CHALLENGES:
            SubjectRequest.objects.filter(pk=subject_request.pk).update(
                codes_resent=F("codes_resent") + 1
            )
            _retire_challenges(subject_request, now)
            event_add(subject_request, actor=None, action="verification_resent", name="the subject")
            return issue_challenge(subject_request)
        _lock_verification(subject_request, "A new code was asked for when none was left")
    raise ValidationError({"code": "No more codes can be sent: we will contact you"})


def _retire_challenges(subject_request: SubjectRequest, now: dt.datetime) -> None:
    subject_request.challenges.filter(used_at__isnull=True, locked_at__isnull=True).update(
        expires_at=now
    )


def verification_check(
    *,
    subject_request: SubjectRequest,
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
        challenge = _claim_attempt(subject_request, client, now)
    field, secret, purpose, stored = (
        ("code", code, "code", challenge.code_hash)
        if code
        else ("token", token, "link", challenge.token_hash)
    )
    if hmac.compare_digest(secret_hash(subject_request.pk, purpose, secret.strip()), stored):
        return _verified(subject_request, challenge)
    attempts.address_failed(client, now)
    raise ValidationError({field: _wrong_code(subject_request, challenge, now)})


def _claim_attempt(
    subject_request: SubjectRequest, client: str, now: dt.datetime
) -> VerificationChallenge:
    """Count one attempt against the current challenge by compare-and-swap."""
    subject_request.refresh_from_db()
    _refuse_codes(subject_request, client, now)
    challenge = subject_request.challenges.order_by("-created_at", "-id").first()
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
def _wrong_code(
    subject_request: SubjectRequest, challenge: VerificationChallenge, now: dt.datetime
) -> str:
    """Record a wrong code on the request (its wait grows); say what the subject may do next."""
    rows = SubjectRequest.objects.select_for_update().filter(pk=subject_request.pk)
    rows.update(verify_failures=F("verify_failures") + 1)
    subject_request = rows.get()
    wait = attempts.wait_after(subject_request.verify_failures)
    if wait:
        rows.update(verify_wait_until=now + wait)
    left = challenge.max_attempts - challenge.attempts
    if left > 0:
        later = f"; try again in {int(wait.total_seconds())} seconds" if wait else ""
        return f"Wrong code: {left} attempt{'s' if left > 1 else ''} left{later}"
    VerificationChallenge.objects.filter(pk=challenge.pk).update(locked_at=now)
    if subject_request.codes_resent + 1 >= settings.SUBJECT_VERIFICATION_CHALLENGES:
        _lock_verification(subject_request, "Every code sent was tried too often")
        return "Wrong code: no more codes can be tried; we will contact you"
    event_add(
        subject_request,
        actor=None,
        action="verification_locked",
        name="the subject",
        comment="This code was tried too often; a new one may be sent",
    )
    ledger_add(subject_request, actor=None, kind="verification_locked", data={"final": False})
    return "Wrong code: this code was tried too often; ask for a new one"


def _lock_verification(subject_request: SubjectRequest, why: str) -> None:
    """Codes stop until an officer unlocks; the request itself stays open, never rejected."""
    SubjectRequest.objects.filter(pk=subject_request.pk).update(
        verification=VerificationState.LOCKED
    )
    event_add(
        subject_request,
        actor=None,
        action="verification_locked",
        name="the subject",
        comment=f"{why}: no code is taken until an officer unlocks",
    )
    ledger_add(subject_request, actor=None, kind="verification_locked", data={"final": True})
    officers_notify(
        subject_request,
        "verification_locked",
        "verification locked: the subject needs an officer to unlock it",
    )


def verification_unlockable(subject_request: SubjectRequest) -> bool:
    """Waiting for verification, with codes locked or slowed by wrong ones."""
    stopped = (
        subject_request.verification == VerificationState.LOCKED
        or subject_request.verify_failures > 0
    )
    return subject_request.status == S.AWAITING_VERIFICATION and stopped


@transaction.atomic
def verification_unlock(
    *, actor: Actor, subject_request: SubjectRequest, reason: str = ""
) -> SubjectRequest:
    """An officer lets codes be tried again: waits and counts cleared, a fresh code sent."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    if not verification_unlockable(subject_request):
        raise StateConflict(
            {"verification": "Only a request waiting for verification after wrong codes unlocks"}
        )
    SubjectRequest.objects.filter(pk=subject_request.pk).update(
        verification=VerificationState.PENDING,
        verify_failures=0,
        verify_wait_until=None,
        codes_resent=0,
    )
    subject_request.refresh_from_db()
    _retire_challenges(subject_request, timezone.now())
    event_add(subject_request, actor=actor, action="verification_unlocked", comment=reason)
    ledger_add(subject_request, actor=actor, kind="verification_unlocked")
    issue_challenge(subject_request)
    return subject_request


@transaction.atomic
def verification_record(
    *, actor: Actor, subject_request: SubjectRequest, method: str, checked: str
) -> SubjectRequest:
    """An officer records that the subject's identity was verified by other means (a request
    that came by phone or post, say): what was checked and how, on the timeline and the ledger.
    The e-mailed codes stop working."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    if method not in OtherMeans.values:
        raise ValidationError(
            {"method": f"Choose one of: {', '.join(OtherMeans.values)} (not {method[:40]!r})"}
        )
    checked = (checked or "").strip()
    if not checked:
        raise ValidationError({"checked": "Say what was checked, and against what"})
    if subject_request.status != S.AWAITING_VERIFICATION:
        raise StateConflict({"status": "This request is not waiting for verification"})
    _retire_challenges(subject_request, timezone.now())
    return _mark_verified(
        subject_request,
        actor=actor,
        comment=f"Identity verified by an officer: {OtherMeans(method).label}. Checked: {checked}",
        ledger={"method": method},
    )


@transaction.atomic
def _verified(subject_request: SubjectRequest, challenge: VerificationChallenge) -> SubjectRequest:
    used = VerificationChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if not used:
        raise StateConflict({"code": "This code was already used"})
    subject_request = SubjectRequest.objects.select_for_update().get(pk=subject_request.pk)
    return _mark_verified(subject_request, actor=None, comment="", ledger=None)


@transaction.atomic
def verification_waive(subject_request: SubjectRequest, *, why: str, basis: str) -> SubjectRequest:
    """A request its law forbids making wait for proof of identity (a CCPA opt-out, 11 CCR
    §7026): no code is sent, it goes on at once, and the timeline and ledger record the waiver
    with its article. Its verification state says waived, not verified: nobody's identity was
    proven, and none is awaited."""
    subject_request = SubjectRequest.objects.select_for_update().get(pk=subject_request.pk)
    return _mark_verified(
        subject_request,
        actor=None,
        comment=f"No identity verification: {why}",
        ledger={"verification": "not_required", "basis": basis},
        proven=False,
    )


def _mark_verified(
    subject_request: SubjectRequest,
    *,
    actor: Actor,
    comment: str,
    ledger: dict[str, str] | None,
    proven: bool = True,
) -> SubjectRequest:
    """Verified (by the subject's code, or by an officer; or, not `proven`, waived by law):
    linked to an open original it duplicates, or on to discovery."""
    name = None if actor is not None or not proven else "the subject"
    original = subject_request.duplicate_of
    fields: dict[str, object] = {"verification": VerificationState.WAIVED}
    if proven:
        fields = {"verification": VerificationState.VERIFIED, "verified_at": timezone.now()}
    if original is not None and original.is_open:
        subject_request = transition(
            subject_request,
            "link_duplicate",
            actor=actor,
            fields=fields,
            name=name,
            comment=" ".join(filter(None, [comment, f"Answered with {original.reference}"])),
            ledger=ledger,
        )
        mail_subject(
            subject_request,
            "We are already working on this",
            f"Your request duplicates {original.reference}, which is already open; "
            "you will receive one answer.",
        )
        return subject_request
    subject_request = transition(
        subject_request,
        "verify",
        actor=actor,
        fields=fields,
        name=name,
        comment=comment,
        ledger=ledger,
    )
    queue_work(tasks.subject_discovery, subject_request.pk)
    return subject_request


# --- Discovery ------------------------------------------------------------------------------
