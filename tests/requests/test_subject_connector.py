"""The SQL connector on a real table in a database named for subject data, apart from Locus's
own (a SQLite file, or a PostgreSQL database when DATABASE_URL names PostgreSQL): access,
portability and erasure (delete and mask), failures, and a lost worker's rerun."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import datetime as dt
import io
import json
import zipfile

import psycopg
import pytest
from django.utils import timezone

from governance.models import Notification
from requests.models import DatasetConnector, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import TaskStatus, unseal_bytes
from requests.subjects import sla, work
from requests.subjects.review import review_of
from tests.requests.subject_setup import SUBJECT, approve, ask, crm, eager, verify  # noqa: F401
from tests.requests.subject_targets import (  # noqa: F401
    subject_alias,
    subject_cursor,
    subject_dsn,
    subject_pg_database,
)

TABLE = "dsr_scratch_customers"
ROWS = [
    (1, SUBJECT, "Sam", "+44 20 7946 0000", "gold"),
    (2, SUBJECT, "Sam S.", None, "basic"),
    (3, "someone.else@example.org", "Alex", "+1 555 0100", "gold"),
]


def _create_table(cursor):
    cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
    cursor.execute(
        f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, email VARCHAR(200), "
        "name VARCHAR(200), phone VARCHAR(50), plan VARCHAR(20))"
    )
    for row in ROWS:
        cursor.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s)", row)


def _rows(cursor) -> list[tuple]:
    cursor.execute(f"SELECT id, email, name, phone, plan FROM {TABLE} ORDER BY id")
    return [tuple(r) for r in cursor.fetchall()]


def approved(connector: DatasetConnector) -> DatasetConnector:
    """As a privacy officer's approval of its current version leaves it."""
    DatasetConnector.objects.filter(pk=connector.pk).update(approved_version=connector.version)
    connector.refresh_from_db()
    return connector


@pytest.fixture
def scratch(db, crm, subject_alias):
    """The subject's rows in a table of the subject database, which the crm dataset declares
    (its connector approved)."""
    with subject_cursor() as cursor:
        _create_table(cursor)
    return approved(
        DatasetConnector.objects.create(
            dataset=crm,
            kind="sql",
            identifier_kinds=["email"],
            database=subject_alias,
            table=TABLE,
            identifier_column="email",
            identifier_kind="email",
        )
    )


def _answered(capture, type_):
    request = verify(capture, ask(capture, type_))
    request.refresh_from_db()
    return request, SubjectTask.objects.get(request=request)


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
@pytest.mark.parametrize("type_", ["access", "portability"])
def test_export_reads_the_subjects_rows_only(scratch, type_, privacy_officer, django_capture_on_commit_callbacks):  # fmt: skip
    request, task = _answered(django_capture_on_commit_callbacks, type_)
    assert task.status == TaskStatus.DONE and task.automatic
    assert (task.rows_found, task.rows_exported) == (2, 2)
    assert request.status == S.READY
    request = approve(django_capture_on_commit_callbacks, request, privacy_officer)
    assert request.status == S.COMPLETED
    with zipfile.ZipFile(io.BytesIO(unseal_bytes(request.package.content_sealed))) as archive:
        exported = json.loads(archive.read("datasets/crm.json"))
        csv_text = archive.read("datasets/crm.csv").decode()
    assert [r["id"] for r in exported] == [1, 2]
    assert {r["email"] for r in exported} == {SUBJECT}
    assert csv_text.splitlines()[0] == "id,email,name,phone,plan"
    with subject_cursor() as cursor:
        assert len(_rows(cursor)) == 3  # nothing changed


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_erasure_deletes_the_subjects_rows_once(scratch, privacy_officer, django_capture_on_commit_callbacks):  # fmt: skip
    request, task = _answered(django_capture_on_commit_callbacks, "erasure")
    assert (task.status, task.rows_erased) == (TaskStatus.DONE, 2)
    with subject_cursor() as cursor:
        assert [r[0] for r in _rows(cursor)] == [3]
    assert request.status == S.READY and not review_of(request).empty
    request = approve(django_capture_on_commit_callbacks, request, privacy_officer)
    assert request.status == S.COMPLETED and request.package.kind == "certificate"
    assert work.connector_run(task_id=task.pk) == "not-claimed"  # a redelivery
    task.refresh_from_db()
    assert task.rows_erased == 2


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_erasure_can_mask_declared_columns(scratch, django_capture_on_commit_callbacks):
    scratch.erase_mode = "mask"
    scratch.mask_columns = ["email", "name", "phone"]
    scratch.save()
    _, task = _answered(django_capture_on_commit_callbacks, "erasure")
    assert (task.rows_masked, task.rows_erased) == (2, None)
    with subject_cursor() as cursor:
        assert _rows(cursor) == [
            (1, None, None, None, "gold"),
            (2, None, None, None, "basic"),
            ROWS[2],
        ]


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_a_broken_connector_fails_on_the_task_and_tells_the_owner(
    scratch, data_owner, django_capture_on_commit_callbacks
):
    scratch.table = "no_such_table"
    scratch.save()
    request, task = _answered(django_capture_on_commit_callbacks, "erasure")
    assert task.status == TaskStatus.FAILED
    assert "no_such_table" in task.last_error
    assert request.status == S.IN_PROGRESS
    assert Notification.objects.filter(recipient=data_owner, kind="subject_request.task_failed")
    scratch.table = TABLE
    scratch.save()
    with django_capture_on_commit_callbacks(execute=True):
        work.task_retry(actor=data_owner, task=task)
    task.refresh_from_db()
    assert (task.status, task.rows_erased) == (TaskStatus.DONE, 2)


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_an_unreachable_database_is_retried_then_surfaced(
    scratch, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from requests.subjects import targets

    def unreachable(*args, **kwargs):
        raise targets.TransientError("connection refused")

    monkeypatch.setattr(targets, "run", unreachable)
    settings.SUBJECT_CONNECTOR_MAX_ATTEMPTS = 3
    _, task = _answered(django_capture_on_commit_callbacks, "access")
    # Released for a later attempt, the error kept on the task.
    assert (task.status, task.attempts) == (TaskStatus.OPEN, 1)
    assert "connection refused" in task.last_error
    for attempt in (2, 3):
        SubjectTask.objects.filter(pk=task.pk).update(
            created_at=timezone.now() - dt.timedelta(hours=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            sla.subject_sla_watch()  # requeues the released task
        task.refresh_from_db()
        assert task.attempts == attempt
    assert task.status == TaskStatus.FAILED  # the cap: surfaced to the owner


# --- Another database, through a DSN: the count survives a worker lost between commits --------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.usefixtures("eager")
def test_dsn_erasure_lost_before_recording_completes_once(
    crm, subject_dsn, privacy_officer, monkeypatch, django_capture_on_commit_callbacks
):
    dsn = subject_dsn
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        _create_table(cursor)
    try:
        approved(DatasetConnector.objects.create(
            dataset=crm, kind="sql", identifier_kinds=["email"], dsn_setting="scratch",
            table=TABLE, identifier_column="email", identifier_kind="email",
        ))  # fmt: skip
        real_record = work.record_connector_result

        def worker_dies(*args, **kwargs):
            raise SystemExit("worker lost after the target committed")

        monkeypatch.setattr(work, "record_connector_result", worker_dies)
        with pytest.raises(SystemExit):
            verify(
                django_capture_on_commit_callbacks,
                ask(django_capture_on_commit_callbacks, "erasure"),
            )
        task = SubjectTask.objects.get()
        assert (task.status, task.prepared_rows) == (TaskStatus.RUNNING, 2)
        with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
            assert [r[0] for r in _rows(cursor)] == [3]  # the target committed

        monkeypatch.setattr(work, "record_connector_result", real_record)
        assert work.connector_run(task_id=task.pk) == "not-claimed"  # lease still held
        SubjectTask.objects.filter(pk=task.pk).update(
            claimed_at=timezone.now() - dt.timedelta(hours=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert work.connector_run(task_id=task.pk) == "done"
        task.refresh_from_db()
        assert (task.status, task.rows_erased, task.attempts) == (TaskStatus.DONE, 2, 2)
        assert task.request.status == S.READY
        request = approve(django_capture_on_commit_callbacks, task.request, privacy_officer)
        assert request.status == S.COMPLETED
        assert request.events.filter(action="complete").count() == 1
    finally:
        with psycopg.connect(dsn) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
