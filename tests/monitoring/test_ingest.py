"""Ingest: judgement of each kind, idempotency, per-item errors, scope, catalog gaps, rollups."""

import datetime as dt
import random

import pytest
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from governance.grants.services import grant_create
from monitoring.models import (
    FlowDaily,
    StreamMessage,
    TelemetryEvent,
    UnregisteredAsset,
    Violation,
)
from monitoring.telemetry import services
from monitoring.telemetry.ingest import telemetry_ingest
from tests.monitoring.conftest import event

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["read", "write", "transfer", "training_step", "access"])
def test_each_kind_is_judged_at_home_and_abroad(source, eu_dataset, kind):
    home = event(kind=kind, dest="aws:eu-west-1")
    allowed = event(kind=kind, dest="aws:eu-central-1")
    abroad = event(kind=kind, dest="aws:ap-south-1")
    result = telemetry_ingest(source=source, items=[home, allowed, abroad])
    assert result.errors == []
    outcomes = dict(TelemetryEvent.objects.values_list("client_id", "outcome"))
    assert outcomes == {
        home["id"]: "compliant",
        allowed["id"]: "compliant",
        abroad["id"]: "violation",
    }
    stored = TelemetryEvent.objects.get(client_id=abroad["id"])
    assert stored.rule == "builtin:dataset-allowed-regions"
    assert "aws:ap-south-1" in stored.reason
    assert (stored.source_country, stored.destination_country) == ("IE", "IN")
    violation = Violation.objects.get(event=stored)
    assert violation.severity == "high"  # confidential personal data
    assert violation.jurisdiction_codes == ["eu", "in"]


def test_a_grant_makes_it_granted(source, eu_dataset, privacy_officer):
    now = timezone.now()
    grant = grant_create(
        actor=privacy_officer,
        datasets=[eu_dataset],
        destination_regions=[eu_dataset.storage_region.__class__.objects.get(code="aws:us-east-1")],
        mechanism="scc",
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=30),
    )
    result = telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])
    assert result.outcomes == {"granted": 1}
    assert TelemetryEvent.objects.get().grant_id == grant.pk
    assert not Violation.objects.exists()


def test_times_are_stored_to_the_microsecond_whatever_their_offset(source, eu_dataset):
    at = timezone.now().replace(microsecond=123456) - dt.timedelta(minutes=3)
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    whole = (at - dt.timedelta(seconds=7)).replace(microsecond=0)
    batch = [
        event(id="a", at=at.astimezone(india), dest="aws:us-east-1"),
        event(id="b", at=whole),
    ]
    telemetry_ingest(source=source, items=batch)
    stored = dict(TelemetryEvent.objects.values_list("client_id", "occurred_at"))
    assert stored == {"a": at, "b": whole}
    assert Violation.objects.get().occurred_at == at
    assert FlowDaily.objects.filter(day=at.date(), events=1).exists()


def test_a_resent_event_is_not_stored_twice(source, eu_dataset):
    batch = [event(), event(dest="aws:us-east-1"), event(dataset="nowhere")]
    first = telemetry_ingest(source=source, items=batch)
    assert (first.stored, first.duplicates) == (3, 0)
    again = telemetry_ingest(source=source, items=[*batch, batch[0], event()])
    assert (again.received, again.stored, again.duplicates) == (5, 1, 4)
    assert TelemetryEvent.objects.count() == 4
    assert Violation.objects.count() == 1
    assert UnregisteredAsset.objects.get().events == 1
    assert FlowDaily.objects.aggregate(n=Sum("events"))["n"] == 4


def test_the_same_id_from_another_source_is_another_event(source, privacy_officer, eu_dataset):
    other, _ = services.telemetry_source_register(actor=privacy_officer, name="pipeline-b")
    item = event(id="shared-id")
    telemetry_ingest(source=source, items=[item])
    assert telemetry_ingest(source=other, items=[item]).stored == 1


BAD_ITEMS = [
    ({"kind": "read"}, "id"),
    (lambda: event(time="yesterday"), "time"),
    (lambda: event(time="2026-01-01T10:00:00"), "time"),  # no offset
    (lambda: event(at=timezone.now() + dt.timedelta(hours=2)), "time"),
    (lambda: event(at=timezone.now() - dt.timedelta(days=400)), "time"),
    (lambda: event(kind="delete"), "kind"),
    (lambda: event(dest="mars:olympus-1"), "destination_region"),
    (lambda: event(source_region="nowhere"), "source_region"),
    (lambda: event(bytes=-1), "bytes"),
    (lambda: event(records="ten"), "records"),
    (lambda: event(kind="transfer", dest=None), "destination_region"),
    (lambda: event(purpose="astrology"), "purpose"),
    (lambda: event(dataset=""), "dataset"),
    (lambda: "not an object", "non_field_errors"),
]


def test_each_bad_item_is_reported_with_its_field_and_the_rest_stored(source, eu_dataset):
    bad = [make() if callable(make) else make for make, _ in BAD_ITEMS]
    good = [event(), event(dest="aws:us-east-1")]
    result = telemetry_ingest(source=source, items=[good[0], *bad, good[1]])
    assert result.stored == 2 and result.rejected == len(BAD_ITEMS)
    by_index = {e["index"]: e for e in result.errors}
    for position, (_, field) in enumerate(BAD_ITEMS, start=1):
        assert field in by_index[position]["errors"], (position, by_index[position])
        assert by_index[position]["errors"][field]  # a reason, not just a name


def test_scope_by_dataset_and_by_region(privacy_officer, eu_dataset, other_dataset):
    scoped, _ = services.telemetry_source_register(
        actor=privacy_officer, name="eu-only", datasets=[eu_dataset]
    )
    result = telemetry_ingest(
        source=scoped,
        items=[event(), event(dataset="us-metrics"), event(dataset="nowhere")],
    )
    assert result.stored == 1
    assert [e["errors"] for e in result.errors] == [{"dataset": "Outside this source's scope."}] * 2

    region = eu_dataset.storage_region
    watcher, _ = services.telemetry_source_register(
        actor=privacy_officer, name="dublin-audit-log", regions=[region]
    )
    result = telemetry_ingest(
        source=watcher,
        items=[
            event(dest="aws:eu-west-1"),
            event(source_region="aws:eu-west-1", dest="aws:us-east-1"),
            event(dest="aws:us-east-1"),
        ],
    )
    assert result.stored == 2
    assert result.errors[0]["index"] == 2
    assert "destination_region" in result.errors[0]["errors"]


def test_a_scope_of_datasets_and_regions_needs_both(privacy_officer, eu_dataset, other_dataset):
    both, _ = services.telemetry_source_register(
        actor=privacy_officer,
        name="eu-in-dublin",
        datasets=[eu_dataset, other_dataset],
        regions=[eu_dataset.storage_region],
    )
    result = telemetry_ingest(
        source=both,
        items=[
            event(dest="aws:eu-west-1"),
            event(dataset="us-metrics", dest="aws:eu-west-1"),
            event(dest="aws:us-east-1"),
            event(dataset="nowhere", dest="aws:eu-west-1"),
        ],
    )
    assert result.stored == 2
    assert [(e["index"], *e["errors"]) for e in result.errors] == [
        (2, "destination_region"),
        (3, "dataset"),
    ]


def test_a_revoked_source_is_refused(source, privacy_officer):
    services.telemetry_source_revoke(actor=privacy_officer, source=source, reason="leaked")
    source.refresh_from_db()
    with pytest.raises(Exception, match="revoked"):
        telemetry_ingest(source=source, items=[event()])


def test_unknown_datasets_are_catalog_gaps_counted_across_batches(source, eu_dataset):
    telemetry_ingest(
        source=source,
        items=[event(dataset="s3://shadow/bucket", bytes=100), event(dataset="s3://shadow/bucket")],
    )
    telemetry_ingest(source=source, items=[event(dataset="s3://shadow/bucket", actor="spark-7")])
    gap = UnregisteredAsset.objects.get()
    assert (gap.dataset_ref, gap.events, gap.bytes) == ("s3://shadow/bucket", 3, 2100)
    assert gap.last_actor == "spark-7" and gap.last_source == source
    assert set(TelemetryEvent.objects.values_list("outcome", flat=True)) == {"unknown_dataset"}
    # A URI the catalog knows is not a gap.
    telemetry_ingest(source=source, items=[event(dataset="s3://eu-bucket/customers")])
    assert TelemetryEvent.objects.filter(dataset=eu_dataset).count() == 1
    assert UnregisteredAsset.objects.count() == 1


def test_rollups_match_a_recount_of_the_events(source, eu_dataset, other_dataset):
    rng = random.Random(7)
    now = timezone.now()
    regions = ["aws:eu-west-1", "aws:eu-central-1", "aws:us-east-1", "aws:ap-south-1"]
    for _ in range(3):
        items = [
            event(
                dataset=rng.choice(["eu-customers", "us-metrics", "unknown-thing"]),
                dest=rng.choice(regions),
                source_region=rng.choice(["", "aws:eu-west-1", "aws:us-east-1"]),
                kind=rng.choice(["read", "write", "transfer", "access"]),
                at=now - dt.timedelta(days=rng.randint(0, 3), minutes=rng.randint(1, 600)),
                bytes=rng.randint(0, 10**6),
                records=rng.randint(0, 100),
            )
            for _ in range(150)
        ]
        telemetry_ingest(source=source, items=items)
    recount = {
        (
            row["day"],
            row["dataset_id"] or 0,
            row["source_country"],
            row["destination_country"],
            row["outcome"],
        ): (
            row["n"],
            row["b"],
            row["r"],
        )
        for row in TelemetryEvent.objects.annotate(day=TruncDate("occurred_at"))
        .values("day", "dataset_id", "source_country", "destination_country", "outcome")
        .annotate(n=Count("id"), b=Sum("bytes"), r=Sum("records"))
    }
    rollup = {
        (f.day, f.dataset_key, f.source_country, f.destination_country, f.outcome): (
            f.events,
            f.bytes,
            f.records,
        )
        for f in FlowDaily.objects.all()
    }
    assert rollup == recount
    assert sum(n for n, _, _ in rollup.values()) == 450


def test_a_batch_leaves_stream_messages_in_order(source, eu_dataset):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1"), event()])
    kinds = list(StreamMessage.objects.order_by("seq").values_list("kind", flat=True))
    assert kinds == ["incident.opened", "violation.created", "kpi.delta"]
    kpi = StreamMessage.objects.get(kind="kpi.delta")
    assert kpi.payload["outcomes"] == {"violation": 1, "compliant": 1}
    assert kpi.jurisdictions == ["eu"]


def test_ingest_queries_do_not_grow_with_the_batch(
    source, eu_dataset, django_assert_max_num_queries
):
    telemetry_ingest(source=source, items=[event(dest="aws:us-east-1")])  # an open incident
    items = [event(dest=random.choice(["aws:eu-west-1", "aws:us-east-1"])) for _ in range(500)]
    # Bulk inserts are split by SQLite's parameter limit; PostgreSQL sends one statement each.
    with django_assert_max_num_queries(60):
        result = telemetry_ingest(source=source, items=items)
    assert result.stored == 500
