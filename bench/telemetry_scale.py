"""The partitioned event store at scale: ingest into an empty store and into 10 million events.

In one run, on PostgreSQL (events partitioned by day), two databases that differ only in what
is stored: the benchmark's own (empty) and a copy of it (`CREATE DATABASE ... TEMPLATE`, made
once its catalog, source and people exist) filled with BENCH_TELEMETRY_SCALE_STORED
[10,000,000] events by INSERT ... SELECT generate_series straight into the partitions (not
through the API: ingest's judgement is not what is measured here), spread evenly over the 30
days ingest accepts, today included (today's partition, the one live ingest writes to, holds
its thirtieth), then VACUUM (ANALYZE) and CHECKPOINT: those events would have arrived over 30
days.

Then BENCH_TELEMETRY_SCALE_ROUNDS [5] rounds, after one warm-up round on each, alternate
between the two stores (the order reversed every other round, so the machine's load falls on
both alike): BENCH_TELEMETRY_SCALE_BATCHES [60] batches of 1,000 live events (timed now)
through the ingest service (judged, stored, rolled up, violations and incidents recorded, as
the API does; no HTTP), shared by BENCH_TELEMETRY_SCALE_WORKERS [2] worker processes per store,
one per core, as web processes share a deployment's ingest; then a raw COPY of exactly the rows
that round stored into a plain table of the same columns and indexes (no trigger, no
partitions), in the same database.

The figures are the median rate in each store, their ratio (target: ingest at 10M within 10% of
the empty store), and ingest over COPY (target: at least 0.2x), all from the same run.
"""

from __future__ import annotations

import os
import statistics
import time
from urllib.parse import urlsplit

from bench import common

ROUNDS = common.env_int("BENCH_TELEMETRY_SCALE_ROUNDS", 5)
BATCHES = common.env_int("BENCH_TELEMETRY_SCALE_BATCHES", 60)
STORED = common.env_int("BENCH_TELEMETRY_SCALE_STORED", 10_000_000)
WORKERS = common.env_int("BENCH_TELEMETRY_SCALE_WORKERS", 2)
DAYS = 30
SCRATCH = "bench_telemetry_copy"
RATIO_TARGET = 0.9
COPY_TARGET = 0.2

FILL = (
    "INSERT INTO monitoring_telemetryevent (source_id, client_id, occurred_at, received_at, "
    "kind, dataset_id, dataset_ref, actor, source_region, destination_region, source_country, "
    "destination_country, bytes, records, run_id, purpose, outcome, rule, reason, grant_id, "
    "policy_version) "
    "SELECT %s, 'stored-' || %s || '-' || n, "
    "(date_trunc('day', now() AT TIME ZONE 'UTC') - make_interval(days => %s)) AT TIME ZONE 'UTC' "
    "+ make_interval(secs => (n * 86399.0 / %s)), now(), 'read', "
    "(%s::bigint[])[1 + n %% %s], (%s::text[])[1 + n %% %s], 'job-' || (n %% 60), '', "
    "'aws:eu-west-1', 'IE', 'IE', 1000 + n %% 50000, 1 + n %% 1000, '', 'analytics', "
    "'compliant', '', '', NULL, 'bench' FROM generate_series(1, %s) AS n"
)


def _setup() -> None:
    """A worker process: Django on the database its environment names."""
    import django

    django.setup()


def _ingest(job: tuple[int, list[list[dict]]]) -> int:
    """One worker's share of a round: its batches through the ingest service, one by one."""
    from monitoring.models import TelemetrySource
    from monitoring.telemetry import ingest

    source_id, batches = job
    source = TelemetrySource.objects.get(pk=source_id)
    return sum(ingest.telemetry_ingest(source=source, items=items).stored for items in batches)


def _pool(url: str):
    """WORKERS spawned processes on `url` (spawned, not forked: a forked child would share the
    parent's pooled connections)."""
    import multiprocessing

    before = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = url
    try:
        return multiprocessing.get_context("spawn").Pool(WORKERS, initializer=_setup)
    finally:
        os.environ["DATABASE_URL"] = before


def _copy(url: str, pattern: str) -> float:
    """COPY the rows whose client id matches into a fresh plain table with the same indexes."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
        conn.execute(f"CREATE TABLE {SCRATCH} (LIKE monitoring_telemetryevent INCLUDING ALL)")
        conn.execute(f"CREATE UNIQUE INDEX ON {SCRATCH} (source_id, client_id)")
        data = bytearray()
        with conn.cursor().copy(
            "COPY (SELECT * FROM monitoring_telemetryevent WHERE client_id LIKE %s "
            "AND occurred_at > now() - interval '1 hour') TO STDOUT",
            [pattern],
        ) as copy:
            for chunk in copy:
                data += chunk
        rows = data.count(b"\n")
        began = time.perf_counter()
        with conn.cursor().copy(f"COPY {SCRATCH} FROM STDIN") as copy:
            copy.write(bytes(data))
        wall = time.perf_counter() - began
        conn.execute(f"DROP TABLE {SCRATCH}")
    return rows / wall


def _twin(url: str, log) -> str:
    """A copy of the benchmark's database as it stands (its catalog, source and people)."""
    import psycopg
    from django.db import connections
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    twin = f"{name}_stored"
    for connection in connections.all():
        connection.close()
        if hasattr(connection, "close_pool"):
            connection.close_pool()  # a template must have no one connected
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(twin))
        )
        # What is left on the benchmark's own throwaway database (autovacuum, a pooled
        # connection of another thread) would stop the copy.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(twin), sql.Identifier(name)
            )
        )
    log(f"scale: {twin} copied from {name}")
    return parts._replace(path=f"/{twin}").geturl()


def fill(url: str, world, log) -> dict:
    """STORED events straight into the day partitions, a day's share per statement."""
    import psycopg

    from catalog.models import Dataset

    datasets = list(Dataset.objects.filter(slug__in=world.slugs).values_list("id", "slug"))
    per_day = -(-STORED // DAYS)  # rounded up: at least STORED in all
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for day in range(DAYS):
            ids, slugs = [d[0] for d in datasets], [d[1] for d in datasets]
            conn.execute(
                FILL,
                [world.source.pk, day, day, per_day, ids, len(ids), slugs, len(ids), per_day],
            )
            if day % 5 == 4:
                log(f"scale fill: {(day + 1) * per_day:,} events stored")
        conn.execute("VACUUM (ANALYZE) monitoring_telemetryevent")
        conn.execute("CHECKPOINT")
    wall = time.perf_counter() - began
    return {"events": per_day * DAYS, "seconds": wall, "per_s": per_day * DAYS / wall}


def _round(store: dict, world, rng, events, prefix: str) -> dict:
    batches = [events(world, rng, 1_000, f"{prefix}-{b}") for b in range(BATCHES)]
    jobs = [(world.source.pk, batches[w::WORKERS]) for w in range(WORKERS)]
    began = time.perf_counter()
    stored = sum(store["pool"].map(_ingest, jobs))
    wall = time.perf_counter() - began
    copy = _copy(store["url"], f"{prefix}-%")
    return {"events": stored, "per_s": stored / wall, "copy_per_s": copy}


def measure(world, rng, events, log) -> dict:
    """The scale phase (see the module docstring)."""
    url = os.environ["DATABASE_URL"]
    stores = {"empty": {"url": url}, "stored": {"url": _twin(url, log)}}
    filled = fill(stores["stored"]["url"], world, log)
    log(f"scale fill: {filled['events']:,} events in {filled['seconds']:.0f} s (with vacuum)")
    for label, store in stores.items():
        store["pool"] = _pool(store["url"])
        store["rounds"] = []
        _round(store, world, rng, events, f"warm-{label}")  # connections, caches, plans
    try:
        for number in range(ROUNDS):
            order = list(stores) if number % 2 == 0 else list(reversed(stores))
            for label in order:
                result = _round(stores[label], world, rng, events, f"scale-{label}-{number}")
                stores[label]["rounds"].append(result)
                log(
                    f"scale {label}: round {number + 1}: ingest {result['per_s']:,.0f} events/s "
                    f"({WORKERS} processes), COPY of the same rows {result['copy_per_s']:,.0f} "
                    "rows/s"
                )
    finally:
        for store in stores.values():
            store["pool"].terminate()
    empty, full = stores["empty"]["rounds"], stores["stored"]["rounds"]
    ingest_empty = statistics.median(r["per_s"] for r in empty)
    ingest_full = statistics.median(r["per_s"] for r in full)
    return {
        "rounds": ROUNDS,
        "batches": BATCHES,
        "workers": WORKERS,
        "stored": filled["events"],
        "fill": filled,
        "empty": empty,
        "full": full,
        "ingest_empty_per_s": ingest_empty,
        "ingest_full_per_s": ingest_full,
        "ratio": ingest_full / ingest_empty,
        "round_ratios": [f["per_s"] / e["per_s"] for e, f in zip(empty, full, strict=True)],
        "copy_ratio_empty": ingest_empty / statistics.median(r["copy_per_s"] for r in empty),
        "copy_ratio_full": ingest_full / statistics.median(r["copy_per_s"] for r in full),
    }


def figures(scale: dict, row) -> list[dict]:
    n = f"{scale['stored'] / 1e6:g}M"
    ratios = ", ".join(f"{r:.2f}" for r in scale["round_ratios"])
    return [
        row(
            f"partitioned store: ingest events/s, empty store ({scale['workers']} processes, "
            "no HTTP)",
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
            note=f"rounds, interleaved: {ratios}",
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
