"""Ledger benchmark: appends under concurrent writers, and verification of a million entries.

What it measures, on PostgreSQL, in its own database (BENCH_DATABASE_URL if it names a
PostgreSQL database, else postgres://postgres@127.0.0.1:5432/locus_bench_ledger; created if
missing and migrated; its ledger tables are emptied first):

* Appends. For each writer count in BENCH_LEDGER_WRITERS [1,8,32], that many threads (one
  connection each, connected before a common start) append BENCH_LEDGER_APPENDS [3,200]
  entries between them, each `ledger_append` in its own `transaction.atomic()` as the services
  do. The baseline, in the same run and with the same threads, is a plain ORM insert of the same
  row (same payload, columns and indexes, into a copy of the table) in its own transaction:
  no advisory lock, no head lookup, no savepoint. Latency is per append, commit included; the
  p95 overhead is the ledger's p95 minus the baseline's. The whole chain is verified after each
  writer count. Both are run twice: with the server's durable commits, and with
  `synchronous_commit = off`, which takes the disk's flush out and leaves the chain's own cost.
  The writers share one Python process (and its GIL), as the threads of one web or worker
  process would: the lock holder's Python work competes with the waiting writers'.
* Verification. BENCH_LEDGER_VERIFY [1,000,000] chained entries are computed in Python (as
  ledger_append would) and COPYed in, then a checkpoint is signed and `verify_ledger()` is timed,
  in wall-clock and in this process's CPU time (the verifier is one Python thread: "one core").
  Baselines: streaming the same rows through the same query without hashing, and verification
  without the per-entry column check (JSON decoding of every payload).

Run it with `python -m bench ledger`. When Django is already set up in the process (another
benchmark ran first on its own database), the measurement runs in a child process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bench import common

BENCHMARK = "ledger"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/locus_bench_ledger"
APPENDS = common.env_int("BENCH_LEDGER_APPENDS", 3_200)
WRITERS = tuple(
    int(w) for w in os.environ.get("BENCH_LEDGER_WRITERS", "1,8,32").split(",") if w.strip()
)
VERIFY_ENTRIES = common.env_int("BENCH_LEDGER_VERIFY", 1_000_000)
WARMUP = 32  # appends per writer count, untimed, before each measured run
ROUNDS = 4  # baseline and ledger alternate, in this many rounds each
# The server's durable commits, then commits that do not wait for the WAL flush: the second
# shows the chain's own cost (lock, head lookup, savepoint) without the disk's.
COMMIT_MODES = (("durable", ""), ("async commit", "SET synchronous_commit = off"))
VERIFY_TARGET_S = 10.0
OVERHEAD_TARGET_MS = 2.0
PLAIN_TABLE = "bench_ledger_plain"
FAR = 10**12  # baseline sequences: nowhere near the chain's

details: dict = {}


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- The database -------------------------------------------------------------------------------


def database_url() -> str:
    given = os.environ.get("BENCH_DATABASE_URL", "")
    return given if given.startswith(("postgres://", "postgresql://")) else DEFAULT_URL


def _create_if_missing(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    common._refuse_unless_throwaway(name)  # its ledger tables are emptied
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str) -> None:
    """Django on the ledger benchmark's database, migrated, as production runs (DEBUG off)."""
    _create_if_missing(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", "locus-ledger-benchmark-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    # One pooled connection per writer thread, and one for the benchmark itself.
    needed = max(WRITERS, default=1) + 2
    os.environ["DB_POOL_MAX_SIZE"] = str(max(common.env_int("DB_POOL_MAX_SIZE", 0), needed))
    if str(common.ROOT) not in sys.path:
        sys.path.insert(0, str(common.ROOT))
    import django
    from django.core.management import call_command
    from django.db import DatabaseError

    django.setup()
    try:
        call_command("migrate", verbosity=0, interactive=False)
    except DatabaseError as exc:  # a schema left by other migrations (a branch, a rename)
        from django.db import connections

        log(f"migrating the existing database failed ({exc}); recreating it")
        connections.close_all()
        common._recreate_postgres(url)
        call_command("migrate", verbosity=0, interactive=False)
    common._database_url = url


def sql(statement: str, params=None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def empty_ledger() -> None:
    """TRUNCATE the ledger: the trigger lets a session that opted into maintenance do it."""
    sql("SET locus.ledger_maintenance = 'on'")
    sql("TRUNCATE governance_ledgerentry, governance_ledgercheckpoint")
    sql("SET locus.ledger_maintenance = 'off'")


def plain_model():
    """The baseline's table: the ledger's columns, indexes and constraints, and no trigger."""
    from django.db import models

    sql(f"CREATE TABLE IF NOT EXISTS {PLAIN_TABLE} (LIKE governance_ledgerentry INCLUDING ALL)")
    sql(f"TRUNCATE {PLAIN_TABLE}")

    class PlainEntry(models.Model):
        sequence = models.PositiveBigIntegerField(unique=True)
        at = models.DateTimeField()
        actor_id = models.BigIntegerField(null=True)
        actor_name = models.CharField(max_length=150)
        kind = models.CharField(max_length=60)
        subjects = models.TextField(blank=True)
        payload = models.BinaryField()
        prev_hash = models.CharField(max_length=64)
        hash = models.CharField(max_length=64, unique=True)

        class Meta:
            app_label = "bench_ledger"
            db_table = PLAIN_TABLE
            managed = False

        def __str__(self) -> str:
            return f"#{self.sequence}"

    return PlainEntry


# --- Appends under concurrent writers -----------------------------------------------------------


def entry_data(writer: int, i: int) -> dict:
    """What a typical entry carries: a batch of locality decisions, by reference."""
    return {
        "context": "check",
        "first_decision": 1000 * writer + i,
        "last_decision": 1000 * writer + i,
        "count": 1,
        "outcomes": {"allow": 1, "allow_with_grant": 0, "deny": 0},
        "not_allowed": [],
        "policy_version": "catalog:12/governance:7",
    }


def ledger_work(writer: int, i: int) -> None:
    from django.db import transaction

    from governance.ledger import ledger_append

    with transaction.atomic():
        ledger_append(
            actor=None,
            kind="locality.decisions",
            subjects=[f"run:{writer}", "dataset:bench-000001"],
            data=entry_data(writer, i),
        )


def plain_work_factory(model) -> Callable[[int, int], None]:
    """The same row, inserted on its own: sequence from a counter, no lock, no head lookup."""
    from django.db import transaction
    from django.utils import timezone

    from governance.ledger import canonical

    numbers = itertools.count(FAR)  # next() is atomic under the GIL

    def work(writer: int, i: int) -> None:
        sequence = next(numbers)
        at = timezone.now()
        subjects = sorted({f"run:{writer}", "dataset:bench-000001"})
        payload = canonical(
            {
                "sequence": sequence,
                "at": at.isoformat(),
                "actor_id": None,
                "actor_name": "system",
                "kind": "locality.decisions",
                "subjects": subjects,
                "data": entry_data(writer, i),
            }
        )
        with transaction.atomic():
            model.objects.create(
                sequence=sequence,
                at=at,
                actor_id=None,
                actor_name="system",
                kind="locality.decisions",
                subjects=f" {' '.join(subjects)} ",
                payload=payload,
                prev_hash="0" * 64,
                hash=hashlib.sha256(payload).hexdigest(),
            )

    return work


def run_writers(
    writers: int, per_writer: int, work: Callable[[int, int], None], session: str = ""
) -> tuple[list[int], float]:
    """`writers` threads, each on its own connection (prepared with the `session` SQL), released
    together; every call's latency (ns) and the wall-clock seconds until the last finished."""
    from django.db import connection

    release = threading.Barrier(writers + 1, timeout=300)
    samples: list[list[int]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []

    def body(number: int) -> None:
        clock, out = time.perf_counter_ns, samples[number]
        try:
            connection.ensure_connection()
            if session:
                sql(session)
            release.wait()
            for i in range(per_writer):
                started = clock()
                work(number, i)
                out.append(clock() - started)
        except BaseException as exc:
            errors.append(exc)
            release.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        release.wait()  # broken when a writer failed before the start: raised below
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    failures = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if errors:
        raise RuntimeError(f"{len(failures)} writer(s) failed") from (failures or errors)[0]
    return [s for batch in samples for s in batch], wall


def summary(samples_ns: list[int], wall: float) -> dict:
    every = sorted(s / 1e6 for s in samples_ns)
    return {
        "appends": len(every),
        "seconds": wall,
        "per_s": len(every) / wall,
        "p50_ms": common.percentile(every, 50),
        "p95_ms": common.percentile(every, 95),
        "p99_ms": common.percentile(every, 99),
        "max_ms": every[-1],
    }


def compare(writers: int, plain_work, session: str) -> tuple[dict, dict]:
    """Baseline and ledger in alternating rounds (they share the machine's moods alike)."""
    per_round = max(1, APPENDS // writers // ROUNDS)
    run_writers(writers, max(1, WARMUP // writers), plain_work, session)
    run_writers(writers, max(1, WARMUP // writers), ledger_work, session)
    collected = {"plain": ([], 0.0), "ledger": ([], 0.0)}
    for _ in range(ROUNDS):
        for name, work in (("plain", plain_work), ("ledger", ledger_work)):
            samples, wall = run_writers(writers, per_round, work, session)
            collected[name] = (collected[name][0] + samples, collected[name][1] + wall)
    return summary(*collected["ledger"]), summary(*collected["plain"])


def measure_appends(plain_work: Callable[[int, int], None]) -> list[dict]:
    """Every writer count, with durable commits (the server's setting) and without."""
    from governance.ledger import verify_ledger
    from governance.models import LedgerEntry

    results = []
    for mode, session in COMMIT_MODES:
        for writers in WRITERS:
            chained, plain = compare(writers, plain_work, session)
            started = time.perf_counter()
            report = verify_ledger()
            chained["verify_s"] = time.perf_counter() - started
            expected = LedgerEntry.objects.count()
            chained["chain_ok"] = report.ok and report.entries == expected == report.head_sequence
            chained["chain_entries"] = report.entries
            results.append({"mode": mode, "writers": writers, "ledger": chained, "plain": plain})
            log(
                f"{mode}, {writers:>2} writer(s): {chained['per_s']:,.0f} appends/s "
                f"(plain {plain['per_s']:,.0f}/s), p50 {chained['p50_ms']:.2f} ms "
                f"(plain {plain['p50_ms']:.2f}), p95 {chained['p95_ms']:.2f} ms "
                f"(plain {plain['p95_ms']:.2f}); chain of {report.entries:,} "
                f"{'verifies' if chained['chain_ok'] else 'DOES NOT VERIFY: ' + report.problem}"
            )
    return results


# --- A million entries: load, then verify -------------------------------------------------------

KINDS = ("locality.decisions", "rule.updated", "catalog.dataset.updated", "grant.created")


def chained_rows(count: int) -> Iterator[tuple]:
    """Rows exactly as ledger_append would write them, one chain from genesis."""
    from governance.ledger import canonical, chain_hash
    from governance.models.ledger import GENESIS_HASH

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev_hash = GENESIS_HASH
    for sequence in range(1, count + 1):
        at = start + dt.timedelta(microseconds=sequence * 1_013)
        actor_id, actor_name = (None, "system") if sequence % 3 else (7, "Pat Privacy")
        kind = KINDS[sequence % len(KINDS)]
        subjects = [f"dataset:bench-{sequence % 5000:06d}", f"run:{sequence // 100}"]
        payload = canonical(
            {
                "sequence": sequence,
                "at": at.isoformat(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "kind": kind,
                "subjects": subjects,
                "data": entry_data(sequence % 32, sequence),
            }
        )
        new_hash = chain_hash(prev_hash, payload)
        yield (
            sequence,
            at,
            actor_id,
            actor_name,
            kind,
            f" {' '.join(subjects)} ",
            payload,
            prev_hash,
            new_hash,
        )
        prev_hash = new_hash


def bulk_load(count: int) -> float:
    """Empty the ledger and COPY `count` chained entries in; seconds taken."""
    from django.db import connection

    started = time.perf_counter()
    empty_ledger()
    columns = "sequence, at, actor_id, actor_name, kind, subjects, payload, prev_hash, hash"
    statement = f"COPY governance_ledgerentry ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in chained_rows(count):
            copy.write_row(row)
    sql("VACUUM ANALYZE governance_ledgerentry")
    return time.perf_counter() - started


def timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock seconds, this process's CPU seconds, and the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure_verify(count: int) -> dict:
    from governance.ledger import (
        VerifyReport,
        checkpoint_create,
        ledger_rows,
        verify_ledger,
        verify_rows,
    )

    load_s = bulk_load(count)
    checkpoint_create()
    log(f"{count:,} chained entries computed and COPYed in {load_s:.1f} s")

    def stream() -> int:
        return sum(1 for _ in ledger_rows())

    def without_columns() -> VerifyReport:
        report = VerifyReport()
        verify_rows(ledger_rows(), report, check_columns=False)
        return report

    stream()  # warm the database's cache: every figure below reads from memory
    stream_s, stream_cpu, streamed = timed(stream)
    verify_s, verify_cpu, report = timed(verify_ledger)
    lean_s, lean_cpu, lean = timed(without_columns)
    if streamed != count or not report.as_dict()["ok"] or report.entries != count or not lean.ok:
        raise RuntimeError(f"the loaded chain does not verify: {report.as_dict()}")
    log(
        f"verify {count:,}: {verify_s:.1f} s wall, {verify_cpu:.1f} s CPU "
        f"({count / verify_s:,.0f}/s); streaming alone {stream_s:.1f} s; "
        f"without column checks {lean_s:.1f} s"
    )
    return {
        "entries": count,
        "load_s": load_s,
        "verify_s": verify_s,
        "verify_cpu_s": verify_cpu,
        "stream_s": stream_s,
        "stream_cpu_s": stream_cpu,
        "no_columns_s": lean_s,
        "no_columns_cpu_s": lean_cpu,
        "checkpoints_ok": all(c["ok"] for c in report.checkpoints),
    }


# --- The run ------------------------------------------------------------------------------------


def measure() -> list[dict]:
    """Set up on the ledger database, measure, and return the report's rows."""
    url = database_url()
    if not common._postgres_reachable(url):
        log(f"PostgreSQL at {url} does not answer: the ledger benchmark needs it; skipped")
        details["skipped"] = "no PostgreSQL"
        return []
    setup_django(url)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        synchronous_commit = cursor.fetchone()[0]
    log(
        f"database {urlsplit(url).path.lstrip('/')}; writers {list(WRITERS)}, {APPENDS:,} "
        f"appends each; verify {VERIFY_ENTRIES:,}; synchronous_commit={synchronous_commit}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    empty_ledger()
    appends = measure_appends(plain_work_factory(plain_model()))
    verify = measure_verify(VERIFY_ENTRIES)
    empty_ledger()  # leave no million-entry ledger behind
    details.update(
        {
            "sizes": {"appends": APPENDS, "writers": list(WRITERS), "verify": VERIFY_ENTRIES},
            "database": "postgresql",
            "synchronous_commit": synchronous_commit,
            "appends": appends,
            "verify": verify,
        }
    )
    return figures(appends, verify)


def figures(appends: list[dict], verify: dict) -> list[dict]:
    """The report's rows for this benchmark."""

    def row(metric, value, unit, **kwargs):
        return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

    rows = []
    for result in appends:
        w, chained, plain = result["writers"], result["ledger"], result["plain"]
        label = f"{w} writer{'s' if w > 1 else ''}, {result['mode']}"
        overhead = chained["p95_ms"] - plain["p95_ms"]
        rows.append(
            row(
                f"appends/s, {label}",
                chained["per_s"],
                "1/s",
                peer="plain INSERT/s",
                peer_value=plain["per_s"],
                better="higher",
            )
        )
        for q in ("p50", "p95"):
            rows.append(
                row(
                    f"append {q}, {label}",
                    chained[f"{q}_ms"],
                    "ms",
                    peer=f"plain INSERT {q}",
                    peer_value=plain[f"{q}_ms"],
                )
            )
        rows += [
            row(
                f"append p95 overhead, {label}",
                overhead,
                "ms",
                target=f"<{OVERHEAD_TARGET_MS:.0f} ms",
                met=overhead < OVERHEAD_TARGET_MS,
                note="ledger p95 minus plain INSERT p95, same threads, alternating rounds",
            ),
            row(
                f"chain verifies after {label}",
                chained["chain_entries"],
                "entries",
                target="valid",
                met=chained["chain_ok"],
            ),
        ]
    n = f"{verify['entries'] / 1e6:g}M" if verify["entries"] >= 1e6 else f"{verify['entries']:,}"
    rows += [
        row(
            f"verify {n} entries",
            verify["verify_s"],
            "s",
            peer="stream rows, no hashing",
            peer_value=verify["stream_s"],
            target=f"<{VERIFY_TARGET_S:.0f} s",
            met=verify["verify_s"] < VERIFY_TARGET_S,
        ),
        row(
            f"verify {n} entries, CPU time",
            verify["verify_cpu_s"],
            "s",
            peer="stream rows, CPU time",
            peer_value=verify["stream_cpu_s"],
            target=f"<{VERIFY_TARGET_S:.0f} s on one core",
            met=verify["verify_cpu_s"] < VERIFY_TARGET_S,
            note="the verifying process only; PostgreSQL runs on another core",
        ),
        row(
            f"verify {n} entries/s",
            verify["entries"] / verify["verify_s"],
            "1/s",
            peer="streamed rows/s",
            peer_value=verify["entries"] / verify["stream_s"],
            better="higher",
        ),
        row(
            f"verify {n} entries, no column check",
            verify["no_columns_s"],
            "s",
            peer="full verification",
            peer_value=verify["verify_s"],
            note="hash links only: the rest is decoding each payload's JSON",
        ),
        row(f"bulk load {n} chained entries (COPY)", verify["load_s"], "s"),
    ]
    return rows


def run() -> list[dict]:
    """The ledger figures; in a child process when Django already serves another database."""
    from django.apps import apps

    if not apps.ready:
        return measure()
    with tempfile.TemporaryDirectory(prefix="locus-bench-ledger-") as folder:
        out = Path(folder) / "ledger.json"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        subprocess.run(
            [sys.executable, "-m", "bench.ledger", str(out)], cwd=common.ROOT, env=env, check=True
        )
        result = json.loads(out.read_text(encoding="utf-8"))
    details.update(result["details"])
    return result["rows"]


if __name__ == "__main__":
    rows = measure()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(
            json.dumps({"rows": rows, "details": details}, default=str), encoding="utf-8"
        )
    else:
        print(common.table_markdown(rows))
