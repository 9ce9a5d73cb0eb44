"""Terraform/OpenTofu plans checked before they are applied (`POST /api/v1/plans/check`): one
plan per cloud, shaped as `terraform show -json` prints it (tests/monitoring/plans/*.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from catalog.models import Region
from governance.ledger.tree import ledger_sequence_all
from governance.models import LedgerEntry, LocalityDecision
from governance.policy.index import current_index, forget_index
from monitoring.lineage.services import catalog_gap_register
from monitoring.models import UnregisteredAsset
from monitoring.plans.document import parse_plan
from monitoring.plans.stores import STORE_TYPES, places, region_codes
from tests.factories import make_dataset

URL = "/api/v1/plans/check"
PLANS = Path(__file__).parent / "plans"
IRELAND, FRANKFURT, AMSTERDAM = "aws:eu-west-1", "aws:eu-central-1", "gcp:europe-west4"


def plan(name: str) -> dict:
    return json.loads((PLANS / name).read_text())


@pytest.fixture
def eu_customers(data_owner):
    """EU personal data in Ireland that may also be kept in Frankfurt and Amsterdam."""
    return make_dataset(
        data_owner,
        slug="eu-customers",
        uri="s3://acme-eu-customers/exports",
        lawful_basis="contract",
        storage_region=IRELAND,
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[FRANKFURT, AMSTERDAM, "azure:westeurope"],
    )


@pytest.fixture
def check(api_client, engineer):
    client = api_client(engineer)

    def send(document, purpose="analytics", **extra):
        return client.post(URL, {"plan": document, "purpose": purpose, **extra}, format="json")

    return send


def stores_by_address(answer: dict) -> dict[str, dict]:
    return {store["address"]: store for store in answer["resources"]}


# --- AWS --------------------------------------------------------------------------------------


def test_aws_bucket_for_eu_personal_data_in_mumbai_is_denied_by_law(check, eu_customers):
    response = check(plan("aws_bucket_in_mumbai.json"))

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["verdict"] == "deny"
    bucket = stores_by_address(answer)["aws_s3_bucket.customer_exports"]
    assert bucket["reference"] == "s3://acme-eu-customers"
    assert bucket["matched_by"] == "uri"
    assert bucket["datasets"] == ["eu-customers"]
    assert bucket["places"] == [
        {"given": "ap-south-1", "given_by": "provider region", "regions": ["aws:ap-south-1"]}
    ]
    (decision,) = bucket["decisions"]
    assert (decision["action"], decision["region"]) == ("store", "aws:ap-south-1")
    assert decision["outcome"] == "deny"
    assert decision["legal"]["outcome"] == "needs_mechanism"
    assert decision["legal"]["regime"] == "eu"
    assert "GDPR" in decision["legal"]["citation"]
    assert decision["house"]["outcome"] == "deny"  # not one of its declared regions either
    record = LocalityDecision.objects.get(pk=decision["decision_id"])
    assert (record.context, record.region_code, record.action) == (
        "plan",
        "aws:ap-south-1",
        "store",
    )
    assert (record.legal_outcome, record.house_outcome) == ("needs_mechanism", "deny")
    ledger_sequence_all()  # decisions are queued; the sequencer puts them in the chain
    entry = LedgerEntry.objects.filter(kind="locality.decisions").latest("sequence")
    recorded = json.loads(bytes(entry.payload))["data"]
    assert (recorded["context"], recorded["first_decision"]) == ("plan", record.pk)


def test_aws_bucket_in_frankfurt_is_allowed_and_unknown_stores_are_gaps(check, eu_customers):
    answer = check(plan("aws_bucket_in_frankfurt.json")).json()

    assert answer["verdict"] == "allow"
    stores = stores_by_address(answer)
    (decision,) = stores["aws_s3_bucket.customer_exports"]["decisions"]
    assert (decision["region"], decision["outcome"]) == (FRANKFURT, "allow")
    assert decision["legal"]["outcome"] == "allow"
    # The DynamoDB table holds no dataset the catalog knows: a gap, which does not fail the plan.
    table = stores["aws_dynamodb_table.sessions"]
    assert (table["status"], table["outcome"]) == ("catalog_gap", "")
    assert answer["catalog_gaps"] == ["dynamodb://web-sessions"]
    gap = UnregisteredAsset.objects.get()
    assert gap.dataset_ref == "dynamodb://web-sessions"
    assert gap.last_region == FRANKFURT
    assert gap.last_actor == "Terraform plan: aws_dynamodb_table.sessions"
    # A deletion is listed, not judged; the versioning resource holds no data of its own.
    assert stores["aws_s3_bucket.old_archive"]["status"] == "not_judged"
    assert answer["other_resources"] == 1
    assert (answer["format_version"], answer["terraform_version"]) == ("1.2", "1.9.8")


def test_a_gap_is_counted_again_on_the_next_check_and_officers_see_it(
    check, eu_customers, api_client, privacy_officer
):
    check(plan("aws_bucket_in_frankfurt.json"))
    check(plan("aws_bucket_in_frankfurt.json"))

    assert UnregisteredAsset.objects.get().events == 2
    listed = api_client(privacy_officer).get("/api/v1/catalog-gaps/").json()
    assert [g["dataset_ref"] for g in listed["results"]] == ["dynamodb://web-sessions"]


def test_officers_see_the_gap_and_registering_it_maps_the_next_plan(
    check, eu_customers, client, privacy_officer
):
    check(plan("aws_bucket_in_frankfurt.json"))
    client.force_login(privacy_officer)

    page = client.get("/monitoring/lineage/gaps/").content.decode()

    assert "dynamodb://web-sessions" in page
    assert "Terraform plan: aws_dynamodb_table.sessions" in page
    assert '<span class="muted">Terraform plan</span>' in page
    catalog_gap_register(
        actor=privacy_officer,
        gap=UnregisteredAsset.objects.get(),
        name="Web sessions",
        slug="web-sessions",
        storage_region=Region.objects.get(code=FRANKFURT),
        sensitivity="internal",
        retention_days=30,
    )
    forget_index()
    answer = check(plan("aws_bucket_in_frankfurt.json")).json()
    table = stores_by_address(answer)["aws_dynamodb_table.sessions"]
    assert (table["status"], table["matched_by"], table["datasets"]) == (
        "judged",
        "uri",
        ["web-sessions"],
    )
    assert answer["catalog_gaps"] == []


def test_a_tag_naming_an_unknown_dataset_fails_the_plan(check, eu_customers):
    document = plan("aws_bucket_in_frankfurt.json")
    bucket = document["resource_changes"][0]["change"]["after"]
    bucket["tags_all"]["locus:dataset"] = "no-such-dataset"

    answer = check(document).json()

    assert answer["verdict"] == "deny"
    store = stores_by_address(answer)["aws_s3_bucket.customer_exports"]
    assert store["status"] == "unresolved"
    assert "no-such-dataset" in store["reason"]


def test_a_region_locus_does_not_know_fails_the_plan(check, eu_customers):
    document = plan("aws_bucket_in_frankfurt.json")
    document["variables"]["region"]["value"] = "eu-mars-1"

    answer = check(document).json()

    assert answer["verdict"] == "deny"
    store = stores_by_address(answer)["aws_s3_bucket.customer_exports"]
    assert store["status"] == "unresolved"
    assert "eu-mars-1" in store["reason"]
    assert not LocalityDecision.objects.exists()


def test_a_resource_region_wins_over_the_provider_region(check, eu_customers):
    document = plan("aws_bucket_in_mumbai.json")
    document["resource_changes"][0]["change"]["after"]["region"] = "eu-central-1"

    answer = check(document).json()

    assert answer["verdict"] == "allow"
    bucket = stores_by_address(answer)["aws_s3_bucket.customer_exports"]
    assert bucket["places"][0] == {
        "given": "eu-central-1",
        "given_by": "region",
        "regions": [FRANKFURT],
    }


# --- Google Cloud -----------------------------------------------------------------------------


def test_gcp_labels_multi_regions_and_module_resources(check, eu_customers, data_owner):
    make_dataset(
        data_owner,
        slug="eu-orders",
        uri="bigquery/acme-prod.analytics.orders",
        lawful_basis="contract",
        storage_region=AMSTERDAM,
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )

    answer = check(plan("gcp.json")).json()

    stores = stores_by_address(answer)
    bucket = stores["google_storage_bucket.training_data"]
    assert (bucket["matched_by"], bucket["datasets"]) == ("tag", ["eu-customers"])
    assert [(d["region"], d["outcome"]) for d in bucket["decisions"]] == [(AMSTERDAM, "allow")]
    # The BigQuery dataset in the US multi-region holds EU orders: judged in every US region.
    warehouse = stores["google_bigquery_dataset.analytics"]
    assert warehouse["reference"] == "bigquery/acme-prod.analytics"
    assert warehouse["datasets"] == ["eu-orders"]
    us_regions = sorted(d["region"] for d in warehouse["decisions"])
    assert us_regions == warehouse["places"][0]["regions"]
    assert "gcp:us-central1" in us_regions
    assert all(r.startswith("gcp:us-") for r in us_regions)
    assert {d["legal"]["outcome"] for d in warehouse["decisions"]} == {"needs_mechanism"}
    assert warehouse["outcome"] == "deny"
    assert answer["verdict"] == "deny"
    # The endpoint in a child module serves no known dataset: a gap.
    endpoint = stores["module.serving.google_vertex_ai_endpoint.churn"]
    assert (endpoint["status"], endpoint["action"]) == ("catalog_gap", "process")
    assert answer["catalog_gaps"] == ["vertexai://endpoint/churn-endpoint"]


# --- Azure ------------------------------------------------------------------------------------


def test_azure_database_takes_its_servers_location(check, eu_customers):
    answer = check(plan("azure.json")).json()

    stores = stores_by_address(answer)
    lake = stores["azurerm_storage_account.lake"]
    assert [(d["region"], d["outcome"]) for d in lake["decisions"]] == [
        ("azure:westeurope", "allow")
    ]
    database = stores["azurerm_mssql_database.crm"]
    assert database["places"] == [
        {
            "given": "East US",
            "given_by": "azurerm_mssql_server.crm.id location",
            "regions": ["azure:eastus"],
        }
    ]
    (decision,) = database["decisions"]
    assert (decision["region"], decision["outcome"]) == ("azure:eastus", "deny")
    assert decision["legal"]["outcome"] == "needs_mechanism"
    assert answer["verdict"] == "deny"
    assert stores["azurerm_mssql_server.crm"]["status"] == "catalog_gap"
    assert stores["azurerm_machine_learning_workspace.ml"]["action"] == "process"
    assert answer["catalog_gaps"] == [
        "azureml://acme-ml",
        "mssql://acme-crm-sql.database.windows.net",
    ]
    assert answer["other_resources"] == 1  # the resource group


def test_a_storage_account_holds_the_data_lake_paths_under_it(check, data_owner):
    make_dataset(
        data_owner,
        slug="lake-events",
        uri="abfss://events@acmelake.dfs.core.windows.net/raw",
        storage_region="azure:westeurope",
    )
    document = plan("azure.json")
    del document["resource_changes"][1]["change"]["after"]["tags"]["locus:dataset"]

    answer = check(document).json()

    lake = stores_by_address(answer)["azurerm_storage_account.lake"]
    assert (lake["matched_by"], lake["datasets"]) == ("uri", ["lake-events"])


# --- Bad documents, permissions, the schema ---------------------------------------------------


BAD_PLANS = [
    (lambda d: d.update(format_version="2.0"), "plan.format_version"),
    (lambda d: d.pop("format_version"), "plan.format_version"),
    (lambda d: d.update(resource_changes={}), "plan.resource_changes"),
    (
        lambda d: d["resource_changes"][2]["change"].update(actions=["destroy"]),
        "plan.resource_changes[2].change.actions",
    ),
    (
        lambda d: d["resource_changes"][0]["change"].update(actions=["create", "update"]),
        "plan.resource_changes[0].change.actions",
    ),
    (lambda d: d["resource_changes"][1].pop("address"), "plan.resource_changes[1].address"),
    (lambda d: d["resource_changes"][0].pop("change"), "plan.resource_changes[0].change"),
    (
        lambda d: d["resource_changes"][0]["change"].update(after=[1]),
        "plan.resource_changes[0].change.after",
    ),
    (
        lambda d: d["configuration"].update(provider_config=[]),
        "plan.configuration.provider_config",
    ),
    (  # a data source has its type too
        lambda d: d["resource_changes"][0].update(mode="data", type=""),
        "plan.resource_changes[0].type",
    ),
    (lambda d: d.update(format_version="10.0"), "plan.format_version"),
]


@pytest.mark.parametrize(("change", "field"), BAD_PLANS)
def test_a_bad_plan_is_a_400_naming_the_field(check, eu_customers, change, field):
    document = plan("aws_bucket_in_frankfurt.json")
    change(document)

    response = check(document)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not LocalityDecision.objects.exists()
    assert not UnregisteredAsset.objects.exists()


def test_a_state_file_or_no_plan_is_a_400(check):
    state = {"format_version": "1.0", "values": {"root_module": {}}}

    assert list(check(state).json()) == ["plan.resource_changes"]
    assert list(check([]).json()) == ["plan"]
    assert "purpose" in check(plan("gcp.json"), purpose="no-such-purpose").json()


def test_people_without_a_role_are_refused(api_client, outsider, eu_customers):
    response = api_client(outsider).post(
        URL, {"plan": plan("gcp.json"), "purpose": "analytics"}, format="json"
    )

    assert response.status_code == 403
    assert not LocalityDecision.objects.exists()


def test_the_schema_documents_the_plan_check(api_client, engineer):
    schema = api_client(engineer).get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/plans/check"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert request.endswith("/PlanCheckRequest")
    assert answer.endswith("/PlanCheckAnswer")
    assert "catalog_gaps" in schema["components"]["schemas"]["PlanCheckAnswer"]["properties"]


def _json_schema(openapi: object) -> object:
    """An OpenAPI 3.0 schema as JSON Schema (draft 4) reads it: `nullable` as a type of null."""
    if isinstance(openapi, list):
        return [_json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    found = {key: _json_schema(value) for key, value in openapi.items() if key != "nullable"}
    if openapi.get("nullable") and "type" in found:
        found["type"] = [found["type"], "null"]
    return found


@pytest.fixture(scope="module")
def plan_validator(django_db_setup, django_db_blocker):
    from jsonschema import Draft4Validator
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    described = schema["components"]["schemas"]["PlanCheckRequest"]["properties"]["plan"]
    return Draft4Validator(_json_schema({**described, "components": schema["components"]}))


@pytest.mark.parametrize("name", ["aws_bucket_in_frankfurt.json", "azure.json", "gcp.json"])
def test_the_schema_takes_the_plans_locus_takes(plan_validator, name):
    assert not list(plan_validator.iter_errors(plan(name)))


@pytest.mark.parametrize(("change", "field"), BAD_PLANS)
def test_the_schema_refuses_the_plans_locus_refuses(plan_validator, change, field):
    document = plan("aws_bucket_in_frankfurt.json")
    change(document)

    assert list(plan_validator.iter_errors(document)), field


def test_the_schema_refuses_a_state_file(plan_validator):
    state = {"format_version": "1.0", "values": {"root_module": {}}}
    assert list(plan_validator.iter_errors(state))


# --- Reading places (no server) ---------------------------------------------------------------


def test_gcp_locations_become_locus_regions(db):
    regions = current_index().regions

    assert region_codes("gcp", "EUROPE-WEST4", regions) == (AMSTERDAM,)
    assert region_codes("gcp", "EUR4", regions) == ("gcp:europe-north1", AMSTERDAM)
    eu = region_codes("gcp", "EU", regions)
    assert AMSTERDAM in eu and "gcp:europe-west2" not in eu  # London is not in the EU
    assert region_codes("azure", "West Europe", regions) == ("azure:westeurope",)
    assert region_codes("aws", "eu-mars-1", regions) == ()


def test_an_aliased_provider_and_dynamodb_replicas_are_places(db):
    document = plan("aws_bucket_in_frankfurt.json")
    document["configuration"]["provider_config"]["aws.us"] = {
        "name": "aws",
        "full_name": "registry.terraform.io/hashicorp/aws",
        "alias": "us",
        "expressions": {"region": {"constant_value": "us-east-1"}},
    }
    document["configuration"]["root_module"]["resources"][2]["provider_config_key"] = "aws.us"
    table = document["resource_changes"][2]["change"]["after"]
    table["replica"] = [{"region_name": "eu-west-1"}]
    parsed = parse_plan(copy.deepcopy(document))
    change = parsed.changes[2]

    found = places(STORE_TYPES[change.type], change, parsed)

    assert [(p.given, p.source) for p in found] == [
        ("us-east-1", "provider region"),
        ("eu-west-1", "replica.region_name"),
    ]


def test_a_plan_asking_too_many_decisions_is_a_400(check, eu_customers, data_owner, monkeypatch):
    monkeypatch.setattr("monitoring.plans.services.MAX_DECISIONS_PER_PLAN", 1)
    make_dataset(data_owner, slug="eu-orders", uri="bigquery/acme-prod.analytics.orders")

    response = check(plan("gcp.json"))  # the US multi-region: several decisions

    assert response.status_code == 400
    assert "At most 1 decisions per plan" in response.json()["plan"][0]
    assert not LocalityDecision.objects.exists()


def test_odd_values_where_the_format_leaves_them_open_are_not_places(check, eu_customers):
    document = plan("gcp.json")
    document["configuration"]["provider_config"]["google"]["expressions"] = ["region"]
    bucket = document["resource_changes"][0]["change"]["after"]
    bucket["custom_placement_config"] = [{"data_locations": 5}]
    bucket["location"] = 7

    answer = check(document).json()

    store = stores_by_address(answer)["google_storage_bucket.training_data"]
    assert (store["status"], store["places"]) == ("unresolved", [])
    assert "does not say where" in store["reason"]
