"""Writes on incidents and anomaly alerts: the steps people take on them.

Each verb is one transaction, checks permission, takes its step of the workflow's table with a
compare-and-swap (governance.workflow.status_move: a lost race is a StateConflict, 409), writes
the ledger and queues its stream message as its last step. An incident step also carries the
version the person read: a batch of violations that changed the incident since refuses it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from governance.ledger.chain import ledger_append
from governance.notifications.services import notify
from governance.roles import Role, has_role
from governance.workflow import Step, status_move
from monitoring import selectors
from monitoring.incidents import notices
from monitoring.incidents.anomalies import alert_json
from monitoring.incidents.messages import incident_message
from monitoring.models import (
    PLAYBOOK_STEPS,
    AnomalyAlert,
    BreachAssessment,
    Incident,
    IncidentEvent,
)
from monitoring.telemetry.stream import Message, stream_append

# --- Incidents -------------------------------------------------------------------------------

S = Incident.Status
UNRESOLVED = frozenset({S.OPEN, S.ACKNOWLEDGED, S.CONTAINED})
INCIDENT_STEPS: dict[str, Step] = {
    "acknowledge": Step(frozenset({S.OPEN}), S.ACKNOWLEDGED),
    "contain": Step(frozenset({S.OPEN, S.ACKNOWLEDGED}), S.CONTAINED),
    "resolve": Step(UNRESOLVED, S.RESOLVED),
    "assign": Step(UNRESOLVED, None),
    "playbook": Step(UNRESOLVED, None),
    "assess": Step(UNRESOLVED, None),
}
STAMP: dict[str, str] = {
    S.ACKNOWLEDGED: "acknowledged_at",
    S.CONTAINED: "contained_at",
    S.RESOLVED: "resolved_at",
}


def _check_handler(actor: Actor, incident: Incident) -> User:
    """The person handling the incident, if they may (PermissionDenied otherwise)."""
    if not may(actor, "monitoring.change_incident"):
        raise PermissionDenied("Your role may not handle incidents")
    if not selectors.incidents_visible_to(actor, drills=True).filter(pk=incident.pk).exists():
        raise PermissionDenied("This incident is outside your jurisdictions")
    return actor


def _refusal(incident: Incident, action: str) -> str:
    if action == "assign":
        return "A resolved incident is not assigned"
    if action == "playbook":
        return "A resolved incident's playbook is closed"
    if action == "assess":
        return "A resolved incident is not assessed again"
    return f"An incident that is {incident.status} cannot become {INCIDENT_STEPS[action].target}"


def _check_step(incident: Incident, action: str) -> None:
    """StateConflict (409) unless the incident's status allows this step."""
    if not INCIDENT_STEPS[action].allows(incident.status):
        raise StateConflict({"status": _refusal(incident, action)})


def _incident_step(
    incident: Incident, action: str, *, at: dt.datetime | None = None, **changes: Any
) -> str:
    """Take one step of INCIDENT_STEPS, only if nobody changed the incident since it was read
    (its status and version); returns the status it now has."""
    _check_step(incident, action)
    target = INCIDENT_STEPS[action].target or incident.status
    status_move(
        Incident,
        pk=incident.pk,
        current=incident.status,
        target=target,
        when=Q(version=incident.version),
        what="incident",
        version=F("version") + 1,
        updated_at=at or timezone.now(),
        **changes,
    )
    return target


def _timeline(
    incident: Incident,
    *,
    actor: User,
    kind: str,
    note: str,
    data: dict[str, Any],
    at: dt.datetime | None = None,
) -> IncidentEvent:
    """A line of the incident's timeline (monitoring.models.IncidentEvent)."""
    return IncidentEvent.objects.create(
        incident=incident,
        kind=kind,
        at=at or timezone.now(),
        actor=actor,
        actor_name=actor.get_username(),
        note=note,
        data=data,
    )


def _changed(
    incident: Incident,
    *,
    actor: Actor,
    kind: str,
    data: dict[str, Any],
    at: dt.datetime | None = None,
) -> Incident:
    """After a successful step: reload, write the timeline and the ledger, queue the stream
    message (last). The ledger entry is dated when it is written, whatever `at` says: the
    decision log records when something was recorded and cannot be backdated."""
    incident.refresh_from_db()
    assert isinstance(actor, User)  # _check_handler let only a signed-in person through
    note = str(data.get("note") or data.get("reasoning") or "")
    extra = {k: v for k, v in data.items() if k not in ("note", "reasoning")}
    _timeline(
        incident, actor=actor, kind=kind.removeprefix("incident."), note=note, data=extra, at=at
    )
    drill = {"drill": incident.drill_id} if incident.drill_id else {}
    ledger_append(
        actor=actor,
        kind=kind,
        subjects=[f"incident:{incident.pk}", f"dataset:{incident.dataset_slug}"],
        data={"incident": incident.pk, "status": incident.status, **data, **drill},
    )
    if not drill:  # a drill's steps stay off the risk stream
        stream_append([incident_message(incident)])
    return incident


@transaction.atomic
def incident_transition(
    *, actor: Actor, incident: Incident, action: str, note: str = "", at: dt.datetime | None = None
) -> Incident:
    """Move an incident along open -> acknowledged -> contained -> resolved; `at` says when the
    step was taken, if earlier than now (a step recorded after the fact, e.g. the demo's
    history)."""
    actor = _check_handler(actor, incident)
    if action not in ("acknowledge", "contain", "resolve"):
        raise ValidationError({"action": f"Unknown step {action!r}"})
    _check_step(incident, action)
    to = INCIDENT_STEPS[action].target
    assert to is not None  # acknowledge, contain and resolve each lead to a status
    if to == S.RESOLVED and not note.strip():
        raise ValidationError({"note": "Say how the incident was resolved"})
    now = at or timezone.now()
    changes: dict[str, Any] = {STAMP[to]: now}
    if to == S.RESOLVED:
        changes["resolution"] = note
    playbook = dict(incident.playbook)
    if to == S.CONTAINED and not playbook.get("contain"):
        playbook["contain"] = _step_done(actor, now, note)
        changes["playbook"] = playbook
    if incident.owner_id is None and to != S.RESOLVED:
        changes["owner"] = actor
    _incident_step(incident, action, at=now, **changes)
    return _changed(incident, actor=actor, kind=f"incident.{to}", data={"note": note}, at=now)


def incident_acknowledge(
    *, actor: Actor, incident: Incident, note: str = "", at: dt.datetime | None = None
) -> Incident:
    """Take note of an incident (the acknowledging officer owns it unless someone does)."""
    return incident_transition(
        actor=actor, incident=incident, action="acknowledge", note=note, at=at
    )


def incident_contain(
    *, actor: Actor, incident: Incident, note: str = "", at: dt.datetime | None = None
) -> Incident:
    """The flow is stopped."""
    return incident_transition(actor=actor, incident=incident, action="contain", note=note, at=at)


def incident_resolve(
    *, actor: Actor, incident: Incident, note: str, at: dt.datetime | None = None
) -> Incident:
    """Close the incident, saying how."""
    return incident_transition(actor=actor, incident=incident, action="resolve", note=note, at=at)


def _may_own(user: User, incident: Incident) -> bool:
    owns_dataset = incident.dataset is not None and incident.dataset.owner_id == user.pk
    return user.is_active and (owns_dataset or has_role(user, Role.PRIVACY_OFFICER))


@transaction.atomic
def incident_assign(*, actor: Actor, incident: Incident, owner: User) -> Incident:
    """Hand the incident to a privacy officer or the dataset's owner; they are told."""
    actor = _check_handler(actor, incident)
    _check_step(incident, "assign")
    if not _may_own(owner, incident):
        raise ValidationError({"owner": "Assign to a privacy officer or the dataset's owner"})
    _incident_step(incident, "assign", owner=owner)
    incident = _changed(incident, actor=actor, kind="incident.assigned", data={"owner": owner.pk})
    if owner.pk != actor.pk:
        notify(
            recipients=[owner],
            kind="monitoring.incident_assigned",
            title=notices.subject_for(
                incident, f"Incident #{incident.pk} is yours: {incident.title}"
            ),
            url=notices.incident_url(incident),
        )
    return incident


def _step_done(actor: User, at: dt.datetime, note: str) -> dict[str, str]:
    return {"done_at": at.isoformat(), "by": actor.get_username(), "note": note}


@transaction.atomic
def incident_playbook_step(
    *, actor: Actor, incident: Incident, step: str, done: bool = True, note: str = ""
) -> Incident:
    """Tick (or untick) a playbook step; ticking 'notify' records when the authority was told."""
    actor = _check_handler(actor, incident)
    if step not in PLAYBOOK_STEPS:
        raise ValidationError({"step": f"One of {', '.join(PLAYBOOK_STEPS)}"})
    now = timezone.now()
    playbook = {**incident.playbook, step: _step_done(actor, now, note) if done else None}
    changes: dict[str, Any] = {"playbook": playbook}
    if step == "notify":
        changes["authority_notified_at"] = now if done else None
    _incident_step(incident, "playbook", **changes)
    return _changed(
        incident,
        actor=actor,
        kind="incident.playbook",
        data={"step": step, "done": done, "note": note},
    )


B = BreachAssessment
FINDINGS = frozenset({B.NOT_A_BREACH, B.NOTIFIABLE, B.NOT_NOTIFIABLE})


@transaction.atomic
def incident_assess(
    *,
    actor: Actor,
    incident: Incident,
    assessment: str,
    reasoning: str,
    at: dt.datetime | None = None,
) -> Incident:
    """Record whether the incident is a personal-data breach and whether a regulator must be
    told, with the reasoning. Only a breach found notifiable runs the regulator clock of its
    data's laws (Incident.clock_state); its officers are told which, by when. An officer may
    assess again while the incident is unresolved (each finding is on the ledger)."""
    actor = _check_handler(actor, incident)
    if assessment not in FINDINGS:
        raise ValidationError({"assessment": f"One of {', '.join(sorted(FINDINGS))}"})
    if not reasoning.strip():
        raise ValidationError({"reasoning": "Give the reasoning for the assessment"})
    if assessment != B.NOT_A_BREACH and not incident.personal_data:
        raise ValidationError(
            {"assessment": "Without personal data this is not a personal-data breach"}
        )
    now = at or timezone.now()
    previous = incident.breach_assessment
    playbook = dict(incident.playbook)
    if not playbook.get("assess"):
        playbook["assess"] = _step_done(actor, now, reasoning)
    _incident_step(
        incident,
        "assess",
        breach_assessment=assessment,
        breach_reasoning=reasoning,
        breach_assessed_by=actor,
        breach_assessed_at=now,
        playbook=playbook,
        at=now,
    )
    if assessment == B.NOTIFIABLE and previous != B.NOTIFIABLE:
        incident.refresh_from_db()
        notices.breach_assessed(incident)  # before the stream message, the last step
    return _changed(
        incident,
        actor=actor,
        kind="incident.assessed",
        data={
            "assessment": assessment,
            "reasoning": reasoning,
            "previous": previous,
            "basis": incident.basis,
            "regulator_clocks": [c["jurisdiction"] for c in incident.breach_clocks],
        },
        at=now,
    )


COMMENT_LIMIT = 4000


@transaction.atomic
def incident_comment(*, actor: Actor, incident: Incident, text: str) -> IncidentEvent:
    """Add a comment to the incident's timeline (resolved ones too: what was learnt later).
    It changes nothing on the incident, so nobody's open form goes stale."""
    actor = _check_handler(actor, incident)
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write the comment"})
    if len(text) > COMMENT_LIMIT:
        raise ValidationError({"text": f"At most {COMMENT_LIMIT} characters"})
    entry = _timeline(incident, actor=actor, kind=IncidentEvent.Kind.COMMENT, note=text, data={})
    ledger_append(
        actor=actor,
        kind="incident.comment",
        subjects=[f"incident:{incident.pk}", f"dataset:{incident.dataset_slug}"],
        data={"incident": incident.pk, "comment": text},
    )
    return entry


BULK_ACTIONS = ("acknowledge", "assign")
BULK_LIMIT = 200


@transaction.atomic
def incidents_bulk(
    *,
    actor: Actor,
    incidents: list[Incident],
    action: str,
    owner: User | None = None,
) -> list[Incident]:
    """Acknowledge or assign several incidents at once, all or none: each step is the one the
    incident would take alone (permission, its table, the version the person read, ledger and
    stream message); one that cannot be taken refuses the whole batch, naming it."""
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": f"One of {', '.join(BULK_ACTIONS)}"})
    if not incidents:
        raise ValidationError({"incidents": "Choose at least one incident"})
    if len(incidents) > BULK_LIMIT:
        raise ValidationError({"incidents": f"At most {BULK_LIMIT} at once"})
    if action == "assign" and owner is None:
        raise ValidationError({"owner": "Choose who handles them"})
    done = []
    for incident in incidents:
        try:
            if action == "acknowledge":
                done.append(incident_acknowledge(actor=actor, incident=incident))
            else:
                assert owner is not None
                done.append(incident_assign(actor=actor, incident=incident, owner=owner))
        except StateConflict as conflict:
            raise StateConflict(_named(incident, conflict)) from conflict
        except ValidationError as error:
            raise ValidationError(_named(incident, error)) from error
    return done


def _named(incident: Incident, error: ValidationError) -> dict[str, list[str]]:
    """The error of one incident of a batch, saying which one and that nothing was changed."""
    problems = error.message_dict if hasattr(error, "error_dict") else {"incidents": error.messages}
    return {
        field: [f"Incident #{incident.pk}: {' '.join(messages)} (none of the batch was changed)"]
        for field, messages in problems.items()
    }


# --- Anomaly alerts --------------------------------------------------------------------------

A = AnomalyAlert.Status
ALERT_STEPS: dict[str, Step] = {
    "acknowledge": Step(frozenset({A.OPEN}), A.ACKNOWLEDGED),
    "dismiss": Step(frozenset({A.OPEN, A.ACKNOWLEDGED}), A.DISMISSED),
}


@transaction.atomic
def alert_transition(
    *, actor: Actor, alert: AnomalyAlert, action: str, note: str = ""
) -> AnomalyAlert:
    """Acknowledge or dismiss an anomaly alert."""
    if not may(actor, "monitoring.change_anomalyalert"):
        raise PermissionDenied("Your role may not handle anomaly alerts")
    if not selectors.alerts_visible_to(actor).filter(pk=alert.pk).exists():
        raise PermissionDenied("This alert is outside your jurisdictions")
    step = ALERT_STEPS.get(action)
    if step is None:
        raise ValidationError({"action": f"One of {', '.join(ALERT_STEPS)}"})
    if not step.allows(alert.status):
        raise StateConflict(
            {"status": f"An alert that is {alert.status} cannot become {step.target}"}
        )
    assert step.target is not None  # both alert steps lead to a status
    status_move(
        AnomalyAlert,
        pk=alert.pk,
        current=alert.status,
        target=step.target,
        what="alert",
        handled_by=actor,
        handled_at=timezone.now(),
    )
    alert.refresh_from_db()
    ledger_append(
        actor=actor,
        kind=f"anomaly.{step.target}",
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
