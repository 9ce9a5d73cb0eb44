"""A journey in a real browser: a privacy officer reviews a change of a glossary term's
definition, sees which recorded decisions it would flip, approves it, and the rule that matches
by the term answers with the new definition."""

import pytest

from catalog.models import Country, LawfulBasis
from governance.checks.services import Check, locality_check
from governance.glossary import services
from governance.models import LocalityRule
from governance.policy.rules import rule_create
from governance.roles import Role
from tests.browser import browser_user
from tests.factories import UserFactory, make_dataset

pytestmark = pytest.mark.live

IRELAND = "aws:eu-west-1"
GERMANY = "aws:eu-central-1"


def genomes_in_germany(engineer):
    (result,) = locality_check(
        actor=engineer, checks=[Check("genomes", "train", GERMANY, "model-training")]
    )
    return result


def test_an_officer_reviews_a_definition_change_with_its_replay_and_the_rule_follows(
    shared_browser,
):
    owner = UserFactory(username="olga-owner", roles=[Role.DATA_OWNER])
    engineer = UserFactory(username="eli-engineer", roles=[Role.ENGINEER])
    drafter = browser_user("pat-privacy", [Role.PRIVACY_OFFICER])
    reviewer = browser_user("pia-privacy", [Role.PRIVACY_OFFICER])
    term = services.term_create(
        actor=owner, name="Health data", definition="Health and genome data.", categories=["health"]
    )
    services.term_submit(actor=owner, term=term)
    services.term_approve(actor=drafter, term=term)
    make_dataset(
        slug="genomes",
        storage_region=IRELAND,
        lawful_basis=LawfulBasis.CONSENT,
        personal_data_categories=["genetic"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY],
    )
    rule = rule_create(
        actor=drafter,
        name="Health data stays in Ireland",
        effect=LocalityRule.Effect.ALLOW_ONLY,
        term=term,
        regions=[],
        countries=[Country.objects.get(code="IE")],
    )
    before = genomes_in_germany(engineer)
    assert before.decision.outcome == "allow"
    services.term_propose(actor=owner, term=term, categories=["genetic", "health"])

    page = shared_browser.page_as(reviewer)
    page.goto(f"/governance/glossary/{term.slug}/")
    impact = page.locator("#impact")
    assert "1 of 1 decision recorded in the last 30 days would change" in impact.inner_text()
    assert f"#{before.record.pk}" in impact.inner_text()
    assert "Health data stays in Ireland" in page.locator("main").inner_text()
    shared_browser.shot(page, "glossary-definition-replay")
    page.get_by_role("button", name="Approve and publish").click()
    page.get_by_text("Approved and published.").wait_for()

    after = genomes_in_germany(engineer)
    assert (after.decision.outcome, after.decision.rule) == ("deny", f"rule:{rule.pk}")
    assert "glossary term 'Health data' v2" in after.decision.reason
