"""OpenLineage ingest: a RunEvent becomes a job run, judged reads, lineage edges and catalog gaps.

One event is handled in one transaction, under a lock on its run's row, so events of one run
are applied one at a time in whatever order they arrive:

- The run (LineageRun) is created by whichever event comes first. Its state only moves forward
  (OTHER < START < RUNNING < COMPLETE/FAIL/ABORT): a late START fills in `started_at` and
  leaves a COMPLETE run complete.
- Each event is stored as received (LineageEvent, unknown fields and facets kept) once per
  `dedupe_key`; a resent event changes nothing.
- Datasets are matched to the catalog by URI (see `uri_candidates`); unmatched ones are
  catalog gaps (UnregisteredAsset, keyed by `namespace/name`).
- Where the run executed is decided by the strongest rule that answers (LocationRule); once
  known, every input is sent to `monitoring.telemetry.ingest.telemetry_ingest` as a `read` at that
  region, so the policy engine judges it and violations stream like any telemetry. One read per
  run, input and region: a resent or later event does not count a read twice, but statistics it
  brings (inputStatistics usually come on COMPLETE) are added to the telemetry volumes.
- A read that cannot be judged (no known location, a time outside what ingest takes) is kept on
  the run as `not_judged` for the officers, and the answer says so (202, not 201).
- Once the run is COMPLETE, every matched input -> matched output pair becomes a catalog lineage
  edge (cycles refused); a run that failed or was aborted wrote nothing to trust.
- A runId names one run of one job: reused with another job it is refused (409).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import services as catalog_services
from catalog.errors import StateConflict
from catalog.models import Dataset
from governance.ledger.tree import ledger_submit
from governance.policy.facts import PolicyIndex
from governance.policy.index import current_index
from monitoring.lineage.events import (
    LOCATION_FACET,
    DatasetIn,
    RunEventIn,
    dataset_uri,
    uri_candidates,
)
from monitoring.lineage.results import EDGES, LOCATED, VIOLATIONS, LineageResult
from monitoring.models import (
    LineageEvent,
    LineageNamespaceRegion,
    LineageRun,
    LineageRunDataset,
    LocationRule,
    RunEventType,
    TelemetryEvent,
    TelemetrySource,
)
from monitoring.telemetry import rollups
from monitoring.telemetry.ingest import telemetry_ingest

# The state a run is in moves only forward; among events of equal rank the later one wins.
# Keyed by value: runs and events carry their state and rule as plain strings.
STATE_RANK: dict[str, int] = {
    RunEventType.OTHER: 0,
    RunEventType.START: 1,
    RunEventType.RUNNING: 2,
    RunEventType.COMPLETE: 3,
    RunEventType.FAIL: 3,
    RunEventType.ABORT: 3,
}
# Several of these may come for one run: each is told apart by its eventTime.
TERMINAL = frozenset({RunEventType.COMPLETE, RunEventType.FAIL, RunEventType.ABORT})
RULE_RANK: dict[str, int] = {
    LocationRule.UNKNOWN: 0,
    LocationRule.OUTPUT_STORAGE: 1,
    LocationRule.NAMESPACE_SETTING: 2,
    LocationRule.NAMESPACE_TABLE: 2,
    LocationRule.RUN_FACET: 3,
}


# --- The service -----------------------------------------------------------------------------


@transaction.atomic
def lineage_event_ingest(
    *, source: TelemetrySource, event: RunEventIn, now: dt.datetime | None = None
) -> LineageResult:
    """Apply one RunEvent: its run, datasets, location, judged reads, lineage edges and gaps."""
    if not source.is_active:
        raise PermissionDenied("This telemetry source is revoked")
    now = now or timezone.now()
    index = current_index()
    purpose = _check_facet(index, event)
    run, created = _run_locked(source, event, purpose)
    if run.source_id != source.pk:
        raise PermissionDenied("This run was reported by another telemetry source")
    if (run.job_namespace, run.job_name) != (event.job_namespace, event.job_name):
        raise StateConflict(
            {
                "run.runId": f"This runId is a run of job {run.job_namespace}/{run.job_name}; "
                "a runId names one run of one job"
            }
        )
    result = LineageResult(run=run, event_type=event.event_type)
    if not created and LineageEvent.objects.filter(run=run, dedupe_key=event.dedupe_key).exists():
        result.duplicate = True
        result.datasets = list(run.datasets.select_related("dataset"))
        return result
    LineageEvent.objects.create(
        run=run,
        source=source,
        event_type=event.event_type,
        event_time=event.event_time,
        dedupe_key=event.dedupe_key,
        received_at=now,
        raw=event.raw,
    )
    _advance(run, event, created)
    fresh = _record_datasets(run, event)
    result.datasets = list(run.datasets.select_related("dataset__storage_region"))
    result.wrote(LOCATED, _locate(run, event, result.datasets, index))
    sent = _judge_reads(source, run, result)
    run.save()
    result.catalog_gaps = _record_gaps(source, run, fresh, sent, now)
    if run.state == RunEventType.COMPLETE:
        link_run(source, run, result)
    return result


def _check_facet(index: PolicyIndex, event: RunEventIn) -> str:
    path = f"run.facets.{LOCATION_FACET}"
    if event.facet_region and event.facet_region not in index.regions:
        raise ValidationError(
            {f"{path}.region": f"Unknown region {event.facet_region!r} (use provider:name)."}
        )
    if event.facet_purpose and event.facet_purpose not in index.purposes:
        raise ValidationError({f"{path}.purpose": f"Unknown purpose {event.facet_purpose!r}."})
    return event.facet_purpose


def _run_locked(source: TelemetrySource, event: RunEventIn, purpose: str):
    """The run, created by this event or locked for it: events of one run apply one by one."""
    try:
        with transaction.atomic():
            run = LineageRun.objects.create(
                run_id=event.run_id,
                source=source,
                job_namespace=event.job_namespace,
                job_name=event.job_name,
                parent_run_id=event.parent_run_id,
                state=event.event_type,
                state_at=event.event_time,
                purpose=purpose or source.default_purpose,
            )
            return run, True
    except IntegrityError:
        pass
    return LineageRun.objects.select_for_update().get(run_id=event.run_id), False


def _advance(run: LineageRun, event: RunEventIn, created: bool) -> None:
    """Move the state forward only; note start and end whatever the order of arrival."""
    kind, at = event.event_type, event.event_time
    rank, current = STATE_RANK[kind], STATE_RANK[run.state]
    if not created and (rank > current or (rank == current and at > run.state_at)):
        run.state, run.state_at = kind, at
    if kind == RunEventType.START:
        run.started_at = min(at, run.started_at) if run.started_at else at
    if kind in TERMINAL and (run.ended_at is None or at > run.ended_at):
        run.ended_at = at
    if event.facet_purpose:
        run.purpose = event.facet_purpose
    if event.parent_run_id and not run.parent_run_id:
        run.parent_run_id = event.parent_run_id


def match_datasets(items: list[tuple[str, str]]) -> dict[str, Dataset]:
    """{namespace/name: catalog dataset} for the (namespace, name) pairs the catalog knows."""
    wanted = {dataset_uri(ns, name): uri_candidates(ns, name) for ns, name in items}
    every = {c for candidates in wanted.values() for c in candidates}
    if not every:
        return {}
    by_uri = {
        ds.uri: ds for ds in Dataset.objects.filter(uri__in=every).select_related("storage_region")
    }
    found = {}
    for uri, candidates in wanted.items():
        hit = next((by_uri[c] for c in candidates if c in by_uri), None)
        if hit is not None:
            found[uri] = hit
    return found


def _record_datasets(run: LineageRun, event: RunEventIn) -> list[LineageRunDataset]:
    """Add the datasets this event names to the run (statistics kept at their largest);
    returns the rows new to the run."""
    named = [(LineageRunDataset.Role.INPUT, d) for d in event.inputs]
    named += [(LineageRunDataset.Role.OUTPUT, d) for d in event.outputs]
    if not named:
        return []
    matches = match_datasets([(d.namespace, d.name) for _, d in named])
    existing = {(row.role, row.uri): row for row in run.datasets.all()}
    fresh: dict[tuple[str, str], LineageRunDataset] = {}
    for role, d in named:
        row = existing.get((role, d.uri)) or fresh.get((role, d.uri))
        dataset = matches.get(d.uri)
        if row is None:
            fresh[(role, d.uri)] = LineageRunDataset(
                run=run,
                role=role,
                namespace=d.namespace,
                name=d.name,
                uri=d.uri,
                dataset=dataset,
                first_seen_at=event.event_time,
                bytes=d.bytes,
                records=d.records,
            )
            continue
        _refresh(row, dataset, d, event.event_time)
    LineageRunDataset.objects.bulk_create(fresh.values())
    return list(fresh.values())


def _refresh(row: LineageRunDataset, dataset: Dataset | None, d: DatasetIn, at) -> None:
    changed = {
        "dataset": dataset,
        "bytes": max(row.bytes, d.bytes),
        "records": max(row.records, d.records),
        "first_seen_at": min(row.first_seen_at, at),
    }
    if row.pk is None:  # named twice in this event
        for name, value in changed.items():
            setattr(row, name, value)
        return
    if any(getattr(row, name) != value for name, value in changed.items()):
        for name, value in changed.items():
            setattr(row, name, value)
        row.save(update_fields=list(changed))


# --- Where the run executed --------------------------------------------------------------------


def _namespace_region(namespace: str, index: PolicyIndex):
    """(rule, region, detail) from the admin table, else from the setting, else None."""
    rows = LineageNamespaceRegion.objects.filter(namespace=namespace).select_related("region")
    row = rows.first()
    if row is not None:
        return LocationRule.NAMESPACE_TABLE, row.region.code, f"job namespace {namespace!r}"
    region = getattr(settings, "OPENLINEAGE_NAMESPACE_REGIONS", {}).get(namespace)
    if region and region in index.regions:
        return LocationRule.NAMESPACE_SETTING, region, f"job namespace {namespace!r}"
    return None


def _output_region(rows: list[LineageRunDataset]):
    regions = sorted(
        {r.dataset.storage_region.code for r in rows if r.role == "output" and r.dataset}
    )
    if len(regions) == 1:
        return LocationRule.OUTPUT_STORAGE, regions[0], "the storage region of its outputs"
    return None


def _locate(run: LineageRun, event: RunEventIn, rows, index: PolicyIndex) -> dict | None:
    """Decide (or strengthen) where the run executed: run facet > namespace > outputs; the
    receipt of the decision-log entry when the place changed."""
    found = None
    if event.facet_region:
        found = (LocationRule.RUN_FACET, event.facet_region, f"run.facets.{LOCATION_FACET}")
    elif RULE_RANK[run.location_rule] < RULE_RANK[LocationRule.NAMESPACE_TABLE]:
        found = _namespace_region(run.job_namespace, index) or _output_region(rows)
    if found is None:
        return None
    rule, region, detail = found
    if RULE_RANK[rule] < RULE_RANK[run.location_rule]:
        return None
    if (rule, region) == (run.location_rule, run.region):
        return None
    previous = run.region
    run.location_rule, run.region, run.location_detail = rule, region, detail[:300]
    return ledger_submit(
        actor=None,
        kind=LOCATED,
        subjects=[f"lineage-run:{run.pk}", f"telemetry-source:{run.source_id}"],
        data={
            "run_id": str(run.run_id),
            "job": f"{run.job_namespace}/{run.job_name}",
            "region": region,
            "rule": rule,
            "detail": detail,
            "previous_region": previous,
        },
    )


# --- Reads, gaps and edges ---------------------------------------------------------------------


def _read_id(run: LineageRun, row: LineageRunDataset) -> str:
    digest = hashlib.sha256(f"{run.run_id}|{run.region}|{row.uri}".encode()).hexdigest()
    return f"ol-{digest[:40]}"


def _judge_reads(source: TelemetrySource, run: LineageRun, result: LineageResult) -> set[str]:
    """Send the run's inputs as reads at its region to telemetry ingest; returns their URIs.
    What could not be judged is noted on the run and the result."""
    inputs = [r for r in result.datasets if r.role == "input"]
    if not inputs:
        return set()
    if not run.region:
        result.not_judged = [
            "Locus cannot tell where the run executed, so its reads are not judged: give the "
            f"run facet {LOCATION_FACET} (region), or map the job namespace to a region"
        ]
        run.not_judged = result.not_judged[0]
        return set()
    actor = f"{run.job_namespace}/{run.job_name}"[:200]
    # A stored read is not sent again: its time can move (a late START), and PostgreSQL's key
    # holds the time (README "Retention of telemetry").
    ids = [_read_id(run, row) for row in inputs]
    stored = set(_events(source, ids).values_list("client_id", flat=True))
    fresh = [row for row, read_id in zip(inputs, ids, strict=True) if read_id not in stored]
    items = [
        {
            "id": _read_id(run, row),
            "time": row.first_seen_at.isoformat(),
            "kind": "read",
            "dataset": row.dataset.slug if row.dataset else row.uri,
            "actor": actor,
            "destination_region": run.region,
            "bytes": row.bytes,
            "records": row.records,
            "run_id": str(run.run_id),
            "purpose": run.purpose,
        }
        for row in fresh
    ]
    reads = telemetry_ingest(source=source, items=items)
    reads.received, reads.duplicates = reads.received + len(stored), reads.duplicates + len(stored)
    result.reads = reads.as_json()
    result.wrote(VIOLATIONS, result.reads["receipt"])
    result.not_judged = [
        f"{fresh[error['index']].uri}: {_error_text(error)}" for error in result.reads["errors"]
    ]
    run.not_judged = "; ".join(result.not_judged)[:2000]
    _count_statistics(source, run, inputs)
    return {row.uri for row in inputs}


def _error_text(error: dict) -> str:
    """One item error of telemetry ingest ({"errors": {field: reason or [reasons]}}) as text."""
    fields = error.get("errors") or {}
    return "; ".join(
        f"{name}: {' '.join(map(str, why)) if isinstance(why, list) else why}"
        for name, why in fields.items()
    ) or str(error)


def _events(source: TelemetrySource, client_ids: list[str]):
    return TelemetryEvent.objects.filter(source=source, client_id__in=client_ids)


def _count_statistics(source: TelemetrySource, run: LineageRun, inputs) -> None:
    """Add to the telemetry volumes what the run's inputs grew by since their reads were
    judged (the read's own row keeps what was known then: telemetry is append-only)."""
    reads = {e.client_id: e for e in _events(source, [_read_id(run, row) for row in inputs])}
    grown = []
    for row in inputs:
        read = reads.get(_read_id(run, row))
        if read is None:
            continue
        base_bytes = read.bytes if row.bytes_counted is None else row.bytes_counted
        base_records = read.records if row.records_counted is None else row.records_counted
        growth = copy.copy(read)
        growth.bytes = max(0, row.bytes - base_bytes)
        growth.records = max(0, row.records - base_records)
        if growth.bytes or growth.records:
            growth.jurisdiction = _jurisdiction(row)
            grown.append(growth)
        counted = (max(row.bytes, base_bytes), max(row.records, base_records))
        if counted != (row.bytes_counted, row.records_counted):
            row.bytes_counted, row.records_counted = counted
            row.save(update_fields=["bytes_counted", "records_counted"])
    if grown:
        rollups.flows_add(grown, events_each=0)
        rollups.actor_volumes_add(grown, events_each=0)


def _jurisdiction(row: LineageRunDataset) -> str:
    region = row.dataset.storage_region if row.dataset else None
    return region.jurisdiction_id if region is not None else ""


def _record_gaps(source, run, fresh: list[LineageRunDataset], sent: set[str], now) -> list[str]:
    """Count the new unmatched datasets as catalog gaps (ingest counted the reads it took)."""
    gaps = {}
    for row in fresh:
        if row.dataset_id or (row.role == "input" and row.uri in sent) or row.uri in gaps:
            continue
        gaps[row.uri] = {
            "dataset_ref": row.uri,
            "first_seen_at": row.first_seen_at,
            "last_seen_at": row.first_seen_at,
            "events": 1,
            "bytes": row.bytes,
            "last_source_id": source.pk,
            "last_actor": f"{run.job_namespace}/{run.job_name}"[:200],
            "last_region": run.region,
        }
    rollups.gaps_add(gaps)
    unmatched = {r.uri for r in fresh if not r.dataset_id}
    return sorted(unmatched)


def _in_scope(source: TelemetrySource):
    scope = frozenset(source.datasets.values_list("id", flat=True))
    return (lambda ds: True) if not scope else (lambda ds: ds.pk in scope)


def link_run(source: TelemetrySource, run: LineageRun, result: LineageResult) -> None:
    """Every matched input -> matched output of the run becomes a catalog lineage edge."""
    allowed = _in_scope(source)
    ups = {r.dataset for r in result.datasets if r.role == "input" and r.dataset}
    downs = {r.dataset for r in result.datasets if r.role == "output" and r.dataset}
    pairs = [(u, d) for u in ups for d in downs if u.pk != d.pk and allowed(u) and allowed(d)]
    created, skipped = catalog_services.lineage_edges_observe(
        pairs=pairs,
        transformation=f"OpenLineage job {run.job_namespace}/{run.job_name}",
        created_by=source.created_by,
    )
    result.edges_created = [(u.slug, d.slug) for u, d in created]
    result.edges_skipped = skipped
    if created:
        result.wrote(EDGES, _ledger_edges(created, f"lineage-run:{run.pk}", str(run.run_id)))


def _ledger_edges(created: list, subject: str, run_id: str) -> dict:
    datasets = sorted({f"dataset:{ds.slug}" for pair in created for ds in pair})
    return ledger_submit(
        actor=None,
        kind=EDGES,
        subjects=[subject, *datasets[:50]],
        data={"run_id": run_id, "edges": [[u.slug, d.slug] for u, d in created]},
    )
