"""Counters kept on ingest with one additive upsert per table per batch (see monitoring.telemetry.bulk)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from monitoring.models import (
    ActorFootprint,
    ActorVolumeHourly,
    FlowDaily,
    UnregisteredAsset,
)
from monitoring.telemetry.bulk import upsert


def _add(totals: dict, key: tuple, events: int, size: int, records: int) -> None:
    found = totals.get(key)
    if found is None:
        totals[key] = [events, size, records]
    else:
        found[0] += events
        found[1] += size
        found[2] += records


def flows_add(stored: Iterable, *, events_each: int = 1) -> None:
    """Add stored events (JudgedEvent) to the daily flow counters (events_each=0: add only
    their bytes and records, e.g. a run's statistics that came after its read was judged)."""
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
        _add(totals, key, events_each, e.bytes, e.records)
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


def actor_volumes_add(
    stored: Iterable, *, events_each: int = 1
) -> dict[tuple[str, dt.datetime], int]:
    """Add stored events to the hourly per-actor volumes; returns the bytes now stored (this
    batch and every other before it) of each actor-hour to which this batch added bytes."""
    totals: dict[tuple[str, dt.datetime], list[int]] = {}
    for e in stored:
        if e.actor:
            _add(totals, (e.actor, hour_of(e.occurred_at)), events_each, e.bytes, e.records)
    rows = upsert(
        ActorVolumeHourly,
        keys=["actor", "hour"],
        rows=(
            {"actor": actor, "hour": hour, "events": n, "bytes": size, "records": records}
            for (actor, hour), (n, size, records) in totals.items()
        ),
        add=["events", "bytes", "records"],
        returning=["actor", "hour", "bytes"],
    )
    return {(a, h): size for a, h, size in rows if totals[(a, h)][1] > 0}


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
