"""Reads of the transfer-exception workflow shared by its API and its pages: the exceptions with
everything a list or a page shows, the review queue, what a person may do next, the active and
expiring grants, and the register of transfers (GDPR Art. 30(1)(e) style)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils import timezone

from catalog.actors import Viewer
from catalog.models import Dataset, Region
from governance.models import TransferGrant
from governance.roles import Role, has_role
from requests.models import (
    ExceptionApproval,
    ExceptionEvent,
    ExceptionStatus,
    TransferException,
    TransferExceptionUserObjectPermission,
)
from requests.transfers import assessment, workflow

S = ExceptionStatus
# The URL spelling of each step a person takes (the service names them with underscores).
PERSON_ACTIONS = (
    "submit",
    "withdraw",
    "start_review",
    "request_changes",
    "approve",
    "reject",
    "revoke",
)
RISK_ORDER = Case(
    When(risk="high", then=Value(0)),
    When(risk="medium", then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def _regions() -> QuerySet[Region]:
    return Region.objects.select_related("country").order_by("code")


def with_places(rows: QuerySet[TransferException]) -> QuerySet[TransferException]:
    """Exceptions with their datasets, regions and runs, in a fixed number of queries."""
    return rows.prefetch_related(
        Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
        Prefetch("source_regions", _regions()),
        Prefetch("destination_regions", _regions()),
        "training_runs",
    )


def exceptions_for(user: Viewer) -> QuerySet[TransferException]:
    """The exceptions this person may see, ready for a list."""
    return with_places(exceptions_visible_to(user))


def exception_for(user: Viewer, pk: int) -> TransferException | None:
    """One exception this person may see, with its timeline and approvals; None otherwise."""
    rows = exceptions_for(user).prefetch_related(
        Prefetch("events", ExceptionEvent.objects.order_by("at", "id")),
        Prefetch("approvals", ExceptionApproval.objects.order_by("at", "id")),
    )
    return rows.filter(pk=pk).first()


def current_approvals(exception: TransferException) -> list[ExceptionApproval]:
    """The approvals of the review round under way (earlier rounds were sent back)."""
    return [a for a in exception.approvals.all() if a.review_round == exception.review_round]


def available_actions(user: Viewer, exception: TransferException) -> list[str]:
    """The steps this person may take now (the service checks again when they do)."""
    is_requester = exception.requester_id == user.pk
    reviewer = not is_requester and workflow.is_reviewer(user, exception)
    approved_by_me = any(a.approver_id == user.pk for a in current_approvals(exception))
    allowed = []
    for action in PERSON_ACTIONS:
        if not workflow.TRANSITIONS[action].allows(exception.status):
            continue
        by = workflow.ACTED_BY[action]
        by_requester = by == workflow.REQUESTER and is_requester
        by_reviewer = by == workflow.REVIEWER and reviewer
        if by_requester or (by_reviewer and not (action == "approve" and approved_by_me)):
            allowed.append(action)
    return allowed


def may_edit(user: Viewer, exception: TransferException) -> bool:
    return exception.requester_id == user.pk and exception.status in workflow.EDITABLE


def may_comment(user: Viewer, exception: TransferException) -> bool:
    return exception.requester_id == user.pk or workflow.is_reviewer(user, exception)


@dataclass(frozen=True)
class Answer:
    """The engine's answer now for one dataset in one destination, per judged action."""

    dataset: str
    region: str
    outcome: str  # for a transfer
    rule: str
    reason: str
    allowed: bool
    by_action: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def answers(exception: TransferException, at: dt.datetime | None = None) -> list[Answer]:
    """What the rules (and any grant) allow now, for each dataset and destination asked for."""
    at = at or timezone.now()
    datasets = list(exception.datasets.all())
    destinations = list(exception.destination_regions.all())
    per_action = {
        action: assessment.rule_answers(
            datasets=datasets,
            destination_regions=destinations,
            purpose=exception.purpose,
            at=at,
            action=action,
        )
        for action in workflow.JUDGED_ACTIONS
    }
    rows = []
    for position, transfer in enumerate(per_action["transfer"]):
        by_action = {action: str(found[position].outcome) for action, found in per_action.items()}
        rows.append(
            Answer(
                dataset=transfer.dataset,
                region=transfer.region,
                outcome=str(transfer.outcome),
                rule=transfer.rule,
                reason=transfer.reason,
                allowed=all(outcome != "deny" for outcome in by_action.values()),
                by_action=by_action,
            )
        )
    return rows


# --- The privacy officer's queue -------------------------------------------------------------


def review_queue(user: Viewer) -> QuerySet[TransferException]:
    """Exceptions waiting for this officer's decision: earliest start first, then riskiest."""
    if not isinstance(user, User):  # the anonymous visitor reviews nothing
        return TransferException.objects.none()
    given = TransferExceptionUserObjectPermission.objects.filter(
        user=user, permission__codename="review_transferexception"
    ).values("content_object_id")
    rows = (
        TransferException.objects.select_related("requester", "purpose")
        .filter(pk__in=given, status__in=workflow.OPEN)
        .exclude(requester=user)
        .annotate(risk_rank=RISK_ORDER)
        .order_by("starts_at", "risk_rank", "id")
    )
    return with_places(rows).prefetch_related("approvals")


# --- Active and expiring grants --------------------------------------------------------------


def expiring_days() -> int:
    """How far ahead "expiring" looks: the earliest expiry notice people get."""
    days: list[int] = settings.EXCEPTION_EXPIRY_NOTICE_DAYS or [7]
    return max(days)


def live_grants(now: dt.datetime | None = None) -> QuerySet[TransferGrant]:
    """Grants honoured now or later (not revoked, not ended), ending soonest first."""
    now = now or timezone.now()
    return (
        TransferGrant.objects.filter(revoked_at__isnull=True, valid_until__gt=now)
        .select_related("purpose")
        .prefetch_related(
            Prefetch("datasets", Dataset.objects.only("id", "slug").order_by("slug")),
            Prefetch("destination_regions", _regions()),
        )
        .order_by("valid_until", "id")
    )


def exception_of(grants: Iterable[TransferGrant]) -> dict[int, TransferException]:
    """The exception each grant came from, by grant id (one query)."""
    ids = [grant.pk for grant in grants]
    rows = TransferException.objects.filter(grant_id__in=ids).only("id", "grant_id", "title")
    return {row.grant_id: row for row in rows if row.grant_id is not None}


# --- The register of transfers ---------------------------------------------------------------

REGISTER_COLUMNS = (
    "grant",
    "exception",
    "source_country",
    "destination_country",
    "mechanism",
    "mechanism_detail",
    "datasets",
    "destination_regions",
    "purpose",
    "valid_from",
    "valid_until",
    "status",
    "revoked_at",
    "revoke_reason",
    "approved_by",
)


def may_read_register(user: Viewer) -> bool:
    """Privacy officers, auditors and executives read the register of transfers."""
    return has_role(user, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.EXECUTIVE)


def grant_status(grant: TransferGrant, now: dt.datetime) -> str:
    if grant.revoked_at is not None:
        return "revoked"
    if grant.valid_from > now:
        return "upcoming"
    if grant.valid_until <= now:
        return "expired"
    return "active"


def register_rows(
    *,
    source: str = "",
    destination: str = "",
    mechanism: str = "",
    status: str = "",
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Every grant, once per source country and destination country it spans, sorted by source,
    destination and mechanism; filters by country code, mechanism and state."""
    now = now or timezone.now()
    grants = TransferGrant.objects.select_related("purpose").prefetch_related(
        Prefetch(
            "datasets",
            Dataset.objects.select_related("storage_region__country").order_by("slug"),
        ),
        Prefetch("destination_regions", _regions()),
    )
    if mechanism:
        grants = grants.filter(mechanism=mechanism)
    references = exception_of(list(grants))
    rows = []
    for grant in grants:
        state = grant_status(grant, now)
        if status and state != status:
            continue
        rows.extend(_register_rows_of(grant, state, references.get(grant.pk)))
    rows = [
        row
        for row in rows
        if (not source or row["source_country"] == source.upper())
        and (not destination or row["destination_country"] == destination.upper())
    ]
    rows.sort(key=lambda r: (r["source_country"], r["destination_country"], r["mechanism"]))
    return rows


def _register_rows_of(
    grant: TransferGrant, state: str, exception: TransferException | None
) -> list[dict[str, Any]]:
    """One row per (source country, destination country) pair the grant lets data cross."""
    by_source: dict[str, list[str]] = {}
    for dataset in grant.datasets.all():
        by_source.setdefault(dataset.storage_region.country_id, []).append(dataset.slug)
    by_destination: dict[str, list[str]] = {}
    for region in grant.destination_regions.all():
        by_destination.setdefault(region.country_id, []).append(region.code)
    return [
        {
            "grant": grant.pk,
            "exception": exception.reference if exception else grant.reference,
            "exception_id": exception.pk if exception else None,
            "source_country": source,
            "destination_country": destination,
            "mechanism": grant.mechanism,
            "mechanism_label": grant.get_mechanism_display(),
            "mechanism_detail": grant.mechanism_detail,
            "datasets": datasets,
            "destination_regions": regions,
            "purpose": grant.purpose_id or "",
            "valid_from": grant.valid_from,
            "valid_until": grant.valid_until,
            "status": state,
            "revoked_at": grant.revoked_at,
            "revoke_reason": grant.revoke_reason,
            "approved_by": grant.approved_by_name,
        }
        for source, datasets in sorted(by_source.items())
        for destination, regions in sorted(by_destination.items())
    ]


def exceptions_visible_to(user: Viewer) -> QuerySet[TransferException]:
    """Auditors and executives see all; privacy officers the ones given them; people their own."""
    rows = TransferException.objects.select_related("requester", "purpose", "grant")
    if user.has_perm("workflows.view_transferexception"):
        return rows
    if not isinstance(user, User):  # the anonymous visitor asked for none
        return rows.none()
    given = TransferExceptionUserObjectPermission.objects.filter(
        user=user, permission__codename="view_transferexception"
    ).values("content_object_id")
    return rows.filter(Q(requester=user) | Q(pk__in=given))
