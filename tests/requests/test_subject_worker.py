"""Discovery on a real Celery worker (subprocess) against Redis and the PostgreSQL test
database: the verification's commit queues it, redeliveries change nothing, it happens once."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from governance.models import LedgerEntry
from requests.models import SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from tests.requests.subject_setup import ask, billing, crm, last_code  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not django_settings.REDIS_URL or connection.vendor != "postgresql",
        reason="needs REDIS_URL and PostgreSQL (a worker shares the test database)",
    ),
]


def wait_for(condition, timeout=60.0, what="the worker"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"Timed out waiting for {what}")


@pytest.fixture
def worker_queue(settings, tmp_path):
    """A Celery worker on a queue of its own (other test runs share the Redis database)."""
    from tests.live import server_environment

    queue = f"locus-dsr-test-{uuid.uuid4().hex[:8]}"
    settings.SUBJECT_REQUESTS_QUEUE = queue
    env = {**server_environment(), "SUBJECT_REQUESTS_QUEUE": queue}
    env["CELERY_TASK_ALWAYS_EAGER"] = "0"
    log = (tmp_path / "worker.log").open("wb")
    command = [
        str(Path(sys.executable).with_name("celery")), "-A", "governance.celery", "worker",
        "-Q", queue, "--pool", "solo", "-c", "1", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "-l", "info",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield queue, tmp_path / "worker.log"
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    if os.environ.get("LOCUS_SHOW_WORKER_LOG"):
        print((tmp_path / "worker.log").read_text())


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_discovery_on_a_real_worker_completes_exactly_once(
    worker_queue, crm, billing, django_capture_on_commit_callbacks
):
    from requests import subjects
    from requests.tasks import subject_discovery

    queue, log = worker_queue
    request = subjects.subject_request_create(
        actor=None, type="access", jurisdiction="eu", identifiers={"email": "w@example.org"}
    )
    code, _ = last_code(request)
    subjects.verification_check(request=request, code=code)  # queues discovery on commit
    for _ in range(2):  # a redelivery, a requeue by the SLA watch: both change nothing
        subject_discovery.apply_async(args=[request.pk], queue=queue)
    wait_for(
        lambda: SubjectRequest.objects.get(pk=request.pk).status == S.IN_PROGRESS,
        what="discovery on the worker",
    )
    wait_for(lambda: log.read_text().count("subject_discovery") >= 6, what="three deliveries")
    assert SubjectTask.objects.filter(request=request).count() == 2
    assert LedgerEntry.objects.filter(kind="subject_request.discover").count() == 1
    assert " succeeded in " in log.read_text()
