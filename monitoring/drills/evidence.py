"""The monitoring section of the auditor's evidence package (settings.EVIDENCE_SECTIONS): the
real incidents of the period, counted, and the breach drills apart with their reports. A drill
is never in the real figures, and a real incident never in the drills."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from monitoring.drills.report import drill_report_current
from monitoring.drills.selectors import drills_between
from monitoring.models import Incident

INCIDENTS = "monitoring/incidents-summary.json"
DRILLS = "monitoring/drills.json"


def monitoring_records(since: dt.datetime, until: dt.datetime) -> dict[str, bytes]:
    """The evidence section: real incidents opened in the period, and the period's drills."""
    period = {"from": since.isoformat(), "to": until.isoformat()}
    return {
        INCIDENTS: _json({**period, **incident_summary(since, until)}),
        DRILLS: _json({**period, "drills": drill_records(since, until)}),
    }


def incident_summary(since: dt.datetime, until: dt.datetime) -> dict:
    """Real incidents (no drill's) opened in [since, until): counts by severity, basis and
    breach assessment."""
    rows = list(
        Incident.objects.filter(
            drill__isnull=True, opened_at__gte=since, opened_at__lt=until
        ).values_list("severity", "basis", "breach_assessment")
    )
    return {
        "opened": len(rows),
        "by_severity": dict(Counter(r[0] for r in rows)),
        "by_basis": dict(Counter(r[1] for r in rows)),
        "by_breach_assessment": dict(Counter(r[2] for r in rows)),
    }


def drill_records(since: dt.datetime, until: dt.datetime) -> list[dict]:
    """Each drill started in [since, until) with its report (as of `until` if still running)."""
    return [
        {"status": drill.status, **drill_report_current(drill, now=until)}
        for drill in drills_between(since, until)
    ]


def _json(document: object) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, default=str) + "\n").encode()
