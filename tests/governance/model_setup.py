"""A trained model's world, shared by the model registry's tests: EU health data whose house
rules allow Mumbai and Frankfurt, non-personal clicks, a run that read both."""

from __future__ import annotations

from catalog.models import Region
from governance.checks.services import training_run_register
from governance.ml.services import model_register
from governance.models import Purpose, TrainingRun
from tests.factories import make_dataset

IRELAND = "aws:eu-west-1"
FRANKFURT = "aws:eu-central-1"
MUMBAI = "aws:ap-south-1"


def health_data(owner, slug="eu-health"):
    return make_dataset(
        owner,
        slug=slug,
        lawful_basis="consent",
        personal_data_categories=["health"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[MUMBAI, FRANKFURT],
    )


def clicks_data(owner, slug="clicks"):
    return make_dataset(
        owner, slug=slug, sensitivity="internal", allowed_processing_regions=[MUMBAI, FRANKFURT]
    )


def training_run(actor, datasets, name="triage-training") -> TrainingRun:
    run, _ = training_run_register(
        actor=actor,
        name=name,
        purpose=Purpose.objects.get(code="model-training"),
        compute_regions=[Region.objects.get(code=IRELAND)],
        inputs=[(ds, "v1") for ds in datasets],
        model_name="triage",
    )
    return run


def registered_model(owner, runs, name="triage", version="1.0.0"):
    return model_register(
        actor=owner,
        name=name,
        version=version,
        uri=f"s3://models/{name}/{version}",
        training_runs=runs,
    )
