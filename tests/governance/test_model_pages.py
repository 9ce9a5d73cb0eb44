"""The model pages: the list and one model (lineage, deployments, history) for every role,
registration and deployment through their forms, refusals for a colleague and an outsider."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from governance.models import ModelDeployment, TrainedModel
from tests.governance.model_setup import (
    FRANKFURT,
    MUMBAI,
    clicks_data,
    health_data,
    registered_model,
    training_run,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(data_owner):
    return training_run(data_owner, [health_data(data_owner), clicks_data(data_owner)])


@pytest.fixture
def model(data_owner, run):
    return registered_model(data_owner, [run])


def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_list_shows_each_model_with_where_it_is_served_in_flat_queries(
    client, data_owner, run, auditor
):
    registered_model(data_owner, [run], version="1")
    signed_in(client, auditor).get(reverse("governance:model-list"))
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("governance:model-list"))
    for version in ("2", "3"):
        registered_model(data_owner, [run], version=version)
    with CaptureQueriesContext(connection) as three:
        page = client.get(reverse("governance:model-list"))
    assert page.status_code == 200
    assert page.content.decode().count("not served") == 3
    assert len(three) == len(one)


def test_an_outsider_may_not_see_the_models(client, outsider, model):
    signed_in(client, outsider)
    assert client.get(reverse("governance:model-list")).status_code == 403
    assert client.get(reverse("governance:model-detail", args=[model.pk])).status_code == 403


def test_the_owner_registers_a_model_through_the_form(client, data_owner, run):
    answer = signed_in(client, data_owner).post(
        reverse("governance:model-create"),
        {"name": "triage", "version": "9", "uri": "s3://m/9", "training_runs": [run.pk]},
    )
    made = TrainedModel.objects.get(version="9")
    assert answer.status_code == 302
    assert answer["Location"] == reverse("governance:model-detail", args=[made.pk])


def test_a_form_without_a_run_is_a_400_naming_it(client, data_owner):
    answer = signed_in(client, data_owner).post(
        reverse("governance:model-create"), {"name": "triage", "version": "9", "uri": "s3://m"}
    )
    assert answer.status_code == 400
    assert "training_runs" in answer.context["form"].errors


def test_a_denied_deployment_shows_the_law_and_the_data_on_the_page(client, data_owner, model):
    signed_in(client, data_owner)
    answer = client.post(
        reverse("governance:model-deploy", args=[model.pk]),
        {"region": MUMBAI, "purpose": "model-training"},
        follow=True,
    )
    html = answer.content.decode()
    assert f"Deployment to {MUMBAI} denied" in html
    assert "Needs a transfer mechanism" in html
    assert 'href="/catalog/eu-health/"' in html
    assert ModelDeployment.objects.get().status == "denied"


def test_an_allowed_deployment_is_served_and_retired_from_the_page(client, data_owner, model):
    signed_in(client, data_owner)
    client.post(
        reverse("governance:model-deploy", args=[model.pk]),
        {"region": FRANKFURT, "purpose": "model-training"},
    )
    deployment = ModelDeployment.objects.get()
    assert deployment.status == "active"
    page = client.get(reverse("governance:model-detail", args=[model.pk])).content.decode()
    assert "Retire" in page

    client.post(reverse("governance:deployment-retire", args=[deployment.pk]))
    deployment.refresh_from_db()
    assert deployment.status == "retired"


def test_a_colleague_sees_the_model_but_no_deploy_form_and_may_not_deploy(
    client, other_owner, model
):
    signed_in(client, other_owner)
    page = client.get(reverse("governance:model-detail", args=[model.pk]))
    assert page.status_code == 200 and "deploy-form" not in page.content.decode()
    refused = client.post(
        reverse("governance:model-deploy", args=[model.pk]),
        {"region": FRANKFURT, "purpose": "model-training"},
    )
    assert refused.status_code == 403
    assert not ModelDeployment.objects.exists()


def test_a_bad_region_says_so_and_deploys_nothing(client, data_owner, model):
    signed_in(client, data_owner)
    answer = client.post(
        reverse("governance:model-deploy", args=[model.pk]),
        {"region": "aws:nowhere-1", "purpose": "model-training"},
        follow=True,
    )
    assert "Not deployed: region" in answer.content.decode()
    assert not ModelDeployment.objects.exists()
