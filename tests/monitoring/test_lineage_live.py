"""OpenLineage end to end: RunEvents built with the openlineage-python client and sent by its HTTP
transport to a real Locus (Daphne) over TCP.

The client runs in a separate process whose working directory is outside the project root and
whose sys.path lacks it: the app `requests/` would otherwise shadow PyPI `requests`, which the
transport uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from catalog.models import LineageEdge
from monitoring.models import (
    LineageEvent,
    LineageRun,
    TelemetryEvent,
    UnregisteredAsset,
    Violation,
)
from tests.factories import make_dataset
from tests.live import ROOT, shared_live_locus, shared_live_locus_process

__all__ = ["shared_live_locus", "shared_live_locus_process"]

pytestmark = pytest.mark.live

# Runs in the client's process. argv[1]: JSON {"url", "token", "events": [...]}, each event
# {"type", "run_id", "time", "job": [ns, name], "inputs": [[ns, name, rows, size]],
#  "outputs": [[ns, name]], "region"}. Prints the HTTP status of each emit as JSON.
CLIENT = r"""
import json, sys

import attr
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import RunFacet, input_statistics_input_dataset
from openlineage.client.transport.http import (
    ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport,
)

assert "site-packages" in requests.__file__, requests.__file__


@attr.define
class LocusLocationRunFacet(RunFacet):
    region: str

    @staticmethod
    def _get_schema() -> str:
        return "https://locus.example/spec/facets/1-0-0/LocusLocationRunFacet.json"


spec = json.loads(sys.argv[1])
if spec.get("config_file"):
    client = OpenLineageClient()  # openlineage.yml in the working directory, as documented
else:
    client = OpenLineageClient(
        transport=HttpTransport(
            HttpConfig(
                url=spec["url"],
                auth=ApiKeyTokenProvider({"apiKey": spec["token"]}),
                compression=HttpCompression.GZIP if spec.get("gzip") else None,
            )
        )
    )
answers = []
for e in spec["events"]:
    facets = {"locus_location": LocusLocationRunFacet(region=e["region"])} if e.get("region") else {}
    inputs = [
        InputDataset(
            namespace=ns,
            name=name,
            inputFacets={
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=rows, size=size
                )
            },
        )
        for ns, name, rows, size in e.get("inputs", [])
    ]
    outputs = [OutputDataset(namespace=ns, name=name) for ns, name in e.get("outputs", [])]
    event = RunEvent(
        eventType=RunState[e["type"]],
        eventTime=e["time"],
        run=Run(runId=e["run_id"], facets=facets),
        job=Job(namespace=e["job"][0], name=e["job"][1]),
        inputs=inputs,
        outputs=outputs,
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python",
    )
    try:
        response = client.transport.emit(event)
    except requests.HTTPError as refused:  # the transport raises on a 4xx or 5xx
        response = refused.response
    answers.append({"status": response.status_code, "body": response.json()})
print(json.dumps(answers))
"""


def _client_environment() -> dict[str, str]:
    """This environment without the project root on the module path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "DJANGO"))}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    kept = [p for p in paths if os.path.realpath(p) != os.path.realpath(ROOT)]
    env["PYTHONPATH"] = os.pathsep.join(kept)
    if not kept:
        del env["PYTHONPATH"]
    return env


def emit(tmp_path, spec: dict) -> list[dict]:
    """Send the events through the openlineage-python HTTP transport; the answers it got."""
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, json.dumps(spec)],
        cwd=tmp_path,
        env=_client_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time(seconds_ago: int) -> str:
    import datetime as dt

    from django.utils import timezone

    return (timezone.now() - dt.timedelta(seconds=seconds_ago)).isoformat()


@pytest.fixture
def live_locus(shared_live_locus) -> str:
    """One server for the module (each test still has a database of its own): the client only
    makes requests, and the namespace table is read from the database on each one."""
    return shared_live_locus


@pytest.fixture
def source_token(privacy_officer):
    from monitoring.telemetry import services

    return services.telemetry_source_register(actor=privacy_officer, name="airflow-prod")[1]


@pytest.fixture
def datasets(data_owner, other_owner):
    customers = make_dataset(
        owner=data_owner,
        slug="eu-customers",
        uri="s3://eu-bucket/customers",
        storage_region="aws:eu-west-1",
        lawful_basis="consent",
        allowed_processing_regions=["aws:eu-central-1"],
    )
    mart = make_dataset(
        owner=other_owner,
        slug="orders-mart",
        uri="postgres://db.example.com:5432/sales.public.orders",
        storage_region="aws:eu-central-1",
    )
    return customers, mart


def test_client_runs_outside_the_project(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", "import requests; print(requests.__file__)"],
        cwd=tmp_path,
        env=_client_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "site-packages" in done.stdout
    assert not done.stdout.startswith(str(ROOT / "requests"))


def test_airflow_style_run_end_to_end(live_locus, tmp_path, source_token, datasets):
    customers, mart = datasets
    run_id = str(uuid.uuid4())
    job = ["airflow-us", "etl.build_orders"]
    common = {"run_id": run_id, "job": job, "region": "aws:us-east-1"}
    inputs = [["s3://eu-bucket", "customers", 1200, 5_000_000]]
    outputs = [
        ["postgres://db.example.com:5432", "sales.public.orders"],
        ["s3://lake", "scratch/orders_tmp"],
    ]
    answers = emit(
        tmp_path,
        {
            "url": live_locus,
            "token": source_token,
            "gzip": True,
            "events": [
                # Out of order: COMPLETE arrives first, then a late START, then COMPLETE again.
                {
                    **common,
                    "type": "COMPLETE",
                    "time": _time(10),
                    "inputs": inputs,
                    "outputs": outputs,
                },
                {**common, "type": "START", "time": _time(60), "inputs": inputs},
                {
                    **common,
                    "type": "COMPLETE",
                    "time": _time(10),
                    "inputs": inputs,
                    "outputs": outputs,
                },
            ],
        },
    )
    assert [a["status"] for a in answers] == [201, 201, 200]
    first = answers[0]["body"]
    assert first["location"] == {
        "region": "aws:us-east-1",
        "rule": "run_facet",
        "detail": "run.facets.locus_location",
    }
    assert first["reads"]["violations"] == 1
    assert first["lineage_edges_created"] == [["eu-customers", "orders-mart"]]
    assert first["catalog_gaps"] == ["s3://lake/scratch/orders_tmp"]

    run = LineageRun.objects.get(run_id=run_id)
    assert (run.state, run.job_namespace, run.region) == ("COMPLETE", "airflow-us", "aws:us-east-1")
    assert run.started_at is not None and run.ended_at > run.started_at
    assert sorted(LineageEvent.objects.values_list("event_type", flat=True)) == [
        "COMPLETE",
        "START",
    ]
    read = TelemetryEvent.objects.get()
    assert (read.dataset_id, read.outcome, read.records, read.bytes) == (
        customers.pk,
        "violation",
        1200,
        5_000_000,
    )
    assert Violation.objects.get().dataset_slug == "eu-customers"
    assert LineageEdge.objects.filter(upstream=customers, downstream=mart).count() == 1
    assert UnregisteredAsset.objects.filter(dataset_ref="s3://lake/scratch/orders_tmp").exists()
    raw = LineageEvent.objects.get(event_type="START").raw
    assert raw["run"]["facets"]["locus_location"]["_schemaURL"].endswith(
        "LocusLocationRunFacet.json"
    )


def test_openlineage_yml_and_namespace_mapping(live_locus, tmp_path, source_token, datasets):
    """The documented openlineage.yml (type http, url, auth api_key) and a namespace mapping
    from the admin table (the server process reads it from the database)."""
    from catalog.models import Region
    from monitoring.models import LineageNamespaceRegion

    LineageNamespaceRegion.objects.create(
        namespace="spark-eu", region=Region.objects.get(code="aws:eu-central-1")
    )
    (tmp_path / "openlineage.yml").write_text(
        "transport:\n"
        "  type: http\n"
        f"  url: {live_locus}\n"
        "  auth:\n"
        "    type: api_key\n"
        f"    apiKey: {source_token}\n"
    )
    run_id = str(uuid.uuid4())
    answers = emit(
        tmp_path,
        {
            "config_file": True,
            "events": [
                {
                    "type": "START",
                    "run_id": run_id,
                    "time": _time(5),
                    "job": ["spark-eu", "features"],
                    "inputs": [["s3://eu-bucket", "customers", 10, 100]],
                }
            ],
        },
    )
    assert answers[0]["status"] == 201
    body = answers[0]["body"]
    assert (body["location"]["region"], body["location"]["rule"]) == (
        "aws:eu-central-1",
        "namespace_table",
    )
    assert body["reads"]["outcomes"] == {"compliant": 1}
    assert not Violation.objects.exists()


# --- What a pipeline is told (the cases an integrator met) -----------------------------------


@pytest.mark.parametrize("ending", ["FAIL", "ABORT"])
def test_a_run_that_fails_records_its_reads_but_no_lineage(
    live_locus, tmp_path, source_token, datasets, ending
):
    common = {"run_id": str(uuid.uuid4()), "job": ["airflow-eu", "etl.orders"]}
    flow = {
        "region": "aws:eu-central-1",
        "inputs": [["s3://eu-bucket", "customers", 10, 100]],
        "outputs": [["postgres://db.example.com:5432", "sales.public.orders"]],
    }
    answers = emit(
        tmp_path,
        {
            "url": live_locus,
            "token": source_token,
            "events": [
                {**common, **flow, "type": "START", "time": _time(60)},
                {**common, **flow, "type": ending, "time": _time(5)},
            ],
        },
    )
    assert [a["status"] for a in answers] == [201, 201]
    assert TelemetryEvent.objects.filter(kind="read").count() == 1
    assert not LineageEdge.objects.exists()


def test_statistics_sent_on_complete_reach_the_volumes(
    live_locus, tmp_path, source_token, datasets
):
    from monitoring.models import FlowDaily

    common = {"run_id": str(uuid.uuid4()), "job": ["airflow-eu", "etl.orders"]}
    where = {"region": "aws:eu-central-1"}
    emit(
        tmp_path,
        {
            "url": live_locus,
            "token": source_token,
            "events": [
                {**common, **where, "type": "START", "time": _time(60),
                 "inputs": [["s3://eu-bucket", "customers", 0, 0]]},
                {**common, **where, "type": "COMPLETE", "time": _time(5),
                 "inputs": [["s3://eu-bucket", "customers", 1200, 5_000_000]]},
            ],
        },
    )  # fmt: skip
    flows = FlowDaily.objects.filter(dataset_key=datasets[0].pk)
    assert sum(flows.values_list("bytes", flat=True)) == 5_000_000
    assert sum(flows.values_list("events", flat=True)) == 1


def test_reads_locus_cannot_judge_are_not_a_201(live_locus, tmp_path, source_token, datasets):
    old = {"type": "START", "run_id": str(uuid.uuid4()), "job": ["airflow-in", "etl.copy"]}
    answers = emit(
        tmp_path,
        {
            "url": live_locus,
            "token": source_token,
            "events": [
                {
                    **old,
                    "time": _time(40 * 24 * 3600),  # older than ingest takes (30 days)
                    "region": "aws:ap-south-1",
                    "inputs": [["s3://eu-bucket", "customers", 10, 100]],
                }
            ],
        },
    )
    assert answers[0]["status"] == 202
    assert answers[0]["body"]["judged"] is False
    assert LineageRun.objects.get().not_judged


def test_a_run_id_reused_by_another_job_is_refused(live_locus, tmp_path, source_token, datasets):
    run_id = str(uuid.uuid4())
    answers = emit(
        tmp_path,
        {
            "url": live_locus,
            "token": source_token,
            "events": [
                {"type": "START", "run_id": run_id, "time": _time(60), "job": ["a", "one"]},
                {"type": "COMPLETE", "run_id": run_id, "time": _time(5), "job": ["a", "two"]},
            ],
        },
    )
    assert [a["status"] for a in answers] == [201, 409]
    assert "a/one" in answers[1]["body"]["run.runId"][0]
