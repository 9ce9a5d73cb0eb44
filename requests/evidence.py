"""The workflows' section of the auditor's evidence package (settings.EVIDENCE_SECTIONS).

Two records for the period: the register of transfers (every grant made from an approved
exception that was in force at some time in the period, with its state at the period's end),
and a summary of the data-subject requests received in it: counts by type, jurisdiction,
status and timeliness, never a subject's identifier, a pseudonym or a request reference.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections import Counter

from django.utils import timezone

from requests.models.subjects import OPEN_STATUSES, SubjectRequest, SubjectRequestStatus
from requests.transfers import selectors as transfer_selectors
from requests.transfers.register import register_csv_write

S = SubjectRequestStatus
REGISTER_JSON = "workflows/transfer-register.json"
REGISTER_CSV = "workflows/transfer-register.csv"
SUBJECT_SUMMARY = "workflows/subject-requests-summary.json"
ANSWERED = {S.COMPLETED, S.REJECTED}


def workflow_records(since: dt.datetime, until: dt.datetime) -> dict[str, bytes]:
    """The evidence section: the register of transfers and the subject-request summary."""
    register = transfer_register(since, until)
    return {
        REGISTER_JSON: _json(
            {"from": since.isoformat(), "to": until.isoformat(), "grants": register}
        ),
        REGISTER_CSV: _register_csv(register),
        SUBJECT_SUMMARY: _json(subject_request_summary(since, until)),
    }


# --- The register of transfers --------------------------------------------------------------


def _in_force_during(row: dict, since: dt.datetime, until: dt.datetime) -> bool:
    ended = row["valid_until"]
    if row["revoked_at"] is not None:
        ended = min(ended, row["revoked_at"])
    return row["valid_from"] < until and ended > since


def transfer_register(since: dt.datetime, until: dt.datetime) -> list[dict]:
    """The register's rows of the grants in force at some time in [since, until), each with its
    state (active, expired, revoked) at `until`."""
    rows = transfer_selectors.register_rows(now=until)
    return [row for row in rows if _in_force_during(row, since, until)]


def _register_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    register_csv_write(out, rows, lineterminator="\n")
    return out.getvalue().encode()


# --- The subject-request summary -------------------------------------------------------------


def timeliness(status: str, due: dt.date, closed_at: dt.datetime | None, today: dt.date) -> str:
    """How a request stands against its deadline in force (the extended one when extended)."""
    if status in OPEN_STATUSES:
        return "open_overdue" if due < today else "open_in_time"
    if status in ANSWERED:
        answered_on = timezone.localdate(closed_at) if closed_at else today
        return "answered_on_time" if answered_on <= due else "answered_late"
    return "withdrawn" if status == S.WITHDRAWN else "answered_with_original"


def subject_request_summary(
    since: dt.datetime, until: dt.datetime, now: dt.datetime | None = None
) -> dict:
    """Counts of the requests received in [since, until): by type, jurisdiction, status and
    timeliness (status as of `now`), and their combinations; no identifiers of any kind."""
    today = timezone.localdate(now or timezone.now())
    received = SubjectRequest.objects.filter(received_at__gte=since, received_at__lt=until)
    groups: Counter = Counter()
    for type_, jurisdiction, status, deadline, extended, closed_at in received.values_list(
        "type", "jurisdiction_id", "status", "deadline", "extended_deadline", "closed_at"
    ):
        state = timeliness(status, extended or deadline, closed_at, today)
        groups[(type_, jurisdiction, status, state)] += 1
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "as_of": today.isoformat(),
        "basis": "Requests received in the period; status and timeliness as of the export, "
        "against the deadline in force (the extended one when extended, moved on by pauses).",
        "total": sum(groups.values()),
        "by_type": _count(groups, 0),
        "by_jurisdiction": _count(groups, 1),
        "by_status": _count(groups, 2),
        "by_timeliness": _count(groups, 3),
        "groups": [
            {"type": t, "jurisdiction": j, "status": s, "timeliness": o, "count": n}
            for (t, j, s, o), n in sorted(groups.items())
        ],
    }


def _count(groups: Counter, index: int) -> dict[str, int]:
    totals: Counter = Counter()
    for key, count in groups.items():
        totals[key[index]] += count
    return dict(sorted(totals.items()))


def _json(document) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True, default=_when).encode()


def _when(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
