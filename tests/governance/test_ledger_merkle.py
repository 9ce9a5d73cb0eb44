"""The decision log's Merkle tree (RFC 9162 2.1): published reference vectors, then properties
over random trees (every honest proof verifies, every tampered one fails)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from locus_client import merkle
from locus_client.merkle import MemoryTree, ProofError

VECTORS = json.loads((Path(__file__).parent / "data" / "rfc6962_vectors.json").read_text())
LEAVES = [bytes.fromhex(leaf) for leaf in VECTORS["leaf_inputs"]]
ROOTS = [bytes.fromhex(root) for root in VECTORS["root_hashes"]]
REFERENCE = MemoryTree(merkle.leaf_hash(leaf) for leaf in LEAVES)


def _hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def test_node_hashes_match_the_reference_complete_subtrees():
    for level, row in enumerate(VECTORS["node_hashes"]):
        assert REFERENCE.levels[level] == _hashes(row)


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_match_the_reference_for_every_size(size):
    assert REFERENCE.root(size) == ROOTS[size]
    leaf_hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES[:size]]
    assert merkle.root_from_leaf_hashes(leaf_hashes) == ROOTS[size]


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"], ids=str)
def test_inclusion_proofs_match_the_reference_and_verify(vector):
    index, size, proof = vector["leaf"] - 1, vector["size"], _hashes(vector["proof"])
    assert REFERENCE.inclusion_proof(index, size) == proof
    leaf = merkle.leaf_hash(LEAVES[index])
    merkle.verify_inclusion(index, size, leaf, proof, ROOTS[size])


@pytest.mark.parametrize("vector", VECTORS["consistency_proofs"], ids=str)
def test_consistency_proofs_match_the_reference_and_verify(vector):
    first, second, proof = vector["first"], vector["second"], _hashes(vector["proof"])
    assert REFERENCE.consistency_proof(first, second) == proof
    merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


def _inclusion_tamperings(index, size, proof, root, leaf):
    """What an attacker might try (after transparency-dev/merkle's corruptInclusionProof)."""
    some = bytes.fromhex("abacaba0" + "0" * 56)
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, some, proof, root),
        (index, size, leaf, proof, merkle.EMPTY_ROOT),
        (index, size, leaf, proof, some),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, [*proof, b""], root),
    ]
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 8
        probes.append((index, size, leaf, [*proof[:i], bytes(flipped), *proof[i + 1 :]], root))
    if proof:
        probes.append((index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], some, *proof[1:]], root))
    return [
        probe for probe in probes if probe[:2] != (index, size) or probe[2:] != (leaf, proof, root)
    ]


def _assert_fails(check, *args):
    with pytest.raises(ProofError):
        check(*args)


@pytest.mark.parametrize("vector", VECTORS["inclusion_proofs"], ids=str)
def test_tampered_reference_inclusion_proofs_fail(vector):
    index, size, proof = vector["leaf"] - 1, vector["size"], _hashes(vector["proof"])
    leaf = merkle.leaf_hash(LEAVES[index])
    for probe in _inclusion_tamperings(index, size, proof, ROOTS[size], leaf):
        _assert_fails(merkle.verify_inclusion, *probe)


def _consistency_tamperings(first, second, first_root, second_root, proof):
    probes = [
        (first - 1, second, first_root, second_root, proof),
        (first + 1, second, first_root, second_root, proof),
        (first ^ 2, second, first_root, second_root, proof),
        (first, second * 2, first_root, second_root, proof),
        (first, second // 2, first_root, second_root, proof),
        (first, second, b"WrongRoot", second_root, proof),
        (first, second, first_root, b"WrongRoot", proof),
        (first, second, second_root, first_root, proof),
        (first, second, first_root, second_root, []),
        (first, second, first_root, second_root, [*proof, first_root]),
        (first, second, first_root, second_root, [*proof, second_root]),
        (first, second, first_root, second_root, [first_root, *proof]),
        (first, second, first_root, second_root, [proof[0], *proof]),
        (first, second, first_root, second_root, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = bytearray(proof[i])
        flipped[0] ^= 16
        probes.append(
            (first, second, first_root, second_root, [*proof[:i], bytes(flipped), *proof[i + 1 :]])
        )
    return probes


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["consistency_proofs"] if v["proof"]], ids=str
)
def test_tampered_reference_consistency_proofs_fail(vector):
    first, second, proof = vector["first"], vector["second"], _hashes(vector["proof"])
    for probe in _consistency_tamperings(first, second, ROOTS[first], ROOTS[second], proof):
        _assert_fails(merkle.verify_consistency, *probe)


def test_trivial_consistency_cases_follow_the_reference():
    one, two = b"\x01" * 32, b"\x02" * 32
    merkle.verify_consistency(0, 0, one, one, [])
    merkle.verify_consistency(0, 1, one, two, [])
    merkle.verify_consistency(1, 1, two, two, [])
    for probe in [
        (1, 1, one, two, []),
        (1, 0, one, two, []),
        (2, 1, one, two, []),
        (1, 2, one, two, []),
        (0, 1, one, one, [merkle.EMPTY_ROOT]),
    ]:
        _assert_fails(merkle.verify_consistency, *probe)


def test_proofs_for_leaves_or_sizes_outside_the_tree_are_refused():
    for index, size in [(0, 0), (1, 1), (2, 1), (-1, 3)]:
        _assert_fails(merkle.inclusion_ranges, index, size)
    _assert_fails(merkle.consistency_ranges, 5, 4)


def _random_tree(data):
    leaves = data.draw(st.lists(st.binary(max_size=8), min_size=1, max_size=70), label="leaves")
    return MemoryTree(merkle.leaf_hash(leaf) for leaf in leaves)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_inclusion_proof_in_a_random_tree_verifies_and_tampering_fails(data):
    tree = _random_tree(data)
    size = data.draw(st.integers(1, tree.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    root, leaf = tree.root(size), tree.levels[0][index]
    assert root == merkle.root_from_leaf_hashes(tree.levels[0][:size])
    proof = tree.inclusion_proof(index, size)
    assert len(proof) <= (size - 1).bit_length()
    merkle.verify_inclusion(index, size, leaf, proof, root)
    for probe in _inclusion_tamperings(index, size, proof, root, leaf):
        if probe[0] != index and 0 <= probe[0] < size and tree.levels[0][probe[0]] == leaf:
            continue  # an equal leaf elsewhere: the same proof may honestly hold there too
        _assert_fails(merkle.verify_inclusion, *probe)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_consistency_between_any_two_sizes_verifies_and_tampering_fails(data):
    tree = _random_tree(data)
    second = data.draw(st.integers(1, tree.size), label="second")
    first = data.draw(st.integers(1, second), label="first")
    proof = tree.consistency_proof(first, second)
    first_root, second_root = tree.root(first), tree.root(second)
    merkle.verify_consistency(first, second, first_root, second_root, proof)
    if not proof:
        assert first == second
        return
    for probe in _consistency_tamperings(first, second, first_root, second_root, proof):
        _assert_fails(merkle.verify_consistency, *probe)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_rewritten_tree_is_not_consistent_with_the_earlier_head(data):
    tree = _random_tree(data)
    first = data.draw(st.integers(1, tree.size), label="first")
    changed = data.draw(st.integers(0, first - 1), label="changed leaf")
    leaves = list(tree.levels[0])
    leaves[changed] = merkle.leaf_hash(b"rewritten" + leaves[changed])
    rewritten = MemoryTree(leaves)
    proof = rewritten.consistency_proof(first, rewritten.size)
    with pytest.raises(ProofError):
        merkle.verify_consistency(first, rewritten.size, tree.root(first), rewritten.root(), proof)
