"""Retention's section of the auditor's evidence package (settings.EVIDENCE_SECTIONS): the
runs opened in the period with their outcomes, and the legal holds in force at some time in it.
Datasets by slug, people by the names the rows keep; no subject data (runs delete by age)."""

from __future__ import annotations

import datetime as dt
import json

from django.db.models import Q
from django.utils import timezone

from requests.models.retention import LegalHold, RetentionRun

RETENTION = "workflows/retention.json"


def retention_records(since: dt.datetime, until: dt.datetime) -> dict[str, bytes]:
    """The evidence section: one JSON document of runs and holds."""
    today = timezone.localdate()
    document = {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "as_of": today.isoformat(),
        "basis": "Runs opened in the period, with their state as of the export; holds in force "
        "at some time in the period.",
        "runs": [_run(run, today) for run in _runs(since, until)],
        "holds": [_hold(hold) for hold in _holds(since, until)],
    }
    return {RETENTION: json.dumps(document, indent=2, sort_keys=True).encode()}


def _runs(since: dt.datetime, until: dt.datetime):
    return RetentionRun.objects.filter(created_at__gte=since, created_at__lt=until).order_by(
        "created_at", "id"
    )


def _holds(since: dt.datetime, until: dt.datetime):
    ended_after = Q(lifted_at__isnull=True) | Q(lifted_at__gt=since)
    runs_past = Q(until__isnull=True) | Q(until__gt=since)
    return (
        LegalHold.objects.filter(placed_at__lt=until)
        .filter(ended_after & runs_past)
        .select_related("dataset")
        .order_by("placed_at", "id")
    )


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _run(run: RetentionRun, today: dt.date) -> dict:
    return {
        "id": run.pk,
        "dataset": run.dataset_slug,
        "period_start": _iso(run.period_start),
        "retention_days": run.retention_days,
        "delete_before": _iso(run.cutoff),
        "due_on": _iso(run.due_on),
        "by": "connector" if run.automatic else "owner",
        "status": run.status,
        "overdue": run.overdue(today),
        "rows_deleted": run.rows_deleted,
        "note": run.note,
        "completed_at": _iso(run.completed_at),
        "completed_by": run.completed_by_name,
    }


def _hold(hold: LegalHold) -> dict:
    return {
        "id": hold.pk,
        "dataset": hold.dataset.slug,
        "reason": hold.reason,
        "placed_by": hold.placed_by_name,
        "placed_at": _iso(hold.placed_at),
        "until": _iso(hold.until),
        "lifted_at": _iso(hold.lifted_at),
        "lifted_by": hold.lifted_by_name,
        "lift_reason": hold.lift_reason,
    }
