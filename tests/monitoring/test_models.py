"""The monitoring tables: append-only events, the Art. 33 clock."""

import datetime as dt

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from monitoring.models import Incident, TelemetryEvent, TelemetrySource, token_digest
from monitoring.telemetry.partitions import is_partitioned

pytestmark = pytest.mark.django_db


def _event(source) -> TelemetryEvent:
    now = timezone.now()
    return TelemetryEvent.objects.create(
        source=source,
        client_id="e1",
        occurred_at=now,
        received_at=now,
        kind="read",
        dataset_ref="nowhere",
        outcome="unknown_dataset",
    )


def test_events_are_append_only():
    source = TelemetrySource.objects.create(name="s", token_hash=token_digest("t"))
    event = _event(source)
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        TelemetryEvent.objects.filter(pk=event.pk).update(actor="x")
    if connection.vendor == "postgresql":
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE monitoring_telemetryevent SET actor = 'x'")


def test_regulator_clock_only_for_personal_data_and_by_the_assessment():
    now = timezone.now()
    due = now + dt.timedelta(hours=72)
    incident = Incident(opened_at=now, personal_data=False, basis="legal", regulator_due_at=due)
    assert incident.clock_state == "" and incident.regulator_hours_left is None
    incident.personal_data = True
    # Unlawful and not assessed: the deadline it would have, not a deadline yet.
    assert incident.clock_state == "if_breach" and incident.regulator_deadline is None
    assert incident.possible_regulator_deadline == due
    assert 71.9 <= incident.regulator_hours_left <= 72
    incident.breach_assessment = "breach_notifiable"
    assert incident.clock_state == "due" and incident.regulator_deadline == due
    incident.authority_notified_at = now
    assert incident.regulator_hours_left is None
    for finding in ("not_a_breach", "breach_not_notifiable"):
        incident.breach_assessment = finding
        assert incident.clock_state == "" and incident.regulator_deadline is None


def test_a_house_rule_incident_has_no_clock_until_found_notifiable():
    now = timezone.now()
    due = now + dt.timedelta(hours=72)
    incident = Incident(opened_at=now, personal_data=True, basis="house", regulator_due_at=due)
    assert incident.clock_state == "" and incident.possible_regulator_deadline is None
    assert incident.regulator_clocks == [] and incident.regulator_hours_left is None


def test_no_event_index_is_the_start_of_another():
    # Every index is written on every event; one that leads another answers nothing the
    # longer one does not.
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, TelemetryEvent._meta.db_table)
    indexes = [tuple(c["columns"]) for c in found.values() if c["index"] or c["unique"]]
    # On PostgreSQL's day partitions a unique key holds the partition key (occurred_at) too.
    key = (
        ("source_id", "client_id", "occurred_at")
        if is_partitioned()
        else ("source_id", "client_id")
    )
    assert key in indexes
    assert ("dataset_id", "occurred_at") in indexes
    for shorter in indexes:
        for longer in indexes:
            assert shorter == longer or longer[: len(shorter)] != shorter, (shorter, longer)


def test_a_source_with_events_cannot_be_deleted():
    source = TelemetrySource.objects.create(name="s", token_hash=token_digest("t"))
    _event(source)
    with pytest.raises(ProtectedError):
        source.delete()
    assert TelemetrySource.objects.filter(pk=source.pk).exists()
