"""Safe concurrent edits: every detail answer carries an ETag; a write sent with a stale
If-Match is a 412 that changes nothing (a dataset edit, a transfer-exception step, an incident
step); a current one, `*` or a weak form of it goes through; no If-Match, as before."""

from __future__ import annotations

import pytest

from catalog.models import Dataset
from monitoring.models import Incident
from monitoring.telemetry.ingest import telemetry_ingest
from requests.models import ExceptionStatus, TransferException
from tests.factories import make_dataset
from tests.monitoring.conftest import event, source, source_and_token  # noqa: F401 (fixtures)
from tests.requests.transfer_setup import *  # noqa: F403 (fixtures)
from tests.requests.transfer_setup import ask

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(data_owner):
    return make_dataset(data_owner, slug="web-logs", description="Clicks")


def test_a_dataset_answers_with_an_etag_that_changes_with_it(api_client, data_owner, dataset):
    client = api_client(data_owner)
    url = f"/api/v1/datasets/{dataset.slug}/"

    read = client.get(url)
    edited = client.patch(
        url, {"description": "Clicks, by day"}, format="json", HTTP_IF_MATCH=read["ETag"]
    )

    assert read.status_code == 200 and read["ETag"].startswith('"')
    assert edited.status_code == 200, edited.content
    assert edited["ETag"] != read["ETag"]
    assert client.get(url)["ETag"] == edited["ETag"]


def test_a_stale_if_match_on_a_dataset_is_a_412_that_changes_nothing(
    api_client, data_owner, privacy_officer, dataset
):
    url = f"/api/v1/datasets/{dataset.slug}/"
    mine, theirs = api_client(data_owner), api_client(privacy_officer)
    seen = mine.get(url)["ETag"]
    assert theirs.patch(url, {"description": "Theirs"}, format="json").status_code == 200

    late = mine.patch(url, {"description": "Mine"}, format="json", HTTP_IF_MATCH=seen)

    assert late.status_code == 412
    assert "changed since you read it" in late.json()["If-Match"][0]
    assert late["ETag"] == mine.get(url)["ETag"] != seen
    assert Dataset.objects.get(pk=dataset.pk).description == "Theirs"


@pytest.mark.parametrize("given", ["*", "W/{tag}", '"other", {tag}'])
def test_any_current_form_of_the_tag_goes_through(api_client, data_owner, dataset, given):
    client = api_client(data_owner)
    url = f"/api/v1/datasets/{dataset.slug}/"
    tag = client.get(url)["ETag"]

    answer = client.patch(
        url, {"description": "Fine"}, format="json", HTTP_IF_MATCH=given.format(tag=tag)
    )

    assert answer.status_code == 200


def test_a_stale_if_match_on_an_exception_step_is_a_412(
    api_client, data_owner, eu_officer, eu_customers
):
    exception = ask(data_owner, [eu_customers], submit=True)
    officer = api_client(eu_officer)
    url = f"/api/v1/transfer-exceptions/{exception.pk}/"
    seen = officer.get(url)["ETag"]
    assert officer.post(f"{url}start-review/", {"comment": ""}, format="json").status_code == 200

    late = officer.post(f"{url}reject/", {"comment": "No"}, format="json", HTTP_IF_MATCH=seen)

    assert late.status_code == 412
    assert TransferException.objects.get(pk=exception.pk).status == ExceptionStatus.UNDER_REVIEW
    fresh = officer.get(url)["ETag"]
    rejected = officer.post(f"{url}reject/", {"comment": "No"}, format="json", HTTP_IF_MATCH=fresh)
    assert rejected.status_code == 200, rejected.content


def test_a_stale_if_match_on_an_incident_step_is_a_412(
    api_client,
    privacy_officer,
    source,  # noqa: F811 (a fixture)
    data_owner,
):
    make_dataset(
        data_owner,
        slug="eu-customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    incident = Incident.objects.get()
    client = api_client(privacy_officer)
    url = f"/api/v1/incidents/{incident.pk}/"
    seen = client.get(url)["ETag"]
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])  # it grew meanwhile

    late = client.post(f"{url}acknowledge/", {}, format="json", HTTP_IF_MATCH=seen)

    assert late.status_code == 412
    assert Incident.objects.get().status == Incident.Status.OPEN
    assert client.post(f"{url}acknowledge/", {}, format="json").status_code == 200  # no If-Match
