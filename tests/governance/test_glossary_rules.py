"""Glossary terms in locality rules: a rule names an approved term and matches by its
definition (personal-data categories); a change of the definition is reviewed with the replay of
what it would flip, and takes effect when approved; a term that rules use is not deprecated."""

import json
import re
import threading
from html import unescape

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.urls import reverse

from catalog.errors import StateConflict
from catalog.models import Country, LawfulBasis
from governance.glossary import services
from governance.models import LedgerEntry, LocalityDecision, LocalityRule, Term, TermStatus
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from governance.policy.rules import rule_create, rule_update
from governance.roles import Role
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
RULES = "/api/v1/locality-rules/"
TERMS = "/api/v1/glossary/terms/"
IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"


@pytest.fixture
def second_officer(db):
    return UserFactory(username="pia-privacy", roles=[Role.PRIVACY_OFFICER])


def health_data(proposer, approver, categories=("health",)) -> Term:
    """The approved term "Health data", defined (for now) as the given categories."""
    term = services.term_create(
        actor=proposer,
        name="Health data",
        definition="Data about a person's physical or mental health, and their genome.",
        categories=list(categories),
    )
    services.term_submit(actor=proposer, term=term)
    return services.term_approve(actor=approver, term=term)


def eu_dataset(slug: str, category: str):
    """Stored in Ireland, processable in Germany too: only an officer's rule keeps it home."""
    return make_dataset(
        slug=slug,
        storage_region=IRELAND,
        lawful_basis=LawfulBasis.CONSENT,
        personal_data_categories=[category],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY],
    )


def stays_in_ireland(officer, term: Term, **fields) -> LocalityRule:
    return rule_create(
        actor=officer,
        name="Health data stays in Ireland",
        effect=LocalityRule.Effect.ALLOW_ONLY,
        term=term,
        regions=[],
        countries=[Country.objects.get(code="IE")],
        **fields,
    )


@pytest.fixture
def world(data_owner, privacy_officer):
    """Claims (health), genomes (genetic) and contacts; a rule by term keeps health data home."""
    term = health_data(data_owner, privacy_officer)
    for slug, category in (("claims", "health"), ("genomes", "genetic"), ("contacts", "contact")):
        eu_dataset(slug, category)
    rule = stays_in_ireland(privacy_officer, term)
    return term, rule


PAIRS = [("claims", GERMANY), ("genomes", GERMANY), ("contacts", GERMANY), ("genomes", IRELAND)]


def check(client, *pairs) -> dict[tuple[str, str], dict]:
    """Ask the check API (which records each answer); the answers by (dataset, region)."""
    checks = [
        {"dataset": ds, "region": where, "action": "train", "purpose": "model-training"}
        for ds, where in pairs
    ]
    response = client.post(CHECK, {"checks": checks}, format="json")
    assert response.status_code == 200, response.content
    return {(r["dataset"], r["region"]): r for r in response.json()["results"]}


def propose(client, term: Term, categories: list[str]):
    return client.patch(
        term_url(term), {"categories": categories, "note": "Genomes too"}, format="json"
    )


def term_url(term: Term, action: str | None = None) -> str:
    if action is None:
        return reverse("v1:glossary-term-detail", kwargs={"slug": term.slug})
    return reverse(f"v1:glossary-term-{action}", kwargs={"slug": term.slug})


def page_text(response) -> str:
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(text))


# --- A rule by term, and a change of the term's definition --------------------------------------


def test_a_rule_by_term_matches_the_terms_categories_and_its_answer_names_the_term(
    api_client, engineer, world
):
    _, rule = world
    answers = check(api_client(engineer), *PAIRS)

    assert answers["claims", GERMANY]["outcome"] == "deny"
    assert answers["claims", GERMANY]["rule"] == f"rule:{rule.pk}"
    assert "glossary term 'Health data' v1" in answers["claims", GERMANY]["reason"]
    assert answers["genomes", GERMANY]["outcome"] == "allow"  # genetic is not (yet) health data
    assert answers["contacts", GERMANY]["outcome"] == "allow"


def test_the_replay_before_approval_is_what_flips_after_it(
    api_client, engineer, data_owner, privacy_officer, world
):
    term, rule = world
    before = check(api_client(engineer), *PAIRS)
    recorded = {d.pk: d.outcome for d in LocalityDecision.objects.all()}

    proposed = propose(api_client(data_owner), term, ["health", "genetic"])
    assert proposed.status_code == 202, proposed.content
    replay = api_client(privacy_officer).get(term_url(term, "replay"))

    assert replay.status_code == 200, replay.content
    body = replay.json()
    assert body["rules"] == [{"id": rule.pk, "name": rule.name}]
    assert body["definition"] == {"now": ["health"], "proposed": ["genetic", "health"]}
    assert (body["replayed"], body["flipped"]) == (len(PAIRS), 1)
    genomes_abroad = before["genomes", GERMANY]["decision_id"]
    assert [(f["decision_id"], f["kind"]) for f in body["flips"]] == [
        (genomes_abroad, "allow_to_deny")
    ]
    assert "glossary term 'Health data' v2" in body["flips"][0]["after"]["reason"]
    # Until it is approved, the rule keeps the published definition.
    assert check(api_client(engineer), ("genomes", GERMANY))["genomes", GERMANY]["outcome"] == (
        "allow"
    )

    approved = api_client(privacy_officer).post(
        term_url(term, "approve"), {"proposal": body["proposal"]}, format="json"
    )

    assert approved.status_code == 200, approved.content
    assert approved.json()["categories"] == ["genetic", "health"]
    entry = LedgerEntry.objects.filter(kind="glossary.approved").latest("sequence")
    data = json.loads(bytes(entry.payload))["data"]
    assert (data["version"], data["rules_by_term"]) == (2, [rule.pk])
    assert data["snapshot"]["categories"] == ["genetic", "health"]
    after = check(api_client(engineer), ("genomes", GERMANY))["genomes", GERMANY]
    assert (after["outcome"], after["rule"]) == ("deny", f"rule:{rule.pk}")
    assert "glossary term 'Health data' v2" in after["reason"]
    # Every decision recorded before the change, judged again now: exactly the replayed flip.
    index = current_index()
    flipped = {
        d.pk
        for d in LocalityDecision.objects.filter(pk__in=recorded)
        if evaluate(index, d.dataset_id, d.action, d.region_code, d.purpose, d.at).outcome
        != recorded[d.pk]
    }
    assert flipped == {genomes_abroad}


def test_the_review_page_shows_the_replay_before_approval(
    client, api_client, engineer, data_owner, privacy_officer, world
):
    term, rule = world
    answers = check(api_client(engineer), *PAIRS)
    propose(api_client(data_owner), term, ["health", "genetic"])
    client.force_login(privacy_officer)

    page = client.get(reverse("governance:glossary-term", args=[term.slug]))

    assert page.status_code == 200
    text = page_text(page)
    assert "What approving it would change" in text
    assert "1 of 4 decisions recorded in the last 30 days would change" in text
    assert f"#{answers['genomes', GERMANY]['decision_id']}" in text
    assert f"#{rule.pk} {rule.name}" in text
    assert "Approve and publish" in text


def test_a_change_that_keeps_the_categories_flips_nothing(
    api_client, engineer, data_owner, privacy_officer, world
):
    term, _ = world
    check(api_client(engineer), *PAIRS)
    api_client(data_owner).patch(
        term_url(term), {"definition": "Health data, said better."}, format="json"
    )

    body = api_client(privacy_officer).get(term_url(term, "replay")).json()

    assert (body["replayed"], body["flipped"]) == (len(PAIRS), 0)


def test_no_replay_without_an_open_change(api_client, privacy_officer, world):
    term, _ = world
    response = api_client(privacy_officer).get(term_url(term, "replay"))
    assert response.status_code == 409
    assert "No change" in response.json()["status"][0]


def test_a_rejected_change_leaves_the_rule_as_it_was(
    api_client, engineer, data_owner, privacy_officer, world
):
    term, _ = world
    propose(api_client(data_owner), term, ["health", "genetic"])
    services.term_reject(actor=privacy_officer, term=term, comment="Genomes have their own rule")

    answer = check(api_client(engineer), ("genomes", GERMANY))["genomes", GERMANY]
    assert answer["outcome"] == "allow"


# --- Deprecation ---------------------------------------------------------------------------------


def test_deprecating_a_term_a_rule_uses_is_refused_naming_the_rule(privacy_officer, world):
    term, rule = world
    with pytest.raises(StateConflict, match="Health data stays in Ireland") as refused:
        services.term_deprecate(actor=privacy_officer, term=term, reason="Use special-category")
    assert f"#{rule.pk}" in str(refused.value)
    assert Term.objects.get(pk=term.pk).status == TermStatus.APPROVED

    rule_update(actor=privacy_officer, rule=rule, term=None, category_id="health")
    retired = services.term_deprecate(actor=privacy_officer, term=term, reason="Use the category")
    assert retired.status == TermStatus.DEPRECATED


def test_the_api_refuses_deprecation_with_409_naming_the_rules(api_client, privacy_officer, world):
    term, rule = world
    response = api_client(privacy_officer).post(
        term_url(term, "deprecate"), {"reason": "Replaced"}, format="json"
    )
    assert response.status_code == 409
    assert f"#{rule.pk} 'Health data stays in Ireland'" in response.json()["rules"][0]


def test_the_page_refuses_deprecation_naming_the_rules(client, privacy_officer, world):
    term, _ = world
    client.force_login(privacy_officer)
    url = reverse("governance:glossary-deprecate", args=[term.slug])

    response = client.post(url, {"reason": "Replaced"})

    assert response.status_code == 409
    assert "Health data stays in Ireland" in page_text(response)
    assert Term.objects.get(pk=term.pk).status == TermStatus.APPROVED


# --- Bad definitions and bad references ----------------------------------------------------------


def test_an_unknown_category_is_a_400_naming_the_field(api_client, data_owner):
    response = api_client(data_owner).post(
        TERMS,
        {"name": "Horoscopes", "definition": "Star signs.", "categories": ["health", "astrology"]},
        format="json",
    )
    assert response.status_code == 400
    assert "astrology" in response.json()["categories"][0]


def test_the_services_refuse_an_unknown_category_too(data_owner):
    with pytest.raises(ValidationError) as refused:
        services.term_create(
            actor=data_owner, name="Horoscopes", definition="Star signs.", categories=["astrology"]
        )
    assert "astrology" in refused.value.message_dict["categories"][0]


def test_a_term_rules_use_keeps_at_least_one_category(api_client, data_owner, world):
    term, rule = world
    response = propose(api_client(data_owner), term, [])
    assert response.status_code == 409  # the rules' state, as deprecating such a term is
    assert f"#{rule.pk}" in response.json()["categories"][0]


def test_a_rule_names_approved_terms_with_categories_only(api_client, data_owner, privacy_officer):
    draft = services.term_create(
        actor=data_owner, name="Biometrics", definition="Faces.", categories=["biometric"]
    )
    wordy = health_data(data_owner, privacy_officer, categories=())
    client = api_client(privacy_officer)

    for slug, reason in ((draft.slug, "draft"), (wordy.slug, "no personal-data category")):
        response = client.post(
            RULES,
            {"name": "By term", "effect": "deny", "term": slug, "countries": ["US"]},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert reason in response.json()["term"][0]
    unknown = client.post(
        RULES, {"name": "x", "effect": "deny", "term": "nope", "countries": ["US"]}, format="json"
    )
    assert unknown.status_code == 400 and "term" in unknown.json()


def test_the_rule_api_takes_and_shows_the_term(api_client, data_owner, privacy_officer):
    term = health_data(data_owner, privacy_officer)
    response = api_client(privacy_officer).post(
        RULES,
        {
            "name": "No health data in the US",
            "effect": "deny",
            "term": term.slug,
            "countries": ["US"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["term"] == term.slug
    rule = LocalityRule.objects.get(pk=response.json()["id"])
    assert rule.versions.get().snapshot["term"] == term.slug
    shown = api_client(privacy_officer).get(term_url(term)).json()
    assert shown["rules_using"] == [rule.pk]


# --- Who may propose, approve and read the replay ----------------------------------------------


def test_who_may_propose_and_approve_a_definition(
    api_client, engineer, data_owner, privacy_officer, second_officer, world
):
    term, _ = world
    assert propose(api_client(engineer), term, ["genetic"]).status_code == 403
    assert propose(api_client(privacy_officer), term, ["health", "genetic"]).status_code == 202

    own = api_client(privacy_officer).post(term_url(term, "approve"), {}, format="json")
    by_owner = api_client(data_owner).post(term_url(term, "approve"), {}, format="json")
    assert (own.status_code, by_owner.status_code) == (403, 403)
    assert Term.objects.get(pk=term.pk).version == 1

    other = api_client(second_officer).post(term_url(term, "approve"), {}, format="json")
    assert other.status_code == 200
    assert other.json()["version"] == 2


def test_the_service_refuses_a_self_approved_definition(privacy_officer, world):
    term, _ = world
    services.term_propose(actor=privacy_officer, term=term, categories=["health", "genetic"])
    with pytest.raises(PermissionDenied):
        services.term_approve(actor=privacy_officer, term=term)


def test_outsiders_do_not_read_the_replay(api_client, data_owner, outsider, world):
    term, _ = world
    propose(api_client(data_owner), term, ["health", "genetic"])
    assert api_client(outsider).get(term_url(term, "replay")).status_code == 403
    assert api_client(data_owner).get(term_url(term, "replay")).status_code == 200


# --- Pages -------------------------------------------------------------------------------------


def test_an_officer_writes_a_rule_by_term_on_the_rule_form(
    client, data_owner, privacy_officer, second_officer
):
    term = health_data(data_owner, privacy_officer)
    services.term_propose(actor=data_owner, term=term, categories=["genetic", "health"])
    client.force_login(second_officer)
    form = {"name": "No health data in the US", "effect": "deny", "countries": ["US"]}

    response = client.post(
        reverse("governance:rule-create"),
        {**form, "term": term.slug, "priority": "100", "enabled": "on", "intent": "save"},
    )

    assert response.status_code == 302, page_text(response)
    rule = LocalityRule.objects.get()
    assert rule.term == term
    detail = page_text(client.get(response.url))
    assert "Term Health data (health)" in detail  # the published definition, not the proposal
    assert "Glossary term health-data" in detail  # the first version's fields
    term_page = page_text(client.get(reverse("governance:glossary-term", args=[term.slug])))
    assert f"Rules matching by it #{rule.pk} No health data in the US" in term_page


def test_the_rule_form_offers_approved_terms_with_categories_only(
    client, data_owner, privacy_officer
):
    health_data(data_owner, privacy_officer)
    services.term_create(
        actor=data_owner, name="Biometrics", definition="Faces.", categories=["biometric"]
    )
    client.force_login(privacy_officer)

    page = client.get(reverse("governance:rule-create")).content.decode()

    assert 'value="health-data"' in page
    assert 'value="biometrics"' not in page


# --- A rule naming a term and the term's deprecation, at once (PostgreSQL) ----------------------


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="SQLite serialises writers; the row lock is PostgreSQL's",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_rule_naming_a_term_and_its_deprecation_never_both_succeed(
    data_owner, privacy_officer, second_officer
):
    term = health_data(data_owner, privacy_officer)
    named, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def name_the_term() -> None:
        try:
            with transaction.atomic():
                stays_in_ireland(privacy_officer, term)
                named.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    def deprecate_it() -> None:
        try:
            services.term_deprecate(actor=second_officer, term=term, reason="Replaced")
            outcome["deprecation"] = "done"
        except StateConflict as refused:
            outcome["deprecation"] = str(refused)
        finally:
            connection.close()

    writer = threading.Thread(target=name_the_term)
    writer.start()
    assert named.wait(timeout=60)
    deprecator = threading.Thread(target=deprecate_it)
    deprecator.start()
    deprecator.join(timeout=2)  # time enough to finish, were the term not locked by the rule
    release.set()
    writer.join(timeout=60)
    deprecator.join(timeout=60)

    assert "Health data stays in Ireland" in str(outcome["deprecation"])
    assert Term.objects.get(pk=term.pk).status == TermStatus.APPROVED
    assert LocalityRule.objects.filter(term=term).exists()
