"""The model registry API: paged lists, idempotent creates and deployments, ETag/If-Match,
object permissions for the owner, a colleague and an outsider, the deny with its causes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import ModelDeployment, TrainedModel
from tests.governance.model_setup import (
    FRANKFURT,
    MUMBAI,
    clicks_data,
    health_data,
    registered_model,
    training_run,
)

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models/"


@pytest.fixture
def run(data_owner):
    return training_run(data_owner, [health_data(data_owner), clicks_data(data_owner)])


@pytest.fixture
def model(data_owner, run):
    return registered_model(data_owner, [run])


def body(run, **fields):
    return {
        "name": "triage",
        "version": "2.0.0",
        "uri": "s3://models/triage/2.0.0",
        "training_runs": [run.pk],
        **fields,
    }


def test_an_owner_registers_a_model_once_with_an_idempotency_key(api_client, data_owner, run):
    client = api_client(data_owner)
    first = client.post(MODELS, body(run), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(MODELS, body(run), format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201, first.json()
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert TrainedModel.objects.count() == 1
    made = first.json()
    assert first["Location"].endswith(f"/api/v1/models/{made['id']}/")
    assert made["owner"] == "olga-owner"
    assert made["datasets"] == ["clicks", "eu-health"]
    assert made["served_in"] == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"training_runs": []}, "training_runs"),
        ({"training_runs": [999_999]}, "training_runs"),
        ({"uri": ""}, "uri"),
        ({"version": "x" * 61}, "version"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, data_owner, run, fields, field):
    answer = api_client(data_owner).post(MODELS, body(run, **fields), format="json")
    assert answer.status_code == 400
    assert field in answer.json()


def test_a_taken_name_and_version_is_a_400_naming_version(api_client, data_owner, model, run):
    answer = api_client(data_owner).post(MODELS, body(run, version=model.version), format="json")
    assert answer.status_code == 400
    assert "version" in answer.json()


@pytest.mark.parametrize(("who", "status"), [("executive", 403), ("outsider", 403)])
def test_who_may_not_register_is_refused_before_the_body(request, api_client, run, who, status):
    answer = api_client(request.getfixturevalue(who)).post(MODELS, {}, format="json")
    assert answer.status_code == status


def test_every_role_reads_the_list_an_outsider_does_not(api_client, model, auditor, outsider):
    assert api_client(auditor).get(MODELS).json()["count"] == 1
    assert api_client(outsider).get(MODELS).status_code == 403
    assert api_client(None).get(MODELS).status_code in (401, 403)


def test_the_list_is_paged_in_a_fixed_number_of_queries(api_client, data_owner, run, engineer):
    registered_model(data_owner, [run], version="1")
    client = api_client(engineer)
    client.get(MODELS)  # the person's permissions are cached on their first request
    with CaptureQueriesContext(connection) as one:
        client.get(MODELS)
    for version in ("2", "3", "4"):
        registered_model(data_owner, [run], version=version)
    with CaptureQueriesContext(connection) as four:
        answer = client.get(MODELS, {"page_size": 2})
    assert answer.json()["count"] == 4 and len(answer.json()["results"]) == 2
    assert len(four) == len(one)


def test_a_stale_if_match_is_a_412_that_changes_nothing(api_client, data_owner, model):
    client = api_client(data_owner)
    url = f"{MODELS}{model.pk}/"
    seen = client.get(url)["ETag"]
    assert (
        client.patch(url, {"description": "First"}, format="json", HTTP_IF_MATCH=seen).status_code
        == 200
    )

    late = client.patch(url, {"description": "Second"}, format="json", HTTP_IF_MATCH=seen)

    assert late.status_code == 412
    assert "If-Match" in late.json()
    model.refresh_from_db()
    assert model.description == "First"


def test_a_colleague_may_not_change_or_deploy_anothers_model(api_client, other_owner, model):
    client = api_client(other_owner)
    assert client.patch(f"{MODELS}{model.pk}/", {"uri": "s3://x"}, format="json").status_code == 403
    denied = client.post(
        f"{MODELS}{model.pk}/deploy/",
        {"region": FRANKFURT, "purpose": "model-training"},
        format="json",
    )
    assert denied.status_code == 403
    assert not ModelDeployment.objects.exists()


def test_a_deploy_the_law_does_not_allow_is_recorded_denied_naming_the_data(
    api_client, data_owner, model
):
    answer = api_client(data_owner).post(
        f"{MODELS}{model.pk}/deploy/",
        {"region": MUMBAI, "purpose": "model-training", "endpoint": "https://triage.example/in"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="deploy-1",
    )

    assert answer.status_code == 201
    found = answer.json()
    assert found["status"] == "denied" and found["outcome"] == "deny"
    assert found["causes"] == ["eu-health"]
    assert found["legal"]["outcome"] == "needs_mechanism"
    assert "GDPR" in found["legal"]["citation"]
    decision = found["decision"]
    assert decision["anonymity"]["presumed_anonymous"] is False
    assert decision["anonymity"]["citation"].startswith("EDPB Opinion 28/2024")
    assert {d["dataset"]: d["outcome"] for d in decision["datasets"]} == {
        "eu-health": "deny",
        "clicks": "allow",
    }
    assert answer["Location"].endswith(f"/api/v1/model-deployments/{found['id']}/")


def test_an_allowed_deploy_serves_and_shows_on_the_model(api_client, data_owner, model):
    client = api_client(data_owner)
    made = client.post(
        f"{MODELS}{model.pk}/deploy/",
        {"region": FRANKFURT, "purpose": "model-training"},
        format="json",
    )
    assert made.json()["status"] == "active"

    shown = client.get(f"{MODELS}{model.pk}/").json()
    assert shown["served_in"] == [{"region": FRANKFURT, "endpoint": ""}]

    url = f"/api/v1/model-deployments/{made.json()['id']}/"
    tag = client.get(url)["ETag"]
    assert client.post(f"{url}retire/", HTTP_IF_MATCH=tag).status_code == 200
    assert client.post(f"{url}retire/", HTTP_IF_MATCH=tag).status_code == 412
    assert client.post(f"{url}retire/").status_code == 409


def test_an_unknown_region_is_a_400_naming_it(api_client, data_owner, model):
    answer = api_client(data_owner).post(
        f"{MODELS}{model.pk}/deploy/",
        {"region": "aws:nowhere-1", "purpose": "model-training"},
        format="json",
    )
    assert answer.status_code == 400
    assert "region" in answer.json()


def test_history_lineage_and_an_inference_check(api_client, data_owner, model, engineer):
    client = api_client(engineer)
    history = client.get(f"{MODELS}{model.pk}/history/").json()
    assert [row["action"] for row in history["results"]] == ["created"]
    lineage = client.get(f"{MODELS}{model.pk}/lineage/").json()
    assert sorted(d["dataset"] for d in lineage["runs"][0]["datasets"]) == ["clicks", "eu-health"]

    check = client.post(
        f"{MODELS}{model.pk}/check/",
        {"action": "infer", "region": MUMBAI, "purpose": "model-training"},
        format="json",
    )
    assert check.status_code == 200
    assert check.json()["outcome"] == "deny" and check.json()["causes"] == ["eu-health"]
    bad = client.post(
        f"{MODELS}{model.pk}/check/",
        {"action": "train", "region": MUMBAI, "purpose": "model-training"},
        format="json",
    )
    assert bad.status_code == 400 and "action" in bad.json()


def test_the_schema_documents_the_model_endpoints(api_client):
    schema = api_client(None).get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/models/{id}/deploy/" in paths
    assert "/api/v1/model-deployments/{id}/retire/" in paths
