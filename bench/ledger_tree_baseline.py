"""The tree verifier that `verify_tree` replaced, kept as the `treeverify` part's baseline:
ORM rows through a server-side cursor, one `MemoryTree.append` per leaf, and every stored node
read back and compared one at a time."""

from __future__ import annotations


def previous_verify_tree() -> list[str]:
    from governance.ledger.tree import tree_head_problems
    from governance.models import LedgerEntry, LedgerTreeNode
    from locus_client import merkle

    payloads = LedgerEntry.objects.order_by("sequence").values_list("sequence", "payload")
    recomputed = merkle.MemoryTree()
    for number, (sequence, payload) in enumerate(payloads.iterator(chunk_size=20_000), start=1):
        if sequence != number:
            return [f"entry {number} is missing or out of order (found {sequence})"]
        recomputed.append(merkle.leaf_hash(bytes(payload)))
    problems = tree_head_problems(recomputed)
    nodes = LedgerTreeNode.objects.values_list("level", "index", "hash").order_by()
    for level, index, value in nodes.iterator(chunk_size=20_000):
        row = recomputed.levels[level] if level < len(recomputed.levels) else []
        if index >= len(row) or row[index].hex() != value:
            return [*problems, f"the stored tree node {level}/{index} was rewritten"]
    return problems
