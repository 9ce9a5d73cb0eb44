"""The telemetry simulator sends through the real HTTP API of a live server."""

import pytest
from django.core.management import call_command

from monitoring.models import TelemetryEvent, TelemetrySource, Violation
from tests.live import live_locus, live_locus_process
from tests.monitoring.conftest import eu_dataset  # noqa: F401 (a fixture)

__all__ = ["live_locus", "live_locus_process"]


@pytest.mark.live
def test_simulator_sends_realistic_traffic_with_violations(live_locus, privacy_officer, eu_dataset):  # noqa: F811
    call_command(
        "simulate_telemetry",
        rate=300,
        seconds=2,
        url=live_locus,
        violations=0.2,
        gaps=0.05,
        seed=3,
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    assert TelemetrySource.objects.get().name == "simulator"
    assert TelemetryEvent.objects.count() == 600
    outcomes = set(TelemetryEvent.objects.values_list("outcome", flat=True))
    assert {"compliant", "violation", "unknown_dataset"} <= outcomes
    assert Violation.objects.exists()
