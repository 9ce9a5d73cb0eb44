"""The transfer-exception API: who sees what, every step allowed and refused, four eyes, bad
input naming its field, and the register of transfers with its CSV export."""

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from governance.grants.services import grant_create
from governance.models import TransferGrant
from governance.policy.engine import evaluate
from governance.policy.index import current_index, forget_index
from requests.models import ExceptionStatus as S
from requests.models import TransferException
from tests.factories import make_dataset
from tests.requests.transfer_setup import *  # noqa: F403 (fixtures)
from tests.requests.transfer_setup import GERMANY, VIRGINIA, ask, fresh, terms

pytestmark = pytest.mark.django_db

URL = "/api/v1/transfer-exceptions/"
REGISTER = "/api/v1/transfer-register/"


def detail(exception) -> str:
    return f"{URL}{exception.pk}/"


def step(client, exception, name: str, comment: str = ""):
    return client.post(f"{detail(exception)}{name}/", {"comment": comment}, format="json")


def status_of(exception) -> str:
    return TransferException.objects.get(pk=exception.pk).status


@pytest.fixture
def submitted(data_owner, eu_customers):
    return ask(data_owner, [eu_customers], submit=True)


# --- Create ----------------------------------------------------------------------------------


def test_requester_files_an_exception(api_client, data_owner, eu_customers):
    response = api_client(data_owner).post(URL, terms(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == S.DRAFT
    assert body["requester"] == data_owner.username
    assert body["datasets"] == ["eu-customers"]
    assert body["destination_regions"] == [VIRGINIA]
    assert body["source_regions"] == ["aws:eu-west-1"]
    assert [e["action"] for e in body["events"]] == ["create"]
    assert body["rule_answers"] == [
        {
            "dataset": "eu-customers",
            "region": VIRGINIA,
            "outcome": "deny",
            "rule": body["rule_answers"][0]["rule"],
            "reason": body["rule_answers"][0]["reason"],
            "allowed": False,
            "by_action": {"transfer": "deny", "process": "deny", "train": "deny"},
        }
    ]
    assert set(body["actions"]) == {"submit", "withdraw"}


def test_create_and_submit_at_once(api_client, data_owner, eu_customers, eu_officer):
    response = api_client(data_owner).post(URL, terms(submit=True), format="json")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == S.SUBMITTED
    assert api_client(eu_officer).get(f"{URL}{response.json()['id']}/").status_code == 200


def test_default_period_when_none_given(api_client, data_owner, eu_customers, settings):
    body = terms(starts_at=None, ends_at=None)

    response = api_client(data_owner).post(URL, body, format="json")

    assert response.status_code == 201, response.content
    exception = TransferException.objects.get()
    assert exception.ends_at - exception.starts_at == dt.timedelta(
        days=settings.EXCEPTION_DEFAULT_DAYS
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"datasets": ["no-such-dataset"]}, "datasets", id="unknown-dataset"),
        pytest.param({"datasets": []}, "datasets", id="no-dataset"),
        pytest.param(
            {"destination_regions": ["mars:olympus-1"]}, "destination_regions", id="unknown-region"
        ),
        pytest.param({"source_regions": ["mars:olympus-1"]}, "source_regions", id="unknown-source"),
        pytest.param({"purpose": "world-domination"}, "purpose", id="unknown-purpose"),
        pytest.param({"training_runs": [999999]}, "training_runs", id="unknown-run"),
        pytest.param({"mechanism": "handshake"}, "mechanism", id="unknown-mechanism"),
        pytest.param({"scc_module": None}, "scc_module", id="scc-without-module"),
        pytest.param({"tia_measures": ["prayer"]}, "tia_measures", id="unknown-measure"),
        pytest.param({"justification": "  "}, "justification", id="no-justification"),
        pytest.param({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at", id="end-before-start"),
        pytest.param({"starts_at": "yesterday"}, "starts_at", id="not-a-time"),
        pytest.param(
            {
                "mechanism": "art49",
                "scc_module": None,
                "derogation": "49_1_a",
                "ends_at": (timezone.now() + dt.timedelta(days=45)).isoformat(),
            },
            "ends_at",
            id="art49-over-its-cap",
        ),
        pytest.param(
            {"ends_at": (timezone.now() + dt.timedelta(days=400)).isoformat()},
            "ends_at",
            id="over-the-cap",
        ),
        pytest.param(
            {"destination_regions": [GERMANY]}, "destination_regions", id="already-allowed"
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    api_client, data_owner, eu_customers, overrides, field
):
    response = api_client(data_owner).post(URL, terms(**overrides), format="json")

    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not TransferException.objects.exists()


def test_already_allowed_destination_says_so(api_client, data_owner, eu_customers):
    response = api_client(data_owner).post(URL, terms(destination_regions=[GERMANY]), format="json")

    assert "already allow" in response.json()["destination_regions"][0]


@pytest.mark.parametrize("role", ["auditor", "executive", "outsider"])
def test_only_requesters_file_exceptions(request, api_client, eu_customers, role):
    user = request.getfixturevalue(role)

    response = api_client(user).post(URL, terms(), format="json")

    assert response.status_code == 403
    assert not TransferException.objects.exists()


def test_anonymous_is_refused(api_client, eu_customers):
    assert api_client().get(URL).status_code in (401, 403)
    assert api_client().post(URL, terms(), format="json").status_code in (401, 403)


# --- Who sees what ---------------------------------------------------------------------------


def test_each_role_sees_what_it_should(
    api_client, data_owner, other_owner, eu_officer, cn_officer, auditor, executive, submitted
):
    def ids(user):
        response = api_client(user).get(URL)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(data_owner) == [submitted.pk]
    assert ids(eu_officer) == [submitted.pk]
    assert ids(auditor) == [submitted.pk]
    assert ids(executive) == [submitted.pk]
    assert ids(cn_officer) == []
    assert ids(other_owner) == []


@pytest.mark.parametrize("role", ["cn_officer", "other_owner"])
def test_people_who_may_not_see_it_get_404(request, api_client, submitted, role):
    client = api_client(request.getfixturevalue(role))

    assert client.get(detail(submitted)).status_code == 404
    assert step(client, submitted, "approve").status_code == 404
    assert step(client, submitted, "withdraw").status_code == 404
    assert client.patch(detail(submitted), {"title": "mine"}, format="json").status_code == 404
    assert status_of(submitted) == S.SUBMITTED


def test_outsider_is_refused(api_client, outsider, submitted):
    client = api_client(outsider)

    assert client.get(URL).status_code == 403
    assert client.get(detail(submitted)).status_code == 403


def test_auditor_reads_but_may_not_act(api_client, auditor, submitted):
    client = api_client(auditor)

    body = client.get(detail(submitted)).json()
    assert body["actions"] == []
    assert step(client, submitted, "approve").status_code == 403
    assert step(client, submitted, "reject", "no").status_code == 403
    assert step(client, submitted, "withdraw").status_code == 403
    assert client.post(f"{detail(submitted)}comment/", {"comment": "hm"}).status_code == 403
    assert status_of(submitted) == S.SUBMITTED


def test_unknown_id_is_404(api_client, data_owner):
    assert api_client(data_owner).get(f"{URL}999999/").status_code == 404
    assert api_client(data_owner).get(f"{URL}abc/").status_code == 404


def test_list_filters(api_client, data_owner, eu_customers, eu_officer):
    draft = ask(data_owner, [eu_customers])
    sent = ask(data_owner, [eu_customers], submit=True)
    other = make_dataset(data_owner, slug="other-data", allowed_processing_regions=[GERMANY])
    third = ask(data_owner, [other])
    client = api_client(data_owner)

    def ids(query):
        response = client.get(URL, query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids({"status": "draft"}) == {draft.pk, third.pk}
    assert ids({"status": ["draft", "submitted"]}) == {draft.pk, sent.pk, third.pk}
    assert ids({"dataset": "other-data"}) == {third.pk}
    assert ids({"mine": "true"}) == {draft.pk, sent.pk, third.pk}
    assert api_client(eu_officer).get(URL, {"mine": "true"}).json()["results"] == []
    bad = client.get(URL, {"status": "sleeping"})
    assert bad.status_code == 400
    assert "status" in bad.json()


def test_list_query_count_does_not_grow(
    api_client, data_owner, eu_customers, django_assert_max_num_queries
):
    client = api_client(fresh(data_owner))
    ask(data_owner, [eu_customers])
    with django_assert_max_num_queries(20) as few:
        client.get(URL)
    for _ in range(6):
        ask(data_owner, [eu_customers], submit=True)
    client = api_client(fresh(data_owner))
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL)
    assert response.json()["count"] == 7


# --- Steps -----------------------------------------------------------------------------------


def test_requester_edits_a_draft(api_client, data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])

    response = api_client(data_owner).patch(
        detail(draft), {"title": "Ranking model, US", "tia_risk_level": "high"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Ranking model, US"
    assert response.json()["events"][-1]["action"] == "edit"


def test_edit_refused(api_client, data_owner, eu_officer, submitted, eu_customers):
    assert (
        api_client(data_owner).patch(detail(submitted), {"title": "x"}, format="json").status_code
        == 409
    )
    assert (
        api_client(eu_officer).patch(detail(submitted), {"title": "x"}, format="json").status_code
        == 403
    )
    draft = ask(data_owner, [eu_customers])
    bad = api_client(data_owner).patch(
        detail(draft), {"ends_at": "2000-01-01T00:00:00Z"}, format="json"
    )
    assert bad.status_code == 400
    assert "ends_at" in bad.json()
    assert TransferException.objects.get(pk=draft.pk).ends_at > timezone.now()


def test_put_is_not_offered(api_client, data_owner, eu_customers):
    draft = ask(data_owner, [eu_customers])

    assert api_client(data_owner).put(detail(draft), terms(), format="json").status_code == 405


def test_the_whole_way_to_a_grant_and_its_revocation(
    api_client, data_owner, eu_customers, eu_officer
):
    owner, officer = api_client(data_owner), api_client(eu_officer)
    draft = ask(data_owner, [eu_customers])

    assert step(owner, draft, "submit").json()["status"] == S.SUBMITTED
    reviewing = step(officer, draft, "start-review")
    assert reviewing.json()["status"] == S.UNDER_REVIEW
    assert set(reviewing.json()["actions"]) == {"request-changes", "approve", "reject"}
    sent_back = step(officer, draft, "request-changes", "Name the GPUs' region owner")
    assert sent_back.json()["status"] == S.CHANGES_REQUESTED
    assert owner.patch(detail(draft), {"title": "Now with owner"}, format="json").status_code == 200
    assert step(owner, draft, "submit").json()["status"] == S.SUBMITTED

    approved = step(officer, draft, "approve", "Fine with the measures")

    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["status"] == S.ACTIVE
    assert body["grant"]["status"] == "active"
    assert [a["approver_name"] for a in body["approvals"]] == [eu_officer.get_full_name()]
    assert body["rule_answers"][0]["outcome"] == "allow_with_grant"
    assert [e["action"] for e in body["events"]] == [
        "create",
        "submit",
        "start_review",
        "request_changes",
        "edit",
        "submit",
        "approve",
    ]
    forget_index()
    index = current_index()
    decision = evaluate(
        index, eu_customers.pk, "transfer", VIRGINIA, "model-training", timezone.now()
    )
    assert decision.outcome == "allow_with_grant"

    revoked = step(officer, draft, "revoke", "The TIA was withdrawn")

    assert revoked.json()["status"] == S.REVOKED
    assert revoked.json()["grant"]["status"] == "revoked"
    assert revoked.json()["rule_answers"][0]["outcome"] == "deny"


@pytest.mark.parametrize(
    ("name", "needs_comment"),
    [("request-changes", True), ("reject", True), ("revoke", True), ("approve", False)],
)
def test_wrong_state_is_a_409(
    api_client, data_owner, eu_customers, eu_officer, name, needs_comment
):
    draft = ask(data_owner, [eu_customers])
    ask_submitted = ask(data_owner, [eu_customers], submit=True)
    officer = api_client(eu_officer)

    # A draft was never given to the officer: 404 (they may not see it).
    assert step(officer, draft, name, "why").status_code == 404
    if name == "revoke":
        response = step(officer, ask_submitted, name, "why")
    else:
        step(officer, ask_submitted, "reject", "no")
        response = step(officer, ask_submitted, name, "why")
    assert response.status_code == 409, response.content
    assert "status" in response.json()


def test_requester_steps_refused_in_the_wrong_state(api_client, data_owner, submitted, eu_officer):
    owner = api_client(data_owner)

    assert step(owner, submitted, "submit").status_code == 409
    step(api_client(eu_officer), submitted, "reject", "No TIA")
    assert step(owner, submitted, "withdraw").status_code == 409
    assert owner.patch(detail(submitted), {"title": "again"}, format="json").status_code == 409
    assert status_of(submitted) == S.REJECTED


def test_reviewer_steps_need_a_reviewer(api_client, data_owner, submitted):
    owner = api_client(data_owner)

    for name in ("start-review", "approve", "reject", "request-changes"):
        response = step(owner, submitted, name, "myself")
        assert response.status_code == 403, name
    assert status_of(submitted) == S.SUBMITTED


def test_requester_steps_need_the_requester(api_client, eu_officer, submitted):
    assert step(api_client(eu_officer), submitted, "withdraw").status_code == 403
    assert status_of(submitted) == S.SUBMITTED


def test_decisions_that_need_a_reason_say_so(api_client, eu_officer, submitted):
    for name in ("reject", "request-changes"):
        response = step(api_client(eu_officer), submitted, name, "   ")
        assert response.status_code == 400
        assert "comment" in response.json()
    assert status_of(submitted) == S.SUBMITTED


def test_withdraw(api_client, data_owner, submitted):
    response = step(api_client(data_owner), submitted, "withdraw", "Not needed any more")

    assert response.json()["status"] == S.WITHDRAWN
    assert response.json()["events"][-1]["comment"] == "Not needed any more"


def test_self_approval_is_refused(api_client, eu_officer, second_eu_officer, eu_customers):
    mine = ask(eu_officer, [eu_customers], submit=True)

    response = step(api_client(eu_officer), mine, "approve")

    assert response.status_code == 403
    assert "own" in response.json()["detail"]
    assert status_of(mine) == S.SUBMITTED
    assert not TransferGrant.objects.exists()


def test_comment_by_requester_and_reviewer(api_client, data_owner, eu_officer, submitted):
    for user in (data_owner, eu_officer):
        response = api_client(user).post(
            f"{detail(submitted)}comment/", {"comment": f"from {user.username}"}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["action"] == "comment"
    for body in ({"comment": ""}, {"comment": "   "}, {}):
        empty = api_client(data_owner).post(f"{detail(submitted)}comment/", body, format="json")
        assert empty.status_code == 400, body
        assert "comment" in empty.json()
    assert submitted.events.filter(action="comment").count() == 2
    assert status_of(submitted) == S.SUBMITTED


def test_the_schema_says_a_comment_is_required_text_and_answered_201(api_client):
    schema = api_client().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/transfer-exceptions/{id}/comment/"]["post"]
    assert "201" in operation["responses"]
    assert "200" not in operation["responses"]
    name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    body = schema["components"]["schemas"][name]
    assert body["required"] == ["comment"]
    assert body["properties"]["comment"]["minLength"] == 1
    assert "pattern" in body["properties"]["comment"]  # more than spaces


def test_four_eyes_needs_two_different_officers(
    api_client, data_owner, restricted_records, eu_officer, second_eu_officer
):
    exception = ask(data_owner, [restricted_records], submit=True)
    first, second = api_client(eu_officer), api_client(second_eu_officer)

    once = step(first, exception, "approve")
    assert once.status_code == 200, once.content
    assert once.json()["status"] == S.UNDER_REVIEW
    assert once.json()["approvals_required"] == 2
    assert "approve" not in once.json()["actions"]
    assert not TransferGrant.objects.exists()

    again = step(first, exception, "approve")
    assert again.status_code == 409
    assert "approver" in again.json()
    assert not TransferGrant.objects.exists()

    twice = step(second, exception, "approve")
    assert twice.json()["status"] == S.ACTIVE
    assert len(twice.json()["approvals"]) == 2
    assert TransferGrant.objects.get().reference == exception.reference


def test_cn_officer_cannot_decide(api_client, cn_officer, submitted):
    assert step(api_client(cn_officer), submitted, "approve").status_code == 404
    assert status_of(submitted) == S.SUBMITTED


# --- The register ----------------------------------------------------------------------------


@pytest.fixture
def granted(data_owner, eu_customers, eu_officer):
    from requests.transfers import services

    exception = ask(data_owner, [eu_customers], submit=True)
    return services.exception_transition(actor=eu_officer, exception=exception, action="approve")


@pytest.mark.parametrize("role", ["eu_officer", "auditor", "executive"])
def test_register_readers(request, api_client, granted, role):
    response = api_client(request.getfixturevalue(role)).get(REGISTER)

    assert response.status_code == 200, response.content
    (row,) = response.json()["results"]
    assert (row["source_country"], row["destination_country"]) == ("IE", "US")
    assert row["mechanism"] == "scc"
    assert row["exception"] == granted.reference
    assert row["status"] == "active"
    assert row["datasets"] == ["eu-customers"]


@pytest.mark.parametrize("role", ["data_owner", "engineer", "outsider"])
def test_register_refused(request, api_client, granted, role):
    assert api_client(request.getfixturevalue(role)).get(REGISTER).status_code == 403


def test_register_filters_and_past_grants(api_client, auditor, granted, eu_officer):
    from requests.transfers import services

    services.exception_transition(
        actor=eu_officer, exception=granted, action="revoke", comment="=HYPERLINK(evil)"
    )
    client = api_client(auditor)

    assert client.get(REGISTER, {"status": "revoked"}).json()["count"] == 1
    assert client.get(REGISTER, {"status": "active"}).json()["count"] == 0
    assert client.get(REGISTER, {"destination": "us"}).json()["count"] == 1
    assert client.get(REGISTER, {"source": "CN"}).json()["count"] == 0
    assert client.get(REGISTER, {"mechanism": "bcr"}).json()["count"] == 0
    bad = client.get(REGISTER, {"mechanism": "handshake"})
    assert bad.status_code == 400
    assert "mechanism" in bad.json()


@pytest.mark.parametrize("url", [f"{REGISTER}?format=csv", "/api/v1/transfer-register.csv"])
def test_register_csv(api_client, auditor, granted, eu_officer, url):
    from requests.transfers import services

    services.exception_transition(
        actor=eu_officer, exception=granted, action="revoke", comment="=HYPERLINK(evil)"
    )

    response = api_client(auditor).get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["source_country"], row["destination_country"], row["mechanism"]) == (
        "IE",
        "US",
        "scc",
    )
    assert row["exception"] == granted.reference
    assert row["status"] == "revoked"
    assert row["revoke_reason"] == "'=HYPERLINK(evil)"


def test_register_csv_refused_for_a_data_owner(api_client, data_owner, granted):
    assert api_client(data_owner).get("/api/v1/transfer-register.csv").status_code == 403


def test_register_counts_grants_made_without_an_exception(
    api_client, auditor, eu_officer, eu_customers
):
    from catalog.models import Region

    grant_create(
        actor=eu_officer,
        datasets=[eu_customers],
        destination_regions=[
            Region.objects.get(code=VIRGINIA),
            Region.objects.get(code="aws:cn-north-1"),
        ],
        purpose=None,
        mechanism="bcr",
        valid_from=timezone.now() - dt.timedelta(days=30),
        valid_until=timezone.now() - dt.timedelta(days=1),
    )

    rows = api_client(auditor).get(REGISTER).json()["results"]

    assert [(r["destination_country"], r["status"]) for r in rows] == [
        ("CN", "expired"),
        ("US", "expired"),
    ]
    assert rows[0]["exception_id"] is None


def test_the_register_is_paged_and_ordered_and_its_csv_whole(
    api_client, auditor, eu_officer, eu_customers
):
    from catalog.models import Region

    grant_create(
        actor=eu_officer,
        datasets=[eu_customers],
        destination_regions=[
            Region.objects.get(code=VIRGINIA),
            Region.objects.get(code="aws:cn-north-1"),
        ],
        purpose=None,
        mechanism="bcr",
        valid_from=timezone.now() - dt.timedelta(days=30),
        valid_until=timezone.now() + dt.timedelta(days=1),
    )
    client = api_client(auditor)

    first = client.get(REGISTER, {"ordering": "-destination_country", "page_size": 1}).json()
    second = client.get(first["next"]).json()
    csv_rows = client.get(REGISTER, {"format": "csv", "ordering": "-destination_country"})

    assert first["count"] == 2
    assert [r["destination_country"] for r in first["results"] + second["results"]] == [
        "US",
        "CN",
    ]
    spreadsheet = csv.DictReader(io.StringIO(csv_rows.content.decode()))
    assert [row["destination_country"] for row in spreadsheet] == ["US", "CN"]
    unknown = client.get(REGISTER, {"ordering": "revoke_reason"})
    assert unknown.status_code == 400
    assert "ordering" in unknown.json()


def test_changing_datasets_moves_the_default_source_regions(api_client, data_owner, eu_customers):
    german = make_dataset(
        data_owner, slug="german-data", storage_region=GERMANY, allowed_processing_regions=[]
    )
    draft = ask(data_owner, [eu_customers])

    response = api_client(data_owner).patch(
        detail(draft), {"datasets": [german.slug]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["source_regions"] == [GERMANY]
