"""Telemetry purge benchmark: chunk sizes against one naive DELETE.

What it measures, on PostgreSQL (BENCH_DATABASE_URL if given, else
postgres://postgres@127.0.0.1:5432/locus_bench_purge, dropped and recreated and migrated):
BENCH_PURGE_EVENTS [200,000] telemetry events, half past TELEMETRY_RETENTION_DAYS and half
recent, are written straight into the events table (INSERT ... SELECT generate_series). Then,
for each chunk size in BENCH_PURGE_CHUNKS [1000,5000,20000], the table is filled again the same
way and the old half is deleted by monitoring.telemetry.purge's own chunk statement (oldest
first, one transaction each, the trigger's exception on for it), timing every chunk. The
baseline, on the same fill: one DELETE of every old event in one transaction (what a naive purge
would do: one long transaction holding every deleted row's lock until it commits).

Per chunk size: the events deleted per second over the whole purge, and the longest single
transaction (how long ingest and readers could wait on its locks), each with the naive DELETE's.

Run it with `python -m bench purge`.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from bench import common

BENCHMARK = "purge"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/locus_bench_purge"
EVENTS = common.env_int("BENCH_PURGE_EVENTS", 200_000)
CHUNKS = tuple(
    int(c) for c in os.environ.get("BENCH_PURGE_CHUNKS", "1000,5000,20000").split(",") if c
)
details: dict = {}

FILL = """
INSERT INTO monitoring_telemetryevent (source_id, client_id, occurred_at, received_at, kind,
    dataset_ref, actor, source_region, destination_region, source_country, destination_country,
    bytes, records, run_id, purpose, outcome, rule, reason, policy_version)
SELECT 1, 'e' || i, %(now)s - make_interval(days => CASE WHEN i %% 2 = 0 THEN %(old)s ELSE 1 END,
    secs => i), %(now)s, 'read', 'bench-dataset', 'etl-bot', 'aws:eu-west-1', 'aws:eu-west-1',
    'IE', 'IE', 1000, 10, '', '', 'compliant', '', '', ''
FROM generate_series(1, %(events)s) AS i
"""


def _fill(now: dt.datetime, old_days: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET locus.ledger_maintenance = 'on'")
        cursor.execute("TRUNCATE monitoring_telemetryevent CASCADE")
        cursor.execute(FILL, {"now": now, "old": old_days, "events": EVENTS})
        cursor.execute("VACUUM ANALYZE monitoring_telemetryevent")


def _chunked(cutoff: dt.datetime, size: int) -> tuple[int, float, float]:
    """(deleted, seconds, longest transaction in seconds) with the purge's own chunks."""
    from monitoring.telemetry.purge import _delete_chunk

    deleted, total, longest = 0, 0.0, 0.0
    while True:
        began = time.perf_counter()
        count = _delete_chunk(cutoff, size)
        took = time.perf_counter() - began
        deleted, total, longest = deleted + count, total + took, max(longest, took)
        if count < size:
            return deleted, total, longest


def _naive(cutoff: dt.datetime) -> tuple[int, float, float]:
    from django.db import connection, transaction

    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('locus.telemetry_purge', 'on', true)")
        cursor.execute("DELETE FROM monitoring_telemetryevent WHERE occurred_at < %s", [cutoff])
        count = cursor.rowcount
    took = time.perf_counter() - began
    return count, took, took


def measure() -> list[dict]:
    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_URL)
    common.setup_django()
    from django.conf import settings
    from django.utils import timezone

    from monitoring.telemetry.purge import purge_cutoff

    now = timezone.now()
    cutoff = purge_cutoff(now)
    old_days = settings.TELEMETRY_RETENTION_DAYS + 30
    _fill(now, old_days)
    naive = _naive(cutoff)
    details.update(events=EVENTS, deleted=naive[0], naive_seconds=round(naive[1], 3))
    rows = []
    for size in CHUNKS:
        _fill(now, old_days)
        deleted, seconds, longest = _chunked(cutoff, size)
        assert deleted == naive[0], (deleted, naive[0])
        details[f"chunk_{size}"] = {"seconds": round(seconds, 3), "longest": round(longest, 4)}
        rows += [
            common.figure(
                BENCHMARK,
                f"events deleted per second, chunk {size}",
                deleted / seconds,
                "1/s",
                peer="one naive DELETE",
                peer_value=naive[0] / naive[1],
                better="higher",
            ),
            common.figure(
                BENCHMARK,
                f"longest transaction, chunk {size}",
                longest * 1000,
                "ms",
                peer="one naive DELETE",
                peer_value=naive[2] * 1000,
            ),
        ]
    return rows


def run() -> list[dict]:
    """The purge figures; in a child process when Django already serves another database."""
    return common.run_apart("purge", measure, details)


if __name__ == "__main__":
    common.main(measure, details)
