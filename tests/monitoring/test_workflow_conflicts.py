"""Incidents, anomaly alerts and telemetry sources move by compare-and-swap: a step taken on
what someone read before another change came first is a state conflict (409), as is a step
the current state does not allow; webhooks queued while the broker is down wait for the sweep."""

import logging

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError

from catalog.errors import StateConflict
from monitoring import tasks
from monitoring.incidents import services as incident_services
from monitoring.models import (
    AnomalyAlert,
    Incident,
    TelemetrySource,
    WebhookDelivery,
    WebhookEndpoint,
)
from monitoring.telemetry import services as source_services
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(source, eu_dataset) -> Incident:
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    return Incident.objects.get()


@pytest.fixture
def alert(db) -> AnomalyAlert:
    now = timezone.now()
    return AnomalyAlert.objects.create(
        kind=AnomalyAlert.Kind.NEW_REGION,
        dedupe_key="conflict-test",
        actor="etl-job",
        region="aws:us-east-1",
        detected_at=now,
        occurred_at=now,
        detail="etl-job reached aws:us-east-1 for the first time",
    )


def test_an_incident_step_on_a_stale_read_is_a_state_conflict(incident, privacy_officer):
    stale = Incident.objects.get(pk=incident.pk)
    incident_services.incident_assign(
        actor=privacy_officer, incident=incident, owner=privacy_officer
    )
    # Same status, older version: the version the person read is checked too.
    with pytest.raises(StateConflict, match="changed meanwhile"):
        incident_services.incident_acknowledge(actor=privacy_officer, incident=stale)
    with pytest.raises(StateConflict, match="changed meanwhile"):
        incident_services.incident_playbook_step(
            actor=privacy_officer, incident=stale, step="assess"
        )
    assert Incident.objects.get(pk=incident.pk).status == Incident.Status.OPEN


def test_an_incident_step_its_state_refuses_is_a_409(api_client, incident, privacy_officer):
    officer = api_client(privacy_officer)
    base = f"/api/v1/incidents/{incident.pk}"
    assert officer.post(f"{base}/acknowledge/", {}, format="json").status_code == 200
    again = officer.post(f"{base}/acknowledge/", {}, format="json")
    assert again.status_code == 409
    assert "acknowledged cannot become acknowledged" in again.json()["status"][0]


def test_an_alert_step_on_a_stale_read_is_a_state_conflict(alert, privacy_officer):
    stale = AnomalyAlert.objects.get(pk=alert.pk)
    incident_services.alert_transition(actor=privacy_officer, alert=alert, action="dismiss")
    with pytest.raises(StateConflict, match="changed meanwhile"):
        # The stale copy says open, which allows acknowledging: the swap finds it dismissed.
        incident_services.alert_transition(actor=privacy_officer, alert=stale, action="acknowledge")
    assert AnomalyAlert.objects.get(pk=alert.pk).status == AnomalyAlert.Status.DISMISSED


def test_an_alert_step_its_state_refuses_is_a_409(api_client, alert, privacy_officer):
    officer = api_client(privacy_officer)
    url = f"/api/v1/anomaly-alerts/{alert.pk}"
    assert officer.post(f"{url}/dismiss/", {}, format="json").status_code == 200
    assert officer.post(f"{url}/acknowledge/", {}, format="json").status_code == 409


def test_revoking_a_source_twice_or_on_a_stale_read_is_a_409(api_client, source, privacy_officer):
    stale = TelemetrySource.objects.get(pk=source.pk)
    officer = api_client(privacy_officer)
    url = f"/api/v1/telemetry/sources/{source.pk}"
    assert officer.post(f"{url}/revoke/", {"reason": "leaked"}).status_code == 200
    again = officer.post(f"{url}/revoke/", {"reason": "leaked"})
    assert again.status_code == 409 and "already revoked" in again.json()["status"][0]
    assert officer.post(f"{url}/rotate/").status_code == 409
    with pytest.raises(StateConflict, match="changed meanwhile"):
        source_services.telemetry_source_rotate(actor=privacy_officer, source=stale)


def test_webhooks_queued_with_the_broker_down_wait_for_the_sweep(
    source, eu_dataset, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    # A closed port: nothing listens there, so the sweep's attempt fails and stays pending.
    WebhookEndpoint.objects.create(name="all", url="http://127.0.0.1:9/hook")
    monkeypatch.setattr(tasks.webhooks_deliver, "apply_async", refuse)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        result = telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    assert result.incidents_opened == 1  # the batch committed although nothing was queued
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 0)
    assert "monitoring.tasks.webhooks_sweep will do the work" in caplog.text
