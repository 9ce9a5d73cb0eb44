"""The reads behind the risk dashboards: rollups (FlowDaily), never a scan of telemetry events.

Event counts come from `FlowDaily` (kept on ingest, one row per day x dataset x countries x
outcome), so a page costs the same with a thousand events or a billion. Incidents, transfer
exceptions and subject requests are read from their own (small) tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Literal, Self, TypedDict

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Dataset, Jurisdiction
from monitoring import selectors as queue
from monitoring.models import Basis, BreachAssessment, EventOutcome, FlowDaily, Incident
from requests.models import ExceptionStatus, SubjectRequest, TransferException
from requests.models.subjects import OPEN_STATUSES as SUBJECT_OPEN_STATUSES
from requests.models.subjects import SubjectRequestStatus

MAX_PERIOD_DAYS = 366
TOP_DATASETS = 10
EXPIRING_SHOWN = 10
DRIVERS_SHOWN = 3
AWAITING_DECISION = (ExceptionStatus.SUBMITTED, ExceptionStatus.UNDER_REVIEW)


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

    @property
    def length(self) -> int:
        return (self.until - self.since).days + 1

    def previous(self) -> Filters:
        """The period of the same length that ends the day before this one starts."""
        return replace(
            self,
            since=self.since - dt.timedelta(days=self.length),
            until=self.since - dt.timedelta(days=1),
        )

    def ends_at(self) -> dt.datetime:
        """The first instant after the period (midnight UTC after `until`)."""
        day = self.until + dt.timedelta(days=1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


Direction = Literal["up", "down", "flat"]


class Change(TypedDict):
    """A figure in the period, the same figure in the previous period, and the difference."""

    now: float
    before: float
    delta: float
    direction: Direction


def change(now: float, before: float) -> Change:
    delta = now - before
    direction: Direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return {"now": now, "before": before, "delta": delta, "direction": direction}


class Driver(TypedDict):
    """A jurisdiction or dataset behind the period's violations, with its change."""

    key: str
    name: str
    detail: str
    violations: int
    previous: int
    change: Change


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
    found = Dataset.objects.filter(pk__in=[r["dataset_key"] for r in rows])
    names = {pk: (name, slug) for pk, name, slug in found.values_list("pk", "name", "slug")}
    for row in rows:
        fallback = f"dataset #{row['dataset_key']}"
        row["name"], row["slug"] = names.get(row["dataset_key"], (fallback, fallback))
    return rows


def open_incident_counts(
    filters: Filters, dataset_ids: frozenset[int] | None = None
) -> dict[str, int]:
    """Open incidents and the violations they hold, those with personal data, and those past
    their regulator deadline without the regulator told: notifiable breaches, and unlawful
    transfers of personal data not yet assessed (past the deadline they would have).

    Open incidents are the officers' queue's (monitoring.selectors.open_incidents), and their
    number is its open_incident_count: the Risk page and the queue show the same figure."""
    rows = queue.open_incidents(jurisdiction=filters.jurisdiction)
    if dataset_ids is not None:
        rows = rows.filter(dataset_id__in=dataset_ids)
    clock_runs = Q(breach_assessment=BreachAssessment.NOTIFIABLE) | Q(
        breach_assessment=BreachAssessment.NOT_ASSESSED, basis=Basis.LEGAL
    )
    counts = rows.aggregate(
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
    if dataset_ids is None:
        counts["incidents"] = queue.open_incident_count(jurisdiction=filters.jurisdiction)
    else:
        counts["incidents"] = rows.count()
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


# --- What changed since the previous period, and who drives it ---------------------------------


def _share(totals: dict[str, int]) -> float:
    events = sum(totals.values())
    return totals[EventOutcome.VIOLATION] / events if events else 0.0


def _both_periods(filters: Filters) -> Filters:
    return replace(filters, since=filters.previous().since)


def _now_and_before(
    filters: Filters, field: str, dataset_ids: frozenset[int] | None = None, **only: str
) -> dict[Any, tuple[int, int]]:
    """{value of `field`: (events in the period, events in the previous period)}, one query."""
    current = Q(day__gte=filters.since)
    rows = (
        flows(_both_periods(filters), dataset_ids)
        .filter(**only)
        .values(field)
        .annotate(now=Sum("events", filter=current), before=Sum("events", filter=~current))
    )
    return {row[field]: (row["now"] or 0, row["before"] or 0) for row in rows}


def period_changes(
    filters: Filters, dataset_ids: frozenset[int] | None = None, open_now: int | None = None
) -> dict[str, Change]:
    """Events, violating events and their share in the period against the previous period of
    the same length; incidents opened in each; open incidents at the end of each. A period
    that runs to today ends now: give `open_now`, the queue's open count, to use it as is."""
    counts = _now_and_before(filters, "outcome", dataset_ids)
    now = {o: counts.get(o, (0, 0))[0] for o in EventOutcome.values}
    before = {o: counts.get(o, (0, 0))[1] for o in EventOutcome.values}
    rows = Incident.objects.filter(drill__isnull=True)  # breach drills are never counted
    if filters.jurisdiction:
        rows = rows.filter(jurisdictions=filters.jurisdiction)
    if dataset_ids is not None:
        rows = rows.filter(dataset_id__in=dataset_ids)
    found = incident_changes(rows, filters)
    if open_now is not None and filters.ends_at() > timezone.now():
        found["open_now"] = open_now
    return {
        "events": change(sum(now.values()), sum(before.values())),
        "violations": change(now[EventOutcome.VIOLATION], before[EventOutcome.VIOLATION]),
        "violation_share": change(_share(now), _share(before)),
        "incidents_opened": change(found["opened_now"], found["opened_before"]),
        "open_incidents": change(found["open_now"], found["open_before"]),
    }


def incident_changes(incidents: QuerySet[Incident], filters: Filters) -> dict[str, int]:
    """Incidents opened in the period and in the previous one, and open at the end of each
    (one query). Open at an instant: opened before it and not resolved by then; one resolved
    and reopened since counts as open from its reopening. The end of a period still running
    is now: the incidents not resolved, as every other open count on the risk pages."""
    previous = filters.previous()

    def opened(period: Filters) -> Q:
        return Q(opened_at__date__gte=period.since, opened_at__date__lte=period.until)

    def open_at(when: dt.datetime) -> Q:
        if when > timezone.now():
            return ~Q(status=Incident.Status.RESOLVED)
        unresolved = Q(resolved_at__isnull=True) | Q(resolved_at__gt=when)
        reopened = Q(reopened_at__lte=when) & ~Q(status=Incident.Status.RESOLVED)
        return Q(opened_at__lt=when) & (unresolved | reopened)

    return incidents.aggregate(
        opened_now=Count("pk", filter=opened(filters)),
        opened_before=Count("pk", filter=opened(previous)),
        open_now=Count("pk", filter=open_at(filters.ends_at())),
        open_before=Count("pk", filter=open_at(previous.ends_at())),
    )


def _ranked(counts: dict[Any, tuple[int, int]], limit: int) -> list[Any]:
    """The keys with violations in the period, the most first, then the largest rise."""
    order = sorted(
        (k for k, (now, _) in counts.items() if k and now),
        key=lambda k: (-counts[k][0], counts[k][1], str(k)),
    )
    return order[:limit]


def jurisdiction_drivers(filters: Filters, limit: int = DRIVERS_SHOWN) -> list[Driver]:
    """The storage jurisdictions with the most violating events in the period, by full name,
    with their change against the previous period."""
    counts = _now_and_before(filters, "jurisdiction", outcome=EventOutcome.VIOLATION)
    codes = _ranked(counts, limit)
    names = dict(Jurisdiction.objects.filter(code__in=codes).values_list("code", "name"))
    return [_driver(code, names.get(code, code), code, counts[code]) for code in codes]


def dataset_drivers(
    filters: Filters, dataset_ids: frozenset[int] | None = None, limit: int = DRIVERS_SHOWN
) -> list[Driver]:
    """The datasets with the most violating events in the period, by full name, with their
    change against the previous period."""
    counts = _now_and_before(filters, "dataset_key", dataset_ids, outcome=EventOutcome.VIOLATION)
    keys = _ranked(counts, limit)
    found = {
        pk: (name, slug)
        for pk, name, slug in Dataset.objects.filter(pk__in=keys).values_list("pk", "name", "slug")
    }
    drivers = []
    for key in keys:
        name, slug = found.get(key, (f"dataset #{key}", ""))
        drivers.append(_driver(key, name, slug, counts[key]))
    return drivers


def _driver(key: object, name: str, detail: str, counts: tuple[int, int]) -> Driver:
    now, before = counts
    return {
        "key": str(key),
        "name": name,
        "detail": detail,
        "violations": now,
        "previous": before,
        "change": change(now, before),
    }


def exceptions_awaiting_decision(filters: Filters) -> int:
    """Transfer exceptions submitted or under review: waiting for an officer's decision."""
    rows = TransferException.objects.filter(status__in=AWAITING_DECISION)
    if filters.jurisdiction:
        rows = rows.filter(
            pk__in=TransferException.datasets.through.objects.filter(
                dataset__jurisdiction_id=filters.jurisdiction
            ).values("transferexception_id")
        )
    return rows.count()
