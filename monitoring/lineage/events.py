"""OpenLineage RunEvents as received: checked against the spec (2-0-x), every broken field
named by its JSON path, and their datasets named `namespace/name` as the catalog's URIs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TypeGuard
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from monitoring.models import RunEventType

LOCATION_FACET = "locus_location"
# Several of these may come for one run: each is told apart by its eventTime.
REPEATABLE = frozenset({RunEventType.RUNNING, RunEventType.OTHER})
MAX_NAMESPACE = 255
MAX_NAME = 500
MAX_URI = 500
MAX_DATASETS = 1000


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


def _is_count(value: object) -> TypeGuard[int]:
    """A whole number a bigint column holds (not a bool, not negative)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _statistic(facets: dict, key: str) -> tuple[int, int]:
    """(bytes, records) of an input/outputStatistics facet; anything odd counts as 0."""
    facet = facets.get(key)
    if not isinstance(facet, dict):
        return 0, 0
    size, rows = facet.get("size"), facet.get("rowCount")
    return (size if _is_count(size) else 0), (rows if _is_count(rows) else 0)


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
    # A DatasetEvent or JobEvent (spec 2-0-x) has no run and no eventType.
    if not {"run", "eventType"} & data.keys() and {"dataset", "job"} & data.keys():
        kind = "DatasetEvent" if "dataset" in data else "JobEvent"
        errors.add("$", f"Locus takes OpenLineage RunEvents (with a run); this is a {kind}.")
        errors.raise_any()
    at = _time(errors, data)
    _uri(errors, data, "producer", "")
    _uri(errors, data, "schemaURL", "")
    event_type = data.get("eventType") or RunEventType.OTHER
    if event_type not in RunEventType.values:
        errors.add("eventType", f"One of {', '.join(RunEventType.values)}.")
    run = _object(errors, data.get("run"), "run", required=True) or {}
    job = _object(errors, data.get("job"), "job", required=True) or {}
    # A run or job given as {} still needs its runId, namespace and name (only a missing or
    # malformed object is named as such above).
    given = isinstance(data.get("run"), dict), isinstance(data.get("job"), dict)
    run_id = _run_uuid(errors, run.get("runId"), "run.runId") if given[0] else None
    run_facets = _facets(errors, run.get("facets"), "run.facets")
    job_namespace = _text(errors, job, "namespace", "job", MAX_NAMESPACE) if given[1] else ""
    job_name = _text(errors, job, "name", "job", MAX_NAME) if given[1] else ""
    _facets(errors, job.get("facets"), "job.facets")
    inputs = _datasets(errors, data, "inputs")
    outputs = _datasets(errors, data, "outputs")
    region, purpose = _location_facet(errors, run_facets)
    parent = _parent_run(errors, run_facets)
    errors.raise_any()
    assert run_id is not None and at is not None  # each was read or named an error above
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
