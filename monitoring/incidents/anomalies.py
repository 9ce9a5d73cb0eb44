"""Access anomalies, computed in bulk per ingest batch.

- New region / new dataset: an actor known for at least TELEMETRY_ANOMALY_WARMUP_HOURS touches
  a region or a dataset they never touched before (ActorFootprint).
- Volume: an actor's bytes in an hour exceed median + k x 1.4826 x MAD of their active hours
  in the rolling window before it (ActorVolumeHourly): robust statistics, so a few earlier
  spikes do not raise the bar. Needs TELEMETRY_ANOMALY_MIN_HOURS hours of history and at least
  TELEMETRY_ANOMALY_MIN_BYTES in the hour.

Each alert has a dedupe key (one per actor and region, dataset or hour), so a batch re-sent or
a second batch in the same hour does not raise it twice.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from governance.policy.facts import PolicyIndex
from monitoring.incidents import notices
from monitoring.models import ActorFootprint, ActorVolumeHourly, AnomalyAlert
from monitoring.telemetry import bulk, rollups
from monitoring.telemetry.stream import Message

MAD_SCALE = 1.4826  # makes the MAD estimate the standard deviation of normal data
FOOTPRINT_REFRESH = dt.timedelta(hours=1)


@dataclass
class Raised:
    alerts: list[AnomalyAlert] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class Baseline:
    median: float
    mad: float
    points: int

    def threshold(self, k: float) -> float:
        # A floor under the spread: an actor who moves exactly the same every hour has MAD 0.
        spread = max(MAD_SCALE * self.mad, 0.1 * self.median, 1.0)
        return self.median + k * spread


def robust_baseline(values: Sequence[float]) -> Baseline | None:
    """Median and median absolute deviation of the values (None when empty)."""
    if not values:
        return None
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return Baseline(median, mad, len(values))


def _footprints(stored) -> dict[tuple[str, str, str], list]:
    """{(actor, kind, value): [first at, last at, events, an event]} of the batch: the actor
    itself, each region and each dataset it touched. A loop over every event of every batch,
    so written plainly: comparisons rather than min()/max() calls."""
    seen: dict[tuple[str, str, str], list] = {}
    get = seen.get
    for e in stored:
        actor = e.actor
        if not actor:
            continue
        at = e.occurred_at
        for key in (
            (actor, "actor", ""),
            (actor, "region", e.destination_region),
            (actor, "dataset", e.dataset_slug or e.dataset_ref),
        ):
            found = get(key)
            if found is None:
                seen[key] = [at, at, 1, e]
                continue
            if at < found[0]:
                found[0] = at
            elif at > found[1]:
                found[1] = at
            found[2] += 1
    return seen


# Footprints this process knows are stored: {key: (first seen, on an actor's own footprint;
# last seen)}. Rows are never deleted, their last-seen only grows and an actor's first-seen
# only falls, so an entry is a safe bound: a batch's keys found here and fresh are neither
# read nor written (in steady traffic, nearly all of them). Filled on commit only.
FOOTPRINT_CACHE_LIMIT = 200_000
_footprint_cache: dict[tuple[str, str, str], tuple[dt.datetime | None, dt.datetime]] = {}

Stored = dict[tuple[str, str, str], tuple[dt.datetime | None, dt.datetime]]


def forget_history() -> None:
    """Drop this process's cached baselines and footprints (tests that rewrite history)."""
    _baseline_cache.clear()
    _footprint_cache.clear()


def _stored_before(seen) -> Stored:
    """The batch's footprints as stored before it (absent: new). Keys this process knows are
    answered from memory; only the others are read, and only the batch's own keys, not every
    footprint of its actors."""
    stored: Stored = {}
    unsure = []
    for key, found in seen.items():
        cached = _footprint_cache.get(key)
        if cached is not None and found[1] - cached[1] <= FOOTPRINT_REFRESH:
            stored[key] = cached
        else:
            unsure.append(key)
    if unsure:
        stored.update(_stored_footprints(unsure))
    return stored


def _known(seen, stored: Stored) -> dict[tuple[str, str, str], tuple[dt.datetime | None, bool]]:
    """Which of the batch's footprints existed before it: (when the actor was first seen, on
    the actor's own footprint; whether the stored last-seen is over FOOTPRINT_REFRESH older
    than the batch's)."""
    return {
        key: (first, seen[key][1] - last > FOOTPRINT_REFRESH)
        for key, (first, last) in stored.items()
    }


def _remember(seen, stored: Stored) -> None:
    """After the commit, this process knows the batch's footprints as stored: those it read as
    they were, the rest (which the batch writes, new or refreshed) until the batch's last time."""
    entries = {}
    for key, (first, last, _, _) in seen.items():
        before = stored.get(key)
        if before is None:
            entries[key] = (first if key[1] == "actor" else None, last)
        elif last - before[1] > FOOTPRINT_REFRESH:
            entries[key] = (before[0], last)
        else:
            entries[key] = before

    def remember() -> None:
        if len(_footprint_cache) + len(entries) > FOOTPRINT_CACHE_LIMIT:
            _footprint_cache.clear()  # a bound on memory; it refills from the database
        _footprint_cache.update(entries)

    transaction.on_commit(remember)


def _stored_footprints(keys: list[tuple[str, str, str]]) -> Stored:
    """The stored (first seen, for actors; last seen) of these footprint keys: one statement
    joins the keys (one JSON parameter) to the unique index, on PostgreSQL and SQLite alike."""
    table = connection.ops.quote_name(ActorFootprint._meta.db_table)
    if connection.vendor == "postgresql":
        keyed = "json_to_recordset(%s::json) AS x(a text, k text, v text)"
        a, k, v = "x.a", "x.k", "x.v"
    else:
        keyed = "json_each(%s) AS x"
        a, k, v = (f"json_extract(x.value, '$.{name}')" for name in "akv")
    sql = (
        "SELECT f.actor, f.kind, f.value, f.first_seen_at, f.last_seen_at "
        f"FROM {keyed} JOIN {table} f ON f.actor = {a} AND f.kind = {k} AND f.value = {v}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [bulk.dumps([{"a": a, "k": k, "v": v} for a, k, v in keys])])
        rows = cursor.fetchall()
    return {
        (a, k, v): (_aware(first) if k == "actor" and first else None, _aware(last))
        for a, k, v, first, last in rows
    }


def _aware(at: dt.datetime | str) -> dt.datetime:
    """A time read by a raw query: SQLite gives naive UTC (or text), PostgreSQL aware."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _to_write(seen, known) -> dict[tuple[str, str, str], list]:
    """New footprints, and known ones not refreshed for FOOTPRINT_REFRESH: rewriting every
    footprint of every batch would cost a row update per actor and dataset per batch."""
    return {key: value[:3] for key, value in seen.items() if key not in known or known[key][1]}


def _new_place_alerts(seen, known, now: dt.datetime, index) -> list[AnomalyAlert]:
    warmup = dt.timedelta(hours=settings.TELEMETRY_ANOMALY_WARMUP_HOURS)
    found = []
    for (actor, kind, value), (_, _, _, e) in seen.items():
        if kind == "actor" or (actor, kind, value) in known:
            continue
        first = known.get((actor, "actor", ""), (None,))[0]
        if first is None or e.occurred_at - first < warmup:
            continue  # a newcomer's first steps are not anomalies
        if kind == "region":
            place = index.regions.get(value)
            jurisdiction = place.jurisdiction if place else None
            detail = (
                f"{actor} touched region {value} for the first time ({e.kind} of {e.dataset_ref})"
            )
            alert_kind = AnomalyAlert.Kind.NEW_REGION
        else:
            jurisdiction = e.jurisdiction or None
            detail = f"{actor} touched dataset {value} for the first time ({e.kind} in {e.destination_region})"
            alert_kind = AnomalyAlert.Kind.NEW_DATASET
        found.append(
            AnomalyAlert(
                kind=alert_kind,
                dedupe_key=f"{alert_kind}:{actor}:{value}"[:700],
                actor=actor,
                dataset_id=e.dataset_id,
                dataset_ref=e.dataset_ref,
                region=e.destination_region,
                jurisdiction_id=jurisdiction,
                detected_at=now,
                occurred_at=e.occurred_at,
                detail=detail[:500],
            )
        )
    return found


# Baselines depend only on the hours before the one judged, which barely change: each process
# keeps them for a minute instead of reading an actor's whole window with every batch.
BASELINE_TTL_SECONDS = 60.0
BASELINE_CACHE_LIMIT = 50_000
_baseline_cache: dict[tuple[str, dt.datetime], tuple[float, Baseline | None]] = {}


def _baselines(
    wanted: set[tuple[str, dt.datetime]],
) -> dict[tuple[str, dt.datetime], Baseline | None]:
    """The baseline before each actor-hour: cached, else one query for the missing actors."""
    clock = time.monotonic()
    found, missing = {}, set()
    for key in wanted:
        cached = _baseline_cache.get(key)
        if cached is not None and clock - cached[0] < BASELINE_TTL_SECONDS:
            found[key] = cached[1]
        else:
            missing.add(key)
    if not missing:
        return found
    window = dt.timedelta(hours=settings.TELEMETRY_ANOMALY_WINDOW_HOURS)
    since = min(h for _, h in missing) - window
    history: dict[str, list[tuple[dt.datetime, int]]] = {a: [] for a, _ in missing}
    rows = ActorVolumeHourly.objects.filter(
        actor__in=set(history), hour__gte=since, hour__lt=max(h for _, h in missing), bytes__gt=0
    )
    for actor, hour, size in rows.values_list("actor", "hour", "bytes"):
        history[actor].append((hour, size))
    if len(_baseline_cache) > BASELINE_CACHE_LIMIT:
        _baseline_cache.clear()
    for actor, hour in missing:
        values = [size for h, size in history[actor] if hour - window <= h < hour]
        found[(actor, hour)] = robust_baseline(values)
        _baseline_cache[(actor, hour)] = (clock, found[(actor, hour)])
    return found


def _volume_alerts(
    hour_totals: dict[tuple[str, dt.datetime], int], now: dt.datetime
) -> list[AnomalyAlert]:
    """Hours of this batch whose (updated) totals stand far above the actor's baseline."""
    k = settings.TELEMETRY_ANOMALY_MAD_K
    min_bytes = settings.TELEMETRY_ANOMALY_MIN_BYTES
    min_points = settings.TELEMETRY_ANOMALY_MIN_HOURS
    observed_by_key = {k_: v for k_, v in hour_totals.items() if v >= min_bytes}
    baselines = _baselines(set(observed_by_key)) if observed_by_key else {}
    found = []
    for (actor, hour), observed in sorted(observed_by_key.items()):
        baseline = baselines.get((actor, hour))
        if baseline is None or baseline.points < min_points:
            continue
        threshold = baseline.threshold(k)
        if observed <= threshold:
            continue
        found.append(
            AnomalyAlert(
                kind=AnomalyAlert.Kind.VOLUME,
                dedupe_key=f"volume:{actor}:{hour.isoformat()}"[:700],
                actor=actor,
                detected_at=now,
                occurred_at=hour,
                observed=observed,
                baseline_median=baseline.median,
                baseline_mad=baseline.mad,
                threshold=threshold,
                detail=(
                    f"{actor} moved {observed:,} bytes in the hour from {hour:%Y-%m-%d %H:00} UTC; "
                    f"baseline median {baseline.median:,.0f}, MAD {baseline.mad:,.0f} over "
                    f"{baseline.points} active hours (threshold {threshold:,.0f})"
                ),
            )
        )
    return found


def _insert(alerts: list[AnomalyAlert]) -> list[AnomalyAlert]:
    """Insert the alerts not raised before (dedupe keys); a concurrent batch may race us."""
    for _ in range(3):
        keys = [a.dedupe_key for a in alerts]
        raised = set(
            AnomalyAlert.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True)
        )
        fresh = [a for a in alerts if a.dedupe_key not in raised]
        if not fresh:
            return []
        try:
            with transaction.atomic():
                return AnomalyAlert.objects.bulk_create(fresh)
        except IntegrityError:
            continue
    return []


def alert_json(alert: AnomalyAlert) -> dict:
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "status": alert.status,
        "actor": alert.actor,
        "dataset_id": alert.dataset_id,
        "dataset": alert.dataset_ref,
        "region": alert.region,
        "jurisdiction": alert.jurisdiction_id,
        "detail": alert.detail,
        "detected_at": alert.detected_at.isoformat(),
    }


def detect(stored, *, now: dt.datetime, index: PolicyIndex) -> Raised:
    """Update the actors' footprints and volumes with a stored batch; raise what stands out."""
    seen = _footprints(stored)
    before = _stored_before(seen) if seen else {}
    known = _known(seen, before)
    candidates = _new_place_alerts(seen, known, now, index)
    rollups.footprints_add(_to_write(seen, known))
    _remember(seen, before)
    candidates += _volume_alerts(rollups.actor_volumes_add(stored), now)
    alerts = _insert(candidates) if candidates else []
    notices.alerts_raised(alerts)
    return Raised(
        alerts=alerts,
        messages=[
            Message(
                kind="alert.raised",
                payload=alert_json(a),
                jurisdictions=[a.jurisdiction_id] if a.jurisdiction_id else [],
                dataset_ids=[a.dataset_id] if a.dataset_id else [],
            )
            for a in alerts
        ],
    )
