"""The demo's past month of telemetry: simulated traffic ingested on a simulated clock, in a
few periods, each with problems of its own that officers acknowledged and resolved before the
next began; the current period's problems are still open.

Everything goes through ingest and the incident services, at the simulated times; the decision
log alone keeps the real time its entries were written (it cannot be backdated). Nobody is
notified: the moment to tell them has passed, and a month of old news would bury today's.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.utils import timezone

from catalog.models import Region
from governance.notifications.services import notifications_withheld
from monitoring.incidents.services import (
    incident_acknowledge,
    incident_assess,
    incident_resolve,
)
from monitoring.models import BreachAssessment, Incident, TelemetryEvent
from monitoring.telemetry.simulator import (
    Plan,
    Totals,
    Traffic,
    ingest_simulated,
    simulator_source,
    working_rhythm,
)

STEP_HOURS = 3  # one ingest per step of history: the dashboards count by day
STEP = dt.timedelta(hours=STEP_HOURS)
# How long officers took: to acknowledge a new incident, and to resolve it (the fix deployed).
ACKNOWLEDGED_AFTER = dt.timedelta(hours=3)
# The officer's finding on each, as GDPR Art. 33(1) frames it (notify "unless the personal
# data breach is unlikely to result in a risk"): the copies were found and deleted early.
NOT_NOTIFIABLE = (
    "The copies at the destination were found within hours, held by our own processor and "
    "deleted; no one else had access. Unlikely to result in a risk to the data subjects "
    "(GDPR Art. 33(1)); recorded under Art. 33(5)."
)
RESOLUTIONS = [
    "The pipeline's destination was corrected and the copies deleted.",
    "The job was moved back to a region its grant covers.",
    "A transfer exception was requested and the flow paused until its decision.",
    "The report now reads from the dataset's own region.",
]


@dataclass
class History:
    days: int
    totals: Totals
    incidents_opened: int
    incidents_resolved: int


def seed_history(
    *,
    officer: User,
    days: int = 30,
    periods: int = 6,
    events_per_hour: int = 40,
    now: dt.datetime | None = None,
    seed: int = 0,
) -> History | None:
    """Telemetry for the last `days` days (once: None when older telemetry is there)."""
    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    if TelemetryEvent.objects.filter(occurred_at__lt=now - dt.timedelta(days=1)).exists():
        return None
    source = simulator_source(officer)
    regions = sorted(Region.objects.values_list("code", flat=True))
    first = Incident.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    totals, resolved = Totals(), 0
    length = dt.timedelta(days=days) / periods
    begins = now - dt.timedelta(days=days)
    with notifications_withheld():
        for period in range(periods):
            ends = now if period == periods - 1 else begins + length
            number = seed * 100 + period
            traffic = Traffic(
                Plan.build(random.Random(number), regions), regions, 0.02, 0.01, number
            )
            ingest_simulated(
                traffic=traffic,
                source=source,
                start=begins,
                end=ends,
                step=STEP,
                events_in_step=lambda at: round(events_per_hour * STEP_HOURS * working_rhythm(at)),
                totals=totals,
            )
            if ends < now:  # this period's problems were fixed when the next began
                resolved += _handle(officer, opened_after=first, fixed_at=ends)
            begins = ends
    opened = Incident.objects.filter(pk__gt=first).count()
    return History(days, totals, opened, resolved)


def _handle(officer: User, *, opened_after: int, fixed_at: dt.datetime) -> int:
    """The officer acknowledges each unresolved incident a few hours after it opened, assesses
    those of personal data as breaches not to notify, and resolves them when its period's
    problems were fixed."""
    unresolved = list(
        Incident.objects.filter(pk__gt=opened_after)
        .exclude(status=Incident.Status.RESOLVED)
        .order_by("pk")
    )
    for number, incident in enumerate(unresolved):
        seen = min(incident.opened_at + ACKNOWLEDGED_AFTER, fixed_at)
        if incident.status == Incident.Status.OPEN:
            incident = incident_acknowledge(actor=officer, incident=incident, at=seen)
        if incident.personal_data:
            incident = incident_assess(
                actor=officer,
                incident=incident,
                assessment=BreachAssessment.NOT_NOTIFIABLE,
                reasoning=NOT_NOTIFIABLE,
                at=seen,
            )
        note = RESOLUTIONS[number % len(RESOLUTIONS)]
        incident_resolve(actor=officer, incident=incident, note=note, at=fixed_at)
    return len(unresolved)
