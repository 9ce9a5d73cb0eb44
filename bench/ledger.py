"""Ledger benchmark: appends under concurrent writers, and verification of a million entries.

What it measures, on PostgreSQL, in its own database (BENCH_DATABASE_URL if it names a
PostgreSQL database, else postgres://postgres@127.0.0.1:5432/locus_bench_ledger; created if
missing and migrated; its ledger tables are emptied first):

* Appends. For each writer count in BENCH_LEDGER_WRITERS [1,8,32], that many threads (one
  connection each, connected before a common start) append BENCH_LEDGER_APPENDS [3,200]
  entries between them, each `ledger_append` in its own `transaction.atomic()` as the services
  do. Two baselines run in the same rounds, with the same threads, each on its own copy of the
  table (same columns, indexes and constraints): a plain ORM insert of the same row in its own
  transaction (no lock, no head), and the previous append (a PostgreSQL advisory lock, the head
  read with ORDER BY sequence DESC LIMIT 1, an ORM insert in a savepoint). Latency is per
  append, commit included; the p95 overhead is an append's p95 minus the plain insert's. The
  whole chain is verified after each writer count. Both are run twice: with the server's
  durable commits, and with `synchronous_commit = off`, which takes the disk's flush out and
  leaves the chain's own cost. The writers share one Python process (and its GIL), as the
  threads of one web or worker process would.
* The Merkle tree. For each writer count, durable commits only: a plain INSERT,
  `ledger_append` (the chain's lock until commit) and `ledger_submit` (a queue row and a signed
  receipt, no shared lock), the same entry in alternating rounds with the same threads; then the
  sequencer, timed, moves what they left into the chain and the tree (entries/s), and the tree
  is recomputed from the entries and checked (`verify_tree`). The in-process sequencer of the
  embedded default is off: it runs apart, as in a deployment.
* Verification. BENCH_LEDGER_VERIFY [1,000,000] chained entries are computed in Python (as
  ledger_append would) and COPYed in, then a checkpoint is signed and `verify_ledger()` is timed,
  in wall-clock and in this process's CPU time ("one core": the verifier is one Python thread,
  plus a thread that waits for the next chunk of rows). Baselines: the previous verifier (the
  ORM's row dicts, json.loads and datetime parsing for every entry's column check), reading the
  same rows through the same cursor without checking them, and verification without the column
  check.

The machine's load average is logged at the start and the end of each part, and kept in the
JSON details: on a shared machine, wall-clock figures move with it.

* The tree at scale (bench/ledger_tree.py, parts `treeverify`, `latency`, `proofs`): the
  tree over the million entries verified, the receipt-to-inclusion delay with the sequencer
  running as its own process, and proof generation at ten million leaves.

BENCH_LEDGER_PARTS (appends,tree,verify,treeverify,latency,proofs) picks the parts. Run it with `python -m bench ledger`. When Django is already set up in the process (another
benchmark ran first on its own database), the measurement runs in a child process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlsplit

from bench import common, ledger_tree

BENCHMARK = "ledger"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/locus_bench_ledger"
APPENDS = common.env_int("BENCH_LEDGER_APPENDS", 3_200)
WRITERS = tuple(
    int(w) for w in os.environ.get("BENCH_LEDGER_WRITERS", "1,8,32").split(",") if w.strip()
)
VERIFY_ENTRIES = common.env_int("BENCH_LEDGER_VERIFY", 1_000_000)
# Which parts run (all by default): chain appends, the tree (submit beside append, the
# sequencer), verification.
PARTS = set(
    os.environ.get("BENCH_LEDGER_PARTS", "appends,tree,verify,treeverify,latency,proofs").split(",")
)
WARMUP = 32  # appends per writer count, untimed, before each measured run
ROUNDS = 4  # baseline and ledger alternate, in this many rounds each
# The server's durable commits, then commits that do not wait for the WAL flush: the second
# shows the chain's own cost (lock, head lookup, savepoint) without the disk's.
COMMIT_MODES = (("durable", ""), ("async commit", "SET synchronous_commit = off"))
VERIFY_TARGET_S = 10.0
OVERHEAD_TARGET_MS = 2.0
PLAIN_TABLE = "bench_ledger_plain"
PREVIOUS_TABLE = "bench_ledger_previous"
PREVIOUS_LOCK_KEY = 0x4C656468  # the previous design's advisory lock, on its own table
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
    common.production_keys(os.environ, "ledger")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    # The sequencer runs apart (beat, or `manage.py sequence_ledger`) as in a deployment, and
    # is timed on its own: not in-process after every appender's commit.
    os.environ["LEDGER_SEQUENCE_ON_COMMIT"] = "0"
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
    sql(
        "TRUNCATE governance_ledgerentry, governance_ledgercheckpoint, governance_ledgerhead, "
        "governance_ledgerqueued, governance_ledgertreenode, governance_ledgertreehead"
    )
    sql("SET locus.ledger_maintenance = 'off'")


def copy_model(table: str):
    """A baseline's table: the ledger's columns, indexes and constraints, and no trigger."""
    from django.db import models

    sql(f"CREATE TABLE IF NOT EXISTS {table} (LIKE governance_ledgerentry INCLUDING ALL)")
    sql(f"TRUNCATE {table}")

    class Meta:
        app_label = "bench_ledger"
        db_table = table
        managed = False

    fields = {
        "sequence": models.PositiveBigIntegerField(unique=True),
        "at": models.DateTimeField(),
        "actor_id": models.BigIntegerField(null=True),
        "actor_name": models.CharField(max_length=150),
        "kind": models.CharField(max_length=60),
        "subjects": models.TextField(blank=True),
        "payload": models.BinaryField(),
        "prev_hash": models.CharField(max_length=64),
        "hash": models.CharField(max_length=64, unique=True),
    }
    name = "".join(part.title() for part in table.split("_"))
    return type(name, (models.Model,), {"__module__": __name__, "Meta": Meta, **fields})


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

    from governance.ledger.chain import ledger_append

    with transaction.atomic():
        ledger_append(
            actor=None,
            kind="locality.decisions",
            subjects=[f"run:{writer}", "dataset:bench-000001"],
            data=entry_data(writer, i),
        )


def submit_work(writer: int, i: int) -> None:
    """The same entry through `ledger_submit`: a queue row and a signed receipt, no shared lock."""
    from django.db import transaction

    from governance.ledger.tree import ledger_submit

    with transaction.atomic():
        ledger_submit(
            actor=None,
            kind="locality.decisions",
            subjects=[f"run:{writer}", "dataset:bench-000001"],
            data=entry_data(writer, i),
        )


def row_for(sequence: int, prev_hash: str, writer: int, i: int) -> dict:
    """The columns ledger_append would write for this entry."""
    from django.utils import timezone

    from governance.ledger.chain import canonical, chain_hash

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
    return {
        "sequence": sequence,
        "at": at,
        "actor_id": None,
        "actor_name": "system",
        "kind": "locality.decisions",
        "subjects": f" {' '.join(subjects)} ",
        "payload": payload,
        "prev_hash": prev_hash,
        "hash": chain_hash(prev_hash, payload),
    }


def plain_work_factory(model) -> Callable[[int, int], None]:
    """The same row, inserted on its own: sequence from a counter, no lock, no head lookup."""
    from django.db import transaction

    numbers = itertools.count(FAR)  # next() is atomic under the GIL

    def work(writer: int, i: int) -> None:
        row = row_for(next(numbers), "0" * 64, writer, i)
        with transaction.atomic():
            model.objects.create(**row)

    return work


def previous_work_factory(model) -> Callable[[int, int], None]:
    """The append this replaced: advisory lock, head by ORDER BY ... LIMIT 1, ORM insert in a
    savepoint, in its own chain on its own table."""
    from django.db import transaction

    def work(writer: int, i: int) -> None:
        with transaction.atomic(), transaction.atomic():
            sql("SELECT pg_advisory_xact_lock(%s)", [PREVIOUS_LOCK_KEY])
            head = model.objects.order_by("-sequence").values_list("sequence", "hash").first()
            sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, "0" * 64)
            model.objects.create(**row_for(sequence, prev_hash, writer, i))

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


def compare(
    writers: int, baselines: dict, session: str, works: dict | None = None
) -> dict[str, dict]:
    """The baselines and the ledger in alternating rounds (they share the machine's moods)."""
    works = {**baselines, **(works or {"ledger": ledger_work})}
    per_round = max(1, APPENDS // writers // ROUNDS)
    for work in works.values():
        run_writers(writers, max(1, WARMUP // writers), work, session)
    collected = {name: ([], 0.0) for name in works}
    for _ in range(ROUNDS):
        for name, work in works.items():
            samples, wall = run_writers(writers, per_round, work, session)
            collected[name] = (collected[name][0] + samples, collected[name][1] + wall)
    return {name: summary(*result) for name, result in collected.items()}


def measure_appends(baselines: dict) -> list[dict]:
    """Every writer count, with durable commits (the server's setting) and without."""
    from governance.ledger.verification import verify_ledger
    from governance.models import LedgerEntry

    results = []
    for mode, session in COMMIT_MODES:
        for writers in WRITERS:
            measured = compare(writers, baselines, session)
            chained, plain, previous = measured["ledger"], measured["plain"], measured["previous"]
            started = time.perf_counter()
            report = verify_ledger()
            chained["verify_s"] = time.perf_counter() - started
            expected = LedgerEntry.objects.count()
            chained["chain_ok"] = report.ok and report.entries == expected == report.head_sequence
            chained["chain_entries"] = report.entries
            results.append(
                {
                    "mode": mode,
                    "writers": writers,
                    "ledger": chained,
                    "plain": plain,
                    "previous": previous,
                    "load": os.getloadavg()[0],
                }
            )
            log(
                f"{mode}, {writers:>2} writer(s): {chained['per_s']:,.0f} appends/s "
                f"(plain {plain['per_s']:,.0f}/s, previous {previous['per_s']:,.0f}/s), "
                f"p95 {chained['p95_ms']:.2f} ms (plain {plain['p95_ms']:.2f}, previous "
                f"{previous['p95_ms']:.2f}); chain of {report.entries:,} "
                f"{'verifies' if chained['chain_ok'] else 'DOES NOT VERIFY: ' + report.problem}; "
                f"load {os.getloadavg()[0]:.2f}"
            )
    return results


# --- The Merkle tree: appends through the queue, and the sequencer --------------------------------


def timed_sequencer() -> dict:
    """Drain the queue (and add the chain's new entries to the tree), timed: the sequencer's
    entries/s, batches of governance.ledger.tree.BATCH in one transaction each."""
    from governance.ledger.tree import ledger_sequence_all, tree_size
    from governance.models import LedgerQueued

    queued, before = LedgerQueued.objects.count(), tree_size()
    started = time.perf_counter()
    after = ledger_sequence_all()
    seconds = time.perf_counter() - started
    return {"queued": queued, "entries": after - before, "seconds": seconds}


def measure_tree(plain) -> list[dict]:
    """Durable commits, every writer count: a plain INSERT, `ledger_append` (the chain's lock
    until commit) and `ledger_submit` (a queue row and a receipt) in alternating rounds, then
    the sequencer, timed, on what they left; the tree is checked against the chain after."""
    from governance.ledger.tree import verify_tree

    works = {"append": ledger_work, "submit": submit_work}
    results = []
    for writers in WRITERS:
        measured = compare(writers, {"plain": plain}, "", works)
        sequenced = timed_sequencer()
        problems = verify_tree()
        results.append(
            {"writers": writers, **measured, "sequencer": sequenced, "tree_ok": not problems}
        )
        append, submit, base = measured["append"], measured["submit"], measured["plain"]
        log(
            f"tree, {writers:>2} writer(s): submit {submit['per_s']:,.0f}/s p95 "
            f"{submit['p95_ms']:.2f} ms; append {append['per_s']:,.0f}/s p95 "
            f"{append['p95_ms']:.2f} ms; plain {base['per_s']:,.0f}/s p95 {base['p95_ms']:.2f} ms; "
            f"sequencer {sequenced['entries']:,} in {sequenced['seconds']:.2f} s; tree "
            f"{'verifies' if not problems else 'DOES NOT VERIFY: ' + problems[0]}; "
            f"load {os.getloadavg()[0]:.2f}"
        )
    return results


def tree_figures(results: list[dict]) -> list[dict]:
    """The tree part's rows: append and submit side by side, then the sequencer."""

    def row(metric, value, unit, **kwargs):
        return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

    rows = []
    for result in results:
        w, append, submit, base = (result[k] for k in ("writers", "append", "submit", "plain"))
        label = f"{w} writer{'s' if w > 1 else ''}, durable"
        overhead = submit["p95_ms"] - base["p95_ms"]
        append_overhead = append["p95_ms"] - base["p95_ms"]
        sequenced = result["sequencer"]
        rows += [
            row(
                f"ledger_submit appends/s, {label}",
                submit["per_s"],
                "1/s",
                peer="ledger_append/s",
                peer_value=append["per_s"],
                better="higher",
            ),
            row(
                f"ledger_submit p95 overhead, {label}",
                overhead,
                "ms",
                peer="ledger_append's overhead",
                peer_value=append_overhead,
                target=f"<{OVERHEAD_TARGET_MS:.0f} ms",
                met=overhead < OVERHEAD_TARGET_MS,
                note="p95 minus plain INSERT p95, same threads, alternating rounds",
            )
            | ({"ratio": None} if min(overhead, append_overhead) <= 0 else {}),
            row(
                f"sequencer entries/s, after {label}",
                sequenced["entries"] / sequenced["seconds"] if sequenced["seconds"] else 0.0,
                "1/s",
                better="higher",
                target="tree = chain",
                met=result["tree_ok"],
                note=f"{sequenced['queued']:,} queued + chain entries into the tree, one head a batch",
            ),
        ]
    return rows


# --- A million entries: load, then verify -------------------------------------------------------

KINDS = ("locality.decisions", "rule.updated", "catalog.dataset.updated", "grant.created")


def chained_rows(count: int) -> Iterator[tuple]:
    """Rows exactly as ledger_append would write them, one chain from genesis."""
    from governance.ledger.chain import canonical, chain_hash
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
    # The head row, as ledger_append keeps it (verification compares the chain's end with it).
    sql(
        "INSERT INTO governance_ledgerhead (id, sequence, hash) SELECT 1, sequence, hash "
        "FROM governance_ledgerentry ORDER BY sequence DESC LIMIT 1 ON CONFLICT (id) DO UPDATE "
        "SET sequence = excluded.sequence, hash = excluded.hash"
    )
    sql("VACUUM ANALYZE governance_ledgerentry")
    return time.perf_counter() - started


def timed(function: Callable[[], object]) -> tuple[float, float, object]:
    """Wall-clock seconds, this process's CPU seconds, and the result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def previous_verify() -> tuple[int, bool]:
    """The verifier this replaced, as the baseline: the ORM's row dicts, and for every entry a
    json.loads of the payload and its columns (`at` parsed to a datetime) compared with it."""
    from governance.ledger.chain import chain_hash
    from governance.models import LedgerEntry
    from governance.models.ledger import GENESIS_HASH

    fields = ("sequence", "at", "actor_id", "actor_name", "kind", "subjects")
    rows = LedgerEntry.objects.order_by("sequence").values(*fields, "payload", "prev_hash", "hash")
    prev_hash, expected = GENESIS_HASH, 1
    for row in rows.iterator(chunk_size=10_000):
        payload = bytes(row["payload"])
        document = json.loads(payload)
        columns = {**row, "at": row["at"].isoformat(), "subjects": row["subjects"].split()}
        if (
            row["sequence"] != expected
            or row["prev_hash"] != prev_hash
            or chain_hash(prev_hash, payload) != row["hash"]
            or any(document.get(name) != columns[name] for name in fields)
        ):
            return expected - 1, False
        prev_hash, expected = row["hash"], expected + 1
    return expected - 1, True


def measure_verify(count: int) -> dict:
    from governance.ledger.export import checkpoint_create
    from governance.ledger.verification import VerifyReport, streamed_rows, verify_rows
    from governance.ledger.verification import verify_ledger as fast_verify

    load_s = bulk_load(count)
    checkpoint_create()
    log(f"{count:,} chained entries computed and COPYed in {load_s:.1f} s")

    def read_only() -> int:
        with streamed_rows() as rows:
            return sum(1 for _ in rows)

    def without_columns() -> VerifyReport:
        report = VerifyReport()
        with streamed_rows() as rows:
            verify_rows(rows, report, check_columns=False)
        return report

    read_only()  # warm the database's cache: every figure below reads from memory
    loads = [os.getloadavg()[0]]
    read_s, read_cpu, read = timed(read_only)
    verify_s, verify_cpu, report = timed(fast_verify)
    lean_s, lean_cpu, lean = timed(without_columns)
    previous_s, previous_cpu, (previous_entries, previous_ok) = timed(previous_verify)
    loads.append(os.getloadavg()[0])
    if not (
        read == previous_entries == report.entries == count
        and report.as_dict()["ok"]
        and lean.ok
        and previous_ok
    ):
        raise RuntimeError(f"the loaded chain does not verify: {report.as_dict()}")
    log(
        f"verify {count:,}: {verify_s:.1f} s wall, {verify_cpu:.1f} s CPU "
        f"({count / verify_s:,.0f}/s); previous verifier {previous_s:.1f} s wall, "
        f"{previous_cpu:.1f} s CPU; reading alone {read_s:.1f} s ({read_cpu:.1f} s CPU); "
        f"without column checks {lean_s:.1f} s; load {loads[0]:.2f} -> {loads[1]:.2f}"
    )
    return {
        "entries": count,
        "load_s": load_s,
        "verify_s": verify_s,
        "verify_cpu_s": verify_cpu,
        "previous_s": previous_s,
        "previous_cpu_s": previous_cpu,
        "read_s": read_s,
        "read_cpu_s": read_cpu,
        "no_columns_s": lean_s,
        "no_columns_cpu_s": lean_cpu,
        "checkpoints_ok": all(c["ok"] for c in report.checkpoints),
        "load_average": loads,
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
    baselines = {
        "plain": plain_work_factory(copy_model(PLAIN_TABLE)),
        "previous": previous_work_factory(copy_model(PREVIOUS_TABLE)),
    }
    appends = measure_appends(baselines) if "appends" in PARTS else []
    empty_ledger()
    tree = measure_tree(baselines["plain"]) if "tree" in PARTS else []
    verify = measure_verify(VERIFY_ENTRIES) if "verify" in PARTS else {}
    if "treeverify" in PARTS:  # on the verify part's million entries when it loaded them
        loader = (lambda count: verify["load_s"]) if verify else bulk_load
        tree_verify = ledger_tree.measure_tree_verify(VERIFY_ENTRIES, loader)
    else:
        tree_verify = {}
    latency = ledger_tree.measure_latency(empty_ledger) if "latency" in PARTS else {}
    proofs = (
        ledger_tree.measure_proofs(ledger_tree.PROOF_LEAVES, empty_ledger)
        if "proofs" in PARTS
        else {}
    )
    empty_ledger()  # leave no million-entry ledger behind
    details.update(
        {
            "sizes": {"appends": APPENDS, "writers": list(WRITERS), "verify": VERIFY_ENTRIES},
            "database": "postgresql",
            "synchronous_commit": synchronous_commit,
            "appends": appends,
            "tree": tree,
            "verify": verify,
            "tree_verify": tree_verify,
            "latency": latency,
            "proofs": proofs,
        }
    )
    return (
        figures(appends, verify)
        + tree_figures(tree)
        + ledger_tree.latency_figures(latency)
        + ledger_tree.scale_figures(tree_verify, proofs)
    )


def figures(appends: list[dict], verify: dict) -> list[dict]:
    """The report's rows for this benchmark."""

    def row(metric, value, unit, **kwargs):
        return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

    rows = []
    for result in appends:
        w, chained, plain, previous = (
            result[k] for k in ("writers", "ledger", "plain", "previous")
        )
        label = f"{w} writer{'s' if w > 1 else ''}, {result['mode']}"
        overhead = chained["p95_ms"] - plain["p95_ms"]
        previous_overhead = previous["p95_ms"] - plain["p95_ms"]
        rows += [
            row(
                f"appends/s, {label}",
                chained["per_s"],
                "1/s",
                peer="plain INSERT/s",
                peer_value=plain["per_s"],
                better="higher",
            ),
            row(
                f"append p50, {label}",
                chained["p50_ms"],
                "ms",
                peer="plain INSERT p50",
                peer_value=plain["p50_ms"],
            ),
            row(
                f"append p95, {label}",
                chained["p95_ms"],
                "ms",
                peer="plain INSERT p95",
                peer_value=plain["p95_ms"],
            ),
            row(
                f"append p95 overhead, {label}",
                overhead,
                "ms",
                peer="previous append's overhead",
                peer_value=previous_overhead,
                target=f"<{OVERHEAD_TARGET_MS:.0f} ms",
                met=overhead < OVERHEAD_TARGET_MS,
                note="p95 minus plain INSERT p95, same threads, alternating rounds",
            )
            | ({"ratio": None} if min(overhead, previous_overhead) <= 0 else {}),
            row(
                f"chain verifies after {label}",
                chained["chain_entries"],
                "entries",
                target="valid",
                met=chained["chain_ok"],
            ),
        ]
    if not verify:
        return rows
    n = f"{verify['entries'] / 1e6:g}M" if verify["entries"] >= 1e6 else f"{verify['entries']:,}"
    rows += [
        row(
            f"verify {n} entries",
            verify["verify_s"],
            "s",
            peer="previous verifier (ORM)",
            peer_value=verify["previous_s"],
            target=f"<{VERIFY_TARGET_S:.0f} s",
            met=verify["verify_s"] < VERIFY_TARGET_S,
            note="wall-clock: includes PostgreSQL's work, on the other core",
        ),
        row(
            f"verify {n} entries, CPU time",
            verify["verify_cpu_s"],
            "s",
            peer="previous verifier, CPU time",
            peer_value=verify["previous_cpu_s"],
            target=f"<{VERIFY_TARGET_S:.0f} s on one core",
            met=verify["verify_cpu_s"] < VERIFY_TARGET_S,
            note="the verifying process only",
        ),
        row(
            f"verify {n} entries/s",
            verify["entries"] / verify["verify_s"],
            "1/s",
            peer="rows read/s, no checks",
            peer_value=verify["entries"] / verify["read_s"],
            better="higher",
        ),
        row(
            f"verify {n} entries, no column check",
            verify["no_columns_s"],
            "s",
            peer="full verification",
            peer_value=verify["verify_s"],
            note="hash links only: the rest is comparing the columns with the payload's bytes",
        ),
        row(f"read {n} entries, no checks, CPU time", verify["read_cpu_s"], "s"),
        row(f"bulk load {n} chained entries (COPY)", verify["load_s"], "s"),
    ]
    return rows


def run() -> list[dict]:
    """The ledger figures; in a child process when Django already serves another database."""
    return common.run_apart("ledger", measure, details)


if __name__ == "__main__":
    common.main(measure, details)
