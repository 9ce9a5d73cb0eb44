"""Writes in monitoring: telemetry sources, incident handling, anomaly alerts, stream upkeep.

(Ingest itself is monitoring.ingest.telemetry_ingest.) Each verb is one transaction, checks
permission, writes the ledger and queues its stream message as its last step.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Dataset, Region
from governance.ledger.chain import ledger_append
from governance.models import Purpose
from governance.notifications import notify
from governance.roles import Role, has_role
from monitoring import selectors
from monitoring.anomalies import alert_json
from monitoring.incidents import incident_message
from monitoring.models import (
    PLAYBOOK_STEPS,
    AnomalyAlert,
    Incident,
    StreamMessage,
    TelemetrySource,
    token_digest,
)
from monitoring.stream import Message, stream_append

User = get_user_model()
TOKEN_PREFIX = "lts_"


# --- Telemetry sources ----------------------------------------------------------------------


def _new_token() -> tuple[str, str, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token), token[:12]


def _check_source_admin(actor) -> None:
    if not actor.has_perm("monitoring.change_telemetrysource"):
        raise PermissionDenied("Only privacy officers may manage telemetry sources")


def _check_purpose(code: str) -> None:
    if not Purpose.objects.filter(code=code).exists():
        raise ValidationError({"default_purpose": f"Unknown purpose {code!r}"})


def _scope_data(source: TelemetrySource) -> dict:
    return {
        "source": source.pk,
        "name": source.name,
        "datasets": sorted(source.datasets.values_list("slug", flat=True)),
        "regions": sorted(source.regions.values_list("code", flat=True)),
        "default_purpose": source.default_purpose,
    }


@transaction.atomic
def telemetry_source_register(
    *,
    actor,
    name: str,
    datasets: list[Dataset] = (),
    regions: list[Region] = (),
    default_purpose: str = "analytics",
    description: str = "",
) -> tuple[TelemetrySource, str]:
    """Register a source; returns it and its token (shown once, stored only as a hash)."""
    if not actor.has_perm("monitoring.add_telemetrysource"):
        raise PermissionDenied("Only privacy officers may register telemetry sources")
    if not name.strip():
        raise ValidationError({"name": "Give the source a name"})
    if TelemetrySource.objects.filter(name=name).exists():
        raise ValidationError({"name": "A source with this name exists"})
    _check_purpose(default_purpose)
    token, digest, prefix = _new_token()
    source = TelemetrySource.objects.create(
        name=name,
        description=description,
        token_hash=digest,
        token_prefix=prefix,
        default_purpose=default_purpose,
        created_by=actor,
    )
    source.datasets.set(datasets)
    source.regions.set(regions)
    ledger_append(
        actor=actor,
        kind="telemetry_source.registered",
        subjects=[f"telemetry-source:{source.pk}"],
        data=_scope_data(source),
    )
    return source, token


@transaction.atomic
def telemetry_source_update(
    *,
    actor,
    source: TelemetrySource,
    name: str | None = None,
    description: str | None = None,
    datasets: list[Dataset] | None = None,
    regions: list[Region] | None = None,
    default_purpose: str | None = None,
) -> TelemetrySource:
    """Change a source's name, description, scope or default purpose."""
    _check_source_admin(actor)
    source = TelemetrySource.objects.select_for_update().get(pk=source.pk)
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": "Give the source a name"})
        if TelemetrySource.objects.filter(name=name).exclude(pk=source.pk).exists():
            raise ValidationError({"name": "A source with this name exists"})
        source.name = name
    if description is not None:
        source.description = description
    if default_purpose is not None:
        _check_purpose(default_purpose)
        source.default_purpose = default_purpose
    source.save()
    if datasets is not None:
        source.datasets.set(datasets)
    if regions is not None:
        source.regions.set(regions)
    ledger_append(
        actor=actor,
        kind="telemetry_source.updated",
        subjects=[f"telemetry-source:{source.pk}"],
        data=_scope_data(source),
    )
    return source


@transaction.atomic
def telemetry_source_rotate(*, actor, source: TelemetrySource) -> tuple[TelemetrySource, str]:
    """Give an active source a new token; the old one stops working at once."""
    _check_source_admin(actor)
    token, digest, prefix = _new_token()
    now = timezone.now()
    changed = TelemetrySource.objects.filter(
        pk=source.pk, status=TelemetrySource.Status.ACTIVE
    ).update(token_hash=digest, token_prefix=prefix, rotated_at=now)
    if changed != 1:
        raise ValidationError({"status": "A revoked source cannot be given a new token"})
    ledger_append(
        actor=actor,
        kind="telemetry_source.rotated",
        subjects=[f"telemetry-source:{source.pk}"],
        data={"source": source.pk, "token_prefix": prefix},
    )
    source.refresh_from_db()
    return source, token


@transaction.atomic
def telemetry_source_revoke(*, actor, source: TelemetrySource, reason: str = "") -> TelemetrySource:
    """Stop accepting a source's telemetry for good (what it sent stays)."""
    _check_source_admin(actor)
    changed = TelemetrySource.objects.filter(
        pk=source.pk, status=TelemetrySource.Status.ACTIVE
    ).update(status=TelemetrySource.Status.REVOKED, revoked_at=timezone.now())
    if changed != 1:
        raise ValidationError({"status": "The source is already revoked"})
    ledger_append(
        actor=actor,
        kind="telemetry_source.revoked",
        subjects=[f"telemetry-source:{source.pk}"],
        data={"source": source.pk, "reason": reason},
    )
    source.refresh_from_db()
    return source


# --- Incidents -------------------------------------------------------------------------------

S = Incident.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.CONTAINED, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.CONTAINED, S.RESOLVED}),
    S.CONTAINED: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset(),
}
STAMP = {S.ACKNOWLEDGED: "acknowledged_at", S.CONTAINED: "contained_at", S.RESOLVED: "resolved_at"}


def _check_handler(actor, incident: Incident) -> None:
    if not actor.has_perm("monitoring.change_incident"):
        raise PermissionDenied("Your role may not handle incidents")
    if not selectors.incidents_visible_to(actor).filter(pk=incident.pk).exists():
        raise PermissionDenied("This incident is outside your jurisdictions")


def _changed(incident: Incident, *, actor, kind: str, data: dict) -> Incident:
    """After a successful CAS: reload, write the ledger, queue the stream message (last)."""
    incident.refresh_from_db()
    ledger_append(
        actor=actor,
        kind=kind,
        subjects=[f"incident:{incident.pk}", f"dataset:{incident.dataset_slug}"],
        data={"incident": incident.pk, "status": incident.status, **data},
    )
    stream_append([incident_message(incident)])
    return incident


def _cas(incident: Incident, **changes) -> None:
    """Apply changes only if nobody changed the incident since it was read."""
    updated = Incident.objects.filter(
        pk=incident.pk, status=incident.status, version=incident.version
    ).update(version=F("version") + 1, updated_at=timezone.now(), **changes)
    if updated != 1:
        raise ValidationError({"version": "The incident changed meanwhile; reload and retry"})


@transaction.atomic
def incident_transition(*, actor, incident: Incident, to: str, note: str = "") -> Incident:
    """Move an incident along open -> acknowledged -> contained -> resolved."""
    _check_handler(actor, incident)
    if to not in TRANSITIONS:
        raise ValidationError({"status": f"Unknown status {to!r}"})
    if to not in TRANSITIONS[incident.status]:
        raise ValidationError(
            {"status": f"An incident that is {incident.status} cannot become {to}"}
        )
    if to == S.RESOLVED and not note.strip():
        raise ValidationError({"note": "Say how the incident was resolved"})
    now = timezone.now()
    changes = {"status": to, STAMP[to]: now}
    if to == S.RESOLVED:
        changes["resolution"] = note
    playbook = dict(incident.playbook)
    if to == S.CONTAINED and not playbook.get("contain"):
        playbook["contain"] = _step_done(actor, now, note)
        changes["playbook"] = playbook
    if incident.owner_id is None and to != S.RESOLVED:
        changes["owner"] = actor
    _cas(incident, **changes)
    return _changed(incident, actor=actor, kind=f"incident.{to}", data={"note": note})


def incident_acknowledge(*, actor, incident: Incident, note: str = "") -> Incident:
    """Take note of an incident (the acknowledging officer owns it unless someone does)."""
    return incident_transition(actor=actor, incident=incident, to=S.ACKNOWLEDGED, note=note)


def incident_contain(*, actor, incident: Incident, note: str = "") -> Incident:
    """The flow is stopped."""
    return incident_transition(actor=actor, incident=incident, to=S.CONTAINED, note=note)


def incident_resolve(*, actor, incident: Incident, note: str) -> Incident:
    """Close the incident, saying how."""
    return incident_transition(actor=actor, incident=incident, to=S.RESOLVED, note=note)


def _may_own(user, incident: Incident) -> bool:
    owns_dataset = incident.dataset_id is not None and incident.dataset.owner_id == user.pk
    return user.is_active and (owns_dataset or has_role(user, Role.PRIVACY_OFFICER))


@transaction.atomic
def incident_assign(*, actor, incident: Incident, owner) -> Incident:
    """Hand the incident to a privacy officer or the dataset's owner; they are told."""
    _check_handler(actor, incident)
    if incident.status == S.RESOLVED:
        raise ValidationError({"status": "A resolved incident is not assigned"})
    if not _may_own(owner, incident):
        raise ValidationError({"owner": "Assign to a privacy officer or the dataset's owner"})
    _cas(incident, owner=owner)
    incident = _changed(incident, actor=actor, kind="incident.assigned", data={"owner": owner.pk})
    if owner.pk != actor.pk:
        notify(
            recipients=[owner],
            kind="monitoring.incident_assigned",
            title=f"Incident #{incident.pk} is yours: {incident.title}",
            url=f"/api/v1/incidents/{incident.pk}/",
        )
    return incident


def _step_done(actor, at: dt.datetime, note: str) -> dict:
    return {"done_at": at.isoformat(), "by": actor.get_username(), "note": note}


@transaction.atomic
def incident_playbook_step(
    *, actor, incident: Incident, step: str, done: bool = True, note: str = ""
) -> Incident:
    """Tick (or untick) a playbook step; ticking 'notify' records when the authority was told."""
    _check_handler(actor, incident)
    if step not in PLAYBOOK_STEPS:
        raise ValidationError({"step": f"One of {', '.join(PLAYBOOK_STEPS)}"})
    if incident.status == S.RESOLVED:
        raise ValidationError({"status": "A resolved incident's playbook is closed"})
    now = timezone.now()
    playbook = {**incident.playbook, step: _step_done(actor, now, note) if done else None}
    changes = {"playbook": playbook}
    if step == "notify":
        changes["authority_notified_at"] = now if done else None
    _cas(incident, **changes)
    return _changed(
        incident,
        actor=actor,
        kind="incident.playbook",
        data={"step": step, "done": done, "note": note},
    )


# --- Anomaly alerts --------------------------------------------------------------------------

ALERT_TRANSITIONS = {
    AnomalyAlert.Status.OPEN: frozenset(
        {AnomalyAlert.Status.ACKNOWLEDGED, AnomalyAlert.Status.DISMISSED}
    ),
    AnomalyAlert.Status.ACKNOWLEDGED: frozenset({AnomalyAlert.Status.DISMISSED}),
    AnomalyAlert.Status.DISMISSED: frozenset(),
}


@transaction.atomic
def alert_transition(*, actor, alert: AnomalyAlert, to: str, note: str = "") -> AnomalyAlert:
    """Acknowledge or dismiss an anomaly alert."""
    if not actor.has_perm("monitoring.change_anomalyalert"):
        raise PermissionDenied("Your role may not handle anomaly alerts")
    if not selectors.alerts_visible_to(actor).filter(pk=alert.pk).exists():
        raise PermissionDenied("This alert is outside your jurisdictions")
    if to not in ALERT_TRANSITIONS.get(alert.status, ()):
        raise ValidationError({"status": f"An alert that is {alert.status} cannot become {to}"})
    updated = AnomalyAlert.objects.filter(pk=alert.pk, status=alert.status).update(
        status=to, handled_by=actor, handled_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError({"status": "The alert changed meanwhile; reload and retry"})
    alert.refresh_from_db()
    ledger_append(
        actor=actor,
        kind=f"anomaly.{to}",
        subjects=[f"anomaly:{alert.pk}"],
        data={"alert": alert.pk, "kind": alert.kind, "note": note},
    )
    stream_append(
        [
            Message(
                kind="alert.updated",
                payload=alert_json(alert),
                jurisdictions=[alert.jurisdiction_id] if alert.jurisdiction_id else [],
                dataset_ids=[alert.dataset_id] if alert.dataset_id else [],
            )
        ]
    )
    return alert


# --- Stream upkeep ---------------------------------------------------------------------------


def stream_prune(now: dt.datetime | None = None) -> int:
    """Delete stream messages past their retention (clients older than that reload)."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.TELEMETRY_STREAM_RETENTION_HOURS)
    deleted, _ = StreamMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted
