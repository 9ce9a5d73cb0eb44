"""Retention enforced: runs opened once per dataset and period (by its connector's retention
column, or by its owner), legal holds that suspend them, the page and the API, the evidence.
Time is injected (`now=`), never waited for."""

# ruff: noqa: F811  (the fixtures imported from subject_targets are parameters of the tests)

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from governance.ledger.chain import actor_name
from governance.models import LedgerEntry, Notification
from requests.models import DatasetConnector, LegalHold, RetentionRun
from requests.retention import holds, selectors, services
from requests.retention.evidence import RETENTION, retention_records
from tests.factories import make_dataset
from tests.requests.subject_setup import tasks_in_process
from tests.requests.subject_targets import (  # noqa: F401
    subject_alias,
    subject_cursor,
    subject_pg_database,
)

pytestmark = pytest.mark.django_db
TABLE = "retention_scratch_events"


def _now() -> dt.datetime:
    return timezone.now()


def _kinds(kind: str) -> list[dict]:
    entries = LedgerEntry.objects.filter(kind=kind).order_by("sequence")
    return [json.loads(bytes(e.payload)) for e in entries]


@pytest.fixture
def logs(data_owner):
    """A dataset without a connector: its owner deletes by hand."""
    return make_dataset(data_owner, slug="web-logs", retention_days=30)


# --- Finding what is due, and the owner's task -----------------------------------------------


def test_a_dataset_gets_one_run_per_period_and_its_owner_a_task(logs, data_owner):
    now = _now()
    assert services.retention_due(now=now)["opened"] >= 1
    run = RetentionRun.objects.get(dataset=logs)
    start = selectors.period_start(now.date())
    assert (run.period_start, run.automatic, run.status) == (start, False, "open")
    assert run.cutoff == selectors.cutoff_of(start, 30)
    assert Notification.objects.filter(recipient=data_owner, kind="retention.run").count() == 1
    assert [e["data"]["cutoff"] for e in _kinds("retention.run_opened")
            if "dataset:web-logs" in e["subjects"]] == [run.cutoff.isoformat()]  # fmt: skip

    # Again the same day, and later in the period: nothing new (one run per period).
    assert services.retention_due(now=now)["opened"] == 0
    assert services.retention_due(now=now + dt.timedelta(days=1))["opened"] == 0
    assert RetentionRun.objects.filter(dataset=logs).count() == 1


def test_the_owner_marks_the_run_done_and_the_next_period_opens_the_next(logs, data_owner):
    now = _now()
    services.retention_due(now=now)
    run = RetentionRun.objects.get(dataset=logs)
    with pytest.raises(Exception, match="note"):
        services.retention_run_complete(actor=data_owner, run=run, note=" ")
    run = services.retention_run_complete(
        actor=data_owner, run=run, note="Deleted partitions before the cutoff"
    )
    assert (run.status, run.completed_by_name) == ("done", actor_name(data_owner))
    assert _kinds("retention.run_done")[-1]["data"]["mode"] == "manual"

    later = now + dt.timedelta(days=7 * 2)  # the cycle repeats each period
    assert services.retention_due(now=later)["opened"] >= 1
    assert RetentionRun.objects.filter(dataset=logs).count() == 2


def test_no_second_run_while_the_first_is_unfinished(logs):
    now = _now()
    services.retention_due(now=now)
    services.retention_due(now=now + dt.timedelta(days=30))
    run = RetentionRun.objects.get(dataset=logs)
    assert run.overdue(now.date() + dt.timedelta(days=30))


def test_someone_else_may_not_mark_an_owners_run_done(logs, other_owner, api_client):
    services.retention_due(now=_now())
    run = RetentionRun.objects.get(dataset=logs)
    with pytest.raises(Exception, match="owner"):
        services.retention_run_complete(actor=other_owner, run=run, note="done")
    url = reverse("v1:retention-run-complete", args=[run.pk])
    assert api_client(other_owner).post(url, {"note": "x"}, format="json").status_code == 404


# --- Legal holds ------------------------------------------------------------------------------


def test_a_hold_suspends_retention_and_lifting_it_resumes(logs, privacy_officer):
    now = _now()
    hold = holds.legal_hold_place(actor=privacy_officer, dataset=logs, reason="Case 2026-17")
    services.retention_due(now=now)
    assert not RetentionRun.objects.filter(dataset=logs).exists()

    holds.legal_hold_lift(actor=privacy_officer, hold=hold, reason="Case settled")
    services.retention_due(now=now)
    assert RetentionRun.objects.filter(dataset=logs).count() == 1
    placed, lifted = _kinds("legal_hold.placed"), _kinds("legal_hold.lifted")
    assert placed[-1]["data"]["reason"] == "Case 2026-17"
    assert placed[-1]["actor_name"] and lifted[-1]["data"]["reason"] == "Case settled"


def test_a_hold_with_an_end_suspends_until_then(logs, privacy_officer):
    now = _now()
    holds.legal_hold_place(
        actor=privacy_officer, dataset=logs, reason="Audit", until=now + dt.timedelta(days=3)
    )
    services.retention_due(now=now)
    assert not RetentionRun.objects.exists()
    services.retention_due(now=now + dt.timedelta(days=4))
    assert RetentionRun.objects.filter(dataset=logs).count() == 1


def test_an_owner_cannot_mark_done_while_held(logs, data_owner, privacy_officer):
    services.retention_due(now=_now())
    run = RetentionRun.objects.get(dataset=logs)
    holds.legal_hold_place(actor=privacy_officer, dataset=logs, reason="Litigation")
    with pytest.raises(Exception, match="legal hold"):
        services.retention_run_complete(actor=data_owner, run=run, note="deleted")


def test_only_privacy_officers_place_and_lift_holds(logs, data_owner, auditor, privacy_officer):
    for person in (data_owner, auditor):
        with pytest.raises(Exception, match="privacy officer"):
            holds.legal_hold_place(actor=person, dataset=logs, reason="x")
    hold = holds.legal_hold_place(actor=privacy_officer, dataset=logs, reason="x")
    with pytest.raises(Exception, match="privacy officer"):
        holds.legal_hold_lift(actor=data_owner, hold=hold, reason="y")
    holds.legal_hold_lift(actor=privacy_officer, hold=hold, reason="y")
    with pytest.raises(Exception, match="changed meanwhile"):  # a second lift is a 409
        holds.legal_hold_lift(actor=privacy_officer, hold=hold, reason="again")


# --- A connector deletes by age, once ----------------------------------------------------------


@pytest.fixture
def events_table(db, subject_alias, data_owner):
    """A dataset whose connector names the column holding each record's time; two old rows
    and one recent, in a database named for subject data."""
    dataset = make_dataset(data_owner, slug="app-events", retention_days=90)
    now = _now()
    with subject_cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cursor.execute(
            f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, email VARCHAR(200), "
            "created_at TIMESTAMP WITH TIME ZONE)"
        )
        for pk, age in ((1, 400), (2, 200), (3, 10)):
            cursor.execute(
                f"INSERT INTO {TABLE} VALUES (%s, %s, %s)",
                [pk, f"p{pk}@example.org", now - dt.timedelta(days=age)],
            )
    connector = DatasetConnector.objects.create(
        dataset=dataset, kind="sql", identifier_kinds=["email"], database=subject_alias,
        table=TABLE, identifier_column="email", identifier_kind="email",
        retention_column="created_at",
    )  # fmt: skip
    DatasetConnector.objects.filter(pk=connector.pk).update(approved_version=connector.version)
    return dataset


def _ids() -> list[int]:
    with subject_cursor() as cursor:
        cursor.execute(f"SELECT id FROM {TABLE} ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def test_a_connector_deletes_the_rows_older_than_retention_once(
    events_table, django_capture_on_commit_callbacks
):
    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        services.retention_due(now=_now())
    run = RetentionRun.objects.get(dataset=events_table)
    assert (run.automatic, run.status, run.rows_deleted) == (True, "done", 2)
    assert _ids() == [3]
    assert _kinds("retention.run_done")[-1]["data"] == {
        "cutoff": run.cutoff.isoformat(), "mode": "connector", "rows_deleted": 2,
    }  # fmt: skip
    # The run is claimed once: a second delivery of its message does nothing.
    assert services.retention_run_execute(run_id=run.pk) == "not-claimed"


def test_a_held_datasets_connector_run_waits_for_the_lift(
    events_table, privacy_officer, django_capture_on_commit_callbacks
):
    services.retention_due(now=_now())  # queued, not run (no worker in this test)
    run = RetentionRun.objects.get(dataset=events_table)
    hold = holds.legal_hold_place(actor=privacy_officer, dataset=events_table, reason="Order 9")
    assert services.retention_run_execute(run_id=run.pk) == "held"
    assert _ids() == [1, 2, 3]
    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        holds.legal_hold_lift(actor=privacy_officer, hold=hold, reason="Order lifted")
    run.refresh_from_db()
    assert (run.status, run.rows_deleted, _ids()) == ("done", 2, [3])


def test_an_unapproved_connector_fails_to_its_owner(events_table, data_owner):
    DatasetConnector.objects.filter(dataset=events_table).update(approved_version=None)
    services.retention_due(now=_now())
    run = RetentionRun.objects.get(dataset=events_table)
    assert services.retention_run_execute(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == "failed" and "NotApproved" in run.last_error
    assert Notification.objects.filter(recipient=data_owner, kind="retention.run_failed").exists()
    assert _ids() == [1, 2, 3]


# --- The page and the API ---------------------------------------------------------------------


def test_the_page_shows_due_overdue_and_held_to_officers(client, logs, privacy_officer):
    services.retention_due(now=_now() - dt.timedelta(days=30))  # a run now past due
    holds.legal_hold_place(actor=privacy_officer, dataset=logs, reason="Case 7")
    client.force_login(privacy_officer)
    page = client.get(reverse("workflows:retention") + "?state=overdue")
    assert page.status_code == 200
    assert "web-logs" in page.content.decode()
    assert 'href="/workflows/retention/"' in page.content.decode()  # in the navigation
    held = client.get(reverse("workflows:retention") + "?state=held").content.decode()
    assert "Case 7" in held and "Lift" in held


@pytest.mark.parametrize("who", ["outsider", "engineer", "executive"])
def test_outsiders_get_403_on_the_page_and_the_api(client, api_client, request, who):
    person = request.getfixturevalue(who)
    client.force_login(person)
    assert client.get(reverse("workflows:retention")).status_code == 403
    for name in ("v1:retention-run-list", "v1:legal-hold-list", "v1:retention-summary-list"):
        assert api_client(person).get(reverse(name)).status_code == 403


def test_an_owner_sees_only_their_datasets_runs(api_client, logs, other_owner, data_owner):
    make_dataset(other_owner, slug="other-logs", retention_days=30)
    services.retention_due(now=_now())
    body = api_client(data_owner).get(reverse("v1:retention-run-list")).json()
    assert {row["dataset"] for row in body["results"]} == {"web-logs"}


def test_the_api_places_lists_and_lifts_holds(api_client, logs, privacy_officer, data_owner):
    officer = api_client(privacy_officer)
    url = reverse("v1:legal-hold-list")
    assert (
        api_client(data_owner).post(url, {"dataset": "web-logs", "reason": "x"}).status_code == 403
    )
    bad = officer.post(url, {"dataset": "web-logs", "reason": "x",
                             "until": "2001-01-01T00:00:00Z"}, format="json")  # fmt: skip
    assert bad.status_code == 400 and "until" in bad.json()
    assert officer.post(url, {"dataset": "web-logs"}, format="json").status_code == 400
    made = officer.post(url, {"dataset": "web-logs", "reason": "Case 8"}, format="json")
    assert made.status_code == 201, made.content
    assert [h["reason"] for h in officer.get(url).json()["results"]] == ["Case 8"]
    assert officer.get(reverse("v1:retention-summary-list")).json()["held"] == 1
    lift = reverse("v1:legal-hold-lift", args=[made.json()["id"]])
    assert officer.post(lift, {"reason": "Closed"}, format="json").status_code == 200
    assert officer.post(lift, {"reason": "Again"}, format="json").status_code == 409
    assert officer.get(url).json()["results"] == []


def test_the_api_lists_runs_by_state_and_the_owner_completes(api_client, logs, data_owner):
    services.retention_due(now=_now() - dt.timedelta(days=30))
    owner = api_client(data_owner)
    url = reverse("v1:retention-run-list")
    assert [r["dataset"] for r in owner.get(url, {"state": "overdue"}).json()["results"]] == [
        "web-logs"
    ]
    assert owner.get(url, {"state": "due"}).json()["results"] == []
    assert owner.get(url, {"state": "soon"}).status_code == 400
    run_id = owner.get(url).json()["results"][0]["id"]
    done = owner.post(reverse("v1:retention-run-complete", args=[run_id]), {}, format="json")
    assert done.status_code == 400 and "note" in done.json()
    done = owner.post(reverse("v1:retention-run-complete", args=[run_id]),
                      {"note": "Dropped old partitions"}, format="json")  # fmt: skip
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_the_evidence_lists_runs_holds_and_outcomes(logs, data_owner, privacy_officer):
    now = _now()
    services.retention_due(now=now)
    run = RetentionRun.objects.get(dataset=logs)
    services.retention_run_complete(actor=data_owner, run=run, note="Deleted")
    hold = holds.legal_hold_place(actor=privacy_officer, dataset=logs, reason="Case 9")
    files = retention_records(now - dt.timedelta(days=1), now + dt.timedelta(days=1))
    document = json.loads(files[RETENTION])
    mine = [r for r in document["runs"] if r["dataset"] == "web-logs"]
    assert [(r["status"], r["by"], r["note"]) for r in mine] == [("done", "owner", "Deleted")]
    assert [(h["dataset"], h["reason"]) for h in document["holds"]] == [("web-logs", "Case 9")]
    assert LegalHold.objects.get().pk == hold.pk


def _workflow_menu(client, person) -> list[str]:
    client.force_login(person)
    page = client.get(reverse("catalog:dataset-list"))
    groups = {g.label: [item.label for item in g.items] for g in page.context["nav_groups"]}
    return groups.get("Workflows", [])


def test_the_workflows_menu_leads_officers_auditors_and_owners_to_retention(
    client, privacy_officer, auditor, data_owner, engineer, executive
):
    for person in (privacy_officer, auditor, data_owner):
        assert "Retention" in _workflow_menu(client, person)
    for person in (engineer, executive):
        assert "Retention" not in _workflow_menu(client, person)


def test_the_owner_marks_done_and_the_officer_holds_through_the_pages(
    client, logs, data_owner, privacy_officer, other_owner
):
    services.retention_due(now=_now())
    run = RetentionRun.objects.get(dataset=logs)
    done = reverse("workflows:retention-run-done", args=[run.pk])
    client.force_login(other_owner)
    assert client.get(done).status_code == 404
    client.force_login(data_owner)
    assert client.get(done).status_code == 200
    assert client.post(done, {"note": ""}).status_code == 400
    assert client.post(done, {"note": "Old rows deleted"}).status_code == 302
    run.refresh_from_db()
    assert (run.status, run.note) == ("done", "Old rows deleted")
    assert client.get(reverse("workflows:retention-hold-place")).status_code == 403

    client.force_login(privacy_officer)
    place = reverse("workflows:retention-hold-place")
    assert client.post(place, {"dataset": "web-logs", "reason": ""}).status_code == 400
    assert client.post(place, {"dataset": "web-logs", "reason": "Case 12"}).status_code == 302
    hold = LegalHold.objects.get(dataset=logs)
    lift = reverse("workflows:retention-hold-lift", args=[hold.pk])
    assert client.post(lift, {"reason": "Closed"}).status_code == 302
    assert client.post(lift, {"reason": "Again"}).status_code == 409


def test_the_lists_cost_the_same_queries_for_one_row_or_many(
    api_client, privacy_officer, data_owner
):
    officer = api_client(privacy_officer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert officer.get(reverse("v1:retention-run-list")).status_code == 200
            assert officer.get(reverse("v1:legal-hold-list")).status_code == 200
        return len(captured)

    def add(count: int) -> None:
        for _ in range(count):
            dataset = make_dataset(data_owner, retention_days=30)
            services.retention_due(now=_now())
            holds.legal_hold_place(actor=privacy_officer, dataset=dataset, reason="Case")

    add(1)
    queries()  # the first request fills the person's permission cache
    one = queries()
    add(3)
    assert queries() == one


def test_a_run_whose_worker_was_lost_is_retaken_after_its_lease_and_keeps_its_count(
    events_table, settings, django_capture_on_commit_callbacks
):
    """The worker deleted the rows and kept the count, then died before recording: once the
    lease has passed, the daily task requeues it, the rerun deletes nothing and records 2."""
    services.retention_due(now=_now())  # queued, not run (no worker here)
    run = RetentionRun.objects.get(dataset=events_table)
    with subject_cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE id IN (1, 2)")
    claimed = RetentionRun.objects.filter(pk=run.pk)
    claimed.update(status="running", claimed_at=_now(), attempts=1, prepared_rows=2)
    assert services.retention_run_execute(run_id=run.pk) == "not-claimed"  # within its lease
    lost_at = _now() - dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS + 60)
    claimed.update(claimed_at=lost_at)
    with tasks_in_process(), django_capture_on_commit_callbacks(execute=True):
        assert services.retention_due(now=_now())["requeued"] == 1
    run.refresh_from_db()
    assert (run.status, run.rows_deleted, run.attempts) == ("done", 2, 2)
