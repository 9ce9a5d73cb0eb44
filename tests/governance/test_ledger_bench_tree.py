"""The ledger benchmark's tree builders build what Locus reads: the bulk-built tree over the
chain verifies, and the synthetic node table for proofs at scale answers proofs through the
functions the API calls (so the timings measure the real reads). No timing is asserted."""

from __future__ import annotations

import pytest
from django.db import connection

from bench import ledger_tree
from governance.ledger.chain import ledger_append
from governance.ledger.tree import consistency_proof, inclusion_proof, verify_tree
from locus_client import merkle

pytestmark = pytest.mark.django_db

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY and generate_series are PostgreSQL's"
)


@needs_postgresql
def test_the_bulk_built_tree_over_the_chain_verifies_and_proves():
    for i in range(13):
        ledger_append(actor=None, kind="test.bench", data={"i": i})

    ledger_tree.build_tree_bulk()

    assert verify_tree() == []
    proofs = ledger_tree._proof_samples(13, leaf_hash_at, samples=5, check=True)
    assert proofs["verified"] and proofs["inclusion"]["count"] == 5


def leaf_hash_at(index: int) -> str:
    return ledger_tree.sql(
        f"SELECT hash FROM {ledger_tree.NODE_TABLE} WHERE level = 0 AND index = %s", [index]
    )[0][0]


@needs_postgresql
def test_the_synthetic_node_table_answers_proofs_of_the_right_shape():
    ledger_tree.build_synthetic_nodes(1000)

    proof = inclusion_proof(ledger_tree._synthetic_hash(0, 617))
    assert (proof["leaf_index"], proof["tree_size"]) == (617, 1000)
    assert len(proof["audit_path"]) == len(merkle.inclusion_ranges(617, 1000))
    consistency = consistency_proof(300)
    assert len(consistency["consistency_path"]) == len(merkle.consistency_ranges(300, 1000))
    # The stored nodes are every complete subtree of a 1,000-leaf tree, by position.
    assert ledger_tree.sql(f"SELECT count(*) FROM {ledger_tree.NODE_TABLE}")[0][0] == sum(
        1000 >> level for level in range(10)
    )
