"""A real Celery worker SIGKILLed in the middle of a data-subject request, then a new worker:
each request completes exactly once (issue 9's fault injection, on the real services).

(a) Discovery: the test holds a SHARE lock on the task table, so the worker stops inside
    discovery's transaction (request row locked, datasets found, inserting the tasks).
(b) An erasure by the SQL connector in a database of subject data (a DSN; never Locus's own):
    the test lets the worker delete the subject's rows and commit them on the target, then stops
    it on the request's row before Locus records the result; the worker dies holding nothing
    but a lost transaction.

How the killed work comes back: not by the broker. The killed message is unacknowledged, and
Redis would hand it out again only after CELERY_VISIBILITY_TIMEOUT, whose restore also
redelivers every other process's unacknowledged messages on the shared Redis database, so
these tests rely on the SLA watch's requeue instead: the new worker runs with
SUBJECT_REQUEUE_AFTER_SECONDS and SUBJECT_CONNECTOR_LEASE_SECONDS of one second (ten minutes in
production) and the test sends it the watch's beat tick.
"""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import datetime as dt
import io
import json
import threading
import time
import zipfile

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from governance.models import LedgerEntry, Notification
from requests.models import (
    DatasetConnector,
    SubjectEvent,
    SubjectPackage,
    SubjectRequest,
    SubjectTask,
)
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import TaskStatus, unseal_bytes
from requests.subjects import packages, verification
from requests.tasks import subject_sla_watch
from tests.requests.subject_setup import (  # noqa: F401
    SUBJECT,
    approve,
    ask,
    billing,
    crm,
    last_code,
    tasks_in_process,
)
from tests.requests.subject_targets import subject_database_url, subject_pg_database  # noqa: F401
from tests.worker import CeleryWorker, celery_worker, wait_for  # noqa: F401  (fixture)

pytestmark = pytest.mark.live

TABLE = "dsr_fault_customers"
OTHER = "someone.else@example.org"


def _connect(name: str | None = None):
    """A session on Locus's test database, or on the subject database `name`."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=name or db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=False,
    )


class Hold:
    """Another session holds a lock (one SQL statement) until released."""

    def __init__(self, statement: str, params=(), database: str | None = None):
        self.statement, self.params, self.database = statement, params, database
        self.holding, self.released = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with _connect(self.database) as conn:
            conn.execute(self.statement, self.params)
            self.holding.set()
            self.released.wait(timeout=120)
            conn.rollback()

    def __enter__(self):
        self.thread.start()
        assert self.holding.wait(timeout=30), "the lock was not taken"
        return self

    def release(self):
        self.released.set()
        self.thread.join(timeout=30)

    def __exit__(self, *exc):
        self.release()


def _waiting_on_a_lock(query_start: str, database: str | None = None) -> bool:
    """A session of this database (or of the database named) is blocked on a lock running a
    statement that starts so."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = coalesce(%s, current_database()) "
            "AND wait_event_type = 'Lock' AND query LIKE %s",
            [database, query_start + "%"],
        )
        return cursor.fetchone()[0] > 0


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the locks that pause the worker need PostgreSQL")


@pytest.fixture
def scratch_table(postgres_only, subject_pg_database, monkeypatch):
    """The subject's rows (and another person's) in a table of a database of subject data (not
    Locus's), reachable as the DSN `scratch` by every worker started after this fixture."""
    dsn = subject_database_url(subject_pg_database)
    monkeypatch.setenv("SUBJECT_CONNECTOR_DSNS", f"scratch={dsn}")
    yield TABLE
    with _connect(subject_pg_database) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")


def _fill(table: str, database: str) -> None:
    with _connect(database) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT, plan TEXT)")
        conn.cursor().executemany(
            f"INSERT INTO {table} VALUES (%s, %s, %s)",
            [(1, SUBJECT, "gold"), (2, SUBJECT, "basic"), (3, OTHER, "gold")],
        )
        conn.commit()


def _rows(table: str, database: str) -> list[tuple]:
    with _connect(database) as conn:
        return [tuple(row) for row in conn.execute(f"SELECT id, email FROM {table} ORDER BY id")]


def _connector(dataset) -> DatasetConnector:
    """The DSN connector to the table, its version approved by a privacy officer."""
    return DatasetConnector.objects.create(
        dataset=dataset,
        kind="sql",
        identifier_kinds=["email"],
        dsn_setting="scratch",
        table=TABLE,
        identifier_column="email",
        identifier_kind="email",
        approved_version=1,
    )


def _successor(tmp_path, queue, monkeypatch) -> CeleryWorker:
    """A new worker that presumes work lost after one second (ten minutes in production)."""
    monkeypatch.setenv("SUBJECT_REQUEUE_AFTER_SECONDS", "1")
    monkeypatch.setenv("SUBJECT_CONNECTOR_LEASE_SECONDS", "1")
    worker = CeleryWorker(tmp_path, queue)
    worker.start()
    return worker


def _beat_tick_after(moment) -> None:
    """The SLA watch's periodic run, once what it looks at is older than its one second."""
    while timezone.now() < moment + dt.timedelta(seconds=1.5):
        time.sleep(0.1)
    subject_sla_watch.delay()


def _asked(capture, type_: str) -> SubjectRequest:
    """The public asks; the verification mail is sent here, where the test reads it (the
    worker would send it from its own process)."""
    with tasks_in_process():
        return ask(capture, type_)


def _asked_and_verified(capture) -> SubjectRequest:
    """The public asks; verifying commits and queues discovery on the worker."""
    request = _asked(capture, "access")
    code, _ = last_code(request)
    verification.verification_check(subject_request=request, code=code)
    return SubjectRequest.objects.get(pk=request.pk)


def _package_files(request) -> dict[str, bytes]:
    content = unseal_bytes(SubjectPackage.objects.get(request=request).content_sealed)
    assert packages.verify_zip(content) == []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_a_worker_killed_mid_discovery_leaves_the_request_to_complete_once(
    scratch_table,
    subject_pg_database,
    celery_worker,
    crm,
    billing,
    privacy_officer,
    tmp_path,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    _fill(scratch_table, subject_pg_database)
    _connector(crm)
    _connector(billing)
    with Hold("LOCK TABLE workflows_subjecttask IN SHARE MODE"):
        request = _asked_and_verified(django_capture_on_commit_callbacks)
        wait_for(
            lambda: _waiting_on_a_lock('INSERT INTO "workflows_subjecttask"'),
            what="the worker to stop inside discovery, inserting the tasks",
        )
        celery_worker.kill()
    request.refresh_from_db()
    assert request.status == S.VERIFIED  # the killed discovery left nothing behind
    assert not SubjectTask.objects.filter(request=request).exists()
    assert not LedgerEntry.objects.filter(kind="subject_request.discover").exists()

    successor = _successor(tmp_path, celery_worker.queue, monkeypatch)
    try:
        _beat_tick_after(request.verified_at)
        wait_for(
            lambda: SubjectRequest.objects.get(pk=request.pk).status == S.READY,
            timeout=90,
            what="the new worker to discover and run both connectors",
        )
    finally:
        successor.stop()
    approve(django_capture_on_commit_callbacks, request, privacy_officer)
    tasks = list(SubjectTask.objects.filter(request=request).order_by("dataset_slug"))
    assert [(t.dataset_slug, t.status, t.rows_exported) for t in tasks] == [
        ("billing", TaskStatus.DONE, 2),
        ("crm", TaskStatus.DONE, 2),
    ]
    assert LedgerEntry.objects.filter(kind="subject_request.discover").count() == 1
    assert LedgerEntry.objects.filter(kind="subject_task.done").count() == 2
    assert LedgerEntry.objects.filter(kind="subject_request.complete").count() == 1
    assert SubjectEvent.objects.filter(request=request, action="discover").count() == 1
    assert Notification.objects.filter(kind="subject_request.task").count() == 2  # one per owner
    files = _package_files(request)
    for slug in ("crm", "billing"):  # no export missing
        rows = json.loads(files[f"datasets/{slug}.json"])
        assert sorted(r["id"] for r in rows) == [1, 2] and {r["email"] for r in rows} == {SUBJECT}
    # access erases none
    assert _rows(scratch_table, subject_pg_database) == [(1, SUBJECT), (2, SUBJECT), (3, OTHER)]


def test_a_worker_killed_mid_erasure_erases_each_row_once_and_records_it_once(
    scratch_table,
    subject_pg_database,
    celery_worker,
    crm,
    privacy_officer,
    tmp_path,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    _fill(scratch_table, subject_pg_database)
    _connector(crm)
    capture = django_capture_on_commit_callbacks
    target_lock = f"SELECT id FROM {TABLE} WHERE id = 1 FOR UPDATE"
    with Hold(target_lock, database=subject_pg_database) as target_row:
        request = _asked(capture, "erasure")
        code, _ = last_code(request)
        verification.verification_check(subject_request=request, code=code)
        wait_for(
            lambda: _waiting_on_a_lock(f'DELETE FROM "{TABLE}"', subject_pg_database),
            what="the connector to wait for the subject's row",
        )
        # The worker holds no lock on the request now; hold it so that the worker stops after
        # the target has committed the erasure, before Locus records it.
        with Hold("SELECT id FROM workflows_subjectrequest WHERE id = %s FOR UPDATE", [request.pk]):
            target_row.release()
            wait_for(
                lambda: _waiting_on_a_lock('SELECT "workflows_subjectrequest"'),
                what="the worker to stop before recording the erasure",
            )
            celery_worker.kill()
    task = SubjectTask.objects.get(request=request)
    # erased on the target and committed there
    assert _rows(scratch_table, subject_pg_database) == [(3, OTHER)]
    assert (task.status, task.prepared_rows, task.rows_erased) == (TaskStatus.RUNNING, 2, None)
    assert not LedgerEntry.objects.filter(kind="subject_task.done").exists()

    successor = _successor(tmp_path, celery_worker.queue, monkeypatch)
    try:
        _beat_tick_after(task.claimed_at)
        wait_for(
            lambda: SubjectRequest.objects.get(pk=request.pk).status == S.READY,
            timeout=90,
            what="the new worker to rerun the connector",
        )
    finally:
        successor.stop()
    approve(capture, request, privacy_officer)
    task.refresh_from_db()
    assert (task.status, task.rows_found, task.rows_erased) == (TaskStatus.DONE, 2, 2)
    assert task.attempts == 2
    # nothing left, nobody else's row touched
    assert _rows(scratch_table, subject_pg_database) == [(3, OTHER)]
    done = LedgerEntry.objects.filter(kind="subject_task.done")
    assert done.count() == 1
    assert LedgerEntry.objects.filter(kind="subject_request.complete").count() == 1
    certificate = json.loads(_package_files(request)["certificate.json"])
    assert [(d["dataset"], d["rows_erased"]) for d in certificate["datasets"]] == [("crm", 2)]
