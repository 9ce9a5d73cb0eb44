"""Subject rights per regime: the requests offered, with the law's labels and articles, come
from the subject's jurisdiction; a type its law does not give is refused naming the field;
business days skip the jurisdiction's official holidays; extensions count from receipt.

Time is frozen (timezone.now patched), never slept on."""

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Jurisdiction
from requests.models import SubjectRequest
from requests.subjects import deadlines, officer_steps, rights
from requests.subjects.calendars import calendar_of, year_days
from tests.requests.subject_setup import SUBJECT, ask, eager, fresh_throttle  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1"
D = dt.date
UTC = dt.UTC


@pytest.fixture
def frozen(monkeypatch):
    """Set the clock: frozen(datetime) makes timezone.now() answer it."""

    def freeze(at: dt.datetime) -> dt.datetime:
        monkeypatch.setattr(timezone, "now", lambda: at)
        return at

    return freeze


# --- Business days: the jurisdiction's official holidays -------------------------------------


def test_ccpa_acknowledgement_skips_christmas_and_new_years_day(
    frozen, django_capture_on_commit_callbacks
):
    frozen(dt.datetime(2027, 1, 11, 9, tzinfo=UTC))
    request = ask(
        django_capture_on_commit_callbacks,
        jurisdiction="us-ca",
        received_at=dt.datetime(2026, 12, 22, 15, tzinfo=UTC),  # a Tuesday
    )
    # 10 business days after Tue 22 December 2026, by the calendar: Wed 23 (1), Thu 24 (2),
    # Fri 25 Christmas Day (a state holiday), Mon 28 (3), Tue 29 (4), Wed 30 (5), Thu 31 (6),
    # Fri 1 January New Year's Day (a state holiday), Mon 4 (7), Tue 5 (8), Wed 6 (9), Thu 7 (10).
    assert request.acknowledge_by == D(2027, 1, 7)
    assert request.deadline == D(2027, 2, 5)  # 45 calendar days: 9 days of December + 36
    assert "US-CA state holidays" in request.deadline_basis
    assert "Cal. Gov. Code §§6700(a), 6701" in request.deadline_basis


def test_ccpa_opt_out_of_sale_within_15_business_days(frozen, django_capture_on_commit_callbacks):
    frozen(dt.datetime(2027, 1, 20, 9, tzinfo=UTC))
    request = ask(
        django_capture_on_commit_callbacks,
        "opt_out_sale",
        jurisdiction="us-ca",
        received_at=dt.datetime(2027, 1, 4, 9, tzinfo=UTC),  # a Monday
    )
    # 5-8 January (1-4), 11-15 (5-9), Mon 18 Martin Luther King Jr. Day, 19-22 (10-13), 25 (14),
    # 26 (15).
    assert request.deadline == D(2027, 1, 26)
    assert "§7026" in request.deadline_basis


@pytest.mark.parametrize(
    ("day", "business", "why"),
    [
        # Holidays under Cal. Gov. Code §6700(a) that the holidays package leaves out.
        (D(2027, 2, 12), False, "Lincoln Day, a Friday"),
        (D(2026, 9, 9), False, "Admission Day, a Wednesday"),
        (D(2026, 9, 25), False, "Native American Day, the fourth Friday in September"),
        (D(2026, 10, 12), False, "Columbus Day, the second Monday in October"),
        (D(2026, 4, 24), False, "Genocide Remembrance Day"),
        (D(2026, 2, 17), False, "Lunar New Year"),
        (D(2028, 11, 10), False, "§6701: 11 November 2028 is a Saturday, the Friday before"),
        (D(2027, 7, 5), False, "§6701: 4 July 2027 is a Sunday, the Monday after"),
        # Days the package lists for US-CA that are not holidays in the state.
        (D(2028, 2, 15), True, "Susan B. Anthony Day, a Tuesday"),
        (D(2026, 11, 27), True, "the day after Thanksgiving (Gov. Code §19853, state staff)"),
        (D(2026, 7, 3), True, "a Friday for 4 July on a Saturday (no §6701 move)"),
        (D(2027, 12, 24), True, "a Friday for Christmas on a Saturday (no §6701 move)"),
        # And the days both agree on.
        (D(2026, 11, 26), False, "Thanksgiving Day"),
        (D(2026, 12, 25), False, "Christmas Day"),
        (D(2026, 12, 28), True, "an ordinary Monday"),
    ],
)
def test_california_business_days_follow_the_state_holiday_statute(day, business, why):
    california = calendar_of(Jurisdiction.objects.get(code="us-ca"))
    assert california.is_business_day(day) is business, why
    assert "Cal. Gov. Code §§6700(a), 6701" in california.description


def test_weekends_only_where_the_law_spans_countries_and_moved_working_days_count():
    eu, ru = Jurisdiction.objects.get(code="eu"), Jurisdiction.objects.get(code="ru")
    assert calendar_of(eu) is deadlines.WEEKDAYS  # no subject country recorded: weekends only
    assert calendar_of(eu, "DE").is_business_day(D(2026, 12, 25)) is False
    russia = calendar_of(ru)
    assert russia.is_business_day(D(2025, 11, 1))  # a Saturday made a working day
    assert not russia.is_business_day(D(2025, 11, 4))  # Unity Day
    year_days.cache_clear()
    russia.is_business_day(D(2025, 11, 5))
    russia.is_business_day(D(2025, 11, 6))
    assert year_days.cache_info().misses == 1  # one holiday set per (country, subdivision, year)


# --- Requests the law takes without proof of identity --------------------------------------------


@pytest.mark.parametrize(
    ("type_", "citation"), [("opt_out_sale", "11 CCR §7026(d)"), ("restriction", "11 CCR §7027(e)")]
)
def test_ccpa_opt_outs_and_limits_skip_identity_verification_and_say_why(
    frozen, django_capture_on_commit_callbacks, mailoutbox, type_, citation
):
    from governance.models import LedgerEntry
    from requests.models.subjects import SubjectRequestStatus, VerificationState

    frozen(dt.datetime(2027, 1, 4, 9, tzinfo=UTC))
    request = ask(django_capture_on_commit_callbacks, type_, jurisdiction="us-ca")
    request.refresh_from_db()
    assert request.status != SubjectRequestStatus.AWAITING_VERIFICATION
    assert request.verification == VerificationState.WAIVED  # nobody's identity was proven
    assert request.verified_at is None
    assert not request.challenges.exists()
    assert not [m for m in mailoutbox if "Please confirm your request" in m.subject]
    waived = request.events.get(action="verify")
    assert waived.comment.startswith("No identity verification: ") and citation in waived.comment
    assert waived.actor_name != "the subject"
    entry = LedgerEntry.objects.get(kind="subject_request.verify")
    data = json.loads(bytes(entry.payload))["data"]
    assert data["verification"] == "not_required" and data["basis"] == citation


@pytest.mark.parametrize(("type_", "code"), [("access", "us-ca"), ("objection", "eu")])
def test_other_requests_still_wait_for_the_code(
    frozen, django_capture_on_commit_callbacks, mailoutbox, type_, code
):
    from requests.models.subjects import SubjectRequestStatus

    frozen(dt.datetime(2027, 1, 4, 9, tzinfo=UTC))
    request = ask(django_capture_on_commit_callbacks, type_, jurisdiction=code)
    assert request.status == SubjectRequestStatus.AWAITING_VERIFICATION
    assert [m for m in mailoutbox if "Please confirm your request" in m.subject]
    assert rights.no_verification(code, type_) is None


def test_the_public_form_takes_an_opt_out_without_sending_to_the_code_page(
    client, django_capture_on_commit_callbacks
):
    form = {"type": "opt_out_sale", "jurisdiction": "us-ca", "email": SUBJECT}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("workflows:subject-intake"), form)
    assert response.status_code == 302
    assert "/verify/" not in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "does not let us ask you to prove who you are" in page


# --- Extensions from receipt -------------------------------------------------------------------


def test_uk_extension_runs_three_months_from_receipt(
    frozen, privacy_officer, django_capture_on_commit_callbacks
):
    frozen(dt.datetime(2027, 2, 10, 9, tzinfo=UTC))
    request = ask(
        django_capture_on_commit_callbacks,
        jurisdiction="uk",
        received_at=dt.datetime(2027, 1, 31, 12, tzinfo=UTC),
    )
    assert request.deadline == D(2027, 2, 28)  # one month: February has no 31st
    with django_capture_on_commit_callbacks(execute=True):
        request = officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="Many systems"
        )
    # Three months from 31 January, not two more from 28 February (28 April).
    assert request.extended_deadline == D(2027, 4, 30)


def test_an_extension_from_receipt_still_moves_on_by_the_days_paused(
    frozen, privacy_officer, django_capture_on_commit_callbacks
):
    now = frozen(dt.datetime(2027, 2, 1, 9, tzinfo=UTC))
    request = ask(
        django_capture_on_commit_callbacks,
        jurisdiction="eu",
        received_at=dt.datetime(2027, 1, 31, 12, tzinfo=UTC),
    )
    request = officer_steps.subject_request_pause(
        actor=privacy_officer, subject_request=request, reason="Waiting for ID"
    )
    frozen(now + dt.timedelta(days=3))
    request = officer_steps.subject_request_resume(actor=privacy_officer, subject_request=request)
    assert request.deadline == D(2027, 2, 28) + dt.timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        request = officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="Many systems"
        )
    assert request.extended_deadline == D(2027, 4, 30) + dt.timedelta(days=3)


# --- The rights each regime gives --------------------------------------------------------------


OFFERED = {
    "us-ca": {
        "access": "Cal. Civ. Code §§1798.100, 1798.110; Cal. Civ. Code §1798.115",
        "erasure": "Cal. Civ. Code §1798.105",
        "rectification": "Cal. Civ. Code §1798.106",
        "opt_out_sale": "Cal. Civ. Code §1798.120",
        "restriction": "Cal. Civ. Code §1798.121",
        "portability": "Cal. Civ. Code §1798.130(a)(3)(B)(iii)",
    },
    "br": {
        "access": "LGPD Art. 18(I)-(II); LGPD Art. 18(VII)",
        "rectification": "LGPD Art. 18(III)",
        "erasure": "LGPD Art. 18(IV); LGPD Art. 18(VI)",
        "restriction": "LGPD Art. 18(IV)",
        "portability": "LGPD Art. 18(V)",
        "withdraw_consent": "LGPD Art. 18(IX); Art. 8(5)",
        "objection": "LGPD Art. 18 §2",
    },
    "in": {
        "access": "DPDP Act 2023 s.11",
        "rectification": "DPDP Act 2023 s.12",
        "erasure": "DPDP Act 2023 s.12(3)",
        "withdraw_consent": "DPDP Act 2023 s.6(4)",
    },
    "cn": {
        "access": "PIPL Arts. 44-45",
        "objection": "PIPL Art. 44",
        "portability": "PIPL Art. 45(3)",
        "rectification": "PIPL Art. 46",
        "erasure": "PIPL Art. 47",
        "withdraw_consent": "PIPL Art. 15",
    },
}
NOT_HANDLED = {
    "us-ca": {"grievance": "Cal. Civ. Code §1798.125", "opt_out_profiling": "11 CCR §7221"},
    "br": {"explanation": "LGPD Art. 20", "grievance": "LGPD Art. 18 §1"},
    "in": {"grievance": "DPDP Act 2023 s.13", "nomination": "DPDP Act 2023 s.14"},
    "cn": {
        "explanation": "PIPL Art. 48",
        "opt_out_profiling": "PIPL Art. 24",
        "nomination": "PIPL Art. 49",
        "grievance": "PIPL Art. 50",
    },
}


@pytest.mark.parametrize("code", ["us-ca", "br", "in", "cn"])
def test_the_types_and_citations_offered(api_client, code):
    response = api_client().get(f"{API}/subject-intake/rights", {"jurisdiction": code})
    assert response.status_code == 200, response.content
    body = response.json()
    offered = {o["type"]: o["citation"] for o in body["offered"]}
    assert offered == OFFERED[code]
    not_handled = {r["code"]: r["citation"] for r in body["not_handled"]}
    for right, citation in NOT_HANDLED[code].items():
        assert citation in not_handled[right]
    assert not set(not_handled) & set(rights.HANDLED)


@pytest.mark.parametrize("query", [{}, {"jurisdiction": ""}, {"jurisdiction": "xx"}])
def test_the_rights_endpoint_without_a_known_jurisdiction_is_a_400_naming_it(api_client, query):
    response = api_client().get(f"{API}/subject-intake/rights", query)
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["jurisdiction"])
    assert "one of " in message
    for code in ("eu", "uk", "us-ca", "br"):  # the valid codes are listed
        assert code in message.split("one of ", 1)[1].split(", ")


def test_ccpa_labels_are_the_laws_own(api_client):
    body = api_client().get(f"{API}/subject-intake/rights", {"jurisdiction": "us-ca"}).json()
    labels = {o["type"]: o["label"] for o in body["offered"]}
    assert labels["erasure"] == "Right to delete"
    assert labels["rectification"] == "Right to correct"
    assert labels["opt_out_sale"] == "Right to opt out of sale or sharing"
    assert "Right to know" in labels["access"]


def test_a_law_with_no_rights_encoded_is_answered_as_house_policy():
    regime = rights.rights_of(Jurisdiction.objects.get(code="us"))
    assert not regime.encoded
    assert "access" in regime.types
    assert all("house policy" in o.citation for o in regime.offered)


@pytest.mark.parametrize(
    ("type_", "code", "says"),
    [
        ("portability", "in", "India"),
        ("opt_out_sale", "eu", "opt-out of sale"),
        ("restriction", "cn", "restriction"),
    ],
)
def test_a_type_the_regime_does_not_give_is_a_400_naming_the_field(api_client, type_, code, says):
    response = api_client().post(
        f"{API}/subject-intake/",
        {"type": type_, "jurisdiction": code, "identifiers": {"email": SUBJECT}},
        format="json",
    )
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["type"])
    assert says.lower() in message.lower() and "gives" in message
    assert not SubjectRequest.objects.exists()


def test_the_intake_page_shows_the_regimes_rights_and_refuses_others(client):
    page = client.get(reverse("workflows:subject-intake"), {"jurisdiction": "us-ca"})
    html = page.content.decode()
    assert page.status_code == 200
    assert "Right to delete (Cal. Civ. Code §1798.105)" in html  # the type's option
    assert "Not handled by Locus" in html and "11 CCR §7221" in html
    form = {"type": "restriction", "jurisdiction": "cn", "email": SUBJECT}
    refused = client.post(reverse("workflows:subject-intake"), form)
    assert refused.status_code == 400
    assert "gives no restriction right" in refused.content.decode()
    assert refused.context["form"].errors["type"]
    assert not SubjectRequest.objects.exists()


def test_the_request_records_the_right_as_its_law_names_it(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client().post(
            f"{API}/subject-intake/",
            {"type": "erasure", "jurisdiction": "in", "identifiers": {"email": SUBJECT}},
            format="json",
        )
    assert response.status_code == 201, response.content
    assert response.json()["right"] == "Erasure (DPDP Act 2023 s.12(3))"
    assert SubjectRequest.objects.get().right_shown == "Erasure (DPDP Act 2023 s.12(3))"


def test_every_jurisdiction_offers_requests_and_names_their_articles(api_client, client):
    for jurisdiction in Jurisdiction.objects.all():
        body = (
            api_client()
            .get(f"{API}/subject-intake/rights", {"jurisdiction": jurisdiction.code})
            .json()
        )
        assert body["offered"], jurisdiction.code
        assert all(o["type"] in rights.HANDLED.values() for o in body["offered"])
        assert all(o["citation"] for o in body["offered"]), jurisdiction.code
        page = client.get(reverse("workflows:subject-intake"), {"jurisdiction": jurisdiction.code})
        assert page.status_code == 200
    unknown = api_client().get(f"{API}/subject-intake/rights", {"jurisdiction": "atlantis"})
    assert unknown.status_code == 400 and "jurisdiction" in unknown.json()
