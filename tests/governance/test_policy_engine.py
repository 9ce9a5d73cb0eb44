"""The locality policy engine: every shipped rule, officers' rules, adequacy dates and grants."""

import datetime as dt
import re

import pytest

from catalog.models import AdequacyDecision, Country, Dataset, Jurisdiction, Region
from governance import services
from governance.models import LocalityRule, Outcome, Purpose
from governance.policy.engine import evaluate
from governance.policy.facts import (
    RULE_DATASET_REGIONS,
    RULE_GDPR_ADEQUACY,
    RULE_GDPR_TRANSFER,
    RULE_PIPL,
    RULE_RESTRICTED,
    RULE_SAME_REGION,
    UnknownInput,
)
from governance.policy.index import compile_index, current_index, forget_index, policy_version
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

# A fixed moment, so the adequacy decisions in force do not depend on the day the suite runs:
# the renewed EU decision for the UK (from 2025-12-28) and the EU-US Data Privacy Framework apply.
AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)

ALLOW, GRANT, DENY = Outcome.ALLOW, Outcome.ALLOW_WITH_GRANT, Outcome.DENY
SAME_REGION = RULE_SAME_REGION
DATASET_REGIONS = RULE_DATASET_REGIONS
RESTRICTED = RULE_RESTRICTED
ADEQUACY = RULE_GDPR_ADEQUACY
CHAPTER_V = RULE_GDPR_TRANSFER
PIPL = RULE_PIPL

# Region codes, by where they are.
IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
FRANCE = "aws:eu-west-3"
NORWAY = "azure:norwayeast"  # EEA, not EU
LONDON = "aws:eu-west-2"
ZURICH = "aws:eu-central-2"
TOKYO = "aws:ap-northeast-1"
VIRGINIA = "aws:us-east-1"
OREGON = "aws:us-west-2"
MUMBAI = "aws:ap-south-1"
SINGAPORE = "aws:ap-southeast-1"
BEIJING = "aws:cn-north-1"
NINGXIA = "aws:cn-northwest-1"
HONG_KONG = "alibaba:cn-hongkong"


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    """Revision counters roll back with each test's transaction, so a cached index could be reused."""
    forget_index()
    yield
    forget_index()


def gdpr_personal(**overrides):
    """EU data subjects' personal data, stored in Ireland."""
    fields = {
        "storage_region": IRELAND,
        "lawful_basis": "consent",
        "personal_data_categories": ["contact"],
        "subject_jurisdictions": ["eu"],
    }
    fields.update(overrides)
    return make_dataset(**fields)


@pytest.fixture
def world(data_owner):
    """A small catalog with one dataset per shipped rule."""
    make_dataset(
        data_owner,
        slug="eu-customers",
        uri="s3://locus-eu/customers",
        storage_region=IRELAND,
        lawful_basis="consent",
        personal_data_categories=["contact", "identifiers"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[
            GERMANY,
            NORWAY,
            LONDON,
            ZURICH,
            TOKYO,
            VIRGINIA,
            MUMBAI,
        ],
    )
    make_dataset(
        data_owner,
        slug="eu-home-only",
        storage_region=IRELAND,
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )
    make_dataset(
        data_owner,
        slug="eu-restricted",
        storage_region=IRELAND,
        sensitivity="restricted",
        allowed_processing_regions=[GERMANY],
    )
    make_dataset(
        data_owner,
        slug="uk-customers",
        storage_region=LONDON,
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["uk"],
        allowed_processing_regions=[IRELAND, NORWAY, VIRGINIA],
    )
    make_dataset(
        data_owner,
        slug="cn-users",
        storage_region=BEIJING,
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["cn"],
        allowed_processing_regions=[NINGXIA, HONG_KONG, TOKYO],
    )
    make_dataset(
        data_owner,
        slug="eu-telemetry",
        storage_region=IRELAND,
        lawful_basis="not_personal",
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[VIRGINIA, MUMBAI],
    )
    make_dataset(
        data_owner,
        slug="cn-sensors",
        storage_region=BEIJING,
        lawful_basis="not_personal",
        subject_jurisdictions=["cn"],
        allowed_processing_regions=[VIRGINIA],
    )


def decide(dataset, region, *, action="train", purpose="model-training", at=AT, index=None):
    return evaluate(index or current_index(), dataset, action, region, purpose, at)


def world_dataset(slug: str) -> Dataset:
    return Dataset.objects.get(slug=slug)


def region(code: str) -> Region:
    return Region.objects.get(code=code)


def country(code: str) -> Country:
    return Country.objects.get(code=code)


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
    pytest.param("eu-customers", TOKYO, ALLOW, ADEQUACY, id="gdpr-to-japan-partial-adequacy"),
    pytest.param("eu-customers", ZURICH, ALLOW, ADEQUACY, id="gdpr-to-switzerland-adequacy"),
    pytest.param("eu-customers", VIRGINIA, DENY, CHAPTER_V, id="gdpr-to-us-needs-a-grant"),
    pytest.param("eu-customers", MUMBAI, DENY, CHAPTER_V, id="gdpr-to-india-denied"),
    pytest.param("uk-customers", IRELAND, ALLOW, DATASET_REGIONS, id="uk-gdpr-to-eu-home-area"),
    pytest.param("uk-customers", NORWAY, ALLOW, DATASET_REGIONS, id="uk-gdpr-to-eea-home-area"),
    pytest.param("uk-customers", VIRGINIA, DENY, CHAPTER_V, id="uk-gdpr-to-us-needs-a-grant"),
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
    decision = decide(dataset, where)

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason
    assert decision.allowed is (outcome != DENY)
    assert decision.grant_id is None
    assert decision.reason


@pytest.mark.parametrize("action", ["store", "process", "train", "transfer", "access"])
def test_every_action_is_judged_by_the_same_shipped_rules(world, action):
    assert decide("eu-customers", VIRGINIA, action=action).outcome == DENY
    assert decide("eu-customers", LONDON, action=action).outcome == ALLOW


def test_reasons_say_why(world):
    assert "restricted" in decide("eu-restricted", GERMANY).reason
    assert "allowed processing regions" in decide("eu-home-only", GERMANY).reason
    assert "mainland China" in decide("cn-users", HONG_KONG).reason
    to_uk = decide("eu-customers", LONDON).reason
    assert "GB" in to_uk and "renewing UK adequacy" in to_uk
    to_us = decide("eu-customers", VIRGINIA).reason
    assert "certified organisations only" in to_us and "2023/1795" in to_us
    to_india = decide("eu-customers", MUMBAI).reason
    assert "no adequacy decision in force on 2026-03-02" in to_india


def test_personal_categories_make_data_personal_whatever_the_lawful_basis(world):
    make_dataset(
        slug="mislabelled",
        lawful_basis="not_personal",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[VIRGINIA],
    )

    assert decide("mislabelled", VIRGINIA).rule == CHAPTER_V


# --- Adequacy decisions in force on the day of the work ----------------------------------------


@pytest.mark.parametrize(
    ("day", "instrument"),
    [
        pytest.param(dt.date(2012, 1, 10), "2000/520/EC", id="safe-harbor-2012"),
        pytest.param(dt.date(2018, 6, 1), "2016/1250", id="privacy-shield-2018"),
        pytest.param(dt.date(2026, 3, 2), "2023/1795", id="data-privacy-framework-2026"),
    ],
)
def test_eu_to_us_frameworks_cover_certified_organisations_only(world, day, instrument):
    decision = decide("eu-customers", VIRGINIA, at=dt.datetime.combine(day, dt.time(9), dt.UTC))

    assert (decision.outcome, decision.rule) == (DENY, CHAPTER_V)
    assert "certified organisations only" in decision.reason
    assert instrument in decision.reason


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(dt.date(2015, 10, 6), id="day-of-schrems-i"),
        pytest.param(dt.date(2020, 7, 16), id="day-of-schrems-ii"),
        pytest.param(dt.date(2022, 1, 1), id="between-shield-and-dpf"),
    ],
)
def test_eu_to_us_with_no_framework_in_force(world, day):
    decision = decide("eu-customers", VIRGINIA, at=dt.datetime.combine(day, dt.time(9), dt.UTC))

    assert decision.outcome == DENY
    assert f"no adequacy decision in force on {day}" in decision.reason


@pytest.fixture
def singapore_adequacy(db):
    """A made-up EU adequacy decision for Singapore, in force for 2024 only."""
    return AdequacyDecision.objects.create(
        decided_by_id="eu",
        country_id="SG",
        scope=AdequacyDecision.Scope.FULL,
        instrument="Test decision 2024/1",
        effective_from=dt.date(2024, 1, 1),
        effective_until=dt.date(2025, 1, 1),
        citation="test",
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
def test_adequacy_applies_only_between_its_dates(singapore_adequacy, moment, outcome, rule):
    gdpr_personal(slug="eu-people", allowed_processing_regions=[SINGAPORE])

    decision = decide("eu-people", SINGAPORE, at=moment, index=compile_index())

    assert (decision.outcome, decision.rule) == (outcome, rule), decision.reason
    if outcome == ALLOW:
        assert "Test decision 2024/1" in decision.reason


@pytest.mark.parametrize(
    ("scope", "outcome"),
    [
        pytest.param(AdequacyDecision.Scope.FULL, ALLOW, id="full"),
        pytest.param(AdequacyDecision.Scope.PARTIAL, ALLOW, id="partial"),
        pytest.param(AdequacyDecision.Scope.CERTIFIED, DENY, id="certified-needs-a-grant"),
    ],
)
def test_adequacy_scope(db, scope, outcome):
    AdequacyDecision.objects.create(
        decided_by_id="eu",
        country_id="SG",
        scope=scope,
        instrument="Test decision",
        effective_from=dt.date(2020, 1, 1),
        citation="test",
    )
    gdpr_personal(slug="eu-people", allowed_processing_regions=[SINGAPORE])

    assert decide("eu-people", SINGAPORE, index=compile_index()).outcome == outcome


def test_uk_adequacy_decisions_do_not_apply_to_eu_data(db):
    # Each regime applies only its own adequacy decisions.
    uk_data = gdpr_personal(
        slug="uk-people",
        storage_region=LONDON,
        subject_jurisdictions=["uk"],
        allowed_processing_regions=["aws:ap-northeast-2"],
    )
    gdpr_personal(slug="eu-people", allowed_processing_regions=["aws:ap-northeast-2"])

    # Korea has both an EU (2021-12-17) and a UK (2022-12-19) decision: mid-2022 only the EU's.
    mid_2022 = dt.datetime(2022, 6, 1, tzinfo=dt.UTC)
    assert decide("eu-people", "aws:ap-northeast-2", at=mid_2022).outcome == ALLOW
    assert decide(uk_data.slug, "aws:ap-northeast-2", at=mid_2022).outcome == DENY
    assert decide(uk_data.slug, "aws:ap-northeast-2").outcome == ALLOW


def test_data_of_several_regimes_needs_every_regime_to_agree(db):
    gdpr_personal(
        slug="eu-and-china",
        subject_jurisdictions=["eu", "cn"],
        allowed_processing_regions=[LONDON],
    )

    assert decide("eu-and-china", LONDON).rule == PIPL


# --- Privacy officers' locality rules ------------------------------------------------------------


def make_rule(actor, *, regions=(), countries=(), **fields) -> LocalityRule:
    fields.setdefault("name", "test rule")
    return services.rule_create(
        actor=actor,
        regions=[region(code) for code in regions],
        countries=[country(code) for code in countries],
        **fields,
    )


def test_deny_rule_by_jurisdiction(world, privacy_officer):
    rule = make_rule(
        privacy_officer,
        name="No EU data in Japan",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        effect=LocalityRule.Effect.DENY,
        countries=["JP"],
    )

    decision = decide("eu-customers", TOKYO)
    assert (decision.outcome, decision.rule) == (DENY, f"rule:{rule.pk}")
    assert "No EU data in Japan" in decision.reason
    # Places the rule does not name, and data under another law, are judged as before.
    assert decide("eu-customers", LONDON).outcome == ALLOW
    assert decide("cn-users", NINGXIA).outcome == ALLOW


def test_jurisdiction_rule_matches_where_the_subjects_are(world, privacy_officer):
    make_dataset(
        slug="eu-people-in-us",
        storage_region=VIRGINIA,
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[OREGON],
    )
    rule = make_rule(
        privacy_officer,
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        effect=LocalityRule.Effect.DENY,
        regions=[OREGON],
    )

    assert decide("eu-people-in-us", OREGON).rule == f"rule:{rule.pk}"


def test_allow_only_rule_by_sensitivity(world, privacy_officer):
    make_dataset(
        slug="internal-metrics", sensitivity="internal", allowed_processing_regions=[LONDON]
    )
    rule = make_rule(
        privacy_officer,
        name="Confidential stays in Germany",
        sensitivity="confidential",
        effect=LocalityRule.Effect.ALLOW_ONLY,
        regions=[GERMANY],
    )

    inside, outside = decide("eu-customers", GERMANY), decide("eu-customers", LONDON)
    assert (inside.outcome, inside.rule) == (ALLOW, f"rule:{rule.pk}")
    assert (outside.outcome, outside.rule) == (DENY, f"rule:{rule.pk}")
    assert "allows only its listed places" in outside.reason
    assert decide("internal-metrics", LONDON).outcome == ALLOW


def test_allow_only_does_not_widen_the_datasets_own_limits(world, privacy_officer):
    make_rule(
        privacy_officer,
        sensitivity="confidential",
        effect=LocalityRule.Effect.ALLOW_ONLY,
        regions=[GERMANY, FRANCE],
    )

    assert decide("eu-customers", FRANCE).rule == DATASET_REGIONS
    assert decide("eu-customers", FRANCE).outcome == DENY


def test_deny_rule_by_category(privacy_officer):
    us_store = {"storage_region": VIRGINIA, "lawful_basis": "consent"}
    make_dataset(
        slug="patients",
        personal_data_categories=["health"],
        allowed_processing_regions=[MUMBAI],
        **us_store,
    )
    make_dataset(
        slug="shoppers",
        personal_data_categories=["contact"],
        allowed_processing_regions=[MUMBAI],
        **us_store,
    )
    assert decide("patients", MUMBAI).outcome == ALLOW
    rule = make_rule(
        privacy_officer,
        name="Health data not in India",
        category_id="health",
        effect=LocalityRule.Effect.DENY,
        countries=["IN"],
    )

    assert decide("patients", MUMBAI).rule == f"rule:{rule.pk}"
    assert decide("patients", MUMBAI).outcome == DENY
    assert decide("shoppers", MUMBAI).outcome == ALLOW


def test_deny_rule_by_dataset(world, privacy_officer):
    make_dataset(slug="other", allowed_processing_regions=[GERMANY])
    rule = make_rule(
        privacy_officer,
        dataset=world_dataset("eu-customers"),
        effect=LocalityRule.Effect.DENY,
        regions=[GERMANY],
    )

    assert decide("eu-customers", GERMANY).rule == f"rule:{rule.pk}"
    assert decide("other", GERMANY).outcome == ALLOW


def test_rule_with_actions_applies_to_those_actions_only(world, privacy_officer):
    rule = make_rule(
        privacy_officer,
        jurisdiction_id="eu",
        actions=["train"],
        effect=LocalityRule.Effect.DENY,
        regions=[GERMANY],
    )

    assert decide("eu-customers", GERMANY, action="train").rule == f"rule:{rule.pk}"
    assert decide("eu-customers", GERMANY, action="process").outcome == ALLOW


@pytest.mark.parametrize(
    ("allow_only_priority", "deny_priority", "winner"),
    [
        pytest.param(200, 100, "allow_only", id="higher-allow-only-shadows-lower-deny"),
        pytest.param(100, 200, "deny", id="higher-deny-wins"),
    ],
)
def test_priority_decides_between_rules(
    world, privacy_officer, allow_only_priority, deny_priority, winner
):
    rules = {
        "allow_only": make_rule(
            privacy_officer,
            name="EU data only in Germany",
            jurisdiction_id="eu",
            effect=LocalityRule.Effect.ALLOW_ONLY,
            regions=[GERMANY],
            priority=allow_only_priority,
        ),
        "deny": make_rule(
            privacy_officer,
            name="Nothing in Germany",
            effect=LocalityRule.Effect.DENY,
            countries=["DE"],
            priority=deny_priority,
        ),
    }

    decision = decide("eu-customers", GERMANY)

    assert decision.rule == f"rule:{rules[winner].pk}"
    assert decision.outcome == (ALLOW if winner == "allow_only" else DENY)


def test_deny_rule_elsewhere_lets_lower_rules_speak(world, privacy_officer):
    make_rule(privacy_officer, jurisdiction_id="eu", effect="deny", countries=["JP"], priority=200)
    lower = make_rule(
        privacy_officer, jurisdiction_id="eu", effect="deny", countries=["DE"], priority=100
    )

    assert decide("eu-customers", GERMANY).rule == f"rule:{lower.pk}"


def test_disabled_rule_is_ignored(world, privacy_officer):
    make_rule(privacy_officer, jurisdiction_id="eu", effect="deny", countries=["DE"], enabled=False)

    assert decide("eu-customers", GERMANY).outcome == ALLOW


def test_officer_rule_cannot_lift_a_legal_restriction(world, privacy_officer):
    make_rule(privacy_officer, jurisdiction_id="eu", effect="allow_only", countries=["US"])

    assert decide("eu-customers", VIRGINIA).rule == CHAPTER_V


# --- Transfer grants ---------------------------------------------------------------------------


def make_grant(actor, slug="eu-customers", regions=(VIRGINIA,), **fields):
    fields.setdefault("mechanism", "scc")
    fields.setdefault("valid_from", AT - dt.timedelta(days=30))
    fields.setdefault("valid_until", AT + dt.timedelta(days=30))
    return services.grant_create(
        actor=actor,
        datasets=[world_dataset(slug)],
        destination_regions=[region(code) for code in regions],
        **fields,
    )


def test_grant_allows_with_its_id(world, privacy_officer):
    grant = make_grant(privacy_officer, mechanism_detail="SCC module 1")

    decision = decide("eu-customers", VIRGINIA)

    assert decision.outcome == GRANT
    assert decision.grant_id == grant.pk
    assert decision.allowed
    assert decision.rule == CHAPTER_V  # the rule that would have denied
    assert f"transfer grant #{grant.pk}" in decision.reason
    assert "SCC module 1" in decision.reason


def test_grant_covers_only_its_regions_and_datasets(world, privacy_officer):
    make_grant(privacy_officer)

    assert decide("eu-customers", MUMBAI).outcome == DENY
    assert decide("uk-customers", VIRGINIA).outcome == DENY


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
def test_grant_window(world, privacy_officer, moment, outcome):
    make_grant(privacy_officer)

    assert decide("eu-customers", VIRGINIA, at=moment).outcome == outcome


def test_revoked_grant_is_not_honoured_after_revocation(world, privacy_officer):
    now = dt.datetime.now(dt.UTC)
    grant = make_grant(
        privacy_officer,
        valid_from=now - dt.timedelta(days=10),
        valid_until=now + dt.timedelta(days=10),
    )
    services.grant_revoke(actor=privacy_officer, grant=grant, reason="Transfer impact changed")
    grant.refresh_from_db()

    after = decide("eu-customers", VIRGINIA, at=grant.revoked_at + dt.timedelta(minutes=1))
    before = decide("eu-customers", VIRGINIA, at=grant.revoked_at - dt.timedelta(days=1))

    assert after.outcome == DENY and after.grant_id is None
    assert before.outcome == GRANT and before.grant_id == grant.pk


def test_purpose_bound_grant_covers_only_its_purpose(world, privacy_officer):
    grant = make_grant(privacy_officer, purpose=Purpose.objects.get(code="model-training"))

    assert decide("eu-customers", VIRGINIA, purpose="model-training").grant_id == grant.pk
    assert decide("eu-customers", VIRGINIA, purpose="analytics").outcome == DENY


def test_grant_without_purpose_covers_every_purpose(world, privacy_officer):
    make_grant(privacy_officer)

    for purpose in ("model-training", "analytics", "research"):
        assert decide("eu-customers", VIRGINIA, purpose=purpose).outcome == GRANT


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
        evaluate(current_index(), at=AT, **question)

    assert excinfo.value.field == field
    assert str(kwargs[field]) in excinfo.value.message


def test_dataset_found_by_slug_uri_or_id(world):
    dataset = world_dataset("eu-customers")

    by_slug = decide("eu-customers", LONDON)
    by_uri = decide("s3://locus-eu/customers", LONDON)
    by_id = decide(dataset.pk, LONDON)

    assert by_slug == by_uri == by_id


def test_decision_carries_rule_reason_and_policy_version(world):
    index = current_index()

    decision = decide("eu-customers", LONDON, index=index)

    assert decision.rule == ADEQUACY
    assert decision.reason
    assert decision.policy_version == index.version == policy_version()[0]
    assert re.fullmatch(r"c\d+\.g\d+", decision.policy_version)


@pytest.mark.parametrize(
    ("storage", "destination", "rule"),
    [
        pytest.param(IRELAND, MUMBAI, CHAPTER_V, id="stored-under-gdpr"),
        pytest.param(BEIJING, TOKYO, PIPL, id="stored-under-pipl"),
    ],
)
def test_personal_data_stored_under_a_regime_follows_its_transfer_rules(
    db, storage, destination, rule
):
    make_dataset(
        slug="personal-no-subjects",
        storage_region=storage,
        lawful_basis="consent",
        personal_data_categories=["contact"],
        allowed_processing_regions=[destination],
    )

    decision = decide("personal-no-subjects", destination)

    assert (decision.outcome, decision.rule) == (DENY, rule)
