"""Helpers shared by the consent tests: a dataset held on consent, its notice, a collecting
system's account, and a batch of events."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission

from catalog.models import Jurisdiction
from governance.consent.services import consent_notice_publish
from governance.models import Purpose, TrainingRun, TrainingRunDataset
from governance.policy.index import forget_index
from tests.factories import UserFactory, make_dataset

SUBJECT = "sam.subject@example.org"


@pytest.fixture(autouse=True)
def fresh_policy_cache():
    forget_index()
    yield
    forget_index()


@pytest.fixture
def newsletter(data_owner):
    """EU subscribers, held on consent."""
    return make_dataset(
        data_owner,
        slug="newsletter",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )


@pytest.fixture
def app_usage(other_owner):
    """Another dataset the same notice asks consent for (the notice's dataset group)."""
    return make_dataset(
        other_owner,
        slug="app-usage",
        lawful_basis="consent",
        personal_data_categories=["behavioural"],
        subject_jurisdictions=["eu"],
    )


@pytest.fixture
def notice(privacy_officer, newsletter, app_usage):
    """Signup notice v3: covers analytics and model training, not marketing."""
    return consent_notice_publish(
        actor=privacy_officer,
        code="signup",
        version="3",
        title="Sign-up consent",
        jurisdiction=Jurisdiction.objects.get(code="eu"),
        datasets=[newsletter, app_usage],
        purposes=list(Purpose.objects.filter(code__in=["analytics", "model-training"])),
        published_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    )


@pytest.fixture
def collector(db):
    """The consent platform's account: it may record consent, nothing else."""
    user = UserFactory(username="consent-platform")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="workflows", codename="add_consentevent")
    )
    return user


def event(key: str | None = "evt-1", **fields) -> dict:
    body = {
        "subject": SUBJECT,
        "purpose": "model-training",
        "notice": "signup",
        "notice_version": "3",
        "dataset": "newsletter",
        "state": "given",
        "at": "2026-11-01T10:00:00Z",
        "channel": "web_form",
        **fields,
    }
    if key is not None:
        body["key"] = key
    return body


def training_run(name: str, datasets, model: str = "") -> TrainingRun:
    run = TrainingRun.objects.create(
        name=name,
        purpose=Purpose.objects.get(code="model-training"),
        verdict="allow",
        model_name=model or f"{name}-model",
        created_by_name="test",
    )
    for dataset in datasets:
        TrainingRunDataset.objects.create(run=run, dataset=dataset)
    return run
