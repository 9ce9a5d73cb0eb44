"""Discovery on a real Celery worker (tests/worker.py) against Redis and the PostgreSQL test
database: the verification's commit queues it, redeliveries change nothing, it happens once."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import pytest
from django.db import connection

from governance.models import LedgerEntry
from requests.models import SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from requests.subjects import intake, verification
from requests.tasks import subject_discovery
from tests.requests.subject_setup import billing, crm, last_code, tasks_in_process  # noqa: F401
from tests.worker import celery_worker, wait_for  # noqa: F401  (fixture)

pytestmark = pytest.mark.live


def test_discovery_on_a_real_worker_completes_exactly_once(celery_worker, crm, billing):
    if connection.vendor != "postgresql":
        pytest.skip("the worker shares the test database: PostgreSQL")
    with tasks_in_process():  # the verification mail is sent here, where the test reads it
        request = intake.subject_request_create(
            actor=None, type="access", jurisdiction="eu", identifiers={"email": "w@example.org"}
        )
    code, _ = last_code(request)
    verification.verification_check(
        subject_request=request, code=code
    )  # queues discovery on commit
    for _ in range(2):  # a redelivery, a requeue by the SLA watch: both change nothing
        subject_discovery.apply_async(args=[request.pk], queue=celery_worker.queue)
    wait_for(
        lambda: SubjectRequest.objects.get(pk=request.pk).status == S.IN_PROGRESS,
        what="discovery on the worker",
    )
    wait_for(
        lambda: celery_worker.output().count("subject_discovery") >= 6, what="three deliveries"
    )
    assert SubjectTask.objects.filter(request=request).count() == 2
    assert LedgerEntry.objects.filter(kind="subject_request.discover").count() == 1
    assert " succeeded in " in celery_worker.output()
