"""The demo's month of history: telemetry ingested on a simulated clock, each period's incidents
acknowledged and resolved by an officer at the simulated times, nobody notified of old news."""

import datetime as dt

import pytest

from governance.models import LedgerEntry, Notification
from monitoring.demo import ACKNOWLEDGED_AFTER, seed_history
from monitoring.models import BreachAssessment, Incident, TelemetryEvent
from tests.monitoring.test_simulator import catalog_of_a_few  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


@pytest.fixture
def history(catalog_of_a_few, privacy_officer):  # noqa: F811
    return seed_history(officer=privacy_officer, days=4, periods=2, events_per_hour=30, now=NOW)


def test_telemetry_spread_over_the_days_asked_for(history):
    times = TelemetryEvent.objects.values_list("occurred_at", flat=True)
    assert NOW - dt.timedelta(days=4) <= min(times) < NOW - dt.timedelta(days=3, hours=21)
    assert NOW - dt.timedelta(hours=3) <= max(times) < NOW
    assert history.totals.stored == TelemetryEvent.objects.count()
    # Working hours are busier than nights: the dashboards' daily pattern.
    by_hour = [t.hour for t in times]
    assert sum(8 <= h < 19 for h in by_hour) > sum(h < 8 or h >= 19 for h in by_hour)


def test_the_first_periods_incidents_are_handled_at_the_simulated_times(history):
    middle = NOW - dt.timedelta(days=2)
    earlier = Incident.objects.filter(opened_at__lt=middle)
    assert earlier.exists()
    for incident in earlier:
        assert incident.status == Incident.Status.RESOLVED
        assert incident.resolved_at == middle
        assert incident.acknowledged_at == min(incident.opened_at + ACKNOWLEDGED_AFTER, middle)
        assert incident.resolution
        steps = ["acknowledged", "resolved"]
        if incident.personal_data:
            steps.insert(1, "assessed")
        kinds = incident.events.order_by("at", "pk").values_list("kind", flat=True)
        assert list(kinds)[-len(steps) :] == steps
        if incident.personal_data:  # assessed as the officer saw it: no clock left running
            assert incident.breach_assessment == BreachAssessment.NOT_NOTIFIABLE
            assert incident.breach_assessed_at == incident.acknowledged_at
            assert incident.regulator_hours_left is None
    assert history.incidents_resolved == earlier.count()
    assert history.incidents_opened == Incident.objects.count()


def test_the_current_periods_incidents_are_still_open(history):
    later = Incident.objects.filter(opened_at__gte=NOW - dt.timedelta(days=2))
    assert later.exists()
    assert not later.filter(status=Incident.Status.RESOLVED).exists()


def test_nobody_is_told_of_old_news_and_the_log_is_not_backdated(history):
    assert not Notification.objects.exists()
    resolved = LedgerEntry.objects.filter(kind="incident.resolved")
    assert resolved.count() == history.incidents_resolved
    assert all(entry.at > NOW for entry in resolved)


def test_once_only(history, privacy_officer):
    events = TelemetryEvent.objects.count()

    assert seed_history(officer=privacy_officer, days=4, now=NOW) is None

    assert TelemetryEvent.objects.count() == events
