"""Tampering with the decision log's tree, as someone with database access would (raw SQL,
PostgreSQL's triggers switched off for the session): each is found, and named."""

from __future__ import annotations

import io

import pytest

from governance.ledger import signing
from governance.ledger.proofcheck import consistency_problems
from governance.ledger.tree import (
    consistency_proof,
    ledger_sequence,
    ledger_sequence_all,
    ledger_submit,
    tree_head_document,
    verify_tree,
)
from governance.models import LedgerTreeHead
from locus_client import merkle
from tests.governance.test_ledger import raw_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def log():
    """Two signed tree heads: the first (6 entries) published, the second (10)."""
    for i in range(6):
        ledger_submit(actor=None, kind="test.queued", data={"i": i})
    published = tree_head_document(ledger_sequence())
    for i in range(4):
        ledger_submit(actor=None, kind="test.queued", data={"later": i})
    ledger_sequence()
    assert verify_tree() == []
    return published


def _one_problem(fragment: str) -> None:
    problems = verify_tree()
    assert problems and any(fragment in problem for problem in problems), problems


def test_an_edited_entry_is_found(log):
    with raw_sql() as cursor:
        cursor.execute(
            "UPDATE governance_ledgerentry SET payload = %s WHERE sequence = 3", [b'{"forged":1}']
        )
    _one_problem("its root is not the entries'")


def test_a_deleted_entry_is_found(log):
    with raw_sql() as cursor:
        cursor.execute("DELETE FROM governance_ledgerentry WHERE sequence = 4")
    _one_problem("entry 4 is missing or out of order")


def test_a_cut_tail_is_found(log):
    with raw_sql() as cursor:
        cursor.execute("DELETE FROM governance_ledgerentry WHERE sequence > 8")
    _one_problem("the chain holds only 8")


def test_reordered_entries_are_found(log):
    with raw_sql() as cursor:
        cursor.execute(
            "SELECT payload FROM governance_ledgerentry WHERE sequence IN (2, 5) ORDER BY sequence"
        )
        second, fifth = (bytes(row[0]) for row in cursor.fetchall())
        cursor.execute("UPDATE governance_ledgerentry SET payload = %s WHERE sequence = 2", [fifth])
        cursor.execute(
            "UPDATE governance_ledgerentry SET payload = %s WHERE sequence = 5", [second]
        )
    _one_problem("its root is not the entries'")


def test_an_inserted_entry_is_found(log):
    with raw_sql() as cursor:
        cursor.execute(
            "UPDATE governance_ledgerentry SET sequence = sequence + 100 WHERE sequence >= 5"
        )
        cursor.execute(
            "INSERT INTO governance_ledgerentry (sequence, at, actor_id, actor_name, kind, subjects,"
            " payload, prev_hash, hash) SELECT 5, at, actor_id, actor_name, kind, subjects, %s,"
            " prev_hash, %s FROM governance_ledgerentry WHERE sequence = 4",
            [b'{"inserted":1}', "e" * 64],
        )
        cursor.execute(
            "UPDATE governance_ledgerentry SET sequence = sequence - 99 WHERE sequence >= 105"
        )
    _one_problem("its root is not the entries'")


def test_verify_ledger_with_tree_names_what_was_found(log):
    from django.core.management import CommandError, call_command

    call_command("verify_ledger", "--tree")
    with raw_sql() as cursor:
        cursor.execute("DELETE FROM governance_ledgerentry WHERE sequence > 8")
    out = io.StringIO()
    with pytest.raises(CommandError, match="truncated"):
        call_command("verify_ledger", "--tree", stdout=out)
    assert "tree: tree head 10: the chain holds only 8" in out.getvalue()


def test_rewritten_tree_nodes_are_found(log):
    with raw_sql() as cursor:
        cursor.execute(
            'UPDATE governance_ledgertreenode SET hash = %s WHERE level = 0 AND "index" = 9',
            ["ab" * 32],
        )
    _one_problem("the stored tree node 0/9 was rewritten")


def test_a_tree_rewritten_whole_and_resigned_is_not_consistent_with_the_published_head(log):
    """Everything rewritten, consistent with itself and signed with the log's own key: only the
    head published earlier tells."""
    with raw_sql() as cursor:
        cursor.execute("UPDATE governance_ledgerentry SET payload = %s WHERE sequence = 2", [b"{}"])
        cursor.execute("DELETE FROM governance_ledgertreenode")
        cursor.execute("DELETE FROM governance_ledgertreehead")
    assert ledger_sequence_all() == 10
    assert verify_tree() == []  # the database alone no longer tells
    latest = tree_head_document(LedgerTreeHead.objects.get())
    proof = consistency_proof(6, 10)
    problems = consistency_problems(log, latest, proof, {signing.public_key_b64()})
    assert any("rewritten" in problem for problem in problems), problems
    assert merkle.EMPTY_ROOT  # the module's constants are the RFC's
