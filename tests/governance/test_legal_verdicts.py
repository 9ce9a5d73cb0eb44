"""The law apart from the house rules, where people and pipelines see an answer: the check API
and its OpenAPI schema, the decision log, the check page, the CLI's output; and the legal
coverage report (command and page)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from governance.models import LocalityDecision
from governance.policy.index import forget_index
from locus_client.cli import describe_decision
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
IRELAND = "aws:eu-west-1"
FRANKFURT = "aws:eu-central-1"
MUMBAI = "aws:ap-south-1"
TORONTO = "aws:ca-central-1"


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    forget_index()
    yield
    forget_index()


@pytest.fixture
def catalog(data_owner):
    make_dataset(
        data_owner,
        slug="public-weather",
        sensitivity="public",
        lawful_basis="not_personal",
        storage_region=IRELAND,
        allowed_processing_regions=[FRANKFURT],
    )
    make_dataset(
        data_owner,
        slug="eu-customers",
        lawful_basis="consent",
        storage_region=IRELAND,
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[MUMBAI, TORONTO],
    )


def ask(client, dataset, region, **extra):
    body = {"dataset": dataset, "region": region, "action": "train", "purpose": "model-training"}
    response = client.post(CHECK, {**body, **extra}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_public_dataset_outside_its_declared_regions_is_a_house_deny_and_a_legal_allow(
    api_client, engineer, catalog
):
    answer = ask(api_client(engineer), "public-weather", MUMBAI)

    assert answer["outcome"] == "deny"
    assert answer["house"]["outcome"] == "deny"
    assert answer["house"]["rule"] == "builtin:dataset-allowed-regions"
    assert answer["legal"]["outcome"] == "allow"
    assert "no personal data" in answer["legal"]["reason"]
    record = LocalityDecision.objects.get(pk=answer["decision_id"])
    assert (record.legal_outcome, record.house_outcome) == ("allow", "deny")


def test_personal_data_the_house_allows_and_the_law_restricts(api_client, engineer, catalog):
    answer = ask(api_client(engineer), "eu-customers", MUMBAI)

    assert answer["outcome"] == "deny"
    assert answer["house"]["outcome"] == "allow"
    assert answer["legal"] == {
        "outcome": "needs_mechanism",
        "rule": "law:eu:transfer",
        "reason": answer["legal"]["reason"],
        "citation": answer["legal"]["citation"],
        "regime": "eu",
        "mechanisms": answer["legal"]["mechanisms"],
        "verified": None,
        "basis": "",
    }
    assert "GDPR" in answer["legal"]["citation"]
    assert {"scc", "bcr"} <= set(answer["legal"]["mechanisms"])


def test_a_declared_scope_answers_the_scope_question_and_is_recorded(api_client, engineer, catalog):
    client = api_client(engineer)

    asked = ask(client, "eu-customers", TORONTO)
    in_scope = ask(client, "eu-customers", TORONTO, scopes=["pipeda-commercial"])

    assert asked["outcome"] == "deny" and "is the recipient pipeda-commercial" in asked["reason"]
    assert (in_scope["outcome"], in_scope["rule"]) == ("allow", "law:eu:adequacy")
    record = LocalityDecision.objects.get(pk=in_scope["decision_id"])
    assert record.scopes == ["pipeda-commercial"]


def test_a_malformed_scope_is_a_400_naming_the_field(api_client, engineer, catalog):
    response = api_client(engineer).post(
        CHECK,
        {
            "dataset": "eu-customers",
            "region": TORONTO,
            "action": "train",
            "purpose": "model-training",
            "scopes": ["not a slug!"],
        },
        format="json",
    )

    assert response.status_code == 400
    assert "scopes" in response.json()


def test_the_decision_log_lists_and_filters_by_verdict(api_client, engineer, auditor, catalog):
    client = api_client(engineer)
    ask(client, "public-weather", MUMBAI)
    ask(client, "eu-customers", MUMBAI)

    rows = api_client(auditor).get("/api/v1/decisions/", {"house_outcome": "deny"}).json()

    assert [r["dataset_slug"] for r in rows["results"]] == ["public-weather"]
    assert rows["results"][0]["legal_outcome"] == "allow"


def test_the_schema_documents_both_verdicts():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    decision = components["Decision"]["properties"]
    assert {"legal", "house"} <= set(decision)
    legal = components["LegalVerdict"]["properties"]
    assert {"outcome", "rule", "reason", "citation", "regime", "mechanisms"} <= set(legal)
    assert set(components["LegalOutcomeEnum"]["enum"]) == {
        "allow",
        "not_encoded",
        "needs_mechanism",
        "deny",
    }
    check = components["CheckRequest"]["properties"]
    assert check["scopes"]["type"] == "array"


def test_the_check_page_shows_the_law_and_the_house_rules(client, engineer, catalog):
    client.force_login(engineer)

    page = client.post(
        "/governance/check/",
        {
            "dataset": "eu-customers",
            "region": MUMBAI,
            "action": "train",
            "purpose": "model-training",
        },
    )

    text = page.content.decode()
    assert "What the law says" in text and "What the house rules say" in text
    assert "Needsmechanism" in text or "Needs" in text
    assert "does not recognise IN" in text


def test_the_cli_prints_the_law_and_the_house_rules_on_their_own_lines():
    text = describe_decision(
        {
            "outcome": "deny",
            "action": "train",
            "dataset": "eu-customers",
            "region": MUMBAI,
            "purpose": "model-training",
            "rule": "law:eu:transfer",
            "reason": "GDPR (EU/EEA) does not recognise IN",
            "decision_id": 7,
            "legal": {
                "outcome": "needs_mechanism",
                "regime": "eu",
                "reason": "GDPR (EU/EEA) does not recognise IN",
                "citation": "GDPR Arts. 44-49",
            },
            "house": {"outcome": "allow", "reason": "aws:ap-south-1 is an allowed region"},
        }
    )

    assert "  law:      needs_mechanism (eu): GDPR (EU/EEA) does not recognise IN" in text
    assert "[GDPR Arts. 44-49]" in text
    assert "  house:    allow: aws:ap-south-1 is an allowed region" in text


# --- The legal coverage report -----------------------------------------------------------------


def test_the_coverage_command_lists_every_jurisdiction_with_what_is_unverified():
    out = io.StringIO()
    call_command("legal_coverage", stdout=out)

    table = out.getvalue()
    assert "| Switzerland (FADP) (`ch`) |" in table
    assert "| Russia (Federal Law 152-FZ on Personal Data) (`ru`) |" in table
    assert "31 jurisdictions; none is missing a fact" in table


def test_the_coverage_json_names_each_fact_with_its_citation():
    out = io.StringIO()
    call_command("legal_coverage", "--json", stdout=out)

    rows = {row["jurisdiction"]: row for row in json.loads(out.getvalue())}
    russia = {fact["topic"]: fact for fact in rows["ru"]["facts"]}
    assert "152-FZ Art. 18(5)" in russia["localisation"]["citation"]
    assert russia["transfer rule"]["says"].startswith("Restricted")
    for row in rows.values():
        for fact in row["facts"]:
            assert fact["citation"] or fact["topic"] == "subject rights", (
                row["jurisdiction"],
                fact,
            )


def test_a_jurisdiction_without_a_transfer_rule_says_so(auditor):
    from catalog.models import TransferLaw

    TransferLaw.objects.filter(jurisdiction_id="hk").delete()
    out = io.StringIO()
    call_command("legal_coverage", stdout=out)

    assert "missing facts for: hk" in out.getvalue()


def test_the_coverage_page_shows_a_jurisdictions_facts(client, auditor):
    client.force_login(auditor)

    overview = client.get("/governance/legal-coverage/")
    detail = client.get("/governance/legal-coverage/", {"jurisdiction": "uk"})
    unknown = client.get("/governance/legal-coverage/", {"jurisdiction": "atlantis"})

    assert overview.status_code == 200
    assert "United Kingdom (UK GDPR)" in overview.content.decode()
    text = detail.content.decode()
    assert "Destinations its law recognises" in text and "Japan" in text
    assert unknown.status_code == 404
