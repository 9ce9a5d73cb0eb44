"""A consent withdrawal reaches the models trained on the data: each decision names the
registered models of its run and the regions each is served from now."""

# ruff: noqa: F811  (the fixtures imported from consent_setup are parameters of the tests)

from __future__ import annotations

import pytest

from catalog.models import Region
from governance.ml.services import model_deploy, model_register
from governance.models import Purpose
from tests.consent_setup import (  # noqa: F401  (fixtures)
    app_usage,
    collector,
    event,
    fresh_policy_cache,
    newsletter,
    notice,
    training_run,
)

pytestmark = pytest.mark.django_db
LISTED = "/api/v1/subject-ml-decisions/"


def test_a_withdrawals_decision_shows_where_each_model_of_the_run_is_served(
    token_client, collector, notice, newsletter, data_owner, api_client
):
    run = training_run("churn-v3", [newsletter])
    served = model_register(
        actor=data_owner, name="churn", version="3", uri="s3://m/churn/3", training_runs=[run]
    )
    model_register(
        actor=data_owner, name="churn", version="3-shadow", uri="s3://m/x", training_runs=[run]
    )
    model_deploy(
        actor=data_owner,
        trained_model=served,
        region=Region.objects.get(code="aws:eu-west-1"),
        purpose=Purpose.objects.get(code="model-training"),
        endpoint="https://churn.example/eu",
    )
    token_client(collector).post(
        "/api/v1/consents/events/", {"events": [event("evt-2", state="withdrawn")]}, format="json"
    )

    listed = api_client(data_owner).get(LISTED).json()["results"]
    one = api_client(data_owner).get(f"{LISTED}{listed[0]['id']}/").json()

    expected = [
        {
            "id": served.pk,
            "model": "churn 3",
            "served_in": [{"region": "aws:eu-west-1", "endpoint": "https://churn.example/eu"}],
        },
        {"id": served.pk + 1, "model": "churn 3-shadow", "served_in": []},
    ]
    assert listed[0]["models"] == expected
    assert one["models"] == expected
