"""The hash-chained decision log: append, pseudonymise, verify, checkpoint.

Every entry's payload is canonical JSON (sorted keys, no spaces, UTF-8) of all its fields, and
hash = SHA-256(bytes.fromhex(previous hash) || payload). Appends lock the chain's head (on
PostgreSQL a one-row table locked FOR UPDATE; SQLite serialises writers) so the chain never
forks, and run inside the caller's transaction, so an entry exists exactly when the change it
records does; each append moves the head row (LedgerHead) too. Verification streams tuples from
a server-side cursor, compares bytes, and compares the chain's end with the head row, so
entries cut from the tail are found. Exports start with a signed header that says which
entries they hold and the hashes at both ends. People appear only as keyed pseudonyms: actors
as person:..., data subjects as subject:....
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max, Min, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

from governance.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from governance.models.ledger import GENESIS_HASH


def canonical(document: dict) -> bytes:
    """The one byte form of a document that is hashed and stored."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def _keyed(value: str) -> str:
    key = settings.LEDGER_PSEUDONYM_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def pseudonym(value: str) -> str:
    """A keyed pseudonym for a data subject: stable, not reversible without the key."""
    return f"subject:{_keyed(value.strip().lower())}"


def person_pseudonym(user_id: int) -> str:
    """How the ledger names a member of staff: keyed on their account, never their name."""
    return f"person:{_keyed(f'user:{user_id}')}"


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


def actor_names(entries: Iterable[LedgerEntry]) -> dict[str, str]:
    """{pseudonym: name} for the entries' actors whose accounts still exist (one query).

    For pages and answers to people who may read the ledger; the entries themselves keep only
    the pseudonym. An account's pseudonym is checked, so an entry whose actor_id was reused
    never shows another person's name.
    """
    ids = {entry.actor_id for entry in entries if entry.actor_id is not None}
    if not ids:
        return {}
    users = get_user_model().objects.filter(pk__in=ids)
    return {person_pseudonym(user.pk): _display_name(user) for user in users}


def person_names(pseudonyms: Iterable[str]) -> dict[str, str]:
    """{pseudonym: name} for pseudonyms without an account id beside them (checkpoints): every
    account's pseudonym is computed, so use it for a page's handful, not in bulk."""
    wanted = {name for name in pseudonyms if name.startswith("person:")}
    if not wanted:
        return {}
    names = {}
    for user in get_user_model().objects.only("pk", "username", "first_name", "last_name"):
        if (key := person_pseudonym(user.pk)) in wanted:
            names[key] = _display_name(user)
    return names


def actors_matching(text: str) -> list[str]:
    """The pseudonyms of the accounts whose name or username contains `text` (for filters)."""
    users = (
        get_user_model()
        .objects.annotate(full_name=Concat("first_name", Value(" "), "last_name"))
        .filter(Q(username__icontains=text) | Q(full_name__icontains=text))
    )
    return [person_pseudonym(pk) for pk in users.values_list("pk", flat=True)]


def filter_by_actor(queryset, text: str):
    """Entries whose actor is named by `text`: a pseudonym (or "system"), or a person's name."""
    return queryset.filter(Q(actor_name__icontains=text) | Q(actor_name__in=actors_matching(text)))


HEAD_TABLE = "governance_ledgerhead"  # PostgreSQL only: see migration 0007
ENTRY_COLUMNS = "sequence, at, actor_id, actor_name, kind, subjects, payload, prev_hash, hash"
LEDGER_LOCK_KEY = 0x4C656467  # "Ledg": the advisory lock appenders queue on, first come first
# served (waiters for a row lock are not: a newcomer can take the new row version first).
# Two statements, one round trip: the second takes its snapshot once the lock is held, and
# locks the head row too, so no append that skipped the advisory lock could fork the chain.
LOCK_HEAD = (
    f"SELECT pg_advisory_xact_lock({LEDGER_LOCK_KEY}); "
    f"SELECT sequence, hash FROM {HEAD_TABLE} WHERE id = 1 FOR UPDATE"
)
# A missing head row (a new database, or after a maintenance TRUNCATE) is rebuilt from the entries.
START_HEAD = f"""
INSERT INTO {HEAD_TABLE} (id, sequence, hash)
SELECT 1, COALESCE(MAX(sequence), 0), COALESCE(
    (SELECT hash FROM governance_ledgerentry ORDER BY sequence DESC LIMIT 1), %s
) FROM governance_ledgerentry
ON CONFLICT (id) DO NOTHING
"""
# SQLite: its writers are serialised, so the head row is simply overwritten after the insert.
MOVE_HEAD = f"""
INSERT INTO {HEAD_TABLE} (id, sequence, hash) VALUES (1, %s, %s)
ON CONFLICT (id) DO UPDATE SET sequence = excluded.sequence, hash = excluded.hash
"""
# The entry and the new head in one statement (one round trip): the row lock is already held.
WRITE_ENTRY = f"""
WITH entry AS (
    INSERT INTO governance_ledgerentry ({ENTRY_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
)
UPDATE {HEAD_TABLE} SET sequence = %s, hash = %s WHERE id = 1 RETURNING (SELECT id FROM entry)
"""


def _locked_head(cursor) -> tuple[int, str]:
    """The head (sequence, hash), locked until the transaction ends; appenders queue here.

    PostgreSQL: one round trip that waits for the previous appender's commit (an advisory
    lock, then the head row FOR UPDATE) and returns the head it wrote. SQLite: its writers are already serialised
    (transactions begin IMMEDIATE), so the last entry is the head.
    """
    if connection.vendor != "postgresql":
        head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
        return head or (0, GENESIS_HASH)
    cursor.execute(LOCK_HEAD)
    cursor.nextset()
    head = cursor.fetchone()
    if head is None:
        cursor.execute(START_HEAD, [GENESIS_HASH])
        cursor.execute(LOCK_HEAD.partition("; ")[2])
        head = cursor.fetchone()
    return head


def _actor(actor) -> tuple[int | None, str]:
    """The actor's id and the name an entry carries: a pseudonym, or "system"."""
    if actor is None:
        return None, "system"
    return actor.pk, person_pseudonym(actor.pk)


def _subject_list(subjects: Iterable[str]) -> list[str]:
    subject_list = sorted(set(subjects))
    if any(not subject or any(ch.isspace() for ch in subject) for subject in subject_list):
        raise ValueError(f"Ledger subjects are references without spaces, got {subject_list!r}")
    return subject_list


def ledger_append(
    *, actor, kind: str, subjects: Iterable[str] = (), data: dict | None = None
) -> LedgerEntry:
    """Add one event to the chain, inside the caller's transaction."""
    actor_id, actor_name = _actor(actor)
    subject_list = _subject_list(subjects)
    # No savepoint: an append that fails must take the caller's change down with it anyway.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        head_sequence, prev_hash = _locked_head(cursor)
        entry = LedgerEntry(
            sequence=head_sequence + 1,
            at=timezone.now(),  # taken under the lock: times follow sequences
            actor_id=actor_id,
            actor_name=actor_name,
            kind=kind,
            subjects=f" {' '.join(subject_list)} " if subject_list else "",
            prev_hash=prev_hash,
        )
        entry.payload = canonical(
            {
                "sequence": entry.sequence,
                "at": entry.at.isoformat(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "kind": kind,
                "subjects": subject_list,
                "data": data or {},
            }
        )
        entry.hash = chain_hash(prev_hash, entry.payload)
        if connection.vendor != "postgresql":
            entry.save()
            cursor.execute(MOVE_HEAD, [entry.sequence, entry.hash])
            return entry
        cursor.execute(WRITE_ENTRY, [*_entry_values(entry), entry.sequence, entry.hash])
        entry.pk = cursor.fetchone()[0]
    entry._state.adding, entry._state.db = False, connection.alias
    return entry


def _entry_values(entry: LedgerEntry) -> list:
    return [
        entry.sequence,
        entry.at,
        entry.actor_id,
        entry.actor_name,
        entry.kind,
        entry.subjects,
        entry.payload,
        entry.prev_hash,
        entry.hash,
    ]


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
    from governance import signing

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
    if connection.vendor != "postgresql":
        queryset = LedgerEntry.objects.order_by("sequence").values_list(*ROW_FIELDS)
        yield ((*row[:4], _utc_text(row[4]), *row[5:]) for row in queryset.iterator(chunk))
        return
    with transaction.atomic():
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


def _batches(cursor, chunk: int) -> Iterator[tuple]:
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


@transaction.atomic
def checkpoint_create(*, actor=None) -> LedgerCheckpoint:
    """Sign the current head and keep the signature; published, it pins the chain."""
    from governance import signing

    with connection.cursor() as cursor:
        _locked_head(cursor)  # no append commits while the head is read and signed
    head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, head_hash = head if head else (0, GENESIS_HASH)
    at = timezone.now()
    signed = signing.sign_checkpoint(sequence, head_hash, at.isoformat())
    _, name = _actor(actor)
    return LedgerCheckpoint.objects.create(
        sequence=sequence, hash=head_hash, at=at, created_by_name=name, **signed
    )


EXPORT_FORMAT = 2  # the header's "locus_ledger_export"


def export_range(
    since: dt.datetime | None = None, until: dt.datetime | None = None
) -> tuple[int, int]:
    """The sequences (first, last) an export of [since, until) holds; last < first when none.

    A slice is contiguous: from the first entry at or after `since` to the last before `until`
    (appends take their time under the chain's lock, so times follow sequences).
    """
    entries = LedgerEntry.objects.order_by()
    if until:
        entries = entries.filter(at__lt=until)
    last = entries.aggregate(last=Max("sequence"))["last"] or 0
    if not since:
        return 1, last
    first = entries.filter(at__gte=since).aggregate(first=Min("sequence"))["first"]
    return (first, last) if first else (last + 1, last)


def _hash_at(sequence: int) -> str:
    if sequence == 0:
        return GENESIS_HASH
    return LedgerEntry.objects.filter(sequence=sequence).values_list("hash", flat=True).get()


def export_header(
    first: int, last: int, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict:
    """The export's first line, signed: where it starts and ends, so that a cut is visible.

    `genesis` says the export starts at the chain's first entry: the verifier then insists on
    entry 1 linked to the genesis hash. Otherwise it is a slice from `from_sequence`, whose
    first entry must link to `prev_hash`. Its last entry must have `to_hash`. The signature
    (LEDGER_SIGNING_KEY) covers every field, so the header cannot be edited to match a cut.
    """
    from governance import signing

    prev_hash = _hash_at(first - 1)
    header = {
        "locus_ledger_export": EXPORT_FORMAT,
        "genesis": first == 1,
        "from_sequence": first,
        "to_sequence": last,
        "entries": max(0, last - first + 1),
        "prev_hash": prev_hash,
        "to_hash": _hash_at(last) if last >= first else prev_hash,
        "from": since.isoformat() if since else None,
        "to": until.isoformat() if until else None,
        "exported_at": timezone.now().isoformat(),
    }
    return signing.sign_header(header)


def export_line(row: dict) -> str:
    """One entry as the offline verifier reads it."""
    payload = bytes(row["payload"])
    document = json.loads(payload)
    return (
        json.dumps(
            {
                "sequence": row["sequence"],
                "at": document["at"],
                "actor_id": row["actor_id"],
                "actor_name": row["actor_name"],
                "kind": row["kind"],
                "subjects": row["subjects"].split(),
                "payload": base64.b64encode(payload).decode(),
                "prev_hash": row["prev_hash"],
                "hash": row["hash"],
            },
            ensure_ascii=False,
        )
        + "\n"
    )


def export_lines(
    *, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> Iterator[str]:
    """The chain (or the slice between two times) as JSON lines, streamed: the header
    (export_header), then one line per entry."""
    first, last = export_range(since, until)
    yield json.dumps(export_header(first, last, since, until)) + "\n"
    fields = (
        "sequence",
        "actor_id",
        "actor_name",
        "kind",
        "subjects",
        "payload",
        "prev_hash",
        "hash",
    )
    entries = LedgerEntry.objects.filter(sequence__gte=first, sequence__lte=last)
    for row in entries.order_by("sequence").values(*fields).iterator(chunk_size=5000):
        yield export_line(row)
