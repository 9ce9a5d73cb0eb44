"""Counters kept on ingest with one additive upsert per table per batch (PostgreSQL and SQLite).

`INSERT ... ON CONFLICT (key) DO UPDATE SET n = t.n + excluded.n` is the same SQL on both
databases, adds concurrent batches together without a read, and takes its row locks in key
order (rows are sorted), so two batches touching the same rows never deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection, models

from monitoring.models import (
    ActorFootprint,
    ActorVolumeHourly,
    FlowDaily,
    UnregisteredAsset,
)

ROWS_PER_STATEMENT = 500


def _adapt(value):
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dt.date):
        return connection.ops.adapt_datefield_value(value)
    return value


def upsert(
    model: type[models.Model],
    *,
    keys: Sequence[str],
    rows: Iterable[dict],
    add: Sequence[str] = (),
    latest: Sequence[str] = (),
    earliest: Sequence[str] = (),
    replace: Sequence[str] = (),
) -> None:
    """Insert rows, or on a key conflict: add `add` columns, keep the max of `latest`, the min
    of `earliest`, and overwrite `replace` (columns by their db names)."""
    rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    columns = list(rows[0])
    quoted = [connection.ops.quote_name(c) for c in columns]
    sets = [f"{q(c)} = {table}.{q(c)} + excluded.{q(c)}" for c in add]
    sets += [
        f"{q(c)} = CASE WHEN excluded.{q(c)} > {table}.{q(c)} THEN excluded.{q(c)} "
        f"ELSE {table}.{q(c)} END"
        for c in latest
    ]
    sets += [
        f"{q(c)} = CASE WHEN excluded.{q(c)} < {table}.{q(c)} THEN excluded.{q(c)} "
        f"ELSE {table}.{q(c)} END"
        for c in earliest
    ]
    sets += [f"{q(c)} = excluded.{q(c)}" for c in replace]
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            sql = (
                f"INSERT INTO {table} ({', '.join(quoted)}) VALUES "
                f"{', '.join([placeholder] * len(chunk))} "
                f"ON CONFLICT ({', '.join(q(k) for k in keys)}) DO UPDATE SET {', '.join(sets)}"
            )
            cursor.execute(sql, [_adapt(row[c]) for row in chunk for c in columns])


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def _add(totals: dict, key: tuple, events: int, size: int, records: int) -> None:
    found = totals.get(key)
    if found is None:
        totals[key] = [events, size, records]
    else:
        found[0] += events
        found[1] += size
        found[2] += records


def flows_add(stored: Iterable) -> None:
    """Add stored events (JudgedEvent) to the daily flow counters."""
    totals: dict[tuple, list[int]] = {}
    jurisdiction: dict[int, str] = {}
    for e in stored:
        key = (
            e.occurred_at.date(),
            e.dataset_id or 0,
            e.source_country,
            e.destination_country,
            e.outcome,
        )
        _add(totals, key, 1, e.bytes, e.records)
        jurisdiction[e.dataset_id or 0] = e.jurisdiction
    upsert(
        FlowDaily,
        keys=["day", "dataset_key", "source_country", "destination_country", "outcome"],
        rows=(
            {
                "day": day,
                "dataset_key": ds,
                "source_country": src,
                "destination_country": dst,
                "outcome": outcome,
                "jurisdiction": jurisdiction[ds],
                "events": n,
                "bytes": size,
                "records": records,
            }
            for (day, ds, src, dst, outcome), (n, size, records) in totals.items()
        ),
        add=["events", "bytes", "records"],
    )


def hour_of(at: dt.datetime) -> dt.datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def actor_volumes_add(stored: Iterable) -> dict[tuple[str, dt.datetime], list[int]]:
    """Add stored events to the hourly per-actor volumes; returns this batch's totals."""
    totals: dict[tuple[str, dt.datetime], list[int]] = {}
    for e in stored:
        if e.actor:
            _add(totals, (e.actor, hour_of(e.occurred_at)), 1, e.bytes, e.records)
    upsert(
        ActorVolumeHourly,
        keys=["actor", "hour"],
        rows=(
            {"actor": actor, "hour": hour, "events": n, "bytes": size, "records": records}
            for (actor, hour), (n, size, records) in totals.items()
        ),
        add=["events", "bytes", "records"],
    )
    return totals


def footprints_add(seen: dict[tuple[str, str, str], list]) -> None:
    """Record what actors touched: {(actor, kind, value): [first_at, last_at, count]}."""
    upsert(
        ActorFootprint,
        keys=["actor", "kind", "value"],
        rows=(
            {
                "actor": actor,
                "kind": kind,
                "value": value,
                "first_seen_at": first,
                "last_seen_at": last,
                "events": n,
            }
            for (actor, kind, value), (first, last, n) in seen.items()
        ),
        add=["events"],
        latest=["last_seen_at"],
        earliest=["first_seen_at"],
    )


def gaps_add(gaps: dict[str, dict]) -> None:
    """Count events naming datasets the catalog does not know ({dataset_ref: facts})."""
    upsert(
        UnregisteredAsset,
        keys=["dataset_ref"],
        rows=gaps.values(),
        add=["events", "bytes"],
        latest=["last_seen_at"],
        earliest=["first_seen_at"],
        replace=["last_source_id", "last_actor", "last_region"],
    )
