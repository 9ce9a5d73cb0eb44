"""The workflows' evidence section: the register of transfers in force in the period, and the
subject-request summary (counts only, no identifiers), inside the auditor's package."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
from django.utils import timezone

from catalog.models import Region
from governance.grants.services import grant_create
from governance.ledger import evidence
from requests import evidence as workflow_evidence
from requests.models import SubjectRequest
from requests.models.subjects import SubjectRequestStatus as S
from requests.subjects import officer_steps, work
from tests.factories import make_dataset
from tests.requests.subject_setup import SUBJECT, approve, ask, crm, eager, verify  # noqa: F401
from tests.requests.test_transfer_services import EU, step
from tests.requests.test_transfer_services import ask as ask_transfer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


def _grant(officer, slug, start, end):
    return grant_create(
        actor=officer,
        datasets=[make_dataset(officer, slug=slug, allowed_processing_regions=[EU])],
        destination_regions=[Region.objects.get(code="aws:us-east-1")],
        mechanism="scc",
        valid_from=start,
        valid_until=end,
    )


def test_the_register_holds_the_grants_in_force_in_the_period_with_their_state(
    settings, data_owner, eu_officer, privacy_officer, purpose
):
    settings.EVIDENCE_SECTIONS = ["requests.evidence.workflow_records"]
    now = timezone.now()
    since = now - dt.timedelta(days=10)
    dataset = make_dataset(owner=data_owner, slug="eu-orders", allowed_processing_regions=[EU])
    approved = step(eu_officer, step(data_owner, ask_transfer(data_owner, [dataset], purpose, start=now - dt.timedelta(hours=1)), "submit"), "approve")  # fmt: skip
    past = _grant(
        privacy_officer, "old-orders", now - dt.timedelta(days=20), now - dt.timedelta(days=5)
    )
    before = _grant(privacy_officer, "older-orders", now - dt.timedelta(days=40), now - dt.timedelta(days=11))  # fmt: skip
    until = timezone.now()  # the period ends after everything above, however long it took

    with zipfile.ZipFile(io.BytesIO(evidence.build_evidence(since, until))) as archive:
        register = json.loads(archive.read(workflow_evidence.REGISTER_JSON))
        table = list(
            csv.DictReader(io.StringIO(archive.read(workflow_evidence.REGISTER_CSV).decode()))
        )
        manifest = json.loads(archive.read("manifest.json"))  # fmt: skip

    states = {row["grant"]: row["status"] for row in register["grants"]}
    approved.refresh_from_db()
    assert states == {approved.grant_id: "active", past.pk: "expired"}
    assert before.pk not in states
    exception_row = next(r for r in register["grants"] if r["grant"] == approved.grant_id)
    assert exception_row["exception"] == approved.reference
    assert {row["grant"] for row in table} == {str(approved.grant_id), str(past.pk)}
    listed = {item["name"] for item in manifest["files"]}
    assert {workflow_evidence.REGISTER_JSON, workflow_evidence.SUBJECT_SUMMARY} <= listed


def test_the_subject_request_summary_counts_and_never_names_anyone(
    crm, data_owner, privacy_officer, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    now = timezone.now()
    since = now - dt.timedelta(days=30)
    answered = verify(capture, ask(capture, "access", email="ann@example.org"))
    with capture(execute=True):
        work.task_complete(actor=data_owner, task=answered.tasks.get(), rows=[{"a": 1}])
    approve(capture, answered, privacy_officer)
    late = verify(capture, ask(capture, "erasure", email="lee@example.org"))
    officer_steps.subject_request_reject(
        actor=privacy_officer, subject_request=late, reason="unfounded"
    )
    SubjectRequest.objects.filter(pk=late.pk).update(deadline=now.date() - dt.timedelta(days=2))
    overdue = verify(capture, ask(capture, "access", email="ove@example.org"))
    SubjectRequest.objects.filter(pk=overdue.pk).update(deadline=now.date() - dt.timedelta(days=1))
    ask(capture, "access", email=SUBJECT, jurisdiction="uk")  # waiting for verification
    outside = ask(capture, "access", email="old@example.org")
    SubjectRequest.objects.filter(pk=outside.pk).update(received_at=since - dt.timedelta(days=1))
    until = timezone.now()  # the period ends after everything above, however long it took

    files = workflow_evidence.workflow_records(since, until)
    summary = json.loads(files[workflow_evidence.SUBJECT_SUMMARY])

    assert summary["total"] == 4
    assert summary["by_type"] == {"access": 3, "erasure": 1}
    assert summary["by_jurisdiction"] == {"eu": 3, "uk": 1}
    assert summary["by_status"] == {
        S.AWAITING_VERIFICATION: 1, S.COMPLETED: 1, S.IN_PROGRESS: 1, S.REJECTED: 1,
    }  # fmt: skip
    assert summary["by_timeliness"] == {
        "answered_late": 1, "answered_on_time": 1, "open_in_time": 1, "open_overdue": 1,
    }  # fmt: skip
    assert sum(group["count"] for group in summary["groups"]) == 4
    text = b"".join(files.values()).decode()
    for request in SubjectRequest.objects.all():
        assert request.subject_key not in text and request.reference not in text
    for address in ["ann@", "lee@", "ove@", "old@", SUBJECT]:
        assert address not in text


def test_the_summary_reads_the_requests_in_one_query(
    crm, django_capture_on_commit_callbacks, django_assert_num_queries
):
    for number in range(5):
        ask(django_capture_on_commit_callbacks, email=f"p{number}@example.org")
    now = timezone.now()
    with django_assert_num_queries(1):
        summary = workflow_evidence.subject_request_summary(now - dt.timedelta(days=1), now)
    assert summary["total"] == 5
