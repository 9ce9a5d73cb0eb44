"""What-ifs: replaying recorded decisions under a proposed rule, and an adequacy decision falling."""

import datetime as dt

import pytest

from catalog.models import Country, Dataset, Region
from governance.checks.services import training_run_register
from governance.grants.services import grant_create
from governance.models import LocalityDecision, LocalityRule, Purpose
from governance.policy.index import forget_index
from governance.policy.rules import rule_create
from governance.policy.selectors import replay
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
REPLAY = "/api/v1/locality/replay"
ADEQUACY = "/api/v1/locality/what-if/adequacy"

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
LONDON = "aws:eu-west-2"
TOKYO = "aws:ap-northeast-1"
OSAKA = "aws:ap-northeast-3"
VIRGINIA = "aws:us-east-1"
MUMBAI = "aws:ap-south-1"


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    """Revision counters roll back with each test's transaction, so a cached index could be reused."""
    forget_index()
    yield
    forget_index()


def personal(slug, storage, subjects, allowed, **fields):
    return make_dataset(
        slug=slug,
        storage_region=storage,
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=subjects,
        allowed_processing_regions=allowed,
        **fields,
    )


@pytest.fixture
def catalog(data_owner):
    """EU, UK and non-personal US data, each processable in Germany and Japan."""
    personal("eu-customers", IRELAND, ["eu"], [GERMANY, TOKYO, LONDON, MUMBAI])
    personal("uk-customers", LONDON, ["uk"], [GERMANY, TOKYO])
    make_dataset(
        slug="us-clicks", storage_region=VIRGINIA, allowed_processing_regions=[GERMANY, TOKYO]
    )


def rule(actor, *, nations, **fields) -> LocalityRule:
    fields.setdefault("name", "proposal")
    fields.setdefault("effect", "deny")
    return rule_create(
        actor=actor,
        regions=[],
        countries=[Country.objects.get(code=code) for code in nations],
        **fields,
    )


def record(client, *pairs) -> dict[tuple[str, str], dict]:
    """Ask the check API about (dataset, region) pairs; the answers by pair."""
    checks = [
        {
            "dataset": ds,
            "region": where,
            "action": "train",
            "purpose": "model-training",
            # The recipient in Japan is in the scope of the EU's and the UK's adequacy findings.
            "scopes": ["appi-private-sector"],
        }
        for ds, where in pairs
    ]
    response = client.post(CHECK, {"checks": checks}, format="json")
    assert response.status_code == 200, response.content
    return {(r["dataset"], r["region"]): r for r in response.json()["results"]}


PAIRS = [
    ("eu-customers", IRELAND),
    ("eu-customers", GERMANY),
    ("eu-customers", TOKYO),
    ("eu-customers", VIRGINIA),
    ("uk-customers", GERMANY),
    ("uk-customers", TOKYO),
    ("us-clicks", GERMANY),
    ("us-clicks", TOKYO),
]


def catalog_dataset(slug: str) -> Dataset:
    return Dataset.objects.get(slug=slug)


def flips_of(body) -> set[tuple[int, str]]:
    return {(f["decision_id"], f["kind"]) for f in body["flips"]}


# --- Replay ------------------------------------------------------------------------------------


def test_proposed_deny_rule_flips_exactly_the_matching_allows(
    api_client, engineer, privacy_officer, catalog
):
    answers = record(api_client(engineer), *PAIRS)
    assert answers["eu-customers", VIRGINIA]["outcome"] == "deny"  # already denied: no flip

    response = api_client(privacy_officer).post(
        REPLAY,
        {
            "operation": "create",
            "rule": {
                "name": "No EU data in Japan",
                "jurisdiction": "eu",
                "effect": "deny",
                "countries": ["JP"],
            },
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["replayed"], body["flipped"], body["days"]) == (len(PAIRS), 1, 30)
    assert flips_of(body) == {(answers["eu-customers", TOKYO]["decision_id"], "allow_to_deny")}
    (flip,) = body["flips"]
    assert (flip["dataset"], flip["region"], flip["action"]) == ("eu-customers", TOKYO, "train")
    assert flip["before"] == {"outcome": "allow", "rule": "law:eu:adequacy"}
    assert flip["after"]["outcome"] == "deny"
    assert "No EU data in Japan" in flip["after"]["reason"]
    assert body["by_dataset"] == {"eu-customers": {"allow_to_deny": 1}}
    assert body["by_jurisdiction"] == {"eu": {"allow_to_deny": 1}}
    # A proposal changes nothing.
    assert not LocalityRule.objects.exists()
    assert LocalityDecision.objects.count() == len(PAIRS)


def test_proposal_without_jurisdiction_is_counted_per_dataset_and_jurisdiction(
    api_client, engineer, catalog
):
    answers = record(api_client(engineer), *PAIRS)
    client = api_client(engineer)  # any role may ask what-if

    body = client.post(
        REPLAY,
        {
            "operation": "create",
            "rule": {"name": "Nothing in Germany", "effect": "deny", "countries": ["DE"]},
        },
        format="json",
    ).json()

    assert flips_of(body) == {
        (answers[ds, GERMANY]["decision_id"], "allow_to_deny")
        for ds in ("eu-customers", "uk-customers", "us-clicks")
    }
    assert body["by_dataset"] == {
        "eu-customers": {"allow_to_deny": 1},
        "uk-customers": {"allow_to_deny": 1},
        "us-clicks": {"allow_to_deny": 1},
    }
    assert body["by_jurisdiction"] == {
        "eu": {"allow_to_deny": 1},
        "uk": {"allow_to_deny": 1},
        "us-va": {"allow_to_deny": 1},
    }


def test_proposal_limited_to_an_action_flips_only_that_action(api_client, engineer, catalog):
    client = api_client(engineer)
    trained = record(client, ("us-clicks", GERMANY))
    processed = client.post(
        CHECK,
        {"dataset": "us-clicks", "region": GERMANY, "action": "process", "purpose": "analytics"},
        format="json",
    ).json()

    body = client.post(
        REPLAY,
        {
            "operation": "create",
            "rule": {
                "name": "No training in DE",
                "effect": "deny",
                "countries": ["DE"],
                "actions": ["train"],
            },
        },
        format="json",
    ).json()

    assert flips_of(body) == {(trained["us-clicks", GERMANY]["decision_id"], "allow_to_deny")}
    assert processed["decision_id"] not in {f["decision_id"] for f in body["flips"]}


def test_proposed_deletion_of_a_deny_rule_flips_deny_to_allow(
    api_client, engineer, privacy_officer, catalog
):
    existing = rule(
        privacy_officer, name="No EU data in Japan", jurisdiction_id="eu", nations=["JP"]
    )
    answers = record(api_client(engineer), *PAIRS)
    assert answers["eu-customers", TOKYO]["rule"] == f"rule:{existing.pk}"

    body = (
        api_client(privacy_officer)
        .post(REPLAY, {"operation": "delete", "rule_id": existing.pk}, format="json")
        .json()
    )

    assert flips_of(body) == {(answers["eu-customers", TOKYO]["decision_id"], "deny_to_allow")}
    assert body["flips"][0]["after"] == {
        "outcome": "allow",
        "rule": "law:eu:adequacy",
        "reason": body["flips"][0]["after"]["reason"],
    }
    assert body["by_dataset"] == {"eu-customers": {"deny_to_allow": 1}}
    assert body["by_jurisdiction"] == {"eu": {"deny_to_allow": 1}}
    assert LocalityRule.objects.filter(pk=existing.pk).exists()


def test_proposed_update_moves_the_flips(api_client, engineer, privacy_officer, catalog):
    existing = rule(
        privacy_officer, name="No EU data in Japan", jurisdiction_id="eu", nations=["JP"]
    )
    answers = record(api_client(engineer), *PAIRS)

    body = (
        api_client(privacy_officer)
        .post(
            REPLAY,
            {
                "operation": "update",
                "rule_id": existing.pk,
                "rule": {"name": "No EU data in Germany", "effect": "deny", "countries": ["DE"]},
            },
            format="json",
        )
        .json()
    )

    assert flips_of(body) == {
        (answers["eu-customers", TOKYO]["decision_id"], "deny_to_allow"),
        (answers["eu-customers", GERMANY]["decision_id"], "allow_to_deny"),
    }
    assert body["by_dataset"] == {"eu-customers": {"allow_to_deny": 1, "deny_to_allow": 1}}


def test_proposed_update_may_name_only_the_changed_fields(
    api_client, engineer, privacy_officer, catalog
):
    existing = rule(
        privacy_officer, name="No EU data in Japan", jurisdiction_id="eu", nations=["JP"]
    )
    answers = record(api_client(engineer), *PAIRS)

    response = api_client(privacy_officer).post(
        REPLAY,
        {"operation": "update", "rule_id": existing.pk, "rule": {"actions": ["process"]}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert flips_of(response.json()) == {
        (answers["eu-customers", TOKYO]["decision_id"], "deny_to_allow")
    }


def test_replay_only_looks_back_the_days_asked(api_client, engineer, catalog, monkeypatch):
    record(api_client(engineer), ("eu-customers", TOKYO))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    monkeypatch.setattr(
        "governance.policy.api.replay",
        lambda proposed, *, days: replay(proposed, days=days, now=later),
    )
    proposal = {"operation": "create", "rule": {"name": "x", "effect": "deny", "countries": ["JP"]}}
    client = api_client(engineer)

    assert client.post(REPLAY, {**proposal, "days": 7}, format="json").json()["replayed"] == 0
    assert client.post(REPLAY, {**proposal, "days": 9}, format="json").json()["flipped"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"operation": "explode"}, "operation", id="unknown-operation"),
        pytest.param({}, "operation", id="no-operation"),
        pytest.param({"operation": "create"}, "rule", id="create-without-rule"),
        pytest.param({"operation": "delete"}, "rule_id", id="delete-without-rule-id"),
        pytest.param({"operation": "delete", "rule_id": 987654}, "rule_id", id="no-such-rule"),
        pytest.param(
            {
                "operation": "create",
                "rule": {"name": "x", "effect": "perhaps", "countries": ["JP"]},
            },
            "rule",
            id="bad-effect",
        ),
        pytest.param(
            {"operation": "create", "rule": {"name": "x", "effect": "deny", "countries": ["XX"]}},
            "rule",
            id="unknown-country",
        ),
        pytest.param(
            {"operation": "create", "rule": {"name": "x", "effect": "deny", "actions": ["fly"]}},
            "rule",
            id="unknown-action",
        ),
        pytest.param({"operation": "delete", "rule_id": 1, "days": 0}, "days", id="zero-days"),
        pytest.param(
            {"operation": "delete", "rule_id": 1, "days": 91}, "days", id="more-than-90-days"
        ),
    ],
)
def test_bad_proposal_is_a_400(api_client, privacy_officer, body, field):
    response = api_client(privacy_officer).post(REPLAY, body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_outsider_may_not_replay(api_client, outsider):
    response = api_client(outsider).post(
        REPLAY, {"operation": "delete", "rule_id": 1}, format="json"
    )

    assert response.status_code == 403


# --- Adequacy what-if ----------------------------------------------------------------------------


@pytest.fixture
def japan_setup(catalog, engineer):
    """An EU dataset processable in Japan, and training runs in Japan and in Germany."""
    purpose = Purpose.objects.get(code="model-training")
    eu = make_dataset(
        slug="eu-only-in-europe",
        lawful_basis="consent",
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY],
    )
    eu_customers = catalog_dataset("eu-customers")
    in_japan, _ = training_run_register(
        actor=engineer,
        name="ranker-tokyo",
        purpose=purpose,
        compute_regions=list(Region.objects.filter(code__in=[TOKYO, GERMANY])),
        inputs=[(eu_customers, "v1"), (catalog_dataset("us-clicks"), "v1")],
        scopes=["appi-private-sector"],  # the recipient is in scope of the EU's decision
    )
    in_germany, _ = training_run_register(
        actor=engineer,
        name="ranker-frankfurt",
        purpose=purpose,
        compute_regions=list(Region.objects.filter(code=GERMANY)),
        inputs=[(eu_customers, "v1"), (eu, "v1")],
    )
    assert in_japan.verdict == in_germany.verdict == "allow"
    return in_japan


def test_adequacy_what_if_lists_datasets_and_runs(api_client, executive, japan_setup):
    response = api_client(executive).get(ADEQUACY, {"country": "JP"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["decided_by"], body["country"]) == ("eu", "JP")
    assert body["falls_on"] == str(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1))
    assert body["decisions_ending"] == ["Commission Implementing Decision (EU) 2019/419"]
    assert [(d["dataset"], d["regions"]) for d in body["datasets"]] == [("eu-customers", [TOKYO])]
    assert "does not recognise JP" in body["datasets"][0]["reason"]
    assert body["training_runs"] == [
        {
            "id": japan_setup.pk,
            "name": "ranker-tokyo",
            "affected": [{"dataset": "eu-customers", "region": TOKYO}],
        }
    ]
    assert body["summary"] == {"datasets": 1, "training_runs": 1, "grants": 0}


def test_adequacy_what_if_lists_grants_that_rely_on_adequacy(
    api_client, privacy_officer, japan_setup
):
    now = dt.datetime.now(dt.UTC)
    grant = grant_create(
        actor=privacy_officer,
        datasets=[catalog_dataset("eu-customers")],
        destination_regions=list(Region.objects.filter(code__in=[TOKYO, OSAKA])),
        mechanism="adequacy",
        valid_from=now,
        valid_until=now + dt.timedelta(days=365),
    )
    grant_create(
        actor=privacy_officer,
        datasets=[catalog_dataset("eu-customers")],
        destination_regions=list(Region.objects.filter(code=TOKYO)),
        mechanism="scc",
        valid_from=now,
        valid_until=now + dt.timedelta(days=365),
    )

    body = api_client(privacy_officer).get(ADEQUACY, {"country": "JP"}).json()

    assert [g["id"] for g in body["grants_relying_on_adequacy"]] == [grant.pk]
    assert body["summary"]["grants"] == 1


def test_adequacy_what_if_on_a_given_day(api_client, auditor, japan_setup):
    body = api_client(auditor).get(ADEQUACY, {"country": "JP", "falls_on": "2027-05-01"}).json()

    assert body["falls_on"] == "2027-05-01"
    assert [d["dataset"] for d in body["datasets"]] == ["eu-customers"]
    assert [r["name"] for r in body["training_runs"]] == ["ranker-tokyo"]


def test_adequacy_what_if_uk_renewal(api_client, executive, catalog):
    body = api_client(executive).get(ADEQUACY, {"country": "GB", "falls_on": "2027-01-01"}).json()

    assert body["decisions_ending"] == [
        "Commission Implementing Decision of 19 December 2025 renewing UK adequacy (GDPR)"
    ]
    assert [(d["dataset"], d["regions"]) for d in body["datasets"]] == [("eu-customers", [LONDON])]


def test_adequacy_what_if_for_another_decider(api_client, executive, data_owner):
    personal("uk-people", LONDON, ["uk"], ["aws:ap-northeast-2"])
    personal("eu-people", IRELAND, ["eu"], ["aws:ap-northeast-2"])

    body = api_client(executive).get(ADEQUACY, {"country": "KR", "decided_by": "uk"}).json()

    assert body["decided_by"] == "uk"
    assert [d["dataset"] for d in body["datasets"]] == ["uk-people"]


@pytest.mark.parametrize(
    "country",
    [pytest.param("IN", id="no-decision"), pytest.param("DE", id="home-area")],
)
def test_country_without_an_adequacy_decision_lists_nothing(
    api_client, executive, catalog, engineer, country
):
    training_run_register(
        actor=engineer,
        name="in-mumbai",
        purpose=Purpose.objects.get(code="model-training"),
        compute_regions=list(Region.objects.filter(code__in=[MUMBAI, GERMANY])),
        inputs=[(catalog_dataset("eu-customers"), "")],
    )

    body = api_client(executive).get(ADEQUACY, {"country": country}).json()

    assert body["decisions_ending"] == []
    assert body["datasets"] == []
    assert body["training_runs"] == []
    assert body["summary"] == {"datasets": 0, "training_runs": 0, "grants": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"country": "XX"}, "country", id="unknown-country"),
        pytest.param({}, "country", id="no-country"),
        pytest.param(
            {"country": "JP", "decided_by": "atlantis"}, "decided_by", id="unknown-decider"
        ),
        pytest.param({"country": "JP", "falls_on": "someday"}, "falls_on", id="bad-date"),
    ],
)
def test_bad_adequacy_what_if_is_a_400(api_client, executive, params, field):
    response = api_client(executive).get(ADEQUACY, params)

    assert response.status_code == 400
    assert field in response.json()


def test_outsider_may_not_ask_adequacy_what_if(api_client, outsider):
    assert api_client(outsider).get(ADEQUACY, {"country": "JP"}).status_code == 403


def test_adequacy_what_if_on_the_day_a_decision_starts(api_client, executive, catalog):
    body = api_client(executive).get(ADEQUACY, {"country": "GB", "falls_on": "2025-12-28"}).json()

    assert [(d["dataset"], d["regions"]) for d in body["datasets"]] == [("eu-customers", [LONDON])]
