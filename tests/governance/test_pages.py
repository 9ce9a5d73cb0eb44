"""The governance pages: access per role, rules with their impact preview, grants, runs, checks."""

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Country, Region
from governance.checks.services import (
    Check,
    locality_check,
    training_run_register,
    training_run_report_reads,
)
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
from governance.policy.index import forget_index
from governance.policy.rules import rule_create
from tests.factories import UserFactory, make_dataset
from tests.navigation import POLICY_NAV

pytestmark = pytest.mark.django_db

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"
LONDON = "aws:eu-west-2"
VIRGINIA = "aws:us-east-1"
ROLES = ["privacy_officer", "executive", "data_owner", "engineer", "auditor"]
READ_ONLY_ROLES = ["executive", "data_owner", "engineer", "auditor"]


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    """Revision counters roll back with each test's transaction, so a cached index could be reused."""
    forget_index()
    yield
    forget_index()


# --- local fixtures and helpers ---------------------------------------------------------------


@pytest.fixture
def eu_events(data_owner):
    """Non-personal data in Ireland that may be processed in Germany."""
    return make_dataset(data_owner, slug="eu-events", allowed_processing_regions=[GERMANY])


@pytest.fixture
def eu_support(data_owner):
    """EU personal data in Ireland that may be processed in London (under the UK adequacy)."""
    return make_dataset(
        data_owner,
        slug="eu-support",
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[LONDON],
    )


def regions(*codes) -> list[Region]:
    return [Region.objects.get(code=code) for code in codes]


def new_rule(actor, *, places=(), nations=(), **fields) -> LocalityRule:
    fields.setdefault("name", "a rule")
    fields.setdefault("effect", LocalityRule.Effect.DENY)
    countries = [Country.objects.get(code=code) for code in nations]
    return rule_create(actor=actor, regions=regions(*places), countries=countries, **fields)


def new_grant(actor, dataset, *, places=(VIRGINIA,), **fields) -> TransferGrant:
    now = timezone.now()
    fields.setdefault("mechanism", "scc")
    fields.setdefault("valid_from", now - dt.timedelta(days=1))
    fields.setdefault("valid_until", now + dt.timedelta(days=30))
    return grant_create(
        actor=actor, datasets=[dataset], destination_regions=regions(*places), **fields
    )


def check(actor, dataset, region, action="process", purpose="analytics") -> LocalityDecision:
    (result,) = locality_check(actor=actor, checks=[Check(dataset.slug, action, region, purpose)])
    return result.record


def register_run(actor, dataset, *compute, name="a run") -> TrainingRun:
    run, _ = training_run_register(
        actor=actor,
        name=name,
        purpose=Purpose.objects.get(code="model-training"),
        compute_regions=regions(*compute),
        inputs=[(dataset, "v1")],
    )
    return run


def signed_in(client, user):
    client.force_login(user)
    return client


def text(response) -> str:
    """The page's text with tags removed and whitespace collapsed, for readable assertions."""
    content = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(content))


def field_errors(response, name: str) -> list[str]:
    """The errors shown next to one field of the page's form."""
    form = response.context["form"]
    return [str(error) for error in form.errors.get(name, [])]


def rule_data(**overrides) -> dict:
    data = {
        "name": "No Frankfurt for events",
        "description": "",
        "effect": "deny",
        "regions": [GERMANY],
        "priority": "100",
        "enabled": "on",
        "intent": "save",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def grant_data(**overrides) -> dict:
    now = timezone.now()
    data = {
        "datasets": "eu-events",
        "destination_regions": [VIRGINIA],
        "purpose": "analytics",
        "mechanism": "scc",
        "mechanism_detail": "SCC module 2",
        "valid_from": (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        "reference": "EXC-1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def world(privacy_officer, eu_events):
    """One of everything the pages show: a rule, a grant, a run, a decision."""
    rule = new_rule(privacy_officer, places=[VIRGINIA], name="Nothing to Virginia", priority=50)
    grant = new_grant(privacy_officer, eu_events, places=[LONDON])
    run = register_run(privacy_officer, eu_events, GERMANY)
    decision = check(privacy_officer, eu_events, GERMANY)
    return {"rule": rule, "grant": grant, "run": run, "decision": decision}


def read_urls(world) -> list[str]:
    return [
        reverse("governance:rule-list"),
        reverse("governance:rule-detail", args=[world["rule"].pk]),
        reverse("governance:grant-list"),
        reverse("governance:grant-detail", args=[world["grant"].pk]),
        reverse("governance:run-list"),
        reverse("governance:run-detail", args=[world["run"].pk]),
        reverse("governance:decision-list"),
        reverse("governance:decision-detail", args=[world["decision"].pk]),
        reverse("governance:check"),
        reverse("governance:what-if"),
    ]


def write_urls(world) -> list[str]:
    rule, grant = world["rule"].pk, world["grant"].pk
    return [
        reverse("governance:rule-create"),
        reverse("governance:rule-edit", args=[rule]),
        reverse("governance:rule-delete", args=[rule]),
        reverse("governance:grant-create"),
        reverse("governance:grant-revoke", args=[grant]),
    ]


# --- access per role ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    for url in read_urls(world) + write_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


def test_a_user_without_a_role_gets_403_everywhere(client, outsider, world):
    signed_in(client, outsider)
    for url in read_urls(world) + write_urls(world):
        assert client.get(url).status_code == 403, url
    for url in [*write_urls(world), reverse("governance:check")]:
        assert client.post(url, {"reason": "x", "intent": "delete"}).status_code == 403, url
    assert LocalityRule.objects.filter(pk=world["rule"].pk).exists()
    assert TransferGrant.objects.get(pk=world["grant"].pk).revoked_at is None


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_page(client, role, world):
    signed_in(client, UserFactory(username="reader", roles=[role]))
    for url in read_urls(world):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", READ_ONLY_ROLES)
def test_read_only_roles_see_no_buttons_and_may_not_write(client, role, world):
    signed_in(client, UserFactory(username="reader", roles=[role]))
    rule, grant = world["rule"], world["grant"]
    listing = client.get(reverse("governance:rule-list")).content.decode()
    detail = client.get(reverse("governance:rule-detail", args=[rule.pk])).content.decode()
    grants = client.get(reverse("governance:grant-list")).content.decode()
    grant_page = client.get(reverse("governance:grant-detail", args=[grant.pk])).content.decode()
    assert reverse("governance:rule-create") not in listing
    for page in (listing, detail):
        assert reverse("governance:rule-edit", args=[rule.pk]) not in page
        assert reverse("governance:rule-delete", args=[rule.pk]) not in page
    assert reverse("governance:grant-create") not in grants
    assert reverse("governance:grant-revoke", args=[grant.pk]) not in grant_page

    for url in write_urls(world):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("governance:rule-create"), rule_data()).status_code == 403
    edit = reverse("governance:rule-edit", args=[rule.pk])
    assert client.post(edit, rule_data(name="changed")).status_code == 403
    assert client.post(reverse("governance:rule-delete", args=[rule.pk])).status_code == 403
    assert client.post(reverse("governance:grant-create"), grant_data()).status_code == 403
    revoke = reverse("governance:grant-revoke", args=[grant.pk])
    assert client.post(revoke, {"reason": "no"}).status_code == 403
    rule.refresh_from_db()
    assert (rule.name, rule.version) == ("Nothing to Virginia", 1)
    assert LocalityRule.objects.count() == 1
    assert TransferGrant.objects.count() == 1
    assert TransferGrant.objects.get().revoked_at is None


def test_a_privacy_officer_sees_the_buttons(client, privacy_officer, world):
    signed_in(client, privacy_officer)
    rule = world["rule"]
    listing = client.get(reverse("governance:rule-list")).content.decode()
    detail = client.get(reverse("governance:rule-detail", args=[rule.pk])).content.decode()
    assert reverse("governance:rule-create") in listing
    for page in (listing, detail):
        assert reverse("governance:rule-edit", args=[rule.pk]) in page
        assert reverse("governance:rule-delete", args=[rule.pk]) in page
    grant_page = client.get(reverse("governance:grant-detail", args=[world["grant"].pk]))
    assert (
        reverse("governance:grant-revoke", args=[world["grant"].pk]) in grant_page.content.decode()
    )


@pytest.mark.parametrize("role", ROLES)
def test_navigation_shows_the_policy_pages_to_every_role(client, role):
    signed_in(client, UserFactory(username="reader", roles=[role]))
    page = client.get(reverse("governance:rule-list"))
    governance = next(g for g in page.context["nav_groups"] if g.label == "Governance")
    assert [item.label for item in governance.items][: len(POLICY_NAV)] == POLICY_NAV
    assert governance.active
    active = [item.label for item in page.context["nav_items"] if item.active]
    assert active == ["Rules"]


def test_a_detail_page_marks_its_section_in_the_navigation(client, executive, world):
    signed_in(client, executive)
    page = client.get(reverse("governance:run-detail", args=[world["run"].pk]))
    assert [item.label for item in page.context["nav_items"] if item.active] == ["Training runs"]


def test_home_sends_each_role_to_its_landing(client, executive):
    response = signed_in(client, executive).get("/")
    assert response.status_code == 302
    assert response.url == reverse("monitoring:home")


# --- locality rules -------------------------------------------------------------------------------


def test_the_rule_list_shows_effect_conditions_places_priority_state_and_version(
    client, executive, privacy_officer, eu_events
):
    new_rule(
        privacy_officer,
        name="Events stay home",
        effect="allow_only",
        dataset=eu_events,
        actions=["train"],
        places=[IRELAND],
        nations=["DE"],
        priority=70,
        enabled=False,
    )
    page = text(signed_in(client, executive).get(reverse("governance:rule-list")))
    for expected in ("Events stay home", "Only to", "eu-events", "train", IRELAND, "DE", "70"):
        assert expected in page
    assert "Disabled" in page
    assert "v1" in page


def test_a_privacy_officer_creates_edits_and_deletes_a_rule(client, privacy_officer, eu_events):
    signed_in(client, privacy_officer)
    response = client.post(
        reverse("governance:rule-create"),
        rule_data(dataset="eu-events", actions=["train", "process"], countries=["US"]),
    )
    rule = LocalityRule.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("governance:rule-detail", args=[rule.pk])
    assert (rule.dataset, sorted(rule.actions), rule.version) == (
        eu_events,
        ["process", "train"],
        1,
    )
    assert [r.code for r in rule.regions.all()] == [GERMANY]
    assert [c.code for c in rule.countries.all()] == ["US"]

    edit = reverse("governance:rule-edit", args=[rule.pk])
    form = client.get(edit)
    assert form.status_code == 200
    assert 'value="eu-events"' in form.content.decode()  # the dataset shown by its slug
    response = client.post(
        edit, rule_data(name="Never Frankfurt", dataset="eu-events", priority="120")
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.name, rule.priority, rule.version, rule.actions) == ("Never Frankfurt", 120, 2, [])

    detail = text(client.get(reverse("governance:rule-detail", args=[rule.pk])))
    assert "v2 updated by" in detail
    assert "Name No Frankfurt for events → Never Frankfurt" in detail
    assert "Priority 100 → 120" in detail
    assert "Countries US → —" in detail
    assert "v1 created by" in detail

    delete = reverse("governance:rule-delete", args=[rule.pk])
    assert client.get(delete).status_code == 200
    response = client.post(delete, {"intent": "delete"})
    assert response.status_code == 302
    assert response.url == reverse("governance:rule-list")
    assert not LocalityRule.objects.exists()
    versions = LocalityRuleVersion.objects.filter(rule_ref=rule.pk)
    assert sorted(versions.values_list("action", flat=True)) == ["created", "deleted", "updated"]
    kept = client.get(reverse("governance:rule-detail", args=[rule.pk]))
    assert kept.status_code == 200
    assert "Deleted rule" in text(kept)
    assert client.get(reverse("governance:rule-detail", args=[rule.pk + 1])).status_code == 404


def test_the_preview_lists_the_decisions_that_would_flip_without_saving(
    client, privacy_officer, engineer, eu_events
):
    flipping = check(engineer, eu_events, GERMANY)
    unaffected = check(engineer, eu_events, IRELAND)
    signed_in(client, privacy_officer)

    response = client.post(
        reverse("governance:rule-create"), rule_data(dataset="eu-events", intent="preview")
    )

    assert response.status_code == 200
    assert not LocalityRule.objects.exists()
    assert not LocalityRuleVersion.objects.exists()
    impact = response.context["preview"]["impact"]
    assert impact["replayed"] == 2
    assert impact["flipped"] == 1
    assert [flip["decision_id"] for flip in impact["flips"]] == [flipping.pk]
    assert impact["datasets"] == [{"key": "eu-events", "allow_to_deny": 1, "deny_to_allow": 0}]
    assert [row["key"] for row in impact["jurisdictions"]] == ["eu"]
    page = text(response)
    assert "1 of 2 decisions recorded in the last 30 days would change" in page
    assert f"#{flipping.pk}" in page
    assert f"#{unaffected.pk}" not in page
    assert "this rule, as proposed" in page
    assert 'name="name" value="No Frankfurt for events"' in response.content.decode()


def test_previewing_an_edit_replaces_the_rule_and_saves_nothing(
    client, privacy_officer, engineer, eu_events
):
    rule = new_rule(privacy_officer, places=[GERMANY], dataset=eu_events, name="No Frankfurt")
    denied = check(engineer, eu_events, GERMANY)
    assert denied.outcome == Outcome.DENY
    signed_in(client, privacy_officer)

    # Moving the rule's place from Frankfurt to Virginia would let the recorded denial through.
    response = client.post(
        reverse("governance:rule-edit", args=[rule.pk]),
        rule_data(name="No Virginia", regions=[VIRGINIA], dataset="eu-events", intent="preview"),
    )

    assert response.status_code == 200
    impact = response.context["preview"]["impact"]
    assert [(f["decision_id"], f["kind"]) for f in impact["flips"]] == [
        (denied.pk, "deny_to_allow")
    ]
    rule.refresh_from_db()
    assert (rule.name, rule.version) == ("No Frankfurt", 1)
    assert [r.code for r in rule.regions.all()] == [GERMANY]


def test_previewing_a_deletion_shows_its_impact_and_keeps_the_rule(
    client, privacy_officer, engineer, eu_events
):
    rule = new_rule(privacy_officer, places=[GERMANY], dataset=eu_events)
    denied = check(engineer, eu_events, GERMANY)
    signed_in(client, privacy_officer)

    response = client.post(reverse("governance:rule-delete", args=[rule.pk]), {"intent": "preview"})

    assert response.status_code == 200
    assert [f["decision_id"] for f in response.context["impact"]["flips"]] == [denied.pk]
    assert LocalityRule.objects.filter(pk=rule.pk).exists()


def test_a_contradictory_rule_is_refused_on_its_priority(client, privacy_officer):
    new_rule(privacy_officer, name="Only Frankfurt", effect="allow_only", places=[GERMANY])
    signed_in(client, privacy_officer)

    response = client.post(reverse("governance:rule-create"), rule_data(effect="deny"))

    assert response.status_code == 400
    errors = field_errors(response, "priority")
    assert len(errors) == 1
    assert "Contradicts rule" in errors[0] and "Only Frankfurt" in errors[0]
    assert "Contradicts rule" in text(response)
    assert LocalityRule.objects.count() == 1

    preview = client.post(
        reverse("governance:rule-create"), rule_data(effect="deny", intent="preview")
    )
    assert preview.status_code == 200
    assert [other.name for other in preview.context["preview"]["conflicts"]] == ["Only Frankfurt"]
    assert "Saving would be refused" in text(preview)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"regions": ["aws:nowhere-1"]}, "regions"),
        ({"regions": None}, "regions"),
        ({"countries": ["ZZ"]}, "countries"),
        ({"dataset": "no-such-dataset"}, "dataset"),
        ({"actions": ["fly"]}, "actions"),
        ({"effect": "maybe"}, "effect"),
        ({"jurisdiction": "atlantis"}, "jurisdiction"),
        ({"sensitivity": "secret"}, "sensitivity"),
        ({"priority": "99999999999999"}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_rule_input_is_a_form_error(client, privacy_officer, overrides, field):
    signed_in(client, privacy_officer)
    for intent in ("save", "preview"):
        response = client.post(
            reverse("governance:rule-create"), rule_data(intent=intent, **overrides)
        )
        assert response.status_code == 400, intent
        assert field_errors(response, field), (intent, response.context["form"].errors)
    assert not LocalityRule.objects.exists()


def test_editing_a_missing_rule_is_404(client, privacy_officer):
    signed_in(client, privacy_officer)
    assert client.get(reverse("governance:rule-edit", args=[999])).status_code == 404
    assert client.post(reverse("governance:rule-delete", args=[999])).status_code == 404


# --- transfer grants ------------------------------------------------------------------------------


def test_a_privacy_officer_creates_and_revokes_a_grant(client, privacy_officer, eu_events):
    signed_in(client, privacy_officer)
    assert client.get(reverse("governance:grant-create")).status_code == 200

    response = client.post(reverse("governance:grant-create"), grant_data())

    grant = TransferGrant.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("governance:grant-detail", args=[grant.pk])
    assert list(grant.datasets.all()) == [eu_events]
    assert [r.code for r in grant.destination_regions.all()] == [VIRGINIA]
    assert (grant.purpose_id, grant.mechanism, grant.reference) == ("analytics", "scc", "EXC-1")
    active = text(client.get(reverse("governance:grant-list")))
    assert f"#{grant.pk}" in active and "Active" in active

    revoke = reverse("governance:grant-revoke", args=[grant.pk])
    assert client.get(revoke).status_code == 200
    blank = client.post(revoke, {"reason": "   "})
    assert blank.status_code == 400
    assert field_errors(blank, "reason")
    assert TransferGrant.objects.get().revoked_at is None

    response = client.post(revoke, {"reason": "The vendor contract ended"})

    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert grant.revoke_reason == "The vendor contract ended"
    detail = text(client.get(reverse("governance:grant-detail", args=[grant.pk])))
    assert "Revoked" in detail and "The vendor contract ended" in detail
    revoked_tab = client.get(reverse("governance:grant-list"), {"status": "revoked"})
    assert [g.pk for g in revoked_tab.context["page"].object_list] == [grant.pk]
    assert list(client.get(reverse("governance:grant-list")).context["page"].object_list) == []

    again = client.post(revoke, {"reason": "twice"})
    assert again.status_code == 409
    assert "already revoked" in text(again)


def test_the_grant_tabs_sort_grants_by_state(client, executive, privacy_officer, eu_events):
    now = timezone.now()
    active = new_grant(privacy_officer, eu_events)
    upcoming = new_grant(privacy_officer, eu_events, valid_from=now + dt.timedelta(days=2))
    expired = new_grant(
        privacy_officer,
        eu_events,
        valid_from=now - dt.timedelta(days=9),
        valid_until=now - dt.timedelta(days=2),
    )
    revoked = new_grant(privacy_officer, eu_events)
    grant_revoke(actor=privacy_officer, grant=revoked, reason="no longer needed")
    signed_in(client, executive)

    def shown(status):
        response = client.get(reverse("governance:grant-list"), {"status": status})
        return response, [g.pk for g in response.context["page"].object_list]

    for status, grant in [
        ("active", active),
        ("upcoming", upcoming),
        ("expired", expired),
        ("revoked", revoked),
    ]:
        assert shown(status)[1] == [grant.pk], status
    response, everything = shown("all")
    assert sorted(everything) == sorted(g.pk for g in (active, upcoming, expired, revoked))
    counts = {tab["value"]: tab["count"] for tab in response.context["tabs"]}
    assert counts == {"active": 1, "upcoming": 1, "expired": 1, "revoked": 1, "all": 4}
    assert client.get(reverse("governance:grant-list"), {"status": "forever"}).status_code == 400


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"datasets": "eu-events no-such-dataset"}, "datasets"),
        ({"datasets": ""}, "datasets"),
        ({"destination_regions": ["aws:nowhere-1"]}, "destination_regions"),
        ({"destination_regions": []}, "destination_regions"),
        ({"mechanism": "handshake"}, "mechanism"),
        ({"purpose": "world-domination"}, "purpose"),
        ({"valid_from": "yesterday"}, "valid_from"),
        ({"valid_until": "2020-01-01T00:00"}, "valid_until"),  # before its start: the service says
    ],
)
def test_bad_grant_input_is_a_form_error(client, privacy_officer, eu_events, overrides, field):
    signed_in(client, privacy_officer)
    response = client.post(reverse("governance:grant-create"), grant_data(**overrides))
    assert response.status_code == 400
    assert field_errors(response, field), response.context["form"].errors
    assert not TransferGrant.objects.exists()


# --- training runs and decisions -----------------------------------------------------------------


def test_the_run_detail_shows_inputs_verdict_decisions_and_regions_touched(
    client, auditor, privacy_officer, eu_events
):
    run = register_run(privacy_officer, eu_events, GERMANY, IRELAND, name="ranker-v2")
    training_run_report_reads(
        actor=privacy_officer,
        run=run,
        reads=[Check(eu_events.slug, "train", VIRGINIA, "", None)],
    )
    signed_in(client, auditor)

    response = client.get(reverse("governance:run-detail", args=[run.pk]))

    assert response.status_code == 200
    footprint = {row["region"]: row for row in response.context["footprint"]}
    assert set(footprint) == {GERMANY, IRELAND, VIRGINIA}
    assert footprint[GERMANY]["planned"] and footprint[IRELAND]["planned"]
    assert not footprint[VIRGINIA]["planned"]
    assert (footprint[VIRGINIA]["reads"], footprint[VIRGINIA]["deny"]) == (1, 1)
    assert footprint[GERMANY]["worst"] == Outcome.ALLOW
    page = text(response)
    assert "Regions touched" in page
    assert "not a planned compute region" in page
    assert "eu-events@v1" in page
    assert page.count("Planned") == 2 and page.count("Read ") >= 1
    for decision in run.decisions.all():
        assert f"#{decision.pk}" in page
    assert response.context["decision_total"] == 3


def test_the_run_list_filters_by_verdict(client, engineer, privacy_officer, eu_events):
    allowed = register_run(privacy_officer, eu_events, GERMANY, name="allowed-run")
    denied = register_run(privacy_officer, eu_events, VIRGINIA, name="denied-run")
    signed_in(client, engineer)

    everything = client.get(reverse("governance:run-list"))
    only_denied = client.get(reverse("governance:run-list"), {"verdict": "deny"})

    assert {r.pk for r in everything.context["page"].object_list} == {allowed.pk, denied.pk}
    assert [r.pk for r in only_denied.context["page"].object_list] == [denied.pk]
    assert "(1 denied)" in text(only_denied)
    assert client.get(reverse("governance:run-list"), {"verdict": "maybe"}).status_code == 400


def test_the_decision_log_filters_and_refuses_unknown_values(client, auditor, engineer, eu_events):
    allowed = check(engineer, eu_events, GERMANY)
    denied = check(engineer, eu_events, VIRGINIA)
    signed_in(client, auditor)
    url = reverse("governance:decision-list")

    def shown(**params):
        response = client.get(url, params)
        assert response.status_code == 200, params
        return [d.pk for d in response.context["page"].object_list]

    assert shown() == [denied.pk, allowed.pk]
    assert shown(outcome="deny") == [denied.pk]
    assert shown(region=GERMANY) == [allowed.pk]
    assert shown(dataset="eu-events", context="check") == [denied.pk, allowed.pk]
    assert shown(dataset="another-dataset") == []
    assert shown(context="telemetry") == []
    for bad in ({"outcome": "perhaps"}, {"region": "aws:nowhere-1"}, {"context": "x"}):
        response = client.get(url, bad)
        assert response.status_code == 400, bad
        assert response.context["page"] is None
    assert shown(page="9") == []
    assert shown(page="junk") == [denied.pk, allowed.pk]


# --- the check and the what-if ----------------------------------------------------------------------


def test_the_check_form_answers_allow_and_deny(client, engineer, eu_events):
    signed_in(client, engineer)
    url = reverse("governance:check")
    assert client.get(url).status_code == 200
    question = {"dataset": "eu-events", "action": "process", "purpose": "analytics"}

    allowed = client.post(url, {**question, "region": GERMANY})
    denied = client.post(url, {**question, "region": VIRGINIA, "at": "2026-01-05T10:00"})

    assert allowed.status_code == 200
    result = allowed.context["result"]
    assert result.decision.outcome == Outcome.ALLOW
    assert result.record.actor == engineer
    page = text(allowed)
    assert "Allow" in page
    assert result.decision.reason in page
    assert f"#{result.record.pk}" in page
    assert denied.status_code == 200
    result = denied.context["result"]
    assert result.decision.outcome == Outcome.DENY
    assert result.record.at == dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)
    assert "Deny" in text(denied)
    assert result.decision.rule in text(denied)
    assert LocalityDecision.objects.count() == 2


def test_the_check_shows_the_grant_that_allows(client, engineer, privacy_officer, eu_events):
    grant = new_grant(privacy_officer, eu_events)
    signed_in(client, engineer)
    response = client.post(
        reverse("governance:check"),
        {"dataset": "eu-events", "action": "process", "region": VIRGINIA, "purpose": "analytics"},
    )
    assert response.context["result"].decision.outcome == Outcome.ALLOW_WITH_GRANT
    assert reverse("governance:grant-detail", args=[grant.pk]) in response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dataset": "no-such-dataset"}, "dataset"),
        ({"dataset": ""}, "dataset"),
        ({"action": "fly"}, "action"),
        ({"region": "aws:nowhere-1"}, "region"),
        ({"purpose": "world-domination"}, "purpose"),
        ({"at": "tomorrow-ish"}, "at"),
    ],
)
def test_bad_check_input_is_a_form_error(client, engineer, eu_events, overrides, field):
    signed_in(client, engineer)
    question = {"dataset": "eu-events", "action": "process", "region": GERMANY}
    question["purpose"] = "analytics"
    response = client.post(reverse("governance:check"), {**question, **overrides})
    assert response.status_code == 400
    assert field_errors(response, field), response.context["form"].errors
    assert not LocalityDecision.objects.exists()


def test_the_what_if_lists_the_affected_dataset_run_and_grant(
    client, executive, privacy_officer, eu_support, eu_events
):
    run = register_run(privacy_officer, eu_support, LONDON, name="london-support-model")
    # A grant naming adequacy as its mechanism loses its basis too (on another dataset: a grant
    # for eu-support itself would keep it allowed).
    grant = new_grant(privacy_officer, eu_events, places=[LONDON], mechanism="adequacy")
    signed_in(client, executive)
    url = reverse("governance:what-if")
    blank = client.get(url)
    assert blank.status_code == 200
    assert blank.context["result"] is None

    response = client.get(url, {"decided_by": "eu", "country": "GB"})

    assert response.status_code == 200
    result = response.context["result"]
    assert [row["dataset"] for row in result["datasets"]] == ["eu-support"]
    assert [r["id"] for r in result["training_runs"]] == [run.pk]
    assert [g["id"] for g in result["grants_relying_on_adequacy"]] == [grant.pk]
    page = text(response)
    assert "eu-support" in page and "london-support-model" in page
    assert reverse("catalog:dataset-detail", args=["eu-support"]) in response.content.decode()
    assert result["falls_on"] == timezone.now().date() + dt.timedelta(days=1)


@pytest.mark.parametrize(
    "params",
    [
        {"decided_by": "eu", "country": "ZZ"},
        {"decided_by": "atlantis", "country": "GB"},
        {"decided_by": "eu"},
        {"decided_by": "eu", "country": "GB", "falls_on": "someday"},
    ],
)
def test_bad_what_if_input_is_a_form_error(client, executive, params):
    response = signed_in(client, executive).get(reverse("governance:what-if"), params)
    assert response.status_code == 400
    assert response.context["form"].errors
    assert response.context["result"] is None


# --- query counts -----------------------------------------------------------------------------------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def _add_rows(officer, number: int) -> None:
    """`number` more of each listed thing: rules, grants, runs (with decisions) and decisions."""
    for _ in range(number):
        dataset = make_dataset(
            officer, allowed_processing_regions=[GERMANY], personal_data_categories=["contact"]
        )
        new_rule(
            officer,
            name=f"rule for {dataset.slug}",
            dataset=dataset,
            actions=["train"],
            category_id="contact",
            jurisdiction_id="eu",
            places=[VIRGINIA],
            nations=["CN"],
        )
        new_grant(officer, dataset, places=[VIRGINIA, LONDON])
        register_run(officer, dataset, GERMANY, IRELAND)
        check(officer, dataset, GERMANY)


@pytest.mark.parametrize(
    "url_name",
    [
        "governance:rule-list",
        "governance:grant-list",
        "governance:run-list",
        "governance:decision-list",
    ],
)
def test_list_pages_do_not_make_more_queries_for_more_rows(client, privacy_officer, url_name):
    url = reverse(url_name) + ("?status=all" if url_name == "governance:grant-list" else "")
    signed_in(client, privacy_officer)
    _add_rows(privacy_officer, 1)
    forget_index()
    client.get(url)  # warm the per-process caches (content types, the policy index)
    few = _count_queries(client, url)
    _add_rows(privacy_officer, 4)
    many = _count_queries(client, url)
    assert many == few
    assert len(client.get(url).context["page"].object_list) >= 5
