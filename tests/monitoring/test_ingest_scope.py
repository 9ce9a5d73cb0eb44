"""A telemetry source scoped by region speaks for what starts in its regions: an event's source
region must be in scope (or, without one, the region where the work ran); where the data went
may be anywhere. An event that only ends in scope is refused, naming the field."""

import pytest

from catalog.models import Region
from monitoring.models import TelemetryEvent
from monitoring.telemetry import services
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

DUBLIN = "aws:eu-west-1"
VIRGINIA = "aws:us-east-1"


@pytest.fixture
def dublin_audit_log(privacy_officer, eu_dataset):
    source, _ = services.telemetry_source_register(
        actor=privacy_officer, name="dublin-audit-log", regions=[Region.objects.get(code=DUBLIN)]
    )
    return source


def test_data_leaving_the_scope_is_reported(dublin_audit_log):
    result = telemetry_ingest(
        source=dublin_audit_log,
        items=[
            event(source_region=DUBLIN, dest=VIRGINIA, kind="transfer"),
            event(dest=DUBLIN),  # work in Dublin, no source named
        ],
    )
    assert (result.stored, result.errors) == (2, [])


def test_an_event_that_only_ends_in_scope_is_refused(dublin_audit_log):
    result = telemetry_ingest(
        source=dublin_audit_log,
        items=[
            event(source_region=VIRGINIA, dest=DUBLIN, kind="transfer"),
            event(dest=VIRGINIA),
        ],
    )
    assert result.stored == 0
    assert [e["errors"] for e in result.errors] == [
        {"source_region": f"Outside this source's scope: {VIRGINIA}."},
        {"destination_region": f"Outside this source's scope: {VIRGINIA}."},
    ]
    assert not TelemetryEvent.objects.exists()
