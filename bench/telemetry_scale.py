"""The partitioned event store at scale: ingest into an empty store and into 10 million events.

In one run, on the benchmark's PostgreSQL (events partitioned by day):

1. Ingest into the empty store: a warm-up round, then BENCH_TELEMETRY_SCALE_ROUNDS [5] rounds
   of BENCH_TELEMETRY_SCALE_BATCHES [60] batches of 1,000 live events (timed now), each through
   the ingest service (judged, stored, rolled up, violations and incidents recorded, as the
   API does; no HTTP), shared by BENCH_TELEMETRY_SCALE_WORKERS [2] worker processes, one per
   core, as web processes share a deployment's ingest: events/s per round.
2. A raw COPY of exactly the rows that round stored, into a plain table of the same columns
   and indexes (no trigger, no partitions): rows/s.
3. BENCH_TELEMETRY_SCALE_STORED [10,000,000] stored events generated straight into the
   partitions by INSERT ... SELECT generate_series (not through the API: ingest's judgement
   is not what is measured here), spread evenly over the 30 days ingest accepts, today
   included: today's partition, the one live ingest writes to, holds its thirtieth. Then
   VACUUM (ANALYZE) and CHECKPOINT: those events would have arrived over 30 days.
4. The same rounds again (new events, same mix) with the 10 million stored, then their COPY.

The figures are the median rate of each phase, their ratio (target: at 10M within 10% of the
empty store) and ingest over COPY (target at least 0.2x), in the same run.
"""

from __future__ import annotations

import statistics
import time

from bench import common

ROUNDS = common.env_int("BENCH_TELEMETRY_SCALE_ROUNDS", 5)
BATCHES = common.env_int("BENCH_TELEMETRY_SCALE_BATCHES", 60)
STORED = common.env_int("BENCH_TELEMETRY_SCALE_STORED", 10_000_000)
WORKERS = common.env_int("BENCH_TELEMETRY_SCALE_WORKERS", 2)
DAYS = 30
SCRATCH = "bench_telemetry_copy"
RATIO_TARGET = 0.9
COPY_TARGET = 0.2


def _setup() -> None:
    """A worker process: Django on the benchmark's database (the environment it inherits)."""
    import django

    django.setup()


def _ingest(job: tuple[int, list[list[dict]]]) -> int:
    """One worker's share of a round: its batches through the ingest service, one by one."""
    from monitoring.models import TelemetrySource
    from monitoring.telemetry import ingest

    source_id, batches = job
    source = TelemetrySource.objects.get(pk=source_id)
    return sum(ingest.telemetry_ingest(source=source, items=items).stored for items in batches)


def _rounds(world, rng, events, log, label: str) -> list[dict]:
    """ROUNDS rounds of BATCHES batches, shared by WORKERS worker processes (as web processes
    share a deployment's ingest), each round timed from the first batch to the last answer."""
    import multiprocessing

    results = []
    # Spawned, not forked: a forked child would share the parent's pooled connections.
    with multiprocessing.get_context("spawn").Pool(WORKERS, initializer=_setup) as pool:
        warm = [
            (world.source.pk, [events(world, rng, 100, f"warm-{label}-{w}")])
            for w in range(WORKERS)
        ]
        pool.map(_ingest, warm)  # connections, the policy index: outside the timing
        for number in range(-1, ROUNDS):  # round -1 warms up (caches, plans) and is not kept
            prefix = f"scale-{label}-{number}"
            batches = [events(world, rng, 1_000, f"{prefix}-{b}") for b in range(BATCHES)]
            jobs = [(world.source.pk, batches[w::WORKERS]) for w in range(WORKERS)]
            began = time.perf_counter()
            stored = sum(pool.map(_ingest, jobs))
            wall = time.perf_counter() - began
            copy = _copy(f"{prefix}-%")
            if number < 0:
                continue
            results.append({"events": stored, "per_s": stored / wall, "copy_per_s": copy})
            log(
                f"scale {label}: round {number + 1}: ingest {stored / wall:,.0f} events/s "
                f"({WORKERS} processes), COPY of the same rows {copy:,.0f} rows/s"
            )
    return results


def _copy(pattern: str) -> float:
    """COPY the rows whose client id matches into a fresh plain table with the same indexes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        cursor.execute(f"CREATE TABLE {SCRATCH} (LIKE monitoring_telemetryevent INCLUDING ALL)")
        cursor.execute(
            f"CREATE UNIQUE INDEX ON {SCRATCH} (source_id, client_id)"
        )  # the plain table's key
    raw = connection.connection
    data = bytearray()
    with raw.cursor().copy(
        "COPY (SELECT * FROM monitoring_telemetryevent WHERE client_id LIKE %s "
        "AND occurred_at > now() - interval '1 hour') TO STDOUT",
        [pattern],
    ) as copy:
        for chunk in copy:
            data += chunk
    rows = data.count(b"\n")
    raw.commit()
    began = time.perf_counter()
    with raw.cursor().copy(f"COPY {SCRATCH} FROM STDIN") as copy:
        copy.write(bytes(data))
    raw.commit()
    wall = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {SCRATCH}")
    return rows / wall


def fill(world, log) -> dict:
    """STORED events straight into the day partitions, a day's share per statement."""
    from django.db import connection

    from catalog.models import Dataset

    datasets = list(Dataset.objects.filter(slug__in=world.slugs).values_list("id", "slug"))
    per_day = -(-STORED // DAYS)  # rounded up: at least STORED in all
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT date_trunc('day', now() AT TIME ZONE 'UTC')")
        for day in range(DAYS):
            cursor.execute(
                "INSERT INTO monitoring_telemetryevent (source_id, client_id, occurred_at, "
                "received_at, kind, dataset_id, dataset_ref, actor, source_region, "
                "destination_region, source_country, destination_country, bytes, records, "
                "run_id, purpose, outcome, rule, reason, grant_id, policy_version) "
                "SELECT %s, 'stored-' || %s || '-' || n, "
                "(date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => %s)) "
                "AT TIME ZONE 'UTC' + make_interval(secs => (n * 86399.0 / %s)), now(), 'read', "
                "(%s::bigint[])[1 + n %% %s], (%s::text[])[1 + n %% %s], 'job-' || (n %% 60), "
                "'', 'aws:eu-west-1', 'IE', 'IE', 1000 + n %% 50000, 1 + n %% 1000, '', "
                "'analytics', 'compliant', '', '', NULL, 'bench' "
                "FROM generate_series(1, %s) AS n",
                [
                    world.source.pk,
                    day,
                    day,
                    per_day,
                    [d[0] for d in datasets],
                    len(datasets),
                    [d[1] for d in datasets],
                    len(datasets),
                    per_day,
                ],
            )
            log(f"scale fill: day -{day}: {(day + 1) * per_day:,} events stored")
        # The stored events came over 30 days, not just now: vacuumed, analysed and written
        # out, as autovacuum and the checkpointer would have long since left them.
        cursor.execute("VACUUM (ANALYZE) monitoring_telemetryevent")
        cursor.execute("CHECKPOINT")
    wall = time.perf_counter() - began
    return {"events": per_day * DAYS, "seconds": wall, "per_s": per_day * DAYS / wall}


def measure(world, rng, events, log) -> dict:
    """The scale phase: empty store, fill, the same rounds at 10M (see the module docstring)."""
    empty = _rounds(world, rng, events, log, "empty")
    filled = fill(world, log)
    log(f"scale fill: {filled['events']:,} events in {filled['seconds']:.0f} s")
    full = _rounds(world, rng, events, log, "stored")
    ingest_empty = statistics.median(r["per_s"] for r in empty)
    ingest_full = statistics.median(r["per_s"] for r in full)
    copy_empty = statistics.median(r["copy_per_s"] for r in empty)
    copy_full = statistics.median(r["copy_per_s"] for r in full)
    return {
        "rounds": ROUNDS,
        "workers": WORKERS,
        "batches": BATCHES,
        "stored": filled["events"],
        "fill": filled,
        "empty": empty,
        "full": full,
        "ingest_empty_per_s": ingest_empty,
        "ingest_full_per_s": ingest_full,
        "ratio": ingest_full / ingest_empty,
        "copy_ratio_empty": ingest_empty / copy_empty,
        "copy_ratio_full": ingest_full / copy_full,
    }


def figures(scale: dict, row) -> list[dict]:
    n = f"{scale['stored'] / 1e6:g}M"
    return [
        row(
            f"partitioned store: ingest events/s, empty store ({scale['workers']} processes, no HTTP)",
            scale["ingest_empty_per_s"],
            "1/s",
            better="higher",
            note=f"median of {scale['rounds']} rounds of {scale['batches']:,} batches of 1,000",
        ),
        row(
            f"partitioned store: ingest events/s, {n} events stored",
            scale["ingest_full_per_s"],
            "1/s",
            better="higher",
        ),
        row(
            f"partitioned store: ingest at {n} / into empty",
            scale["ratio"],
            "x",
            target=f">={RATIO_TARGET}",
            met=scale["ratio"] >= RATIO_TARGET,
        ),
        row(
            f"partitioned store: ingest / raw COPY of the same rows, {n} stored",
            scale["copy_ratio_full"],
            "x",
            target=f">={COPY_TARGET}",
            met=scale["copy_ratio_full"] >= COPY_TARGET,
            note=f"empty store: {scale['copy_ratio_empty']:.2f}x",
        ),
    ]
