"""OpenLineage ingest in process: mapping, location rules, reads judged, lineage edges,
idempotency, out-of-order events, catalog gaps, bad events, auth, and the catalog-gap pages."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Dataset, LineageEdge, Region
from governance.ledger import signing
from governance.ledger.tree import inclusion_proof, ledger_sequence_all
from governance.models import LedgerEntry
from locus_client.proofcheck import receipt_problems
from monitoring.lineage import events as lineage
from monitoring.lineage.selectors import gap_names
from monitoring.models import (
    ActorVolumeHourly,
    FlowDaily,
    LineageEvent,
    LineageNamespaceRegion,
    LineageRun,
    StreamMessage,
    TelemetryEvent,
    UnregisteredAsset,
    Violation,
)
from monitoring.telemetry import services
from tests.factories import make_dataset
from tests.monitoring.lineage_events import dataset, facet, run_event

URL = "/api/v1/lineage"
S3_EU = ("s3://eu-bucket", "customers")  # eu_dataset's uri: s3://eu-bucket/customers


@pytest.fixture
def post(telemetry_client):
    def send(event, client=None, **headers):
        body = event if isinstance(event, (bytes, str)) else json.dumps(event)
        return (client or telemetry_client).post(
            URL, body, content_type="application/json", **headers
        )

    return send


@pytest.fixture
def warehouse(other_owner):
    """Not personal data, in Frankfurt, named by a Postgres table."""
    return make_dataset(
        owner=other_owner,
        slug="orders-mart",
        uri="postgres://db.example.com:5432/sales.public.orders",
        storage_region="aws:eu-central-1",
    )


# --- Mapping ---------------------------------------------------------------------------------


def test_datasets_map_by_uri_conventions(post, eu_dataset, warehouse, other_owner):
    local = make_dataset(owner=other_owner, slug="local-file", uri="file:///data/x.csv")
    event = run_event(
        inputs=[dataset(*S3_EU), dataset("file", "/data/x.csv"), dataset("s3://nobody", "a/b")],
        outputs=[dataset("postgres://db.example.com:5432", "sales.public.orders")],
        region="aws:eu-west-1",
    )
    answer = post(event)
    assert answer.status_code == 201, answer.json()
    mapped = {(d["namespace"], d["name"]): d["dataset"] for d in answer.json()["datasets"]}
    assert mapped == {
        S3_EU: eu_dataset.slug,
        ("file", "/data/x.csv"): local.slug,
        ("s3://nobody", "a/b"): None,
        ("postgres://db.example.com:5432", "sales.public.orders"): warehouse.slug,
    }
    assert answer.json()["catalog_gaps"] == ["s3://nobody/a/b"]
    gap = UnregisteredAsset.objects.get()
    assert gap.dataset_ref == "s3://nobody/a/b"
    assert gap_names([gap]) == {"s3://nobody/a/b": ("s3://nobody", "a/b")}


def test_naming_helpers():
    assert lineage.dataset_uri("s3://bucket/", "/path/x") == "s3://bucket/path/x"
    assert lineage.dataset_uri("bigquery", "p.d.t") == "bigquery/p.d.t"
    assert lineage.uri_candidates("file", "/data/x") == [
        "file/data/x",
        "file/data/x/",
        "file:///data/x",
    ]


def test_unmatched_output_is_a_gap_once_per_run(post, eu_dataset):
    run_id = uuid.uuid4()
    out = [dataset("s3://lake", "features/v1")]
    post(run_event("START", run_id=run_id, outputs=out))
    post(run_event("COMPLETE", run_id=run_id, outputs=out))
    gap = UnregisteredAsset.objects.get(dataset_ref="s3://lake/features/v1")
    assert gap.events == 1
    assert gap.last_actor == "airflow-eu/etl.load_customers"


# --- Where the run executed --------------------------------------------------------------------


def test_run_facet_wins_over_namespace(post, eu_dataset, settings):
    settings.OPENLINEAGE_NAMESPACE_REGIONS = {"airflow-eu": "aws:eu-west-1"}
    answer = post(run_event(inputs=[dataset(*S3_EU)], region="aws:eu-central-1"))
    location = answer.json()["location"]
    assert location == {
        "region": "aws:eu-central-1",
        "rule": "run_facet",
        "detail": "run.facets.locus_location",
    }


def test_namespace_table_then_setting(post, eu_dataset, settings):
    settings.OPENLINEAGE_NAMESPACE_REGIONS = {
        "airflow-eu": "aws:eu-west-1",
        "spark-us": "aws:us-east-1",
    }
    LineageNamespaceRegion.objects.create(
        namespace="airflow-eu", region=Region.objects.get(code="aws:eu-central-1")
    )
    table = post(run_event(inputs=[dataset(*S3_EU)])).json()["location"]
    assert (table["region"], table["rule"]) == ("aws:eu-central-1", "namespace_table")
    setting = post(run_event(job=("spark-us", "job"), inputs=[dataset(*S3_EU)])).json()
    assert (setting["location"]["region"], setting["location"]["rule"]) == (
        "aws:us-east-1",
        "namespace_setting",
    )


def test_output_storage_region_when_nothing_else(post, eu_dataset, warehouse):
    answer = post(
        run_event(
            job=("unmapped", "job"),
            inputs=[dataset(*S3_EU)],
            outputs=[dataset("postgres://db.example.com:5432", "sales.public.orders")],
        )
    ).json()
    assert (answer["location"]["region"], answer["location"]["rule"]) == (
        "aws:eu-central-1",
        "output_storage",
    )


def test_unknown_location_judges_nothing_until_known(post, eu_dataset):
    run_id = uuid.uuid4()
    first = post(run_event("START", run_id=run_id, job=("x", "y"), inputs=[dataset(*S3_EU)]))
    assert first.json()["location"]["rule"] == "unknown"
    assert first.json()["reads"] is None
    assert not TelemetryEvent.objects.exists()
    # A later event carrying the facet locates the run; the inputs seen so far are judged.
    later = post(run_event("COMPLETE", run_id=run_id, job=("x", "y"), region="aws:us-east-1"))
    assert later.json()["location"]["rule"] == "run_facet"
    assert later.json()["reads"]["stored"] == 1
    assert TelemetryEvent.objects.get().destination_region == "aws:us-east-1"


def test_location_decision_is_on_the_ledger(post, eu_dataset):
    post(run_event(inputs=[dataset(*S3_EU)], region="aws:eu-west-1"))
    ledger_sequence_all()  # judgements are queued; the sequencer puts them in the chain
    entry = LedgerEntry.objects.get(kind="lineage.run_located")
    run = LineageRun.objects.get()
    assert f"lineage-run:{run.pk}" in entry.subjects


def test_an_answer_carries_the_receipts_of_the_entries_it_wrote(post, eu_dataset, warehouse):
    """Where the run executed, its reads' violations and its lineage edges: one entry each,
    each receipt proved against the log once sequenced; a resent event writes none."""
    event = run_event(
        "COMPLETE",
        inputs=[dataset(*S3_EU)],
        outputs=[dataset("postgres://db.example.com:5432", "sales.public.orders")],
        region="aws:us-east-1",
    )
    answer = post(event).json()
    assert [r["kind"] for r in answer["receipts"]] == [
        "lineage.run_located",
        "telemetry.violations",
        "lineage.edges_observed",
    ]
    assert answer["receipts"][1]["receipt"] == answer["reads"]["receipt"]
    ledger_sequence_all()
    for written in answer["receipts"]:
        receipt = written["receipt"]
        proof = inclusion_proof(receipt["leaf_hash"])
        trusted = {signing.public_key_b64()}
        assert receipt_problems(receipt, proof, proof["tree_head"], trusted) == []
        entry = LedgerEntry.objects.get(sequence=proof["leaf_index"] + 1)
        assert entry.kind == written["kind"]
    assert post(event).json()["receipts"] == []  # a duplicate changes nothing


def test_an_event_that_wrote_no_entry_has_no_receipt(post, eu_dataset):
    run_id = uuid.uuid4()
    first = post(run_event(run_id=run_id, region="aws:eu-central-1")).json()
    assert [r["kind"] for r in first["receipts"]] == ["lineage.run_located"]
    later = post(run_event("RUNNING", run_id=run_id, inputs=[dataset(*S3_EU)])).json()
    assert later["reads"]["outcomes"] == {"compliant": 1}
    assert later["receipts"] == []  # the same place, a compliant read, no edges


# --- Reads judged, violations streamed ---------------------------------------------------------


def test_inputs_become_reads_judged_by_the_engine(post, eu_dataset, source):
    run_id = uuid.uuid4()
    stats = dataset(*S3_EU, rows=500, size=2_000_000)
    answer = post(run_event("START", run_id=run_id, inputs=[stats], region="aws:us-east-1"))
    reads = answer.json()["reads"]
    assert reads["stored"] == 1 and reads["violations"] == 1
    read = TelemetryEvent.objects.get()
    assert (read.kind, read.dataset_id, read.outcome) == ("read", eu_dataset.pk, "violation")
    assert (read.bytes, read.records, read.run_id) == (2_000_000, 500, str(run_id))
    assert read.actor == "airflow-eu/etl.load_customers"
    assert read.source == source
    violation = Violation.objects.get()
    assert violation.destination_region == "aws:us-east-1"
    # EU personal data read in the US with no mechanism: the law's violation, not the house's.
    assert reads["violations_by_basis"] == {"legal": 1}
    assert violation.basis == "legal" and violation.incident.basis == "legal"
    kinds = set(StreamMessage.objects.values_list("kind", flat=True))
    assert {"violation.created", "kpi.delta"} <= kinds


def test_compliant_read_makes_no_violation(post, eu_dataset):
    answer = post(run_event(inputs=[dataset(*S3_EU)], region="aws:eu-central-1")).json()
    assert answer["reads"]["outcomes"] == {"compliant": 1}
    assert not Violation.objects.exists()


def test_facet_purpose_is_used(post, eu_dataset):
    facets = {"locus_location": facet(region="aws:eu-west-1", purpose="model-training")}
    post(run_event(inputs=[dataset(*S3_EU)], run_facets=facets))
    assert TelemetryEvent.objects.get().purpose == "model-training"
    assert LineageRun.objects.get().purpose == "model-training"


# --- Lineage edges -----------------------------------------------------------------------------


def test_input_to_output_becomes_lineage_edges(post, eu_dataset, warehouse, privacy_officer):
    answer = post(
        run_event(
            "COMPLETE",
            inputs=[dataset(*S3_EU)],
            outputs=[
                dataset("postgres://db.example.com:5432", "sales.public.orders"),
                dataset(*S3_EU),  # an incremental job reads and writes the same table
            ],
            region="aws:eu-west-1",
        )
    ).json()
    assert answer["lineage_edges_created"] == [[eu_dataset.slug, warehouse.slug]]
    edge = LineageEdge.objects.get()
    assert (edge.upstream, edge.downstream) == (eu_dataset, warehouse)
    assert edge.transformation == "OpenLineage job airflow-eu/etl.load_customers"
    assert edge.created_by == privacy_officer  # who registered the source
    ledger_sequence_all()  # judgements are queued; the sequencer puts them in the chain
    entry = LedgerEntry.objects.get(kind="lineage.edges_observed")
    assert f"dataset:{warehouse.slug}" in entry.subjects


def test_edge_that_closes_a_cycle_is_skipped(post, eu_dataset, warehouse):
    pg = ("postgres://db.example.com:5432", "sales.public.orders")
    post(
        run_event(
            "COMPLETE", inputs=[dataset(*S3_EU)], outputs=[dataset(*pg)], region="aws:eu-west-1"
        )
    )
    back = post(
        run_event(
            "COMPLETE", inputs=[dataset(*pg)], outputs=[dataset(*S3_EU)], region="aws:eu-west-1"
        )
    ).json()
    assert back["lineage_edges_created"] == []
    assert back["lineage_edges_skipped"][0]["reason"] == "It would close a lineage cycle."
    assert LineageEdge.objects.count() == 1


def test_edges_respect_the_source_dataset_scope(
    post, eu_dataset, warehouse, source, privacy_officer
):
    services.telemetry_source_update(actor=privacy_officer, source=source, datasets=[eu_dataset])
    pg = ("postgres://db.example.com:5432", "sales.public.orders")
    answer = post(
        run_event(
            "COMPLETE", inputs=[dataset(*S3_EU)], outputs=[dataset(*pg)], region="aws:eu-west-1"
        )
    ).json()
    assert answer["lineage_edges_created"] == []
    assert not LineageEdge.objects.exists()


def test_edges_come_when_the_run_completes_never_for_a_failed_run(post, eu_dataset, warehouse):
    pg = ("postgres://db.example.com:5432", "sales.public.orders")
    flow = {"inputs": [dataset(*S3_EU)], "outputs": [dataset(*pg)], "region": "aws:eu-west-1"}
    failed, completed = uuid.uuid4(), uuid.uuid4()

    started = post(run_event("START", run_id=failed, **flow)).json()
    post(run_event("FAIL", run_id=failed, **flow))

    assert started["lineage_edges_created"] == [] and not LineageEdge.objects.exists()
    assert TelemetryEvent.objects.filter(run_id=str(failed), kind="read").count() == 1
    post(run_event("START", run_id=completed, **flow))
    done = post(run_event("COMPLETE", run_id=completed, **flow)).json()
    assert done["lineage_edges_created"] == [[eu_dataset.slug, warehouse.slug]]


def test_a_run_id_reused_by_another_job_is_a_conflict(post, eu_dataset):
    run_id = uuid.uuid4()
    assert post(run_event("START", run_id=run_id, job=("airflow", "a"))).status_code in (201, 202)

    answer = post(run_event("COMPLETE", run_id=run_id, job=("airflow", "b")))

    assert answer.status_code == 409
    assert "airflow/a" in answer.json()["run.runId"][0]
    assert LineageEvent.objects.count() == 1


def test_a_dataset_event_is_told_locus_takes_run_events(post):
    event = run_event()
    del event["run"], event["job"], event["eventType"]
    event["dataset"] = {"namespace": "s3://lake", "name": "x", "facets": {}}

    answer = post(event)

    assert answer.status_code == 400
    assert answer.json() == {
        "$": ["Locus takes OpenLineage RunEvents (with a run); this is a DatasetEvent."]
    }


# --- Reads that cannot be judged, statistics that come late -------------------------------------


def test_reads_at_a_time_ingest_does_not_take_are_accepted_not_judged(post, eu_dataset, settings):
    at = timezone.now() - dt.timedelta(days=settings.TELEMETRY_MAX_AGE_DAYS + 2)
    answer = post(run_event(inputs=[dataset(*S3_EU)], region="aws:ap-south-1", at=at))

    assert answer.status_code == 202
    body = answer.json()
    assert body["judged"] is False
    assert "older than this installation accepts" in body["not_judged"][0]
    assert "older than" in LineageRun.objects.get().not_judged
    assert not Violation.objects.exists()


def test_reads_of_a_run_whose_place_is_unknown_are_not_judged(post, eu_dataset):
    answer = post(run_event(job=("nowhere", "job"), inputs=[dataset(*S3_EU)]))

    assert answer.status_code == 202
    assert "cannot tell where the run executed" in answer.json()["not_judged"][0]


def test_statistics_sent_on_complete_reach_the_volumes_once(post, eu_dataset):
    run_id = uuid.uuid4()
    post(run_event("START", run_id=run_id, inputs=[dataset(*S3_EU)], region="aws:eu-west-1"))
    stats = dataset(*S3_EU, rows=1200, size=5_000_000)

    for _ in range(2):  # the second time changes nothing
        done = post(run_event("COMPLETE", run_id=run_id, inputs=[stats], region="aws:eu-west-1"))
        assert done.status_code in (200, 201)

    flows = FlowDaily.objects.filter(dataset_key=eu_dataset.pk)
    assert sum(flows.values_list("bytes", flat=True)) == 5_000_000
    assert sum(flows.values_list("records", flat=True)) == 1200
    assert sum(flows.values_list("events", flat=True)) == 1  # still one read
    volume = ActorVolumeHourly.objects.get(actor="airflow-eu/etl.load_customers")
    assert (volume.bytes, volume.events) == (5_000_000, 1)


# --- Idempotency and order ---------------------------------------------------------------------


def test_resent_event_changes_nothing(post, eu_dataset):
    event = run_event("START", inputs=[dataset(*S3_EU)], region="aws:us-east-1")
    assert post(event).status_code == 201
    again = post(event)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert LineageEvent.objects.count() == 1
    assert TelemetryEvent.objects.count() == 1
    assert Violation.objects.count() == 1


def test_running_events_repeat_by_time(post):
    run_id = uuid.uuid4()
    now = timezone.now()
    for seconds in (50, 40, 40):
        at = now - dt.timedelta(seconds=seconds)
        post(run_event("RUNNING", run_id=run_id, at=at))
    assert LineageEvent.objects.filter(event_type="RUNNING").count() == 2


def test_complete_before_start(post, eu_dataset):
    run_id = uuid.uuid4()
    now = timezone.now()
    end, start = now - dt.timedelta(seconds=10), now - dt.timedelta(seconds=60)
    inputs = [dataset(*S3_EU)]
    done = post(run_event("COMPLETE", run_id=run_id, at=end, inputs=inputs, region="aws:eu-west-1"))
    assert done.status_code == 201
    assert done.json()["state"] == "COMPLETE"
    late = post(run_event("START", run_id=run_id, at=start, inputs=inputs, region="aws:eu-west-1"))
    assert late.status_code == 201
    assert late.json()["state"] == "COMPLETE"
    run = LineageRun.objects.get()
    assert (run.state, run.started_at, run.ended_at) == ("COMPLETE", start, end)
    assert TelemetryEvent.objects.count() == 1  # one read per run, input and region


def test_state_moves_forward_only(post):
    run_id = uuid.uuid4()
    now = timezone.now()
    post(run_event("START", run_id=run_id, at=now - dt.timedelta(seconds=30)))
    post(run_event("FAIL", run_id=run_id, at=now - dt.timedelta(seconds=20)))
    post(run_event("RUNNING", run_id=run_id, at=now - dt.timedelta(seconds=25)))
    post(run_event("OTHER", run_id=run_id, at=now - dt.timedelta(seconds=5)))
    assert LineageRun.objects.get().state == "FAIL"


def test_missing_event_type_is_other(post):
    event = run_event()
    del event["eventType"]
    assert post(event).status_code == 201
    assert LineageEvent.objects.get().event_type == "OTHER"


# --- Bad events --------------------------------------------------------------------------------


def _without(event: dict, path: str) -> dict:
    *parents, last = path.split(".")
    node = event
    for key in parents:
        node = node[key]
    del node[last]
    return event


@pytest.mark.parametrize(
    "path",
    ["eventTime", "producer", "schemaURL", "run", "run.runId", "job", "job.namespace", "job.name"],
)
def test_missing_required_field_gives_its_path(post, path):
    answer = post(_without(run_event(), path))
    assert answer.status_code == 400
    assert answer.json()[path] == ["This field is required."] or path in answer.json()
    assert not LineageRun.objects.exists()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"eventType": "FINISHED"}, "eventType"),
        ({"eventTime": "yesterday"}, "eventTime"),
        ({"eventTime": "2026-01-01T10:00:00"}, "eventTime"),
        ({"producer": "not a uri"}, "producer"),
        ({"run": {"runId": "42"}}, "run.runId"),
        ({"run": {}}, "run.runId"),  # an empty run still needs its id (it was a 500)
        ({"job": {}}, "job.namespace"),
        (
            {"inputs": [{"namespace": "s3://a", "name": "b"}, {"namespace": "s3://a"}]},
            "inputs[1].name",
        ),
        ({"outputs": {"namespace": "x"}}, "outputs"),
        (
            {"inputs": [{"namespace": "s3://a", "name": "b", "facets": {"schema": {"x": 1}}}]},
            "inputs[0].facets.schema._producer",
        ),
        ({"run": {"runId": str(uuid.uuid4()), "facets": {"parent": "x"}}}, "run.facets.parent"),
    ],
)
def test_spec_violations_give_their_path(post, change, path):
    answer = post({**run_event(), **change})
    assert answer.status_code == 400, answer.json()
    assert path in answer.json(), answer.json()
    assert not LineageEvent.objects.exists()


def test_unknown_region_in_the_facet(post):
    answer = post(run_event(region="mars:olympus-1"))
    assert answer.status_code == 400
    assert "run.facets.locus_location.region" in answer.json()
    assert not LineageRun.objects.exists()


def test_not_json_and_not_an_object(post):
    assert "$" in post(b"{nope").json()
    assert post(b"[1, 2]").json() == {"$": ["A RunEvent is a JSON object."]}


def test_unknown_fields_and_facets_are_kept(post):
    event = run_event(run_facets={"acme_cost": facet(dollars=3)}, **{"x-acme-team": "growth"})
    event["job"]["facets"]["jobType"] = facet(processingType="BATCH", integration="AIRFLOW")
    assert post(event).status_code == 201
    raw = LineageEvent.objects.get().raw
    assert raw["x-acme-team"] == "growth"
    assert raw["run"]["facets"]["acme_cost"]["dollars"] == 3
    assert raw["job"]["facets"]["jobType"]["integration"] == "AIRFLOW"


def test_gzip_body(post, eu_dataset):
    body = gzip.compress(json.dumps(run_event(region="aws:eu-west-1")).encode())
    assert post(body, HTTP_CONTENT_ENCODING="gzip").status_code == 201


def test_lineage_events_are_append_only(post):
    post(run_event())
    stored = LineageEvent.objects.get()
    with pytest.raises(PermissionError):
        stored.delete()
    if connection.vendor == "postgresql":
        refused = pytest.raises(DatabaseError, match="append-only")
        with refused, transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM monitoring_lineageevent")


# --- Who may send ------------------------------------------------------------------------------


def test_token_required(post):
    assert post(run_event(), client=APIClient()).status_code in (401, 403)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert post(run_event(), client=wrong).status_code == 401


def test_revoked_source_refused(post, source, privacy_officer):
    services.telemetry_source_revoke(actor=privacy_officer, source=source, reason="leaked")
    assert post(run_event()).status_code == 401


def test_another_source_may_not_touch_a_run(post, privacy_officer):
    event = run_event()
    post(event)
    _, token = services.telemetry_source_register(actor=privacy_officer, name="pipeline-b")
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = post({**event, "eventType": "COMPLETE"}, client=other)
    assert answer.status_code == 403
    assert LineageRun.objects.get().state == "START"


# --- The catalog-gap pages ---------------------------------------------------------------------


@pytest.fixture
def gap_with_run(post, eu_dataset):
    """A run that read the EU customers and wrote a table the catalog does not know."""
    post(
        run_event(
            "COMPLETE",
            inputs=[dataset(*S3_EU)],
            outputs=[dataset("s3://lake", "features/churn")],
            region="aws:eu-west-1",
        )
    )
    return UnregisteredAsset.objects.get(dataset_ref="s3://lake/features/churn")


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_gap_list_for_each_kind_of_person(
    gap_with_run, data_owner, executive, outsider, django_assert_max_num_queries
):
    owner_page = _browser(data_owner)
    with django_assert_max_num_queries(12):
        page = owner_page.get("/monitoring/lineage/gaps/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "s3://lake/features/churn" in text and "features/churn" in text
    assert f"/monitoring/lineage/gaps/{gap_with_run.pk}/register/" in text
    exec_page = _browser(executive).get("/monitoring/lineage/gaps/")
    assert exec_page.status_code == 200
    assert f"/gaps/{gap_with_run.pk}/register/" not in exec_page.content.decode()
    assert _browser(outsider).get("/monitoring/lineage/gaps/").status_code == 403


def test_owner_registers_a_gap_in_one_step(gap_with_run, data_owner, eu_dataset):
    client = _browser(data_owner)
    url = f"/monitoring/lineage/gaps/{gap_with_run.pk}/register/"
    form = client.get(url)
    assert form.status_code == 200
    assert 'value="churn"' in form.content.decode()  # a slug to start from
    answer = client.post(
        url,
        {
            "name": "Churn features",
            "slug": "churn-features",
            "storage_region": Region.objects.get(code="aws:eu-west-1").pk,
            "sensitivity": "confidential",
            "lawful_basis": "not_personal",
            "retention_days": 90,
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    registered = Dataset.objects.get(slug="churn-features")
    assert (registered.uri, registered.owner) == ("s3://lake/features/churn", data_owner)
    assert not UnregisteredAsset.objects.filter(pk=gap_with_run.pk).exists()
    # The run that wrote it now has its lineage in the catalog.
    assert LineageEdge.objects.filter(upstream=eu_dataset, downstream=registered).exists()
    assert LedgerEntry.objects.filter(kind="catalog_gap.registered").exists()


def test_register_refused_to_readers_and_outsiders(gap_with_run, executive, outsider):
    url = f"/monitoring/lineage/gaps/{gap_with_run.pk}/register/"
    assert _browser(executive).get(url).status_code == 403
    assert _browser(outsider).get(url).status_code == 403


def test_register_with_bad_fields_keeps_the_gap(gap_with_run, data_owner):
    url = f"/monitoring/lineage/gaps/{gap_with_run.pk}/register/"
    answer = _browser(data_owner).post(url, {"name": "x", "slug": "x"})
    assert answer.status_code == 400
    assert UnregisteredAsset.objects.filter(pk=gap_with_run.pk).exists()
    assert not Dataset.objects.filter(slug="x").exists()


def test_unknown_purpose_in_the_facet(post):
    facets = {"locus_location": facet(region="aws:eu-west-1", purpose="fun")}
    answer = post(run_event(run_facets=facets))
    assert answer.status_code == 400
    assert "run.facets.locus_location.purpose" in answer.json()


def test_officers_see_the_runs_not_judged_beside_the_gaps(post, eu_dataset, privacy_officer):
    post(run_event(job=("nowhere", "nightly"), inputs=[dataset(*S3_EU)]))

    page = _browser(privacy_officer).get("/monitoring/lineage/gaps/").content.decode()

    assert "Runs whose reads were not judged" in page
    assert "nowhere/nightly" in page and "cannot tell where the run executed" in page
