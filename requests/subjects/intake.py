"""Taking a subject request in (staff, API or the public form): identifiers checked and sealed,
the clock started, duplicates noticed, verification sent (or, where the subject's law forbids
asking for it, waived with its article: requests.subjects.rights.NO_VERIFICATION)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, actor_account
from catalog.models import Jurisdiction
from governance.ledger.chain import pseudonym
from requests.models.subjects import (
    OPEN_STATUSES,
    Channel,
    IdentifierKind,
    SubjectRequest,
    SubjectRequestType,
    seal,
)
from requests.subjects import deadlines, rights
from requests.subjects.calendars import calendar_of
from requests.subjects.verification import issue_challenge, verification_waive
from requests.subjects.workflow import event_add, ledger_add, officers_notify

MAX_IDENTIFIER_LENGTH = 200
# What the public gives when asking, and what an officer recording a request adds: defined here
# once, the API's serializers and the pages' forms hand exactly these to subject_request_create.
INTAKE_FIELDS = ("type", "jurisdiction", "identifiers", "details", "agent_name", "agent_authority")
STAFF_INTAKE_FIELDS = (*INTAKE_FIELDS, "received_at", "channel")
OPEN = frozenset(OPEN_STATUSES)


def _clean_identifiers(identifiers: object) -> dict[str, str]:
    if not isinstance(identifiers, dict) or not identifiers:
        raise ValidationError({"identifiers": "Give at least the subject's e-mail address"})
    cleaned: dict[str, str] = {}
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


def _jurisdiction(value: Jurisdiction | str | None) -> Jurisdiction:
    if isinstance(value, Jurisdiction):
        return value
    found = Jurisdiction.objects.filter(pk=str(value or "")).first()
    if found is None:
        raise ValidationError({"jurisdiction": f"Unknown jurisdiction {value!r}"})
    return found


# Where a law answers one kind of request sooner than the rest: (jurisdiction, type) -> the
# clock and its citation.
TYPE_CLOCKS: dict[tuple[str, str], tuple[deadlines.Clock, str]] = {
    ("us-ca", SubjectRequestType.OPT_OUT_SALE): (
        deadlines.Clock(15, deadlines.BUSINESS_DAYS),
        "11 CCR §7026 (comply with a request to opt out of sale/sharing no later than 15 "
        "business days from receipt)",
    ),
    ("us-or", SubjectRequestType.WITHDRAW_CONSENT): (
        deadlines.Clock(15, deadlines.DAYS),
        # As the catalog's Oregon rights row (verified) states it.
        "ORS 646A.578(1)(d) (stop processing within 15 days of a revocation of consent)",
    ),
}


def clock_of(jurisdiction: Jurisdiction, type_: str = "") -> deadlines.Clock:
    """The jurisdiction's clock for answering (its law's periods, or the default)."""
    special = TYPE_CLOCKS.get((jurisdiction.code, type_))
    if special is not None:
        return special[0]
    return deadlines.Clock.of(jurisdiction, settings.SUBJECT_REQUEST_DEFAULT_DAYS)


def clock_citation(jurisdiction: Jurisdiction, type_: str = "") -> str:
    special = TYPE_CLOCKS.get((jurisdiction.code, type_))
    return special[1] if special is not None else jurisdiction.dsr_citation


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
    actor: Actor,
    type: str,
    jurisdiction: Jurisdiction | str,
    identifiers: dict[str, Any],
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
    right = rights.check_type(jurisdiction, type)
    identifiers = _clean_identifiers(identifiers)
    now = timezone.now()
    received_at = received_at or now
    if received_at > now + dt.timedelta(minutes=5):
        raise ValidationError({"received_at": "A request cannot be received in the future"})
    if agent_authority and not agent_name:
        raise ValidationError({"agent_name": "Name the agent whose authority is described"})
    clock = clock_of(jurisdiction, type)
    calendar = calendar_of(jurisdiction)
    received = deadlines.receipt_date(received_at)
    subject_key = pseudonym(identifiers[IdentifierKind.EMAIL])
    subject_request = SubjectRequest.objects.create(
        type=type,
        jurisdiction=jurisdiction,
        sealed=seal({"identifiers": identifiers, "details": details}),
        subject_key=subject_key,
        identifier_kinds=sorted(identifiers),
        received_at=received_at,
        channel=channel,
        agent_name=agent_name,
        agent_authority=agent_authority,
        deadline=deadlines.due_date(received, clock, calendar),
        acknowledge_by=deadlines.acknowledge_by(received, clock, calendar),
        acknowledged_at=now,
        deadline_basis=deadlines.basis(clock, clock_citation(jurisdiction, type), calendar)[:300],
        right_basis=right.shown[:300],
        duplicate_of=_open_original(subject_key, type),
        created_by=actor_account(actor),
    )
    original = subject_request.duplicate_of
    comment = f"Duplicate of {original.reference}: verified on its own" if original else ""
    event_add(
        subject_request,
        actor=actor,
        action="received",
        to_status=subject_request.status,
        comment=comment,
        name=None if actor else "the subject",
    )
    ledger_add(
        subject_request,
        actor=actor,
        kind="received",
        data={
            "channel": channel,
            "deadline": subject_request.deadline.isoformat(),
            "agent": bool(agent_name),
            "duplicate_of": original.pk if original else None,
        },
    )
    waived = rights.no_verification(jurisdiction, type)
    if waived is None:
        issue_challenge(subject_request)
    else:
        subject_request = verification_waive(
            subject_request, why=waived.shown, basis=waived.citation
        )
    officers_notify(
        subject_request,
        "received",
        f"new {subject_request.get_type_display()} request",
        f"Due {subject_request.deadline.isoformat()}.",
    )
    return subject_request


# --- Identity verification ------------------------------------------------------------------
