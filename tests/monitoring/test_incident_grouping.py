"""Grouping: one unresolved incident per dataset, destination and rule; a resolved one reopens
within TELEMETRY_INCIDENT_REOPEN_HOURS, and a new one opens after it. Time is injected (the
ingest's `now`), never waited for."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from catalog.models import Country
from governance.ledger.tree import ledger_sequence_all
from governance.models import LedgerEntry
from governance.policy.rules import rule_create
from monitoring.incidents import services
from monitoring.models import Incident, IncidentEvent
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

US = "aws:us-east-1"


def _send(source, at, dest=US, **extra):
    """One violation of eu-customers at `at`, ingested as if it were then."""
    telemetry_ingest(
        source=source,
        items=[event(dest=dest, at=at - dt.timedelta(seconds=30), **extra)],
        now=at,
    )


def test_the_same_dataset_destination_and_rule_add_to_one_open_incident(source, eu_dataset):
    start = timezone.now() - dt.timedelta(hours=12)
    for hours in (0, 3, 7, 11):  # hours apart: the open incident takes them all
        _send(source, start + dt.timedelta(hours=hours))
    incident = Incident.objects.get()
    assert incident.violation_count == 4
    assert incident.first_violation_at == start - dt.timedelta(seconds=30)
    assert incident.last_violation_at == start + dt.timedelta(hours=11, seconds=-30)
    assert incident.rule == incident.violations.first().rule
    _send(source, start + dt.timedelta(hours=11, minutes=1), dest="aws:ap-south-1")
    assert Incident.objects.count() == 2  # another destination is another group


def test_another_rule_for_the_same_dataset_and_destination_is_another_incident(
    source, other_dataset, privacy_officer
):
    now = timezone.now()
    telemetry_ingest(source=source, items=[event("us-metrics", dest="aws:eu-west-1")], now=now)
    first = Incident.objects.get()
    assert first.rule == "builtin:dataset-allowed-regions"
    rule = rule_create(
        actor=privacy_officer,
        regions=[],
        countries=[Country.objects.get(code="IE")],
        name="metrics never go to Ireland",
        dataset=other_dataset,
        effect="deny",
        priority=500,
    )
    telemetry_ingest(source=source, items=[event("us-metrics", dest="aws:eu-west-1")], now=now)
    second = Incident.objects.exclude(pk=first.pk).get()
    assert second.rule == f"rule:{rule.pk}" and second.basis == "house"
    assert second.rule_kind == "house"
    assert second.rule_label == "officers' rule 'metrics never go to Ireland'"
    assert second.title == (
        "us-metrics reached aws:eu-west-1 against officers' rule 'metrics never go to Ireland'"
    )
    assert first.rule_label == "the dataset's declared regions"
    assert Incident.objects.get(pk=first.pk).violation_count == 1


def test_a_legal_incident_names_the_article(source, eu_dataset):
    telemetry_ingest(source=source, items=[event(dest="aws:ap-south-1")])  # India: no adequacy
    incident = Incident.objects.get()
    assert incident.basis == "legal" and incident.rule_kind == "law"
    legal = incident.legal_verdict
    assert (legal["regime"], legal["rule"], legal["outcome"]) == (
        "eu",
        "law:eu:transfer",
        "needs_mechanism",
    )
    assert legal["citation"] == "GDPR Arts. 44-49 (Chapter V)"
    assert incident.rule_label == legal["citation"]
    assert incident.house_verdict["rule"] == "builtin:dataset-allowed-regions"
    assert legal["citation"] in incident.title


def test_a_resolved_incident_reopens_within_the_window(
    source, eu_dataset, privacy_officer, settings
):
    settings.TELEMETRY_INCIDENT_REOPEN_HOURS = 24
    start = timezone.now() - dt.timedelta(hours=30)
    _send(source, start)
    incident = Incident.objects.get()
    services.incident_resolve(actor=privacy_officer, incident=incident, note="pipeline moved")
    Incident.objects.filter(pk=incident.pk).update(resolved_at=start + dt.timedelta(hours=1))
    later = start + dt.timedelta(hours=24, minutes=59)  # 23 h 59 min after it was resolved
    _send(source, later)
    incident.refresh_from_db()
    assert Incident.objects.count() == 1
    assert (incident.status, incident.violation_count) == ("open", 2)
    assert incident.resolved_at is None and incident.reopened_at == later
    assert incident.resolution == "pipeline moved"  # kept: the timeline says what came next
    reopened = IncidentEvent.objects.get(incident=incident, kind="reopened")
    assert reopened.note == "A new violation came 23 h 59 min after it was resolved"
    ledger_sequence_all()  # judgements are queued; the sequencer puts them in the chain
    entry = LedgerEntry.objects.filter(kind="telemetry.violations").order_by("-sequence")[0]
    assert json.loads(bytes(entry.payload))["data"]["incidents_reopened"] == [incident.pk]
    # Reopened, it is handled again like any open incident.
    services.incident_acknowledge(actor=privacy_officer, incident=incident)


def test_after_the_window_a_new_incident_opens(source, eu_dataset, privacy_officer, settings):
    settings.TELEMETRY_INCIDENT_REOPEN_HOURS = 24
    start = timezone.now() - dt.timedelta(hours=30)
    _send(source, start)
    incident = Incident.objects.get()
    services.incident_resolve(actor=privacy_officer, incident=incident, note="pipeline moved")
    Incident.objects.filter(pk=incident.pk).update(resolved_at=start + dt.timedelta(hours=1))
    _send(source, start + dt.timedelta(hours=25, minutes=1))  # 24 h 1 min after
    assert Incident.objects.count() == 2
    assert Incident.objects.get(pk=incident.pk).status == "resolved"
    fresh = Incident.objects.exclude(pk=incident.pk).get()
    assert (fresh.status, fresh.violation_count) == ("open", 1)
    assert not IncidentEvent.objects.filter(kind="reopened").exists()


def test_one_batch_with_several_groups_and_a_reopening(source, eu_dataset, privacy_officer):
    now = timezone.now()
    telemetry_ingest(source=source, items=[event(dest=US)], now=now)
    resolved = Incident.objects.get()
    services.incident_resolve(actor=privacy_officer, incident=resolved, note="stopped")
    later = now + dt.timedelta(minutes=10)
    items = [event(dest=US, at=later - dt.timedelta(seconds=s)) for s in (50, 40)]
    items += [event(dest="aws:ap-south-1", at=later - dt.timedelta(seconds=30))]
    telemetry_ingest(source=source, items=items, now=later)
    counts = dict(Incident.objects.values_list("destination_region", "violation_count"))
    assert counts == {US: 3, "aws:ap-south-1": 1}
    assert Incident.objects.get(pk=resolved.pk).status == "open"
