"""OpenLineage RunEvents as integrations send them (spec 2-0-2), built as plain JSON.

The live tests build theirs with the openlineage-python client in a separate process; these
in-process ones cannot import it (the app `requests/` shadows PyPI `requests`).
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow"
SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def facet(**fields) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": "https://example.com/facets/x.json", **fields}


def dataset(namespace: str, name: str, rows: int | None = None, size: int | None = None, **kw):
    item = {"namespace": namespace, "name": name, "facets": {}}
    if rows is not None:
        key = kw.pop("stats_key", "inputStatistics")
        item[key.replace("Statistics", "Facets")] = {key: facet(rowCount=rows, size=size)}
    item.update(kw)
    return item


def run_event(
    event_type: str = "START",
    *,
    run_id: str | uuid.UUID | None = None,
    job: tuple[str, str] = ("airflow-eu", "etl.load_customers"),
    inputs: list | None = None,
    outputs: list | None = None,
    region: str | None = None,
    at: dt.datetime | None = None,
    run_facets: dict | None = None,
    **extra,
) -> dict:
    at = at or timezone.now() - dt.timedelta(seconds=30)
    facets = dict(run_facets or {})
    if region:
        facets["locus_location"] = facet(region=region)
    event = {
        "eventType": event_type,
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "schemaURL": SCHEMA,
        "run": {"runId": str(run_id or uuid.uuid4()), "facets": facets},
        "job": {"namespace": job[0], "name": job[1], "facets": {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }
    event.update(extra)
    return event
