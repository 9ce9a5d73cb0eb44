"""Telemetry posted while the Celery broker is down: the events commit and the answer is 200;
the incident's e-mails wait (unsent rows) for the periodic sweep."""

import pytest
from kombu.exceptions import OperationalError

from governance import tasks
from governance.models import Notification
from monitoring.models import Incident, TelemetryEvent
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db


def test_a_violation_posted_with_the_broker_down_is_stored_and_answered_200(
    telemetry_client, eu_dataset, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.notifications_email, "apply_async", refuse)
    body = [event(dest="aws:us-east-1", id="outage-1"), event(id="outage-2")]
    with django_capture_on_commit_callbacks(execute=True):
        answer = telemetry_client.post("/api/v1/telemetry/events", body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["stored"] == 2 and answer.json()["violations"] == 1
    assert set(TelemetryEvent.objects.values_list("client_id", flat=True)) == {
        "outage-1",
        "outage-2",
    }
    assert Incident.objects.count() == 1
    notes = Notification.objects.filter(kind="monitoring.incident_opened")
    assert notes.exists() and not notes.filter(emailed_at__isnull=False).exists()
