"""Verifying the chain in the database: streamed rows compared byte for byte, the chain's end
compared with the head row (so entries cut from the tail are found), and every stored checkpoint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import transaction

from catalog.replicas import read_connection
from governance.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from governance.models.ledger import GENESIS_HASH

# --- Verification ----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What verification found: ok, or the first broken link and why."""

    entries: int = 0
    head_sequence: int = 0
    head_hash: str = GENESIS_HASH
    chain_ok: bool = True
    first_broken_sequence: int | None = None
    problem: str = ""
    checkpoints: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The chain holds and every checkpoint agrees with it."""
        return self.chain_ok and all(c["ok"] for c in self.checkpoints)

    def fail(self, sequence: int | None, problem: str) -> None:
        if self.chain_ok:
            self.chain_ok, self.first_broken_sequence, self.problem = False, sequence, problem

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "chain_ok": self.chain_ok,
            "entries": self.entries,
            "head_sequence": self.head_sequence,
            "head_hash": self.head_hash,
            "first_broken_sequence": self.first_broken_sequence,
            "problem": self.problem,
            "checkpoints": self.checkpoints,
        }


COLUMNS = ("sequence", "at", "actor_id", "actor_name", "kind", "subjects")
# What verification reads of each entry, in this order (a tuple per entry); `at` as ISO 8601
# text in UTC, the form the payload holds (except that it always has microseconds).
ROW_FIELDS = (
    "sequence",
    "payload",
    "prev_hash",
    "hash",
    "at",
    "actor_id",
    "actor_name",
    "kind",
    "subjects",
)
ROWS_SQL = f"""
SELECT sequence, payload, prev_hash, hash,
    to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
    actor_id, actor_name, kind, subjects
FROM {LedgerEntry._meta.db_table} ORDER BY sequence
"""
_quoted = json.encoder.encode_basestring  # the string form canonical() writes (ensure_ascii off)


def _subjects_json(subjects: str) -> str:
    """The subjects column as canonical() writes the list. References need no escaping (no
    quote, backslash or control character); for one that would, this returns a form no payload
    has, and the decoded comparison decides."""
    if '"' in subjects or "\\" in subjects:
        return "?"
    references = subjects.split()
    return '["' + '","'.join(references) + '"]' if references else "[]"


def _same_time(stored: str, hashed) -> bool:
    if stored == hashed:
        return True
    try:
        return dt.datetime.fromisoformat(stored) == dt.datetime.fromisoformat(hashed)
    except (TypeError, ValueError):
        return False


def _check_columns(row: tuple, document: dict) -> str:
    """Which stored column says something else than the hashed payload ("" when none)."""
    sequence, _, _, _, at, actor_id, actor_name, kind, subjects = row
    actual = {
        "sequence": sequence,
        "actor_id": actor_id,
        "actor_name": actor_name,
        "kind": kind,
        "subjects": subjects.split(),
    }
    for name in COLUMNS:
        if name == "sequence" and name not in document:
            continue  # queued through ledger_submit: its place is the chain's, not the payload's
        hashed = document.get(name)
        if not (_same_time(at, hashed) if name == "at" else hashed == actual[name]):
            return f"column {name} differs from the hashed payload"
    return ""


def _column_problem(payload: bytes, row: tuple) -> str:
    """Which stored column says something else than the hashed payload ("" when none).

    Compared as bytes, without decoding JSON: canonical() sorts the keys, so a payload reads
    {"actor_id","actor_name","at","data","kind","sequence","subjects"}, and the columns spell
    out every byte around `data`. Only a payload that differs is decoded, to name the column
    (or to accept an equivalent form, such as a time without microseconds).
    """
    sequence, _, _, _, at, actor_id, actor_name, kind, subjects = row
    if payload.startswith(
        f'{{"actor_id":{"null" if actor_id is None else actor_id},'
        f'"actor_name":{_quoted(actor_name)},"at":"{at}","data":'.encode()
    ) and payload.endswith(
        f',"kind":{_quoted(kind)},"sequence":{sequence},'
        f'"subjects":{_subjects_json(subjects)}}}'.encode()
    ):
        return ""
    try:
        document = json.loads(payload)
    except ValueError:
        return "payload is not the canonical JSON document"
    if not isinstance(document, dict):
        return "payload is not the canonical JSON document"
    return _check_columns(row, document)


def verify_rows(
    rows: Iterable[tuple],
    report: VerifyReport,
    *,
    keep: Iterable[int] = frozenset(),
    check_columns: bool = True,
) -> dict[int, str]:
    """Walk the chain; record the first broken link. Returns the hashes at the `keep` sequences.

    `rows` are tuples in ROW_FIELDS order, by sequence (streamed_rows). One tight loop: the
    sequence and the link compared, one SHA-256, and (check_columns) the columns compared with
    the payload's bytes (_column_problem).
    """
    keep, sha256 = frozenset(keep), hashlib.sha256
    prev_hash, prev_digest, expected = GENESIS_HASH, bytes(32), 1
    hashes: dict[int, str] = {}
    for row in rows:
        sequence, payload, row_prev_hash, row_hash = row[0], bytes(row[1]), row[2], row[3]
        if sequence != expected:
            how = "missing or deleted" if sequence > expected else "duplicated or reordered"
            report.fail(expected, f"entry {expected} is {how} (found {sequence})")
        elif row_prev_hash != prev_hash:
            report.fail(
                sequence, "previous hash does not match the entry before it (inserted or reordered)"
            )
        elif (digest := sha256(prev_digest + payload).digest()).hex() != row_hash:
            report.fail(sequence, "hash does not match the payload (edited)")
        elif check_columns and (problem := _column_problem(payload, row)):
            report.fail(sequence, problem + " (edited)")
        else:
            if sequence in keep:
                hashes[sequence] = row_hash
            prev_hash, prev_digest, expected = row_hash, digest, expected + 1
            continue
        report.entries += 1  # the broken entry was read too
        break
    report.entries += expected - 1
    if expected > 1:
        report.head_sequence, report.head_hash = expected - 1, prev_hash
    return hashes


def verify_checkpoints(
    report: VerifyReport, hashes: dict[int, str], checkpoints: Iterable[dict]
) -> None:
    """Each checkpoint's signature must hold and its head must still be in the chain."""
    from governance.ledger import signing

    for cp in checkpoints:
        signed = signing.verify_checkpoint(cp)
        # A checkpoint of the empty chain (sequence 0) pins the genesis hash.
        present = GENESIS_HASH if cp["sequence"] == 0 else hashes.get(cp["sequence"])
        if not signed:
            problem = "signature does not verify"
        elif cp["sequence"] > report.head_sequence:
            problem = (
                f"the chain ends at {report.head_sequence}, before this checkpoint (truncated)"
            )
        elif present != cp["hash"]:
            problem = "the chain's entry at this sequence has another hash (rewritten)"
        else:
            problem = ""
        report.checkpoints.append(
            {"sequence": cp["sequence"], "hash": cp["hash"], "ok": not problem, "problem": problem}
        )
        if problem and not report.problem:
            # A truncated chain is broken from its first missing entry, not at the checkpoint.
            truncated = cp["sequence"] > report.head_sequence
            first = report.head_sequence + 1 if truncated else cp["sequence"]
            report.first_broken_sequence, report.problem = first, f"checkpoint: {problem}"


@contextmanager
def streamed_rows(chunk: int = 20_000) -> Iterator[Iterator[tuple]]:
    """Every entry in sequence order as ROW_FIELDS tuples, streamed.

    PostgreSQL: a server-side cursor on the raw psycopg connection, fetched in chunks, inside a
    transaction (or the caller's); binary results, and `at` formatted by the server, so nothing
    is parsed per row but text. SQLite: the ORM's iterator.
    """
    connection = read_connection()  # the ORM's reads' (a replica's inside replica_reads())
    if connection.vendor != "postgresql":
        queryset = LedgerEntry.objects.order_by("sequence").values_list(*ROW_FIELDS)
        yield ((*row[:4], _utc_text(row[4]), *row[5:]) for row in queryset.iterator(chunk))
        return
    with transaction.atomic(using=connection.alias):
        connection.ensure_connection()
        name = f"locus_ledger_rows_{next(_cursor_numbers)}"
        with connection.connection.cursor(name=name, binary=True) as cursor:
            cursor.execute(ROWS_SQL)
            batches = _batches(cursor, chunk)
            try:
                yield batches
            finally:
                batches.close()  # a reader that stopped early: end the fetch before the cursor


_cursor_numbers = itertools.count(1)


def _utc_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _batches(cursor, chunk: int) -> Generator[tuple, None, None]:
    """The cursor's rows; the next chunk is fetched on a second thread meanwhile (psycopg waits
    for the server without the GIL), so PostgreSQL's work overlaps the verifier's."""
    with ThreadPoolExecutor(1, thread_name_prefix="ledger-rows") as fetcher:
        batch = fetcher.submit(cursor.fetchmany, chunk)
        while rows := batch.result():
            batch = fetcher.submit(cursor.fetchmany, chunk)
            yield from rows


def ledger_rows(chunk: int = 20_000) -> Iterator[tuple]:
    """Every entry in sequence order as ROW_FIELDS tuples (see streamed_rows)."""
    with streamed_rows(chunk) as rows:
        yield from rows


def checkpoint_documents() -> list[dict]:
    return [signing_document(cp) for cp in LedgerCheckpoint.objects.order_by("sequence", "id")]


def signing_document(cp: LedgerCheckpoint) -> dict:
    return {
        "sequence": cp.sequence,
        "hash": cp.hash,
        "at": cp.at.isoformat(),
        "algorithm": cp.algorithm,
        "key_id": cp.key_id,
        "public_key": cp.public_key,
        "signature": cp.signature,
    }


def head_row() -> tuple[int, str] | None:
    """The head row's (sequence, hash); None when there is none (no append yet)."""
    return LedgerHead.objects.filter(id=1).values_list("sequence", "hash").first()


def verify_head(report: VerifyReport, head: tuple[int, str] | None, hashes: dict) -> None:
    """The chain must reach the head row's entry, with its hash: a tail cut ends it sooner.

    The head was read before the entries, so entries appended meanwhile only lie past it.
    """
    if not report.chain_ok:
        return
    if head is None:
        if report.entries:
            report.fail(None, "the chain's head row is missing (removed)")
        return
    sequence, head_hash = head
    if sequence > report.head_sequence:
        report.fail(
            report.head_sequence + 1,
            f"the chain ends at entry {report.head_sequence} but its head row says {sequence}: "
            "entries were cut from its tail (truncated)",
        )
    elif (GENESIS_HASH if sequence == 0 else hashes.get(sequence)) != head_hash:
        report.fail(sequence, f"entry {sequence}'s hash is not the head row's (rewritten)")


def verify_ledger() -> VerifyReport:
    """Verify the whole chain in the database, its head row, and every stored checkpoint."""
    report = VerifyReport()
    checkpoints = checkpoint_documents()
    head = head_row()  # before the entries: an append meanwhile only adds entries past it
    keep = {cp["sequence"] for cp in checkpoints} | ({head[0]} if head else set())
    with streamed_rows() as rows:
        hashes = verify_rows(rows, report, keep=keep)
    verify_head(report, head, hashes)
    verify_checkpoints(report, hashes, checkpoints)
    return report
