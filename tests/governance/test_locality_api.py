"""The governance API: locality checks, rules, grants, training runs and the decision log."""

import datetime as dt
import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Region
from governance.checks.services import training_run_register
from governance.grants.services import grant_create
from governance.models import LocalityDecision, LocalityRule, Outcome, Purpose, TransferGrant
from governance.policy.facts import RULE_DATASET_REGIONS
from governance.policy.index import current_index, forget_index
from governance.policy.rules import rule_create
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
RULES = "/api/v1/locality-rules/"
GRANTS = "/api/v1/transfer-grants/"
RUNS = "/api/v1/training-runs/"
DECISIONS = "/api/v1/decisions/"

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
VIRGINIA = "aws:us-east-1"
MUMBAI = "aws:ap-south-1"
ROLES = ["privacy_officer", "executive", "data_owner", "engineer", "auditor"]
READ_ONLY_ROLES = ["executive", "data_owner", "engineer", "auditor"]


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    """Revision counters roll back with each test's transaction, so a cached index could be reused."""
    forget_index()
    yield
    forget_index()


@pytest.fixture
def eu_customers(data_owner):
    """EU personal data in Ireland that may be processed in Germany and Virginia."""
    return make_dataset(
        data_owner,
        slug="eu-customers",
        uri="s3://locus-eu/customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY, VIRGINIA],
    )


def question(**overrides) -> dict:
    body = {
        "dataset": "eu-customers",
        "action": "train",
        "region": GERMANY,
        "purpose": "model-training",
    }
    body.update(overrides)
    return body


def fresh(user):
    """The same person, without the permission cache of an earlier request."""
    return get_user_model().objects.get(pk=user.pk)


# --- POST /api/v1/locality/check -----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_check(request, api_client, eu_customers, role):
    user = request.getfixturevalue(role)

    response = api_client(user).post(CHECK, question(), format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["outcome"] == "allow"
    assert body["rule"] == RULE_DATASET_REGIONS
    assert body["reason"]
    assert body["grant"] is None
    assert body["policy_version"] == current_index().version
    assert (body["dataset"], body["region"], body["action"]) == ("eu-customers", GERMANY, "train")
    decision = LocalityDecision.objects.get(pk=body["decision_id"])
    assert decision.actor == user
    assert decision.outcome == Outcome.ALLOW


def test_outsider_may_not_check(api_client, outsider, eu_customers):
    response = api_client(outsider).post(CHECK, question(), format="json")

    assert response.status_code == 403
    assert not LocalityDecision.objects.exists()


def test_anonymous_may_not_check(api_client, eu_customers):
    response = api_client().post(CHECK, question(), format="json")

    assert response.status_code in (401, 403)
    assert not LocalityDecision.objects.exists()


def test_a_machine_checks_with_a_token(token_client, engineer, eu_customers):
    response = token_client(engineer).post(
        CHECK, question(region=VIRGINIA, at="2026-03-02T12:00:00Z"), format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["outcome"], body["rule"]) == ("deny", "law:eu:scope")
    assert body["at"] == "2026-03-02T12:00:00Z"
    assert LocalityDecision.objects.get().actor == engineer


def test_a_bad_token_is_refused(api_client, eu_customers):
    client = api_client()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert client.post(CHECK, question(), format="json").status_code in (401, 403)
    assert not LocalityDecision.objects.exists()


def test_dataset_by_uri(api_client, engineer, eu_customers):
    response = api_client(engineer).post(
        CHECK, question(dataset="s3://locus-eu/customers"), format="json"
    )

    assert response.status_code == 200
    assert LocalityDecision.objects.get().dataset == eu_customers


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"action": "delete"}, "action", id="action-not-in-the-list"),
        pytest.param({"action": None}, "action", id="action-missing"),
        pytest.param({"dataset": "no-such-dataset"}, "dataset", id="unknown-dataset"),
        pytest.param({"region": "aws:mars-1"}, "region", id="unknown-region"),
        pytest.param({"purpose": "world-domination"}, "purpose", id="unknown-purpose"),
        pytest.param({"at": "yesterday-ish"}, "at", id="bad-time"),
    ],
)
def test_bad_single_check_is_a_400_naming_the_field(
    api_client, engineer, eu_customers, overrides, field
):
    body = {k: v for k, v in question(**overrides).items() if v is not None}

    response = api_client(engineer).post(CHECK, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not LocalityDecision.objects.exists()


def test_each_thread_validates_single_checks_with_its_own_serializer(api_client, engineer):
    """One check reuses its thread's validator (a new serializer deep-copies its fields); web
    threads serve at once, so each must have its own, and a reused one must not carry one
    request's errors into the next."""
    from concurrent.futures import ThreadPoolExecutor

    from governance.checks.api import check_validator, parse_checks

    def validate(body):
        return check_validator(), parse_checks([body])

    with ThreadPoolExecutor(max_workers=1) as other:
        theirs, (their_checks, their_errors) = other.submit(validate, {"action": "delete"}).result()
    mine, (checks, errors) = validate(question())
    again, (_, later_errors) = validate({**question(), "region": ""})

    assert theirs is not mine and again is mine
    assert their_checks == [None] and {"dataset", "action", "region", "purpose"} <= set(
        their_errors[0]
    )
    assert checks[0] is not None and errors == {}
    assert set(later_errors[0]) == {"region"}


def test_malformed_json_is_a_400(api_client, engineer):
    response = api_client(engineer).post(
        CHECK, '{"dataset": "eu-customers",', content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()


def test_batch_answers_each_item_in_order(api_client, engineer, eu_customers):
    checks = [
        question(),
        question(action="delete"),
        question(region=VIRGINIA),
        question(dataset="no-such-dataset"),
        {"dataset": "eu-customers", "region": GERMANY},
        question(region=MUMBAI),
    ]

    response = api_client(engineer).post(CHECK, {"checks": checks}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["count"], body["denied"], body["errors"]) == (6, 2, 3)
    assert body["policy_version"] == current_index().version
    results = body["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r.get("outcome") for r in results] == ["allow", None, "deny", None, None, "deny"]
    assert set(results[1]["errors"]) == {"action"}
    assert set(results[3]["errors"]) == {"dataset"}
    assert set(results[4]["errors"]) == {"action", "purpose"}
    recorded = LocalityDecision.objects.order_by("id").values_list("id", "region_code")
    assert list(recorded) == [
        (results[0]["decision_id"], GERMANY),
        (results[2]["decision_id"], VIRGINIA),
        (results[5]["decision_id"], MUMBAI),
    ]


def test_batch_item_that_is_not_an_object_gets_its_own_error(api_client, engineer, eu_customers):
    response = api_client(engineer).post(
        CHECK, {"checks": [question(), "eu-customers", None]}, format="json"
    )

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["outcome"] == "allow"
    assert "errors" in results[1] and "errors" in results[2]


def test_batch_counts_denials(api_client, engineer, eu_customers):
    checks = [question(region=VIRGINIA), question(region=MUMBAI), question()]

    body = api_client(engineer).post(CHECK, {"checks": checks}, format="json").json()

    assert (body["count"], body["denied"], body["errors"]) == (3, 2, 0)


def test_batch_of_a_thousand_is_answered(api_client, engineer, eu_customers):
    response = api_client(engineer).post(CHECK, {"checks": [question()] * 1000}, format="json")

    assert response.status_code == 200
    assert response.json()["count"] == 1000
    assert LocalityDecision.objects.count() == 1000


def test_batch_over_a_thousand_is_a_400(api_client, engineer, eu_customers):
    response = api_client(engineer).post(CHECK, {"checks": [question()] * 1001}, format="json")

    assert response.status_code == 400
    assert "checks" in response.json()
    assert not LocalityDecision.objects.exists()


@pytest.mark.parametrize(
    "checks",
    [pytest.param([], id="empty"), pytest.param("all of them", id="not-a-list")],
)
def test_batch_that_is_not_a_list_of_checks_is_a_400(api_client, engineer, checks):
    response = api_client(engineer).post(CHECK, {"checks": checks}, format="json")

    assert response.status_code == 400
    assert "checks" in response.json()


# --- Locality rules ------------------------------------------------------------------------------


def rule_body(**overrides) -> dict:
    body = {
        "name": "No EU data in the US",
        "jurisdiction": "eu",
        "effect": "deny",
        "countries": ["US"],
        "priority": 100,
    }
    body.update(overrides)
    return body


def test_privacy_officer_manages_rules(api_client, privacy_officer, eu_customers):
    client = api_client(privacy_officer)

    created = client.post(RULES, rule_body(countries=["DE"]), format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["version"], rule["countries"], rule["jurisdiction"]) == (1, ["DE"], "eu")
    detail = f"{RULES}{rule['id']}/"
    assert client.get(detail).json()["name"] == "No EU data in the US"

    # The engine follows the rule at once.
    check = client.post(CHECK, question(), format="json").json()
    assert (check["outcome"], check["rule"]) == ("deny", f"rule:{rule['id']}")

    changed = client.patch(detail, {"priority": 120, "regions": [MUMBAI]}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["version"], changed.json()["regions"]) == (2, [MUMBAI])
    assert changed.json()["countries"] == ["DE"]

    versions = client.get(f"{detail}versions/")
    assert versions.status_code == 200
    assert [(v["version"], v["action"]) for v in versions.json()["results"]] == [
        (2, "updated"),
        (1, "created"),
    ]
    assert versions.json()["results"][0]["snapshot"]["priority"] == 120
    assert versions.json()["results"][0]["actor_name"] == privacy_officer.get_full_name()

    assert client.delete(detail).status_code == 204
    assert client.get(detail).status_code == 404
    assert client.post(CHECK, question(), format="json").json()["outcome"] == "allow"


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
def test_other_roles_read_rules_but_may_not_write(request, api_client, privacy_officer, role):
    created = api_client(privacy_officer).post(RULES, rule_body(), format="json").json()
    client = api_client(request.getfixturevalue(role))
    detail = f"{RULES}{created['id']}/"

    assert client.get(RULES).json()["count"] == 1
    assert client.get(f"{detail}versions/").status_code == 200
    assert (
        client.post(RULES, rule_body(name="mine", countries=["IN"]), format="json").status_code
        == 403
    )
    assert client.patch(detail, {"priority": 1}, format="json").status_code == 403
    assert client.delete(detail).status_code == 403
    assert LocalityRule.objects.get().version == 1


def test_outsider_may_not_read_rules(api_client, outsider):
    assert api_client(outsider).get(RULES).status_code == 403
    assert api_client().get(RULES).status_code in (401, 403)


def test_contradictory_rule_is_a_400_naming_the_other_rule(api_client, privacy_officer):
    client = api_client(privacy_officer)
    first = client.post(RULES, rule_body(), format="json").json()

    response = client.post(
        RULES,
        rule_body(name="Only Virginia", effect="allow_only", countries=[], regions=[VIRGINIA]),
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["priority"][0]
    assert "No EU data in the US" in message and f"#{first['id']}" in message
    assert LocalityRule.objects.count() == 1
    moved = client.post(
        RULES,
        rule_body(
            name="Only Virginia", effect="allow_only", countries=[], regions=[VIRGINIA], priority=90
        ),
        format="json",
    )
    assert moved.status_code == 201


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"countries": []}, "regions", id="no-places"),
        pytest.param({"countries": ["XX"]}, "countries", id="unknown-country"),
        pytest.param({"regions": ["aws:mars-1"]}, "regions", id="unknown-region"),
        pytest.param({"actions": ["delete"]}, "actions", id="unknown-action"),
        pytest.param({"effect": "perhaps"}, "effect", id="unknown-effect"),
        pytest.param({"jurisdiction": "atlantis"}, "jurisdiction", id="unknown-jurisdiction"),
    ],
)
def test_invalid_rule_is_a_400_naming_the_field(api_client, privacy_officer, overrides, field):
    response = api_client(privacy_officer).post(RULES, rule_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not LocalityRule.objects.exists()


def test_rules_filter_by_effect(api_client, privacy_officer):
    client = api_client(privacy_officer)
    client.post(RULES, rule_body(), format="json")
    client.post(
        RULES,
        rule_body(name="Only Europe", effect="allow_only", countries=["DE"], priority=10),
        format="json",
    )

    names = [r["name"] for r in client.get(RULES, {"effect": "allow_only"}).json()["results"]]

    assert names == ["Only Europe"]


# --- Transfer grants -----------------------------------------------------------------------------


def grant_body(**overrides) -> dict:
    now = dt.datetime.now(dt.UTC)
    body = {
        "datasets": ["eu-customers"],
        "destination_regions": [VIRGINIA],
        "mechanism": "scc",
        "mechanism_detail": "SCC module 1",
        "valid_from": (now - dt.timedelta(hours=1)).isoformat(),
        "valid_until": (now + dt.timedelta(days=30)).isoformat(),
        "purpose": "model-training",
    }
    body.update(overrides)
    return body


def test_privacy_officer_creates_and_revokes_a_grant(api_client, privacy_officer, eu_customers):
    client = api_client(privacy_officer)
    assert client.post(CHECK, question(region=VIRGINIA), format="json").json()["outcome"] == "deny"

    created = client.post(GRANTS, grant_body(), format="json")

    assert created.status_code == 201, created.content
    grant = created.json()
    assert grant["active"] is True
    assert grant["approved_by_name"] == privacy_officer.get_full_name()
    check = client.post(CHECK, question(region=VIRGINIA), format="json").json()
    assert (check["outcome"], check["grant"]) == ("allow_with_grant", grant["id"])

    revoked = client.post(f"{GRANTS}{grant['id']}/revoke/", {"reason": "TIA failed"}, format="json")

    assert revoked.status_code == 200, revoked.content
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["active"] is False
    assert client.post(CHECK, question(region=VIRGINIA), format="json").json()["outcome"] == "deny"
    again = client.post(f"{GRANTS}{grant['id']}/revoke/", {"reason": "again"}, format="json")
    assert again.status_code == 409  # its state no longer allows it
    assert "grant" in again.json()


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
def test_other_roles_read_grants_but_may_not_write(
    request, api_client, privacy_officer, eu_customers, role
):
    grant = api_client(privacy_officer).post(GRANTS, grant_body(), format="json").json()
    client = api_client(request.getfixturevalue(role))

    assert client.get(GRANTS).json()["count"] == 1
    assert client.get(f"{GRANTS}{grant['id']}/").status_code == 200
    assert client.post(GRANTS, grant_body(), format="json").status_code == 403
    revoke = client.post(f"{GRANTS}{grant['id']}/revoke/", {"reason": "mine"}, format="json")
    assert revoke.status_code == 403
    assert TransferGrant.objects.get().revoked_at is None


def test_outsider_sees_no_grants(api_client, outsider):
    assert api_client(outsider).get(GRANTS).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param(
            {"valid_from": "2026-02-01T00:00:00Z", "valid_until": "2026-01-01T00:00:00Z"},
            "valid_until",
            id="ends-before-it-starts",
        ),
        pytest.param({"mechanism": "handshake"}, "mechanism", id="unknown-mechanism"),
        pytest.param({"datasets": ["nope"]}, "datasets", id="unknown-dataset"),
        pytest.param({"destination_regions": []}, "destination_regions", id="no-regions"),
        pytest.param({"purpose": "world-domination"}, "purpose", id="unknown-purpose"),
    ],
)
def test_invalid_grant_is_a_400(api_client, privacy_officer, eu_customers, overrides, field):
    response = api_client(privacy_officer).post(GRANTS, grant_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not TransferGrant.objects.exists()


def test_revoke_needs_a_reason(api_client, privacy_officer, eu_customers):
    client = api_client(privacy_officer)
    grant = client.post(GRANTS, grant_body(), format="json").json()

    response = client.post(f"{GRANTS}{grant['id']}/revoke/", {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()


# --- Training runs -------------------------------------------------------------------------------


def run_body(**overrides) -> dict:
    body = {
        "name": "ranker-v2",
        "purpose": "model-training",
        "compute_regions": [GERMANY, VIRGINIA],
        "datasets": [{"dataset": "eu-customers", "version": "2026-03"}],
        "model_name": "ranker",
    }
    body.update(overrides)
    return body


def test_training_run_register_report_and_footprint(api_client, engineer, eu_customers):
    client = api_client(engineer)

    created = client.post(RUNS, run_body(), format="json")

    assert created.status_code == 201, created.content
    run = created.json()
    assert run["verdict"] == "deny"
    assert run["inputs"] == [{"dataset": "eu-customers", "version": "2026-03"}]
    assert sorted((d["region"], d["outcome"]) for d in run["decisions"]) == [
        (GERMANY, "allow"),
        (VIRGINIA, "deny"),
    ]
    assert all(d["decision_id"] for d in run["decisions"])

    reads = client.post(
        f"{RUNS}{run['id']}/reads/",
        {
            "reads": [
                {"dataset": "eu-customers", "region": GERMANY},
                {"dataset": "eu-customers", "region": IRELAND, "action": "access"},
                {"dataset": "nope", "region": GERMANY},
            ]
        },
        format="json",
    )

    assert reads.status_code == 200, reads.content
    results = reads.json()["results"]
    assert [r.get("outcome") for r in results] == ["allow", "allow", None]
    assert set(results[2]["errors"]) == {"dataset"}
    assert {r.get("purpose") for r in results[:2]} == {"model-training"}

    footprint = client.get(f"{RUNS}{run['id']}/regions/")

    assert footprint.status_code == 200
    body = footprint.json()
    assert body["run"] == run["id"]
    regions = {r["region"]: r for r in body["regions"]}
    assert sorted(regions) == sorted([GERMANY, IRELAND, VIRGINIA])
    assert regions[VIRGINIA]["country"] == "US"
    assert [(d["context"], d["outcome"]) for d in regions[GERMANY]["decisions"]] == [
        ("training_plan", "allow"),
        ("training_read", "allow"),
    ]
    assert [(d["context"], d["dataset"]) for d in regions[IRELAND]["decisions"]] == [
        ("training_read", "eu-customers")
    ]
    assert [d["outcome"] for d in regions[VIRGINIA]["decisions"]] == ["deny"]


def test_training_run_with_a_grant_is_allowed_with_grant(
    api_client, engineer, privacy_officer, eu_customers
):
    api_client(privacy_officer).post(GRANTS, grant_body(), format="json")

    run = api_client(engineer).post(RUNS, run_body(), format="json").json()

    assert run["verdict"] == "allow_with_grant"


@pytest.mark.parametrize("role", ["executive", "auditor"])
def test_read_only_roles_may_not_register_runs(request, api_client, eu_customers, role):
    client = api_client(request.getfixturevalue(role))

    assert client.post(RUNS, run_body(), format="json").status_code == 403
    assert client.get(RUNS).status_code == 200


def test_outsider_may_not_see_runs(api_client, outsider):
    assert api_client(outsider).get(RUNS).status_code == 403


def test_only_the_registrant_reports_reads(api_client, engineer, data_owner, eu_customers):
    run = api_client(engineer).post(RUNS, run_body(), format="json").json()

    response = api_client(data_owner).post(
        f"{RUNS}{run['id']}/reads/",
        {"reads": [{"dataset": "eu-customers", "region": GERMANY}]},
        format="json",
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"datasets": []}, "datasets", id="no-datasets"),
        pytest.param(
            {"datasets": [{"dataset": "eu-customers"}, {"dataset": "eu-customers"}]},
            "datasets",
            id="dataset-twice",
        ),
        pytest.param({"datasets": [{"dataset": "nope"}]}, "datasets", id="unknown-dataset"),
        pytest.param({"compute_regions": ["aws:mars-1"]}, "compute_regions", id="unknown-region"),
        pytest.param({"compute_regions": []}, "compute_regions", id="no-regions"),
        pytest.param({"purpose": "world-domination"}, "purpose", id="unknown-purpose"),
    ],
)
def test_invalid_run_is_a_400(api_client, engineer, eu_customers, overrides, field):
    response = api_client(engineer).post(RUNS, run_body(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()


# --- The decision log ----------------------------------------------------------------------------


def test_decisions_list_filters(api_client, engineer, auditor, eu_customers):
    client = api_client(engineer)
    client.post(
        CHECK,
        {"checks": [question(), question(region=VIRGINIA), question(region=MUMBAI)]},
        format="json",
    )
    run = client.post(RUNS, run_body(compute_regions=[GERMANY]), format="json").json()
    reader = api_client(auditor)

    def listed(**params):
        response = reader.get(DECISIONS, params)
        assert response.status_code == 200, response.content
        return sorted((d["region_code"], d["context"]) for d in response.json()["results"])

    assert len(listed()) == 4
    assert listed(outcome="deny") == [(MUMBAI, "check"), (VIRGINIA, "check")]
    assert listed(region_code=GERMANY) == [(GERMANY, "check"), (GERMANY, "training_plan")]
    assert listed(context="training_plan") == [(GERMANY, "training_plan")]
    assert listed(training_run=run["id"]) == [(GERMANY, "training_plan")]
    assert len(listed(dataset_slug="eu-customers")) == 4
    assert listed(dataset_slug="other") == []
    assert listed(action="access") == []
    first = reader.get(DECISIONS).json()["results"][-1]
    assert first["actor_name"] == engineer.get_full_name()
    assert first["policy_version"]


def test_decisions_are_read_only(api_client, privacy_officer, eu_customers):
    client = api_client(privacy_officer)
    decision_id = client.post(CHECK, question(), format="json").json()["decision_id"]

    assert client.delete(f"{DECISIONS}{decision_id}/").status_code == 405
    assert client.patch(f"{DECISIONS}{decision_id}/", {"outcome": "deny"}).status_code == 405
    assert client.post(DECISIONS, {}).status_code == 405


def test_outsider_may_not_read_decisions(api_client, outsider):
    assert api_client(outsider).get(DECISIONS).status_code == 403


# --- List endpoints cost the same number of queries for 3 rows as for 20 -------------------------


def _make_rules(n, privacy_officer, start):
    regions = list(Region.objects.order_by("code"))
    for i in range(start, start + n):
        rule_create(
            actor=privacy_officer,
            regions=[regions[i]],
            countries=[regions[i].country],
            name=f"rule {i}",
            effect="deny",
            jurisdiction_id="eu",
            actions=["train"],
        )


def _make_grants(n, privacy_officer, start):
    now = dt.datetime.now(dt.UTC)
    datasets = [make_dataset(slug=f"granted-{i}") for i in range(start, start + n)]
    regions = list(Region.objects.order_by("code")[:2])
    for dataset in datasets:
        grant_create(
            actor=privacy_officer,
            datasets=[dataset],
            destination_regions=regions,
            mechanism="scc",
            valid_from=now,
            valid_until=now + dt.timedelta(days=1),
            purpose=Purpose.objects.get(code="research"),
        )


def _make_runs(n, privacy_officer, start):
    datasets = [make_dataset(slug=f"input-{i}") for i in range(start, start + n)]
    regions = list(Region.objects.filter(code__in=[IRELAND, GERMANY]))
    for dataset in datasets:
        training_run_register(
            actor=privacy_officer,
            name=f"run {dataset.slug}",
            purpose=Purpose.objects.get(code="model-training"),
            compute_regions=regions,
            inputs=[(dataset, "v1"), (make_dataset(slug=f"{dataset.slug}-b"), "")],
        )


@pytest.mark.parametrize(
    ("url", "make"),
    [
        pytest.param(RULES, _make_rules, id="locality-rules"),
        pytest.param(GRANTS, _make_grants, id="transfer-grants"),
        pytest.param(RUNS, _make_runs, id="training-runs"),
    ],
)
def test_list_query_count_does_not_grow_with_rows(api_client, privacy_officer, url, make):
    def count_queries(expected_rows):
        client = api_client(fresh(privacy_officer))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        assert response.json()["count"] == expected_rows
        return len(queries)

    make(3, privacy_officer, 0)
    few = count_queries(3)
    make(17, privacy_officer, 3)
    many = count_queries(20)

    assert many == few, (few, many)


def test_check_query_count_does_not_grow_with_the_batch(api_client, engineer, eu_customers):
    client = api_client(engineer)
    client.post(CHECK, question(), format="json")  # compiles the index once

    def count_queries(size):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(CHECK, {"checks": [question()] * size}, format="json")
        assert response.status_code == 200
        return len(queries)

    # 30 rows stay within one INSERT on every backend (SQLite binds at most 999 parameters in a
    # statement, so Django splits larger batches there).
    assert count_queries(3) == count_queries(30)


def test_response_body_is_json(api_client, engineer, eu_customers):
    response = api_client(engineer).post(
        CHECK, json.dumps(question()), content_type="application/json"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


def test_a_batch_of_checks_that_all_fail_is_a_400_listing_each(api_client, engineer, eu_customers):
    checks = [question(region="mars:olympus-1"), "eu-customers"]

    response = api_client(engineer).post(CHECK, {"checks": checks}, format="json")

    assert response.status_code == 400
    data = response.json()
    assert (data["count"], data["errors"]) == (2, 2)
    assert [r["index"] for r in data["results"]] == [0, 1]


def test_a_run_names_its_datasets_by_uri_as_a_check_does(api_client, engineer, eu_customers):
    body = run_body(datasets=[{"dataset": "s3://locus-eu/customers", "version": "2026-03"}])

    created = api_client(engineer).post(RUNS, body, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["inputs"] == [{"dataset": "eu-customers", "version": "2026-03"}]
    unknown = run_body(datasets=[{"dataset": "s3://nowhere/x"}])
    refused = api_client(engineer).post(RUNS, unknown, format="json")
    assert refused.status_code == 400
    assert "s3://nowhere/x" in json.dumps(refused.json()["datasets"])
