"""Fixtures for telemetry: a registered source and its token, datasets with known answers."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from monitoring.incidents import anomalies
from monitoring.telemetry import services
from tests.factories import make_dataset

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_baselines():
    anomalies.forget_history()
    yield
    anomalies.forget_history()


@pytest.fixture
def source_and_token(privacy_officer):
    return services.telemetry_source_register(actor=privacy_officer, name="pipeline-a")


@pytest.fixture
def source(source_and_token):
    return source_and_token[0]


@pytest.fixture
def telemetry_client(source_and_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {source_and_token[1]}")
    return client


@pytest.fixture
def eu_dataset(data_owner):
    """Personal data stored in Ireland, processable in Frankfurt too; nowhere else."""
    return make_dataset(
        owner=data_owner,
        slug="eu-customers",
        uri="s3://eu-bucket/customers",
        storage_region="aws:eu-west-1",
        lawful_basis="consent",
        allowed_processing_regions=["aws:eu-central-1"],
    )


@pytest.fixture
def other_dataset(other_owner):
    """Not personal, stored in Virginia."""
    return make_dataset(owner=other_owner, slug="us-metrics", storage_region="aws:us-east-1")


def event(dataset="eu-customers", dest="aws:eu-west-1", kind="read", at=None, **extra) -> dict:
    """One telemetry event as a client sends it."""
    at = at or timezone.now() - dt.timedelta(seconds=5)
    body = {
        "id": extra.pop("id", f"e-{next(_ids)}"),
        "time": at.isoformat().replace("+00:00", "Z"),
        "kind": kind,
        "dataset": dataset,
        "actor": extra.pop("actor", "etl-bot"),
        "destination_region": dest,
        "bytes": extra.pop("bytes", 1000),
        "records": extra.pop("records", 10),
    }
    body.update(extra)
    return body


@pytest.fixture
def tasks_in_process():
    """Run queued Celery tasks in this process (with REDIS_URL they would wait for a worker)."""
    from governance.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before
