"""Breach drills: a synthetic violation through the real ingest, incident, notice and
assessment path, marked as a drill everywhere, never counted, measured against the clock."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from catalog.errors import StateConflict
from governance.ledger.evidence import build_evidence
from governance.ledger.tree import ledger_sequence_all
from governance.models import LedgerEntry, Notification
from monitoring import selectors as queue
from monitoring.dashboards import selectors as reads
from monitoring.drills import evidence
from monitoring.drills.report import drill_report
from monitoring.drills.services import DRILL_ACTOR, drill_complete, drill_source, drill_start
from monitoring.incidents import services as incidents
from monitoring.models import (
    ActorFootprint,
    Drill,
    FlowDaily,
    Incident,
    StreamMessage,
    TelemetryEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

START = (timezone.now() - dt.timedelta(days=2)).replace(microsecond=0)


def hours(n: float) -> dt.datetime:
    return START + dt.timedelta(hours=n)


@pytest.fixture(autouse=True)
def empty_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "drills",
        }
    }
    cache.clear()


def _data(entry: LedgerEntry) -> dict:
    return json.loads(bytes(entry.payload))["data"]


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _start(officer, dataset, dest="aws:us-east-1", at=START) -> Drill:
    return drill_start(
        actor=officer,
        dataset=dataset,
        destination_region=dest,
        scenario="A nightly export sends customer data to Virginia",
        at=at,
    )


# --- Through the real path, marked as a drill ---------------------------------------------------


def test_a_drill_goes_through_ingest_and_opens_an_incident_marked_as_a_drill(
    privacy_officer, data_owner, eu_dataset
):
    WebhookEndpoint.objects.create(name="all", url="https://hooks.example.com/x", active=True)
    drill = _start(privacy_officer, eu_dataset)
    stored = TelemetryEvent.objects.get()
    assert (stored.source, stored.outcome, stored.actor) == (
        drill_source(),
        "violation",
        DRILL_ACTOR,
    )
    incident = Incident.objects.get()
    assert incident.drill == drill and incident.violations.get().event == stored
    assert incident.title.startswith("DRILL: ") and incident.basis == "legal"
    assert incident.opened_at == START
    assert incident.regulator_due_at == START + dt.timedelta(hours=72)  # GDPR Art. 33(1)
    ledger_sequence_all()  # judgements are queued; the sequencer puts them in the chain
    kinds = {e.kind: e for e in LedgerEntry.objects.filter(kind__startswith="drill.")}
    assert set(kinds) == {"drill.started", "drill.violations"}
    assert _data(kinds["drill.violations"])["drill"] == drill.pk
    assert f"drill:{drill.pk}" in kinds["drill.violations"].subject_list


def test_a_drills_notices_say_it_is_a_drill(privacy_officer, data_owner, eu_dataset):
    WebhookEndpoint.objects.create(name="all", url="https://hooks.example.com/x", active=True)
    drill = _start(privacy_officer, eu_dataset)
    incident = drill.incidents.get()
    opened = Notification.objects.filter(kind="monitoring.incident_opened")
    assert {n.recipient for n in opened} == {privacy_officer, data_owner}
    for notice in opened:
        assert notice.title.startswith(f"[DRILL] Incident #{incident.pk}")
        assert notice.body.startswith("THIS IS A BREACH DRILL")
    hook = WebhookDelivery.objects.get(kind="incident.opened").payload
    assert hook["text"].startswith("[DRILL] Locus incident") and "BREACH DRILL" in hook["text"]
    incidents.incident_assess(
        actor=privacy_officer,
        incident=incident,
        assessment="breach_notifiable",
        reasoning="Rehearsal: customer data reached a non-adequate country",
        at=hours(3),
    )
    found = Notification.objects.get(kind="monitoring.breach_notifiable", recipient=data_owner)
    assert found.title.startswith("[DRILL] ") and "BREACH DRILL" in found.body


def test_a_real_violation_never_joins_a_drills_incident(privacy_officer, eu_dataset, source):
    drill = _start(privacy_officer, eu_dataset)
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    real = Incident.objects.get(drill__isnull=True)
    assert drill.incidents.get().violation_count == 1 and real.violation_count == 1


def test_only_drills_report_through_the_drill_source(privacy_officer, eu_dataset, source):
    drill = _start(privacy_officer, eu_dataset)
    with pytest.raises(PermissionDenied):
        telemetry_ingest(source=drill_source(), items=[event(dest="aws:us-east-1")])
    with pytest.raises(PermissionDenied):
        telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")], drill=drill)


def test_a_destination_the_rules_allow_is_refused_and_nothing_kept(privacy_officer, eu_dataset):
    with pytest.raises(ValidationError) as refused:
        _start(privacy_officer, eu_dataset, dest="aws:eu-central-1")
    assert "destination_region" in refused.value.message_dict
    assert not Drill.objects.exists() and not Incident.objects.exists()
    assert not TelemetryEvent.objects.exists()


def test_only_privacy_officers_start_drills(data_owner, auditor, eu_dataset):
    for person in (data_owner, auditor):
        with pytest.raises(PermissionDenied):
            _start(person, eu_dataset)


# --- Never counted ----------------------------------------------------------------------------


def test_a_drill_is_left_out_of_every_real_figure(privacy_officer, executive, eu_dataset, source):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])  # one real incident
    flows = list(FlowDaily.objects.values_list("outcome", "events"))
    footprints = ActorFootprint.objects.count()
    streamed = StreamMessage.objects.count()
    drill = _start(privacy_officer, eu_dataset, at=timezone.now().replace(microsecond=0))
    drilled = drill.incidents.get()
    incidents.incident_acknowledge(actor=privacy_officer, incident=drilled)
    # The rollups, the anomaly baselines and the risk stream never heard of it.
    assert list(FlowDaily.objects.values_list("outcome", "events")) == flows
    assert ActorFootprint.objects.count() == footprints
    assert StreamMessage.objects.count() == streamed
    # The queue and the Risk page count the real incident only.
    assert queue.open_incident_count() == 1
    assert drilled not in queue.incident_queue(queue.EVERYTHING)
    filters = reads.Filters.last_days(7)
    counts = reads.open_incident_counts(filters)
    assert (counts["incidents"], counts["violations"]) == (1, 1)
    changes = reads.period_changes(filters)
    assert changes["incidents_opened"]["now"] == 1 and changes["violations"]["now"] == 1
    assert reads.outcome_totals(filters)["violation"] == 1
    data = browser(executive).get("/monitoring/executive/data").json()
    assert data["kpis"]["open_incidents"] == "1"
    officer_page = browser(privacy_officer).get("/monitoring/officer/").content.decode()
    assert "DRILL:" not in officer_page


def test_the_api_lists_real_incidents_and_reads_a_drills_by_its_id(
    privacy_officer, eu_dataset, source, api_client
):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    drilled = _start(privacy_officer, eu_dataset).incidents.get()
    client = api_client(privacy_officer)
    listed = client.get("/api/v1/incidents/").json()["results"]
    assert [i["drill"] for i in listed] == [None]
    one = client.get(f"/api/v1/incidents/{drilled.pk}/").json()
    assert one["drill"] == drilled.drill_id and one["title"].startswith("DRILL: ")
    violations = client.get("/api/v1/violations/").json()["results"]
    assert len(violations) == 1 and violations[0]["incident"] != drilled.pk
    acknowledged = client.post(f"/api/v1/incidents/{drilled.pk}/acknowledge/", {}, format="json")
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"


# --- The report -------------------------------------------------------------------------------


def _respond(officer, incident, *, ack, contain, assess) -> None:
    incidents.incident_acknowledge(actor=officer, incident=incident, at=hours(ack))
    incident.refresh_from_db()
    incidents.incident_contain(actor=officer, incident=incident, at=hours(contain))
    incident.refresh_from_db()
    incidents.incident_assess(
        actor=officer,
        incident=incident,
        assessment="breach_notifiable",
        reasoning="Rehearsal",
        at=hours(assess),
    )


def test_the_report_measures_each_step_against_the_regimes_clock(privacy_officer, eu_dataset):
    drill = _start(privacy_officer, eu_dataset)
    incident = drill.incidents.get()
    before = drill_report(drill, now=hours(73))
    assert before["steps"]["acknowledge"] == {"at": None, "hours": None, "within_clock": False}
    _respond(privacy_officer, incident, ack=1.5, contain=5, assess=80)
    report = drill_report(drill, now=hours(81))
    assert report["drill_marker"].startswith("BREACH DRILL")
    assert {name: s["hours"] for name, s in report["steps"].items()} == {
        "acknowledge": 1.5,
        "contain": 5.0,
        "assess": 80.0,
    }
    assert [s["within_clock"] for s in report["steps"].values()] == [True, True, False]
    assert report["met"] is False
    clock = report["clock"]
    assert (clock["hours"], clock["jurisdiction"]) == (72, "eu")
    assert clock["due_at"] == hours(72).isoformat()


def test_a_drill_within_the_clock_meets_it_and_completing_freezes_the_report(
    privacy_officer, eu_dataset
):
    drill = _start(privacy_officer, eu_dataset)
    _respond(privacy_officer, drill.incidents.get(), ack=0.25, contain=2, assess=30)
    drill = drill_complete(actor=privacy_officer, drill=drill, at=hours(31))
    assert drill.status == "completed" and drill.completed_at == hours(31)
    assert drill.report["met"] is True and drill.report["steps"]["assess"]["hours"] == 30.0
    assert drill.incidents.get().status == "resolved"
    entry = LedgerEntry.objects.get(kind="drill.completed")
    assert _data(entry)["report"]["met"] is True
    with pytest.raises(StateConflict):
        drill_complete(actor=privacy_officer, drill=drill, at=hours(32))


def test_a_drill_of_data_without_a_clock_in_hours_has_no_deadline(privacy_officer, other_dataset):
    drill = _start(privacy_officer, other_dataset, dest="aws:ap-southeast-2")
    report = drill_report(drill, now=hours(1))
    assert report["clock"] is None and report["met"] is None


# --- Evidence, API, pages ----------------------------------------------------------------------


def test_the_evidence_keeps_drills_apart_from_real_incidents(privacy_officer, eu_dataset, source):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    drill = _start(privacy_officer, eu_dataset)
    since, until = START - dt.timedelta(days=1), timezone.now() + dt.timedelta(hours=1)
    files = evidence.monitoring_records(since, until)
    summary = json.loads(files[evidence.INCIDENTS])
    drills = json.loads(files[evidence.DRILLS])["drills"]
    assert summary["opened"] == 1
    assert [d["drill"] for d in drills] == [drill.pk]
    assert drills[0]["incident"] == drill.incidents.get().pk
    package = zipfile.ZipFile(io.BytesIO(build_evidence(since, until)))
    assert evidence.DRILLS in package.namelist() and evidence.INCIDENTS in package.namelist()


def test_the_drills_api(privacy_officer, auditor, outsider, data_owner, eu_dataset, api_client):
    officer = api_client(privacy_officer)
    started = officer.post(
        "/api/v1/drills/",
        {
            "scenario": "Export to Virginia",
            "dataset": "eu-customers",
            "destination_region": "aws:us-east-1",
        },
        format="json",
    )
    assert started.status_code == 201, started.content
    body = started.json()
    assert body["drill"] is True and body["incident"] is not None
    assert set(body["report"]["steps"]) == {"acknowledge", "contain", "assess"}
    read = api_client(auditor).get("/api/v1/drills/")
    assert read.status_code == 200 and read.json()["results"][0]["id"] == body["id"]
    assert api_client(outsider).get("/api/v1/drills/").status_code == 403
    assert api_client(data_owner).get("/api/v1/drills/").status_code == 403
    refused = api_client(auditor).post(
        "/api/v1/drills/",
        {"scenario": "x", "dataset": "eu-customers", "destination_region": "aws:us-east-1"},
        format="json",
    )
    assert refused.status_code == 403
    bad = officer.post(
        "/api/v1/drills/",
        {"scenario": "x", "dataset": "nope", "destination_region": "aws:us-east-1"},
        format="json",
    )
    assert bad.status_code == 400 and "dataset" in bad.json()
    allowed = officer.post(
        "/api/v1/drills/",
        {"scenario": "x", "dataset": "eu-customers", "destination_region": "aws:eu-central-1"},
        format="json",
    )
    assert allowed.status_code == 400 and "destination_region" in allowed.json()
    done = officer.post(f"/api/v1/drills/{body['id']}/complete/")
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert officer.post(f"/api/v1/drills/{body['id']}/complete/").status_code == 409


def test_officers_start_a_drill_on_its_page_and_read_its_report(
    privacy_officer, auditor, outsider, eu_dataset
):
    page = browser(privacy_officer)
    assert "Start the drill" in page.get("/monitoring/drills/").content.decode()
    posted = page.post(
        "/monitoring/drills/",
        {
            "scenario": "Export to Virginia",
            "dataset": "eu-customers",
            "destination_region": "aws:us-east-1",
        },
    )
    drill = Drill.objects.get()
    assert posted.status_code == 302 and posted["Location"] == f"/monitoring/drills/{drill.pk}/"
    report = page.get(posted["Location"]).content.decode()
    assert "BREACH DRILL" in report and "72 hours" in report and "not yet" in report
    incident = drill.incidents.get()
    incident_page = page.get(f"/monitoring/incidents/{incident.pk}/").content.decode()
    assert "data-drill" in incident_page and f"drill #{drill.pk}" in incident_page
    refused = page.post(
        "/monitoring/drills/",
        {"scenario": "x", "dataset": "eu-customers", "destination_region": "aws:eu-central-1"},
    )
    assert refused.status_code == 400 and "a drill needs a destination" in refused.content.decode()
    as_auditor = browser(auditor).get("/monitoring/drills/").content.decode()
    assert f"DRILL #{drill.pk}" in as_auditor and "Start the drill" not in as_auditor
    assert browser(auditor).post("/monitoring/drills/", {}).status_code == 403
    assert browser(outsider).get("/monitoring/drills/").status_code == 403
    completed = page.post(f"/monitoring/drills/{drill.pk}/complete")
    assert completed.status_code == 302
    drill.refresh_from_db()
    assert drill.status == "completed"
