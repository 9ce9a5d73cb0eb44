"""On PostgreSQL telemetry events live in day partitions: made ahead, an event lands in its day's,
a resend is still stored once, retention drops whole partitions (the 30-day figures, read from
the rollups, stay) and keeps what carries a violation. SQLite keeps its plain table."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from governance.models import LedgerEntry
from monitoring.dashboards import selectors as figures
from monitoring.models import TelemetryEvent, Violation
from monitoring.telemetry import partitions
from monitoring.telemetry.ingest import telemetry_ingest
from monitoring.telemetry.purge import telemetry_purge
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="partitions are PostgreSQL's"
)
NOW = dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.UTC)  # past every partition the migration made


@pytest.fixture
def window(settings):
    """Ingest takes events up to 40 days old; they are kept 20 days; partitions 2 days ahead."""
    settings.TELEMETRY_MAX_AGE_DAYS = 40
    settings.TELEMETRY_RETENTION_DAYS = 20
    settings.TELEMETRY_PARTITION_DAYS_AHEAD = 2


def _home(event_id: int) -> str:
    """The partition that holds an event."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {partitions.PARENT} WHERE id = %s", [event_id]
        )
        return cursor.fetchone()[0]


def _ingest(source, items, now=NOW):
    return telemetry_ingest(source=source, items=items, now=now)


@postgres_only
def test_partitions_are_made_ahead_from_the_oldest_day_kept(window):
    created = partitions.telemetry_partitions_ensure(now=NOW)
    today = NOW.date()
    # 19 days back (never a day past the 20 days' retention), today, and 2 days ahead.
    assert created == [today + dt.timedelta(days=n) for n in range(-19, 3)]
    assert set(created) <= set(partitions.partition_days())
    assert partitions.telemetry_partitions_ensure(now=NOW) == []  # idempotent


@postgres_only
def test_an_event_lands_in_its_days_partition(window, source, eu_dataset):
    partitions.telemetry_partitions_ensure(now=NOW)
    at = NOW - dt.timedelta(days=3, hours=1)
    _ingest(source, [event(at=at)])
    stored = TelemetryEvent.objects.get()
    assert _home(stored.pk) == partitions.partition_name(at.date())


@postgres_only
def test_an_event_no_partition_covers_waits_in_the_default_one_and_moves_in_later(
    window, source, eu_dataset
):
    at = NOW - dt.timedelta(hours=1)
    _ingest(source, [event(at=at)])
    stored = TelemetryEvent.objects.get()
    assert _home(stored.pk) == partitions.DEFAULT
    partitions.telemetry_partitions_ensure(now=NOW)
    assert _home(stored.pk) == partitions.partition_name(at.date())  # same id, its day's table
    assert TelemetryEvent.objects.count() == 1


@postgres_only
def test_a_resend_is_stored_once_in_its_partition(window, source, eu_dataset):
    partitions.telemetry_partitions_ensure(now=NOW)
    item = event(at=NOW - dt.timedelta(days=2), id="run-7-step-1")
    assert _ingest(source, [item]).stored == 1
    again = _ingest(source, [item], now=NOW + dt.timedelta(days=1))
    assert (again.stored, again.duplicates) == (0, 1)
    assert TelemetryEvent.objects.filter(client_id="run-7-step-1").count() == 1


def _month(today: dt.date) -> dict:
    """What the dashboards show over the last 30 days."""
    period = figures.Filters(since=today - dt.timedelta(days=29), until=today)
    return {"totals": figures.outcome_totals(period), "trend": figures.daily_trend(period)}


@postgres_only
def test_purge_drops_partitions_past_retention_and_the_30_day_figures_stay(
    window, source, eu_dataset
):
    partitions.telemetry_partitions_ensure(now=NOW - dt.timedelta(days=5))
    old = NOW - dt.timedelta(days=25)  # past retention, within the dashboards' 30 days
    partitions.partition_create(old.date())
    _ingest(source, [event(at=old - dt.timedelta(minutes=i)) for i in range(4)])
    _ingest(source, [event(at=old, dest="aws:ap-south-1")])  # a violation
    _ingest(source, [event(at=NOW - dt.timedelta(days=2, minutes=i)) for i in range(3)])
    shown = _month(NOW.date())
    assert sum(shown["totals"].values()) == 8

    telemetry_purge(now=NOW)

    days = partitions.partition_days()
    assert old.date() not in days
    assert min(days) == (NOW - dt.timedelta(days=20)).date()  # the cutoff's day stays
    violation = Violation.objects.get()
    assert _home(violation.event_id) == partitions.DEFAULT  # kept with its incident
    assert violation.event.occurred_at == old
    assert TelemetryEvent.objects.count() == 4  # 3 recent + the violation's
    assert _month(NOW.date()) == shown
    entry = LedgerEntry.objects.filter(kind="telemetry.purged").get()
    data = json.loads(bytes(entry.payload))["data"]
    assert old.date().isoformat() in data["partitions"] and data["events"] == 0


@postgres_only
def test_a_partial_day_waits_for_its_whole_day_to_pass(window, source, eu_dataset):
    partitions.telemetry_partitions_ensure(now=NOW - dt.timedelta(days=15))
    boundary = (NOW - dt.timedelta(days=20)).date()  # the cutoff falls at noon of this day
    assert boundary in partitions.partition_days()
    telemetry_purge(now=NOW)
    assert boundary in partitions.partition_days()
    assert boundary - dt.timedelta(days=1) not in partitions.partition_days()


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's plain table")
def test_sqlite_keeps_a_plain_table(window, source, eu_dataset):
    assert not partitions.is_partitioned()
    assert partitions.telemetry_partitions_ensure(now=NOW) == []
    item = event(at=NOW - dt.timedelta(days=2), id="once")
    _ingest(source, [item])
    # On the plain table the key is (source, client id) alone: a changed time is a resend too.
    again = _ingest(source, [{**item, "time": "2031-03-14T00:00:00Z"}])
    assert (again.stored, again.duplicates) == (0, 1)
