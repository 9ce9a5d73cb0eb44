"""The engine and consent: a dataset held on consent may be used only for the purposes its
consent notices cover; the refusal is the law's (GDPR Art. 6(1)(a)), with its verification,
apart from the house rules."""

# ruff: noqa: F811  (the fixtures imported from consent_setup are parameters of the tests)

from __future__ import annotations

import datetime as dt

import pytest

from catalog.models import Jurisdiction
from governance.consent.services import consent_notice_publish
from governance.models import LocalityDecision, Purpose
from governance.policy.engine import evaluate
from governance.policy.index import compile_index
from tests.consent_setup import (  # noqa: F401  (fixtures)
    app_usage,
    fresh_policy_cache,
    newsletter,
    notice,
)

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/locality/check"
IRELAND = "aws:eu-west-1"
NOTICES = "/api/v1/consents/notices/"


def ask(client, purpose, dataset="newsletter"):
    body = {"dataset": dataset, "region": IRELAND, "action": "train", "purpose": purpose}
    response = client.post(CHECK, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_purpose_the_consent_does_not_cover_is_refused_by_the_law(api_client, engineer, notice):
    answer = ask(api_client(engineer), "marketing")

    assert answer["outcome"] == "deny"
    assert answer["legal"]["outcome"] == "deny"
    assert answer["legal"]["rule"] == "law:eu:consent-purpose"
    assert answer["legal"]["citation"] == "GDPR Art. 6(1)(a)"
    assert answer["legal"]["verified"] is True
    assert "covers analytics, model-training, not marketing" in answer["legal"]["reason"]
    assert answer["house"]["outcome"] == "allow"  # the house rules would allow it
    record = LocalityDecision.objects.get(pk=answer["decision_id"])
    assert (record.legal_outcome, record.legal_citation) == ("deny", "GDPR Art. 6(1)(a)")


def test_a_covered_purpose_is_allowed_and_the_answer_names_the_basis(api_client, engineer, notice):
    answer = ask(api_client(engineer), "model-training")

    assert answer["outcome"] == "allow"
    assert answer["legal"]["outcome"] == "allow"
    assert answer["legal"]["basis"] == "consent (GDPR Art. 6(1)(a), notices: signup v3)"
    assert "lawful basis: consent" in answer["legal"]["reason"]


def test_a_new_notice_version_decides_and_the_engine_follows(
    api_client, engineer, privacy_officer, notice, newsletter
):
    client = api_client(engineer)
    assert ask(client, "marketing")["outcome"] == "deny"

    consent_notice_publish(
        actor=privacy_officer,
        code="signup",
        version="4",
        title="Sign-up consent",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        datasets=[newsletter],
        purposes=list(Purpose.objects.filter(code__in=["marketing"])),
        published_at=notice.published_at + dt.timedelta(days=1),
    )

    assert ask(client, "marketing")["outcome"] == "allow"
    assert ask(client, "model-training")["outcome"] == "deny"


def test_a_dataset_no_notice_names_is_not_judged_on_consent(api_client, engineer, newsletter):
    answer = ask(api_client(engineer), "marketing")

    assert answer["outcome"] == "allow" and answer["legal"]["basis"] == ""


def test_the_verdict_is_memoised_per_dataset_and_purpose(notice, newsletter):
    index = compile_index("test")
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)

    first = evaluate(index, "newsletter", "train", IRELAND, "marketing", at)
    second = evaluate(index, "newsletter", "train", IRELAND, "marketing", at)

    assert first.legal is second.legal
    assert index.datasets_by_slug["newsletter"].consent is not None


@pytest.mark.parametrize(
    "who, status", [("privacy_officer", 201), ("data_owner", 403), ("outsider", 403)]
)
def test_only_privacy_officers_publish_notices(who, status, api_client, request, newsletter):
    body = {
        "code": "newsletter",
        "version": "1",
        "title": "Newsletter",
        "jurisdiction": "eu",
        "datasets": ["newsletter"],
        "purposes": ["marketing"],
    }

    response = api_client(request.getfixturevalue(who)).post(NOTICES, body, format="json")

    assert response.status_code == status


def test_a_published_version_is_never_changed(api_client, privacy_officer, notice):
    body = {
        "code": "signup",
        "version": "3",
        "title": "Changed",
        "jurisdiction": "eu",
        "datasets": ["newsletter"],
        "purposes": ["marketing"],
    }

    response = api_client(privacy_officer).post(NOTICES, body, format="json")

    assert response.status_code == 409 and "already published" in response.json()["version"][0]


def test_the_legal_coverage_lists_consent_with_its_verification():
    from governance.policy.coverage import legal_coverage

    rows = {row.code: row for row in legal_coverage()}

    eu, uk = rows["eu"].fact("consent"), rows["uk"].fact("consent")
    assert eu is not None and (eu.citation, eu.verified) == ("GDPR Art. 6(1)(a)", True)
    assert uk is not None and "consent" in rows["uk"].unverified
    assert rows["us"].fact("consent") is None
