"""Telemetry past its retention is deleted in chunks; the rollups the dashboards read, and their
figures, stay as they were; events that carry a violation stay with their incident; on
PostgreSQL the trigger still refuses any other DELETE."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import DatabaseError, connection, transaction

from governance.models import LedgerEntry
from monitoring.dashboards import selectors as figures
from monitoring.models import ActorVolumeHourly, FlowDaily, TelemetryEvent, Violation
from monitoring.telemetry.ingest import telemetry_ingest
from monitoring.telemetry.purge import telemetry_purge
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=500)
RECENT = NOW - dt.timedelta(days=10)


@pytest.fixture
def history(settings, source, eu_dataset):
    """Seven events 500 days old (one a violation), three 10 days old."""
    settings.TELEMETRY_MAX_AGE_DAYS = 1000
    settings.TELEMETRY_RETENTION_DAYS = 400
    old = [event(at=OLD - dt.timedelta(minutes=i)) for i in range(6)]
    old.append(event(at=OLD, dest="aws:ap-south-1"))  # out of bounds: a violation
    telemetry_ingest(source=source, items=old, now=OLD + dt.timedelta(minutes=1))
    recent = [event(at=RECENT - dt.timedelta(minutes=i)) for i in range(3)]
    telemetry_ingest(source=source, items=recent, now=RECENT + dt.timedelta(minutes=1))
    assert TelemetryEvent.objects.count() == 10
    return source


def _rollups() -> list[tuple]:
    flows = FlowDaily.objects.order_by("day", "dataset_key", "outcome")
    volumes = ActorVolumeHourly.objects.order_by("actor", "hour")
    return [
        *flows.values_list("day", "dataset_key", "outcome", "events", "bytes", "records"),
        *volumes.values_list("actor", "hour", "events", "bytes"),
    ]


def _dashboard(today: dt.date) -> dict:
    """What the dashboards show over the whole history."""
    whole = figures.Filters(since=OLD.date() - dt.timedelta(days=1), until=today)
    return {"totals": figures.outcome_totals(whole), "trend": figures.daily_trend(whole)}


def test_old_events_are_deleted_in_chunks_and_the_rollups_and_figures_stay(history):
    rollups, shown = _rollups(), _dashboard(NOW.date())
    assert sum(shown["totals"].values()) == 10  # the old days are counted

    assert telemetry_purge(now=NOW, chunk=2) == 6

    left = TelemetryEvent.objects.order_by("occurred_at")
    assert [e.occurred_at >= RECENT - dt.timedelta(hours=1) for e in left].count(True) == 3
    assert Violation.objects.count() == 1  # the violation's event is kept with it
    assert left.count() == 4
    assert _rollups() == rollups
    assert _dashboard(NOW.date()) == shown
    entry = LedgerEntry.objects.filter(kind="telemetry.purged").get()
    assert json.loads(bytes(entry.payload))["data"]["events"] == 6


def test_nothing_past_retention_deletes_nothing_and_logs_nothing(history):
    assert telemetry_purge(now=OLD + dt.timedelta(days=399)) == 0
    assert TelemetryEvent.objects.count() == 10
    assert not LedgerEntry.objects.filter(kind="telemetry.purged").exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_outside_the_purge_the_trigger_still_refuses_delete_and_update(history):
    for statement in (
        "DELETE FROM monitoring_telemetryevent",
        "UPDATE monitoring_telemetryevent SET bytes = 0",
    ):
        _refused(statement)
    telemetry_purge(now=NOW)
    # The purge's setting was local to its transactions: a DELETE after it is refused again.
    _refused("DELETE FROM monitoring_telemetryevent")
    assert TelemetryEvent.objects.count() == 4


def _refused(statement: str) -> None:
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
