"""Law or house rule, severity, the breach assessment and the regulator clocks of the data's own
law (not GDPR for everyone)."""

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from catalog.models import Sensitivity
from governance.models import LedgerEntry, Notification, Responsibility
from governance.policy.facts import DatasetFacts
from monitoring.incidents import notices, services, violations
from monitoring.incidents.severity import SEVERITY_TABLE, severity_of
from monitoring.models import Basis, Incident, StreamMessage, Violation
from monitoring.telemetry.ingest import telemetry_ingest
from tests.factories import make_dataset
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

SPECIAL = frozenset({"health", "biometric"})


def _facts(*, personal: bool, sensitivity: str = "internal", categories=()) -> DatasetFacts:
    return DatasetFacts(
        id=1,
        slug="x",
        uri="",
        storage_region="aws:eu-west-1",
        storage_jurisdiction="eu",
        sensitivity=sensitivity,
        personal=personal,
        categories=frozenset(categories),
        subject_jurisdictions=frozenset(),
        allowed_regions=frozenset(),
        rule_group=frozenset(),
    )


# --- Severity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basis", "facts", "expected"),
    [
        (Basis.LEGAL, _facts(personal=True, categories={"health"}), "critical"),
        (Basis.LEGAL, _facts(personal=True, sensitivity=Sensitivity.RESTRICTED), "critical"),
        (Basis.LEGAL, _facts(personal=True, categories={"contact"}), "high"),
        (Basis.HOUSE, _facts(personal=True, categories={"health"}), "high"),
        (Basis.HOUSE, _facts(personal=True, sensitivity=Sensitivity.CONFIDENTIAL), "medium"),
        (Basis.HOUSE, _facts(personal=False, sensitivity=Sensitivity.RESTRICTED), "medium"),
        (Basis.HOUSE, _facts(personal=False, sensitivity=Sensitivity.CONFIDENTIAL), "medium"),
        (Basis.HOUSE, _facts(personal=False, sensitivity=Sensitivity.INTERNAL), "low"),
        (Basis.HOUSE, _facts(personal=False, sensitivity=Sensitivity.PUBLIC), "low"),
    ],
)
def test_severity_table(basis, facts, expected):
    assert severity_of(basis, facts, SPECIAL) == expected


def test_a_house_rule_deviation_is_never_critical_nor_above_medium_without_personal_data():
    house = {cls: sev for (basis, cls), sev in SEVERITY_TABLE.items() if basis == Basis.HOUSE}
    assert "critical" not in house.values()
    assert house["guarded"] in ("low", "medium") and house["plain"] in ("low", "medium")
    assert len(SEVERITY_TABLE) == 8  # every basis x data class, no gaps


# --- Law or house rule, as ingest records it ---------------------------------------------------


@pytest.fixture
def house_only(data_owner):
    """EU personal data whose declared regions leave out Frankfurt: processing there is lawful
    (inside the EU) but against the house rules."""
    return make_dataset(
        owner=data_owner,
        slug="eu-leads",
        storage_region="aws:eu-west-1",
        lawful_basis="consent",
        personal_data_categories=["contact"],
    )


@pytest.fixture
def indian(data_owner):
    return make_dataset(
        owner=data_owner,
        slug="in-customers",
        storage_region="aws:ap-south-1",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["in"],
    )


@pytest.fixture
def canadian(data_owner):
    return make_dataset(
        owner=data_owner,
        slug="ca-customers",
        storage_region="aws:ca-central-1",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["ca"],
    )


def test_a_house_rule_violation_opens_no_regulator_clock(source, house_only):
    result = telemetry_ingest(source=source, items=[event("eu-leads", dest="aws:eu-central-1")])
    assert result.violations_by_basis == {"house": 1}
    incident = Incident.objects.get()
    assert Violation.objects.get().basis == "house"
    assert (incident.basis, incident.personal_data, incident.severity) == ("house", True, "medium")
    assert incident.breach_assessment == "not_assessed"
    assert incident.clock_state == ""
    assert incident.regulator_deadline is None and incident.possible_regulator_deadline is None
    assert incident.regulator_hours_left is None and incident.regulator_clocks == []
    text = notices.clock_text(incident)
    assert "House rules only" in text and "no regulator clock" in text and "GDPR" not in text
    body = Notification.objects.filter(kind="monitoring.incident_opened").first().body
    assert "not a personal-data breach by itself" in body


def test_an_unlawful_transfer_is_legal_and_shows_the_clock_it_would_have(
    source, eu_dataset, privacy_officer, monkeypatch
):
    result = telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    assert result.violations_by_basis == {"legal": 1}
    incident = Incident.objects.get()
    assert (incident.basis, incident.severity) == ("legal", "high")
    assert Violation.objects.get().basis == "legal"
    assert incident.clock_state == "if_breach" and incident.regulator_deadline is None
    due = incident.opened_at + dt.timedelta(hours=72)
    assert incident.possible_regulator_deadline == due
    monkeypatch.setattr(timezone, "now", lambda: incident.opened_at + dt.timedelta(hours=70))
    assert incident.regulator_hours_left == 2.0
    assert [c["jurisdiction"] for c in incident.regulator_clocks] == ["eu"]
    assert "If it is a notifiable one: GDPR (EU/EEA)" in notices.clock_text(incident)


def test_a_legal_violation_makes_its_incident_legal_and_worse():
    incident = Incident(
        basis="house",
        severity="medium",
        violation_count=1,
        first_violation_at=timezone.now(),
        last_violation_at=timezone.now(),
    )
    later = SimpleNamespace(occurred_at=timezone.now(), bytes=1, records=1, basis="legal")
    violations._add_violation(incident, later, "high")
    assert (incident.basis, incident.severity, incident.violation_count) == ("legal", "high", 2)
    house = SimpleNamespace(occurred_at=timezone.now(), bytes=1, records=1, basis="house")
    violations._add_violation(incident, house, "medium")
    assert (incident.basis, incident.severity) == ("legal", "high")  # once legal, stays legal


def test_a_special_category_unlawful_transfer_is_critical(source, data_owner):
    make_dataset(
        owner=data_owner,
        slug="eu-health",
        storage_region="aws:eu-west-1",
        lawful_basis="consent",
        personal_data_categories=["health"],
    )
    telemetry_ingest(source=source, items=[event("eu-health", dest="aws:us-east-1")])
    incident = Incident.objects.get()
    assert (incident.basis, incident.severity) == ("legal", "critical")


# --- The breach assessment ---------------------------------------------------------------------


def _house_incident(source, slug: str, dest: str) -> Incident:
    telemetry_ingest(source=source, items=[event(slug, dest=dest)])
    return Incident.objects.get(dataset_slug=slug)


def test_a_confirmed_breach_of_indian_data_carries_the_dpdp_clock(
    source, indian, privacy_officer, data_owner
):
    incident = _house_incident(source, "in-customers", "aws:us-east-1")
    assert incident.clock_state == ""  # India's law allows the transfer: a house rule only
    [clock] = incident.breach_clocks
    assert (clock["jurisdiction"], clock["hours"]) == ("in", 72)
    assert "DPDP Rules 2025 Rule 7" in clock["citation"]
    incident = services.incident_assess(
        actor=privacy_officer,
        incident=incident,
        assessment="breach_notifiable",
        reasoning="The bucket was public: records of Indian customers were exposed",
    )
    assert incident.clock_state == "due"
    assert incident.regulator_deadline == incident.opened_at + dt.timedelta(hours=72)
    assert [c["law"] for c in incident.regulator_clocks] == ["DPDP Act (India)"]
    notice = Notification.objects.get(kind="monitoring.breach_notifiable", recipient=data_owner)
    assert "DPDP Act (India)" in notice.body and "DPDP Rules 2025 Rule 7" in notice.body
    assert "GDPR" not in notice.body


def test_a_confirmed_breach_of_canadian_data_carries_pipedas_clock(
    source, canadian, privacy_officer, data_owner
):
    incident = _house_incident(source, "ca-customers", "aws:eu-west-1")
    incident = services.incident_assess(
        actor=privacy_officer,
        incident=incident,
        assessment="breach_notifiable",
        reasoning="Real risk of significant harm (PIPEDA s.10.1(7))",
    )
    assert incident.clock_state == "due"
    [clock] = incident.regulator_clocks
    assert (clock["law"], clock["hours"]) == ("PIPEDA (Canada)", None)
    assert clock["deadline"].startswith("as soon as feasible")
    # No number of hours in the law: no numeric deadline, its words instead.
    assert incident.regulator_deadline is None and incident.regulator_hours_left is None
    notice = Notification.objects.get(kind="monitoring.breach_notifiable", recipient=data_owner)
    assert "PIPEDA (Canada): as soon as feasible" in notice.body
    assert "PIPEDA s.10.1" in notice.body and "GDPR" not in notice.body


def test_assessed_not_a_breach_stops_the_clock(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = services.incident_assess(
        actor=privacy_officer,
        incident=Incident.objects.get(),
        assessment="not_a_breach",
        reasoning="SCCs were signed; the grant was not yet recorded",
    )
    assert incident.clock_state == "" and incident.possible_regulator_deadline is None
    assert incident.breach_assessed_by == privacy_officer
    assert incident.playbook["assess"]["by"] == privacy_officer.username
    assert not Notification.objects.filter(kind="monitoring.breach_notifiable").exists()


def test_assessment_is_on_the_ledger_and_the_stream(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    before = StreamMessage.objects.count()
    incident = services.incident_assess(
        actor=privacy_officer,
        incident=Incident.objects.get(),
        assessment="breach_not_notifiable",
        reasoning="Encrypted at rest; keys not exposed",
    )
    entry = LedgerEntry.objects.get(kind="incident.assessed")
    assert f"incident:{incident.pk}" in entry.subject_list
    data = json.loads(bytes(entry.payload))["data"]
    assert data["assessment"] == "breach_not_notifiable"
    assert data["previous"] == "not_assessed"
    assert data["reasoning"] == "Encrypted at rest; keys not exposed"
    assert data["regulator_clocks"] == ["eu"]
    message = StreamMessage.objects.order_by("-seq").first()
    assert StreamMessage.objects.count() == before + 1
    assert message.payload["breach_assessment"] == "breach_not_notifiable"
    assert message.payload["version"] == incident.version


def test_assessment_needs_a_finding_reasoning_and_personal_data(
    source, eu_dataset, other_dataset, privacy_officer
):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = Incident.objects.get()
    with pytest.raises(ValidationError, match="reasoning"):
        services.incident_assess(
            actor=privacy_officer, incident=incident, assessment="not_a_breach", reasoning=" "
        )
    with pytest.raises(ValidationError):
        services.incident_assess(
            actor=privacy_officer, incident=incident, assessment="not_assessed", reasoning="x"
        )
    telemetry_ingest(source=source, items=[event("us-metrics", dest="aws:eu-west-1")])
    metrics = Incident.objects.get(dataset_slug="us-metrics")
    with pytest.raises(ValidationError, match="personal-data breach"):
        services.incident_assess(
            actor=privacy_officer, incident=metrics, assessment="breach_notifiable", reasoning="x"
        )


def test_assessment_permissions(source, eu_dataset, privacy_officer, data_owner, executive):
    telemetry_ingest(source=source, items=[event(dest="aws:ap-south-1")])
    incident = Incident.objects.get()
    for person in (data_owner, executive):
        with pytest.raises(PermissionDenied):
            services.incident_assess(
                actor=person, incident=incident, assessment="not_a_breach", reasoning="x"
            )
    Responsibility.objects.create(user=privacy_officer, jurisdiction_id="br")
    with pytest.raises(PermissionDenied, match="outside your jurisdictions"):
        services.incident_assess(
            actor=privacy_officer, incident=incident, assessment="not_a_breach", reasoning="x"
        )
    assert not LedgerEntry.objects.filter(kind="incident.assessed").exists()


def test_a_stale_assessment_is_refused(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    stale = Incident.objects.get()
    services.incident_acknowledge(actor=privacy_officer, incident=Incident.objects.get())
    with pytest.raises(ValidationError, match="changed meanwhile"):
        services.incident_assess(
            actor=privacy_officer, incident=stale, assessment="not_a_breach", reasoning="x"
        )
    resolved = services.incident_resolve(
        actor=privacy_officer, incident=Incident.objects.get(), note="moved back"
    )
    with pytest.raises(ValidationError, match="not assessed again"):
        services.incident_assess(
            actor=privacy_officer, incident=resolved, assessment="not_a_breach", reasoning="x"
        )


def test_the_api_assesses_with_cas_409_on_a_stale_version(
    api_client, source, eu_dataset, privacy_officer, data_owner
):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = Incident.objects.get()
    url = f"/api/v1/incidents/{incident.pk}/assess/"
    body = {"assessment": "breach_notifiable", "reasoning": "Exposed to a vendor without SCCs"}
    assert api_client(data_owner).post(url, body, format="json").status_code == 403
    officer = api_client(privacy_officer)
    assert officer.post(url, {"assessment": "maybe", "reasoning": "x"}).status_code == 400
    # A batch of violations changes the incident between the read and the write.
    stale = Incident.objects.get()
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    refused = services.incident_assess
    with pytest.raises(ValidationError, match="changed meanwhile"):
        refused(actor=privacy_officer, incident=stale, **body)
    answer = officer.post(url, body, format="json")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["breach_assessment"] == "breach_notifiable" and data["clock_state"] == "due"
    assert data["breach_assessed_by"] == privacy_officer.username
    assert data["regulator_deadline"] is not None
    assert data["regulator_clocks"][0]["law"] == "GDPR (EU/EEA)"
    assert data["basis"] == "legal"
    listed = officer.get("/api/v1/violations/", {"basis": "legal"}).json()["results"]
    assert len(listed) == 2 and {v["basis"] for v in listed} == {"legal"}
    assert officer.get("/api/v1/violations/", {"basis": "house"}).json()["results"] == []


def test_the_queue_assesses_and_shows_the_clock(client, source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = Incident.objects.get()
    client.force_login(privacy_officer)
    page = client.get("/monitoring/officer/").content.decode()
    assert "if a breach:" in page and "GDPR (EU/EEA) 72 h" in page
    answer = client.post(
        f"/monitoring/incidents/{incident.pk}/assess",
        {"assessment": "not_a_breach", "reasoning": "Pseudonymised test data"},
    )
    assert answer.status_code == 302
    assert Incident.objects.get().breach_assessment == "not_a_breach"
    answer = client.post(f"/monitoring/incidents/{incident.pk}/assess", {"assessment": "x"})
    assert Incident.objects.get().breach_assessment == "not_a_breach"


def test_a_possible_breach_resolved_unassessed_says_so_instead_of_counting_on(
    client, source, eu_dataset, privacy_officer
):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = Incident.objects.get()
    client.force_login(privacy_officer)
    url = f"/monitoring/incidents/{incident.pk}/"
    assert "if a breach:" in client.get(url).content.decode()

    services.incident_resolve(actor=privacy_officer, incident=incident, note="Copies deleted")

    page = client.get(url).content.decode()
    assert "resolved without a breach assessment" in page
    assert "if a breach:" not in page
