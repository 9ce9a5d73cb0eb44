"""An incident's own page and its API detail: why (the rule and its kind), whose data from where
to where, the events and runs (paged), the timeline with comments, related incidents, the ways
out; who may read it and who may act."""

import datetime as dt
import re
import uuid

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import LedgerEntry, Responsibility
from monitoring.incidents import detail, services
from monitoring.models import Incident, IncidentEvent
from monitoring.telemetry.ingest import telemetry_ingest
from tests.factories import UserFactory
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

INDIA = "aws:ap-south-1"


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def incident(source, eu_dataset):
    run = str(uuid.uuid4())
    now = timezone.now()
    items = [
        event(dest=INDIA, at=now - dt.timedelta(minutes=m), run_id=run, actor="trainer")
        for m in range(1, 26)
    ]
    telemetry_ingest(source=source, items=items)
    return Incident.objects.get()


def test_the_page_says_why_whose_data_and_what_to_do(incident, privacy_officer, data_owner):
    page = _as(privacy_officer).get(f"/monitoring/incidents/{incident.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Why: the law was broken" in html
    assert "GDPR Arts. 44-49 (Chapter V)" in html  # the article
    assert "the dataset's declared regions (aws:eu-west-1, aws:eu-central-1)" in html
    assert data_owner.get_username() in html or data_owner.get_full_name() in html
    assert "Events (25)" in html and "Page 1 of 2" in html
    assert "Runs (1)" in html
    assert f'href="/monitoring/incidents/{incident.pk}/exception/"' in html
    assert "Request a transfer exception" in html and "Mark contained" in html
    assert '<option value="" selected>— choose a person —</option>' in html
    second = _as(privacy_officer).get(f"/monitoring/incidents/{incident.pk}/?events=2")
    assert "Page 2 of 2" in second.content.decode()


def test_a_house_rule_incident_names_the_officers_rule(source, other_dataset, privacy_officer):
    from catalog.models import Country
    from governance.policy.rules import rule_create

    rule_create(
        actor=privacy_officer,
        regions=[],
        countries=[Country.objects.get(code="US")],
        name="metrics stay out of the US",
        dataset=other_dataset,
        effect="deny",
        priority=500,
    )
    telemetry_ingest(source=source, items=[event("us-metrics", dest="aws:us-east-1")])
    incident = Incident.objects.get()
    html = _as(privacy_officer).get(f"/monitoring/incidents/{incident.pk}/").content.decode()
    assert "Why: a house rule was broken" in html
    assert "“metrics stay out of the US”" in html


def test_comments_and_steps_make_the_timeline(incident, privacy_officer):
    client = _as(privacy_officer)
    url = f"/monitoring/incidents/{incident.pk}/"
    answer = client.post(url + "acknowledge", {"next": url})
    assert answer.status_code == 302 and answer.url == url
    answer = client.post(url + "comment", {"text": "Asked the ML team", "next": url})
    assert answer.status_code == 302 and answer.url == url
    client.post(url + "comment", {"text": "  ", "next": url})  # refused: nothing written
    kinds = list(IncidentEvent.objects.values_list("kind", flat=True))
    assert kinds == ["acknowledged", "comment"]
    assert LedgerEntry.objects.filter(kind="incident.comment").count() == 1
    html = client.get(url).content.decode()
    assert "Asked the ML team" in html and "Acknowledged" in html
    timeline = [m.kind for m in detail.timeline(incident)]
    assert timeline == ["opened", "acknowledged", "comment"]


def test_the_api_detail_has_the_same_facts(incident, privacy_officer, source, eu_dataset):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1", actor="trainer")])
    other = Incident.objects.exclude(pk=incident.pk).get()
    api = APIClient()
    api.force_authenticate(privacy_officer)
    data = api.get(f"/api/v1/incidents/{incident.pk}/").json()
    assert data["rule_kind"] == "law" and data["why"]["label"] == "GDPR Arts. 44-49 (Chapter V)"
    assert data["why"]["law"]["rule"] == "law:eu:transfer"
    assert data["why"]["house"]["rule"] == "builtin:dataset-allowed-regions"
    assert data["dataset_detail"]["owner"] == "olga-owner"
    assert data["runs"]["count"] == 1 and data["runs"]["first"][0]["violations"] == 25
    assert [m["kind"] for m in data["timeline"]] == ["opened"]
    assert data["related"] == [{"id": other.pk, "title": other.title, "status": "open"}]
    assert data["ways_out"]["exception"] == f"/monitoring/incidents/{incident.pk}/exception/"
    # The list stays light: no per-row facts.
    listed = api.get("/api/v1/incidents/").json()["results"][0]
    assert "timeline" not in listed
    answer = api.post(f"/api/v1/incidents/{incident.pk}/comment/", {"text": "Noted"})
    assert answer.status_code == 201 and answer.json()["note"] == "Noted"
    assert api.post(f"/api/v1/incidents/{incident.pk}/comment/", {}).json() == {
        "text": ["This field is required."]
    }
    runs = api.get(f"/api/v1/incidents/{incident.pk}/runs/").json()
    assert runs["count"] == 1


def test_the_api_timeline_is_paged_and_ordered(incident, privacy_officer):
    api = APIClient()
    api.force_authenticate(privacy_officer)
    for text in ("First", "Second"):
        api.post(f"/api/v1/incidents/{incident.pk}/comment/", {"text": text})
    url = f"/api/v1/incidents/{incident.pk}/timeline/"

    oldest = api.get(url, {"page_size": 2}).json()
    newest = api.get(url, {"ordering": "-at", "page_size": 1}).json()

    assert oldest["count"] == 3
    assert [m["kind"] for m in oldest["results"]] == ["opened", "comment"]
    assert [m["note"] for m in newest["results"]] == ["Second"]
    assert api.get(url, {"ordering": "kind"}).status_code == 400


def test_the_api_runs_are_paged_and_ordered_by_the_allowed_fields(
    incident, source, privacy_officer
):
    """Three runs: the fixture's 25 events (1 to 25 minutes ago), then two more, older."""
    now = timezone.now()
    older, oldest = "run-b-older", "run-a-oldest"
    telemetry_ingest(
        source=source,
        items=[
            event(dest=INDIA, at=now - dt.timedelta(minutes=40), run_id=older, actor="trainer"),
            event(dest=INDIA, at=now - dt.timedelta(minutes=41), run_id=older, actor="trainer"),
            event(dest=INDIA, at=now - dt.timedelta(minutes=50), run_id=oldest, actor="trainer"),
        ],
    )
    api = APIClient()
    api.force_authenticate(privacy_officer)
    url = f"/api/v1/incidents/{incident.pk}/runs/"
    first_run = api.get(url).json()["results"][0]["run_id"]

    def order(**query) -> list[str]:
        answer = api.get(url, query)
        assert answer.status_code == 200, answer.json()
        return [row["run_id"] for row in answer.json()["results"]]

    assert Incident.objects.count() == 1
    assert order() == [first_run, older, oldest]  # newest violation first by default
    assert order(ordering="last_violation_at") == [oldest, older, first_run]
    assert order(ordering="violations") == [oldest, older, first_run]
    assert order(ordering="-violations", page_size=1) == [first_run]
    assert order(ordering="run_id") == sorted([first_run, older, oldest])
    second_page = api.get(url, {"ordering": "first_violation_at", "page_size": 2, "page": 2})
    assert [row["run_id"] for row in second_page.json()["results"]] == [first_run]
    refused = api.get(url, {"ordering": "actor"})
    assert refused.status_code == 400 and "ordering" in refused.json()


def test_who_may_read_and_who_may_act(incident, executive, data_owner, other_owner, outsider):
    url = f"/monitoring/incidents/{incident.pk}/"
    assert "Add the comment" not in _as(executive).get(url).content.decode()  # reads only
    assert _as(data_owner).get(url).status_code == 200  # their dataset
    assert _as(other_owner).get(url).status_code == 404
    assert _as(outsider).get(url).status_code == 403
    assert _as(executive).post(url + "comment", {"text": "x"}).status_code == 403
    scoped = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=scoped, jurisdiction_id="br")
    assert _as(scoped).get(url).status_code == 404  # not their jurisdictions
    with pytest.raises(Exception, match="outside your jurisdictions"):
        services.incident_comment(actor=scoped, incident=incident, text="x")


def test_the_exception_link_is_pre_filled(incident, data_owner):
    html = _as(data_owner).get(f"/monitoring/incidents/{incident.pk}/exception/").content.decode()
    assert "New transfer exception" in html
    assert "eu-customers</textarea>" in html
    assert re.search(rf'value="{INDIA}"[^>]*checked', html)
    assert f"incident #{incident.pk}" in html


def test_the_pre_filled_exception_is_filed_by_the_transfer_workflow(incident, data_owner):
    from requests.models import TransferException
    from tests.requests.test_transfer_pages import form_data

    url = f"/monitoring/incidents/{incident.pk}/exception/"
    answer = _as(data_owner).post(
        url, form_data(destination_regions=[INDIA], title="Train in Mumbai", intent="save")
    )
    exception = TransferException.objects.get()
    assert answer.status_code == 302 and str(exception.pk) in answer["Location"]
    assert exception.title == "Train in Mumbai"
    assert _as(data_owner).post(url, {"title": "x"}).status_code == 400  # the form's own errors
