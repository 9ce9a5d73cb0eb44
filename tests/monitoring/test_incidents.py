"""Incidents: grouping, transitions (CAS, ledger, stream), the Art. 33 clock."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from governance.ledger.tree import ledger_sequence_all
from governance.models import LedgerEntry, Responsibility
from monitoring.incidents import services
from monitoring.models import Incident, StreamMessage
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db


def _abroad(at=None, dest="aws:us-east-1", **extra):
    return event(dest=dest, at=at, **extra)


def test_violations_of_one_dataset_and_destination_make_one_incident(source, eu_dataset):
    now = timezone.now()
    telemetry_ingest(
        source=source,
        items=[_abroad(now - dt.timedelta(minutes=m), bytes=10) for m in (30, 20, 10)],
    )
    telemetry_ingest(source=source, items=[_abroad(now - dt.timedelta(minutes=1), bytes=10)])
    telemetry_ingest(
        source=source, items=[_abroad(now - dt.timedelta(minutes=1), dest="aws:ap-south-1")]
    )
    first, second = Incident.objects.order_by("id")
    assert (first.violation_count, first.bytes, first.destination_region) == (
        4,
        40,
        "aws:us-east-1",
    )
    assert second.destination_region == "aws:ap-south-1" and second.violation_count == 1
    # EU personal data in the US with no mechanism: unlawful, so GDPR's clock shows until assessed.
    assert first.personal_data and first.basis == "legal" and first.clock_state == "if_breach"
    assert first.possible_regulator_deadline == first.opened_at + dt.timedelta(hours=72)
    assert sorted(first.jurisdictions.values_list("code", flat=True)) == ["eu", "us-va"]
    ledger_sequence_all()  # judgements are queued; the sequencer puts them in the chain
    assert LedgerEntry.objects.filter(kind="telemetry.violations").count() == 3


# Grouping over time (one unresolved incident per group, reopening a resolved one within
# TELEMETRY_INCIDENT_REOPEN_HOURS): tests/monitoring/test_incident_grouping.py.


def test_transitions_move_forward_with_ledger_and_stream(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[_abroad()])
    incident = Incident.objects.get()
    before = StreamMessage.objects.count()
    incident = services.incident_acknowledge(actor=privacy_officer, incident=incident)
    assert incident.status == "acknowledged" and incident.owner == privacy_officer
    incident = services.incident_contain(
        actor=privacy_officer, incident=incident, note="job stopped"
    )
    assert incident.playbook["contain"]["by"] == privacy_officer.username
    incident = services.incident_playbook_step(
        actor=privacy_officer, incident=incident, step="notify"
    )
    assert incident.authority_notified_at is not None and incident.regulator_hours_left is None
    with pytest.raises(ValidationError):
        services.incident_resolve(actor=privacy_officer, incident=incident, note="")
    incident = services.incident_resolve(actor=privacy_officer, incident=incident, note="fixed")
    with pytest.raises(ValidationError):
        services.incident_acknowledge(actor=privacy_officer, incident=incident)
    kinds = list(
        LedgerEntry.objects.filter(kind__startswith="incident.")
        .order_by("sequence")
        .values_list("kind", flat=True)
    )
    assert kinds == [
        "incident.acknowledged",
        "incident.contained",
        "incident.playbook",
        "incident.resolved",
    ]
    assert StreamMessage.objects.count() == before + 4
    assert StreamMessage.objects.order_by("-seq").first().payload["status"] == "resolved"


def test_a_stale_incident_is_refused(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[_abroad()])
    stale = Incident.objects.get()
    services.incident_acknowledge(actor=privacy_officer, incident=Incident.objects.get())
    with pytest.raises(ValidationError, match="changed meanwhile"):
        services.incident_contain(actor=privacy_officer, incident=stale)
    # A batch that updates the incident also invalidates what a person read before it.
    fresh = Incident.objects.get()
    telemetry_ingest(source=source, items=[_abroad()])
    with pytest.raises(ValidationError, match="changed meanwhile"):
        services.incident_contain(actor=privacy_officer, incident=fresh)


def test_only_officers_of_the_jurisdictions_handle_it(
    source, eu_dataset, privacy_officer, data_owner, executive
):
    telemetry_ingest(source=source, items=[_abroad(dest="aws:ap-south-1")])
    incident = Incident.objects.get()
    for person in (data_owner, executive):
        with pytest.raises(PermissionDenied):
            services.incident_acknowledge(actor=person, incident=incident)
    Responsibility.objects.create(user=privacy_officer, jurisdiction_id="br")
    with pytest.raises(PermissionDenied, match="outside your jurisdictions"):
        services.incident_acknowledge(actor=privacy_officer, incident=incident)
    Responsibility.objects.create(user=privacy_officer, jurisdiction_id="in")
    assert (
        services.incident_acknowledge(actor=privacy_officer, incident=incident).status
        == "acknowledged"
    )


def test_assign_to_the_dataset_owner_tells_them(
    source, eu_dataset, privacy_officer, data_owner, engineer
):
    telemetry_ingest(source=source, items=[_abroad()])
    incident = Incident.objects.get()
    with pytest.raises(ValidationError):
        services.incident_assign(actor=privacy_officer, incident=incident, owner=engineer)
    incident = services.incident_assign(actor=privacy_officer, incident=incident, owner=data_owner)
    assert incident.owner == data_owner
    assert data_owner.notifications.filter(kind="monitoring.incident_assigned").exists()


def test_severity_follows_the_data(source, privacy_officer, data_owner):
    from tests.factories import make_dataset

    make_dataset(
        owner=data_owner, slug="public-stats", sensitivity="public", storage_region="aws:eu-west-1"
    )
    make_dataset(
        owner=data_owner, slug="vault", sensitivity="restricted", storage_region="aws:eu-west-1"
    )
    telemetry_ingest(
        source=source,
        items=[_abroad(dataset="public-stats"), _abroad(dataset="vault")],
    )
    # Neither holds personal data: only house rules are broken, never critical.
    assert dict(Incident.objects.values_list("dataset_slug", "severity")) == {
        "public-stats": "low",
        "vault": "medium",
    }
    assert not Incident.objects.get(dataset_slug="public-stats").personal_data
