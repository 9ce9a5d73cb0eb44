"""The decision log as a Merkle tree (RFC 9162): receipts, lock-free appends, the sequencer
and proofs.

Leaf i of the tree is the chain's entry i + 1, its leaf hash SHA-256(0x00 || payload). Two ways
in: `ledger_append` (governance.ledger.chain) writes the chain at once under its lock, as the
services that record a change in the same transaction do; `ledger_submit` only inserts a queue
row (no shared lock) and answers a signed receipt. The sequencer, one at a time, moves committed
queue rows into the chain in queue order, adds every entry not yet in the tree as leaves,
stores the complete subtrees it finishes (`LedgerTreeNode`, keyed by level and index) and signs
a tree head, all in one transaction: a sequencer killed mid-batch leaves everything as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.actors import Actor
from governance.ledger.chain import (
    _subject_list,
    _with_request_id,
    actor_identity,
    canonical,
    chain_append_queued_many,
    sequence_after_commit,
)
from governance.models import LedgerEntry, LedgerQueued, LedgerTreeHead, LedgerTreeNode
from locus_client import merkle

logger = logging.getLogger(__name__)

SEQUENCER_LOCK_KEY = 0x4C534551  # "LSEQ": one sequencer at a time (PostgreSQL advisory lock)
BATCH = 5000
NODE_TABLE = LedgerTreeNode._meta.db_table


def merge_delay() -> int:
    """Seconds within which the log promises to include an entry it has given a receipt for."""
    return int(getattr(settings, "LEDGER_MERGE_DELAY", 5))


def receipt(leaf_hash: str, at: dt.datetime) -> dict[str, Any]:
    """The log's signed promise to include the leaf within the merge delay (CT's SCT)."""
    from governance.ledger import signing

    at_text = at.isoformat()
    signed = signing.sign_receipt(leaf_hash, at_text)
    return {"leaf_hash": leaf_hash, "at": at_text, "merge_delay": merge_delay(), **signed}


def entry_leaf_hash(entry: LedgerEntry) -> str:
    return merkle.leaf_hash(bytes(entry.payload)).hex()


def entry_receipt(entry: LedgerEntry) -> dict[str, Any]:
    """The receipt of an entry already in the chain (written by ledger_append)."""
    return receipt(entry_leaf_hash(entry), entry.at)


def ledger_submit(
    *, actor: Actor, kind: str, subjects: Iterable[str] = (), data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Queue one event for the log, in the caller's transaction, taking no shared lock; its
    receipt. The sequencer puts it in the chain and the tree within the merge delay."""
    event = _Event.of(actor, kind, subjects, data)
    leaf = merkle.leaf_hash(event.payload).hex()
    LedgerQueued.objects.create(
        at=event.at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        kind=kind,
        subjects=event.subjects_text,
        payload=event.payload,
        leaf_hash=leaf,
    )
    sequence_after_commit()
    return receipt(leaf, event.at)


@dataclass(frozen=True)
class _Event:
    """What a queued entry holds but its leaf hash: its canonical payload and columns."""

    at: dt.datetime
    actor_id: int | None
    actor_name: str
    subjects_text: str  # " a b " (spaces around: a subject is found by " a ")
    payload: bytes

    @classmethod
    def of(
        cls, actor: Actor, kind: str, subjects: Iterable[str], data: dict[str, Any] | None
    ) -> _Event:
        actor_id, actor_name = actor_identity(actor)
        subject_list = _subject_list(subjects)
        at = timezone.now()
        payload = canonical(
            {
                "at": at.isoformat(),
                "actor_id": actor_id,
                "actor_name": actor_name,
                "kind": kind,
                "subjects": subject_list,
                "data": _with_request_id(data),
                "nonce": uuid.uuid4().hex,  # two equal events at one instant are two leaves
            }
        )
        subjects_text = f" {' '.join(subject_list)} " if subject_list else ""
        return cls(at, actor_id, actor_name, subjects_text, payload)


# A slot's marker in an entry's data: a string no caller's data holds (a random token).
_SLOT_TOKEN = uuid.uuid4().hex
_SLOT = re.compile(f'"slot:{_SLOT_TOKEN}:([a-z_]+)"')


@dataclass(frozen=True)
class QueueStatement:
    """An INSERT ... SELECT that queues one event, for a caller's statement of its own."""

    sql: str  # yields the leaf_hash column
    params: list[Any]
    at: dt.datetime

    def receipt(self, leaf_hash: str) -> dict[str, Any]:
        return receipt(leaf_hash, self.at)


def ledger_submit_statement(
    *,
    actor: Actor,
    kind: str,
    subjects: Iterable[str],
    data: dict[str, Any],
    slots: dict[str, str],
    source: str,
) -> QueueStatement:
    """Queue one event in a statement of the caller's (PostgreSQL), as `ledger_submit` does, for
    data that holds values only that statement knows: the ids a data-modifying CTE draws from a
    sequence. `data` names each such value with `slot(name)`; `slots` gives, for each name, an
    SQL expression over `source` (a FROM clause of one row) whose text is that value's JSON.
    The database assembles the canonical payload and hashes it (SHA-256(0x00 || payload), as
    merkle.leaf_hash does), so the decisions and their entry are one statement, one round trip,
    atomic without a transaction of their own."""
    event = _Event.of(actor, kind, subjects, data)
    pieces = _SLOT.split(event.payload.decode())  # text, name, text, name, ..., text
    texts, names = pieces[0::2], pieces[1::2]
    if sorted(names) != sorted(slots):
        raise ValueError(f"Slots in the data {names} are not the slots given {sorted(slots)}")
    concat = " || ".join(
        part
        for text, name in zip(texts, [*names, None], strict=True)
        for part in ("%s", *([f"({slots[name]})"] if name else []))
    )
    sql = (
        f"INSERT INTO {LedgerQueued._meta.db_table}"
        " (at, actor_id, actor_name, kind, subjects, payload, leaf_hash)"
        " SELECT %s, %s, %s, %s, %s, p.payload,"
        " encode(sha256('\\x00'::bytea || p.payload), 'hex')"
        f" FROM (SELECT convert_to({concat}, 'UTF8') AS payload FROM {source}) AS p"
        " RETURNING leaf_hash"
    )
    columns = [event.at, event.actor_id, event.actor_name, kind, event.subjects_text]
    return QueueStatement(sql, [*columns, *texts], event.at)


def slot(name: str) -> str:
    """The marker of a value that `ledger_submit_statement`'s database fills in."""
    return f"slot:{_SLOT_TOKEN}:{name}"


def _take_sequencer_lock() -> bool:
    """One sequencer at a time: False when another holds the lock (it will do the work)."""
    if connection.vendor != "postgresql":
        return True  # SQLite serialises writers
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [SEQUENCER_LOCK_KEY])
        return bool(cursor.fetchone()[0])


def tree_size() -> int:
    """How many entries the tree holds: the size of its latest signed head."""
    head = LedgerTreeHead.objects.order_by("-size").values_list("size", flat=True).first()
    return head or 0


def read_nodes(nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Stored complete subtrees by (level, index): one query, O(log n) rows for a proof."""
    wanted = list(nodes)
    if not wanted:
        return {}
    # Raw SQL: compiling an ORM filter of ~2 log n ORed pairs costs more than the query.
    pairs = ", ".join(["(%s, %s)"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT level, "index", hash FROM {NODE_TABLE} WHERE (level, "index") IN ({pairs})',
            [number for node in wanted for number in node],
        )
        found = {(level, index): bytes.fromhex(value) for level, index, value in cursor}
    missing = set(wanted) - found.keys()
    if missing:
        raise LookupError(f"tree nodes missing: {sorted(missing)[:5]}")
    return {node: found[node] for node in wanted}


def _integrate(size: int, leaves: list[bytes]) -> list[LedgerTreeNode]:
    """The nodes that `leaves`, added to a tree of `size`, complete; reads the old tree's
    right edge only (O(log n) rows)."""
    edge = read_nodes(merkle.range_nodes(0, size))
    known = dict(edge)
    made = []
    for offset, leaf in enumerate(leaves):
        index, level, value = size + offset, 0, leaf
        known[(0, index)] = value
        made.append(LedgerTreeNode(level=0, index=index, hash=value.hex()))
        while index & 1:
            value = merkle.node_hash(known[(level, index - 1)], value)
            level, index = level + 1, index >> 1
            known[(level, index)] = value
            made.append(LedgerTreeNode(level=level, index=index, hash=value.hex()))
    return made


def _drain_queue(limit: int) -> int:
    """Move committed queue rows into the chain, in queue order; how many."""
    queued = list(LedgerQueued.objects.select_for_update().order_by("id")[:limit])
    chain_append_queued_many(queued)
    LedgerQueued.objects.filter(id__in=[row.id for row in queued]).delete()
    return len(queued)


def ledger_sequence(*, batch: int = BATCH) -> LedgerTreeHead | None:
    """Sequence one batch: queue into chain, chain into tree, a signed tree head; None when
    another sequencer is at work or there was nothing to do. One transaction."""
    from governance.ledger import signing

    with transaction.atomic():
        if not _take_sequencer_lock():
            return None
        _drain_queue(batch)
        size = tree_size()
        payloads = LedgerEntry.objects.filter(sequence__gt=size, sequence__lte=size + batch)
        rows = list(payloads.order_by("sequence").values_list("sequence", "payload"))
        if [sequence for sequence, _ in rows] != list(range(size + 1, size + 1 + len(rows))):
            raise RuntimeError(f"the chain has a gap after entry {size}: sequencing stopped")
        if not rows:
            return None
        leaves = [merkle.leaf_hash(bytes(payload)) for _, payload in rows]
        LedgerTreeNode.objects.bulk_create(_integrate(size, leaves), batch_size=2000)
        new_size = size + len(rows)
        root = merkle.range_hash(0, new_size, read_nodes(merkle.range_nodes(0, new_size))).hex()
        at = timezone.now()
        signed = signing.sign_tree_head(new_size, root, at.isoformat())
        head = LedgerTreeHead.objects.create(size=new_size, root=root, at=at, **signed)
    # Every batch (every second, or every commit under the embedded default): debug, not info.
    logger.debug("ledger sequenced", extra={"tree_size": new_size, "leaves": len(rows)})
    return head


def ledger_sequence_all() -> int:
    """Sequence until nothing is left (or another sequencer has the lock); the tree's size."""
    while ledger_sequence() is not None:
        pass
    return tree_size()


def tree_head_document(head: LedgerTreeHead) -> dict[str, Any]:
    """A signed tree head as published and as the offline check reads it."""
    return {
        "size": head.size,
        "root": head.root,
        "at": head.at.isoformat(),
        "algorithm": head.algorithm,
        "key_id": head.key_id,
        "public_key": head.public_key,
        "signature": head.signature,
    }


def empty_tree_head() -> dict[str, Any]:
    """The signed head of the empty tree (RFC 9162 allows size 0), before any entry."""
    from governance.ledger import signing

    at, root = timezone.now().isoformat(), merkle.EMPTY_ROOT.hex()
    return {"size": 0, "root": root, "at": at, **signing.sign_tree_head(0, root, at)}


def latest_tree_head() -> dict[str, Any]:
    """The latest signed tree head as published (the empty tree's before any)."""
    head = LedgerTreeHead.objects.order_by("-size").first()
    return tree_head_document(head) if head else empty_tree_head()


def inclusion_proof(leaf_hash: str, tree_size_: int | None = None) -> dict[str, Any]:
    """The audit path of a leaf in the tree of `tree_size_` (default: the latest head).

    LookupError when the leaf is not (yet) in the tree (nor any, before the first head);
    ValueError for a size the tree has not reached."""
    head = LedgerTreeHead.objects.order_by("-size").first() if tree_size_ is None else None
    if tree_size_ is None and head is None:
        raise LookupError("no entry is in the tree yet: nothing has been sequenced")
    head = head or _head_at(tree_size_)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT MIN("index") FROM {NODE_TABLE} WHERE level = 0 AND hash = %s', [leaf_hash]
        )
        index = cursor.fetchone()[0]
    if index is None or index >= head.size:
        raise LookupError("no entry with this leaf hash is in the tree at this size")
    path = merkle.proof_from_nodes(merkle.inclusion_ranges(index, head.size), read_nodes)
    return {
        "leaf_hash": leaf_hash,
        "leaf_index": index,
        "tree_size": head.size,
        "audit_path": [part.hex() for part in path],
        "tree_head": tree_head_document(head),
    }


def consistency_proof(first: int, second: int | None = None) -> dict[str, Any]:
    """The proof that the tree of `second` (default: the latest head) extends that of `first`."""
    head = _head_at(second)
    if first > head.size:
        raise ValueError(f"first ({first}) is larger than second ({head.size})")
    path = merkle.proof_from_nodes(merkle.consistency_ranges(first, head.size), read_nodes)
    earlier = LedgerTreeHead.objects.filter(size=first).first()
    return {
        "first": first,
        "second": head.size,
        "consistency_path": [part.hex() for part in path],
        "first_tree_head": tree_head_document(earlier) if earlier else None,
        "tree_head": tree_head_document(head),
    }


def _head_at(size: int | None) -> LedgerTreeHead:
    """The signed head of this size (the latest when None); ValueError when there is none."""
    heads = LedgerTreeHead.objects.order_by("-size")
    head = heads.first() if size is None else heads.filter(size=size).first()
    if head is None:
        latest = tree_size()
        wanted = "the latest size" if size is None else f"the size {size}"
        raise ValueError(f"No signed tree head has {wanted}; the tree has {latest} leaves")
    return head


def verify_tree() -> list[str]:
    """The tree against the chain, recomputed from every entry: each signed tree head's root
    must be the entries' (so an entry edited, removed, inserted or reordered is found), and the
    stored nodes must give the same roots (a rewritten tree is found). The problems, by name.
    How it stays fast at millions of entries: governance.ledger.treeverify."""
    from governance.ledger import treeverify

    stored = treeverify.start_stored_nodes()  # PostgreSQL reads the nodes meanwhile
    try:
        recomputed = merkle.MemoryTree.from_leaf_hashes(treeverify.leaf_hashes())
    except treeverify.OutOfOrder as exc:
        if stored is not None:
            stored.join()
        number, sequence = exc.args
        return [f"entry {number} is missing or out of order (found {sequence})"]
    return tree_head_problems(recomputed) + treeverify.rewritten_nodes(recomputed, stored)


def tree_head_problems(recomputed: merkle.MemoryTree) -> list[str]:
    """Each signed tree head against the tree recomputed from the entries: its signature, and
    its root that of the entries' first `size`."""
    from governance.ledger import signing
    from governance.ledger.proofcheck import tree_head_problem

    problems = []
    for head in LedgerTreeHead.objects.order_by("size"):
        if note := tree_head_problem(tree_head_document(head), signing.trusted_public_keys()):
            problems.append(note)
        if head.size > recomputed.size:
            problems.append(f"tree head {head.size}: the chain holds only {recomputed.size}")
        elif recomputed.root(head.size).hex() != head.root:
            problems.append(f"tree head {head.size}: its root is not the entries' (edited)")
    return problems
