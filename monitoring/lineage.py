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
  known, every input is sent to `monitoring.ingest.telemetry_ingest` as a `read` at that
  region, so the policy engine judges it and violations stream like any telemetry. One read per
  run, input and region: a resent or later event does not count a read twice.
- Every matched input -> matched output pair becomes a catalog lineage edge (cycles refused).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Dataset
from governance.ledger.chain import ledger_append
from governance.policy.facts import PolicyIndex
from governance.policy.index import current_index
from monitoring import rollups
from monitoring.ingest import telemetry_ingest
from monitoring.models import (
    LineageEvent,
    LineageNamespaceRegion,
    LineageRun,
    LineageRunDataset,
    LocationRule,
    RunEventType,
    TelemetrySource,
    UnregisteredAsset,
)

LOCATION_FACET = "locus_location"
# The state a run is in moves only forward; among events of equal rank the later one wins.
STATE_RANK = {
    RunEventType.OTHER: 0,
    RunEventType.START: 1,
    RunEventType.RUNNING: 2,
    RunEventType.COMPLETE: 3,
    RunEventType.FAIL: 3,
    RunEventType.ABORT: 3,
}
# Several of these may come for one run: each is told apart by its eventTime.
REPEATABLE = frozenset({RunEventType.RUNNING, RunEventType.OTHER})
TERMINAL = frozenset({RunEventType.COMPLETE, RunEventType.FAIL, RunEventType.ABORT})
RULE_RANK = {
    LocationRule.UNKNOWN: 0,
    LocationRule.OUTPUT_STORAGE: 1,
    LocationRule.NAMESPACE_SETTING: 2,
    LocationRule.NAMESPACE_TABLE: 2,
    LocationRule.RUN_FACET: 3,
}
MAX_NAMESPACE = 255
MAX_NAME = 500
MAX_URI = 500
MAX_DATASETS = 1000


# --- The event, checked against the OpenLineage spec ---------------------------------------


@dataclass(frozen=True, slots=True)
class DatasetIn:
    """An input or output as the event names it, with its statistics facet (if any)."""

    namespace: str
    name: str
    uri: str
    bytes: int = 0
    records: int = 0


@dataclass(slots=True)
class RunEventIn:
    """A RunEvent that follows the spec; `raw` is the event as received."""

    run_id: uuid.UUID
    event_type: str
    event_time: dt.datetime
    job_namespace: str
    job_name: str
    parent_run_id: uuid.UUID | None
    inputs: list[DatasetIn]
    outputs: list[DatasetIn]
    facet_region: str
    facet_purpose: str
    raw: dict

    @property
    def dedupe_key(self) -> str:
        if self.event_type in REPEATABLE:
            return f"{self.event_type}@{self.event_time.isoformat()}"
        return self.event_type


class SpecErrors:
    """Collects {json path: reason} while an event is read; raises them all at the end."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "$", message)

    def raise_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def dataset_uri(namespace: str, name: str) -> str:
    """The canonical name of an OpenLineage dataset in Locus: `namespace/name`.

    s3://bucket + path/to/x -> s3://bucket/path/to/x;
    postgres://host:5432 + db.schema.table -> postgres://host:5432/db.schema.table;
    bigquery + project.dataset.table -> bigquery/project.dataset.table.
    """
    return f"{namespace.rstrip('/')}/{name.lstrip('/')}"


def uri_candidates(namespace: str, name: str) -> list[str]:
    """The Dataset.uri values that name this dataset, canonical first.

    Besides `namespace/name`: the same with a trailing slash (a directory), and for a namespace
    that is a bare scheme (file, bigquery) `scheme://name`, e.g. file + /data/x -> file:///data/x.
    """
    canonical = dataset_uri(namespace, name)
    candidates = [canonical, canonical + "/"]
    if "://" not in namespace and ":" not in namespace:
        candidates.append(f"{namespace}://{name}")
    return list(dict.fromkeys(candidates))


def _text(errors: SpecErrors, obj: dict, key: str, path: str, limit: int) -> str:
    value = obj.get(key)
    where = f"{path}.{key}" if path else key
    if value is None:
        errors.add(where, "This field is required.")
        return ""
    if not isinstance(value, str) or not value.strip():
        errors.add(where, "Must be a non-empty string.")
        return ""
    if len(value) > limit:
        errors.add(where, f"At most {limit} characters.")
        return ""
    return value


def _uri(errors: SpecErrors, obj: dict, key: str, path: str) -> str:
    value = _text(errors, obj, key, path, 2000)
    if value and not urlsplit(value).scheme:
        errors.add(f"{path}.{key}" if path else key, "Must be a URI (with its scheme).")
    return value


def _object(errors: SpecErrors, value, path: str, required: bool = False) -> dict | None:
    if value is None:
        if required:
            errors.add(path, "This field is required.")
        return None
    if not isinstance(value, dict):
        errors.add(path, "Must be a JSON object.")
        return None
    return value


def _time(errors: SpecErrors, data: dict) -> dt.datetime | None:
    value = _text(errors, data, "eventTime", "", 64)
    if not value:
        return None
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        errors.add("eventTime", f"Not an ISO 8601 date-time: {value[:40]!r}.")
        return None
    if at.tzinfo is None:
        errors.add("eventTime", "Give the time's offset (e.g. 2026-01-01T12:00:00Z).")
        return None
    return at.astimezone(dt.UTC)


def _run_uuid(errors: SpecErrors, value, path: str) -> uuid.UUID | None:
    if not isinstance(value, str):
        errors.add(path, "This field is required: a UUID." if value is None else "Must be a UUID.")
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors.add(path, f"Not a UUID: {value[:40]!r}.")
        return None


def _facets(errors: SpecErrors, value, path: str) -> dict:
    """A facets map: each facet an object with _producer and _schemaURL (spec BaseFacet)."""
    facets = _object(errors, value, path) or {}
    for name, facet in facets.items():
        where = f"{path}.{name}"
        if _object(errors, facet, where, required=True) is None:
            continue
        _uri(errors, facet, "_producer", where)
        _uri(errors, facet, "_schemaURL", where)
    return facets


def _statistic(facets: dict, key: str) -> tuple[int, int]:
    """(bytes, records) of an input/outputStatistics facet; anything odd counts as 0."""
    facet = facets.get(key)
    if not isinstance(facet, dict):
        return 0, 0
    size, rows = facet.get("size"), facet.get("rowCount")
    ok = lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63  # noqa: E731
    return (size if ok(size) else 0), (rows if ok(rows) else 0)


def _datasets(errors: SpecErrors, data: dict, key: str) -> list[DatasetIn]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        errors.add(key, "Must be a JSON array.")
        return []
    if len(items) > MAX_DATASETS:
        errors.add(key, f"At most {MAX_DATASETS} datasets.")
        return []
    statistics = "inputStatistics" if key == "inputs" else "outputStatistics"
    found: list[DatasetIn] = []
    for position, item in enumerate(items):
        path = f"{key}[{position}]"
        if _object(errors, item, path, required=True) is None:
            continue
        namespace = _text(errors, item, "namespace", path, MAX_NAMESPACE)
        name = _text(errors, item, "name", path, MAX_NAME)
        _facets(errors, item.get("facets"), f"{path}.facets")
        own = _facets(errors, item.get(key[:-1] + "Facets"), f"{path}.{key[:-1]}Facets")
        if not (namespace and name):
            continue
        uri = dataset_uri(namespace, name)
        if len(uri) > MAX_URI:
            errors.add(f"{path}.name", f"namespace/name is at most {MAX_URI} characters here.")
            continue
        found.append(DatasetIn(namespace, name, uri, *_statistic(own, statistics)))
    return found


def _location_facet(errors: SpecErrors, facets: dict) -> tuple[str, str]:
    facet = facets.get(LOCATION_FACET)
    if not isinstance(facet, dict):
        return "", ""
    path = f"run.facets.{LOCATION_FACET}"
    region = _text(errors, facet, "region", path, 60)
    purpose = facet.get("purpose") or ""
    if not isinstance(purpose, str) or len(purpose) > 60:
        errors.add(f"{path}.purpose", "Must be a purpose code (a string).")
        purpose = ""
    return region, purpose


def parse_run_event(data) -> RunEventIn:
    """Check a RunEvent against the spec's required fields and types (2-0-x); ValidationError
    {json path: reason} lists every field that breaks it. Unknown fields and facets are kept."""
    errors = SpecErrors()
    if not isinstance(data, dict):
        errors.add("$", "A RunEvent is a JSON object.")
        errors.raise_any()
    at = _time(errors, data)
    _uri(errors, data, "producer", "")
    _uri(errors, data, "schemaURL", "")
    event_type = data.get("eventType") or RunEventType.OTHER
    if event_type not in RunEventType.values:
        errors.add("eventType", f"One of {', '.join(RunEventType.values)}.")
    run = _object(errors, data.get("run"), "run", required=True) or {}
    job = _object(errors, data.get("job"), "job", required=True) or {}
    if not run and "dataset" in data:
        errors.add("run", "Locus takes RunEvents; a DatasetEvent or JobEvent has no run.")
    run_id = _run_uuid(errors, run.get("runId"), "run.runId") if run else None
    run_facets = _facets(errors, run.get("facets"), "run.facets")
    job_namespace = _text(errors, job, "namespace", "job", MAX_NAMESPACE) if job else ""
    job_name = _text(errors, job, "name", "job", MAX_NAME) if job else ""
    _facets(errors, job.get("facets"), "job.facets")
    inputs = _datasets(errors, data, "inputs")
    outputs = _datasets(errors, data, "outputs")
    region, purpose = _location_facet(errors, run_facets)
    parent = _parent_run(errors, run_facets)
    errors.raise_any()
    return RunEventIn(
        run_id=run_id,
        event_type=event_type,
        event_time=at,
        job_namespace=job_namespace,
        job_name=job_name,
        parent_run_id=parent,
        inputs=inputs,
        outputs=outputs,
        facet_region=region,
        facet_purpose=purpose,
        raw=data,
    )


def _parent_run(errors: SpecErrors, facets: dict) -> uuid.UUID | None:
    parent = facets.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("run"), dict):
        return None
    return _run_uuid(errors, parent["run"].get("runId"), "run.facets.parent.run.runId")


# --- What one event did ----------------------------------------------------------------------


@dataclass
class LineageResult:
    """The answer to one RunEvent."""

    run: LineageRun
    event_type: str
    duplicate: bool = False
    datasets: list[LineageRunDataset] = field(default_factory=list)
    reads: dict | None = None
    edges_created: list[tuple[str, str]] = field(default_factory=list)
    edges_skipped: list[dict] = field(default_factory=list)
    catalog_gaps: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        run = self.run
        return {
            "runId": str(run.run_id),
            "eventType": self.event_type,
            "duplicate": self.duplicate,
            "state": run.state,
            "location": {
                "region": run.region or None,
                "rule": run.location_rule,
                "detail": run.location_detail,
            },
            "datasets": [
                {
                    "role": row.role,
                    "namespace": row.namespace,
                    "name": row.name,
                    "uri": row.uri,
                    "dataset": row.dataset.slug if row.dataset else None,
                }
                for row in self.datasets
            ],
            "reads": self.reads,
            "lineage_edges_created": [list(pair) for pair in self.edges_created],
            "lineage_edges_skipped": self.edges_skipped,
            "catalog_gaps": self.catalog_gaps,
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
    _locate(run, event, result.datasets, index)
    run.save()
    sent = _judge_reads(source, run, result)
    result.catalog_gaps = _record_gaps(source, run, fresh, sent, now)
    _link(source, run, result)
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
    row = LineageNamespaceRegion.objects.filter(namespace=namespace).select_related("region")
    row = row.first()
    if row is not None:
        return LocationRule.NAMESPACE_TABLE, row.region.code, f"job namespace {namespace!r}"
    region = getattr(settings, "OPENLINEAGE_NAMESPACE_REGIONS", {}).get(namespace)
    if region and region in index.regions:
        return LocationRule.NAMESPACE_SETTING, region, f"job namespace {namespace!r}"
    return None


def _output_region(rows: list[LineageRunDataset]):
    regions = sorted(
        {r.dataset.storage_region.code for r in rows if r.role == "output" and r.dataset_id}
    )
    if len(regions) == 1:
        return LocationRule.OUTPUT_STORAGE, regions[0], "the storage region of its outputs"
    return None


def _locate(run: LineageRun, event: RunEventIn, rows, index: PolicyIndex) -> None:
    """Decide (or strengthen) where the run executed: run facet > namespace > outputs."""
    found = None
    if event.facet_region:
        found = (LocationRule.RUN_FACET, event.facet_region, f"run.facets.{LOCATION_FACET}")
    elif RULE_RANK[run.location_rule] < RULE_RANK[LocationRule.NAMESPACE_TABLE]:
        found = _namespace_region(run.job_namespace, index) or _output_region(rows)
    if found is None:
        return
    rule, region, detail = found
    if RULE_RANK[rule] < RULE_RANK[run.location_rule]:
        return
    if (rule, region) == (run.location_rule, run.region):
        return
    previous = run.region
    run.location_rule, run.region, run.location_detail = rule, region, detail[:300]
    ledger_append(
        actor=None,
        kind="lineage.run_located",
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
    """Send the run's inputs as reads at its region to telemetry ingest; returns their URIs."""
    inputs = [r for r in result.datasets if r.role == "input"]
    if not run.region or not inputs:
        return set()
    actor = f"{run.job_namespace}/{run.job_name}"[:200]
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
        for row in inputs
    ]
    result.reads = telemetry_ingest(source=source, items=items).as_json()
    return {row.uri for row in inputs}


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


def _link(source: TelemetrySource, run: LineageRun, result: LineageResult) -> None:
    """Every matched input -> matched output of the run becomes a catalog lineage edge."""
    allowed = _in_scope(source)
    ups = {r.dataset for r in result.datasets if r.role == "input" and r.dataset_id}
    downs = {r.dataset for r in result.datasets if r.role == "output" and r.dataset_id}
    pairs = [(u, d) for u in ups for d in downs if u.pk != d.pk and allowed(u) and allowed(d)]
    created, skipped = catalog_services.lineage_edges_observe(
        pairs=pairs,
        transformation=f"OpenLineage job {run.job_namespace}/{run.job_name}",
        created_by=source.created_by,
    )
    result.edges_created = [(u.slug, d.slug) for u, d in created]
    result.edges_skipped = skipped
    if created:
        _ledger_edges(created, f"lineage-run:{run.pk}", str(run.run_id))


def _ledger_edges(created: list, subject: str, run_id: str) -> None:
    datasets = sorted({f"dataset:{ds.slug}" for pair in created for ds in pair})
    ledger_append(
        actor=None,
        kind="lineage.edges_observed",
        subjects=[subject, *datasets[:50]],
        data={"run_id": run_id, "edges": [[u.slug, d.slug] for u, d in created]},
    )


# --- Catalog gaps: register in one step --------------------------------------------------------


def gap_names(gaps: list[UnregisteredAsset]) -> dict[str, tuple[str, str]]:
    """{dataset_ref: (namespace, name)} for the gaps that came from OpenLineage (one query)."""
    rows = LineageRunDataset.objects.filter(uri__in=[g.dataset_ref for g in gaps]).values_list(
        "uri", "namespace", "name"
    )
    return {uri: (namespace, name) for uri, namespace, name in rows}


@transaction.atomic
def catalog_gap_register(*, actor, gap: UnregisteredAsset, **fields) -> Dataset:
    """Register the dataset a catalog gap names (its URI is the gap's reference) and close the
    gap; lineage runs that named it gain their edges to it."""
    gap = UnregisteredAsset.objects.select_for_update().filter(pk=gap.pk).first()
    if gap is None:
        raise ValidationError({"gap": "This catalog gap is closed already."})
    fields["uri"] = gap.dataset_ref
    dataset = catalog_services.dataset_create(actor=actor, **fields)
    rows = LineageRunDataset.objects.filter(uri=gap.dataset_ref, dataset__isnull=True)
    run_ids = set(rows.values_list("run_id", flat=True))
    rows.update(dataset=dataset)
    created = []
    for run in LineageRun.objects.filter(pk__in=run_ids).select_related("source"):
        result = LineageResult(run=run, event_type="")
        result.datasets = list(run.datasets.select_related("dataset"))
        _link(run.source, run, result)
        created += result.edges_created
    gap.delete()
    ledger_append(
        actor=actor,
        kind="catalog_gap.registered",
        subjects=[f"dataset:{dataset.slug}"],
        data={
            "dataset_ref": gap.dataset_ref,
            "events": gap.events,
            "lineage_runs": len(run_ids),
            "edges": [list(pair) for pair in created],
        },
    )
    return dataset


# --- Namespace regions (admin) -----------------------------------------------------------------


def _check_namespace_editor(actor) -> None:
    if not actor.has_perm("monitoring.change_lineagenamespaceregion"):
        raise PermissionDenied("Only privacy officers may say where job namespaces run")


@transaction.atomic
def namespace_region_save(*, actor, row: LineageNamespaceRegion) -> LineageNamespaceRegion:
    """Say where the jobs of a namespace run (later runs are located by it)."""
    _check_namespace_editor(actor)
    row.full_clean()
    row.save()
    ledger_append(
        actor=actor,
        kind="lineage.namespace_region",
        subjects=[f"lineage-namespace:{row.pk}"],
        data={"namespace": row.namespace, "region": row.region.code, "note": row.note},
    )
    return row


@transaction.atomic
def namespace_region_delete(*, actor, row: LineageNamespaceRegion) -> None:
    """Forget where the jobs of a namespace run."""
    _check_namespace_editor(actor)
    ledger_append(
        actor=actor,
        kind="lineage.namespace_region_deleted",
        subjects=[f"lineage-namespace:{row.pk}"],
        data={"namespace": row.namespace, "region": row.region.code},
    )
    row.delete()
