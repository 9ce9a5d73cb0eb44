"""Incidents and violations as the risk stream and the webhooks show them."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from monitoring.models import Incident, Violation
from monitoring.telemetry.stream import Message

if TYPE_CHECKING:
    from monitoring.incidents.violations import StoredViolation


def incident_json(incident: Incident) -> dict:
    """An incident as the stream and the webhooks show it."""
    return {
        "id": incident.pk,
        "title": incident.title,
        "status": incident.status,
        "severity": incident.severity,
        "dataset": incident.dataset_slug,
        "dataset_id": incident.dataset_id,
        "destination_region": incident.destination_region,
        "destination_country": incident.destination_country,
        "jurisdictions": incident.jurisdiction_codes,
        "owner_id": incident.owner_id,
        "personal_data": incident.personal_data,
        "basis": incident.basis,
        "rule": incident.rule,
        "rule_kind": incident.rule_kind,
        "rule_label": incident.rule_label,
        "breach_assessment": incident.breach_assessment,
        "clock_state": incident.clock_state,
        "regulator_deadline": _iso(incident.regulator_deadline),
        "possible_regulator_deadline": _iso(incident.possible_regulator_deadline),
        "regulator_clocks": incident.regulator_clocks,
        "violation_count": incident.violation_count,
        "bytes": incident.bytes,
        "first_violation_at": incident.first_violation_at.isoformat(),
        "last_violation_at": incident.last_violation_at.isoformat(),
        "playbook": incident.playbook,
        "version": incident.version,
        "drill": incident.drill_id,
    }


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def violation_json(v: Violation | StoredViolation) -> dict:
    return {
        "id": v.pk,
        "incident_id": v.incident_id,
        "occurred_at": v.occurred_at.isoformat(),
        "dataset": v.dataset_slug,
        "dataset_id": v.dataset_id,
        "kind": v.kind,
        "basis": v.basis,
        "actor": v.actor,
        "source_country": v.source_country,
        "destination_region": v.destination_region,
        "destination_country": v.destination_country,
        "bytes": v.bytes,
        "rule": v.rule,
        "reason": v.reason,
        "severity": v.severity,
        "jurisdictions": v.jurisdiction_codes,
    }


def incident_message(incident: Incident, kind: str = "incident.updated") -> Message:
    return Message(
        kind=kind,
        payload=incident_json(incident),
        jurisdictions=incident.jurisdiction_codes,
        dataset_ids=[incident.dataset_id] if incident.dataset_id else [],
    )
