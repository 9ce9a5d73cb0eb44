"""The decision log's Merkle tree at scale: parts of the ledger benchmark (bench/ledger.py).

* `latency`: the receipt-to-inclusion delay. The sequencer runs as it does in production, as a
  process of its own (`manage.py sequence_ledger --every LEDGER_SEQUENCE_SECONDS`, what beat's
  schedule does), while BENCH_LEDGER_LATENCY_WRITERS [4] threads submit a steady
  BENCH_LEDGER_LATENCY_RATE [200] entries/s between them (each `ledger_submit` in its own
  transaction, paced on a fixed schedule, not as fast as they can) for
  BENCH_LEDGER_LATENCY_SECONDS [30]. An observer polls the latest tree head every 10 ms; an
  entry's delay is from its receipt's `at` to the first poll that saw a tree head covering it
  (when its inclusion proof could first be asked for), against LEDGER_MERGE_DELAY.
* `treeverify`: BENCH_LEDGER_VERIFY [1,000,000] chained entries COPYed in (as the `verify`
  part loads them), the tree built by the tree builder (`merkle.MemoryTree`) and its nodes
  COPYed in with a signed tree head, then `verify_tree()` (what `verify_ledger --tree` adds:
  every leaf recomputed from its entry, every signed head's root and every stored node checked)
  and the whole `verify_ledger --tree` timed; the verifier it replaced
  (bench/ledger_tree_baseline.py) is timed first in the same run, as the baseline. CPU time
  counts every database backend's (the stored nodes are read on a second connection). 200 inclusion and consistency proofs are generated
  on that real tree, timed, and verified.
* `proofs`: inclusion and consistency proof generation at BENCH_LEDGER_PROOF_LEAVES
  [10,000,000] leaves. The stored node table (every complete subtree, about 2n rows, with its
  indexes as the migration makes them) is written by PostgreSQL itself with generate_series,
  the node hashes synthetic (SHA-256 of the node's position: generating a proof reads the same
  rows whatever they hold, but these proofs do not verify, which the `treeverify` part shows
  on a real tree). 1,000 proofs of each kind, for random leaves and sizes, through the same
  functions the API calls.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

from bench import common

BENCHMARK = "ledger"
LATENCY_SECONDS = common.env_int("BENCH_LEDGER_LATENCY_SECONDS", 30)
LATENCY_RATE = common.env_int("BENCH_LEDGER_LATENCY_RATE", 200)
LATENCY_WRITERS = common.env_int("BENCH_LEDGER_LATENCY_WRITERS", 4)
PROOF_LEAVES = common.env_int("BENCH_LEDGER_PROOF_LEAVES", 10_000_000)
PROOF_SAMPLES = 1_000
POLL_SECONDS = 0.01
VERIFY_TARGET_S = 10.0
PROOF_TARGET_MS = 5.0
NODE_TABLE = "governance_ledgertreenode"


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def sql(statement: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _ms(samples_s: list[float]) -> dict:
    every = sorted(s * 1000 for s in samples_s)
    return {
        "count": len(every),
        "p50_ms": common.percentile(every, 50),
        "p99_ms": common.percentile(every, 99),
        "max_ms": every[-1],
    }


# --- Receipt to inclusion, with the sequencer as its own process --------------------------------


def _start_sequencer(every: float, log_file) -> subprocess.Popen:
    """`manage.py sequence_ledger --every` on the benchmark's database, as a Procfile runs it;
    returns once it has done its first round (Django's start is not the sequencer's delay)."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sequence_ledger", "--every", str(every)],
        cwd=common.ROOT,
        env={**os.environ, "LEDGER_SEQUENCE_ON_COMMIT": "0"},
        stdout=log_file,
        stderr=log_file,
    )
    limit = time.monotonic() + 120
    while os.fstat(log_file.fileno()).st_size == 0 and time.monotonic() < limit:
        if process.poll() is not None:
            break
        time.sleep(0.05)
    return process


class HeadObserver(threading.Thread):
    """Polls the latest tree head's size on its own connection: (epoch seconds, size) on change."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            last = -1
            while not self.stop.is_set():
                size = sql("SELECT COALESCE(MAX(size), 0) FROM governance_ledgertreehead")[0][0]
                if size != last:
                    self.seen.append((time.time(), size))
                    last = size
                time.sleep(POLL_SECONDS)
        finally:
            connection.close()

    def size(self) -> int:
        return self.seen[-1][1] if self.seen else 0


def _steady_submits(writers: int, rate: int, seconds: int) -> list[tuple[str, float]]:
    """Each writer submits on its own fixed schedule; every receipt's (leaf hash, at epoch)."""
    from django.db import connection, transaction

    from governance.ledger.tree import ledger_submit

    interval = writers / rate
    per_writer = int(seconds * rate / writers)
    receipts: list[list[tuple[str, float]]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []
    start = time.perf_counter() + 0.5

    def body(number: int) -> None:
        try:
            for i in range(per_writer):
                delay = start + number * interval / writers + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                with transaction.atomic():
                    receipt = ledger_submit(
                        actor=None,
                        kind="locality.decisions",
                        subjects=[f"run:{number}", "dataset:bench-000001"],
                        data={"context": "check", "first_decision": i, "count": 1},
                    )
                at = dt.datetime.fromisoformat(receipt["at"]).timestamp()
                receipts[number].append((receipt["leaf_hash"], at))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError("a submitting writer failed") from errors[0]
    return [pair for batch in receipts for pair in batch]


def _leaf_indexes(hashes: list[str]) -> dict[str, int]:
    from governance.models import LedgerTreeNode

    found: dict[str, int] = {}
    for begin in range(0, len(hashes), 2000):
        rows = LedgerTreeNode.objects.filter(level=0, hash__in=hashes[begin : begin + 2000])
        found.update(rows.values_list("hash", "index"))
    return found


def measure_latency(empty_ledger) -> dict:
    """Steady submits with the sequencer running apart; each receipt's delay until a tree head
    that includes it was visible."""
    from django.conf import settings

    every, promised = settings.LEDGER_SEQUENCE_SECONDS, settings.LEDGER_MERGE_DELAY
    empty_ledger()
    observer = HeadObserver()
    observer.start()
    with tempfile.TemporaryFile() as errors:
        sequencer = _start_sequencer(every, errors)
        try:
            loads = [os.getloadavg()[0]]
            receipts = _steady_submits(LATENCY_WRITERS, LATENCY_RATE, LATENCY_SECONDS)
            limit = time.time() + 10 * promised
            while observer.size() < len(receipts) and time.time() < limit:
                time.sleep(0.1)
            loads.append(os.getloadavg()[0])
        finally:
            sequencer.terminate()
            sequencer.wait(timeout=60)
            observer.stop.set()
            observer.join()
        if observer.size() < len(receipts):
            errors.seek(0)
            tail = errors.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"the sequencer left entries out ({observer.size()}): {tail}")
    indexes = _leaf_indexes([leaf for leaf, _ in receipts])
    times, sizes = zip(*observer.seen, strict=True)
    delays = []
    for leaf, at in receipts:
        first = bisect.bisect_right(sizes, indexes[leaf])  # the first head with size > index
        delays.append(times[first] - at)
    result = {
        "entries": len(receipts),
        "rate": LATENCY_RATE,
        "writers": LATENCY_WRITERS,
        "seconds": LATENCY_SECONDS,
        "sequence_every_s": every,
        "merge_delay_s": promised,
        "tree_heads": len(sizes) - 1,
        "over_merge_delay": sum(d > promised for d in delays),
        "load_average": loads,
        **_ms(delays),
    }
    log(
        f"receipt to inclusion, {len(receipts):,} submits at {LATENCY_RATE}/s, sequencer every "
        f"{every:g} s: p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, max "
        f"{result['max_ms']:.0f} ms (merge delay {promised} s, {result['over_merge_delay']} "
        f"over); {result['tree_heads']} tree heads; load {loads[0]:.2f} -> {loads[1]:.2f}"
    )
    return result


def latency_figures(result: dict) -> list[dict]:
    if not result:
        return []
    promised_ms = result["merge_delay_s"] * 1000
    label = f"{result['rate']}/s steady, sequencer every {result['sequence_every_s']:g} s"
    return [
        common.figure(
            BENCHMARK,
            f"receipt to inclusion p{q}, {label}",
            round(result[f"p{q}_ms"], 1),
            "ms",
            peer="LEDGER_MERGE_DELAY",
            peer_value=promised_ms,
            target=f"<{promised_ms:,.0f} ms" if q == 99 else "",
            met=result["p99_ms"] < promised_ms if q == 99 else None,
            note="receipt's at to the first poll (10 ms) that saw a tree head covering it",
        )
        for q in (50, 99)
    ]


# --- The tree over a million entries: build, verify, proofs on a real tree ---------------------


def build_tree_bulk() -> float:
    """The tree over every entry in the chain, by the tree builder, its nodes COPYed in, and a
    signed tree head; seconds taken."""
    from django.db import connection
    from django.utils import timezone

    from governance.ledger import signing
    from governance.models import LedgerTreeHead
    from locus_client import merkle

    started = time.perf_counter()
    tree = merkle.MemoryTree()
    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM governance_ledgerentry ORDER BY sequence")
        for (payload,) in cursor:
            tree.append(merkle.leaf_hash(bytes(payload)))
    statement = f"COPY {NODE_TABLE} (level, index, hash) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for level, row in enumerate(tree.levels):
            for index, value in enumerate(row):
                copy.write_row((level, index, value.hex()))
    root, at = tree.root().hex(), timezone.now()
    signed = signing.sign_tree_head(tree.size, root, at.isoformat())
    LedgerTreeHead.objects.create(size=tree.size, root=root, at=at, **signed)
    sql(f"ANALYZE {NODE_TABLE}")
    return time.perf_counter() - started


def _backend_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend on this database, by process id (Linux
    /proc): verify_tree reads the stored nodes on a second, pooled connection."""
    pids = sql("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
    seconds = {}
    for (pid,) in pids:
        fields = common._stat(str(pid)) or ["0"] * 13
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def _timed(function) -> tuple[float, float, float, object]:
    """Wall-clock seconds, this process's CPU seconds, its database backends' CPU seconds (the
    work, whatever else runs on the machine), and the result."""
    wall, cpu, before = time.perf_counter(), time.process_time(), _backend_cpu_seconds()
    result = function()
    after = _backend_cpu_seconds()
    backend = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return time.perf_counter() - wall, time.process_time() - cpu, backend, result


def _proof_samples(size: int, leaf_hash_of, samples: int, check: bool) -> dict:
    """`samples` inclusion proofs of random leaves and consistency proofs from random sizes,
    generated (and, on a real tree, verified) through governance.ledger.tree; the timings."""
    from governance.ledger.tree import consistency_proof, inclusion_proof, read_nodes
    from locus_client import merkle

    pick = random.Random(23)
    inclusion, consistency = [], []
    for _ in range(samples):
        index = pick.randrange(size)
        started = time.perf_counter()
        proof = inclusion_proof(leaf_hash_of(index))
        inclusion.append(time.perf_counter() - started)
        root = bytes.fromhex(proof["tree_head"]["root"])
        if check:
            path = [bytes.fromhex(part) for part in proof["audit_path"]]
            leaf = bytes.fromhex(proof["leaf_hash"])
            merkle.verify_inclusion(proof["leaf_index"], size, leaf, path, root)
        first = pick.randrange(1, size)
        started = time.perf_counter()
        proof = consistency_proof(first)
        consistency.append(time.perf_counter() - started)
        if check:  # the earlier root from the stored nodes, already checked by verify_tree
            path = [bytes.fromhex(part) for part in proof["consistency_path"]]
            first_root = merkle.range_hash(0, first, read_nodes(merkle.range_nodes(0, first)))
            merkle.verify_consistency(first, size, first_root, root, path)
    return {"inclusion": _ms(inclusion), "consistency": _ms(consistency), "verified": check}


def measure_tree_verify(count: int, load) -> dict:
    """`count` chained entries, the tree over them, then verify_tree and verify_ledger --tree."""
    from bench.ledger_tree_baseline import previous_verify_tree
    from governance.ledger.tree import verify_tree
    from governance.ledger.verification import verify_ledger

    load_s = load(count)
    build_s = build_tree_bulk()
    log(f"{count:,} entries COPYed in {load_s:.1f} s; the tree built and COPYed in {build_s:.1f} s")
    loads = [os.getloadavg()[0]]
    old_s, old_cpu, old_db_cpu, old_problems = _timed(previous_verify_tree)
    tree_s, tree_cpu, tree_db_cpu, problems = _timed(verify_tree)
    both_s, both_cpu, both_db_cpu, report = _timed(lambda: (verify_ledger(), verify_tree()))
    loads.append(os.getloadavg()[0])
    chain, tree_problems = report  # type: ignore[misc]
    if problems or tree_problems or old_problems or not chain.ok:
        raise RuntimeError(f"the loaded tree does not verify: {problems or tree_problems}")

    def leaf_hash_of(index: int) -> str:
        query = f"SELECT hash FROM {NODE_TABLE} WHERE level = 0 AND index = %s"
        return sql(query, [index])[0][0]

    proofs = _proof_samples(count, leaf_hash_of, 200, check=True)
    log(
        f"verify_tree {count:,}: {tree_s:.1f} s wall, {tree_cpu:.1f} s CPU (+ {tree_db_cpu:.1f} s "
        f"its database backends'), the previous {old_s:.1f} s wall, {old_cpu:.1f} s CPU (+ "
        f"{old_db_cpu:.1f} s); verify_ledger --tree {both_s:.1f} s wall, {both_cpu:.1f} s CPU "
        f"(+ {both_db_cpu:.1f} s); inclusion proof p99 {proofs['inclusion']['p99_ms']:.2f} ms, "
        f"consistency p99 {proofs['consistency']['p99_ms']:.2f} ms (200 each, verified); load "
        f"{loads[0]:.2f} -> {loads[1]:.2f}"
    )
    return {
        "entries": count,
        "load_s": load_s,
        "build_s": build_s,
        "verify_tree_s": tree_s,
        "verify_tree_cpu_s": tree_cpu,
        "verify_tree_db_cpu_s": tree_db_cpu,
        "previous_verify_tree_s": old_s,
        "previous_verify_tree_cpu_s": old_cpu,
        "previous_verify_tree_db_cpu_s": old_db_cpu,
        "verify_ledger_tree_s": both_s,
        "verify_ledger_tree_cpu_s": both_cpu,
        "verify_ledger_tree_db_cpu_s": both_db_cpu,
        "proofs": proofs,
        "load_average": loads,
    }


# --- Proofs at ten million leaves -----------------------------------------------------------------


def _synthetic_hash(level: int, index: int) -> str:
    """What the SQL below stores for a node: SHA-256 of its position as an 8-byte integer."""
    return hashlib.sha256(((level << 40) | index).to_bytes(8, "big")).hexdigest()


def build_synthetic_nodes(leaves: int) -> float:
    """Every complete subtree of a tree of `leaves` leaves, written by PostgreSQL (indexes
    dropped, rows inserted, indexes rebuilt as the migration defines them); seconds taken."""
    from django.utils import timezone

    from governance.ledger import signing
    from governance.ledger.tree import read_nodes
    from governance.models import LedgerTreeHead
    from locus_client import merkle

    started = time.perf_counter()
    sql("SET maintenance_work_mem = '1GB'")
    sql(f"ALTER TABLE {NODE_TABLE} DROP CONSTRAINT ledger_tree_node_position")
    sql("DROP INDEX ledger_tree_node_hash")
    level = 0
    while leaves >> level:
        sql(
            f"INSERT INTO {NODE_TABLE} (level, index, hash) SELECT %s, i, "
            "encode(sha256(int8send((%s::bigint << 40) | i)), 'hex') "
            "FROM generate_series(0, %s - 1) AS i",
            [level, level, leaves >> level],
        )
        level += 1
    sql(f"ALTER TABLE {NODE_TABLE} ADD CONSTRAINT ledger_tree_node_position UNIQUE (level, index)")
    sql(f"CREATE INDEX ledger_tree_node_hash ON {NODE_TABLE} (hash)")
    sql(f"ANALYZE {NODE_TABLE}")
    root = merkle.range_hash(0, leaves, read_nodes(merkle.range_nodes(0, leaves))).hex()
    at = timezone.now()
    signed = signing.sign_tree_head(leaves, root, at.isoformat())
    LedgerTreeHead.objects.create(size=leaves, root=root, at=at, **signed)
    return time.perf_counter() - started


def measure_proofs(leaves: int, empty_ledger) -> dict:
    empty_ledger()
    build_s = build_synthetic_nodes(leaves)
    rows = sql(f"SELECT count(*), pg_total_relation_size('{NODE_TABLE}') FROM {NODE_TABLE}")[0]
    log(f"{rows[0]:,} stored nodes for {leaves:,} leaves written in {build_s:.1f} s")
    loads = [os.getloadavg()[0]]
    proofs = _proof_samples(leaves, lambda i: _synthetic_hash(0, i), PROOF_SAMPLES, check=False)
    loads.append(os.getloadavg()[0])
    log(
        f"proofs at {leaves:,} leaves: inclusion p50 {proofs['inclusion']['p50_ms']:.2f} ms p99 "
        f"{proofs['inclusion']['p99_ms']:.2f} ms; consistency p50 "
        f"{proofs['consistency']['p50_ms']:.2f} ms p99 {proofs['consistency']['p99_ms']:.2f} ms; "
        f"load {loads[0]:.2f} -> {loads[1]:.2f}"
    )
    empty_ledger()
    return {
        "leaves": leaves,
        "nodes": rows[0],
        "table_bytes": rows[1],
        "build_s": build_s,
        "proofs": proofs,
        "load_average": loads,
    }


def _size_label(count: int) -> str:
    return f"{count / 1e6:g}M" if count >= 1_000_000 else f"{count:,}"


def _proof_target(kind: str, p99_ms: float) -> dict:
    """The target is for inclusion proofs; consistency proofs are shown beside them."""
    if kind != "inclusion":
        return {}
    return {"target": f"<{PROOF_TARGET_MS:.0f} ms", "met": p99_ms < PROOF_TARGET_MS}


def scale_figures(verified: dict, proved: dict) -> list[dict]:
    """The rows of the `treeverify` and `proofs` parts."""

    def row(metric, value, unit, **kwargs):
        return common.figure(BENCHMARK, metric, round(value, 3), unit, **kwargs)

    rows = []
    if verified:
        n = _size_label(verified["entries"])
        rows += [
            row(
                f"verify_tree {n} entries (full tree recomputation)",
                verified["verify_tree_s"],
                "s",
                peer="previous verify_tree (same run)",
                peer_value=verified.get("previous_verify_tree_s"),
                target=f"<{VERIFY_TARGET_S:.0f} s",
                met=verified["verify_tree_s"] < VERIFY_TARGET_S,
                note="every leaf from its entry, every signed head's root, every stored node",
            ),
            row(
                f"verify_tree {n} entries, CPU time (verifier + its database backend)",
                verified["verify_tree_cpu_s"] + verified["verify_tree_db_cpu_s"],
                "s",
                peer="previous verify_tree (same run)",
                peer_value=verified.get("previous_verify_tree_cpu_s", 0)
                + verified.get("previous_verify_tree_db_cpu_s", 0),
                target=f"<{VERIFY_TARGET_S:.0f} s",
                met=verified["verify_tree_cpu_s"] + verified["verify_tree_db_cpu_s"]
                < VERIFY_TARGET_S,
                note=f"the verifier alone: {verified['verify_tree_cpu_s']:.2f} s",
            ),
            row(f"verify_ledger --tree {n} entries", verified["verify_ledger_tree_s"], "s"),
            row(
                f"verify_ledger --tree {n} entries, CPU time (verifier + its database backend)",
                verified["verify_ledger_tree_cpu_s"] + verified["verify_ledger_tree_db_cpu_s"],
                "s",
            ),
            row(f"build the tree over {n} entries (bulk)", verified["build_s"], "s"),
        ]
        for kind in ("inclusion", "consistency"):
            rows.append(
                row(
                    f"{kind} proof p99 @{n} leaves (verified)",
                    verified["proofs"][kind]["p99_ms"],
                    "ms",
                    **_proof_target(kind, verified["proofs"][kind]["p99_ms"]),
                )
            )
    if proved:
        n = _size_label(proved["leaves"])
        for kind in ("inclusion", "consistency"):
            figures = proved["proofs"][kind]
            rows += [
                row(f"{kind} proof p50 @{n} leaves", figures["p50_ms"], "ms"),
                row(
                    f"{kind} proof p99 @{n} leaves",
                    figures["p99_ms"],
                    "ms",
                    **_proof_target(kind, figures["p99_ms"]),
                    note=f"{proved['nodes']:,} stored nodes, synthetic hashes, bulk-built",
                ),
            ]
    return rows
