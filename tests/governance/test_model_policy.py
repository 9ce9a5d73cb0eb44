"""The engine's answer for a trained model (governance.policy.trained): deploy and infer judged
from the restrictions of its training data, law and house apart, naming the data that deny."""

import datetime as dt

import pytest

from governance.policy.facts import UnknownInput
from governance.policy.law import LAW_ALLOW, LAW_NEEDS_MECHANISM
from governance.policy.trained import EDPB_AI_MODELS, evaluate_model
from tests.governance.policy_facts import World

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
IRELAND = "aws:eu-west-1"
VIRGINIA = "aws:us-east-1"
MUMBAI = "aws:ap-south-1"
FRANKFURT = "aws:eu-central-1"


@pytest.fixture
def world() -> World:
    world = World()
    world.dataset(
        "eu-health",
        lawful_basis="consent",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[MUMBAI, VIRGINIA, FRANKFURT],
    )
    world.dataset("clicks", sensitivity="internal", allowed_processing_regions=[MUMBAI, FRANKFURT])
    return world


def judge(world, datasets, region, action="deploy", **kwargs):
    return evaluate_model(world.index(), datasets, action, region, "model-training", AT, **kwargs)


@pytest.mark.parametrize("action", ["deploy", "infer"])
def test_a_model_trained_on_eu_personal_data_is_denied_where_the_law_needs_a_mechanism(
    world, action
):
    answer = judge(world, ["eu-health", "clicks"], MUMBAI, action)

    assert answer.outcome == "deny"
    assert answer.causes == ("eu-health",)  # the non-personal data allows it there
    assert answer.legal.outcome == LAW_NEEDS_MECHANISM
    assert answer.legal.regime == "eu"
    assert "GDPR" in answer.legal.citation
    assert answer.house.outcome == "allow"  # the house rules allow Mumbai: the law denies
    assert answer.personal
    assert "EDPB Opinion 28/2024" in answer.reason
    assert answer.reason.startswith("trained on eu-health: ")


def test_a_model_is_allowed_where_every_training_dataset_is(world):
    answer = judge(world, ["eu-health", "clicks"], FRANKFURT)

    assert answer.outcome == "allow"
    assert answer.causes == ()
    assert answer.legal.outcome == LAW_ALLOW
    assert [slug for slug, _ in answer.per_dataset] == ["eu-health", "clicks"]


def test_the_house_verdict_names_the_dataset_whose_declared_regions_deny(world):
    answer = judge(world, ["eu-health", "clicks"], VIRGINIA, scopes=frozenset({"dpf-certified"}))

    assert answer.outcome == "deny"
    assert answer.causes == ("clicks",)
    assert answer.legal.outcome == LAW_ALLOW  # a certified recipient: lawful
    assert answer.house.outcome == "deny"
    assert "clicks" in answer.house.reason


def test_a_model_of_non_personal_data_is_presumed_nothing_by_the_law(world):
    answer = judge(world, ["clicks"], MUMBAI)

    assert answer.outcome == "allow"
    assert not answer.personal
    assert "EDPB" not in answer.reason


def test_a_grant_for_the_training_data_lifts_a_needs_mechanism_denial(world):
    world.grant(
        "eu-health",
        [MUMBAI],
        valid_from=AT - dt.timedelta(days=1),
        valid_until=AT + dt.timedelta(days=30),
        mechanism="scc",
    )

    answer = judge(world, ["eu-health"], MUMBAI)

    assert answer.outcome == "allow_with_grant"
    assert len(answer.grant_ids) == 1


def test_an_officer_rule_for_deployments_applies_to_deployments_only(world):
    world.rule(
        effect="deny", name="no serving in Frankfurt", actions=["infer"], regions=[FRANKFURT]
    )

    assert judge(world, ["clicks"], FRANKFURT, "deploy").outcome == "allow"
    served = judge(world, ["clicks"], FRANKFURT, "infer")
    assert served.outcome == "deny"
    assert "no serving in Frankfurt" in served.house.reason


@pytest.mark.parametrize(
    ("datasets", "action", "field"),
    [([], "deploy", "datasets"), (["clicks"], "train", "action"), (["nope"], "deploy", "dataset")],
)
def test_unknown_input_names_the_field(world, datasets, action, field):
    with pytest.raises(UnknownInput) as raised:
        judge(world, datasets, FRANKFURT, action)
    assert raised.value.field == field


def test_the_opinion_is_cited_in_full():
    assert EDPB_AI_MODELS.startswith("EDPB Opinion 28/2024")
    assert "AI models" in EDPB_AI_MODELS
