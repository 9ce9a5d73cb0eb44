"""The monitoring API: ingest (401, 413, NDJSON), sources, who sees which incidents."""

import json

import pytest
from rest_framework.test import APIClient

from governance.ledger import signing
from governance.ledger.tree import inclusion_proof, ledger_sequence_all
from governance.models import LedgerEntry, Responsibility
from locus_client.proofcheck import receipt_problems
from monitoring.models import Incident, TelemetryEvent
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

EVENTS_URL = "/api/v1/telemetry/events"


def test_ingest_answers_counts_and_item_errors(telemetry_client, eu_dataset):
    body = [event(), event(dest="aws:us-east-1"), event(kind="teleport")]
    response = telemetry_client.post(EVENTS_URL, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["received"], data["stored"], data["rejected"], data["violations"]) == (3, 2, 1, 1)
    assert data["errors"] == [
        {
            "index": 2,
            "id": body[2]["id"],
            "errors": {"kind": "One of access, read, training_step, transfer, write."},
        }
    ]
    again = telemetry_client.post(EVENTS_URL, body, format="json").json()
    assert (again["stored"], again["duplicates"]) == (0, 2)


def test_an_ingest_answer_carries_the_receipt_of_its_violations_entry(telemetry_client, eu_dataset):
    quiet = telemetry_client.post(EVENTS_URL, [event()], format="json").json()
    assert quiet["violations"] == 0 and quiet["receipt"] is None  # no violation: no entry

    answer = telemetry_client.post(EVENTS_URL, [event(dest="aws:us-east-1")], format="json")
    receipt = answer.json()["receipt"]
    assert answer.status_code == 200 and answer.json()["violations"] == 1
    assert set(receipt) == {
        "leaf_hash",
        "at",
        "merge_delay",
        "algorithm",
        "key_id",
        "public_key",
        "signature",
    }
    ledger_sequence_all()
    proof = inclusion_proof(receipt["leaf_hash"])
    assert receipt_problems(receipt, proof, proof["tree_head"], {signing.public_key_b64()}) == []
    entry = LedgerEntry.objects.get(sequence=proof["leaf_index"] + 1)
    assert entry.kind == "telemetry.violations"


def test_ingest_takes_ndjson_and_reports_bad_lines(telemetry_client, eu_dataset):
    lines = [json.dumps(event()), "{not json", json.dumps(event(dest="aws:us-east-1"))]
    response = telemetry_client.post(
        EVENTS_URL, "\n".join(lines), content_type="application/x-ndjson"
    )
    assert response.status_code == 200
    data = response.json()
    assert data["stored"] == 2
    assert data["errors"][0]["index"] == 1
    assert "Not valid JSON" in data["errors"][0]["errors"]["non_field_errors"]


@pytest.mark.parametrize("bad", ["10" * 20, "NaN"])
def test_a_number_no_event_takes_is_that_events_error(telemetry_client, eu_dataset, bad):
    # A number beyond 64 bits or NaN is not read by the fast parser; the array is then read
    # again, and only the event that carries it is refused.
    good, odd = event(), event(bytes=777)
    body = json.dumps([good, odd]).replace('"bytes": 777', f'"bytes": {bad}')
    response = telemetry_client.post(EVENTS_URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["stored"], data["rejected"]) == (1, 1)
    assert data["errors"] == [
        {"index": 1, "id": odd["id"], "errors": {"bytes": "Must be a whole number, zero or more."}}
    ]
    assert list(TelemetryEvent.objects.values_list("client_id", flat=True)) == [good["id"]]


def test_a_body_that_is_not_utf8_is_read_with_replacements(telemetry_client, eu_dataset):
    body = json.dumps([event(actor="cafX")]).encode().replace(b"cafX", b"caf\xe9")  # Latin-1
    response = telemetry_client.post(EVENTS_URL, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert TelemetryEvent.objects.get().actor == "caf\ufffd"


@pytest.mark.parametrize(
    "shape", ["array", "wrapped", "one object", "lines as JSON", "lines as NDJSON"]
)
def test_each_body_shape_is_read(telemetry_client, eu_dataset, shape):
    a, b = event(), event(dest="aws:us-east-1")
    body, content_type = {
        "array": (json.dumps([a, b]), "application/json"),
        "wrapped": (json.dumps({"events": [a, b]}), "application/json"),
        "one object": (json.dumps(a), "application/json"),
        "lines as JSON": (f"{json.dumps(a)}\n{json.dumps(b)}\n", "application/json"),
        "lines as NDJSON": (f"{json.dumps(a)}\n{json.dumps(b)}\n", "application/x-ndjson"),
    }[shape]
    response = telemetry_client.post(EVENTS_URL, body, content_type=content_type)
    assert response.status_code == 200, response.content
    sent = [a] if shape == "one object" else [a, b]
    assert response.json()["stored"] == len(sent)
    assert set(TelemetryEvent.objects.values_list("client_id", flat=True)) == {
        e["id"] for e in sent
    }


def test_a_broken_json_array_is_a_400(telemetry_client):
    response = telemetry_client.post(EVENTS_URL, '[{"id": 1', content_type="application/json")
    assert response.status_code == 400
    assert "events" in response.json()


@pytest.mark.parametrize("header", [None, "Bearer nope", "Token abc", "Bearer"])
def test_unknown_tokens_get_401(header, db):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(EVENTS_URL, [event()], format="json")
    assert response.status_code == 401
    assert TelemetryEvent.objects.count() == 0


def test_a_revoked_or_rotated_token_gets_401(source_and_token, privacy_officer, eu_dataset):
    source, token = source_and_token
    client = APIClient()
    client.force_authenticate(privacy_officer)
    rotated = client.post(f"/api/v1/telemetry/sources/{source.pk}/rotate/")
    assert rotated.status_code == 200
    new_token = rotated.json()["token"]
    old = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert old.post(EVENTS_URL, [event()], format="json").status_code == 401
    new = APIClient(HTTP_AUTHORIZATION=f"Bearer {new_token}")
    assert new.post(EVENTS_URL, [event()], format="json").status_code == 200
    assert (
        client.post(f"/api/v1/telemetry/sources/{source.pk}/revoke/", {"reason": "x"}).status_code
        == 200
    )
    assert new.post(EVENTS_URL, [event()], format="json").status_code == 401


def test_too_many_events_or_bytes_get_413(telemetry_client, settings, eu_dataset):
    settings.TELEMETRY_MAX_EVENTS = 3
    response = telemetry_client.post(EVENTS_URL, [event() for _ in range(4)], format="json")
    assert response.status_code == 413
    settings.TELEMETRY_MAX_BYTES = 200
    response = telemetry_client.post(EVENTS_URL, [event(), event()], format="json")
    assert response.status_code == 413
    assert TelemetryEvent.objects.count() == 0


def test_sources_are_for_privacy_officers(
    api_client, privacy_officer, engineer, outsider, eu_dataset
):
    body = {"name": "lake-audit", "datasets": ["eu-customers"], "regions": ["aws:eu-west-1"]}
    for person in (engineer, outsider):
        assert (
            api_client(person).post("/api/v1/telemetry/sources/", body, format="json").status_code
            == 403
        )
    response = api_client(privacy_officer).post("/api/v1/telemetry/sources/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["token"].startswith("lts_") and data["token_prefix"] == data["token"][:12]
    listed = api_client(privacy_officer).get("/api/v1/telemetry/sources/").json()["results"]
    assert "token" not in listed[0] and listed[0]["datasets"] == ["eu-customers"]


@pytest.fixture
def two_incidents(source, eu_dataset, other_dataset):
    """One incident on the EU dataset (eu + in), one on the US dataset (us-va + br)."""
    telemetry_ingest(
        source=source,
        items=[event(dest="aws:ap-south-1"), event(dataset="us-metrics", dest="aws:sa-east-1")],
    )
    return Incident.objects.get(dataset=eu_dataset), Incident.objects.get(dataset=other_dataset)


def _ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_who_sees_which_incident(
    api_client,
    two_incidents,
    privacy_officer,
    executive,
    auditor,
    data_owner,
    other_owner,
    engineer,
    outsider,
):
    eu, us = two_incidents
    url = "/api/v1/incidents/"
    assert _ids(api_client(executive).get(url)) == {eu.pk, us.pk}
    assert _ids(api_client(auditor).get(url)) == {eu.pk, us.pk}
    assert _ids(api_client(privacy_officer).get(url)) == {eu.pk, us.pk}
    Responsibility.objects.create(user=privacy_officer, jurisdiction_id="br")
    assert _ids(api_client(privacy_officer).get(url)) == {us.pk}
    assert _ids(api_client(data_owner).get(url)) == {eu.pk}
    assert _ids(api_client(other_owner).get(url)) == {us.pk}
    assert api_client(other_owner).get(f"{url}{eu.pk}/").status_code == 404
    for person in (engineer, outsider):
        assert api_client(person).get(url).status_code == 403
    assert _ids(api_client(data_owner).get("/api/v1/violations/")) == set(
        eu.violations.values_list("pk", flat=True)
    )


def test_incident_actions(api_client, two_incidents, privacy_officer, data_owner, other_owner):
    eu, _ = two_incidents
    base = f"/api/v1/incidents/{eu.pk}"
    assert api_client(data_owner).post(f"{base}/acknowledge/").status_code == 403
    # Owners never handle incidents: refused for any id, before it is looked up (so the answer
    # says nothing of whether this one exists).
    assert api_client(other_owner).post(f"{base}/acknowledge/").status_code == 403
    assert api_client(other_owner).post(f"{base}0/acknowledge/").status_code == 403
    officer = api_client(privacy_officer)
    response = officer.post(f"{base}/acknowledge/", {"note": "looking"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    assert response.json()["regulator_hours_left"] > 71
    response = officer.post(f"{base}/assign/", {"owner": data_owner.username}, format="json")
    assert response.json()["owner"] == data_owner.username
    response = officer.post(f"{base}/playbook/", {"step": "assess"}, format="json")
    assert response.json()["playbook"]["assess"]["by"] == privacy_officer.username
    assert officer.post(f"{base}/resolve/", {}, format="json").status_code == 400
    response = officer.post(f"{base}/resolve/", {"note": "job moved to Frankfurt"}, format="json")
    assert response.json()["status"] == "resolved"
    response = officer.post(f"{base}/contain/", {}, format="json")
    assert response.status_code == 409 and "status" in response.json()  # its state refuses it


def test_lists_take_a_fixed_number_of_queries(
    api_client, source, eu_dataset, privacy_officer, django_assert_max_num_queries
):
    for dest in ("aws:ap-south-1", "aws:us-east-1", "aws:sa-east-1", "aws:ap-northeast-1"):
        telemetry_ingest(source=source, items=[event(dest=dest), event(dest=dest)])
    client = api_client(privacy_officer)
    for url in (
        "/api/v1/incidents/",
        "/api/v1/violations/",
        "/api/v1/anomaly-alerts/",
        "/api/v1/catalog-gaps/",
    ):
        with django_assert_max_num_queries(8):
            assert client.get(url).status_code == 200


def test_the_stream_catch_up_is_filtered(
    api_client, two_incidents, data_owner, other_owner, executive
):
    everything = api_client(executive).get("/api/v1/risk/stream?after=0").json()
    mine = api_client(data_owner).get("/api/v1/risk/stream?after=0").json()
    assert everything["next"] == mine["next"]
    datasets_seen = {
        m["payload"].get("dataset") for m in mine["messages"] if m["kind"] != "kpi.delta"
    }
    assert datasets_seen == {"eu-customers"}
    kpi = next(m for m in mine["messages"] if m["kind"] == "kpi.delta")
    assert set(kpi["payload"]["by_dataset"]) == {str(two_incidents[0].dataset_id)}
    assert kpi["payload"]["by_jurisdiction"] == {}
    assert len(everything["messages"]) > len(mine["messages"])
    later = api_client(data_owner).get(f"/api/v1/risk/stream?after={mine['next']}").json()
    assert later == {"messages": [], "next": mine["next"]}
    assert api_client(data_owner).get("/api/v1/risk/stream?after=x").status_code == 400


def test_a_batch_whose_every_event_is_refused_is_a_400(telemetry_client, eu_dataset):
    body = [event(kind="teleport"), event(dest="mars:olympus-1")]

    response = telemetry_client.post(EVENTS_URL, body, format="json")

    assert response.status_code == 400
    data = response.json()
    assert (data["received"], data["stored"], data["rejected"]) == (2, 0, 2)
    assert [e["index"] for e in data["errors"]] == [0, 1]
    assert not TelemetryEvent.objects.exists()
