"""Privacy-preserving techniques as facts: declared by checks, training runs and derived
datasets, validated, conditioned on by officers' rules, recorded with every decision."""

import json

import pytest

from catalog.models import Country
from governance.ledger.tree import ledger_sequence_all
from governance.models import LedgerEntry, LocalityDecision, LocalityRule
from governance.policy.rules import rule_create
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
RULES = "/api/v1/locality-rules/"
RUNS = "/api/v1/training-runs/"
EDGES = "/api/v1/lineage-edges/"
IRELAND = "aws:eu-west-1"
VIRGINIA = "aws:us-east-1"
FEDERATED_WITH_SECURE_AGGREGATION = ["federated", "secure_aggregation"]


@pytest.fixture
def eu_health(data_owner):
    """EU health data in Ireland that its owner lets be processed in Virginia."""
    return make_dataset(
        data_owner,
        slug="eu-health",
        storage_region=IRELAND,
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[VIRGINIA],
    )


@pytest.fixture
def federated_only_rule(privacy_officer, eu_health):
    """EU health data may contribute to a model trained in the US only through federated
    updates with secure aggregation."""
    return rule_create(
        actor=privacy_officer,
        name="EU health trains in the US only federated",
        jurisdiction_id="eu",
        category_id="health",
        actions=["train"],
        unless_techniques=FEDERATED_WITH_SECURE_AGGREGATION,
        effect=LocalityRule.Effect.DENY,
        regions=[],
        countries=[Country.objects.get(code="US")],
    )


def ledger_data(kind: str) -> dict:
    ledger_sequence_all()  # decisions are queued; the sequencer puts them in the chain
    entry = LedgerEntry.objects.filter(kind=kind).latest("sequence")
    return json.loads(bytes(entry.payload))["data"]


def run_body(**overrides) -> dict:
    body = {
        "name": "triage-model",
        "purpose": "model-training",
        "compute_regions": [VIRGINIA],
        "datasets": [{"dataset": "eu-health"}],
        # The recipients in Virginia are certified under the EU-US Data Privacy Framework, so
        # the law allows the transfer and the house rule decides.
        "scopes": ["dpf-certified"],
    }
    body.update(overrides)
    return body


def test_a_federated_run_passes_a_rule_a_centralised_run_of_the_same_data_fails(
    api_client, engineer, federated_only_rule
):
    client = api_client(engineer)

    centralised = client.post(RUNS, run_body(), format="json")
    federated = client.post(
        RUNS,
        run_body(
            name="triage-model-federated",
            mode="federated",
            techniques=FEDERATED_WITH_SECURE_AGGREGATION,
        ),
        format="json",
    )

    assert centralised.status_code == 201, centralised.content
    assert federated.status_code == 201, federated.content
    (denied,) = centralised.json()["decisions"]
    (allowed,) = federated.json()["decisions"]
    assert centralised.json()["verdict"] == "deny"
    assert denied["house"]["rule"] == f"rule:{federated_only_rule.pk}"
    assert federated.json()["verdict"] == "allow"
    assert allowed["house"]["outcome"] == "allow"
    # The technique changes the house rules' answer only: the law says the same of both.
    assert allowed["legal"] == denied["legal"]
    record = LocalityDecision.objects.get(pk=allowed["decision_id"])
    assert record.techniques == [{"technique": "federated"}, {"technique": "secure_aggregation"}]
    assert federated.json()["techniques"] == record.techniques


def test_federated_updates_without_secure_aggregation_stay_denied(
    api_client, engineer, federated_only_rule
):
    body = run_body(mode="federated")  # a federated run declares federated learning itself

    run = api_client(engineer).post(RUNS, body, format="json").json()

    assert run["techniques"] == [{"technique": "federated"}]
    assert run["verdict"] == "deny"


def test_a_check_records_its_declaration_in_the_decision_and_the_ledger(
    api_client, engineer, federated_only_rule
):
    declaration = [
        "federated",
        "secure_aggregation",
        {"technique": "differential_privacy", "epsilon": 3, "delta": 1e-6},
    ]
    body = {
        "dataset": "eu-health",
        "action": "train",
        "region": VIRGINIA,
        "purpose": "model-training",
        "scopes": ["dpf-certified"],
        "techniques": declaration,
    }

    answer = api_client(engineer).post(CHECK, body, format="json")

    assert answer.status_code == 200, answer.content
    assert answer.json()["outcome"] == "allow"
    expected = [
        {"technique": "differential_privacy", "epsilon": 3.0, "delta": 1e-6},
        {"technique": "federated"},
        {"technique": "secure_aggregation"},
    ]
    assert answer.json()["techniques"] == expected
    assert LocalityDecision.objects.get(pk=answer.json()["decision_id"]).techniques == expected
    assert ledger_data("locality.decisions")["techniques"] == [expected]


@pytest.mark.parametrize(
    ("declaration", "field"),
    [
        (
            [{"technique": "differential_privacy", "epsilon": 0, "delta": 0}],
            "techniques[0].epsilon",
        ),
        (
            [{"technique": "differential_privacy", "epsilon": -1, "delta": 0}],
            "techniques[0].epsilon",
        ),
        ([{"technique": "differential_privacy", "epsilon": 1, "delta": 1}], "techniques[0].delta"),
        (
            [{"technique": "differential_privacy", "epsilon": 1, "delta": -0.1}],
            "techniques[0].delta",
        ),
        ([{"technique": "differential_privacy", "epsilon": 1}], "techniques[0].delta"),
        (
            [{"technique": "differential_privacy", "epsilon": "1", "delta": 0}],
            "techniques[0].epsilon",
        ),
        (["federated", {"technique": "telepathy"}], "techniques[1].technique"),
        ([{"technique": {}}], "techniques[0].technique"),
        ([{"technique": ["federated"]}], "techniques[0].technique"),
        (["federated", {"technique": "federated", "epsilon": 1}], "techniques[1].epsilon"),
        (["secure_aggregation"], "techniques"),
        (["anonymisation", "pseudonymisation"], "techniques"),
        (["federated", "federated"], "techniques"),
        ("federated", "techniques"),
        ([7], "techniques[0]"),
    ],
)
def test_a_bad_declaration_is_a_400_naming_the_field(
    api_client, engineer, eu_health, declaration, field
):
    client = api_client(engineer)
    body = {
        "dataset": "eu-health",
        "action": "train",
        "region": VIRGINIA,
        "purpose": "model-training",
        "techniques": declaration,
    }

    check = client.post(CHECK, body, format="json")
    run = client.post(RUNS, run_body(techniques=declaration), format="json")

    for answer in (check, run):
        assert answer.status_code == 400, answer.content
        (message,) = answer.json()["techniques"]
        assert message.startswith(f"{field}: ")
    assert not LocalityDecision.objects.exists()


def test_a_centralised_run_may_not_declare_federated_learning(api_client, engineer, eu_health):
    answer = api_client(engineer).post(RUNS, run_body(techniques=["federated"]), format="json")

    assert answer.status_code == 400
    assert "mode" in answer.json()


def test_pseudonymisation_does_not_change_the_law(api_client, engineer, eu_health):
    """Pseudonymised data is still personal data (GDPR Recital 26, Art. 4(5))."""
    client = api_client(engineer)
    body = {
        "dataset": "eu-health",
        "action": "train",
        "region": VIRGINIA,
        "purpose": "model-training",
    }

    plain = client.post(CHECK, body, format="json").json()
    pseudonymised = client.post(
        CHECK, {**body, "techniques": ["pseudonymisation"]}, format="json"
    ).json()

    assert plain["legal"]["outcome"] == "needs_mechanism"
    assert pseudonymised["legal"] == plain["legal"]
    assert pseudonymised["outcome"] == plain["outcome"] == "deny"


def test_officers_write_rules_on_techniques_and_bad_names_are_refused(
    api_client, privacy_officer, eu_health
):
    client = api_client(privacy_officer)
    body = {
        "name": "Health to the US only federated",
        "category": "health",
        "effect": "deny",
        "countries": ["US"],
        "unless_techniques": ["secure_aggregation", "federated"],
    }

    created = client.post(RULES, body, format="json")
    refused = client.post(RULES, {**body, "unless_techniques": ["telepathy"]}, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["unless_techniques"] == ["federated", "secure_aggregation"]
    assert refused.status_code == 400
    assert "unless_techniques" in refused.json()


def test_a_derived_dataset_keeps_lineage_to_its_source_and_its_own_restrictions(
    api_client, data_owner, eu_health
):
    synthetic = make_dataset(
        data_owner, slug="eu-health-synthetic", storage_region=IRELAND, sensitivity="internal"
    )
    client = api_client(data_owner)
    body = {
        "upstream": "eu-health",
        "downstream": "eu-health-synthetic",
        "transformation": "generated by a tabular GAN",
        "techniques": [
            "synthetic",
            {"technique": "differential_privacy", "epsilon": 1.5, "delta": 0},
        ],
    }

    wrong_source = client.post(
        EDGES,
        {**body, "techniques": [{"technique": "synthetic", "source": "other"}]},
        format="json",
    )
    edge = client.post(EDGES, body, format="json")

    assert wrong_source.status_code == 400
    assert "techniques[0].source" in wrong_source.json()
    assert edge.status_code == 201, edge.content
    assert edge.json()["techniques"] == [
        {"technique": "differential_privacy", "epsilon": 1.5, "delta": 0.0},
        {"technique": "synthetic", "source": "eu-health"},
    ]
    assert ledger_data("catalog.lineage_edge.added")["techniques"] == edge.json()["techniques"]
    # Its own, lower restrictions: it holds no personal data, so the law that needs a
    # mechanism for the source in Virginia has nothing to say of it.
    question = {"action": "train", "region": VIRGINIA, "purpose": "model-training"}
    source = client.post(CHECK, {**question, "dataset": "eu-health"}, format="json").json()
    derived = client.post(CHECK, {**question, "dataset": synthetic.slug}, format="json").json()
    assert source["legal"]["outcome"] == "needs_mechanism"
    assert derived["legal"]["outcome"] == "allow"


def test_the_run_and_decision_pages_show_the_declaration(
    client, api_client, engineer, federated_only_rule
):
    declared = ["federated", "secure_aggregation"]
    body = run_body(
        mode="federated",
        techniques=[*declared, {"technique": "differential_privacy", "epsilon": 2, "delta": 0}],
    )
    run = api_client(engineer).post(RUNS, body, format="json").json()
    client.force_login(engineer)

    run_page = client.get(f"/governance/runs/{run['id']}/")
    decision_page = client.get(f"/governance/decisions/{run['decisions'][0]['decision_id']}/")

    for page in (run_page, decision_page):
        assert page.status_code == 200
        text = page.content.decode()
        assert all(f">{name}<" in text for name in declared)
        assert "differential_privacy ε=2.0, δ=0.0" in text


def test_reads_a_run_reports_are_judged_with_its_declaration(
    api_client, engineer, federated_only_rule
):
    client = api_client(engineer)
    federated = client.post(
        RUNS,
        run_body(mode="federated", techniques=FEDERATED_WITH_SECURE_AGGREGATION),
        format="json",
    ).json()
    reads = {"reads": [{"dataset": "eu-health", "region": VIRGINIA}]}

    (read,) = client.post(f"{RUNS}{federated['id']}/reads/", reads, format="json").json()["results"]

    assert read["house"]["outcome"] == "allow"
    assert read["techniques"] == federated["techniques"]


def test_the_engine_answers_each_declaration_apart_from_its_memo():
    """The officer-rule memo never hands one declaration's answer to another."""
    import dataclasses
    import datetime as dt

    from governance.policy.engine import evaluate
    from tests.governance.policy_facts import World

    world = World()
    world.dataset(
        "health",
        lawful_basis="contract",
        personal_data_categories=["health"],
        allowed_processing_regions=[VIRGINIA],
    )
    rule = world.rule(effect=LocalityRule.Effect.DENY, category="health", countries=["US"])
    world.rules[-1] = dataclasses.replace(
        rule, unless_techniques=frozenset(FEDERATED_WITH_SECURE_AGGREGATION)
    )
    index = world.index()
    at = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    both = frozenset(FEDERATED_WITH_SECURE_AGGREGATION)

    def house(techniques=frozenset()):
        decision = evaluate(
            index, "health", "train", VIRGINIA, "model-training", at, (), techniques
        )
        return decision.house.outcome

    answers = [house(), house(both), house(frozenset({"federated"})), house(), house(both)]

    assert answers == ["deny", "allow", "deny", "deny", "allow"]
