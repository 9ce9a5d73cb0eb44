"""The second factor asked again: approving, rejecting or revoking a transfer exception,
revoking a grant, and answering a subject request (closing it or refusing it) are stopped when
the officer's last check is older than SECOND_FACTOR_MAX_AGE_SECONDS, on the pages (sent to
confirm, then back to the form; nothing is replayed) and in the API (403
`second_factor_required`), and go through when it is fresh. The session's check time is set
by the test (injected), never waited for."""

# ruff: noqa: F811  (the fixtures imported from the setup modules are parameters of the tests)

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Region
from governance.grants.services import grant_create
from governance.identity.second_factor import confirm_url
from governance.models import TransferGrant
from requests.models import TransferException
from requests.models.subjects import SubjectRequest
from requests.models.subjects import SubjectRequestStatus as S
from requests.transfers import services
from tests.governance.second_factor_setup import sign_in
from tests.requests import subject_setup
from tests.requests.subject_setup import billing, crm, eager, fresh_throttle  # noqa: F401
from tests.requests.transfer_setup import VIRGINIA, ask, eu_customers, eu_officer  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
STALE, FRESH = 10_000, 0  # seconds since the last check; the maximum age is 900


@pytest.fixture(autouse=True)
def required(settings):
    settings.SECOND_FACTOR_REQUIRED_ROLES = ["privacy_officer", "superuser"]
    settings.SECOND_FACTOR_MAX_AGE_SECONDS = 900


@dataclass
class Step:
    """One guarded step on one object: its page and API addresses, bodies and outcome."""

    page: str
    back: str
    api: str
    body: dict[str, Any]
    taken: Any  # () -> bool: the step changed the object


def _exception(data_owner, dataset, officer, *, approved=False) -> TransferException:
    exception = ask(data_owner, [dataset], submit=True)
    if approved:
        services.exception_transition(actor=officer, exception=exception, action="approve")
    return exception


def exception_step(action: str, exception: TransferException, done_status: str) -> Step:
    def taken() -> bool:
        return TransferException.objects.get(pk=exception.pk).status == done_status

    return Step(
        page=reverse("workflows:exception-step", args=[exception.pk, action]),
        back=reverse("workflows:exception-detail", args=[exception.pk]),
        api=f"/api/v1/transfer-exceptions/{exception.pk}/{action}/",
        body={"comment": "Checked against the TIA"},
        taken=taken,
    )


def grant_revoke_step(grant: TransferGrant) -> Step:
    revoke = reverse("governance:grant-revoke", args=[grant.pk])
    return Step(
        page=revoke,
        back=revoke,
        api=f"/api/v1/transfer-grants/{grant.pk}/revoke/",
        body={"reason": "The TIA expired"},
        taken=lambda: TransferGrant.objects.get(pk=grant.pk).revoked_at is not None,
    )


def subject_reject_step(subject_request: SubjectRequest) -> Step:
    return Step(
        page=reverse("workflows:subject-step", args=[subject_request.pk, "reject"]),
        back=reverse("workflows:subject-detail", args=[subject_request.pk]),
        api=f"/api/v1/subject-requests/{subject_request.pk}/reject/",
        body={"reason": "Manifestly unfounded"},
        taken=lambda: SubjectRequest.objects.get(pk=subject_request.pk).status == S.REJECTED,
    )


@pytest.fixture
def steps(data_owner, eu_customers, eu_officer, crm, billing, django_capture_on_commit_callbacks):
    """name -> a function making that step on a new object."""
    capture = django_capture_on_commit_callbacks

    def subject_request() -> SubjectRequest:
        return subject_setup.verify(capture, subject_setup.ask(capture))

    def grant() -> TransferGrant:
        now = timezone.now()
        return grant_create(
            actor=eu_officer,
            datasets=[eu_customers],
            destination_regions=[Region.objects.get(code=VIRGINIA)],
            mechanism="scc",
            valid_from=now - dt.timedelta(days=1),
            valid_until=now + dt.timedelta(days=30),
        )

    def exception(**kwargs) -> TransferException:
        return _exception(data_owner, eu_customers, eu_officer, **kwargs)

    return {
        "approve": lambda: exception_step("approve", exception(), "active"),
        "reject": lambda: exception_step("reject", exception(), "rejected"),
        "revoke": lambda: exception_step("revoke", exception(approved=True), "revoked"),
        "grant-revoke": lambda: grant_revoke_step(grant()),
        "subject-reject": lambda: subject_reject_step(subject_request()),
    }


STEP_NAMES = ["approve", "reject", "revoke", "grant-revoke", "subject-reject"]


@pytest.mark.parametrize("name", STEP_NAMES)
def test_a_stale_factor_sends_the_officer_to_confirm_and_back_to_the_form(
    client, steps, eu_officer, name
):
    step = steps[name]()
    sign_in(client, eu_officer, checked_ago=STALE)

    answer = client.post(step.page, step.body)

    assert answer.status_code == 302 and answer["Location"] == confirm_url(step.back)
    assert not step.taken()


@pytest.mark.parametrize("name", STEP_NAMES)
def test_a_fresh_factor_lets_the_page_step_through(client, steps, eu_officer, name):
    step = steps[name]()
    sign_in(client, eu_officer, checked_ago=FRESH)

    answer = client.post(step.page, step.body)

    assert answer.status_code == 302 and not answer["Location"].startswith(confirm_url())
    assert step.taken()


@pytest.mark.parametrize("name", STEP_NAMES)
def test_a_stale_factor_is_a_403_naming_where_to_confirm_in_the_api(steps, eu_officer, name):
    step = steps[name]()
    client = APIClient()
    sign_in(client, eu_officer, checked_ago=STALE)

    refused = client.post(step.api, step.body, format="json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "second_factor_required"
    assert refused.json()["confirm_url"] == confirm_url()
    assert not step.taken()
    sign_in(client, eu_officer, checked_ago=FRESH)
    assert client.post(step.api, step.body, format="json").status_code == 200
    assert step.taken()


def test_an_api_token_cannot_take_a_guarded_step(steps, eu_officer, token_client):
    step = steps["approve"]()
    refused = token_client(eu_officer).post(step.api, step.body, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "second_factor_required"
    assert "API token" in refused.json()["detail"]
    assert not step.taken()


def test_steps_that_are_not_decisions_need_no_fresh_factor(
    client, steps, eu_officer, data_owner, eu_customers
):
    exception = _exception(data_owner, eu_customers, eu_officer)
    sign_in(client, eu_officer, checked_ago=STALE)
    start = reverse("workflows:exception-step", args=[exception.pk, "start-review"])
    assert client.post(start, {"comment": ""})["Location"] == reverse(
        "workflows:exception-detail", args=[exception.pk]
    )
    # The revoke page itself asks first, so the reason is typed after confirming.
    grant_step = steps["grant-revoke"]()
    assert client.get(grant_step.page)["Location"] == confirm_url(grant_step.back)


def test_closing_a_subject_request_is_guarded_in_the_page_and_the_api(
    client, eu_officer, crm, billing, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subject_request = subject_setup.verify(capture, subject_setup.ask(capture))
    page = reverse("workflows:subject-step", args=[subject_request.pk, "close"])
    back = reverse("workflows:subject-detail", args=[subject_request.pk])
    api = f"/api/v1/subject-requests/{subject_request.pk}/close/"

    sign_in(client, eu_officer, checked_ago=STALE)
    assert client.post(page)["Location"] == confirm_url(back)
    api_client = APIClient()
    sign_in(api_client, eu_officer, checked_ago=STALE)
    assert api_client.post(api, {}, format="json").json()["code"] == "second_factor_required"

    # Fresh: the step reaches the service, which refuses it while the tasks are open.
    sign_in(api_client, eu_officer, checked_ago=FRESH)
    reached = api_client.post(api, {}, format="json")
    assert reached.status_code == 409 and "tasks" in reached.json()
