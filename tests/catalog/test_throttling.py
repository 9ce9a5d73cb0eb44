"""Rate limits: per person on the API, per source on telemetry and OpenLineage; RateLimit
headers on every answer of a throttled view, 429 with Retry-After beyond the limit. The clock
is frozen (the window is fixed), the cache cleared between tests (tests/conftest.py)."""

import pytest

from catalog.throttling import WindowThrottle, is_throttled
from monitoring.lineage.api import OpenLineageView
from monitoring.telemetry.api import TelemetryIngestView
from requests.subjects.public_api import PublicIntakeView

pytestmark = pytest.mark.django_db

PURPOSES = "/api/v1/purposes/"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """20 s into a minute's window: 40 s left."""
    monkeypatch.setattr(WindowThrottle, "timer", staticmethod(lambda: 1_800_000_020.0))


def test_the_api_answers_with_ratelimit_headers_then_429(settings, token_client, engineer):
    settings.API_RATE = "2/minute"
    client = token_client(engineer)

    first, second, third = (client.get(PURPOSES) for _ in range(3))

    assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
    assert first["RateLimit-Limit"] == "2"
    assert first["RateLimit-Remaining"] == "1"
    assert second["RateLimit-Remaining"] == "0"
    assert first["RateLimit-Reset"] == "40"
    assert third["Retry-After"] == "40"
    assert third["RateLimit-Remaining"] == "0"
    assert "throttled" in third.json()["detail"].lower()


def test_the_limit_is_per_person(settings, token_client, engineer, auditor):
    settings.API_RATE = "1/minute"
    token_client(engineer).get(PURPOSES)

    assert token_client(engineer).get(PURPOSES).status_code == 429
    assert token_client(auditor).get(PURPOSES).status_code == 200


def test_no_rate_means_no_limit(settings, token_client, engineer):
    settings.API_RATE = ""

    answers = [token_client(engineer).get(PURPOSES) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0]


def _register(privacy_officer, name):
    from monitoring.telemetry import services

    return services.telemetry_source_register(actor=privacy_officer, name=name)


def _bearer(client, token):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize(
    ("setting", "path", "body"),
    [
        ("TELEMETRY_RATE", "/api/v1/telemetry/events", b"[]"),
        ("LINEAGE_RATE", "/api/v1/lineage", b"{}"),
    ],
)
def test_telemetry_and_lineage_are_throttled_per_source(
    settings, api_client, privacy_officer, setting, path, body
):
    setattr(settings, setting, "1/minute")
    settings.API_RATE = "1/minute"  # not theirs: a source is not a person
    _, token_a = _register(privacy_officer, "pipeline-a")
    _, token_b = _register(privacy_officer, "pipeline-b")
    post = {"data": body, "content_type": "application/json"}

    first = _bearer(api_client(), token_a).post(path, **post)
    again = _bearer(api_client(), token_a).post(path, **post)
    other = _bearer(api_client(), token_b).post(path, **post)

    assert first.status_code != 429
    assert first["RateLimit-Limit"] == "1"
    assert again.status_code == 429
    assert again["Retry-After"] == "40"
    assert other.status_code != 429


def test_the_schema_can_tell_which_views_are_throttled():
    assert is_throttled(TelemetryIngestView())
    assert is_throttled(OpenLineageView())
    assert is_throttled(PublicIntakeView())  # its own, per address
