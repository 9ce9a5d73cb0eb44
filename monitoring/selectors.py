"""Reads in monitoring shared by the API, the pages and the stream: who may see what.

- Executives, auditors and superusers see everything.
- A privacy officer sees what involves the jurisdictions they answer for (all of them when
  they answer for none: governance.notifications.services.jurisdictions_of).
- A data owner sees what concerns the datasets they own or steward.
- Anyone else sees nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from django.db.models import Case, IntegerField, Model, Q, QuerySet, Value, When

from catalog.actors import Viewer
from catalog.models import Dataset
from governance.notifications.services import jurisdictions_of
from governance.roles import Role, has_role, roles_of
from monitoring.models import (
    AnomalyAlert,
    Basis,
    Incident,
    LineageRun,
    Severity,
    StreamMessage,
    TelemetrySource,
    UnregisteredAsset,
    Violation,
    token_digest,
)


@dataclass(frozen=True)
class Visibility:
    """What one user may see: everything, or these jurisdictions and/or these datasets."""

    everything: bool = False
    jurisdictions: frozenset[str] = frozenset()
    dataset_ids: frozenset[int] = frozenset()

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.jurisdictions or self.dataset_ids)


def _owned_dataset_ids(user: Viewer) -> frozenset[int]:
    return frozenset(
        Dataset.objects.filter(Q(owner=user) | Q(steward=user)).values_list("pk", flat=True)
    )


def visibility(user: Viewer) -> Visibility:
    """Work out once (per request or per socket) what a user may see."""
    if not user.is_authenticated:
        return Visibility()
    if user.is_superuser or has_role(user, Role.EXECUTIVE, Role.AUDITOR):
        return Visibility(everything=True)
    jurisdictions: frozenset[str] = frozenset()
    if Role.PRIVACY_OFFICER in roles_of(user):
        mine = jurisdictions_of(user)
        if mine is None:
            return Visibility(everything=True)
        jurisdictions = frozenset(mine)
    datasets = _owned_dataset_ids(user) if Role.DATA_OWNER in roles_of(user) else frozenset()
    return Visibility(jurisdictions=jurisdictions, dataset_ids=datasets)


def _incidents_in(jurisdictions: frozenset[str]) -> QuerySet[Model, Mapping[str, object]]:
    """The ids of incidents that involve any of these jurisdictions (a subquery)."""
    through = Incident.jurisdictions.through
    return through.objects.filter(jurisdiction_id__in=jurisdictions).values("incident_id")


def incidents_visible_to(
    user: Viewer | None, seen: Visibility | None = None, *, drills: bool = False
) -> QuerySet[Incident]:
    """Incidents this viewer may see: the real ones, and breach drills' too when `drills` (an
    incident's page and its steps; never a figure, a list or the queue)."""
    if seen is None:
        assert user is not None, "give the user or what they may see"
        seen = visibility(user)
    rows = Incident.objects.all() if drills else Incident.objects.filter(drill__isnull=True)
    if seen.everything:
        return rows
    if seen.nothing:
        return rows.none()
    return rows.filter(
        Q(pk__in=_incidents_in(seen.jurisdictions)) | Q(dataset_id__in=seen.dataset_ids)
    )


# --- Open incidents: the queue and the Risk page count them the same way ----------------------

EVERYTHING = Visibility(everything=True)
UNRESOLVED = (Incident.Status.OPEN, Incident.Status.ACKNOWLEDGED, Incident.Status.CONTAINED)


def open_incidents(seen: Visibility = EVERYTHING, *, jurisdiction: str = "") -> QuerySet[Incident]:
    """Unresolved incidents this viewer may see (open, acknowledged or contained), of one
    jurisdiction when given."""
    rows = incidents_visible_to(None, seen).filter(status__in=UNRESOLVED)
    if jurisdiction:
        rows = rows.filter(pk__in=_incidents_in(frozenset({jurisdiction})))
    return rows


def open_incident_count(seen: Visibility = EVERYTHING, *, jurisdiction: str = "") -> int:
    """The number of open incidents: the officer's queue and the Risk page both show this."""
    return open_incidents(seen, jurisdiction=jurisdiction).count()


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters; empty: no filter (status empty: every unresolved status)."""

    jurisdiction: str = ""
    severity: str = ""
    status: str = ""  # a status, "all", or empty (unresolved)
    owner: str = ""  # "me", "nobody", a user id, or empty
    kind: str = ""  # "law" or "house"


SEVERITY_ORDER = Case(
    *(
        When(severity=s, then=Value(rank))
        for s, rank in ((Severity.CRITICAL, 0), (Severity.HIGH, 1), (Severity.MEDIUM, 2))
    ),
    default=Value(3),
    output_field=IntegerField(),
)


def incident_queue(
    seen: Visibility, filters: QueueFilters = QueueFilters(), *, me: int | None = None
) -> QuerySet[Incident]:
    """The officer's queue: incidents this viewer may see, filtered, worst first."""
    if filters.status == "all":
        rows = incidents_visible_to(None, seen)
        if filters.jurisdiction:
            rows = rows.filter(pk__in=_incidents_in(frozenset({filters.jurisdiction})))
    else:
        rows = open_incidents(seen, jurisdiction=filters.jurisdiction)
        if filters.status:
            rows = rows.filter(status=filters.status)
    if filters.severity:
        rows = rows.filter(severity=filters.severity)
    if filters.kind:
        rows = rows.filter(basis=Basis.LEGAL if filters.kind == "law" else Basis.HOUSE)
    if filters.owner == "nobody":
        rows = rows.filter(owner__isnull=True)
    elif filters.owner == "me":
        rows = rows.filter(owner_id=me)
    elif filters.owner:
        rows = rows.filter(owner_id=int(filters.owner))
    return (
        rows.select_related("owner")
        .annotate(severity_rank=SEVERITY_ORDER)
        .order_by("severity_rank", "-last_violation_at", "-id")
    )


def related_incidents(incident: Incident, seen: Visibility, limit: int = 20) -> list[Incident]:
    """Other incidents of the same pipeline runs or the same actors (asked when read: no link
    is stored, so a later incident of the run shows up too)."""
    mine = Violation.objects.filter(incident=incident)
    runs = mine.exclude(event__run_id="").values("event__run_id")
    actors = mine.exclude(actor="").values("actor")
    others = Violation.objects.filter(Q(event__run_id__in=runs) | Q(actor__in=actors)).exclude(
        incident=incident
    )
    return list(
        incidents_visible_to(None, seen)
        .filter(pk__in=others.values("incident_id"))
        .order_by("-last_violation_at", "-id")[:limit]
    )


def violations_visible_to(
    user: Viewer, seen: Visibility | None = None, *, drills: bool = False
) -> QuerySet[Violation]:
    """Violations this viewer may see: the real ones (breach drills' too when `drills`)."""
    seen = seen or visibility(user)
    rows = Violation.objects.all() if drills else Violation.objects.filter(incident__drill=None)
    if seen.everything:
        return rows
    if seen.nothing:
        return rows.none()
    return rows.filter(
        Q(incident_id__in=_incidents_in(seen.jurisdictions)) | Q(dataset_id__in=seen.dataset_ids)
    )


def alerts_visible_to(user: Viewer, seen: Visibility | None = None) -> QuerySet[AnomalyAlert]:
    """Officers see alerts of their jurisdictions and those of none (an actor's volume)."""
    seen = seen or visibility(user)
    rows = AnomalyAlert.objects.all()
    if seen.everything:
        return rows
    if seen.nothing:
        return rows.none()
    condition = Q(dataset_id__in=seen.dataset_ids)
    if seen.jurisdictions:
        condition |= Q(jurisdiction_id__in=seen.jurisdictions) | Q(jurisdiction__isnull=True)
    return rows.filter(condition)


def gaps_visible_to(user: Viewer) -> QuerySet[UnregisteredAsset]:
    """Catalog gaps name no registered dataset: every role that reads the catalog sees them."""
    if user.has_perm("monitoring.view_unregisteredasset"):
        return UnregisteredAsset.objects.select_related("last_source")
    return UnregisteredAsset.objects.none()


UNJUDGED_SHOWN = 20


def runs_not_judged(user: Viewer) -> list[LineageRun]:
    """The latest OpenLineage runs some of whose reads the engine could not judge (for the
    people who see the catalog gaps: the other half of what Locus cannot vouch for)."""
    if not user.has_perm("monitoring.view_unregisteredasset"):
        return []
    return list(LineageRun.objects.exclude(not_judged="").order_by("-updated_at")[:UNJUDGED_SHOWN])


def source_for_token(token: str) -> TelemetrySource | None:
    """The source a bearer token belongs to, active or revoked (None when unknown)."""
    if not token:
        return None
    return TelemetrySource.objects.filter(token_hash=token_digest(token)).first()


# --- The risk stream -----------------------------------------------------------------------


class Delivered(TypedDict):
    """A stream message as one viewer receives it."""

    seq: int
    kind: str
    payload: dict[str, Any]


def message_for(seen: Visibility, message: StreamMessage) -> Delivered | None:
    """The message as this viewer may receive it (KPI deltas trimmed), or None."""
    if seen.everything:
        return {"seq": message.seq, "kind": message.kind, "payload": message.payload}
    jurisdictions = set(message.jurisdictions)
    datasets = set(message.dataset_ids)
    officer_sees = bool(seen.jurisdictions) and (
        not jurisdictions or bool(jurisdictions & seen.jurisdictions)
    )
    owner_sees = bool(datasets & seen.dataset_ids)
    if not (officer_sees or owner_sees):
        return None
    payload = message.payload
    if message.kind == StreamMessage.Kind.KPI:
        payload = {
            **payload,
            "by_jurisdiction": {
                k: v
                for k, v in payload.get("by_jurisdiction", {}).items()
                if k in seen.jurisdictions
            },
            "by_dataset": {
                k: v for k, v in payload.get("by_dataset", {}).items() if int(k) in seen.dataset_ids
            },
        }
    return {"seq": message.seq, "kind": message.kind, "payload": payload}


def stream_since(seen: Visibility, after: int, limit: int = 500) -> tuple[list[Delivered], int]:
    """Messages after seq `after` this viewer may see, and the seq to resume from.

    The resume seq is the last row read (visible or not), so a viewer who may see few messages
    does not reread the same rows."""
    rows = list(StreamMessage.objects.filter(seq__gt=after).order_by("seq")[:limit])
    visible = [m for m in (message_for(seen, row) for row in rows) if m is not None]
    return visible, (rows[-1].seq if rows else after)
