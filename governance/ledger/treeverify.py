"""Recomputing the decision log's tree from every entry, fast enough for millions of entries.

`verify_tree` (governance.ledger.tree) reads every entry's payload, hashes it into a leaf and
builds the whole tree, then checks every stored node against it. At a million entries the
costs were ORM rows, a Python call per leaf and per node, and two million stored nodes read
and compared one by one. Here, on PostgreSQL:

* the payloads come through one server-side cursor in binary, 50,000 rows a fetch, only
  `sequence` and `payload`, in one snapshot; the leaves are hashed in a list comprehension and
  the tree built a level at a time (`MemoryTree.from_leaf_hashes`);
* the stored nodes are compared a slice at a time (16,384 of a level, by the index): PostgreSQL
  aggregates the slice into its index list and its hashes as one text, which are compared
  with the recomputed level in two C-level comparisons, no Python work per node. A slice that
  matches holds exactly the rows (level, i, hash_i) for its indexes; with the per-level counts
  that covers every stored row. Anything else (a rewritten hash, a missing, extra or duplicate
  row, a hash of another length, a level or index out of the tree) sends the check to the
  row-by-row comparison, which names the node as it always did.

Elsewhere (SQLite) the row-by-row path does everything.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

from django.db import connection, transaction

from governance.models import LedgerEntry, LedgerTreeNode
from locus_client import merkle

NODE_TABLE = LedgerTreeNode._meta.db_table
ENTRY_TABLE = LedgerEntry._meta.db_table
FETCH = 50_000
SLICE = 1 << 14


class OutOfOrder(Exception):
    """The chain has a gap or its sequences are out of order: (expected, found)."""


def leaf_hashes() -> list[bytes]:
    """Every entry's leaf hash in sequence order; OutOfOrder at the first entry whose sequence
    is not its position (1, 2, 3, ...)."""
    batches = _payload_batches_pg() if connection.vendor == "postgresql" else _payload_batches()
    sha256 = hashlib.sha256
    leaves: list[bytes] = []
    for sequences, payloads in batches:
        first = len(leaves) + 1
        if sequences != list(range(first, first + len(sequences))):
            for number, sequence in enumerate(sequences, start=first):
                if sequence != number:
                    raise OutOfOrder(number, sequence)
        leaves += [sha256(b"\x00" + payload).digest() for payload in payloads]
    return leaves


def _payload_batches_pg() -> Iterator[tuple[list[int], list[bytes]]]:
    """(sequences, payloads) in batches, one server-side cursor in binary: bytea as bytes."""
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name="verify_tree", binary=True) as cur:
        cur.execute(f"SELECT sequence, payload FROM {ENTRY_TABLE} ORDER BY sequence")
        while rows := cur.fetchmany(FETCH):
            yield [row[0] for row in rows], [row[1] for row in rows]


def _payload_batches() -> Iterator[tuple[list[int], list[bytes]]]:
    rows = LedgerEntry.objects.order_by("sequence").values_list("sequence", "payload")
    batch: list[tuple[int, bytes]] = []
    for sequence, payload in rows.iterator(chunk_size=20_000):
        batch.append((sequence, bytes(payload)))
        if len(batch) == FETCH:
            yield [s for s, _ in batch], [p for _, p in batch]
            batch = []
    if batch:
        yield [s for s, _ in batch], [p for _, p in batch]


class StoredNodes(threading.Thread):
    """The stored nodes summarised a slice at a time: (level, begin, count, ok, digest) per
    slice, ok when the slice's rows are exactly indexes begin..begin+count-1 each with a
    64-character hash, digest the SHA-256 of their hashes' text in index order.

    Outside a transaction it runs on a connection of its own while the entries are read and
    hashed (PostgreSQL works on the nodes while Python hashes); inside one (a test, a caller's
    atomic block) it runs on the caller's connection after the entries, as other connections
    would not see uncommitted rows."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.slices: list[tuple[int, int, int, bool, bytes]] = []
        self.levels: list[tuple[int, int, int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summarise()
        except BaseException as exc:  # reported to the caller, which falls back
            self.error = exc
        finally:
            connection.close()

    def summarise(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT level, count(*), max("index") FROM {NODE_TABLE} GROUP BY level')
            self.levels = cursor.fetchall()
            for level, count, _ in self.levels:
                for begin in range(0, count if level is not None else 0, SLICE):
                    self.slices.append(_slice_summary(cursor, level, begin, SLICE))


def _slice_summary(cursor, level: int, begin: int, size: int) -> tuple[int, int, int, bool, bytes]:
    cursor.execute(
        "SELECT array_agg(i), string_agg(h, ''), bool_and(length(h) = 64), count(*) FROM "
        f'(SELECT "index" AS i, hash AS h FROM {NODE_TABLE} WHERE level = %s '
        'AND "index" >= %s AND "index" < %s ORDER BY "index") AS part',
        [level, begin, begin + size],
    )
    indexes, text, lengths, count = cursor.fetchone()
    ok = lengths is True and indexes == list(range(begin, begin + count))
    return level, begin, count, ok, hashlib.sha256((text or "").encode()).digest()


def start_stored_nodes() -> StoredNodes | None:
    """The node summary under way on its own connection, when that can see what this one does."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    stored = StoredNodes()
    stored.start()
    return stored


def rewritten_nodes(recomputed: merkle.MemoryTree, stored: StoredNodes | None = None) -> list[str]:
    """Every stored subtree against the recomputed tree: proofs are read from these."""
    if connection.vendor == "postgresql":
        if stored is None:
            stored = StoredNodes()
            stored.summarise()
        else:
            stored.join()
        if stored.error is None and _stored_nodes_match(stored, recomputed):
            return []
    return _rewritten_node_by_node(recomputed)


def _rewritten_node_by_node(recomputed: merkle.MemoryTree) -> list[str]:
    nodes = LedgerTreeNode.objects.values_list("level", "index", "hash").order_by()
    for level, index, value in nodes.iterator(chunk_size=20_000):
        row = recomputed.levels[level] if level < len(recomputed.levels) else []
        if index >= len(row) or row[index].hex() != value:
            return [f"the stored tree node {level}/{index} was rewritten"]
    return []


def _stored_nodes_match(stored: StoredNodes, recomputed: merkle.MemoryTree) -> bool:
    """True when the stored nodes are, for each level, exactly indexes 0..k-1 with the
    recomputed hashes (k at most the recomputed level's length); False when anything differs
    (the row-by-row comparison then finds what)."""
    counts = {}
    for level, count, top in stored.levels:
        if level is None or level >= len(recomputed.levels) or top != count - 1:
            return False
        if count > len(recomputed.levels[level]):
            return False
        counts[level] = count
    seen = dict.fromkeys(counts, 0)
    sha256 = hashlib.sha256
    for level, begin, count, ok, digest in stored.slices:
        wanted = min(SLICE, counts[level] - begin)
        if not ok or count != wanted:
            return False
        text = b"".join(recomputed.levels[level][begin : begin + count]).hex()
        if sha256(text.encode()).digest() != digest:
            return False
        seen[level] += count
    return seen == counts
