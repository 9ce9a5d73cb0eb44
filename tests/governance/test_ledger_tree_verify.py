"""verify_tree's fast paths find what the row-by-row comparison finds: the tree built a level at
a time is the one built leaf by leaf, and stored nodes that are not exactly the recomputed ones
(another hash, its case, a row out of the tree, a duplicate) are named, both when the node
summary runs beside the entries on its own connection and when it runs after them."""

from __future__ import annotations

import pytest
from django.db import connection

from governance.ledger import treeverify
from governance.ledger.chain import ledger_append
from governance.ledger.tree import ledger_sequence_all, verify_tree
from locus_client import merkle
from tests.governance.test_ledger import raw_sql

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the fast paths are PostgreSQL's"
)
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 13, 33])
def test_the_tree_built_a_level_at_a_time_is_the_tree_built_leaf_by_leaf(size):
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    assert merkle.MemoryTree.from_leaf_hashes(leaves).levels == merkle.MemoryTree(leaves).levels


def _log(entries: int = 11) -> None:
    for i in range(entries):
        ledger_append(actor=None, kind="test.verify", data={"i": i})
    ledger_sequence_all()
    assert verify_tree() == []


def _tamper(statement: str, params: list | None = None) -> None:
    with raw_sql() as cursor:
        cursor.execute(statement, params)


TAMPERING = [
    (  # another hash
        'UPDATE governance_ledgertreenode SET hash = %s WHERE level = 1 AND "index" = 2',
        ["cd" * 32],
        "the stored tree node 1/2 was rewritten",
    ),
    (  # the right hash in capitals: not what proofs are read as
        'UPDATE governance_ledgertreenode SET hash = upper(hash) WHERE level = 0 AND "index" = 4',
        None,
        "the stored tree node 0/4 was rewritten",
    ),
    (  # a node past the tree
        'INSERT INTO governance_ledgertreenode (level, "index", hash) VALUES (0, 40, %s)',
        ["ab" * 32],
        "the stored tree node 0/40 was rewritten",
    ),
    (  # a level above the root
        'INSERT INTO governance_ledgertreenode (level, "index", hash) VALUES (9, 0, %s)',
        ["ab" * 32],
        "the stored tree node 9/0 was rewritten",
    ),
]


@needs_postgresql
@pytest.mark.django_db
@pytest.mark.parametrize(("statement", "params", "problem"), TAMPERING)
def test_tampered_nodes_are_named_in_the_callers_transaction(statement, params, problem):
    _log()
    _tamper(statement, params)
    assert verify_tree() == [problem]


@needs_postgresql
@committed
@pytest.mark.parametrize(("statement", "params", "problem"), TAMPERING)
def test_tampered_nodes_are_named_with_the_summary_on_its_own_connection(
    statement, params, problem
):
    _log()
    assert not connection.in_atomic_block  # so the summary runs on a connection of its own
    _tamper(statement, params)
    assert verify_tree() == [problem]


@needs_postgresql
@pytest.mark.django_db
def test_a_duplicated_node_with_its_constraint_dropped_is_named():
    _log()
    _tamper("ALTER TABLE governance_ledgertreenode DROP CONSTRAINT ledger_tree_node_position")
    _tamper(
        'INSERT INTO governance_ledgertreenode (level, "index", hash) VALUES (0, 3, %s)',
        ["ef" * 32],
    )
    assert verify_tree() == ["the stored tree node 0/3 was rewritten"]


@needs_postgresql
@committed
def test_a_clean_tree_verifies_with_the_summary_on_its_own_connection(monkeypatch):
    monkeypatch.setattr(treeverify, "SLICE", 4)  # several slices a level
    monkeypatch.setattr(treeverify, "FETCH", 3)  # several fetches of entries
    _log(entries=23)
    row_by_row, beside = [], []
    monkeypatch.setattr(
        treeverify, "_rewritten_node_by_node", lambda tree: row_by_row.append(1) or []
    )
    start = treeverify.start_stored_nodes
    monkeypatch.setattr(
        treeverify, "start_stored_nodes", lambda: beside.append(start()) or beside[0]
    )
    assert verify_tree() == []
    assert row_by_row == []  # the fast path alone said so
    assert isinstance(beside[0], treeverify.StoredNodes)  # on its own connection


@needs_postgresql
@committed
def test_a_missing_entry_is_named_with_the_summary_on_its_own_connection():
    _log()
    _tamper("DELETE FROM governance_ledgerentry WHERE sequence = 4")
    assert verify_tree() == ["entry 4 is missing or out of order (found 5)"]
