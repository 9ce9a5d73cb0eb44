"""The data-subject request API and pages: who sees what (owner, colleague, outsider), steps
as actions, bad input as 4xx with reasons, the public intake and verification, query counts."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import json

import pytest
from django.urls import reverse

from governance.models import LedgerEntry
from requests.models import SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    billing,
    crm,
    eager,
    fresh_throttle,
    last_code,
    verify,
)
from tests.requests.subject_targets import subject_alias, subject_pg_database  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1"


@pytest.fixture
def in_progress(crm, billing, django_capture_on_commit_callbacks):
    return verify(django_capture_on_commit_callbacks, ask(django_capture_on_commit_callbacks))


def test_public_intake_then_verification_over_the_api(
    api_client, crm, django_capture_on_commit_callbacks
):
    client = api_client()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{API}/subject-intake/",
            {"type": "erasure", "jurisdiction": "eu", "identifiers": {"email": SUBJECT}},
            format="json",
        )
    assert response.status_code == 201, response.content
    request = SubjectRequest.objects.get(verify_token=response.json()["token"])
    assert response.json()["reference"] == request.reference
    code, _ = last_code(request)
    wrong = client.post(
        f"{API}/subject-intake/verify",
        {"token": request.verify_token, "code": "000000" if code != "000000" else "111111"},
        format="json",
    )
    assert wrong.status_code == 400
    assert "attempts left" in wrong.json()["code"][0]
    with django_capture_on_commit_callbacks(execute=True):
        right = client.post(
            f"{API}/subject-intake/verify",
            {"token": request.verify_token, "code": code},
            format="json",
        )
    assert right.status_code == 200, right.content
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "forget", "jurisdiction": "eu", "identifiers": {"email": SUBJECT}}, "type"),
        (
            {"type": "access", "jurisdiction": "xx", "identifiers": {"email": SUBJECT}},
            "jurisdiction",
        ),
        ({"type": "access", "jurisdiction": "eu", "identifiers": {}}, "identifiers"),
        ({"type": "access", "jurisdiction": "eu"}, "identifiers"),
        ({"type": "access", "jurisdiction": "eu", "identifiers": "me"}, "identifiers"),
    ],
)
def test_bad_public_intake_is_400_naming_the_field(api_client, body, field):
    response = api_client().post(f"{API}/subject-intake/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not SubjectRequest.objects.exists()


def test_public_intake_is_throttled(api_client, settings):
    settings.SUBJECT_INTAKE_RATE = "2/hour"
    body = {"type": "access", "jurisdiction": "eu", "identifiers": {"email": SUBJECT}}
    codes = [
        api_client().post(f"{API}/subject-intake/", body, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]


def test_request_list_per_role_with_days_left_and_query_count(
    api_client, in_progress, privacy_officer, executive, auditor, data_owner, outsider,
    django_assert_max_num_queries,
):  # fmt: skip
    with django_assert_max_num_queries(8):
        response = api_client(privacy_officer).get(f"{API}/subject-requests/")
    assert response.status_code == 200
    row = response.json()["results"][0]
    assert row["days_left"] > 0 and row["tasks_open"] == 2 and row["tasks_total"] == 2
    assert row["identifiers"] == {"email": SUBJECT}
    exec_row = api_client(executive).get(f"{API}/subject-requests/").json()["results"][0]
    assert exec_row["identifiers"] is None  # read-only roles never see who the subject is
    assert api_client(auditor).get(f"{API}/subject-requests/").status_code == 200
    assert api_client(data_owner).get(f"{API}/subject-requests/").status_code == 403
    assert api_client(outsider).get(f"{API}/subject-requests/").status_code == 403
    assert api_client().get(f"{API}/subject-requests/").status_code == 401


def test_request_list_query_count_does_not_grow_with_rows(
    api_client, in_progress, eu_officer, django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):  # fmt: skip
    capture = django_capture_on_commit_callbacks
    for number in range(4):
        ask(capture, email=f"subject{number}@example.org")
    ask(capture, email="someone@example.org", jurisdiction="uk")
    with django_assert_max_num_queries(8):
        response = api_client(eu_officer).get(f"{API}/subject-requests/")
    rows = {row["id"]: row for row in response.json()["results"]}
    assert response.json()["count"] == 5  # the UK request is not this officer's
    assert rows[in_progress.pk]["tasks_total"] == 2 and rows[in_progress.pk]["tasks_open"] == 2
    assert rows[in_progress.pk]["identifiers"] == {"email": SUBJECT}
    assert sum(row["tasks_total"] for row in rows.values()) == 2  # the others have none yet


def test_a_later_page_counts_its_own_requests_tasks(
    api_client, in_progress, eu_officer, django_capture_on_commit_callbacks, monkeypatch
):
    from rest_framework.pagination import PageNumberPagination

    for number in range(3):
        ask(django_capture_on_commit_callbacks, email=f"later{number}@example.org")
    monkeypatch.setattr(PageNumberPagination, "page_size", 1)
    listing = f"{API}/subject-requests/"
    pages = [
        api_client(eu_officer).get(listing, {"page": n}).json()["results"][0] for n in (1, 2, 3, 4)
    ]
    counted = {row["id"]: (row["tasks_total"], row["tasks_open"]) for row in pages}
    assert counted.pop(in_progress.pk) == (2, 2)  # the oldest: the last page
    assert set(counted.values()) == {(0, 0)}


def test_an_officer_sees_only_their_jurisdictions(api_client, in_progress, privacy_officer):
    from catalog.models import Jurisdiction
    from governance.models import Responsibility
    from governance.roles import Role
    from tests.factories import UserFactory

    cn_officer = UserFactory(username="chen", roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=cn_officer, jurisdiction=Jurisdiction.objects.get(code="cn"))
    assert api_client(cn_officer).get(f"{API}/subject-requests/").json()["count"] == 0
    url = f"{API}/subject-requests/{in_progress.pk}/"
    assert api_client(cn_officer).get(url).status_code == 404
    assert api_client(privacy_officer).get(url).status_code == 200


def test_tasks_owner_colleague_outsider(
    api_client, in_progress, data_owner, other_owner, outsider, django_assert_max_num_queries
):
    mine = SubjectTask.objects.get(dataset_slug="crm")
    with django_assert_max_num_queries(6):
        listed = api_client(data_owner).get(f"{API}/subject-tasks/")
    assert [t["dataset_slug"] for t in listed.json()["results"]] == ["crm"]
    detail = api_client(data_owner).get(f"{API}/subject-tasks/{mine.pk}/")
    assert detail.json()["identifiers"] == {"email": SUBJECT}
    assert api_client(other_owner).get(f"{API}/subject-tasks/{mine.pk}/").status_code == 404
    assert (
        api_client(other_owner)
        .post(f"{API}/subject-tasks/{mine.pk}/complete/", {"note": "x"}, format="json")
        .status_code
        == 404
    )
    assert api_client(outsider).get(f"{API}/subject-tasks/").status_code == 403


def test_complete_tasks_over_the_api_and_close(api_client, in_progress, data_owner, other_owner, privacy_officer, django_capture_on_commit_callbacks):  # fmt: skip
    crm_task = SubjectTask.objects.get(dataset_slug="crm")
    billing_task = SubjectTask.objects.get(dataset_slug="billing")
    close = api_client(privacy_officer).post(f"{API}/subject-requests/{in_progress.pk}/close/")
    assert close.status_code == 409  # the state does not allow it (yet), naming why
    assert "still open" in close.json()["tasks"][0]
    bad = api_client(data_owner).post(
        f"{API}/subject-tasks/{crm_task.pk}/complete/", {"rows": {"not": "a list"}}, format="json"
    )
    assert bad.status_code == 400 and "rows" in bad.json()
    ok = api_client(data_owner).post(
        f"{API}/subject-tasks/{crm_task.pk}/complete/",
        {"rows": [{"email": SUBJECT, "plan": "gold"}]},
        format="json",
    )
    assert ok.status_code == 200 and ok.json()["rows_exported"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        api_client(other_owner).post(
            f"{API}/subject-tasks/{billing_task.pk}/complete/", {"note": "none"}, format="json"
        )
    # Every task is done: nothing goes out until the officer has reviewed the answer.
    in_progress.refresh_from_db()
    assert in_progress.status == S.READY and not hasattr(in_progress, "package")
    assert api_client(data_owner).get(f"{API}/subject-requests/{in_progress.pk}/review/").status_code in (403, 404)  # fmt: skip
    review = api_client(privacy_officer).get(f"{API}/subject-requests/{in_progress.pk}/review/")
    assert review.status_code == 200
    assert review.json()["records"] == 1 and review.json()["empty"] is False
    assert {d["dataset"]: d["records"] for d in review.json()["datasets"]} == {
        "billing": 0,
        "crm": 1,
    }
    assert len(review.json()["files"]) == 5
    bad_body = api_client(privacy_officer).post(
        f"{API}/subject-requests/{in_progress.pk}/close/",
        {"confirm_empty": "perhaps"},
        format="json",
    )
    assert bad_body.status_code == 400 and "confirm_empty" in bad_body.json()
    with django_capture_on_commit_callbacks(execute=True):
        approved = api_client(privacy_officer).post(
            f"{API}/subject-requests/{in_progress.pk}/close/"
        )
    assert approved.status_code == 200 and approved.json()["status"] == S.COMPLETED
    report = api_client(privacy_officer).get(f"{API}/subject-requests/{in_progress.pk}/report/")
    assert report.json()["request"]["status"] == S.COMPLETED
    assert len(report.json()["package"]["manifest"]["files"]) == 5
    timeline = api_client(privacy_officer).get(f"{API}/subject-requests/{in_progress.pk}/timeline/")
    last = timeline.json()["results"][-1]
    assert last["action"] == "complete" and last["actor_name"] != ""


def test_steps_as_actions_with_reasons(api_client, in_progress, privacy_officer, executive):
    url = f"{API}/subject-requests/{in_progress.pk}"
    assert api_client(executive).post(f"{url}/pause/", {"reason": "x"}).status_code == 403
    missing = api_client(privacy_officer).post(f"{url}/pause/", {})
    assert missing.status_code == 400 and "reason" in missing.json()
    assert (
        api_client(privacy_officer).post(f"{url}/pause/", {"reason": "ID"}).json()["status"]
        == S.PAUSED
    )
    assert (
        api_client(privacy_officer).post(f"{url}/extend/", {"reason": "complex"}).status_code == 200
    )
    assert api_client(privacy_officer).post(f"{url}/resume/").json()["status"] == S.IN_PROGRESS
    again = api_client(privacy_officer).post(f"{url}/extend/", {"reason": "more"})
    assert again.status_code == 409 and "already been extended" in again.json()["deadline"][0]


def test_a_step_the_state_does_not_allow_is_409_naming_the_status(
    api_client, in_progress, privacy_officer
):
    url = f"{API}/subject-requests/{in_progress.pk}"
    resume = api_client(privacy_officer).post(f"{url}/resume/")
    assert resume.status_code == 409 and "not paused" in resume.json()["status"][0]
    rejected = api_client(privacy_officer).post(f"{url}/reject/", {"reason": "unfounded"})
    assert rejected.status_code == 200
    for step, body in [("withdraw", {}), ("pause", {"reason": "ID"}), ("close", None)]:
        refused = api_client(privacy_officer).post(f"{url}/{step}/", body)
        assert refused.status_code == 409, (step, refused.content)
        assert "rejected" in refused.json()["status"][0]
    reissue = api_client(privacy_officer).post(f"{url}/reissue-package/")
    assert reissue.status_code == 409 and "package" in reissue.json()
    task = SubjectTask.objects.get(dataset_slug="crm")
    late = api_client(privacy_officer).post(
        f"{API}/subject-tasks/{task.pk}/complete/", {"note": "done"}, format="json"
    )
    assert late.status_code == 409 and "not in progress" in late.json()["status"][0]
    retry = api_client(privacy_officer).post(f"{API}/subject-tasks/{task.pk}/retry/")
    assert retry.status_code == 409 and "task" in retry.json()


def test_staff_create_over_the_api(api_client, privacy_officer, data_owner):
    body = {
        "type": "rectification",
        "jurisdiction": "uk",
        "identifiers": {"email": SUBJECT},
        "channel": "post",
    }
    assert (
        api_client(data_owner).post(f"{API}/subject-requests/", body, format="json").status_code
        == 403
    )
    created = api_client(privacy_officer).post(f"{API}/subject-requests/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["channel"] == "post"


def test_connectors_owner_colleague(api_client, crm, data_owner, other_owner, subject_alias):
    from tests.requests.subject_targets import subject_cursor

    with subject_cursor() as cursor:
        cursor.execute("CREATE TABLE crm_contacts (id INTEGER PRIMARY KEY, email VARCHAR(200))")
    body = {
        "dataset": "crm", "kind": "sql", "identifier_kinds": ["email"], "database": subject_alias,
        "table": "crm_contacts", "identifier_column": "email", "identifier_kind": "email",
    }  # fmt: skip
    assert (
        api_client(other_owner).post(f"{API}/dataset-connectors/", body, format="json").status_code
        == 403
    )
    bad = api_client(data_owner).post(
        f"{API}/dataset-connectors/", {**body, "table": "x; drop"}, format="json"
    )
    assert bad.status_code == 400 and "table" in bad.json()
    made = api_client(data_owner).post(f"{API}/dataset-connectors/", body, format="json")
    assert made.status_code == 201, made.content
    assert api_client(other_owner).get(f"{API}/dataset-connectors/").json()["count"] == 0
    changed = api_client(data_owner).patch(
        f"{API}/dataset-connectors/{made.json()['id']}/",
        {"erase_mode": "mask", "mask_columns": ["email"]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    # Each version is on the ledger: it decides what an erasure removes.
    entries = LedgerEntry.objects.filter(kind="subject_connector.saved").order_by("sequence")
    data = [json.loads(bytes(e.payload))["data"] for e in entries]
    assert [d["erase_mode"] for d in data] == ["delete", "mask"]
    assert all(e.actor_id == data_owner.pk and "dataset:crm" in e.subject_list for e in entries)


# --- Pages ----------------------------------------------------------------------------------


def test_pages_per_role(client, in_progress, privacy_officer, data_owner, other_owner, outsider):
    task = SubjectTask.objects.get(dataset_slug="crm")
    client.force_login(privacy_officer)
    listing = client.get(reverse("workflows:subject-list"))
    assert listing.status_code == 200 and b"days left" in listing.content
    assert b"<td>2 / 2</td>" in listing.content  # the request's open / all tasks
    assert client.get(reverse("workflows:subject-detail", args=[in_progress.pk])).status_code == 200
    client.force_login(data_owner)
    queue = client.get(reverse("workflows:subject-task-list"))
    assert queue.status_code == 200 and b"crm" in queue.content and b"billing" not in queue.content
    assert client.get(reverse("workflows:subject-task-detail", args=[task.pk])).status_code == 200
    assert client.get(reverse("workflows:subject-list")).status_code == 403
    client.force_login(other_owner)
    assert client.get(reverse("workflows:subject-task-detail", args=[task.pk])).status_code == 404
    client.force_login(outsider)
    assert client.get(reverse("workflows:subject-task-list")).status_code == 403


def test_public_pages(client, crm, django_capture_on_commit_callbacks):
    assert client.get(reverse("workflows:subject-intake")).status_code == 200
    form = {"type": "access", "jurisdiction": "eu", "email": SUBJECT}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("workflows:subject-intake"), form)
    request = SubjectRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workflows:subject-verify", args=[request.verify_token])
    _, token = last_code(request)
    link = reverse("workflows:subject-verify-link", args=[request.verify_token, token])
    assert client.get(link).status_code == 200  # a GET (mail scanner) confirms nothing
    request.refresh_from_db()
    assert request.status == S.AWAITING_VERIFICATION
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(link).status_code == 200
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS
    bad = client.post(reverse("workflows:subject-intake"), {**form, "email": "nope"})
    assert bad.status_code == 400


def test_a_second_connector_for_a_dataset_is_a_400_naming_it(api_client, privacy_officer):
    from requests.models import DatasetConnector
    from tests.factories import make_dataset

    dataset = make_dataset(slug="crm-contacts")
    body = {"dataset": dataset.slug, "kind": "manual", "identifier_kinds": ["email"]}
    client = api_client(privacy_officer)
    assert client.post("/api/v1/dataset-connectors/", body, format="json").status_code == 201
    again = client.post("/api/v1/dataset-connectors/", body, format="json")
    assert again.status_code == 400, again.content
    assert "already has a connector" in again.json()["dataset"][0]
    assert DatasetConnector.objects.filter(dataset=dataset).count() == 1
