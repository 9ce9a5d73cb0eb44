"""Journey: a data owner answers a subject-request task in a real browser, the request is
answered (the worker, or the server itself in the embedded mode, builds the package), the
officer sees it answered, and the subject's package downloads through its expiring link and its
manifest's SHA-256s verify."""

import contextlib
import email
import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.core import mail
from playwright.sync_api import Error as PlaywrightError

from governance.roles import Role
from requests.models import SubjectRequest, SubjectTask
from requests.models.subjects import SubjectRequestStatus as S
from requests.subjects import intake, packages, verification
from tests.browser import browser_user
from tests.factories import make_dataset
from tests.navigation import follow
from tests.worker import wait_for

pytestmark = pytest.mark.live

SUBJECT = "sam.journey@example.org"
EXPORT = [{"email": SUBJECT, "plan": "gold", "since": "2024-03-01"}]


@pytest.fixture(autouse=True)
def subject_mailbox(tmp_path_factory, monkeypatch):
    """Mail from the live server and the worker lands in files the test can read; with Redis,
    the server queues its tasks on the worker's queue (tests/worker.py names it by pid)."""
    maildir = tmp_path_factory.mktemp("subject-mail")
    monkeypatch.setenv("EMAIL_BACKEND", "tests.journeys.mailbox.EmailBackend")
    monkeypatch.setenv("LOCUS_TEST_MAILDIR", str(maildir))
    if os.environ.get("REDIS_URL"):
        monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", f"locus-test-{os.getpid()}")
    return maildir


def _mails(maildir: Path) -> list[str]:
    """Every message's subject line and decoded body, oldest first."""
    texts = []
    for path in sorted(maildir.iterdir(), key=lambda p: p.stat().st_mtime):
        for raw in path.read_bytes().split(b"-" * 79):
            if raw.strip():
                message = email.message_from_bytes(raw.strip())
                body = message.get_payload(decode=True) or b""
                texts.append(f"{message['Subject']}\n{body.decode()}")
    return texts


def _verified_request(request_fixture) -> SubjectRequest:
    """The subject asked and confirmed their code (services, tasks run in the test's process)."""
    request_fixture.getfixturevalue("celery_eager")
    request = intake.subject_request_create(
        actor=None, type="access", jurisdiction="eu", identifiers={"email": SUBJECT}
    )
    body = next(m.body for m in mail.outbox if "Please confirm" in m.subject)
    code = re.search(r"code (\d{6})", body).group(1)
    verification.verification_check(subject_request=request, code=code)
    request.refresh_from_db()
    assert request.status == S.IN_PROGRESS
    return request


def test_a_data_owner_answers_a_task_and_the_subjects_package_verifies(
    browser, request, subject_mailbox, tmp_path
):
    owner = browser_user("olga-journey-owner", [Role.DATA_OWNER])
    officer = browser_user("pat-journey-officer", [Role.PRIVACY_OFFICER])
    make_dataset(
        owner,
        slug="journey-crm",
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )
    dsr = _verified_request(request)
    if os.environ.get("REDIS_URL"):
        request.getfixturevalue("celery_worker")  # sends the subject's mail once approved
    task = SubjectTask.objects.get(request=dsr)

    page = browser.page_as(owner)
    follow(page, "Workflows", "My subject tasks")
    page.get_by_role("link", name=dsr.reference).click()
    assert SUBJECT in page.content()  # the owner sees who to look for, on a need-to-know basis
    export = tmp_path / "journey-crm.json"
    export.write_text(json.dumps(EXPORT))
    page.fill("textarea[name=note]", "Exported from the CRM by hand")
    page.set_input_files("input[name=upload]", str(export))
    page.get_by_role("button", name="Mark done").click()
    page.wait_for_url(f"**/tasks/{task.pk}/")
    assert "answered" in page.content()
    browser.shot(page, "subject-request-owner-answered")

    # The last task done, the answer waits for the officer: she reviews what will be sent.
    assert SubjectRequest.objects.get(pk=dsr.pk).status == S.READY
    assert not any("/package/" in m for m in _mails(subject_mailbox))
    officer_page = browser.page_as(officer)
    follow(officer_page, "Workflows", "Subject requests")
    officer_page.get_by_role("link", name=dsr.reference).click()
    review = officer_page.locator("#review")
    assert (
        "journey-crm" in review.inner_text() and "datasets/journey-crm.json" in review.inner_text()
    )
    assert "This answer is empty" not in review.inner_text()
    browser.shot(officer_page, "subject-request-officer-review")
    review.get_by_role("button", name="Approve and send the answer").click()
    officer_page.wait_for_url(f"**/{dsr.pk}/")
    wait_for(
        lambda: SubjectRequest.objects.get(pk=dsr.pk).status == S.COMPLETED,
        what="the answer to be sent",
    )
    officer_page.reload()
    assert "Completed" in officer_page.content()
    package = SubjectRequest.objects.get(pk=dsr.pk).package
    assert package.sha256 in officer_page.content()

    letter = wait_for(
        lambda: next((m for m in _mails(subject_mailbox) if "/package/" in m), None),
        what="the subject's e-mail with the download link",
    )
    link = urlparse(re.search(r"https?://\S+/package/\S+/", letter).group(0)).path
    subject_page = browser.chromium.new_context(
        base_url=browser.base_url, accept_downloads=True
    ).new_page()
    # Chromium reports a navigation that turned into a download as aborted.
    with subject_page.expect_download() as download, contextlib.suppress(PlaywrightError):
        subject_page.goto(link)
    saved = tmp_path / "package.zip"
    download.value.save_as(saved)
    content = saved.read_bytes()

    assert hashlib.sha256(content).hexdigest() == package.sha256
    assert f"SHA-256 of the file: {package.sha256}" in letter
    assert packages.verify_zip(content) == []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        assert {e["path"] for e in manifest["files"]} == {
            "cover-letter.txt",
            "datasets/journey-crm.csv",
            "datasets/journey-crm.json",
        }
        assert json.loads(archive.read("datasets/journey-crm.json")) == EXPORT
    assert SubjectRequest.objects.get(pk=dsr.pk).package.downloads == 1
    officer_page.reload()
    assert "downloaded 1 time" in officer_page.content()
    browser.shot(officer_page, "subject-request-answered-and-downloaded")


def test_a_request_by_phone_is_verified_by_the_officer_and_answered_after_her_review(
    browser, request, subject_mailbox
):
    officer = browser_user("pat-phone-officer", [Role.PRIVACY_OFFICER])
    owner = browser_user("olga-phone-owner", [Role.DATA_OWNER])
    make_dataset(
        owner,
        slug="phone-crm",
        lawful_basis="contract",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
    )
    if os.environ.get("REDIS_URL"):
        request.getfixturevalue("celery_worker")  # discovery, and the subject's mail
    page = browser.page_as(officer)
    # The officer records what the subject asked on the phone.
    page.goto("/workflows/subjects/new/?jurisdiction=eu")
    page.select_option("select[name=type]", "access")
    page.fill("input[name=email]", SUBJECT)
    page.select_option("select[name=channel]", "phone")
    page.get_by_role("button", name="Record").click()
    page.wait_for_url(lambda url: re.search(r"/subjects/\d+/$", url) is not None)
    dsr = SubjectRequest.objects.get(channel="phone")
    assert dsr.status == S.AWAITING_VERIFICATION
    # She called back on the number on file: she records it instead of waiting for an e-mail.
    page.locator("summary", has_text="Record identity verified another way").click()
    page.select_option("select[name=method]", "call_back")
    page.fill("textarea[name=checked]", "Called the number on the account; date of birth matched")
    page.get_by_role("button", name="Identity verified: find the data").click()
    wait_for(
        lambda: SubjectRequest.objects.get(pk=dsr.pk).status == S.IN_PROGRESS,
        what="discovery after the officer's verification",
    )
    # The owner answers the task (her own journey is the test above).
    task = SubjectTask.objects.get(request=dsr)
    from requests.subjects import work

    work.task_complete(actor=owner, task=task, rows=[{"email": SUBJECT, "plan": "basic"}])
    assert SubjectRequest.objects.get(pk=dsr.pk).status == S.READY
    page.reload()
    timeline = page.locator("#timeline-heading + ol").inner_text()
    assert f"{officer.get_full_name()} verified the subject's identity" in timeline
    assert "Called back on a number already on file" in timeline
    review = page.locator("#review")
    assert "phone-crm" in review.inner_text()
    review.get_by_role("button", name="Approve and send the answer").click()
    wait_for(
        lambda: SubjectRequest.objects.get(pk=dsr.pk).status == S.COMPLETED,
        what="the answer to be sent on her approval",
    )
    browser.shot(page, "subject-request-phone-verified-and-answered")
