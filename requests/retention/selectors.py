"""Reads the retention workflow shares: the period a day falls in, what is held, what is due,
and the rows each person may see."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q, QuerySet

from catalog.actors import Actor
from catalog.models import Dataset
from governance.roles import Role, has_role
from requests.models.retention import UNFINISHED, LegalHold, RetentionRun

# Periods are counted from a Monday, so weekly periods start on Mondays.
PERIODS_FROM = dt.date(2000, 1, 3)
STATES = ("due", "overdue", "done", "all")


def period_start(today: dt.date) -> dt.date:
    """The first day of the retention period `today` falls in (RETENTION_PERIOD_DAYS long)."""
    length = settings.RETENTION_PERIOD_DAYS
    return PERIODS_FROM + dt.timedelta(days=(today - PERIODS_FROM).days // length * length)


def cutoff_of(start: dt.date, retention_days: int) -> dt.datetime:
    """Records older than this (midnight UTC, `retention_days` before the period) are due."""
    midnight = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    return midnight - dt.timedelta(days=retention_days)


def in_force(now: dt.datetime) -> Q:
    """A hold neither lifted nor past its end."""
    return Q(lifted_at__isnull=True) & (Q(until__isnull=True) | Q(until__gt=now))


def holds_in_force(now: dt.datetime) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(in_force(now))


def is_held(dataset_id: int, now: dt.datetime) -> bool:
    return holds_in_force(now).filter(dataset_id=dataset_id).exists()


def datasets_due(now: dt.datetime) -> QuerySet[Dataset]:
    """Datasets that need a run for the current period: not held, without one for this period,
    and without an unfinished one (an owner is not handed a second while the first is open)."""
    start = period_start(now.date())
    answered = RetentionRun.objects.filter(Q(period_start=start) | Q(status__in=UNFINISHED))
    return (
        Dataset.objects.exclude(pk__in=holds_in_force(now).values("dataset_id"))
        .exclude(pk__in=answered.values("dataset_id"))
        .order_by("id")
    )


def reads_all(user: Actor) -> bool:
    """Privacy officers and auditors see every dataset's retention; others their own."""
    return has_role(user, Role.PRIVACY_OFFICER, Role.AUDITOR)


def runs_for(user: Actor) -> QuerySet[RetentionRun]:
    """The runs `user` may see: all for officers and auditors, their datasets' for owners."""
    runs = RetentionRun.objects.select_related("dataset")
    return runs if reads_all(user) else runs.filter(owner_id=getattr(user, "pk", None))


def runs_in_state(
    runs: QuerySet[RetentionRun], state: str, today: dt.date
) -> QuerySet[RetentionRun]:
    """due: unfinished, not yet past due; overdue: unfinished past due; done; all."""
    if state == "due":
        return runs.filter(status__in=UNFINISHED, due_on__gte=today).order_by("due_on", "id")
    if state == "overdue":
        return runs.filter(status__in=UNFINISHED, due_on__lt=today).order_by("due_on", "id")
    if state == "done":
        return runs.filter(status="done").order_by("-completed_at", "-id")
    return runs.order_by("-period_start", "-id")


def holds_for(user: Actor, now: dt.datetime) -> QuerySet[LegalHold]:
    """The holds in force that `user` may see, newest first."""
    holds = holds_in_force(now).select_related("dataset")
    return holds if reads_all(user) else holds.filter(dataset__owner_id=getattr(user, "pk", None))


def counts(user: Actor, now: dt.datetime) -> dict[str, int]:
    """How many runs are due and overdue, and how many holds are in force, for `user`."""
    runs = runs_for(user)
    today = now.date()
    return {
        "due": runs_in_state(runs, "due", today).count(),
        "overdue": runs_in_state(runs, "overdue", today).count(),
        "held": holds_for(user, now).count(),
    }
