"""Concurrent batches on PostgreSQL: however many arrive at once for one group, there is one
incident, and a resolved one is reopened once (the groups' advisory locks)."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from monitoring.incidents import services
from monitoring.models import Incident, IncidentEvent
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers; the locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
THREADS = 8


def _at_once(source, dest: str) -> list[BaseException]:
    """THREADS batches of one violation each, sent together, each on its own connection."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            start.wait(timeout=60)
            telemetry_ingest(source=source, items=[event(dest=dest)])
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_batches_open_one_incident(source, eu_dataset):
    assert _at_once(source, "aws:ap-south-1") == []
    incident = Incident.objects.get()
    assert incident.violation_count == THREADS


def test_concurrent_batches_reopen_a_resolved_incident_once(source, eu_dataset, privacy_officer):
    telemetry_ingest(source=source, items=[event(dest="aws:ap-south-1")])
    incident = Incident.objects.get()
    services.incident_resolve(actor=privacy_officer, incident=incident, note="moved")
    assert _at_once(source, "aws:ap-south-1") == []
    incident = Incident.objects.get()
    assert (incident.status, incident.violation_count) == ("open", THREADS + 1)
    assert IncidentEvent.objects.filter(kind="reopened").count() == 1
