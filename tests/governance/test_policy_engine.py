"""The locality policy engine: every shipped rule, officers' rules, adequacy dates and grants.

`evaluate()` is a pure function over a `PolicyIndex`, so most tests build the facts in memory
(tests/governance/policy_facts.py: the shipped reference data plus plain datasets, rules and
grants) and need no database. The tests at the end go through the catalog and governance
services and the compiled index, and check that the catalog yields the same facts.
"""

import dataclasses
import datetime as dt
import re

import pytest

from catalog.models import Country, Dataset, Jurisdiction, Region
from governance.grants.services import grant_create, grant_revoke
from governance.models import LocalityRule, Outcome, Purpose
from governance.policy.engine import evaluate
from governance.policy.facts import (
    RULE_DATASET_REGIONS,
    RULE_RESTRICTED,
    RULE_SAME_REGION,
    UnknownInput,
)
from governance.policy.index import compile_index, current_index, policy_version
from governance.policy.rules import rule_create
from tests.factories import make_dataset
from tests.governance.policy_facts import World

# A fixed moment, so the adequacy decisions in force do not depend on the day the suite runs:
# the renewed EU decision for the UK (from 2025-12-28) and the EU-US Data Privacy Framework apply.
AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)

ALLOW, GRANT, DENY = Outcome.ALLOW, Outcome.ALLOW_WITH_GRANT, Outcome.DENY
SAME_REGION = RULE_SAME_REGION
DATASET_REGIONS = RULE_DATASET_REGIONS
RESTRICTED = RULE_RESTRICTED
# The law's rules, as decisions name them.
ADEQUACY = "law:eu:adequacy"  # a destination GDPR recognises
CHAPTER_V = "law:eu:transfer"  # GDPR Chapter V: needs a mechanism
EU_SCOPE = "law:eu:scope"  # recognised for some recipients only: is the recipient in scope?
UK_SCOPE = "law:uk:scope"
PIPL = "law:cn:transfer"  # PIPL Art. 38: needs a security assessment, certification or contract

# Region codes, by where they are.
IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
FRANCE = "aws:eu-west-3"
NORWAY = "azure:norwayeast"  # EEA, not EU
LONDON = "aws:eu-west-2"
ZURICH = "aws:eu-central-2"
TOKYO = "aws:ap-northeast-1"
SEOUL = "aws:ap-northeast-2"
VIRGINIA = "aws:us-east-1"
OREGON = "aws:us-west-2"
MUMBAI = "aws:ap-south-1"
SINGAPORE = "aws:ap-southeast-1"
BEIJING = "aws:cn-north-1"
NINGXIA = "aws:cn-northwest-1"
HONG_KONG = "alibaba:cn-hongkong"

# A small catalog with one dataset per shipped rule, built in memory or through the services.
WORLD = {
    "eu-customers": {
        "uri": "s3://locus-eu/customers",
        "storage_region": IRELAND,
        "lawful_basis": "consent",
        "personal_data_categories": ["contact", "identifiers"],
        "subject_jurisdictions": ["eu"],
        "allowed_processing_regions": [GERMANY, NORWAY, LONDON, ZURICH, TOKYO, VIRGINIA, MUMBAI],
    },
    "eu-home-only": {
        "storage_region": IRELAND,
        "lawful_basis": "contract",
        "personal_data_categories": ["contact"],
        "subject_jurisdictions": ["eu"],
    },
    "eu-restricted": {
        "storage_region": IRELAND,
        "sensitivity": "restricted",
        "allowed_processing_regions": [GERMANY],
    },
    "uk-customers": {
        "storage_region": LONDON,
        "lawful_basis": "contract",
        "personal_data_categories": ["contact"],
        "subject_jurisdictions": ["uk"],
        "allowed_processing_regions": [IRELAND, NORWAY, VIRGINIA],
    },
    "cn-users": {
        "storage_region": BEIJING,
        "lawful_basis": "consent",
        "personal_data_categories": ["contact"],
        "subject_jurisdictions": ["cn"],
        "allowed_processing_regions": [NINGXIA, HONG_KONG, TOKYO],
    },
    "eu-telemetry": {
        "storage_region": IRELAND,
        "lawful_basis": "not_personal",
        "subject_jurisdictions": ["eu"],
        "allowed_processing_regions": [VIRGINIA, MUMBAI],
    },
    "cn-sensors": {
        "storage_region": BEIJING,
        "lawful_basis": "not_personal",
        "subject_jurisdictions": ["cn"],
        "allowed_processing_regions": [VIRGINIA],
    },
}


@pytest.fixture
def world() -> World:
    """The small catalog above, in memory."""
    facts = World()
    for slug, fields in WORLD.items():
        facts.dataset(slug, **fields)
    return facts


@pytest.fixture
def empty() -> World:
    """Only the shipped reference data."""
    return World()


def gdpr_personal(world: World, slug: str, **overrides):
    """EU data subjects' personal data, stored in Ireland."""
    fields = {
        "storage_region": IRELAND,
        "lawful_basis": "consent",
        "personal_data_categories": ["contact"],
        "subject_jurisdictions": ["eu"],
    }
    fields.update(overrides)
    return world.dataset(slug, **fields)


def decide(
    world: World, dataset, region, *, action="train", purpose="model-training", at=AT, scopes=()
):
    return evaluate(world.index(), dataset, action, region, purpose, at, frozenset(scopes))


# --- The shipped rules, one row per case ------------------------------------------------------


SHIPPED_RULES = [
    pytest.param("eu-home-only", IRELAND, ALLOW, SAME_REGION, id="same-storage-region-allowed"),
    pytest.param(
        "eu-customers", GERMANY, ALLOW, DATASET_REGIONS, id="listed-processing-region-allowed"
    ),
    pytest.param(
        "eu-customers", FRANCE, DENY, DATASET_REGIONS, id="unlisted-processing-region-denied"
    ),
    pytest.param(
        "eu-home-only", GERMANY, DENY, DATASET_REGIONS, id="empty-list-means-storage-region-only"
    ),
    pytest.param("eu-restricted", IRELAND, ALLOW, SAME_REGION, id="restricted-at-home-allowed"),
    pytest.param(
        "eu-restricted", GERMANY, DENY, RESTRICTED, id="restricted-stays-even-if-region-listed"
    ),
    pytest.param("eu-customers", NORWAY, ALLOW, DATASET_REGIONS, id="gdpr-inside-eea-allowed"),
    pytest.param("eu-customers", LONDON, ALLOW, ADEQUACY, id="gdpr-to-uk-by-adequacy"),
    pytest.param("eu-customers", TOKYO, DENY, EU_SCOPE, id="gdpr-to-japan-asks-the-scope"),
    pytest.param("eu-customers", ZURICH, ALLOW, ADEQUACY, id="gdpr-to-switzerland-adequacy"),
    pytest.param("eu-customers", VIRGINIA, DENY, EU_SCOPE, id="gdpr-to-us-certified-only"),
    pytest.param("eu-customers", MUMBAI, DENY, CHAPTER_V, id="gdpr-to-india-denied"),
    # UK law keeps the EEA states as adequate (DPA 2018 Sch. 21 paras 4-5).
    pytest.param("uk-customers", IRELAND, ALLOW, "law:uk:adequacy", id="uk-gdpr-to-eu-adequate"),
    pytest.param("uk-customers", NORWAY, ALLOW, "law:uk:adequacy", id="uk-gdpr-to-eea-adequate"),
    pytest.param("uk-customers", VIRGINIA, DENY, UK_SCOPE, id="uk-gdpr-to-us-certified-only"),
    pytest.param("cn-users", BEIJING, ALLOW, SAME_REGION, id="pipl-at-home-allowed"),
    pytest.param("cn-users", NINGXIA, ALLOW, DATASET_REGIONS, id="pipl-within-mainland-allowed"),
    pytest.param("cn-users", HONG_KONG, DENY, PIPL, id="pipl-to-hong-kong-denied"),
    pytest.param("cn-users", TOKYO, DENY, PIPL, id="pipl-to-japan-denied"),
    pytest.param("eu-telemetry", VIRGINIA, ALLOW, DATASET_REGIONS, id="non-personal-eu-to-us"),
    pytest.param("eu-telemetry", MUMBAI, ALLOW, DATASET_REGIONS, id="non-personal-eu-to-india"),
    pytest.param("cn-sensors", VIRGINIA, ALLOW, DATASET_REGIONS, id="non-personal-cn-leaves"),
]


@pytest.mark.parametrize(("dataset", "where", "outcome", "rule"), SHIPPED_RULES)
def test_shipped_rule(world, dataset, where, outcome, rule):
    decision = decide(world, dataset, where)

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason
    assert decision.allowed is (outcome != DENY)
    assert decision.grant_id is None
    assert decision.reason


@pytest.mark.parametrize("action", ["store", "process", "train", "transfer", "access"])
def test_every_action_is_judged_by_the_same_shipped_rules(world, action):
    assert decide(world, "eu-customers", VIRGINIA, action=action).outcome == DENY
    assert decide(world, "eu-customers", LONDON, action=action).outcome == ALLOW


def test_reasons_say_why(world):
    assert "restricted" in decide(world, "eu-restricted", GERMANY).reason
    assert "allowed processing regions" in decide(world, "eu-home-only", GERMANY).reason
    to_hong_kong = decide(world, "cn-users", HONG_KONG).reason
    assert "does not recognise HK" in to_hong_kong and "security_assessment" in to_hong_kong
    to_uk = decide(world, "eu-customers", LONDON).reason
    assert "GB" in to_uk and "renewing UK adequacy" in to_uk
    to_us = decide(world, "eu-customers", VIRGINIA).reason
    assert "only for some recipients" in to_us and "2023/1795" in to_us
    assert "dpf-certified" in to_us
    to_india = decide(world, "eu-customers", MUMBAI).reason
    assert "does not recognise IN on 2026-03-02" in to_india and "GDPR Art. 46" in to_india


def test_personal_categories_make_data_personal_whatever_the_lawful_basis(world):
    world.dataset(
        "mislabelled",
        lawful_basis="not_personal",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[VIRGINIA],
    )

    assert decide(world, "mislabelled", VIRGINIA).rule == EU_SCOPE


# --- Adequacy decisions in force on the day of the work ----------------------------------------


@pytest.mark.parametrize(
    ("day", "instrument", "scope"),
    [
        pytest.param(
            dt.date(2012, 1, 10), "2000/520/EC", "safe-harbor-certified", id="safe-harbor-2012"
        ),
        pytest.param(
            dt.date(2018, 6, 1), "2016/1250", "privacy-shield-certified", id="privacy-shield-2018"
        ),
        pytest.param(
            dt.date(2026, 3, 2), "2023/1795", "dpf-certified", id="data-privacy-framework-2026"
        ),
    ],
)
def test_eu_to_us_frameworks_cover_certified_organisations_only(world, day, instrument, scope):
    at = dt.datetime.combine(day, dt.time(9), dt.UTC)

    decision = decide(world, "eu-customers", VIRGINIA, at=at)
    certified = decide(world, "eu-customers", VIRGINIA, at=at, scopes=[scope])

    assert (decision.outcome, decision.rule) == (DENY, EU_SCOPE)
    assert "only for some recipients" in decision.reason
    assert instrument in decision.reason
    assert (certified.outcome, certified.rule) == (ALLOW, ADEQUACY)


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(dt.date(2015, 10, 6), id="day-of-schrems-i"),
        pytest.param(dt.date(2020, 7, 16), id="day-of-schrems-ii"),
        pytest.param(dt.date(2022, 1, 1), id="between-shield-and-dpf"),
    ],
)
def test_eu_to_us_with_no_framework_in_force(world, day):
    at = dt.datetime.combine(day, dt.time(9), dt.UTC)

    decision = decide(world, "eu-customers", VIRGINIA, at=at)

    assert decision.outcome == DENY
    assert f"does not recognise US on {day}" in decision.reason


def singapore_adequacy(world: World, scope: str = "full", **dates):
    """A made-up EU adequacy decision for Singapore (by default in force for 2024 only)."""
    dates.setdefault("effective_from", dt.date(2024, 1, 1))
    dates.setdefault("effective_until", dt.date(2025, 1, 1))
    world.adequacy_decision(
        "eu",
        "SG",
        scope=scope,
        scope_code="" if scope == "full" else "sg-in-scope",
        instrument="Test decision 2024/1",
        **dates,
    )


@pytest.mark.parametrize(
    ("moment", "outcome", "rule"),
    [
        pytest.param(
            dt.datetime(2023, 12, 31, 23, 59, tzinfo=dt.UTC), DENY, CHAPTER_V, id="before"
        ),
        pytest.param(dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC), ALLOW, ADEQUACY, id="first-day"),
        pytest.param(dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC), ALLOW, ADEQUACY, id="during"),
        pytest.param(
            dt.datetime(2024, 12, 31, 23, 59, tzinfo=dt.UTC), ALLOW, ADEQUACY, id="last-day"
        ),
        pytest.param(
            dt.datetime(2025, 1, 1, 0, 0, tzinfo=dt.UTC), DENY, CHAPTER_V, id="until-is-exclusive"
        ),
        pytest.param(AT, DENY, CHAPTER_V, id="after"),
    ],
)
def test_adequacy_applies_only_between_its_dates(empty, moment, outcome, rule):
    singapore_adequacy(empty)
    gdpr_personal(empty, "eu-people", allowed_processing_regions=[SINGAPORE])

    decision = decide(empty, "eu-people", SINGAPORE, at=moment)

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason
    if outcome == ALLOW:
        assert "Test decision 2024/1" in decision.reason


@pytest.mark.parametrize(
    ("scope", "declared", "outcome", "rule"),
    [
        pytest.param("full", (), ALLOW, ADEQUACY, id="full"),
        pytest.param("partial", (), DENY, EU_SCOPE, id="partial-asks-the-scope"),
        pytest.param("partial", ("sg-in-scope",), ALLOW, ADEQUACY, id="partial-in-scope"),
        pytest.param("partial", ("dpf-certified",), DENY, EU_SCOPE, id="partial-other-scope"),
        pytest.param("certified", (), DENY, EU_SCOPE, id="certified-asks-the-scope"),
        pytest.param("certified", ("sg-in-scope",), ALLOW, ADEQUACY, id="certified-in-scope"),
    ],
)
def test_adequacy_scope(empty, scope, declared, outcome, rule):
    singapore_adequacy(empty, scope, effective_from=dt.date(2020, 1, 1), effective_until=None)
    gdpr_personal(empty, "eu-people", allowed_processing_regions=[SINGAPORE])

    decision = decide(empty, "eu-people", SINGAPORE, scopes=declared)

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason
    if outcome == DENY:
        assert "is the recipient sg-in-scope" in decision.reason
        assert decision.legal.outcome == "needs_mechanism"


def test_uk_adequacy_decisions_do_not_apply_to_eu_data(empty):
    # Each regime applies only its own adequacy decisions.
    gdpr_personal(
        empty,
        "uk-people",
        storage_region=LONDON,
        subject_jurisdictions=["uk"],
        allowed_processing_regions=[SEOUL],
    )
    gdpr_personal(empty, "eu-people", allowed_processing_regions=[SEOUL])

    # Korea has both an EU (2021-12-17) and a UK (2022-12-19) decision: mid-2022 only the EU's.
    mid_2022 = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)
    assert decide(empty, "eu-people", SEOUL, at=mid_2022).outcome == ALLOW
    assert decide(empty, "uk-people", SEOUL, at=mid_2022).outcome == DENY
    assert decide(empty, "uk-people", SEOUL).outcome == ALLOW


def test_data_of_several_regimes_needs_every_regime_to_agree(empty):
    gdpr_personal(
        empty,
        "eu-and-china",
        subject_jurisdictions=["eu", "cn"],
        allowed_processing_regions=[LONDON],
    )

    assert decide(empty, "eu-and-china", LONDON).rule == PIPL


@pytest.mark.parametrize(
    ("storage", "destination", "rule"),
    [
        pytest.param(IRELAND, MUMBAI, CHAPTER_V, id="stored-under-gdpr"),
        pytest.param(BEIJING, TOKYO, PIPL, id="stored-under-pipl"),
    ],
)
def test_personal_data_stored_under_a_regime_follows_its_transfer_rules(
    empty, storage, destination, rule
):
    empty.dataset(
        "personal-no-subjects",
        storage_region=storage,
        lawful_basis="consent",
        personal_data_categories=["contact"],
        allowed_processing_regions=[destination],
    )

    decision = decide(empty, "personal-no-subjects", destination)

    assert (decision.outcome, decision.rule) == (DENY, rule)


# --- Privacy officers' locality rules ------------------------------------------------------------


def test_deny_rule_by_jurisdiction(world):
    rule = world.rule(
        name="No EU data in Japan", jurisdiction="eu", effect="deny", countries=["JP"]
    )

    decision = decide(world, "eu-customers", TOKYO)
    assert (decision.outcome, decision.rule) == (DENY, f"rule:{rule.id}")
    assert "No EU data in Japan" in decision.reason
    # Places the rule does not name, and data under another law, are judged as before.
    assert decide(world, "eu-customers", LONDON).outcome == ALLOW
    assert decide(world, "cn-users", NINGXIA).outcome == ALLOW


def test_jurisdiction_rule_matches_where_the_subjects_are(world):
    world.dataset(
        "eu-people-in-us",
        storage_region=VIRGINIA,
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[OREGON],
    )
    rule = world.rule(jurisdiction="eu", effect="deny", regions=[OREGON])

    assert decide(world, "eu-people-in-us", OREGON).rule == f"rule:{rule.id}"


def test_allow_only_rule_by_sensitivity(world):
    world.dataset("internal-metrics", sensitivity="internal", allowed_processing_regions=[LONDON])
    rule = world.rule(
        name="Confidential stays in Germany",
        sensitivity="confidential",
        effect="allow_only",
        regions=[GERMANY],
    )

    inside, outside = decide(world, "eu-customers", GERMANY), decide(world, "eu-customers", LONDON)
    assert (inside.outcome, inside.rule) == (ALLOW, f"rule:{rule.id}")
    assert (outside.outcome, outside.rule) == (DENY, f"rule:{rule.id}")
    assert "allows only its listed places" in outside.reason
    assert decide(world, "internal-metrics", LONDON).outcome == ALLOW


def test_allow_only_does_not_widen_the_datasets_own_limits(world):
    world.rule(sensitivity="confidential", effect="allow_only", regions=[GERMANY, FRANCE])

    assert decide(world, "eu-customers", FRANCE).rule == DATASET_REGIONS
    assert decide(world, "eu-customers", FRANCE).outcome == DENY


def test_deny_rule_by_category(empty):
    us_store = {"storage_region": VIRGINIA, "lawful_basis": "consent"}
    for slug, category in (("patients", "health"), ("shoppers", "contact")):
        empty.dataset(
            slug,
            personal_data_categories=[category],
            allowed_processing_regions=[MUMBAI],
            **us_store,
        )
    assert decide(empty, "patients", MUMBAI).outcome == ALLOW
    rule = empty.rule(
        name="Health data not in India", category="health", effect="deny", countries=["IN"]
    )

    assert decide(empty, "patients", MUMBAI).rule == f"rule:{rule.id}"
    assert decide(empty, "patients", MUMBAI).outcome == DENY
    assert decide(empty, "shoppers", MUMBAI).outcome == ALLOW


def test_deny_rule_by_dataset(world):
    world.dataset("other", allowed_processing_regions=[GERMANY])
    rule = world.rule(dataset="eu-customers", effect="deny", regions=[GERMANY])

    assert decide(world, "eu-customers", GERMANY).rule == f"rule:{rule.id}"
    assert decide(world, "other", GERMANY).outcome == ALLOW


def test_rule_with_actions_applies_to_those_actions_only(world):
    rule = world.rule(jurisdiction="eu", actions=["train"], effect="deny", regions=[GERMANY])

    assert decide(world, "eu-customers", GERMANY, action="train").rule == f"rule:{rule.id}"
    assert decide(world, "eu-customers", GERMANY, action="process").outcome == ALLOW


@pytest.mark.parametrize(
    ("allow_only_priority", "deny_priority", "winner"),
    [
        pytest.param(200, 100, "allow_only", id="higher-allow-only-shadows-lower-deny"),
        pytest.param(100, 200, "deny", id="higher-deny-wins"),
    ],
)
def test_priority_decides_between_rules(world, allow_only_priority, deny_priority, winner):
    rules = {
        "allow_only": world.rule(
            name="EU data only in Germany",
            jurisdiction="eu",
            effect="allow_only",
            regions=[GERMANY],
            priority=allow_only_priority,
        ),
        "deny": world.rule(
            name="Nothing in Germany", effect="deny", countries=["DE"], priority=deny_priority
        ),
    }

    decision = decide(world, "eu-customers", GERMANY)

    assert decision.rule == f"rule:{rules[winner].id}"
    assert decision.outcome == (ALLOW if winner == "allow_only" else DENY)


def test_deny_rule_elsewhere_lets_lower_rules_speak(world):
    world.rule(jurisdiction="eu", effect="deny", countries=["JP"], priority=200)
    lower = world.rule(jurisdiction="eu", effect="deny", countries=["DE"], priority=100)

    assert decide(world, "eu-customers", GERMANY).rule == f"rule:{lower.id}"


def test_officer_rule_cannot_lift_a_legal_restriction(world):
    world.rule(jurisdiction="eu", effect="allow_only", countries=["US"])

    assert decide(world, "eu-customers", VIRGINIA).rule == EU_SCOPE


# --- Transfer grants ---------------------------------------------------------------------------


def grant(world: World, slug="eu-customers", regions=(VIRGINIA,), **fields):
    fields.setdefault("valid_from", AT - dt.timedelta(days=30))
    fields.setdefault("valid_until", AT + dt.timedelta(days=30))
    return world.grant(slug, regions, **fields)


def test_grant_allows_with_its_id(world):
    given = grant(world, mechanism_detail="SCC module 1")

    decision = decide(world, "eu-customers", VIRGINIA)

    assert decision.outcome == GRANT
    assert decision.grant_id == given.id
    assert decision.allowed
    assert decision.rule == EU_SCOPE  # the rule that would have denied
    assert f"transfer grant #{given.id}" in decision.reason
    assert "SCC module 1" in decision.reason


def test_grant_covers_only_its_regions_and_datasets(world):
    grant(world)

    assert decide(world, "eu-customers", MUMBAI).outcome == DENY
    assert decide(world, "uk-customers", VIRGINIA).outcome == DENY


@pytest.mark.parametrize(
    ("moment", "outcome"),
    [
        pytest.param(AT - dt.timedelta(days=30, seconds=1), DENY, id="before-valid-from"),
        pytest.param(AT - dt.timedelta(days=30), GRANT, id="at-valid-from"),
        pytest.param(AT + dt.timedelta(days=30, seconds=-1), GRANT, id="just-before-valid-until"),
        pytest.param(AT + dt.timedelta(days=30), DENY, id="at-valid-until"),
        pytest.param(AT + dt.timedelta(days=31), DENY, id="after-valid-until"),
    ],
)
def test_grant_window(world, moment, outcome):
    grant(world)

    assert decide(world, "eu-customers", VIRGINIA, at=moment).outcome == outcome


def test_revoked_grant_is_not_honoured_after_revocation(world):
    revoked_at = AT + dt.timedelta(days=1)
    given = grant(world, revoked_at=revoked_at)

    after = decide(world, "eu-customers", VIRGINIA, at=revoked_at + dt.timedelta(minutes=1))
    at_revocation = decide(world, "eu-customers", VIRGINIA, at=revoked_at)
    before = decide(world, "eu-customers", VIRGINIA, at=revoked_at - dt.timedelta(days=1))

    assert after.outcome == at_revocation.outcome == DENY and after.grant_id is None
    assert before.outcome == GRANT and before.grant_id == given.id


def test_purpose_bound_grant_covers_only_its_purpose(world):
    given = grant(world, purpose="model-training")

    assert decide(world, "eu-customers", VIRGINIA, purpose="model-training").grant_id == given.id
    assert decide(world, "eu-customers", VIRGINIA, purpose="analytics").outcome == DENY


def test_grant_without_purpose_covers_every_purpose(world):
    grant(world)

    for purpose in ("model-training", "analytics", "research"):
        assert decide(world, "eu-customers", VIRGINIA, purpose=purpose).outcome == GRANT


# --- Inputs and the decision ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        pytest.param("dataset", {"dataset": "no-such-dataset"}, id="dataset"),
        pytest.param("region", {"region": "aws:mars-north-1"}, id="region"),
        pytest.param("action", {"action": "delete"}, id="action"),
        pytest.param("purpose", {"purpose": "world-domination"}, id="purpose"),
    ],
)
def test_unknown_input_names_its_field(world, field, kwargs):
    question = {
        "dataset": "eu-customers",
        "action": "train",
        "region": IRELAND,
        "purpose": "model-training",
    }
    question.update(kwargs)

    with pytest.raises(UnknownInput) as excinfo:
        evaluate(world.index(), at=AT, **question)

    assert excinfo.value.field == field
    assert str(kwargs[field]) in excinfo.value.message


def test_dataset_found_by_slug_uri_or_id(world):
    index = world.index()

    by_slug = evaluate(index, "eu-customers", "train", LONDON, "model-training", AT)
    by_uri = evaluate(index, "s3://locus-eu/customers", "train", LONDON, "model-training", AT)
    by_id = evaluate(
        index, world.datasets["eu-customers"].id, "train", LONDON, "model-training", AT
    )

    assert by_slug == by_uri == by_id


# --- Through the catalog and governance services, and the compiled index ---------------------


@pytest.fixture
def catalog_world(db, data_owner):
    """The same small catalog, registered through the catalog services."""
    for slug, fields in WORLD.items():
        make_dataset(data_owner, slug=slug, **fields)


def served(dataset, region, *, purpose="model-training", at=AT):
    """The decision of the index this process serves (compiled from the database)."""
    return evaluate(current_index(), dataset, "train", region, purpose, at)


def test_the_catalog_compiles_the_facts_the_memory_world_holds(catalog_world, world):
    """The in-memory facts above stand for what the catalog really gives the engine."""
    compiled, memory = compile_index(), world.index()

    def without_id(facts):
        return dataclasses.replace(facts, id=0)

    assert {slug: without_id(ds) for slug, ds in compiled.datasets_by_slug.items()} == {
        slug: without_id(ds) for slug, ds in memory.datasets_by_slug.items()
    }
    assert set(compiled.datasets_by_uri) == set(memory.datasets_by_uri)
    assert compiled.regions == memory.regions
    assert compiled.purposes == memory.purposes
    assert compiled.law == memory.law
    assert {key: [without_id(a) for a in found] for key, found in compiled.adequacy.items()} == {
        key: [without_id(a) for a in found] for key, found in memory.adequacy.items()
    }


@pytest.mark.parametrize(("dataset", "where", "outcome", "rule"), SHIPPED_RULES[::4])
def test_the_served_index_decides_as_the_engine_does_in_memory(
    catalog_world, dataset, where, outcome, rule
):
    decision = served(dataset, where)

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason


def test_decision_carries_rule_reason_and_policy_version(catalog_world):
    index = current_index()

    decision = evaluate(index, "eu-customers", "train", LONDON, "model-training", AT)

    assert decision.rule == ADEQUACY
    assert decision.reason
    assert decision.policy_version == index.version == policy_version()[0]
    assert re.fullmatch(r"c\d+\.g\d+", decision.policy_version)


def test_an_officers_rule_made_through_the_service_decides_at_once(catalog_world, privacy_officer):
    rule = rule_create(
        actor=privacy_officer,
        name="No EU data in Japan",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        effect=LocalityRule.Effect.DENY,
        regions=[],
        countries=[Country.objects.get(code="JP")],
    )

    decision = served("eu-customers", TOKYO)

    assert (decision.outcome, decision.rule) == (DENY, f"rule:{rule.pk}")
    assert "No EU data in Japan" in decision.reason


def test_disabled_rule_is_ignored(catalog_world, privacy_officer):
    rule_create(
        actor=privacy_officer,
        name="test rule",
        jurisdiction_id="eu",
        effect="deny",
        regions=[],
        countries=[Country.objects.get(code="DE")],
        enabled=False,
    )

    assert served("eu-customers", GERMANY).outcome == ALLOW


def test_a_grant_made_and_revoked_through_the_services_reaches_the_engine(
    catalog_world, privacy_officer
):
    now = dt.datetime.now(dt.UTC)
    given = grant_create(
        actor=privacy_officer,
        datasets=[Dataset.objects.get(slug="eu-customers")],
        destination_regions=[Region.objects.get(code=VIRGINIA)],
        purpose=Purpose.objects.get(code="model-training"),
        mechanism="scc",
        mechanism_detail="SCC module 1",
        valid_from=now - dt.timedelta(days=10),
        valid_until=now + dt.timedelta(days=10),
    )
    decision = served("eu-customers", VIRGINIA, at=now)
    assert (decision.outcome, decision.grant_id) == (GRANT, given.pk)
    assert f"transfer grant #{given.pk}" in decision.reason and "SCC module 1" in decision.reason
    assert served("eu-customers", VIRGINIA, purpose="analytics", at=now).outcome == DENY

    grant_revoke(actor=privacy_officer, grant=given, reason="Transfer impact changed")
    given.refresh_from_db()

    after = served("eu-customers", VIRGINIA, at=given.revoked_at + dt.timedelta(minutes=1))
    before = served("eu-customers", VIRGINIA, at=given.revoked_at - dt.timedelta(days=1))
    assert after.outcome == DENY and after.grant_id is None
    assert before.outcome == GRANT and before.grant_id == given.pk
