"""Checkpoints (the signed head of the chain) and exports (the chain, or a slice, as JSON lines
that start with a signed header saying which entries they hold and the hashes at both ends).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from catalog.actors import Actor
from governance.ledger.chain import actor_identity, locked_head
from governance.models import LedgerCheckpoint, LedgerEntry
from governance.models.ledger import GENESIS_HASH


@transaction.atomic
def checkpoint_create(*, actor: Actor = None) -> LedgerCheckpoint:
    """Sign the current head and keep the signature; published, it pins the chain."""
    from governance.ledger import signing

    with connection.cursor() as cursor:
        locked_head(cursor)  # no append commits while the head is read and signed
    head = LedgerEntry.objects.order_by("-sequence").values_list("sequence", "hash").first()
    sequence, head_hash = head if head else (0, GENESIS_HASH)
    at = timezone.now()
    signed = signing.sign_checkpoint(sequence, head_hash, at.isoformat())
    _, name = actor_identity(actor)
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
    entry_hash: str = (
        LedgerEntry.objects.filter(sequence=sequence).values_list("hash", flat=True).get()
    )
    return entry_hash


def export_header(
    first: int, last: int, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> dict[str, Any]:
    """The export's first line, signed: where it starts and ends, so that a cut is visible.

    `genesis` says the export starts at the chain's first entry: the verifier then insists on
    entry 1 linked to the genesis hash. Otherwise it is a slice from `from_sequence`, whose
    first entry must link to `prev_hash`. Its last entry must have `to_hash`. The signature
    (LEDGER_SIGNING_KEY) covers every field, so the header cannot be edited to match a cut.
    """
    from governance.ledger import signing

    prev_hash = _hash_at(first - 1)
    header: dict[str, Any] = {
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
        **tree_cut(first, last),
    }
    return signing.sign_header(header)


def tree_cut(first: int, last: int) -> dict[str, Any]:
    """The signed tree head the export was cut at, and the audit paths of the export's first
    and last entries that it holds: an auditor who trusts that head (or checked it extends one
    published earlier) sees the export's ends are the log's, so a cut head or tail is found."""
    from governance.ledger.tree import read_nodes, tree_head_document
    from governance.models import LedgerTreeHead
    from locus_client import merkle

    head = LedgerTreeHead.objects.order_by("-size").first()
    if head is None:
        return {"tree_head": None, "tree_ends": []}
    reached = min(last, head.size)  # the export's last entry that the tree holds
    ends = sorted({first, reached}) if reached >= first else []
    paths = [
        {
            "sequence": sequence,
            "audit_path": [
                part.hex()
                for part in merkle.proof_from_nodes(
                    merkle.inclusion_ranges(sequence - 1, head.size), read_nodes
                )
            ],
        }
        for sequence in ends
    ]
    return {"tree_head": tree_head_document(head), "tree_ends": paths}


def export_line(row: dict[str, Any]) -> str:
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
