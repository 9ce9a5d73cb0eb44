"""The transfer-exception pages: the requester's list and form, an exception's page with its
steps, the review queue, the active grants, the register and its CSV, per role."""

import csv
import datetime as dt
import io

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.models import TransferGrant
from requests.models import ExceptionStatus as S
from requests.models import TransferException
from requests.transfers import services
from tests.requests.transfer_setup import *  # noqa: F403 (fixtures)
from tests.requests.transfer_setup import GERMANY, VIRGINIA, ask

pytestmark = pytest.mark.django_db

DATETIME = "%Y-%m-%dT%H:%M"


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(exception, name="exception-detail") -> str:
    return reverse(f"workflows:{name}", args=[exception.pk])


def step_url(exception, step: str) -> str:
    return reverse("workflows:exception-step", args=[exception.pk, step])


def status_of(exception) -> str:
    return TransferException.objects.get(pk=exception.pk).status


def form_data(**overrides) -> dict:
    start = timezone.now() + dt.timedelta(minutes=5)
    data = {
        "title": "",
        "datasets": "eu-customers",
        "destination_regions": [VIRGINIA],
        "purpose": "model-training",
        "training_runs": "",
        "mechanism": "scc",
        "scc_module": "c2p",
        "derogation": "",
        "mechanism_detail": "",
        "tia_destination_laws": "FISA 702",
        "tia_risks": "Access by US authorities\nOnward transfer",
        "tia_risk_level": "medium",
        "tia_measures": ["encryption_in_transit"],
        "starts_at": start.strftime(DATETIME),
        "ends_at": (start + dt.timedelta(days=14)).strftime(DATETIME),
        "justification": "Train on US GPUs",
    }
    data.update(overrides)
    return data


@pytest.fixture
def submitted(data_owner, eu_customers):
    return ask(data_owner, [eu_customers], submit=True)


# --- The requester's form and list -----------------------------------------------------------


def test_new_exception_form_has_csrf(data_owner, eu_customers):
    response = as_user(data_owner).get(reverse("workflows:exception-create"))

    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content


def test_requester_files_and_submits(data_owner, eu_customers, eu_officer):
    response = as_user(data_owner).post(
        reverse("workflows:exception-create"), form_data(intent="submit")
    )

    exception = TransferException.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(exception)
    assert exception.status == S.SUBMITTED
    assert exception.tia_risks == ["Access by US authorities", "Onward transfer"]
    assert list(exception.source_regions.values_list("code", flat=True)) == ["aws:eu-west-1"]


def test_save_as_draft(data_owner, eu_customers):
    as_user(data_owner).post(reverse("workflows:exception-create"), form_data(intent="save"))

    assert TransferException.objects.get().status == S.DRAFT


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param({"datasets": "no-such-data"}, "datasets", "No dataset", id="unknown-dataset"),
        pytest.param(
            {"destination_regions": ["mars:1"]}, "destination_regions", "", id="unknown-region"
        ),
        pytest.param(
            {"destination_regions": [GERMANY]},
            "destination_regions",
            "already allow",
            id="already-allowed",
        ),
        pytest.param({"ends_at": "2001-01-01T00:00"}, "ends_at", "after the start", id="end-first"),
        pytest.param(
            {"mechanism": "art49", "scc_module": "", "derogation": "49_1_a"},
            "ends_at",
            "at most",
            id="art49-over-cap",
        ),
        pytest.param({"scc_module": ""}, "scc_module", "SCC module", id="scc-without-module"),
        pytest.param({"training_runs": "12, x"}, "training_runs", "ids", id="bad-run-ids"),
        pytest.param({"training_runs": "999999"}, "training_runs", "No training run", id="no-run"),
        pytest.param({"starts_at": "soon"}, "starts_at", "", id="not-a-time"),
        pytest.param({"justification": ""}, "justification", "", id="no-justification"),
    ],
)
def test_bad_input_rerenders_the_form(data_owner, eu_customers, overrides, field, message):
    data = form_data(**overrides)
    if field == "ends_at" and overrides.get("mechanism") == "art49":
        start = timezone.now() + dt.timedelta(minutes=5)
        data["ends_at"] = (start + dt.timedelta(days=45)).strftime(DATETIME)

    response = as_user(data_owner).post(reverse("workflows:exception-create"), data)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert f'id="id_{field}_error"'.encode() in response.content
    assert not TransferException.objects.exists()


@pytest.mark.parametrize("role", ["auditor", "executive", "outsider"])
def test_only_requesters_get_the_form(request, role):
    response = as_user(request.getfixturevalue(role)).get(reverse("workflows:exception-create"))

    assert response.status_code == 403


def test_requester_list_shows_their_own(data_owner, other_owner, eu_customers, submitted):
    mine = as_user(data_owner).get(reverse("workflows:exception-list"))
    theirs = as_user(other_owner).get(reverse("workflows:exception-list"))

    assert mine.status_code == 200
    assert submitted.reference.encode() in mine.content
    assert submitted.reference.encode() not in theirs.content
    assert b"New exception" in mine.content


def test_list_filter_by_state(data_owner, submitted):
    client = as_user(data_owner)

    assert (
        submitted.reference.encode()
        in client.get(reverse("workflows:exception-list"), {"status": "submitted"}).content
    )
    assert (
        submitted.reference.encode()
        not in client.get(reverse("workflows:exception-list"), {"status": "draft"}).content
    )
    assert client.get(reverse("workflows:exception-list"), {"status": "nap"}).status_code == 400


def test_outsider_gets_no_list(outsider):
    assert as_user(outsider).get(reverse("workflows:exception-list")).status_code == 403


def test_requester_edits_a_draft(data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])
    client = as_user(data_owner)

    form = client.get(page(draft, "exception-edit"))
    assert form.status_code == 200
    assert form.context["form"].initial["datasets"] == "eu-customers"
    response = client.post(page(draft, "exception-edit"), form_data(title="Renamed"))

    assert response.status_code == 302
    assert TransferException.objects.get(pk=draft.pk).title == "Renamed"


def test_edit_bad_input_keeps_the_old_terms(data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])

    response = as_user(data_owner).post(
        page(draft, "exception-edit"), form_data(title="X", destination_regions=[GERMANY])
    )

    assert response.status_code == 400
    assert "destination_regions" in response.context["form"].errors
    assert list(
        TransferException.objects.get(pk=draft.pk).destination_regions.values_list(
            "code", flat=True
        )
    ) == [VIRGINIA]


def test_edit_refused(data_owner, eu_officer, submitted):
    sent = as_user(data_owner).get(page(submitted, "exception-edit"))
    assert sent.status_code == 302  # not editable once submitted: back to its page
    posted = as_user(data_owner).post(page(submitted, "exception-edit"), form_data(title="X"))
    assert posted.status_code == 409
    assert as_user(eu_officer).get(page(submitted, "exception-edit")).status_code == 403


# --- An exception's page and its steps -------------------------------------------------------


def test_requester_page(data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])

    response = as_user(data_owner).get(page(draft))

    assert response.status_code == 200
    body = response.content.decode()
    assert "csrfmiddlewaretoken" in body
    assert {s["action"] for s in response.context["steps"]} == {"submit", "withdraw"}
    assert response.context["may_edit"]
    assert response.context["answers"][0].outcome == "deny"
    assert "What the rules allow now" in body


def test_reviewer_page_and_decisions(data_owner, eu_officer, submitted):
    client = as_user(eu_officer)

    response = client.get(page(submitted))
    assert {s["action"] for s in response.context["steps"]} == {
        "start_review",
        "request_changes",
        "approve",
        "reject",
    }
    assert not response.context["may_edit"]

    assert client.post(step_url(submitted, "start-review")).status_code == 302
    assert status_of(submitted) == S.UNDER_REVIEW
    sent_back = client.post(step_url(submitted, "request-changes"), {"comment": "Add measures"})
    assert sent_back.status_code == 302
    assert status_of(submitted) == S.CHANGES_REQUESTED
    assert as_user(data_owner).post(step_url(submitted, "submit")).status_code == 302
    approved = client.post(step_url(submitted, "approve"), {"comment": "OK"}, follow=True)

    assert approved.status_code == 200
    assert status_of(submitted) == S.ACTIVE
    assert TransferGrant.objects.get().reference == submitted.reference
    assert b"allow_with_grant" in approved.content or b"Allow with grant" in approved.content
    timeline = [item["event"].action for item in approved.context["events"]]
    assert timeline == ["create", "submit", "start_review", "request_changes", "submit", "approve"]

    revoke = approved.context["steps"]
    assert [s["action"] for s in revoke] == ["revoke"]
    empty = client.post(step_url(submitted, "revoke"), {"comment": ""})
    assert empty.status_code == 400
    assert "comment" in empty.context["steps"][0]["form"].errors
    assert client.post(step_url(submitted, "revoke"), {"comment": "TIA gone"}).status_code == 302
    assert status_of(submitted) == S.REVOKED
    assert TransferGrant.objects.get().revoked_at is not None


def test_reject_needs_a_reason_shown_on_the_form(eu_officer, submitted):
    response = as_user(eu_officer).post(step_url(submitted, "reject"), {"comment": " "})

    assert response.status_code == 400
    reject = next(s for s in response.context["steps"] if s["action"] == "reject")
    assert "comment" in reject["form"].errors
    assert b'id="id_reject_comment_error"' in response.content
    assert status_of(submitted) == S.SUBMITTED


def test_wrong_state_is_409_with_a_message(data_owner, eu_officer, submitted):
    as_user(eu_officer).post(step_url(submitted, "reject"), {"comment": "No"})

    response = as_user(eu_officer).post(step_url(submitted, "approve"))

    assert response.status_code == 409
    assert b"not possible now" in response.content or b"Cannot approve" in response.content
    assert status_of(submitted) == S.REJECTED


def test_requester_may_not_decide(data_owner, submitted):
    for name in ("approve", "reject", "start-review"):
        assert as_user(data_owner).post(
            step_url(submitted, name), {"comment": "x"}
        ).status_code == (403)
    assert status_of(submitted) == S.SUBMITTED


def test_withdraw(data_owner, submitted):
    response = as_user(data_owner).post(step_url(submitted, "withdraw"), {"comment": "Not needed"})

    assert response.status_code == 302
    assert status_of(submitted) == S.WITHDRAWN


def test_unknown_step_is_404(data_owner, submitted):
    assert as_user(data_owner).post(step_url(submitted, "explode")).status_code == 404
    assert as_user(data_owner).post(step_url(submitted, "activate")).status_code == 404


def test_steps_only_by_post(eu_officer, submitted):
    assert as_user(eu_officer).get(step_url(submitted, "approve")).status_code == 405
    assert status_of(submitted) == S.SUBMITTED


def test_step_without_csrf_is_refused(eu_officer, submitted):
    client = Client(enforce_csrf_checks=True)
    client.force_login(eu_officer)

    assert client.post(step_url(submitted, "approve")).status_code == 403
    assert status_of(submitted) == S.SUBMITTED


def test_four_eyes_on_the_page(data_owner, restricted_records, eu_officer, second_eu_officer):
    exception = ask(data_owner, [restricted_records], submit=True)

    first = as_user(eu_officer).post(step_url(exception, "approve"), follow=True)
    assert status_of(exception) == S.UNDER_REVIEW
    assert "approve" not in {s["action"] for s in first.context["steps"]}
    assert first.context["approvals_missing"] == 1
    again = as_user(eu_officer).post(step_url(exception, "approve"))
    assert again.status_code == 409
    assert not TransferGrant.objects.exists()

    as_user(second_eu_officer).post(step_url(exception, "approve"))

    assert status_of(exception) == S.ACTIVE


def test_comment(data_owner, eu_officer, submitted):
    url = reverse("workflows:exception-comment", args=[submitted.pk])

    assert as_user(eu_officer).post(url, {"comment": "Which GPUs?"}).status_code == 302
    assert as_user(data_owner).post(url, {"comment": ""}).status_code == 400
    assert submitted.events.filter(action="comment").count() == 1


@pytest.mark.parametrize("role", ["auditor", "executive"])
def test_readers_see_the_page_without_buttons(request, role, submitted):
    response = as_user(request.getfixturevalue(role)).get(page(submitted))

    assert response.status_code == 200
    assert response.context["steps"] == []
    assert response.context["comment_form"] is None
    assert (
        as_user(request.getfixturevalue(role)).post(step_url(submitted, "approve")).status_code
        == 403
    )


@pytest.mark.parametrize("role", ["cn_officer", "other_owner"])
def test_others_get_404(request, role, submitted):
    client = as_user(request.getfixturevalue(role))

    assert client.get(page(submitted)).status_code == 404
    assert client.post(step_url(submitted, "approve")).status_code == 404
    assert client.get(page(submitted, "exception-edit")).status_code == 404


def test_outsider_gets_403(outsider, submitted):
    assert as_user(outsider).get(page(submitted)).status_code == 403


def test_anonymous_is_sent_to_login(submitted):
    response = Client().get(page(submitted))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- Review queue ----------------------------------------------------------------------------


def test_review_queue_sorted_by_start_then_risk(
    data_owner, eu_officer, eu_customers, restricted_records, django_assert_max_num_queries
):
    later = ask(data_owner, [eu_customers], submit=True)
    TransferException.objects.filter(pk=later.pk).update(
        starts_at=timezone.now() + dt.timedelta(days=2)
    )
    low_now = ask(data_owner, [eu_customers], submit=True)
    high_now = ask(data_owner, [restricted_records], submit=True)
    same_start = timezone.now() + dt.timedelta(hours=1)
    TransferException.objects.filter(pk__in=[low_now.pk, high_now.pk]).update(starts_at=same_start)
    ask(data_owner, [eu_customers])  # a draft: not in the queue

    response = as_user(eu_officer).get(reverse("workflows:exception-queue"))

    assert response.status_code == 200
    order = [row["exception"].pk for row in response.context["rows"]]
    assert order == [high_now.pk, low_now.pk, later.pk]
    assert response.context["rows"][0]["answers"][0].outcome == "deny"
    assert b"csrfmiddlewaretoken" in response.content  # the logout form at least


def test_review_queue_of_another_jurisdiction_is_empty(cn_officer, submitted):
    response = as_user(cn_officer).get(reverse("workflows:exception-queue"))

    assert response.status_code == 200
    assert response.context["rows"] == []


@pytest.mark.parametrize("role", ["data_owner", "auditor", "outsider"])
def test_review_queue_is_for_privacy_officers(request, role):
    response = as_user(request.getfixturevalue(role)).get(reverse("workflows:exception-queue"))

    assert response.status_code == 403


# --- Active grants, the register -------------------------------------------------------------


@pytest.fixture
def granted(data_owner, eu_customers, eu_officer):
    exception = ask(data_owner, [eu_customers], submit=True, days=3)
    return services.exception_transition(actor=eu_officer, exception=exception, action="approve")


def test_active_and_expiring(data_owner, granted):
    client = as_user(data_owner)

    response = client.get(reverse("workflows:exception-active"))
    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert row["exception"].pk == granted.pk
    assert row["expiring"]
    assert (
        len(client.get(reverse("workflows:exception-active"), {"expiring": "1"}).context["rows"])
        == 1
    )


def test_active_page_refused_to_outsider(outsider):
    assert as_user(outsider).get(reverse("workflows:exception-active")).status_code == 403


@pytest.mark.parametrize("role", ["eu_officer", "auditor", "executive"])
def test_register_page(request, role, granted):
    response = as_user(request.getfixturevalue(role)).get(reverse("workflows:transfer-register"))

    assert response.status_code == 200
    (row,) = response.context["rows"]
    assert (row["source_country"], row["destination_country"]) == ("IE", "US")
    assert b"Download CSV" in response.content


@pytest.mark.parametrize("role", ["data_owner", "engineer", "outsider"])
def test_register_refused(request, role):
    client = as_user(request.getfixturevalue(role))

    assert client.get(reverse("workflows:transfer-register")).status_code == 403
    assert client.get(reverse("workflows:transfer-register-csv")).status_code == 403


def test_register_bad_filter_is_400(auditor):
    client = as_user(auditor)

    response = client.get(reverse("workflows:transfer-register"), {"source": "Ireland"})
    assert response.status_code == 400
    assert "source" in response.context["form"].errors
    assert (
        client.get(reverse("workflows:transfer-register-csv"), {"mechanism": "x"}).status_code
        == 400
    )


def test_register_csv_download(auditor, granted):
    response = as_user(auditor).get(
        reverse("workflows:transfer-register-csv"), {"destination": "US"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["source_country"], r["destination_country"], r["mechanism"]) for r in rows] == [
        ("IE", "US", "scc")
    ]
    assert rows[0]["exception"] == granted.reference
    assert rows[0]["status"] == "active"


# --- Navigation ------------------------------------------------------------------------------


def test_navigation_per_role(data_owner, eu_officer, auditor):
    def labels(user):
        response = as_user(user).get(reverse("workflows:exception-active"))
        return {item.label for item in response.context["nav_items"]}

    assert {"Transfer exceptions", "Grants"} <= labels(data_owner)
    assert not {"Exceptions to review", "Transfer register"} & labels(data_owner)
    assert {"Transfer exceptions", "Exceptions to review", "Transfer register"} <= labels(
        eu_officer
    )
    assert {"Transfer exceptions", "Transfer register"} <= labels(auditor)
    assert "Exceptions to review" not in labels(auditor)
    # The grants in force are a view of the grants: that menu item is the current one.
    active = as_user(data_owner).get(reverse("workflows:exception-active")).context["nav_items"]
    assert [item.label for item in active if item.active] == ["Grants"]


def test_edit_needs_a_title(data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])

    response = as_user(data_owner).post(page(draft, "exception-edit"), form_data(title=""))

    assert response.status_code == 400
    assert "title" in response.context["form"].errors


def test_list_page_query_count_does_not_grow(
    data_owner, eu_customers, django_assert_max_num_queries
):
    ask(data_owner, [eu_customers])
    client = as_user(data_owner)
    with django_assert_max_num_queries(40) as few:
        client.get(reverse("workflows:exception-list"))
    for _ in range(5):
        ask(data_owner, [eu_customers], submit=True)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("workflows:exception-list"))
    assert len(response.context["page"].object_list) == 6


def test_first_of_two_approvals_says_another_is_needed(
    data_owner, restricted_records, eu_officer, second_eu_officer
):
    exception = ask(data_owner, [restricted_records], submit=True)

    response = as_user(eu_officer).post(step_url(exception, "approve"), follow=True)

    assert b"another privacy officer must approve" in response.content
    assert "Encryption in transit" in response.content.decode()  # measures by their labels


# --- From a denied check to an exception ------------------------------------------------------


def test_a_denied_check_offers_an_exception_pre_filled_with_its_question(
    data_owner, executive, eu_customers
):
    question = {
        "dataset": eu_customers.slug,
        "action": "train",
        "region": VIRGINIA,
        "purpose": "model-training",
    }
    answer = as_user(data_owner).post(reverse("governance:check"), question)
    assert answer.status_code == 200 and answer.context["result"].decision.outcome == "deny"
    link = (
        f"{reverse('workflows:exception-create')}?dataset={eu_customers.slug}"
        f"&amp;region={VIRGINIA.replace(':', '%3A')}&amp;purpose=model-training"
    )
    assert link in answer.content.decode()
    # Those who may not ask for an exception are not offered one.
    seen = as_user(executive).post(reverse("governance:check"), question).content.decode()
    assert "Ask for a transfer exception" not in seen

    form = (
        as_user(data_owner)
        .get(
            reverse("workflows:exception-create"),
            {"dataset": eu_customers.slug, "region": VIRGINIA, "purpose": "model-training"},
        )
        .context["form"]
    )
    assert form.initial["datasets"] == eu_customers.slug
    assert form.initial["destination_regions"] == [VIRGINIA]
    assert form.initial["purpose"] == "model-training"
    assert form.initial["title"] == f"{eu_customers.slug} to {VIRGINIA}"
    unknown = as_user(data_owner).get(
        reverse("workflows:exception-create"), {"purpose": "no-such-purpose"}
    )
    assert unknown.status_code == 200 and "purpose" not in unknown.context["form"].initial
