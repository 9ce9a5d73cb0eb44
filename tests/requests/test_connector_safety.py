"""SQL connectors cannot reach Locus's own database, look their table up in the target's
catalog, run only in a version a privacy officer approved, and never keep, send or log a
subject's identifiers that a target's error quotes."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import json
import logging
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.urls import reverse
from rest_framework.authtoken.models import Token

from governance.models import LedgerEntry, Notification
from requests import tasks
from requests.models import DatasetConnector, SubjectEvent, SubjectPackage, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import TaskStatus
from requests.subjects import targets, work
from tests.live import shared_database_url
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    crm,
    eager,
    fresh_throttle,
    verify,
)
from tests.requests.subject_targets import (  # noqa: F401  (fixtures)
    forget_alias,
    register_alias,
    subject_alias,
    subject_cursor,
    subject_pg_database,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1/dataset-connectors/"
OTHER = "someone.else@example.org"


@pytest.fixture
def customers(subject_alias):
    """The subject's rows (and another person's) in the subject database."""
    with subject_cursor() as cursor:
        cursor.execute(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(200), "
            "name VARCHAR(200), plan VARCHAR(20))"
        )
        for row in [(1, SUBJECT, "Sam", "gold"), (2, OTHER, "Alex", "basic")]:
            cursor.execute("INSERT INTO customers VALUES (%s, %s, %s, %s)", row)
    return "customers"


def _customer_ids() -> list[int]:
    with subject_cursor() as cursor:
        cursor.execute("SELECT id FROM customers ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def _body(**changes) -> dict:
    return {
        "dataset": "crm", "kind": "sql", "identifier_kinds": ["email"], "database": "subject_data",
        "table": "customers", "identifier_column": "email", "identifier_kind": "email",
        **changes,
    }  # fmt: skip


def _legacy(dataset, **where) -> DatasetConnector:
    """A connector row written before connectors were checked, and marked approved."""
    return DatasetConnector.objects.create(dataset=dataset, kind="sql", approved_version=1, **where)


# --- Only databases named for subject data ------------------------------------------------------

LOCUS_TABLES = [
    # A privacy officer's API key, looked up by her account id; her password hash by e-mail.
    {"table": "authtoken_token", "identifier_column": "user_id", "identifier_kind": "account_id",
     "identifier_kinds": ["email", "account_id"]},
    {"table": "auth_user", "identifier_column": "email"},
]  # fmt: skip


@pytest.mark.parametrize("target", LOCUS_TABLES, ids=["authtoken_token", "auth_user"])
def test_a_data_owner_cannot_point_a_connector_at_locus_tables(
    api_client, crm, data_owner, customers, settings, target
):
    client = api_client(data_owner)
    refused = client.post(API, _body(database="default", **target), format="json")
    assert refused.status_code == 400, refused.content
    assert "default" in refused.json()["database"][0]
    made = client.post(API, _body(), format="json")
    assert made.status_code == 201, made.content
    url = f"{API}{made.json()['id']}/"
    # Nor by changing the connector it has, nor through a DSN or another alias to Locus's database.
    assert client.patch(url, {"database": "default", **target}, format="json").status_code == 400
    settings.SUBJECT_CONNECTOR_DSNS = {"locus": shared_database_url()}
    through_dsn = client.patch(
        url, {"database": "", "dsn_setting": "locus", **target}, format="json"
    )
    assert through_dsn.status_code == 400 and "dsn_setting" in through_dsn.json()
    register_alias("reports", dict(connection.settings_dict))
    try:
        settings.SUBJECT_CONNECTOR_DATABASES = ["subject_data", "reports"]
        renamed = client.patch(url, {"database": "reports", **target}, format="json")
        assert renamed.status_code == 400
        assert "Locus's own database" in renamed.json()["database"][0]
    finally:
        forget_alias("reports")
    connector = DatasetConnector.objects.get()
    assert (connector.database, connector.table, connector.version) == (
        "subject_data",
        "customers",
        1,
    )


def test_a_database_holding_locus_tables_is_refused(api_client, crm, data_owner, customers):
    with subject_cursor() as cursor:
        cursor.execute("CREATE TABLE workflows_subjectrequest (id INTEGER PRIMARY KEY)")
    refused = api_client(data_owner).post(API, _body(), format="json")
    assert refused.status_code == 400
    assert "holds Locus's own tables" in refused.json()["database"][0]


def test_a_connector_from_before_cannot_export_locus_keys(
    crm, data_owner, privacy_officer, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    key = Token.objects.create(user=privacy_officer).key
    _legacy(crm, identifier_kinds=["email", "account_id"], database="default",
            table="authtoken_token", identifier_column="user_id", identifier_kind="account_id")  # fmt: skip
    request = verify(
        capture,
        ask(capture, "access", email="olga@example.org",
            identifiers={"account_id": str(privacy_officer.pk)}),
    )  # fmt: skip
    task = SubjectTask.objects.get(request=request)
    assert task.status == TaskStatus.FAILED and "SUBJECT_CONNECTOR_DATABASES" in task.last_error
    assert (task.rows_exported, task.export_sealed) == (None, "")
    assert request.status == S.IN_PROGRESS
    assert not SubjectPackage.objects.filter(request=request).exists()
    assert Token.objects.get(user=privacy_officer).key == key


def test_an_erasure_cannot_delete_from_locus_tables(
    crm, privacy_officer, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    privacy_officer.email = "pat@example.org"
    privacy_officer.save()
    _legacy(crm, identifier_kinds=["email"], database="default", table="auth_user",
            identifier_column="email", identifier_kind="email")  # fmt: skip
    verify(capture, ask(capture, "erasure", email="pat@example.org"))
    task = SubjectTask.objects.get()
    assert task.status == TaskStatus.FAILED and task.rows_erased is None
    assert get_user_model().objects.filter(pk=privacy_officer.pk).exists()


# --- The target's catalog ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"table": "no_such_table"}, "table"),
        ({"table": "nowhere.customers"}, "table"),
        ({"identifier_column": "mail"}, "identifier_column"),
        ({"erase_mode": "mask", "mask_columns": ["name", "phone"]}, "mask_columns"),
    ],
)
def test_a_table_or_column_not_in_the_catalog_is_a_400_naming_it(
    api_client, crm, data_owner, customers, changes, field
):
    refused = api_client(data_owner).post(API, _body(**changes), format="json")
    assert refused.status_code == 400, refused.content
    assert list(refused.json()) == [field]
    assert not DatasetConnector.objects.exists()


def test_the_servers_own_catalog_is_not_subject_data(api_client, crm, data_owner, customers):
    if connection.vendor == "postgresql":
        tables = ["pg_authid", "pg_catalog.pg_user", "information_schema.tables"]
        column = "rolname"
    else:
        tables = ["sqlite_master"]
        column = "name"
    for table in tables:
        body = _body(table=table, identifier_column=column)
        refused = api_client(data_owner).post(API, body, format="json")
        assert refused.status_code == 400 and "table" in refused.json(), table


def test_a_table_dropped_after_saving_fails_the_run_naming_it(
    crm, customers, django_capture_on_commit_callbacks
):
    _legacy(crm, identifier_kinds=["email"], database="subject_data", table="customers",
            identifier_column="email", identifier_kind="email")  # fmt: skip
    with subject_cursor() as cursor:
        cursor.execute("ALTER TABLE customers RENAME TO clients")
    verify(django_capture_on_commit_callbacks, ask(django_capture_on_commit_callbacks, "erasure"))
    task = SubjectTask.objects.get()
    assert task.status == TaskStatus.FAILED and "No table 'customers'" in task.last_error


# --- Approval --------------------------------------------------------------------------------


def test_a_connector_runs_only_once_an_officer_approved_its_version(
    api_client, client, crm, data_owner, eu_officer, cn_officer, customers,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    capture = django_capture_on_commit_callbacks
    assert crm.jurisdiction_id == "eu"
    owner = api_client(data_owner)
    made = owner.post(API, _body(), format="json")
    assert made.status_code == 201, made.content
    assert (made.json()["version"], made.json()["approved"]) == (1, False)
    assert Notification.objects.filter(recipient=eu_officer, kind="subject_connector.approval")
    assert not Notification.objects.filter(recipient=cn_officer, kind="subject_connector.approval")

    request = verify(capture, ask(capture, "erasure"))
    task = SubjectTask.objects.get(request=request)
    assert task.status == TaskStatus.FAILED and task.last_error.startswith("NotApproved:")
    assert _customer_ids() == [1, 2]  # nothing erased
    client.force_login(data_owner)
    page = client.get(reverse("workflows:subject-task-detail", args=[task.pk]))
    assert b"awaiting a privacy officer" in page.content

    approve = f"{API}{made.json()['id']}/approve/"
    assert owner.post(approve, {}, format="json").status_code == 403
    assert api_client(cn_officer).post(approve, {}, format="json").status_code in (403, 404)
    with capture(execute=True):
        approved = api_client(eu_officer).post(approve, {"version": 1}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["approved"] and approved.json()["approved_version"] == 1
    assert approved.json()["approved_by_name"]
    entry = LedgerEntry.objects.get(kind="subject_connector.approved")
    data = json.loads(bytes(entry.payload))["data"]
    assert entry.actor_id == eu_officer.pk and "dataset:crm" in entry.subject_list
    assert (data["version"], data["table"], data["database"]) == (1, "customers", "subject_data")
    # The task that waited ran.
    task.refresh_from_db()
    assert (task.status, task.rows_erased) == (TaskStatus.DONE, 1)
    assert _customer_ids() == [2]

    # A change to what it reaches is a new version, which waits for approval again.
    url = f"{API}{made.json()['id']}/"
    changed = owner.patch(url, {"erase_mode": "mask", "mask_columns": ["name"]}, format="json")
    assert (changed.json()["version"], changed.json()["approved"]) == (2, False)
    stale = api_client(eu_officer).post(approve, {"version": 1}, format="json")
    assert stale.status_code == 409 and "version" in stale.json()
    assert owner.patch(url, {"enabled": False}, format="json").json()["version"] == 2


def test_a_manual_connector_has_nothing_to_approve(api_client, crm, eu_officer):
    made = api_client(eu_officer).post(
        API, {"dataset": "crm", "kind": "manual", "identifier_kinds": ["email"]}, format="json"
    )
    answer = api_client(eu_officer).post(f"{API}{made.json()['id']}/approve/", format="json")
    assert answer.status_code == 409 and "kind" in answer.json()


# --- A target's error never carries the subject's identifiers on ------------------------------


def _nowhere(needle: str, caplog) -> None:
    """The value is in no task, timeline, notification, staff mail, ledger entry or log."""
    needle = needle.lower()
    for task in SubjectTask.objects.all():
        assert needle not in f"{task.last_error} {task.note}".lower()
    for event in SubjectEvent.objects.all():
        assert needle not in event.comment.lower()
    for note in Notification.objects.all():
        assert needle not in f"{note.title} {note.body}".lower()
    for message in mail.outbox:
        if SUBJECT not in message.to:  # what goes to the subject themself may name them
            assert needle not in f"{message.subject} {message.body}".lower()
    for entry in LedgerEntry.objects.all():
        assert needle not in bytes(entry.payload).decode().lower()
    assert needle not in caplog.text.lower()


def test_a_target_error_quoting_the_subject_leaves_no_trace_of_them(
    crm, data_owner, subject_alias, caplog, django_capture_on_commit_callbacks
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite compares an e-mail with an integer without complaint")
    capture = django_capture_on_commit_callbacks
    caplog.set_level(logging.DEBUG)
    with subject_cursor() as cursor:
        cursor.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, plan TEXT)")
    _legacy(crm, identifier_kinds=["email"], database=subject_alias, table="accounts",
            identifier_column="id", identifier_kind="email")  # fmt: skip
    verify(capture, ask(capture, "access"))
    task = SubjectTask.objects.get()
    assert task.status == TaskStatus.FAILED
    assert "invalid input syntax for type integer" in task.last_error
    assert "[redacted]" in task.last_error
    event = SubjectEvent.objects.get(action="task_failed")
    assert "invalid input" not in event.comment  # the timeline says that it failed, not how
    _nowhere(SUBJECT, caplog)


FORMS = [
    SUBJECT.upper(),
    f"'{SUBJECT}'",
    json.dumps(SUBJECT),
    quote(SUBJECT, safe=""),
    SUBJECT.replace(".", " "),
    SUBJECT.encode().hex(),
]


@pytest.mark.parametrize("error", [targets.ConnectorError, targets.TransientError])
def test_errors_are_redacted_of_every_identifier_in_every_form(
    crm, data_owner, customers, monkeypatch, caplog, error, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    caplog.set_level(logging.DEBUG)
    _legacy(crm, identifier_kinds=["email", "phone"], database="subject_data",
            table="customers", identifier_column="email", identifier_kind="email")  # fmt: skip

    def target_answers(*args, **kwargs):
        raise error(f"rejected {' / '.join(FORMS)} (phone +44 20 7946 0000)")

    monkeypatch.setattr(targets, "run", target_answers)
    verify(capture, ask(capture, "access", identifiers={"phone": "+44 20 7946 0000"}))
    task = SubjectTask.objects.get()
    assert task.last_error.startswith(f"{error.__name__}: rejected [redacted]")
    assert task.status == (TaskStatus.OPEN if error is targets.TransientError else "failed")
    for needle in ["sam.subject", "sam subject", "73616d2e", "7946", "sam.subject%40"]:
        _nowhere(needle, caplog)


def test_a_crash_of_the_run_is_logged_and_reported_redacted(
    crm, data_owner, customers, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    caplog.set_level(logging.DEBUG)
    _legacy(crm, identifier_kinds=["email"], database="subject_data", table="customers",
            identifier_column="email", identifier_kind="email")  # fmt: skip
    # The connector is run here, below, not by the queued task.
    monkeypatch.setattr(tasks.subject_connector_run, "apply_async", lambda **kwargs: None)
    verify(capture, ask(capture, "access"))
    task = SubjectTask.objects.get()

    def crashes(*args, **kwargs):
        raise ValueError(f"cannot encode {SUBJECT}")

    monkeypatch.setattr(targets, "run", crashes)
    with pytest.raises(work.ConnectorCrashed) as crashed:
        work.connector_run(task_id=task.pk)
    assert "[redacted]" in str(crashed.value) and SUBJECT not in str(crashed.value)
    assert crashed.value.__suppress_context__
    assert "ValueError: cannot encode [redacted]" in caplog.text
    _nowhere(SUBJECT, caplog)
