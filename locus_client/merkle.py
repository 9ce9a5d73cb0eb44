"""The Merkle tree of the decision log, RFC 9162 section 2.1. Standard library only, so the
offline verifier carries it.

Leaf hash SHA-256(0x00 || entry bytes), node hash SHA-256(0x01 || left || right), the tree
head MTH over any number of leaves (an empty tree's is SHA-256 of nothing), and inclusion and
consistency proofs: generated (2.1.3.1, 2.1.4.1) and verified (2.1.3.2, 2.1.4.2).

Proofs are made from stored complete subtrees: (level, index) names the subtree over leaves
[index * 2**level, (index + 1) * 2**level), and every hash a proof needs is the MTH of a range
that splits into O(log n) of them (`range_nodes`). Callers fetch those nodes however they store
them (a dict, a table) and fold them with `range_hash`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

HASH_SIZE = 32
Node = tuple[int, int]  # (level, index) of a complete subtree
NodeReader = Callable[[Iterable[Node]], Mapping[Node, bytes]]


class ProofError(ValueError):
    """A proof that does not verify, or a request for one that cannot exist."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of one leaf: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size > 1)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, bottom up: O(n) hashes, O(log n) memory per level."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        # An odd last node is promoted as is: RFC 9162's split at the largest power of two.
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def range_nodes(begin: int, end: int) -> list[Node]:
    """The complete subtrees, left to right, whose fold is MTH(leaves[begin:end]).

    [begin, end) is a subtree of RFC 9162's recursion: begin is a multiple of the largest
    power of two not above end - begin (true of every range a proof asks for).
    """
    nodes = []
    while begin < end:
        size = end - begin
        level = size.bit_length() - 1  # the largest complete subtree that fits
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def range_hash(begin: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(leaves[begin:end]) from its complete subtrees (`range_nodes`), folded right to left."""
    if begin == end:
        return EMPTY_ROOT
    parts = [nodes[node] for node in range_nodes(begin, end)]
    result = parts[-1]
    for part in reversed(parts[:-1]):
        result = node_hash(part, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make PATH(index, D[0:size]), leaf end first (2.1.3.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    ranges, begin, end = [], 0, size
    while end - begin > 1:
        k = _split(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    return ranges[::-1]


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make PROOF(first, D[0:second]) (2.1.4.1)."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    ranges: list[tuple[int, int]] = []
    begin, end, whole = 0, second, True
    while first - begin != end - begin:
        k = _split(end - begin)
        if first - begin <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin, whole = begin + k, False
    if not whole:
        ranges.append((begin, end))
    return ranges[::-1]


def nodes_for(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node the ranges need: what a store reads for one proof."""
    return {node for begin, end in ranges for node in range_nodes(begin, end)}


def proof_from_nodes(ranges: Sequence[tuple[int, int]], read: NodeReader) -> list[bytes]:
    """A proof's hashes, reading the stored nodes it needs in one call of `read`."""
    nodes = read(nodes_for(ranges))
    return [range_hash(begin, end, nodes) for begin, end in ranges]


def _shift_while_even(fn: int, sn: int) -> tuple[int, int]:
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from leaf hash `leaf` at `index` (2.1.3.2 steps 1-4)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(part) != HASH_SIZE for part in proof):
        raise ProofError("a hash in the proof is not 32 bytes")
    fn, sn, result = index, size - 1, leaf
    for part in proof:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(part, result)
            fn, sn = _shift_while_even(fn, sn)
        else:
            result = node_hash(result, part)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` under `root`."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the tree head's root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows tree `first` is a prefix of tree `second`
    (2.1.4.2)."""
    if not 0 <= first <= second:
        raise ProofError(f"a tree of size {second} cannot extend one of size {first}")
    if first == second or first == 0:
        if proof:
            raise ProofError("the proof should be empty for these sizes")
        if first == second and first_root != second_root:
            raise ProofError("two tree heads of the same size have different roots")
        return
    if not proof or any(len(part) != HASH_SIZE for part in proof):
        raise ProofError("the proof is empty or a hash in it is not 32 bytes")
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_result = second_result = path[0]
    for part in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            first_result = node_hash(part, first_result)
            second_result = node_hash(part, second_result)
            fn, sn = _shift_while_even(fn, sn)
        else:
            second_result = node_hash(second_result, part)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or first_result != first_root or second_result != second_root:
        raise ProofError("the consistency proof does not join the two tree heads")


class MemoryTree:
    """A tree held in memory as every complete subtree's hash: for tests and the verifier."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for leaf in leaf_hashes:
            self.append(leaf)

    @classmethod
    def from_leaf_hashes(cls, leaves: list[bytes]) -> MemoryTree:
        """The same tree as appending `leaves` one by one, built a level at a time: a tight loop
        of hashes (a million leaves in about a second), no per-leaf bookkeeping."""
        tree = cls()
        tree.levels = [leaves]
        sha256 = hashlib.sha256
        while len(row := tree.levels[-1]) > 1:
            pairs = iter(row)  # an odd last node waits: it completes no subtree yet
            parents = zip(pairs, pairs, strict=False)
            tree.levels.append([sha256(b"\x01" + a + b).digest() for a, b in parents])
        return tree

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add a leaf hash; the complete subtrees it finishes, (level, index) and hash."""
        made = [((0, self.size), leaf)]
        self.levels[0].append(leaf)
        level = 0
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            parent = node_hash(row[-2], row[-1])
            if len(self.levels) == level + 1:
                self.levels.append([])
            self.levels[level + 1].append(parent)
            made.append(((level + 1, len(self.levels[level + 1]) - 1), parent))
            level += 1
        return made

    def read(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        return {(level, index): self.levels[level][index] for level, index in nodes}

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return range_hash(0, size, self.read(range_nodes(0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        return proof_from_nodes(inclusion_ranges(index, size), self.read)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second = self.size if second is None else second
        return proof_from_nodes(consistency_ranges(first, second), self.read)
