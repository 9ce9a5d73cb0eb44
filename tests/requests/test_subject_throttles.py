"""The public subject endpoints and pages are throttled per client address, and a made-up
X-Forwarded-For never starts a fresh count: with PROXY_COUNT=0 the header is ignored; with
PROXY_COUNT=1 only its last hop (written by the proxy) counts."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.requests.subject_setup import (  # noqa: F401  (fixtures)
    SUBJECT,
    ask,
    eager,
    fresh_throttle,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager", "fresh_throttle")]
API = "/api/v1"
INTAKE = {"type": "access", "jurisdiction": "eu", "identifiers": {"email": SUBJECT}}
FORM = {"type": "access", "jurisdiction": "eu", "email": SUBJECT}


def _send(endpoint: str, token: str, forwarded: str) -> int:
    """One call to a public endpoint from a client claiming `forwarded`; its status."""
    api, page, header = APIClient(), Client(), {"HTTP_X_FORWARDED_FOR": forwarded}
    verify_page = reverse("workflows:subject-verify", args=[token]) if token else ""
    calls = {
        "api intake": lambda: api.post(f"{API}/subject-intake/", INTAKE, format="json", **header),
        "api verify": lambda: api.post(
            f"{API}/subject-intake/verify", {"token": token, "code": "000000"}, **header
        ),
        "api resend": lambda: api.post(
            f"{API}/subject-intake/verify", {"token": token, "resend": True}, **header
        ),
        "page intake": lambda: page.post(reverse("workflows:subject-intake"), FORM, **header),
        "page verify": lambda: page.post(verify_page, {"code": "000000"}, **header),
        "page resend": lambda: page.post(verify_page, {"resend": "1"}, **header),
    }
    return calls[endpoint]().status_code


ENDPOINTS = ["api intake", "api verify", "api resend", "page intake", "page verify", "page resend"]


@pytest.fixture
def token(settings, django_capture_on_commit_callbacks) -> str:
    settings.SUBJECT_VERIFICATION_CHALLENGES = 10  # resends are limited by the throttle here
    return ask(django_capture_on_commit_callbacks).verify_token


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("proxies", [0, 1])
def test_rotating_x_forwarded_for_does_not_reset_the_throttle(
    settings, endpoint, proxies, token, django_capture_on_commit_callbacks
):
    settings.PROXY_COUNT = proxies
    settings.SUBJECT_INTAKE_RATE = "2/hour"
    with django_capture_on_commit_callbacks(execute=True):
        codes = [_send(endpoint, token, f"6.6.6.{n}, 198.51.100.7") for n in range(3)]
    assert 429 not in codes[:2] and codes[2] == 429, codes


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_behind_one_proxy_each_last_hop_has_its_own_count(
    settings, endpoint, token, django_capture_on_commit_callbacks
):
    settings.PROXY_COUNT = 1
    settings.SUBJECT_INTAKE_RATE = "1/hour"
    with django_capture_on_commit_callbacks(execute=True):
        assert _send(endpoint, token, "198.51.100.7") != 429
        assert _send(endpoint, token, "6.6.6.6, 198.51.100.7") == 429
        assert _send(endpoint, token, "198.51.100.8") != 429
