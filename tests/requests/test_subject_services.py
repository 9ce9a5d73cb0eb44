"""Data-subject requests through the services: intake, verification, duplicates, discovery,
manual tasks, model decisions, the package, steps of the clock, the SLA watch."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from governance.errors import StateConflict
from governance.ledger.chain import pseudonym
from governance.models import LedgerEntry, Notification, Purpose, TrainingRun, TrainingRunDataset
from requests.models import (
    DatasetConnector,
    MlPropagationDecision,
    SubjectEvent,
    SubjectRequest,
    SubjectTask,
)
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import TaskStatus, VerificationState, unseal_bytes
from requests.subjects import (
    discovery,
    intake,
    ml,
    officer_steps,
    packages,
    review,
    selectors,
    sla,
    timeline,
    uploads,
    verification,
    work,
    workflow,
)
from tests.factories import make_dataset
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    approve,
    ask,
    billing,
    crm,
    eager,
    last_code,
    unrelated,
    verify,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]
capture = None


@pytest.fixture(autouse=True)
def _capture(django_capture_on_commit_callbacks):
    global capture
    capture = django_capture_on_commit_callbacks


def _ready_request(type_="access"):
    request = ask(capture, type_)
    return verify(capture, request)


# --- Intake ---------------------------------------------------------------------------------


def test_intake_seals_identifiers_and_keeps_them_off_the_ledger(privacy_officer):
    request = ask(capture, "erasure", identifiers={"customer_id": "C-1042"}, details="old account")
    assert request.status == S.AWAITING_VERIFICATION
    assert request.deadline > request.received_at.date()  # (the arithmetic: test_subject_deadlines)
    assert SUBJECT not in request.sealed and "C-1042" not in request.sealed
    assert request.identifiers == {"email": SUBJECT, "customer_id": "C-1042"}
    assert request.details == "old account"
    assert request.subject_key == pseudonym(SUBJECT)
    for entry in LedgerEntry.objects.all():
        payload = bytes(entry.payload).decode()
        assert SUBJECT not in payload and "C-1042" not in payload
        assert request.subject_key in entry.subjects
    assert LedgerEntry.objects.filter(kind="subject_request.received").count() == 1
    assert all(SUBJECT not in e.comment for e in SubjectEvent.objects.all())
    assert Notification.objects.filter(recipient=privacy_officer, kind="subject_request.received")
    assert [SUBJECT] in [m.to for m in mail.outbox]


@pytest.mark.parametrize(
    ("kwargs", "field", "reason"),
    [
        ({"type": "forget-me"}, "type", "Unknown request type"),
        ({"jurisdiction": "atlantis"}, "jurisdiction", "Unknown jurisdiction"),
        ({"identifiers": {}}, "identifiers", "e-mail address"),
        ({"identifiers": {"customer_id": "C-1"}}, "identifiers", "e-mail address is needed"),
        ({"identifiers": {"email": "not-an-address"}}, "identifiers", "is not an e-mail"),
        ({"identifiers": {"email": SUBJECT, "shoe": "42"}}, "identifiers", "Unknown identifier"),
        ({"channel": "pigeon"}, "channel", "Unknown channel"),
        (
            {"received_at": timezone.now() + dt.timedelta(days=1)},
            "received_at",
            "in the future",
        ),
    ],
)
def test_bad_intake_names_the_field_and_creates_nothing(kwargs, field, reason):
    arguments = {"type": "access", "jurisdiction": "eu", "identifiers": {"email": SUBJECT}}
    arguments.update(kwargs)
    with pytest.raises(ValidationError) as caught:
        intake.subject_request_create(actor=None, **arguments)
    assert reason in " ".join(caught.value.message_dict[field])
    assert not SubjectRequest.objects.exists()


def test_only_officers_record_requests_for_others(data_owner, privacy_officer):
    with pytest.raises(PermissionDenied):
        intake.subject_request_create(
            actor=data_owner, type="access", jurisdiction="eu", identifiers={"email": SUBJECT}
        )
    request = intake.subject_request_create(
        actor=privacy_officer,
        type="access",
        jurisdiction="us-ca",
        identifiers={"email": SUBJECT},
        channel="email",
        received_at=timezone.now() - dt.timedelta(days=2),
    )
    assert request.created_by == privacy_officer
    assert request.acknowledge_by is not None  # CCPA: 10 business days
    assert (request.deadline - request.received_at.date()).days == 45


# --- Verification ---------------------------------------------------------------------------


def test_the_code_verifies_and_discovery_runs(crm, billing):
    request = ask(capture)
    request = verify(capture, request)
    assert request.verification == VerificationState.VERIFIED
    assert request.status == S.IN_PROGRESS  # discovery ran (eagerly) on commit


def test_the_link_token_verifies(crm):
    request = ask(capture)
    _, token = last_code(request)
    with capture(execute=True):
        request = verification.verification_check(subject_request=request, token=token)
    assert request.verification == VerificationState.VERIFIED


def test_an_expired_code_is_refused_and_a_resend_replaces_it():
    request = ask(capture)
    code, _ = last_code(request)
    request.challenges.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    with pytest.raises(ValidationError, match="expired"):
        verification.verification_check(subject_request=request, code=code)
    with capture(execute=True):
        verification.verification_resend(subject_request=request)
    new_code, _ = last_code(request)
    if new_code != code:
        with pytest.raises(ValidationError):
            verification.verification_check(subject_request=request, code=code)
    with capture(execute=True):
        verification.verification_check(subject_request=request, code=new_code)
    request.refresh_from_db()
    assert request.status == S.READY  # verified; no dataset holds data: awaits review


def test_a_used_code_cannot_be_used_again():
    request = ask(capture)
    code, _ = last_code(request)
    verify(capture, request)
    with pytest.raises(ValidationError, match="not waiting"):
        verification.verification_check(subject_request=request, code=code)


# --- Duplicates -----------------------------------------------------------------------------


def test_a_duplicate_is_linked_verified_on_its_own_and_never_run_twice(crm):
    original = ask(capture, "erasure")
    duplicate = ask(capture, "erasure", email=SUBJECT.upper())
    other_type = ask(capture, "access")
    assert duplicate.duplicate_of == original
    assert other_type.duplicate_of is None
    # The original's verification does not verify the duplicate.
    verify(capture, original)
    duplicate.refresh_from_db()
    assert duplicate.status == S.AWAITING_VERIFICATION
    duplicate = verify(capture, duplicate)
    assert duplicate.status == S.DUPLICATE
    assert not duplicate.tasks.exists()
    assert SubjectTask.objects.filter(request=original).count() == 1


def test_a_duplicate_waits_for_its_original_and_goes_on_if_the_original_ends(crm, privacy_officer):
    original = verify(capture, ask(capture, "access"))
    duplicate = verify(capture, ask(capture, "access"))
    assert duplicate.status == S.DUPLICATE
    with capture(execute=True):
        officer_steps.subject_request_withdraw(
            actor=privacy_officer, subject_request=original, reason="asked"
        )
    duplicate.refresh_from_db()
    assert duplicate.status == S.IN_PROGRESS
    assert duplicate.tasks.count() == 1


# --- Discovery ------------------------------------------------------------------------------


def test_discovery_finds_datasets_by_category_jurisdiction_and_identifier_kind(
    crm, billing, unrelated, data_owner
):
    needs_customer_id = make_dataset(
        data_owner, slug="loyalty", lawful_basis="consent", personal_data_categories=["contact"]
    )
    DatasetConnector.objects.create(
        dataset=needs_customer_id, kind="manual", identifier_kinds=["customer_id"]
    )
    request = _ready_request()
    assert sorted(request.tasks.values_list("dataset_slug", flat=True)) == ["billing", "crm"]
    assert {t.owner.username for t in request.tasks.all()} == {"olga-owner", "oscar-owner"}
    assert all(t.due_on <= request.due for t in request.tasks.all())
    assert Notification.objects.filter(kind="subject_request.task").count() == 2
    # With a customer id, the loyalty dataset is in.
    second = ask(capture, "access", email="kim@example.org", identifiers={"customer_id": "C-9"})
    second = verify(capture, second)
    assert "loyalty" in second.tasks.values_list("dataset_slug", flat=True)


def test_discovery_is_idempotent(crm, billing):
    request = _ready_request()
    ledger_before = LedgerEntry.objects.count()
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.VERIFIED)  # a redelivery
    assert discovery.discovery_run(request_id=request.pk) == 2
    assert request.tasks.count() == 2
    assert discovery.discovery_run(request_id=request.pk) == 0
    assert request.tasks.count() == 2
    assert LedgerEntry.objects.count() == ledger_before + 1


def test_a_request_with_no_dataset_awaits_review_and_its_empty_answer_must_be_confirmed():
    request = _ready_request()
    assert request.status == S.READY and not hasattr(request, "package")
    assert not mail.outbox or "answered" not in mail.outbox[-1].subject
    answer = review.review_of(request)
    assert answer.empty and answer.records == 0 and answer.datasets == []
    with pytest.raises(ValidationError) as caught:
        officer_steps.subject_request_close(actor=_officer(), subject_request=request)
    assert "confirm_empty" in caught.value.message_dict
    request.refresh_from_db()
    assert request.status == S.READY
    officer = _officer()
    request = approve(capture, request, officer, confirm_empty=True)
    assert request.status == S.COMPLETED
    assert request.package.manifest["files"]
    assert request.events.get(action="complete").actor_name == officer.get_full_name()


# --- Manual tasks and the package -----------------------------------------------------------


def test_manual_tasks_then_the_package_verifies(crm, billing, data_owner, other_owner):  # fmt: skip
    request = _ready_request("portability")
    crm_task = request.tasks.get(dataset_slug="crm")
    billing_task = request.tasks.get(dataset_slug="billing")
    with pytest.raises(PermissionDenied):
        work.task_complete(actor=other_owner, task=crm_task, rows=[])
    with pytest.raises(ValidationError, match="Upload the subject's records"):
        work.task_complete(actor=data_owner, task=crm_task)
    rows = uploads.parse_upload("crm.csv", b"email,name\nsam.subject@example.org,Sam\n")
    with capture(execute=True):
        work.task_complete(actor=data_owner, task=crm_task, rows=rows)
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS
    with pytest.raises(StateConflict, match="already done"):
        work.task_complete(actor=data_owner, task=crm_task, note="again")
    with capture(execute=True):
        work.task_complete(actor=other_owner, task=billing_task, note="No records held")
    request.refresh_from_db()
    assert request.status == S.READY  # nothing is sent before the officer's review
    sent_before = len(mail.outbox)
    answer = review.review_of(request)
    assert not answer.empty and answer.records == 1
    assert {line.dataset: line.records for line in answer.datasets} == {"billing": 0, "crm": 1}
    request = approve(capture, request, _officer())
    assert request.status == S.COMPLETED and len(mail.outbox) == sent_before + 1
    package = request.package
    content = unseal_bytes(package.content_sealed)
    assert packages.verify_zip(content) == []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = set(archive.namelist())
        assert {"datasets/crm.json", "datasets/crm.csv", "datasets/billing.json"} <= names
        assert {"cover-letter.txt", "manifest.json"} <= names
        assert json.loads(archive.read("datasets/crm.json")) == [{"email": SUBJECT, "name": "Sam"}]
        assert archive.read("datasets/crm.csv").decode().startswith("email,name")
    # The subject gets a link; the link is bound to this request and expires.
    body = mail.outbox[-1].body
    token = body.split("/package/")[1].split("/")[0]
    assert packages.package_for_download(request_id=request.pk, token=token).pk == package.pk
    with pytest.raises(packages.PackageLinkInvalid):
        packages.package_for_download(request_id=request.pk, token=token + "x")
    other = _ready_request()
    with pytest.raises(packages.PackageLinkInvalid):
        packages.package_for_download(request_id=other.pk, token=token)
    package.expires_at = timezone.now()
    package.save()
    with pytest.raises(packages.PackageLinkExpired, match="expired"):
        packages.package_for_download(request_id=request.pk, token=token)


def test_a_tampered_package_fails_verification():
    answered = approve(capture, _ready_request(), _officer(), confirm_empty=True)
    content = unseal_bytes(answered.package.content_sealed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data + b"!" if name == "cover-letter.txt" else data)
    assert packages.verify_zip(buffer.getvalue()) == ["cover-letter.txt: SHA-256 differs"]


# --- Erasure and model propagation ----------------------------------------------------------


def _run(name, datasets, model):
    run = TrainingRun.objects.create(
        name=name,
        purpose=Purpose.objects.order_by("code").first(),
        verdict="allow",
        model_name=model,
        created_by_name="test",
    )
    for dataset in datasets:
        TrainingRunDataset.objects.create(run=run, dataset=dataset)
    return run


def test_erasure_lists_the_models_and_needs_a_decision_for_each(
    crm, billing, data_owner, other_owner, engineer
):
    _run("churn-v3", [crm], "churn-model")
    _run("fraud-v1", [crm, billing], "fraud-model")
    request = _ready_request("erasure")
    decisions = {d.run_name: d for d in request.ml_decisions.all()}
    assert set(decisions) == {"churn-v3", "fraud-v1"}
    assert decisions["fraud-v1"].datasets == ["billing", "crm"]
    for task in request.tasks.all():
        with pytest.raises(ValidationError, match="Say what was done"):
            work.task_complete(actor=task.owner, task=task, note="")
        with capture(execute=True):
            work.task_complete(actor=task.owner, task=task, note="Deleted the rows")
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS  # models still to decide
    with pytest.raises(StateConflict) as caught:
        officer_steps.subject_request_close(actor=_officer(), subject_request=request)
    assert "model decision" in caught.value.message_dict["tasks"][0]
    with pytest.raises(PermissionDenied):
        ml.ml_decision_record(actor=other_owner, decision=decisions["churn-v3"], choice="retrain")
    with pytest.raises(PermissionDenied):
        ml.ml_decision_record(actor=engineer, decision=decisions["churn-v3"], choice="retrain")
    with pytest.raises(ValidationError, match="needs a reason"):
        ml.ml_decision_record(actor=data_owner, decision=decisions["churn-v3"], choice="accept")
    ml.ml_decision_record(actor=data_owner, decision=decisions["churn-v3"], choice="retrain")
    with pytest.raises(ValidationError, match="already recorded"):
        ml.ml_decision_record(actor=data_owner, decision=decisions["churn-v3"], choice="unlearn")
    with capture(execute=True):
        ml.ml_decision_record(
            actor=other_owner,
            decision=decisions["fraud-v1"],
            choice="accept",
            reason="aggregated features only",
        )
    request.refresh_from_db()
    assert request.status == S.READY
    assert not review.review_of(request).empty  # erased by hand: said in words, not counted
    request = approve(capture, request, _officer())
    assert request.status == S.COMPLETED
    assert request.package.kind == "certificate"
    with zipfile.ZipFile(io.BytesIO(unseal_bytes(request.package.content_sealed))) as archive:
        certificate = json.loads(archive.read("certificate.json"))
    assert {m["training_run"]: m["decision"] for m in certificate["models"]} == {
        "churn-v3": "retrain",
        "fraud-v1": "accept",
    }
    assert SUBJECT not in json.dumps(certificate)
    assert MlPropagationDecision.objects.filter(decision="").count() == 0


def _officer():
    from governance.roles import Role
    from tests.factories import UserFactory

    return UserFactory(username="pia-officer", roles=[Role.PRIVACY_OFFICER])


# --- Officer steps --------------------------------------------------------------------------


def test_close_with_open_tasks_is_refused_with_the_reason(crm, privacy_officer):
    request = _ready_request()
    with pytest.raises(StateConflict) as caught:
        officer_steps.subject_request_close(actor=privacy_officer, subject_request=request)
    assert "1 task(s) still open: crm" in caught.value.message_dict["tasks"][0]


def test_extend_once_before_the_deadline_and_tell_the_subject(crm, privacy_officer, executive):
    request = _ready_request()
    with pytest.raises(PermissionDenied):
        officer_steps.subject_request_extend(
            actor=executive, subject_request=request, reason="complex"
        )
    with pytest.raises(ValidationError, match="reason"):
        officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason=" "
        )
    with capture(execute=True):
        request = officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="Many systems"
        )
    assert request.extended_deadline > request.deadline
    assert "Many systems" in mail.outbox[-1].body
    with pytest.raises(StateConflict, match="already been extended"):
        officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="again"
        )


def test_an_extension_after_the_deadline_is_refused(crm, privacy_officer):
    request = _ready_request()
    SubjectRequest.objects.filter(pk=request.pk).update(
        deadline=timezone.now().date() - dt.timedelta(days=1)
    )
    with pytest.raises(StateConflict) as caught:
        officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="late"
        )
    assert "has passed" in caught.value.message_dict["deadline"][0]


def test_an_extension_where_the_law_has_none_is_refused(privacy_officer):
    request = verify(capture, ask(capture, jurisdiction="br"))
    request.refresh_from_db()
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.IN_PROGRESS)
    with pytest.raises(ValidationError, match="no extension"):
        officer_steps.subject_request_extend(
            actor=privacy_officer, subject_request=request, reason="x"
        )


def test_pause_and_resume_move_the_deadline_on(crm, privacy_officer):
    request = _ready_request()
    deadline = request.deadline
    request = officer_steps.subject_request_pause(
        actor=privacy_officer, subject_request=request, reason="Waiting for ID"
    )
    assert request.status == S.PAUSED
    SubjectRequest.objects.filter(pk=request.pk).update(
        paused_at=timezone.now() - dt.timedelta(days=3) + dt.timedelta(minutes=1)
    )
    request = officer_steps.subject_request_resume(actor=privacy_officer, subject_request=request)
    assert request.status == S.IN_PROGRESS
    assert request.deadline == deadline + dt.timedelta(days=3)
    assert request.paused_days == 3
    with pytest.raises(StateConflict, match="not paused"):
        officer_steps.subject_request_resume(actor=privacy_officer, subject_request=request)


def test_every_transition_has_an_event_and_a_ledger_entry(crm, privacy_officer):
    request = _ready_request()
    officer_steps.subject_request_reject(
        actor=privacy_officer, subject_request=request, reason="Manifestly unfounded"
    )
    actions = list(request.events.values_list("action", flat=True))
    assert actions[:1] == ["received"] and {"verify", "discover", "reject"} <= set(actions)
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert {"subject_request.verify", "subject_request.discover", "subject_request.reject"} <= kinds
    with pytest.raises(StateConflict, match="cannot"):
        officer_steps.subject_request_withdraw(actor=privacy_officer, subject_request=request)
    with pytest.raises(PermissionError):
        request.events.first().delete()


def test_a_stale_status_loses_the_compare_and_swap(crm, privacy_officer):
    request = _ready_request()
    stale = SubjectRequest.objects.get(pk=request.pk)
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.PAUSED)
    with pytest.raises(StateConflict, match="changed meanwhile"):
        workflow.transition(stale, "reject", actor=privacy_officer)


# --- SLA watch ------------------------------------------------------------------------------


def test_sla_watch_reminds_owners_and_escalates_to_officers_once(crm, data_owner, privacy_officer):
    request = _ready_request()
    today = timezone.now().date()
    SubjectRequest.objects.filter(pk=request.pk).update(deadline=today + dt.timedelta(days=2))
    SubjectTask.objects.filter(request=request).update(due_on=today - dt.timedelta(days=1))
    first = sla.subject_sla_watch()
    again = sla.subject_sla_watch()
    assert first["reminded"] == 1 and first["escalated"] == 1
    assert again["reminded"] == 0 and again["escalated"] == 0
    assert Notification.objects.filter(recipient=data_owner, kind="subject_request.task-overdue")
    assert (
        Notification.objects.filter(
            recipient=privacy_officer, kind="subject_request.escalated"
        ).count()
        == 1
    )
    SubjectRequest.objects.filter(pk=request.pk).update(deadline=today - dt.timedelta(days=1))
    assert sla.subject_sla_watch()["escalated"] == 1  # overdue: told once more


def test_sla_watch_restarts_a_lost_discovery():
    request = ask(capture)
    code, _ = last_code(request)
    with capture(execute=False):  # the discovery message is lost
        verification.verification_check(subject_request=request, code=code)
    SubjectRequest.objects.filter(pk=request.pk).update(
        verified_at=timezone.now() - dt.timedelta(hours=1)
    )
    with capture(execute=True):
        counts = sla.subject_sla_watch()
    assert counts["requeued"] >= 1
    request.refresh_from_db()
    assert request.status == S.READY  # no dataset: the empty answer awaits review


def test_task_status_table_is_what_the_queue_shows(crm, data_owner, other_owner):
    from requests.subjects.selectors import open_tasks_for

    _ready_request()
    assert open_tasks_for(data_owner).count() == 1
    assert open_tasks_for(other_owner).count() == 0
    assert open_tasks_for(data_owner).first().status == TaskStatus.OPEN


def test_the_timeline_says_who_did_what_in_words(client, crm, data_owner):
    request = _ready_request("access")
    (task,) = request.tasks.all()
    rows = uploads.parse_upload("crm.csv", b"email,name\nsam.subject@example.org,Sam\n")
    with capture(execute=True):
        work.task_complete(actor=data_owner, task=task, rows=rows)
    request = approve(capture, request, _officer())
    said = [(line.who, line.what, line.detail, line.status) for line in timeline.lines(request.events.all())]  # fmt: skip
    assert said[0][:2] == ("the subject", "received the request")
    assert ("the subject", "confirmed it is theirs with the e-mailed code") in [s[:2] for s in said]
    done = next(s for s in said if s[1] == "finished a task")
    assert done[0] == data_owner.get_full_name()
    assert done[2] == "crm, by hand: 1 record(s) exported"
    assert said[-1][1:2] == ("approved the answer and sent it to the subject",)
    assert said[-1][3] == "Completed"
    assert not any("{" in s[2] or "_" in s[1] for s in said)  # no codes, no JSON
    client.force_login(_officer())
    page = client.get(reverse("workflows:subject-detail", args=[request.pk])).content.decode()
    assert "approved the answer and sent it to the subject" in page
    assert "task_done" not in page


def test_the_officers_open_list_puts_requests_awaiting_review_first(crm, data_owner):
    soon = _ready_request("access")  # no task done: in progress, deadline first
    later = _ready_request("portability")  # another type: not a duplicate of the first
    SubjectRequest.objects.filter(pk=later.pk).update(deadline=soon.deadline + dt.timedelta(days=9))
    (task,) = later.tasks.all()
    with capture(execute=True):
        work.task_complete(actor=data_owner, task=task, rows=[{"email": SUBJECT}])
    rows = list(selectors.open_for_officers(SubjectRequest.objects.all()))
    assert [r.pk for r in rows] == [later.pk, soon.pk]
    assert rows[0].status == S.READY
