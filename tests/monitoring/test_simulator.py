"""The telemetry simulator: through the real HTTP API of a live server, and offline on a
simulated clock; its traffic judged by the real policy engine."""

import datetime as dt
import io
import random
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from catalog.models import Region
from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.index import current_index
from monitoring.models import Incident, TelemetryEvent, TelemetrySource, Violation
from monitoring.telemetry.judge import KIND_ACTION
from monitoring.telemetry.simulator import SHADOW_DATASETS, Plan, Traffic
from tests.factories import make_dataset
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


# --- The traffic model, judged by the real policy engine (no server) ---------------------------


@pytest.fixture
def catalog_of_a_few(data_owner, eu_dataset):  # noqa: F811
    make_dataset(owner=data_owner, slug="us-metrics", storage_region="aws:us-east-1")
    make_dataset(
        owner=data_owner,
        slug="jp-orders",
        storage_region="aws:ap-northeast-1",
        lawful_basis="contract",
        allowed_processing_regions=["aws:ap-northeast-3"],
    )


def _draw(violation_share: float, n: int = 4000, seed: int = 7) -> list[dict]:
    regions = sorted(Region.objects.values_list("code", flat=True))
    plan = Plan.build(random.Random(seed), regions)
    traffic = Traffic(plan, regions, violation_share, 0.01, seed, rate=5)
    at = timezone.now()
    return [traffic.event(at) for _ in range(n)]


def _denied(events: list[dict]) -> int:
    index, at = current_index(), timezone.now()
    known = [e for e in events if e["dataset"] not in SHADOW_DATASETS]
    return sum(
        evaluate(
            index, e["dataset"], KIND_ACTION[e["kind"]], e["destination_region"], "analytics", at
        ).outcome
        == Outcome.DENY
        for e in known
    )


@pytest.mark.parametrize("share", [0.02, 0.1])
def test_the_share_of_violating_events_is_the_one_asked_for(catalog_of_a_few, share):
    events = _draw(share)
    assert abs(_denied(events) / len(events) - share) < share * 0.3


def test_most_violations_come_from_a_few_problems_that_persist(catalog_of_a_few):
    events = _draw(0.05)
    index, at = current_index(), timezone.now()
    violating = [
        (e["dataset"], e["destination_region"], e["actor"])
        for e in events
        if e["dataset"] not in SHADOW_DATASETS
        and evaluate(
            index, e["dataset"], KIND_ACTION[e["kind"]], e["destination_region"], "analytics", at
        ).outcome
        == Outcome.DENY
    ]
    pipeline = [v for v in violating if v[2] == "etl-nightly-export"]
    assert len(pipeline) > len(violating) * 0.25
    assert len({(d, r) for d, r, _ in pipeline}) == 1  # one dataset, one wrong region, every time
    routes = Counter((d, r) for d, r, _ in violating)
    assert sum(n for _, n in routes.most_common(5)) > len(violating) * 0.8


def test_offline_simulation_ingests_on_a_simulated_clock(catalog_of_a_few, privacy_officer):
    out = io.StringIO()
    call_command(
        "simulate_telemetry", rate=5, offline=True, simulated_hours=0.02, seed=3, stdout=out
    )
    events = TelemetryEvent.objects.all()
    assert events.count() == 360  # 72 simulated seconds x 5 events
    first, last = (
        events.order_by(f).values_list("occurred_at", flat=True)[0]
        for f in ("occurred_at", "-occurred_at")
    )
    assert dt.timedelta(seconds=70) < last - first < dt.timedelta(seconds=73)
    assert "incidents opened" in out.getvalue()
    assert "misconfigured pipeline" in out.getvalue()
    assert Incident.objects.count() < 10


def test_offline_needs_a_length(catalog_of_a_few, privacy_officer):
    with pytest.raises(CommandError, match="simulated-hours"):
        call_command("simulate_telemetry", rate=5, offline=True, stdout=io.StringIO())


def test_offline_history_ends_days_ago(catalog_of_a_few, privacy_officer):
    call_command(
        "simulate_telemetry",
        rate=5,
        offline=True,
        simulated_hours=0.005,
        ending_days_ago=35,
        seed=4,
        stdout=io.StringIO(),
    )
    times = list(TelemetryEvent.objects.values_list("occurred_at", flat=True))
    assert len(times) == 90  # 18 simulated seconds x 5, older than ingest takes from a live feed
    assert max(times) < timezone.now() - dt.timedelta(days=34)
