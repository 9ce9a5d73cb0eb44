"""Governance services: locality rules (conflicts, versions), grants, checks and training runs."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from catalog.errors import StateConflict
from catalog.models import Country, Dataset, Region
from governance.checks.selectors import run_footprint
from governance.checks.services import (
    Check,
    locality_check,
    training_run_register,
    training_run_report_reads,
)
from governance.grants.selectors import grants_active
from governance.grants.services import grant_create, grant_revoke
from governance.models import (
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Outcome,
    Purpose,
    TrainingRun,
    TransferGrant,
)
from governance.policy.facts import RULE_DATASET_REGIONS
from governance.policy.index import current_index, forget_index
from governance.policy.rules import rule_create, rule_delete, rule_update
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
VIRGINIA = "aws:us-east-1"
OREGON = "aws:us-west-2"
NON_WRITERS = ["executive", "data_owner", "engineer", "auditor", "outsider"]


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
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY, VIRGINIA],
    )


@pytest.fixture
def eu_clicks(data_owner):
    """Non-personal data in Ireland, processable in Virginia."""
    return make_dataset(
        data_owner, slug="eu-clicks", sensitivity="internal", allowed_processing_regions=[VIRGINIA]
    )


def regions(*codes) -> list[Region]:
    return [Region.objects.get(code=code) for code in codes]


def countries(*codes) -> list[Country]:
    return [Country.objects.get(code=code) for code in codes]


def purpose(code="model-training") -> Purpose:
    return Purpose.objects.get(code=code)


def new_rule(actor, *, places=(), nations=(), **fields) -> LocalityRule:
    fields.setdefault("name", "a rule")
    fields.setdefault("effect", LocalityRule.Effect.DENY)
    return rule_create(
        actor=actor, regions=regions(*places), countries=countries(*nations), **fields
    )


def new_grant(actor, dataset, *, places=(VIRGINIA,), **fields) -> TransferGrant:
    now = dt.datetime.now(dt.UTC)
    fields.setdefault("mechanism", "scc")
    fields.setdefault("valid_from", now - dt.timedelta(days=1))
    fields.setdefault("valid_until", now + dt.timedelta(days=90))
    return grant_create(
        actor=actor, datasets=[dataset], destination_regions=regions(*places), **fields
    )


# --- Rule conflicts ------------------------------------------------------------------------------


def test_contradictory_rule_at_the_same_priority_is_refused_naming_the_other(privacy_officer):
    existing = new_rule(
        privacy_officer, name="Never EU data to the US", jurisdiction_id="eu", nations=["US"]
    )

    with pytest.raises(ValidationError) as excinfo:
        new_rule(
            privacy_officer,
            name="EU data only in Virginia",
            jurisdiction_id="eu",
            effect=LocalityRule.Effect.ALLOW_ONLY,
            places=[VIRGINIA],
        )

    message = excinfo.value.message_dict["priority"][0]
    assert "Never EU data to the US" in message
    assert f"#{existing.pk}" in message
    assert list(LocalityRule.objects.all()) == [existing]
    assert LocalityRuleVersion.objects.count() == 1


def test_contradictory_rule_at_another_priority_is_accepted(privacy_officer):
    new_rule(privacy_officer, jurisdiction_id="eu", nations=["US"], priority=100)

    rule = new_rule(
        privacy_officer,
        jurisdiction_id="eu",
        effect=LocalityRule.Effect.ALLOW_ONLY,
        places=[VIRGINIA],
        priority=150,
    )

    assert rule.pk and LocalityRule.objects.count() == 2


CONFLICTS = [
    pytest.param(
        {"effect": "deny", "nations": ["US"]},
        {"effect": "allow_only", "places": [VIRGINIA]},
        id="deny-country-vs-allow-only-region-in-it",
    ),
    pytest.param(
        {"effect": "deny", "places": [VIRGINIA]},
        {"effect": "allow_only", "places": [VIRGINIA, OREGON]},
        id="deny-region-vs-allow-only-same-region",
    ),
    pytest.param(
        {"effect": "allow_only", "places": [GERMANY]},
        {"effect": "allow_only", "places": [IRELAND]},
        id="two-allow-only-with-different-places",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"], "jurisdiction_id": "eu"},
        {"effect": "allow_only", "nations": ["US"], "jurisdiction_id": "uk"},
        id="different-jurisdictions-can-meet-on-one-dataset",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"], "actions": ["train", "process"]},
        {"effect": "allow_only", "nations": ["US"], "actions": ["train"]},
        id="overlapping-actions",
    ),
]

NO_CONFLICTS = [
    pytest.param(
        {"effect": "deny", "nations": ["US"]},
        {"effect": "deny", "places": [VIRGINIA]},
        id="two-denies-agree",
    ),
    pytest.param(
        {"effect": "allow_only", "places": [GERMANY, IRELAND]},
        {"effect": "allow_only", "places": [IRELAND, GERMANY]},
        id="two-allow-only-with-the-same-places",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"]},
        {"effect": "allow_only", "places": [GERMANY]},
        id="deny-and-allow-only-on-different-places",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"], "sensitivity": "restricted"},
        {"effect": "allow_only", "nations": ["US"], "sensitivity": "public"},
        id="different-sensitivities",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"], "actions": ["train"]},
        {"effect": "allow_only", "nations": ["US"], "actions": ["process"]},
        id="disjoint-actions",
    ),
    pytest.param(
        {"effect": "deny", "nations": ["US"]},
        {"effect": "allow_only", "nations": ["US"], "enabled": False},
        id="disabled-proposal",
    ),
]


@pytest.mark.parametrize(("first", "second"), CONFLICTS)
def test_rule_conflicts(privacy_officer, first, second):
    new_rule(privacy_officer, name="first", **first)

    with pytest.raises(ValidationError) as excinfo:
        new_rule(privacy_officer, name="second", **second)

    assert "'first'" in excinfo.value.message_dict["priority"][0]


@pytest.mark.parametrize(("first", "second"), NO_CONFLICTS)
def test_rules_that_do_not_conflict(privacy_officer, first, second):
    new_rule(privacy_officer, name="first", **first)

    assert new_rule(privacy_officer, name="second", **second).pk


def test_rules_on_different_datasets_do_not_conflict(privacy_officer, eu_customers, eu_clicks):
    new_rule(privacy_officer, dataset=eu_customers, nations=["US"])

    assert new_rule(privacy_officer, dataset=eu_clicks, effect="allow_only", places=[VIRGINIA]).pk


def test_an_update_into_a_contradiction_is_refused(privacy_officer):
    deny = new_rule(privacy_officer, name="No US", nations=["US"], priority=100)
    allow_only = new_rule(
        privacy_officer, name="Only Virginia", effect="allow_only", places=[VIRGINIA], priority=50
    )

    with pytest.raises(ValidationError) as excinfo:
        rule_update(actor=privacy_officer, rule=allow_only, priority=100)

    assert "No US" in excinfo.value.message_dict["priority"][0]
    allow_only.refresh_from_db()
    assert (allow_only.priority, allow_only.version) == (50, 1)
    # An update that leaves a rule as it was does not conflict with itself.
    assert rule_update(actor=privacy_officer, rule=deny, name="No US at all").version == 2


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"nations": []}, "regions", id="no-places"),
        pytest.param({"actions": ["delete"]}, "actions", id="unknown-action"),
        pytest.param({"effect": "maybe"}, "effect", id="unknown-effect"),
        pytest.param({"sensitivity": "secret"}, "sensitivity", id="unknown-sensitivity"),
    ],
)
def test_invalid_rule_is_refused(privacy_officer, fields, field):
    values = {"nations": ["US"], **fields}

    with pytest.raises(ValidationError) as excinfo:
        new_rule(privacy_officer, **values)

    assert field in excinfo.value.message_dict
    assert not LocalityRule.objects.exists()


# --- Rule versions -------------------------------------------------------------------------------


def test_every_change_of_a_rule_is_a_version(privacy_officer, eu_customers):
    rule = new_rule(
        privacy_officer,
        name="No EU data in the US",
        jurisdiction_id="eu",
        dataset=eu_customers,
        nations=["US"],
        actions=["train"],
    )
    rule_update(
        actor=privacy_officer,
        rule=rule,
        priority=120,
        countries=countries("US", "IN"),
    )
    rule_delete(actor=privacy_officer, rule=LocalityRule.objects.get(pk=rule.pk))

    versions = list(LocalityRuleVersion.objects.filter(rule_ref=rule.pk).order_by("version"))
    assert [(v.version, v.action) for v in versions] == [
        (1, "created"),
        (2, "updated"),
        (3, "deleted"),
    ]
    created, updated, deleted = (v.snapshot for v in versions)
    assert created == {
        "name": "No EU data in the US",
        "description": "",
        "jurisdiction": "eu",
        "sensitivity": "",
        "category": None,
        "term": None,
        "dataset": "eu-customers",
        "actions": ["train"],
        "effect": "deny",
        "regions": [],
        "countries": ["US"],
        "priority": 100,
        "enabled": True,
        "unless_techniques": [],
    }
    assert updated == {**created, "priority": 120, "countries": ["IN", "US"]}
    assert deleted == updated
    assert all(v.actor == privacy_officer and v.actor_name for v in versions)
    # The rule is gone; its history stays, untouched (the rows are append-only).
    assert not LocalityRule.objects.filter(pk=rule.pk).exists()
    assert [v.rule_id for v in versions][:2] == [rule.pk, rule.pk]
    assert not LocalityRule.objects.filter(pk=rule.pk).exists()


def test_rule_versions_are_append_only(privacy_officer):
    rule = new_rule(privacy_officer, nations=["US"])

    with pytest.raises(PermissionError):
        LocalityRuleVersion.objects.filter(rule_ref=rule.pk).update(version=9)
    with pytest.raises(PermissionError):
        LocalityRuleVersion.objects.filter(rule_ref=rule.pk).delete()


# --- Who may write -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", NON_WRITERS)
def test_only_privacy_officers_write_rules(request, privacy_officer, role):
    user = request.getfixturevalue(role)
    rule = new_rule(privacy_officer, nations=["US"])

    with pytest.raises(PermissionDenied):
        new_rule(user, name="mine", nations=["IN"])
    with pytest.raises(PermissionDenied):
        rule_update(actor=user, rule=rule, priority=1)
    with pytest.raises(PermissionDenied):
        rule_delete(actor=user, rule=rule)

    assert list(LocalityRule.objects.values_list("version", flat=True)) == [1]
    assert LocalityRuleVersion.objects.count() == 1


@pytest.mark.parametrize("role", NON_WRITERS)
def test_only_privacy_officers_write_grants(request, privacy_officer, eu_customers, role):
    user = request.getfixturevalue(role)
    grant = new_grant(privacy_officer, eu_customers)

    with pytest.raises(PermissionDenied):
        new_grant(user, eu_customers)
    with pytest.raises(PermissionDenied):
        grant_revoke(actor=user, grant=grant, reason="no")

    assert TransferGrant.objects.get().revoked_at is None


# --- Grants --------------------------------------------------------------------------------------


def test_grant_create_records_who_approved(privacy_officer, eu_customers):
    grant = new_grant(
        privacy_officer, eu_customers, purpose=purpose(), mechanism_detail="SCC module 2"
    )

    assert list(grant.datasets.all()) == [eu_customers]
    assert [r.code for r in grant.destination_regions.all()] == [VIRGINIA]
    assert grant.approved_by == privacy_officer
    assert grant.approved_by_name == privacy_officer.get_full_name()
    assert grant in grants_active()


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(dt.timedelta(0), id="end-equals-start"),
        pytest.param(-dt.timedelta(days=1), id="end-before-start"),
    ],
)
def test_grant_must_end_after_it_starts(privacy_officer, eu_customers, length):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    with pytest.raises(ValidationError) as excinfo:
        new_grant(privacy_officer, eu_customers, valid_from=start, valid_until=start + length)

    assert "valid_until" in excinfo.value.message_dict
    assert not TransferGrant.objects.exists()


def test_grant_needs_datasets_and_regions(privacy_officer, eu_customers):
    now = dt.datetime.now(dt.UTC)
    common = {
        "actor": privacy_officer,
        "mechanism": "scc",
        "valid_from": now,
        "valid_until": now + dt.timedelta(days=1),
    }

    with pytest.raises(ValidationError) as no_datasets:
        grant_create(datasets=[], destination_regions=regions(VIRGINIA), **common)
    with pytest.raises(ValidationError) as no_regions:
        grant_create(datasets=[eu_customers], destination_regions=[], **common)

    assert "datasets" in no_datasets.value.message_dict
    assert "destination_regions" in no_regions.value.message_dict


def test_grant_with_an_unknown_mechanism_is_refused(privacy_officer, eu_customers):
    with pytest.raises(ValidationError) as excinfo:
        new_grant(privacy_officer, eu_customers, mechanism="handshake")

    assert "mechanism" in excinfo.value.message_dict


def test_grant_revoke_once(privacy_officer, eu_customers):
    grant = new_grant(privacy_officer, eu_customers)

    revoked = grant_revoke(actor=privacy_officer, grant=grant, reason="TIA expired")
    with pytest.raises(ValidationError) as excinfo:
        grant_revoke(actor=privacy_officer, grant=grant, reason="again")

    assert "already revoked" in excinfo.value.message_dict["grant"][0]
    revoked.refresh_from_db()
    assert revoked.revoked_by == privacy_officer
    assert revoked.revoke_reason == "TIA expired"
    assert revoked not in grants_active()


def test_revoking_a_grant_someone_else_revoked_is_a_state_conflict(privacy_officer, eu_customers):
    grant = new_grant(privacy_officer, eu_customers)
    # Another officer revoked it after this one read it.
    TransferGrant.objects.filter(pk=grant.pk).update(revoked_at=timezone.now())
    with pytest.raises(StateConflict, match="already revoked"):
        grant_revoke(actor=privacy_officer, grant=grant, reason="again")


def test_grant_revoke_needs_a_reason(privacy_officer, eu_customers):
    grant = new_grant(privacy_officer, eu_customers)

    with pytest.raises(ValidationError) as excinfo:
        grant_revoke(actor=privacy_officer, grant=grant, reason="  ")

    assert "reason" in excinfo.value.message_dict
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_grants_active_at_a_moment(privacy_officer, eu_customers):
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    grant = new_grant(
        privacy_officer,
        eu_customers,
        valid_from=start,
        valid_until=start + dt.timedelta(days=10),
    )

    assert grant in grants_active(start)
    assert grant not in grants_active(start - dt.timedelta(seconds=1))
    assert grant not in grants_active(start + dt.timedelta(days=10))


# --- Locality checks -----------------------------------------------------------------------------


def test_locality_check_records_every_decision(engineer, eu_customers):
    at = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
    checks = [
        Check("eu-customers", "train", GERMANY, "model-training", at),
        Check("eu-customers", "process", VIRGINIA, "analytics"),
        Check("no-such-dataset", "train", GERMANY, "model-training"),
        Check("eu-customers", "train", "aws:mars-1", "model-training"),
    ]

    results = locality_check(actor=engineer, checks=checks)

    assert [r.decision.outcome if r.decision else None for r in results] == [
        Outcome.ALLOW,
        Outcome.DENY,
        None,
        None,
    ]
    assert set(results[2].errors) == {"dataset"}
    assert set(results[3].errors) == {"region"}
    assert results[2].record is None
    rows = list(LocalityDecision.objects.order_by("id"))
    assert [r.pk for r in rows] == [results[0].record.pk, results[1].record.pk]
    first, second = rows
    assert (first.dataset, first.dataset_slug, first.action) == (
        eu_customers,
        "eu-customers",
        "train",
    )
    assert (first.region_code, first.country, first.purpose) == (GERMANY, "DE", "model-training")
    assert first.at == at
    assert first.outcome == Outcome.ALLOW
    assert first.rule == RULE_DATASET_REGIONS
    assert first.policy_version == current_index().version
    assert (first.actor, first.actor_name) == (engineer, engineer.get_full_name())
    assert first.context == LocalityDecision.Context.CHECK
    assert first.training_run is None
    assert (second.outcome, second.rule, second.country) == (
        Outcome.DENY,
        "law:eu:scope",
        "US",
    )
    assert second.at is not None  # "now" when the check named no time


def test_locality_check_records_the_grant(engineer, privacy_officer, eu_customers):
    grant = new_grant(privacy_officer, eu_customers)

    (result,) = locality_check(
        actor=engineer, checks=[Check("eu-customers", "train", VIRGINIA, "model-training")]
    )

    assert result.record.outcome == Outcome.ALLOW_WITH_GRANT
    assert result.record.grant == grant


def test_locality_decisions_are_append_only(engineer, eu_customers):
    (result,) = locality_check(
        actor=engineer, checks=[Check("eu-customers", "train", GERMANY, "model-training")]
    )
    record = result.record

    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()
    with pytest.raises(PermissionError):
        LocalityDecision.objects.update(outcome="deny")


def test_a_batch_of_a_thousand_checks_is_answered(engineer, eu_customers):
    checks = [Check("eu-customers", "train", GERMANY, "model-training")] * 1000

    results = locality_check(actor=engineer, checks=checks)

    assert len(results) == 1000
    assert LocalityDecision.objects.count() == 1000


def test_an_over_limit_batch_is_refused(engineer, eu_customers):
    checks = [Check("eu-customers", "train", GERMANY, "model-training")] * 1001

    with pytest.raises(ValidationError) as excinfo:
        locality_check(actor=engineer, checks=checks)

    assert "1000" in excinfo.value.message_dict["checks"][0]
    assert not LocalityDecision.objects.exists()


# --- Training runs -------------------------------------------------------------------------------


def register(actor, datasets, places, **fields):
    fields.setdefault("name", "run")
    fields.setdefault("purpose", purpose())
    return training_run_register(
        actor=actor,
        compute_regions=regions(*places),
        inputs=[(ds, "v1") for ds in datasets],
        **fields,
    )


@pytest.mark.parametrize(
    ("places", "with_grant", "verdict"),
    [
        pytest.param([IRELAND, GERMANY], False, Outcome.ALLOW, id="allow"),
        pytest.param([GERMANY, VIRGINIA], True, Outcome.ALLOW_WITH_GRANT, id="allow-with-grant"),
        pytest.param([GERMANY, VIRGINIA], False, Outcome.DENY, id="deny"),
    ],
)
def test_training_run_verdict(
    engineer, privacy_officer, eu_customers, eu_clicks, places, with_grant, verdict
):
    if with_grant:
        new_grant(privacy_officer, eu_customers)
    if IRELAND in places:
        datasets = [eu_customers]
    else:
        datasets = [eu_customers, make_dataset(slug="eu-more", allowed_processing_regions=places)]

    run, results = register(engineer, datasets, places, name="ranker-v2")

    run.refresh_from_db()
    assert run.verdict == verdict
    assert run.created_by == engineer
    decisions = list(run.decisions.all())
    assert len(decisions) == len(results) == len(datasets) * len(places)
    assert {(d.dataset_slug, d.region_code) for d in decisions} == {
        (ds.slug, code) for ds in datasets for code in places
    }
    assert {d.context for d in decisions} == {LocalityDecision.Context.TRAINING_PLAN}
    assert {d.action for d in decisions} == {"train"}
    assert {d.purpose for d in decisions} == {"model-training"}
    assert [(i.dataset, i.dataset_version) for i in run.inputs.order_by("id")] == [
        (ds, "v1") for ds in datasets
    ]


@pytest.mark.parametrize("role", ["engineer", "data_owner", "privacy_officer"])
def test_roles_that_may_register_runs(request, eu_customers, role):
    run, _ = register(request.getfixturevalue(role), [eu_customers], [IRELAND])

    assert run.verdict == Outcome.ALLOW


@pytest.mark.parametrize("role", ["executive", "auditor", "outsider"])
def test_roles_that_may_not_register_runs(request, eu_customers, role):
    with pytest.raises(PermissionDenied):
        register(request.getfixturevalue(role), [eu_customers], [IRELAND])

    assert not TrainingRun.objects.exists()
    assert not LocalityDecision.objects.exists()


def test_training_run_needs_regions_and_datasets(engineer, eu_customers):
    with pytest.raises(ValidationError) as no_regions:
        register(engineer, [eu_customers], [])
    with pytest.raises(ValidationError) as no_datasets:
        register(engineer, [], [IRELAND])

    assert "compute_regions" in no_regions.value.message_dict
    assert "datasets" in no_datasets.value.message_dict
    assert not TrainingRun.objects.exists()


def test_reads_are_judged_and_recorded_against_the_run(engineer, eu_customers):
    run, _ = register(engineer, [eu_customers], [GERMANY])
    read_at = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    results = training_run_report_reads(
        actor=engineer,
        run=run,
        reads=[
            Check("eu-customers", "train", GERMANY, "ignored", read_at),
            Check("eu-customers", "train", VIRGINIA, "ignored"),
            Check("nowhere", "train", GERMANY, "ignored"),
        ],
    )

    assert [r.decision.outcome if r.decision else "error" for r in results] == [
        Outcome.ALLOW,
        Outcome.DENY,
        "error",
    ]
    reads = run.decisions.filter(context=LocalityDecision.Context.TRAINING_READ).order_by("id")
    assert [(d.region_code, d.outcome) for d in reads] == [
        (GERMANY, Outcome.ALLOW),
        (VIRGINIA, Outcome.DENY),
    ]
    assert {d.purpose for d in reads} == {"model-training"}  # the run's purpose, always
    assert reads[0].at == read_at


def test_only_the_registrant_or_a_privacy_officer_reports_reads(
    engineer, data_owner, privacy_officer, eu_customers
):
    run, _ = register(engineer, [eu_customers], [GERMANY])
    read = [Check("eu-customers", "train", GERMANY, "model-training")]

    with pytest.raises(PermissionDenied):
        training_run_report_reads(actor=data_owner, run=run, reads=read)
    training_run_report_reads(actor=privacy_officer, run=run, reads=read)

    assert run.decisions.filter(context=LocalityDecision.Context.TRAINING_READ).count() == 1


def test_run_footprint_lists_regions_and_decisions(engineer, eu_customers):
    run, _ = register(engineer, [eu_customers], [GERMANY, IRELAND])
    training_run_report_reads(
        actor=engineer, run=run, reads=[Check("eu-customers", "train", VIRGINIA, "")]
    )

    footprint = run_footprint(run)

    assert [(r["region"], r["country"]) for r in footprint] == [
        (GERMANY, "DE"),
        (IRELAND, "IE"),
        (VIRGINIA, "US"),
    ]
    by_region = {r["region"]: r["decisions"] for r in footprint}
    assert [(d["context"], d["outcome"]) for d in by_region[VIRGINIA]] == [
        ("training_read", Outcome.DENY)
    ]
    assert [(d["context"], d["dataset"]) for d in by_region[GERMANY]] == [
        ("training_plan", "eu-customers")
    ]


def test_deleting_a_dataset_keeps_its_decisions(privacy_officer, engineer, eu_clicks):
    from catalog.services import dataset_delete

    locality_check(actor=engineer, checks=[Check("eu-clicks", "process", VIRGINIA, "analytics")])

    dataset_delete(actor=privacy_officer, dataset=eu_clicks)

    decision = LocalityDecision.objects.get()
    # The decision is append-only: untouched, it keeps the id of the dataset now gone.
    assert decision.dataset_id is not None
    assert not Dataset.objects.filter(pk=decision.dataset_id).exists()
    assert decision.dataset_slug == "eu-clicks"
    assert not Dataset.objects.filter(slug="eu-clicks").exists()


def test_deleting_through_a_stale_instance_records_the_next_version(privacy_officer):
    rule = new_rule(privacy_officer, nations=["US"])
    rule_update(actor=privacy_officer, rule=rule, priority=120)  # now at version 2

    rule_delete(actor=privacy_officer, rule=rule)  # `rule` still says version 1

    actions = LocalityRuleVersion.objects.filter(rule_ref=rule.pk).order_by("version")
    assert [(v.version, v.action) for v in actions] == [
        (1, "created"),
        (2, "updated"),
        (3, "deleted"),
    ]
