"""Helpers shared by the data-subject request tests: datasets, asking, verifying."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.core import mail
from django.core.cache import cache

from requests.models import SubjectRequest
from requests.subjects import intake, verification
from tests.factories import make_dataset

SUBJECT = "sam.subject@example.org"


@contextmanager
def tasks_in_process():
    """Queued tasks run in the test's process (with REDIS_URL set they would wait in Redis, or
    run on a live worker, which sends its e-mails from its own process)."""
    from governance.celery import app

    before, app.conf.task_always_eager = app.conf.task_always_eager, True
    try:
        yield app
    finally:
        app.conf.task_always_eager = before


@pytest.fixture
def eager():
    with tasks_in_process() as app:
        yield app


@pytest.fixture
def fresh_throttle():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def crm(data_owner):
    """EU customers' contact data: holds the subject's e-mail."""
    return make_dataset(
        data_owner,
        slug="crm",
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )


@pytest.fixture
def billing(other_owner):
    """Personal data whose subjects' jurisdictions were never recorded: included, to be safe."""
    return make_dataset(
        other_owner, slug="billing", lawful_basis="contract", personal_data_categories=["financial"]
    )


@pytest.fixture
def unrelated(data_owner, other_owner):
    """Datasets discovery must leave out: not personal; Californians only."""
    return [
        make_dataset(data_owner, slug="clicks"),
        make_dataset(
            other_owner,
            slug="us-crm",
            lawful_basis="consent",
            personal_data_categories=["contact"],
            subject_jurisdictions=["us-ca"],
        ),
    ]


def ask(capture, type_="access", email=SUBJECT, jurisdiction="eu", **extra) -> SubjectRequest:
    """The public asks (the verification mail goes out on commit)."""
    with capture(execute=True):
        return intake.subject_request_create(
            actor=None,
            type=type_,
            jurisdiction=jurisdiction,
            identifiers={"email": email, **extra.pop("identifiers", {})},
            **extra,
        )


def last_code(request: SubjectRequest) -> tuple[str, str]:
    """The code and link token of the last verification mail about this request."""
    body = next(
        m.body
        for m in reversed(mail.outbox)
        if m.subject == f"[{request.reference}] Please confirm your request"
    )
    code = re.search(r"code (\d{6})", body).group(1)
    token = re.search(r"/verify/[^/\s]+/([^/\s]+)/", body).group(1)
    return code, token


def verify(capture, request: SubjectRequest) -> SubjectRequest:
    code, _ = last_code(request)
    with capture(execute=True):
        verified = verification.verification_check(subject_request=request, code=code)
    verified.refresh_from_db()  # discovery ran on commit
    return verified


def approve(capture, request: SubjectRequest, officer, *, confirm_empty: bool = False):
    """The officer's approval of a reviewed answer: it is built and sent."""
    from requests.subjects import officer_steps

    with capture(execute=True):
        officer_steps.subject_request_close(
            actor=officer, subject_request=request, confirm_empty=confirm_empty
        )
    request.refresh_from_db()
    return request
