"""The model registry's services: registration with its runs, history, object permissions,
deployments through the engine (a denial recorded with its causes), retirement, the ledger."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from guardian.shortcuts import get_perms

from catalog.errors import StateConflict
from catalog.models import Region
from governance.ml.selectors import served_by_run
from governance.ml.services import (
    deployment_retire,
    model_check,
    model_deploy,
    model_update,
)
from governance.models import (
    LedgerEntry,
    LocalityDecision,
    ModelDeployment,
    Purpose,
    TrainedModelChange,
)
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
def model(data_owner):
    run = training_run(data_owner, [health_data(data_owner), clicks_data(data_owner)])
    return registered_model(data_owner, [run])


def deploy(actor, model, region, **kwargs):
    return model_deploy(
        actor=actor,
        trained_model=model,
        region=Region.objects.get(code=region),
        purpose=Purpose.objects.get(code="model-training"),
        **kwargs,
    )


def test_registration_makes_the_owner_able_to_change_it_and_records_it(model, data_owner):
    assert get_perms(data_owner, model) == ["change_trainedmodel"]
    change = TrainedModelChange.objects.get(model_ref=model.pk)
    assert (change.revision, change.action) == (1, "created")
    assert change.after["training_runs"] == [model.training_runs.get().pk]
    entry = LedgerEntry.objects.filter(kind="model.registered").get()
    assert f"model:{model.pk}" in entry.subjects


def test_a_model_needs_a_training_run(data_owner):
    with pytest.raises(ValidationError) as raised:
        registered_model(data_owner, [])
    assert "training_runs" in raised.value.message_dict


def test_a_name_and_version_is_registered_once(model, data_owner):
    with pytest.raises(ValidationError) as raised:
        registered_model(data_owner, list(model.training_runs.all()))
    assert "version" in raised.value.message_dict


@pytest.mark.parametrize("role", ["executive", "auditor", "outsider"])
def test_only_roles_that_register_models_may(request, role, model):
    with pytest.raises(PermissionDenied):
        registered_model(
            request.getfixturevalue(role), list(model.training_runs.all()), version="2"
        )


def test_an_update_is_a_new_revision_with_before_and_after(model, data_owner):
    model_update(actor=data_owner, trained_model=model, uri="s3://models/triage/1.0.1")

    change = TrainedModelChange.objects.filter(model_ref=model.pk).order_by("-revision").first()
    assert change.revision == 2
    assert change.changed_fields == ["uri"]
    assert change.before["uri"] == "s3://models/triage/1.0.0"


def test_another_owner_may_neither_change_nor_deploy_it(model, other_owner, privacy_officer):
    with pytest.raises(PermissionDenied):
        model_update(actor=other_owner, trained_model=model, uri="s3://elsewhere")
    with pytest.raises(PermissionDenied):
        deploy(other_owner, model, FRANKFURT)
    deployment, _ = deploy(privacy_officer, model, FRANKFURT)  # an officer may
    assert deployment.status == "active"


def test_a_deployment_where_the_law_needs_a_mechanism_is_denied_and_recorded(model, data_owner):
    deployment, _ = deploy(data_owner, model, MUMBAI, endpoint="https://triage.example/in")

    assert deployment.status == ModelDeployment.Status.DENIED
    assert deployment.outcome == "deny"
    assert deployment.causes == ["eu-health"]
    assert deployment.legal_outcome == "needs_mechanism"
    assert "GDPR" in deployment.legal_citation
    assert deployment.house_outcome == "allow"
    decisions = LocalityDecision.objects.filter(trained_model=model, context="model_deploy")
    assert sorted(decisions.values_list("dataset_slug", "outcome")) == [
        ("clicks", "allow"),
        ("eu-health", "deny"),
    ]
    entry = LedgerEntry.objects.filter(kind="model.deploy_denied").get()
    assert "dataset:eu-health" in entry.subjects
    assert TrainedModelChange.objects.filter(model_ref=model.pk, action="deploy_denied").exists()


def test_an_allowed_deployment_serves_and_can_be_retired_once(model, data_owner):
    deployment, answer = deploy(data_owner, model, FRANKFURT)
    assert deployment.status == "active" and answer.allowed

    deployment_retire(actor=data_owner, deployment=deployment)
    deployment.refresh_from_db()
    assert deployment.status == "retired" and deployment.retired_at is not None
    with pytest.raises(StateConflict):
        deployment_retire(actor=data_owner, deployment=deployment)


def test_a_check_for_inference_records_without_deploying(model, engineer):
    answer = model_check(
        actor=engineer,
        trained_model=model,
        action="infer",
        region=Region.objects.get(code=MUMBAI),
        purpose=Purpose.objects.get(code="model-training"),
    )

    assert answer.outcome == "deny" and answer.causes == ("eu-health",)
    assert not ModelDeployment.objects.exists()
    assert LocalityDecision.objects.filter(trained_model=model, action="infer").count() == 2


def test_a_check_of_a_training_action_is_refused_naming_the_action(model, engineer):
    with pytest.raises(ValidationError) as raised:
        model_check(
            actor=engineer,
            trained_model=model,
            action="train",
            region=Region.objects.get(code=MUMBAI),
            purpose=Purpose.objects.get(code="model-training"),
        )
    assert "action" in raised.value.message_dict


def test_where_each_model_of_a_run_is_served(model, data_owner):
    deploy(data_owner, model, FRANKFURT, endpoint="https://triage.example/eu")
    deploy(data_owner, model, MUMBAI)  # denied: not served there
    run = model.training_runs.get()

    served = served_by_run([run.pk])

    assert served == {
        run.pk: [
            {
                "id": model.pk,
                "model": "triage 1.0.0",
                "served_in": [{"region": FRANKFURT, "endpoint": "https://triage.example/eu"}],
            }
        ]
    }
