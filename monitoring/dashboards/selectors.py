"""The reads behind the risk dashboards: rollups (FlowDaily), never a scan of telemetry events.

Event counts come from `FlowDaily` (kept on ingest, one row per day x dataset x countries x
outcome), so a page costs the same with a thousand events or a billion. Incidents, transfer
exceptions and subject requests are read from their own (small) tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Self, TypedDict

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Dataset, Jurisdiction
from monitoring.models import Basis, BreachAssessment, EventOutcome, FlowDaily, Incident
from requests.models import ExceptionStatus, SubjectRequest, TransferException
from requests.models.subjects import OPEN_STATUSES as SUBJECT_OPEN_STATUSES
from requests.models.subjects import SubjectRequestStatus

MAX_PERIOD_DAYS = 366
TOP_DATASETS = 10
EXPIRING_SHOWN = 10


class CountryRef(TypedDict):
    code: str
    iso3: str
    name: str


class JurisdictionRisk(TypedDict):
    """One storage jurisdiction's row of risk_by_jurisdiction."""

    code: str
    name: str
    events: int
    violations: int
    share: float
    countries: list[CountryRef]


class ExpiringException(TypedDict):
    pk: int
    reference: str
    title: str
    ends_at: dt.datetime


class ExceptionCounts(TypedDict):
    """transfer_exceptions: how many are active, and those ending soon."""

    active: int
    expiring_count: int
    expiring: list[ExpiringException]


@dataclass(frozen=True)
class Filters:
    """A dashboard's period (inclusive days) and, optionally, one storage jurisdiction."""

    since: dt.date
    until: dt.date
    jurisdiction: str = ""

    @classmethod
    def last_days(
        cls, days: int = 30, jurisdiction: str = "", today: dt.date | None = None
    ) -> Self:
        today = today or timezone.now().date()
        days = max(1, min(days, MAX_PERIOD_DAYS))
        return cls(today - dt.timedelta(days=days - 1), today, jurisdiction)

    @property
    def days(self) -> list[dt.date]:
        count = (self.until - self.since).days + 1
        return [self.since + dt.timedelta(days=i) for i in range(count)]


def flows(filters: Filters, dataset_ids: frozenset[int] | None = None) -> QuerySet[FlowDaily]:
    """The rollup rows in the period (and jurisdiction; and datasets when given)."""
    rows = FlowDaily.objects.filter(day__gte=filters.since, day__lte=filters.until).order_by()
    if filters.jurisdiction:
        rows = rows.filter(jurisdiction=filters.jurisdiction)
    if dataset_ids is not None:
        rows = rows.filter(dataset_key__in=dataset_ids)
    return rows


def outcome_totals(filters: Filters, dataset_ids: frozenset[int] | None = None) -> dict[str, int]:
    """Events per outcome in the period: {"compliant": n, "granted": n, ...} (all outcomes)."""
    totals = dict.fromkeys(EventOutcome.values, 0)
    for row in flows(filters, dataset_ids).values("outcome").annotate(n=Sum("events")):
        totals[row["outcome"]] = row["n"]
    return totals


def daily_trend(
    filters: Filters, dataset_ids: frozenset[int] | None = None
) -> dict[str, list[int]]:
    """Events per outcome per day of the period: {outcome: [count for each day]}."""
    index = {day: i for i, day in enumerate(filters.days)}
    series = {outcome: [0] * len(index) for outcome in EventOutcome.values}
    rows = flows(filters, dataset_ids).values("day", "outcome").annotate(n=Sum("events"))
    for row in rows:
        series[row["outcome"]][index[row["day"]]] = row["n"]
    return series


def cross_border(
    filters: Filters, dataset_ids: frozenset[int] | None = None
) -> list[dict[str, Any]]:
    """Events that left their country: source x destination x outcome, biggest first."""
    rows = (
        flows(filters, dataset_ids)
        .exclude(source_country="")
        .exclude(destination_country="")
        .exclude(source_country=F("destination_country"))
        .values("source_country", "destination_country", "outcome")
        .annotate(events=Sum("events"), bytes=Sum("bytes"))
        .order_by("-events", "source_country", "destination_country", "outcome")
    )
    return list(rows)


def risk_by_jurisdiction(filters: Filters) -> list[JurisdictionRisk]:
    """Per storage jurisdiction: events, violations, violation share, and its countries."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"events": 0, "violations": 0})
    rows = flows(filters).exclude(jurisdiction="").values("jurisdiction", "outcome")
    for row in rows.annotate(n=Sum("events")):
        entry = counts[row["jurisdiction"]]
        entry["events"] += row["n"]
        if row["outcome"] == EventOutcome.VIOLATION:
            entry["violations"] += row["n"]
    found = Jurisdiction.objects.filter(code__in=counts).prefetch_related("countries")
    result: list[JurisdictionRisk] = []
    for jurisdiction in found.order_by("code"):
        entry = counts[jurisdiction.code]
        result.append(
            {
                "code": jurisdiction.code,
                "name": jurisdiction.name,
                "events": entry["events"],
                "violations": entry["violations"],
                "share": entry["violations"] / entry["events"] if entry["events"] else 0.0,
                "countries": [
                    {"code": c.code, "iso3": c.iso3, "name": c.name}
                    for c in jurisdiction.countries.all()
                ],
            }
        )
    return result


def top_datasets(
    filters: Filters, dataset_ids: frozenset[int] | None = None, limit: int = TOP_DATASETS
) -> list[dict[str, Any]]:
    """The datasets with the most violating events in the period, with their names."""
    rows = list(
        flows(filters, dataset_ids)
        .filter(outcome=EventOutcome.VIOLATION)
        .exclude(dataset_key=0)
        .values("dataset_key")
        .annotate(violations=Sum("events"), bytes=Sum("bytes"))
        .order_by("-violations", "dataset_key")[:limit]
    )
    names = dict(
        Dataset.objects.filter(pk__in=[r["dataset_key"] for r in rows]).values_list("pk", "slug")
    )
    for row in rows:
        row["slug"] = names.get(row["dataset_key"], f"dataset #{row['dataset_key']}")
    return rows


def open_incident_counts(incidents: QuerySet[Incident], filters: Filters) -> dict[str, int]:
    """Open incidents and the violations they hold, those with personal data, and those past
    their regulator deadline without the regulator told: notifiable breaches, and unlawful
    transfers of personal data not yet assessed (past the deadline they would have)."""
    rows = incidents.exclude(status=Incident.Status.RESOLVED)
    if filters.jurisdiction:
        rows = rows.filter(jurisdictions=filters.jurisdiction)
    clock_runs = Q(breach_assessment=BreachAssessment.NOTIFIABLE) | Q(
        breach_assessment=BreachAssessment.NOT_ASSESSED, basis=Basis.LEGAL
    )
    counts = rows.aggregate(
        incidents=Count("pk"),
        violations=Coalesce(Sum("violation_count"), 0),
        personal=Count("pk", filter=Q(personal_data=True)),
        regulator_overdue=Count(
            "pk",
            filter=clock_runs
            & Q(
                personal_data=True,
                authority_notified_at__isnull=True,
                regulator_due_at__lt=timezone.now(),
            ),
        ),
    )
    return counts


def transfer_exceptions(filters: Filters, now: dt.datetime | None = None) -> ExceptionCounts:
    """Active transfer exceptions, and those ending within the notice period (soonest first)."""
    now = now or timezone.now()
    soon = now + dt.timedelta(days=max(settings.EXCEPTION_EXPIRY_NOTICE_DAYS, default=7))
    rows = TransferException.objects.filter(status=ExceptionStatus.ACTIVE)
    if filters.jurisdiction:
        rows = rows.filter(
            pk__in=TransferException.datasets.through.objects.filter(
                dataset__jurisdiction_id=filters.jurisdiction
            ).values("transferexception_id")
        )
    expiring = rows.filter(ends_at__lte=soon).order_by("ends_at", "pk")
    return {
        "active": rows.count(),
        "expiring_count": expiring.count(),
        "expiring": [
            {"pk": e.pk, "reference": e.reference, "title": e.title, "ends_at": e.ends_at}
            for e in expiring.only("pk", "title", "ends_at")[:EXPIRING_SHOWN]
        ],
    }


def subject_requests(filters: Filters, today: dt.date | None = None) -> dict[str, float | None]:
    """Requests answered (completed or refused) in the period, how many by their deadline in
    force, and open ones past it."""
    today = today or timezone.now().date()
    rows = SubjectRequest.objects.annotate(due_on=Coalesce("extended_deadline", "deadline"))
    if filters.jurisdiction:
        rows = rows.filter(jurisdiction_id=filters.jurisdiction)
    answered = (SubjectRequestStatus.COMPLETED, SubjectRequestStatus.REJECTED)
    in_period = Q(
        status__in=answered,
        closed_at__date__gte=filters.since,
        closed_at__date__lte=filters.until,
    )
    counts = rows.aggregate(
        answered=Count("pk", filter=in_period),
        on_time=Count("pk", filter=in_period & Q(closed_at__date__lte=F("due_on"))),
        overdue=Count("pk", filter=Q(status__in=SUBJECT_OPEN_STATUSES, due_on__lt=today)),
        open=Count("pk", filter=Q(status__in=SUBJECT_OPEN_STATUSES)),
    )
    counts["rate"] = counts["on_time"] / counts["answered"] if counts["answered"] else None
    return counts


def jurisdiction_choices() -> list[tuple[str, str]]:
    return list(Jurisdiction.objects.order_by("code").values_list("code", "name"))
