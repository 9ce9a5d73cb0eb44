"""The hash-chained decision log: append, pseudonymise, verify, checkpoint.

Every entry's payload is canonical JSON (sorted keys, no spaces, UTF-8) of all its fields, and
hash = SHA-256(bytes.fromhex(previous hash) || payload). Appends take a lock (a PostgreSQL
advisory lock; SQLite serialises writers) so the chain never forks, and run inside the caller's
transaction, so an entry exists exactly when the change it records does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.models import LedgerCheckpoint, LedgerEntry
from governance.models.ledger import GENESIS_HASH

LEDGER_LOCK_KEY = 0x4C656467  # "Ledg": the advisory-lock key that serialises appends


def canonical(document: dict) -> bytes:
    """The one byte form of a document that is hashed and stored."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def pseudonym(value: str) -> str:
    """A keyed pseudonym for a person: stable, not reversible without the key."""
    key = settings.LEDGER_PSEUDONYM_KEY.encode()
    digest = hmac.new(key, value.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"subject:{digest[:32]}"


def _lock_chain() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK_KEY])


def _actor(actor) -> tuple[int | None, str]:
    if actor is None:
        return None, "system"
    return actor.pk, (actor.get_full_name() or actor.get_username())


def ledger_append(
    *, actor, kind: str, subjects: Iterable[str] = (), data: dict | None = None
) -> LedgerEntry:
    """Add one event to the chain, inside the caller's transaction."""
    with transaction.atomic():
        _lock_chain()
        head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
        sequence, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        actor_id, actor_name = _actor(actor)
        subject_list = sorted(set(subjects))
        if any(not subject or any(ch.isspace() for ch in subject) for subject in subject_list):
            raise ValueError(f"Ledger subjects are references without spaces, got {subject_list!r}")
        at = timezone.now()
        payload = canonical(
            {
                "sequence": sequence,
                "at": at.isoformat(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "kind": kind,
                "subjects": subject_list,
                "data": data or {},
            }
        )
        return LedgerEntry.objects.create(
            sequence=sequence,
            at=at,
            actor_id=actor_id,
            actor_name=actor_name,
            kind=kind,
            subjects=f" {' '.join(subject_list)} " if subject_list else "",
            payload=payload,
            prev_hash=prev_hash,
            hash=chain_hash(prev_hash, payload),
        )


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


def _check_columns(row: dict, document: dict) -> str:
    """The stored columns must say what the hashed payload says."""
    expected = {
        "sequence": document.get("sequence"),
        "actor_id": document.get("actor_id"),
        "actor_name": document.get("actor_name"),
        "kind": document.get("kind"),
        "subjects": document.get("subjects"),
        "at": document.get("at"),
    }
    actual = {
        "sequence": row["sequence"],
        "actor_id": row["actor_id"],
        "actor_name": row["actor_name"],
        "kind": row["kind"],
        "subjects": row["subjects"].split(),
        "at": row["at"].isoformat() if isinstance(row["at"], dt.datetime) else row["at"],
    }
    for name in COLUMNS:
        if expected[name] != actual[name]:
            return f"column {name} differs from the hashed payload"
    return ""


def verify_rows(
    rows: Iterator[dict],
    report: VerifyReport,
    *,
    keep: set[int] = frozenset(),
    check_columns: bool = True,
) -> dict[int, str]:
    """Walk the chain; record the first broken link. Returns the hashes at the `keep` sequences."""
    prev_hash, expected_sequence = GENESIS_HASH, 1
    hashes: dict[int, str] = {}
    for row in rows:
        report.entries += 1
        sequence, payload = row["sequence"], bytes(row["payload"])
        if sequence != expected_sequence:
            kind = (
                "missing or deleted" if sequence > expected_sequence else "duplicated or reordered"
            )
            report.fail(
                expected_sequence, f"entry {expected_sequence} is {kind} (found {sequence})"
            )
            return hashes
        if row["prev_hash"] != prev_hash:
            report.fail(
                sequence, "previous hash does not match the entry before it (inserted or reordered)"
            )
            return hashes
        if chain_hash(prev_hash, payload) != row["hash"]:
            report.fail(sequence, "hash does not match the payload (edited)")
            return hashes
        if check_columns:
            try:
                problem = _check_columns(row, json.loads(payload))
            except ValueError:
                problem = "payload is not the canonical JSON document"
            if problem:
                report.fail(sequence, problem + " (edited)")
                return hashes
        if sequence in keep:
            hashes[sequence] = row["hash"]
        prev_hash, expected_sequence = row["hash"], expected_sequence + 1
        report.head_sequence, report.head_hash = sequence, row["hash"]
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


def ledger_rows(chunk: int = 10_000) -> Iterator[dict]:
    """Every entry in sequence order, streamed."""
    fields = (
        "sequence",
        "at",
        "actor_id",
        "actor_name",
        "kind",
        "subjects",
        "payload",
        "prev_hash",
        "hash",
    )
    return LedgerEntry.objects.order_by("sequence").values(*fields).iterator(chunk_size=chunk)


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


def verify_ledger() -> VerifyReport:
    """Verify the whole chain in the database and every stored checkpoint against it."""
    report = VerifyReport()
    checkpoints = checkpoint_documents()
    hashes = verify_rows(ledger_rows(), report, keep={cp["sequence"] for cp in checkpoints})
    verify_checkpoints(report, hashes, checkpoints)
    return report


@transaction.atomic
def checkpoint_create(*, actor=None) -> LedgerCheckpoint:
    """Sign the current head and keep the signature; published, it pins the chain."""
    from governance import signing

    _lock_chain()
    head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, head_hash = head if head else (0, GENESIS_HASH)
    at = timezone.now()
    signed = signing.sign_checkpoint(sequence, head_hash, at.isoformat())
    _, name = _actor(actor)
    return LedgerCheckpoint.objects.create(
        sequence=sequence, hash=head_hash, at=at, created_by_name=name, **signed
    )


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
    """The chain (or the slice between two times) as JSON lines, streamed."""
    fields = (
        "sequence",
        "at",
        "actor_id",
        "actor_name",
        "kind",
        "subjects",
        "payload",
        "prev_hash",
        "hash",
    )
    queryset = LedgerEntry.objects.order_by("sequence")
    if since:
        queryset = queryset.filter(at__gte=since)
    if until:
        queryset = queryset.filter(at__lt=until)
    for row in queryset.values(*fields).iterator(chunk_size=5000):
        yield export_line(row)
