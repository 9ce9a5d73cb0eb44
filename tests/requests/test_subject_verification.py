"""Verifying a subject's identity against someone who wants the request refused: the verify
address is an unguessable token (not the id) and says nothing about other requests; wrong codes
slow the next attempt, per request and per client address, and never reject the request;
codes that run out lock verification until an officer unlocks it. Time is injected."""

import datetime as dt
import json

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from governance.errors import StateConflict
from governance.models import LedgerEntry, Notification
from requests.models import SubjectEvent, SubjectRequest
from requests.models.subjects import SubjectRequestStatus as S
from requests.models.subjects import VerificationState
from requests.subjects import attempts, verification
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    eager,
    fresh_throttle,
    last_code,
    verify,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1"
ATTACKER = "203.0.113.66"


@pytest.fixture(autouse=True)
def rules(settings):
    """Three tries per code, two codes per request, two free wrong codes, then 30 s doubling."""
    settings.SUBJECT_VERIFICATION_ATTEMPTS = 3
    settings.SUBJECT_VERIFICATION_CHALLENGES = 2
    settings.SUBJECT_VERIFICATION_FREE_FAILURES = 2
    settings.SUBJECT_VERIFICATION_WAIT_SECONDS = 30
    settings.SUBJECT_VERIFICATION_MAX_WAIT_SECONDS = 3600
    settings.SUBJECT_INTAKE_RATE = "1000/hour"


@pytest.fixture
def pending(django_capture_on_commit_callbacks) -> SubjectRequest:
    return ask(django_capture_on_commit_callbacks)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def _check(request, code, at, client=ATTACKER):
    return verification.verification_check(
        subject_request=request, code=code, client=client, now=at
    )


def _refused(request, code, at, match, client=ATTACKER):
    with pytest.raises(ValidationError, match=match) as caught:
        _check(request, code, at, client)
    return caught.value


# --- The rule ---------------------------------------------------------------------------------


def test_the_wait_doubles_after_the_free_failures_up_to_its_cap(settings):
    settings.SUBJECT_VERIFICATION_MAX_WAIT_SECONDS = 200
    waits = [attempts.wait_after(n).total_seconds() for n in range(8)]
    assert waits == [0, 0, 0, 30, 60, 120, 200, 200]


# --- Per request ------------------------------------------------------------------------------


def test_wrong_codes_slow_the_request_and_running_out_locks_codes_but_never_rejects(
    pending, privacy_officer, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    code, _ = last_code(pending)
    wrong = _wrong(code)
    _refused(pending, wrong, t0, "2 attempts left", client="198.51.100.1")
    _refused(pending, wrong, t0, "1 attempt left", client="198.51.100.2")
    _refused(pending, wrong, t0, "tried too often; ask for a new one", client="198.51.100.3")
    pending.refresh_from_db()
    assert (pending.verify_failures, pending.verify_wait_until) == (
        3,
        t0 + dt.timedelta(seconds=30),
    )

    # The wait holds whatever address asks: no new code, no check.
    with pytest.raises(verification.VerificationWait) as waiting:
        verification.verification_resend(subject_request=pending, client="198.51.100.4", now=t0)
    assert waiting.value.retry_after == 31
    with django_capture_on_commit_callbacks(execute=True):
        verification.verification_resend(subject_request=pending, now=t0 + dt.timedelta(seconds=31))
    code, _ = last_code(pending)
    t1 = t0 + dt.timedelta(seconds=31)
    _refused(pending, _wrong(code), t1, "2 attempts left; try again in 60 seconds", client="")
    with pytest.raises(verification.VerificationWait):  # even the right code waits its turn
        _check(pending, code, t1 + dt.timedelta(seconds=59), client="")
    t2 = t1 + dt.timedelta(seconds=61)
    _refused(pending, _wrong(code), t2, "1 attempt left; try again in 120 seconds", client="")
    t3 = t2 + dt.timedelta(seconds=121)
    _refused(pending, _wrong(code), t3, "no more codes can be tried", client="")

    pending.refresh_from_db()
    assert pending.status == S.AWAITING_VERIFICATION  # never rejected
    assert pending.verification == VerificationState.LOCKED
    later = t3 + dt.timedelta(days=1)
    _refused(pending, code, later, "until we contact you", client="")
    with pytest.raises(ValidationError, match="until we contact you"):
        verification.verification_resend(subject_request=pending, now=later)
    final = LedgerEntry.objects.filter(kind="subject_request.verification_locked")
    assert final.count() == 2  # the first code spent, then verification locked
    assert SubjectEvent.objects.filter(request=pending, action="verification_locked").count() == 2
    told = Notification.objects.get(kind="subject_request.verification_locked")
    assert told.recipient == privacy_officer
    assert not LedgerEntry.objects.filter(kind="subject_request.reject").exists()


def test_asking_for_a_code_when_none_is_left_locks_codes_but_never_rejects(client, pending):
    now = timezone.now()
    verification.verification_resend(subject_request=pending, now=now)
    with pytest.raises(ValidationError, match="No more codes"):
        verification.verification_resend(subject_request=pending, now=now)
    pending.refresh_from_db()
    assert (pending.status, pending.verification) == (S.AWAITING_VERIFICATION, "locked")
    page = client.get(reverse("workflows:subject-verify", args=[pending.verify_token]))
    assert page.status_code == 200 and "no code is taken for now" in page.content.decode()


def _locked_request(request) -> SubjectRequest:
    now = timezone.now()
    verification.verification_resend(subject_request=request, now=now)
    with pytest.raises(ValidationError):
        verification.verification_resend(subject_request=request, now=now)
    request.refresh_from_db()
    return request


def test_an_officer_unlocks_and_the_subject_gets_a_fresh_code(
    pending, privacy_officer, cn_officer, data_owner, django_capture_on_commit_callbacks
):
    locked = _locked_request(pending)
    for stranger in (cn_officer, data_owner):
        with pytest.raises(PermissionDenied):
            verification.verification_unlock(actor=stranger, subject_request=locked)
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        unlocked = verification.verification_unlock(
            actor=privacy_officer, subject_request=locked, reason="The subject phoned us"
        )
    assert (unlocked.verification, unlocked.verify_failures, unlocked.codes_resent) == (
        "pending",
        0,
        0,
    )
    assert len(mail.outbox) == sent + 1
    event = SubjectEvent.objects.get(request=pending, action="verification_unlocked")
    assert (event.actor, event.comment) == (privacy_officer, "The subject phoned us")
    assert LedgerEntry.objects.filter(kind="subject_request.verification_unlocked").count() == 1
    verified = verify(django_capture_on_commit_callbacks, unlocked)
    assert verified.verification == VerificationState.VERIFIED
    with pytest.raises(StateConflict):
        verification.verification_unlock(actor=privacy_officer, subject_request=verified)


def test_a_request_with_no_wrong_code_has_nothing_to_unlock(pending, privacy_officer):
    with pytest.raises(StateConflict, match="after wrong codes"):
        verification.verification_unlock(actor=privacy_officer, subject_request=pending)


# --- Per client address -----------------------------------------------------------------------


def test_wrong_codes_from_one_address_slow_it_on_every_request(
    pending, django_capture_on_commit_callbacks
):
    other = ask(django_capture_on_commit_callbacks, email="olga.other@example.org")
    t0 = timezone.now()
    first, _ = last_code(pending)
    second, _ = last_code(other)
    _refused(pending, _wrong(first), t0, "attempt")
    _refused(other, _wrong(second), t0, "attempt")
    _refused(pending, _wrong(first), t0, "attempt")  # the address's third: it waits 30 s
    other.refresh_from_db()
    assert other.verify_failures == 1 and other.verify_wait_until is None
    with pytest.raises(verification.VerificationWait):
        _check(other, second, t0 + dt.timedelta(seconds=29))
    assert (
        _check(other, second, t0 + dt.timedelta(seconds=29), client="192.0.2.10").verification
        == "verified"
    )


# --- Addressed by token, over the API and the pages -------------------------------------------


def test_the_verify_address_is_a_token_and_the_mail_never_names_the_id(
    pending, django_capture_on_commit_callbacks
):
    body = mail.outbox[-1].body
    assert len(pending.verify_token) >= 32  # 192 random bits
    assert reverse("workflows:subject-verify", args=[pending.verify_token]) in body
    assert f"/{pending.pk}/verify" not in body
    other = ask(django_capture_on_commit_callbacks, email="olga.other@example.org")
    assert other.verify_token != pending.verify_token


def test_unknown_tokens_and_other_states_look_the_same(
    api_client, client, pending, django_capture_on_commit_callbacks
):
    done = verify(django_capture_on_commit_callbacks, ask(django_capture_on_commit_callbacks))
    answers = set()
    for token in ("no-such-token", done.verify_token):
        page = client.get(reverse("workflows:subject-verify", args=[token]))
        posted = client.post(reverse("workflows:subject-verify", args=[token]), {"code": "1"})
        link = client.get(reverse("workflows:subject-verify-link", args=[token, "x"]))
        api = api_client().post(
            f"{API}/subject-intake/verify", {"token": token, "code": "123456"}, format="json"
        )
        assert {page.status_code, posted.status_code, link.status_code, api.status_code} == {404}
        assert done.reference not in page.content.decode() + api.content.decode()
        answers.add((page.content, posted.content, link.content, api.content))
    assert len(answers) == 1, "a verified request must answer as an unknown token does"
    # The old address by sequential id leads nowhere.
    assert client.get(f"/workflows/subjects/{pending.pk}/verify/").status_code == 404
    assert (
        client.get(reverse("workflows:subject-verify", args=[pending.verify_token])).status_code
        == 200
    )


def test_the_api_answers_429_with_retry_after_while_a_wait_runs(api_client, pending, settings):
    settings.SUBJECT_VERIFICATION_WAIT_SECONDS = 3600  # longer than any test takes
    code, _ = last_code(pending)
    client = api_client()
    url = f"{API}/subject-intake/verify"
    for _ in range(2):
        answer = client.post(url, {"token": pending.verify_token, "code": _wrong(code)})
        assert answer.status_code == 400, answer.content
    third = client.post(url, {"token": pending.verify_token, "code": _wrong(code)})
    assert third.status_code == 400 and "ask for a new one" in third.json()["code"][0]
    waiting = client.post(url, {"token": pending.verify_token, "resend": True})
    assert waiting.status_code == 429
    assert 3000 < int(waiting["Retry-After"]) <= 3601
    assert "try again in" in waiting.json()["code"][0]
    pending.refresh_from_db()
    assert pending.status == S.AWAITING_VERIFICATION


def test_the_page_answers_429_while_a_wait_runs(client, pending, settings):
    settings.SUBJECT_VERIFICATION_WAIT_SECONDS = 3600  # longer than any test takes
    code, _ = last_code(pending)
    url = reverse("workflows:subject-verify", args=[pending.verify_token])
    for _ in range(3):
        assert client.post(url, {"code": _wrong(code)}).status_code == 400
    waiting = client.post(url, {"code": code})
    assert waiting.status_code == 429 and "try again in" in waiting.content.decode()
    pending.refresh_from_db()
    assert pending.status == S.AWAITING_VERIFICATION


def test_officers_unlock_over_the_api_and_on_the_request_page(
    api_client, client, pending, privacy_officer, cn_officer, eu_officer
):
    locked = _locked_request(pending)
    url = f"{API}/subject-requests/{locked.pk}/unlock-verification/"
    assert api_client(cn_officer).post(url, {}, format="json").status_code == 404
    client.force_login(eu_officer)
    page = client.get(reverse("workflows:subject-detail", args=[locked.pk]))
    assert b"Unlock verification" in page.content
    answer = api_client(eu_officer).post(url, {"reason": "Phoned"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["verification"] == "pending"
    again = api_client(eu_officer).post(url, {}, format="json")
    assert again.status_code == 409
    locked = _locked_request(SubjectRequest.objects.get(pk=locked.pk))
    step = reverse("workflows:subject-step", args=[locked.pk, "unlock"])
    assert client.post(step, {"reason": ""}).status_code == 302
    locked.refresh_from_db()
    assert locked.verification == "pending"
    timeline = client.get(reverse("workflows:subject-detail", args=[locked.pk])).content.decode()
    assert timeline.count("unlocked verification") == 2


# --- Verified by other means ----------------------------------------------------------------


def test_an_officer_records_identity_verified_by_phone_and_the_codes_stop(
    pending, eu_officer, cn_officer, data_owner, django_capture_on_commit_callbacks
):
    code, _ = last_code(pending)
    for actor in (cn_officer, data_owner):  # not an officer who answers for the request
        with pytest.raises(PermissionDenied):
            verification.verification_record(
                actor=actor, subject_request=pending, method="call_back", checked="x"
            )
    with pytest.raises(ValidationError) as blank:
        verification.verification_record(
            actor=eu_officer, subject_request=pending, method="call_back", checked="  "
        )
    assert "checked" in blank.value.message_dict
    with pytest.raises(ValidationError) as unknown:
        verification.verification_record(
            actor=eu_officer, subject_request=pending, method="vibes", checked="x"
        )
    assert "method" in unknown.value.message_dict
    with django_capture_on_commit_callbacks(execute=True):
        done = verification.verification_record(
            actor=eu_officer,
            subject_request=pending,
            method="call_back",
            checked="Called the number on the customer record; date of birth and last order matched",
        )
    done.refresh_from_db()
    assert done.verification == VerificationState.VERIFIED and done.verified_at is not None
    assert done.status in (S.VERIFIED, S.IN_PROGRESS, S.READY)  # discovery ran on commit
    event = SubjectEvent.objects.get(request=done, action="verify")
    assert event.actor_id == eu_officer.pk
    assert "Called back on a number already on file" in event.comment
    assert "last order matched" in event.comment
    entry = LedgerEntry.objects.filter(kind="subject_request.verify").latest("id")
    assert json.loads(bytes(entry.payload))["data"]["method"] == "call_back"
    assert SUBJECT not in bytes(entry.payload).decode()
    with pytest.raises(StateConflict):  # the e-mailed code no longer verifies anything
        verification.verification_check(subject_request=done, code=code)
    with pytest.raises(StateConflict):
        verification.verification_record(
            actor=eu_officer, subject_request=done, method="postal", checked="again"
        )


def test_identity_verified_by_other_means_over_the_api_and_on_the_request_page(
    api_client, client, pending, eu_officer, django_capture_on_commit_callbacks
):
    url = f"{API}/subject-requests/{pending.pk}/verify-identity/"
    missing = api_client(eu_officer).post(url, {"method": "in_person"}, format="json")
    assert missing.status_code == 400 and "checked" in missing.json()
    wrong = api_client(eu_officer).post(url, {"method": "x", "checked": "y"}, format="json")
    assert wrong.status_code == 400 and "method" in wrong.json()
    too_long = {"method": "in_person", "checked": "y" * 501}
    assert "checked" in api_client(eu_officer).post(url, too_long, format="json").json()
    client.force_login(eu_officer)
    page = client.get(reverse("workflows:subject-detail", args=[pending.pk]))
    assert b"Record identity verified another way" in page.content
    step = reverse("workflows:subject-step", args=[pending.pk, "verify-identity"])
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(step, {"method": "in_person", "checked": "Passport seen at the desk"})
    assert posted.status_code == 302
    pending.refresh_from_db()
    assert pending.verification == VerificationState.VERIFIED
    assert api_client(eu_officer).post(url, too_long, format="json").status_code == 400
    again = {"method": "in_person", "checked": "again"}
    assert api_client(eu_officer).post(url, again, format="json").status_code == 409
