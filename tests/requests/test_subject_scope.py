"""Who sees a subject request's tasks, model decisions, connectors and package: the task's
owner and the officers of the request's jurisdiction; an officer of another jurisdiction sees
none of it (404, left out of lists), and the subject's identifiers are shown only to the owner
and the responsible officers."""

import pytest
from django.urls import reverse

from catalog.models import Jurisdiction
from governance.models import Purpose, Responsibility, TrainingRun, TrainingRunDataset
from governance.roles import Role
from requests.models import DatasetConnector, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from tests.factories import UserFactory, make_dataset
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    eager,
    fresh_throttle,
    verify,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1"


def _officer_of(username: str, code: str):
    officer = UserFactory(username=username, roles=[Role.PRIVACY_OFFICER])
    Responsibility.objects.create(user=officer, jurisdiction=Jurisdiction.objects.get(code=code))
    return officer


@pytest.fixture
def br_officer(db):
    return _officer_of("bia-br-officer", "br")


@pytest.fixture
def uk_officer(db):
    return _officer_of("uma-uk-officer", "uk")


@pytest.fixture
def brazil(data_owner, django_capture_on_commit_callbacks):
    """A verified Brazilian erasure: one task for the data owner, one model decision, and the
    dataset's connector."""
    dataset = make_dataset(
        data_owner,
        slug="br-customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["br"],
    )
    DatasetConnector.objects.create(dataset=dataset, kind="manual", identifier_kinds=["email"])
    run = TrainingRun.objects.create(
        name="churn-br",
        purpose=Purpose.objects.order_by("code").first(),
        verdict="allow",
        model_name="churn",
        created_by_name="test",
    )
    TrainingRunDataset.objects.create(run=run, dataset=dataset)
    capture = django_capture_on_commit_callbacks
    request = verify(capture, ask(capture, "erasure", jurisdiction="br"))
    assert request.status == S.IN_PROGRESS
    return request


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_an_officer_of_another_jurisdiction_gets_404_and_empty_lists(
    api_client, brazil, uk_officer
):
    task = brazil.tasks.get()
    decision = brazil.ml_decisions.get()
    connector = DatasetConnector.objects.get(dataset__slug="br-customers")
    client = api_client(uk_officer)
    assert client.get(f"{API}/subject-requests/{brazil.pk}/").status_code == 404
    for path, pk in (
        ("subject-tasks", task.pk),
        ("subject-ml-decisions", decision.pk),
        ("dataset-connectors", connector.pk),
    ):
        detail = client.get(f"{API}/{path}/{pk}/")
        assert detail.status_code == 404, (path, detail.content)
        assert SUBJECT not in detail.content.decode()
        assert _ids(client.get(f"{API}/{path}/")) == set(), path
    assert client.post(f"{API}/subject-tasks/{task.pk}/retry/").status_code == 404
    decide = client.post(
        f"{API}/subject-ml-decisions/{decision.pk}/decide/", {"decision": "retrain"}, format="json"
    )
    assert decide.status_code == 404


def test_an_officer_of_another_jurisdiction_gets_404_on_the_pages(client, brazil, uk_officer):
    task = brazil.tasks.get()
    decision = brazil.ml_decisions.get()
    client.force_login(uk_officer)
    page = client.get(reverse("workflows:subject-task-detail", args=[task.pk]))
    assert page.status_code == 404 and SUBJECT not in page.content.decode()
    queue = client.get(reverse("workflows:subject-task-list") + "?done=1")
    assert queue.status_code == 200 and b"br-customers" not in queue.content
    decided = client.post(
        reverse("workflows:subject-ml-decide", args=[decision.pk]), {"decision": "retrain"}
    )
    assert decided.status_code == 404
    decision.refresh_from_db()
    assert decision.decision == ""


@pytest.mark.parametrize("who", ["data_owner", "br_officer", "privacy_officer"])
def test_the_owner_and_the_responsible_officers_see_the_task_and_who_the_subject_is(
    request, api_client, client, brazil, who
):
    person = request.getfixturevalue(who)
    task = brazil.tasks.get()
    detail = api_client(person).get(f"{API}/subject-tasks/{task.pk}/")
    assert detail.status_code == 200 and detail.json()["identifiers"] == {"email": SUBJECT}
    assert _ids(api_client(person).get(f"{API}/subject-tasks/")) == {task.pk}
    assert _ids(api_client(person).get(f"{API}/subject-ml-decisions/")) == {
        brazil.ml_decisions.get().pk
    }
    assert len(_ids(api_client(person).get(f"{API}/dataset-connectors/"))) == 1
    client.force_login(person)
    page = client.get(reverse("workflows:subject-task-detail", args=[task.pk]))
    assert page.status_code == 200 and SUBJECT in page.content.decode()


def test_an_officer_who_owns_a_dataset_sees_its_task_elsewhere_but_not_the_rest(
    api_client, brazil, data_owner, uk_officer, django_capture_on_commit_callbacks
):
    """The UK officer owns a UK dataset: their own task is shown; Brazil's stay hidden."""
    make_dataset(
        uk_officer,
        slug="uk-customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["uk"],
    )
    capture = django_capture_on_commit_callbacks
    uk = verify(capture, ask(capture, "access", email="una@example.org", jurisdiction="uk"))
    theirs = SubjectTask.objects.get(request=uk)
    assert _ids(api_client(uk_officer).get(f"{API}/subject-tasks/")) == {theirs.pk}
    assert _ids(api_client(data_owner).get(f"{API}/subject-tasks/")) == {brazil.tasks.get().pk}


@pytest.mark.parametrize("who", ["executive", "auditor"])
def test_readers_see_the_request_and_its_tasks_but_never_identifiers(
    request, api_client, client, brazil, who
):
    person = request.getfixturevalue(who)
    report = api_client(person).get(f"{API}/subject-requests/{brazil.pk}/report/")
    assert report.status_code == 200
    assert [t["dataset_slug"] for t in report.json()["tasks"]] == ["br-customers"]
    assert SUBJECT not in report.content.decode()
    task = brazil.tasks.get()
    assert api_client(person).get(f"{API}/subject-tasks/{task.pk}/").status_code == 403
    client.force_login(person)
    page = client.get(reverse("workflows:subject-detail", args=[brazil.pk]))
    assert page.status_code == 200 and SUBJECT not in page.content.decode()
    assert b"br-customers" in page.content


def test_a_scoped_officers_task_list_costs_a_fixed_number_of_queries(
    api_client, brazil, br_officer, django_assert_max_num_queries
):
    client = api_client(br_officer)
    with django_assert_max_num_queries(8):
        assert len(_ids(client.get(f"{API}/subject-tasks/"))) == 1


def test_who_may_approve_a_connector_is_who_answers_for_it(brazil, br_officer, uk_officer):
    """The officers of its subjects' jurisdiction and of where it is stored; no one else."""
    from requests.subjects.connectors import may_approve_connector

    connector = DatasetConnector.objects.get(dataset__slug="br-customers")
    eu_officer = _officer_of("eve-eu-officer", connector.dataset.jurisdiction_id)
    assert connector.dataset.jurisdiction_id not in ("br", "uk")
    assert may_approve_connector(br_officer, connector)
    assert may_approve_connector(eu_officer, connector)
    assert not may_approve_connector(uk_officer, connector)
    assert not may_approve_connector(connector.dataset.owner, connector)
