"""The regulator clocks of a personal-data breach, from the law of the data, not GDPR for all.

Each jurisdiction's law has its clock (catalog.law.BreachClock): GDPR and UK GDPR 72 hours,
the DPDP Rules 72 hours, PIPEDA "as soon as feasible", LGPD 3 business days... An incident keeps
the clocks of the laws protecting its dataset (its data subjects' and the law it is stored
under, with federal law for a US state: DatasetFacts.laws) as they read when it opened, and the
earliest deadline given in hours as `regulator_due_at`. A law that gives no number of hours has
no numeric deadline; its words are shown instead. Whether a clock runs at all is the incident's
`clock_state` (monitoring.models.Incident).

All clocks are counted from `opened_at`, when Locus became aware: some laws start later (PDPA
Singapore from the assessment that the breach is notifiable), so this errs early, never late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TypedDict

from catalog.models import BreachClock
from governance.policy.law_index import law_name
from monitoring.models import Incident


class ClockJson(TypedDict):
    """One law's breach clock as an incident keeps it."""

    jurisdiction: str
    law: str
    hours: int | None
    deadline: str  # the law's words
    citation: str
    regulator: str
    verified: bool


NOT_ENCODED = "no breach clock encoded"


def _clock_json(row: BreachClock) -> ClockJson:
    j = row.jurisdiction
    return {
        "jurisdiction": j.code,
        "law": law_name(j.regime, j.name),
        "hours": row.regulator_hours,
        "deadline": row.regulator_deadline_text,
        "citation": row.citation,
        "regulator": row.regulator,
        "verified": row.verified,
    }


def _missing(code: str) -> ClockJson:
    return {
        "jurisdiction": code,
        "law": code,
        "hours": None,
        "deadline": NOT_ENCODED,
        "citation": "",
        "regulator": "",
        "verified": False,
    }


def _order(clock: ClockJson) -> tuple[bool, int, str]:
    hours = clock["hours"]
    return (hours is None, hours or 0, clock["jurisdiction"])


def clocks_for(groups: Iterable[tuple[str, ...]]) -> dict[tuple[str, ...], list[ClockJson]]:
    """The clocks of each group of laws (jurisdiction codes), shortest first; one query."""
    groups = set(groups)
    codes = {code for group in groups for code in group}
    rows = BreachClock.objects.filter(jurisdiction_id__in=codes).select_related("jurisdiction")
    known = {row.jurisdiction_id: _clock_json(row) for row in rows}
    return {
        group: sorted((known.get(code) or _missing(code) for code in group), key=_order)
        for group in groups
    }


def due_at(opened_at: dt.datetime, clocks: list[ClockJson]) -> dt.datetime | None:
    """The earliest deadline in hours among the clocks (None if no law gives hours)."""
    hours = [c["hours"] for c in clocks if c["hours"] is not None]
    return opened_at + dt.timedelta(hours=min(hours)) if hours else None


def describe(clock: ClockJson, opened_at: dt.datetime) -> str:
    """One clock in words: the law, its deadline (and the time it falls at), the citation."""
    text = f"{clock['law']}: {clock['deadline']}"
    if clock["hours"] is not None:
        due = opened_at + dt.timedelta(hours=clock["hours"])
        text += f" ({clock['hours']} h: by {due:%Y-%m-%d %H:%M} UTC)"
    if clock["citation"]:
        text += f" [{clock['citation']}]"
    if not clock["verified"] and clock["deadline"] != NOT_ENCODED:
        text += " (unverified)"
    return text


def regimes(incident: Incident) -> str:
    """The laws whose clocks the incident carries, e.g. "DPDP Act (India), GDPR (EU/EEA)"."""
    return ", ".join(c["law"] for c in incident.breach_clocks) or "-"
