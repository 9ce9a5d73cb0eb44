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

from django.db.models import Model, Q, QuerySet

from catalog.actors import Viewer
from catalog.models import Dataset
from governance.notifications.services import jurisdictions_of
from governance.roles import Role, has_role, roles_of
from monitoring.models import (
    AnomalyAlert,
    Incident,
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


def incidents_visible_to(user: Viewer, seen: Visibility | None = None) -> QuerySet[Incident]:
    seen = seen or visibility(user)
    rows = Incident.objects.all()
    if seen.everything:
        return rows
    if seen.nothing:
        return rows.none()
    return rows.filter(
        Q(pk__in=_incidents_in(seen.jurisdictions)) | Q(dataset_id__in=seen.dataset_ids)
    )


def violations_visible_to(user: Viewer, seen: Visibility | None = None) -> QuerySet[Violation]:
    seen = seen or visibility(user)
    rows = Violation.objects.all()
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
