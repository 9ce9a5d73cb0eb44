"""A drill's report: how long the response took, step by step, against the regime's clock.

Times run from when Locus became aware (the drill incident's `opened_at`, the drill's start),
as the laws' breach clocks do: GDPR Art. 33(1) 72 hours, and so on (the incident keeps the
clocks of its data's laws, monitoring.incidents.breach). A step is within the clock when it was
taken by the incident's `regulator_due_at` (the shortest clock given in hours).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from monitoring.models import Drill, Incident

# The steps measured: (name, the incident's field that says when it was taken).
MEASURED = (
    ("acknowledge", "acknowledged_at"),
    ("contain", "contained_at"),
    ("assess", "breach_assessed_at"),
)


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return round((end - start).total_seconds() / 3600, 2)


def _clock(incident: Incident) -> dict | None:
    """The clock the steps are measured against: the shortest of the data's laws' clocks in
    hours, with every law's words (None when no law of the data gives one in hours)."""
    due = incident.regulator_due_at
    timed = [c for c in incident.breach_clocks if c.get("hours") is not None]
    if due is None or not timed:
        return None
    shortest = min(timed, key=lambda c: c["hours"])
    return {
        "hours": shortest["hours"],
        "due_at": due.isoformat(),
        "jurisdiction": shortest.get("jurisdiction", ""),
        "law": shortest.get("law", ""),
        "citation": shortest.get("citation", ""),
        "verified": shortest.get("verified"),
        "clocks": incident.breach_clocks,
    }


def _step(incident: Incident, field: str, now: dt.datetime) -> dict:
    taken = getattr(incident, field)
    due = incident.regulator_due_at
    if taken is None:
        overdue = due is not None and now > due
        return {"at": None, "hours": None, "within_clock": False if overdue else None}
    return {
        "at": taken.isoformat(),
        "hours": _hours(incident.opened_at, taken),
        "within_clock": None if due is None else taken <= due,
    }


def drill_report(drill: Drill, *, now: dt.datetime | None = None) -> dict:
    """The drill's measured times as of `now` (a completed drill keeps the one it ended with)."""
    now = now or timezone.now()
    incident = drill.incidents.first()
    base = {
        "drill": drill.pk,
        "drill_marker": "BREACH DRILL: synthetic, not a real incident",
        "scenario": drill.scenario,
        "dataset": drill.dataset_slug,
        "destination_region": drill.destination_region,
        "started_at": drill.started_at.isoformat(),
        "started_by": drill.started_by_name,
        "as_of": now.isoformat(),
    }
    if incident is None:
        return {**base, "incident": None, "steps": {}, "clock": None, "met": None}
    steps = {name: _step(incident, field, now) for name, field in MEASURED}
    clock = _clock(incident)
    return {
        **base,
        "incident": incident.pk,
        "incident_status": incident.status,
        "severity": incident.severity,
        "rule": incident.rule_label,
        "basis": incident.basis,
        "jurisdictions": incident.jurisdiction_codes,
        "breach_assessment": incident.breach_assessment,
        "steps": steps,
        "clock": clock,
        "met": _met(steps, clock),
    }


def _met(steps: dict, clock: dict | None) -> bool | None:
    """All three steps taken within the clock (None: no clock in hours to meet)."""
    if clock is None:
        return None
    return all(step["within_clock"] is True for step in steps.values())


def drill_report_current(drill: Drill, *, now: dt.datetime | None = None) -> dict:
    """The report to show: frozen once the drill completed, else measured now."""
    if drill.status == Drill.Status.COMPLETED and drill.report:
        return drill.report
    return drill_report(drill, now=now)
