"""E-mails to data subjects are rows first: a mail server that fails neither fails the person
who acted nor loses the message; the sweep sends it once the server is back, and the address
and text are sealed until then and dropped after."""

# ruff: noqa: F811  (the fixtures imported from subject_setup are parameters of the tests)

import datetime as dt
import socket

import pytest
from django.core import mail
from django.utils import timezone

from requests import tasks
from requests.models import SubjectMail
from requests.models.subjects import SubjectRequestStatus as S
from requests.subjects.mail import subject_mail_deliver, subject_mail_unsent_ids
from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    crm,
    eager,
    fresh_throttle,
    verify,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]


@pytest.fixture
def mail_server_down(settings):
    """The real SMTP backend, pointed at a local port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    return settings


@pytest.fixture
def in_progress(crm, django_capture_on_commit_callbacks):
    return verify(django_capture_on_commit_callbacks, ask(django_capture_on_commit_callbacks))


def test_a_refused_mail_neither_fails_the_step_nor_is_lost(
    api_client, in_progress, privacy_officer, mail_server_down, django_capture_on_commit_callbacks
):
    sent_before = len(mail.outbox)
    url = f"/api/v1/subject-requests/{in_progress.pk}/extend/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(privacy_officer).post(url, {"reason": "complex"})
    assert response.status_code == 200, response.content
    in_progress.refresh_from_db()
    assert in_progress.extended_deadline is not None and in_progress.status == S.IN_PROGRESS

    waiting = SubjectMail.objects.get(request=in_progress, title__endswith="We need more time")
    assert waiting.sent_at is None and waiting.attempts == 1
    assert waiting.last_error == "ConnectionRefusedError"
    # Nothing readable of the subject is kept in the row while it waits.
    row = " ".join(
        str(v) for v in SubjectMail.objects.filter(pk=waiting.pk).values().get().values()
    )
    assert SUBJECT not in row and "complex" not in row

    # The sweep leaves it until it is due, then sends it once the server takes mail again.
    assert waiting.pk not in subject_mail_unsent_ids()
    SubjectMail.objects.filter(pk=waiting.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=3)
    )
    assert subject_mail_unsent_ids() == [waiting.pk]
    mail_server_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert tasks.subject_mail_sweep() == 1
    (sent,) = mail.outbox[sent_before:]
    assert sent.to == [SUBJECT] and sent.subject == waiting.title and "complex" in sent.body
    waiting.refresh_from_db()
    assert waiting.sent_at is not None and waiting.sealed == "" and waiting.last_error == ""
    assert subject_mail_deliver([waiting.pk]) == 0  # sent once, never twice


def test_the_verification_code_reaches_the_subject_through_a_row(
    crm, django_capture_on_commit_callbacks
):
    request = ask(django_capture_on_commit_callbacks)
    (row,) = SubjectMail.objects.filter(request=request)
    assert row.sent_at is not None and row.sealed == ""
    assert mail.outbox[-1].to == [SUBJECT] and mail.outbox[-1].subject == row.title


def test_a_notification_the_mail_server_refuses_waits_for_the_sweep(
    privacy_officer, mail_server_down, django_capture_on_commit_callbacks
):
    from governance.models import Notification
    from governance.notifications.services import notifications_send_email, notify

    with django_capture_on_commit_callbacks(execute=True):
        (note,) = notify(
            recipients=[privacy_officer], kind="test.smtp", title="Server gone", severity="high"
        )
    note.refresh_from_db()
    assert note.emailed_at is None
    mail_server_down.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications_send_email([note.pk]) == 1
    assert Notification.objects.get(pk=note.pk).emailed_at is not None
