"""Mail in the embedded default: kept as files and read by staff at /mailbox/; the links in it
use the address the request came in on unless SITE_URL is set."""

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.mail import send_mail
from django.urls import reverse
from rest_framework.test import APIClient

from governance.site import FALLBACK, site_url
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
INTAKE = {"type": "access", "jurisdiction": "eu", "identifiers": {"email": "sam@example.org"}}


@pytest.fixture(autouse=True)
def intake_unthrottled(settings):
    settings.SUBJECT_INTAKE_RATE = "1000/hour"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def mailbox(settings, tmp_path):
    settings.EMAIL_BACKEND = "governance.mailbox.EmailBackend"
    settings.MAILBOX_DIR = str(tmp_path / "mailbox")
    return tmp_path / "mailbox"


def test_mail_is_kept_and_staff_read_it_newest_first(client, mailbox, privacy_officer):
    send_mail("First", "Hello, the code is 123456.", "locus@localhost", ["sam@example.org"])
    send_mail("Second", "Another one.", "locus@localhost", ["kim@example.org"])
    assert len(list(mailbox.glob("*.eml"))) == 2
    client.force_login(privacy_officer)  # signed in, not staff
    assert client.get(reverse("mailbox")).status_code == 403
    client.force_login(UserFactory(username="ops", is_staff=True))
    page = client.get(reverse("mailbox")).content.decode()
    assert page.index("Second") < page.index("First")
    assert "the code is 123456" in page and "sam@example.org" in page


def test_the_mailbox_is_not_there_where_mail_is_sent(client, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    client.force_login(UserFactory(username="ops", is_staff=True))
    assert client.get(reverse("mailbox")).status_code == 404


def test_links_use_the_host_the_request_came_in_on(
    settings, celery_eager, django_capture_on_commit_callbacks
):
    settings.SITE_URL = ""
    settings.ALLOWED_HOSTS = ["demo.locus.example"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = APIClient().post(
            "/api/v1/subject-intake/", INTAKE, format="json", HTTP_HOST="demo.locus.example:9000"
        )
    assert answer.status_code == 201, answer.content
    body = mail.outbox[-1].body
    assert "http://demo.locus.example:9000/workflows/subjects/verify/" in body
    assert "127.0.0.1:8000" not in body
    assert site_url() == FALLBACK  # outside a request: the fallback


def test_site_url_wins_when_set(settings, celery_eager, django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://locus.example.org/"
    with django_capture_on_commit_callbacks(execute=True):
        APIClient().post("/api/v1/subject-intake/", INTAKE, format="json")
    assert "https://locus.example.org/workflows/subjects/verify/" in mail.outbox[-1].body
    assert site_url() == "https://locus.example.org"
