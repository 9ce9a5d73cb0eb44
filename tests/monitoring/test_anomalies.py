"""Access anomalies: new places for known actors, volume above a robust baseline."""

import datetime as dt

import pytest
from django.utils import timezone

from monitoring.incidents.anomalies import robust_baseline
from monitoring.models import ActorFootprint, ActorVolumeHourly, AnomalyAlert
from monitoring.telemetry.ingest import telemetry_ingest
from monitoring.telemetry.rollups import hour_of
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def test_robust_baseline_ignores_a_few_spikes():
    values = [100, 102, 98, 101, 99, 100, 5000, 103]
    baseline = robust_baseline(values)
    assert baseline.median == 100.5
    assert baseline.mad == 1.5
    assert baseline.threshold(6) < 200


def test_a_known_actor_in_a_new_region_or_dataset_raises_an_alert(
    source, eu_dataset, other_dataset
):
    now = timezone.now()
    ActorFootprint.objects.create(
        actor="etl-bot",
        kind="actor",
        value="",
        first_seen_at=now - dt.timedelta(days=10),
        last_seen_at=now,
        events=100,
    )
    ActorFootprint.objects.create(
        actor="etl-bot",
        kind="region",
        value="aws:eu-west-1",
        first_seen_at=now - dt.timedelta(days=10),
        last_seen_at=now,
        events=100,
    )
    ActorFootprint.objects.create(
        actor="etl-bot",
        kind="dataset",
        value="eu-customers",
        first_seen_at=now - dt.timedelta(days=10),
        last_seen_at=now,
        events=100,
    )
    result = telemetry_ingest(
        source=source,
        items=[
            event(),
            event(dest="aws:eu-central-1"),
            event(dataset="us-metrics", dest="aws:eu-west-1"),
        ],
    )
    assert result.alerts == 2
    alerts = {(a.kind, a.region, a.dataset_ref): a for a in AnomalyAlert.objects.all()}
    assert set(alerts) == {
        ("new_region", "aws:eu-central-1", "eu-customers"),
        ("new_dataset", "aws:eu-west-1", "us-metrics"),
    }
    assert alerts[("new_region", "aws:eu-central-1", "eu-customers")].jurisdiction_id == "eu"
    assert alerts[("new_dataset", "aws:eu-west-1", "us-metrics")].jurisdiction_id == "us-va"
    # Now they are known: no second alert.
    again = telemetry_ingest(source=source, items=[event(dest="aws:eu-central-1")])
    assert again.alerts == 0


def test_a_newcomer_raises_nothing(source, eu_dataset):
    result = telemetry_ingest(
        source=source,
        items=[event(actor="new-job"), event(actor="new-job", dest="aws:eu-central-1")],
    )
    assert result.alerts == 0
    assert ActorFootprint.objects.filter(actor="new-job").count() == 4  # actor, 2 regions, dataset


def _history(actor: str, hours: int, size: int, now):
    this_hour = hour_of(now)
    ActorVolumeHourly.objects.bulk_create(
        ActorVolumeHourly(
            actor=actor,
            hour=this_hour - dt.timedelta(hours=h),
            events=10,
            bytes=size + h,
            records=1,
        )
        for h in range(1, hours + 1)
    )


def test_volume_far_above_the_baseline_raises_one_alert_per_hour(source, eu_dataset, settings):
    settings.TELEMETRY_ANOMALY_MIN_BYTES = 10 * MB
    # Every event of the test happens at one moment, so that its hour is the same however long
    # the test takes (the clock may pass the hour meanwhile).
    at = timezone.now() - dt.timedelta(seconds=5)
    _history("etl-bot", 24, 5 * MB, at)
    normal = telemetry_ingest(source=source, items=[event(bytes=5 * MB, at=at)])
    assert normal.alerts == 0
    spike = telemetry_ingest(source=source, items=[event(bytes=400 * MB, at=at)])
    assert spike.alerts == 1
    alert = AnomalyAlert.objects.get(kind="volume")
    assert alert.observed == 405 * MB
    assert alert.baseline_median == pytest.approx(5 * MB + 12.5)
    assert alert.threshold < 10 * MB
    assert telemetry_ingest(source=source, items=[event(bytes=400 * MB, at=at)]).alerts == 0


def test_no_volume_alert_without_enough_history(source, eu_dataset, settings):
    settings.TELEMETRY_ANOMALY_MIN_BYTES = MB
    _history("etl-bot", 3, MB, timezone.now())
    assert telemetry_ingest(source=source, items=[event(bytes=900 * MB)]).alerts == 0


def _footprint_queries(queries) -> list[str]:
    return [q["sql"] for q in queries if "monitoring_actorfootprint" in q["sql"]]


def test_footprints_known_from_a_committed_batch_are_not_read_again(
    source, eu_dataset, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=True):
        telemetry_ingest(source=source, items=[event(), event(dest="aws:eu-central-1")])
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        telemetry_ingest(source=source, items=[event(), event(dest="aws:eu-central-1")])
    assert _footprint_queries(queries.captured_queries) == []
    # A place this actor never touched is still looked up, and written.
    with CaptureQueriesContext(connection) as queries:
        telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    assert len(_footprint_queries(queries.captured_queries)) == 2  # read, then insert
    assert ActorFootprint.objects.filter(kind="region", value="aws:us-east-1").exists()


def test_a_rolled_back_batch_teaches_the_cache_nothing(source, eu_dataset):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        telemetry_ingest(source=source, items=[event(actor="ghost")])
        raise Undo
    assert not ActorFootprint.objects.filter(actor="ghost").exists()
    with CaptureQueriesContext(connection) as queries:
        telemetry_ingest(source=source, items=[event(actor="ghost")])
    assert len(_footprint_queries(queries.captured_queries)) == 2  # read again, then insert
    assert ActorFootprint.objects.filter(actor="ghost").count() == 3  # actor, region, dataset


def test_a_cached_footprint_gone_stale_is_refreshed(
    source, eu_dataset, django_capture_on_commit_callbacks
):
    past = timezone.now() - dt.timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        telemetry_ingest(source=source, items=[event(at=past)])
    recent = timezone.now() - dt.timedelta(seconds=5)
    telemetry_ingest(source=source, items=[event(at=recent)])
    region = ActorFootprint.objects.get(actor="etl-bot", kind="region")
    assert region.last_seen_at == recent
