"""The decision log's Merkle tree: lock-free appends with receipts, the sequencer (queue into
chain, chain into tree, a signed tree head per batch, all or nothing), proofs read from the
stored subtrees, and the migration that makes the existing chain the tree's first leaves."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.ledger import signing
from governance.ledger.chain import ledger_append
from governance.ledger.proofcheck import consistency_problems, receipt_message, receipt_problems
from governance.ledger.tree import (
    consistency_proof,
    entry_receipt,
    inclusion_proof,
    ledger_sequence,
    ledger_sequence_all,
    ledger_submit,
    tree_size,
)
from governance.ledger.verification import verify_ledger
from governance.ledger.verify import signature_problem
from governance.models import LedgerEntry, LedgerQueued, LedgerTreeHead, LedgerTreeNode
from locus_client import merkle

pytestmark = pytest.mark.django_db


def _trusted() -> set[str]:
    return {signing.public_key_b64()}


def _entries_root() -> bytes:
    payloads = LedgerEntry.objects.order_by("sequence").values_list("payload", flat=True)
    return merkle.root_from_leaf_hashes([merkle.leaf_hash(bytes(p)) for p in payloads])


def _submit(n: int, kind: str = "test.queued") -> list[dict]:
    return [ledger_submit(actor=None, kind=kind, data={"n": i}) for i in range(n)]


def test_a_submitted_entry_gets_a_signed_receipt_and_waits_in_the_queue():
    receipt = _submit(1)[0]
    queued = LedgerQueued.objects.get()
    assert receipt["leaf_hash"] == queued.leaf_hash == merkle.leaf_hash(queued.payload).hex()
    assert receipt["merge_delay"] == 5
    assert not LedgerEntry.objects.exists()
    message = receipt_message(receipt["leaf_hash"], receipt["at"])
    assert signature_problem(receipt, message, _trusted()) == ""
    forged = {**receipt, "at": "2020-01-01T00:00:00+00:00"}
    assert signature_problem(forged, receipt_message(forged["leaf_hash"], forged["at"]), _trusted())


def test_the_sequencer_moves_the_queue_into_the_chain_and_the_tree_and_signs_a_head():
    ledger_append(actor=None, kind="test.inline", data={"first": True})
    receipts = _submit(4)
    head = ledger_sequence()
    assert head is not None and head.size == 5 == tree_size()
    assert not LedgerQueued.objects.exists()
    assert bytes.fromhex(head.root) == _entries_root()
    assert verify_ledger().ok  # queued payloads (no sequence in them) still verify as a chain
    for receipt in receipts:
        proof = inclusion_proof(receipt["leaf_hash"])
        assert receipt_problems(receipt, proof, proof["tree_head"], _trusted()) == []
    assert ledger_sequence() is None  # nothing new: no new head


def test_batches_make_the_tree_a_reference_tree_would_and_heads_stay_consistent():
    heads = []
    for round_ in range(5):
        _submit(round_ * 3 + 1)
        ledger_append(actor=None, kind="test.inline", data={"round": round_})
        while (head := ledger_sequence(batch=4)) is not None:
            heads.append(head)
    payloads = LedgerEntry.objects.order_by("sequence").values_list("payload", flat=True)
    reference = merkle.MemoryTree(merkle.leaf_hash(bytes(p)) for p in payloads)
    stored = {(n.level, n.index): n.hash for n in LedgerTreeNode.objects.all()}
    expected = {
        (level, index): value.hex()
        for level, row in enumerate(reference.levels)
        for index, value in enumerate(row)
    }
    assert stored == expected
    documents = [inclusion_proof(expected[(0, 0)], h.size)["tree_head"] for h in heads]
    for position, old in enumerate(documents):
        for new in documents[position:]:
            proof = consistency_proof(old["size"], new["size"])
            assert consistency_problems(old, new, proof, _trusted()) == []


def test_an_inclusion_proof_reads_a_constant_number_of_queries_and_log_n_nodes():
    _submit(40)
    ledger_sequence_all()
    leaf = LedgerTreeNode.objects.get(level=0, index=17).hash
    with CaptureQueriesContext(connection) as queries:
        proof = inclusion_proof(leaf)
    assert len(queries) == 3  # the head, the leaf's index, the nodes of the path
    assert len(proof["audit_path"]) == 6  # ceil(log2(40))


def test_a_sequencer_that_fails_mid_batch_leaves_everything_as_it_was(monkeypatch):
    _submit(3)

    def fail(*args, **kwargs):
        raise RuntimeError("killed while signing")

    monkeypatch.setattr(signing, "sign_tree_head", fail)
    with pytest.raises(RuntimeError):
        ledger_sequence()
    assert LedgerQueued.objects.count() == 3
    assert not LedgerEntry.objects.exists()
    assert not LedgerTreeNode.objects.exists() and not LedgerTreeHead.objects.exists()
    monkeypatch.undo()
    assert ledger_sequence().size == 3
    assert LedgerEntry.objects.count() == 3


def test_an_entry_written_inline_has_a_receipt_that_the_tree_later_proves():
    entry = ledger_append(actor=None, kind="test.inline")
    receipt = entry_receipt(entry)
    ledger_sequence_all()
    proof = inclusion_proof(receipt["leaf_hash"])
    assert proof["leaf_index"] == entry.sequence - 1
    assert receipt_problems(receipt, proof, proof["tree_head"], _trusted()) == []


def test_proofs_for_what_the_tree_does_not_hold_are_refused():
    _submit(2)
    ledger_sequence_all()
    with pytest.raises(LookupError):
        inclusion_proof("ab" * 32)
    with pytest.raises(ValueError):
        inclusion_proof(LedgerTreeNode.objects.get(level=0, index=0).hash, 7)
    with pytest.raises(ValueError):
        consistency_proof(3, 2)


def test_the_migration_makes_the_existing_chain_the_first_leaves_and_checks_it():
    from importlib import import_module

    migration = import_module("governance.migrations.0020_ledger_merkle_tree")
    for i in range(11):
        ledger_append(actor=None, kind="test.before-the-tree", data={"i": i})
    migration.build_tree(apps, None)
    head = LedgerTreeHead.objects.get()
    assert head.size == 11 and bytes.fromhex(head.root) == _entries_root()
    leaf = LedgerTreeNode.objects.get(level=0, index=4).hash
    proof = inclusion_proof(leaf)
    assert (
        receipt_problems(
            {**entry_receipt(LedgerEntry.objects.get(sequence=5)), "leaf_hash": leaf},
            proof,
            proof["tree_head"],
            _trusted(),
        )
        == []
    )
    # The sequencer carries on from the migrated tree.
    _submit(2)
    assert ledger_sequence().size == 13


def test_the_migration_refuses_a_broken_chain():
    from importlib import import_module

    migration = import_module("governance.migrations.0020_ledger_merkle_tree")
    rows = [(1, b"{}", "0" * 64, "f" * 64)]
    with pytest.raises(RuntimeError, match="hash does not match"):
        migration._verified_leaves(rows)
    with pytest.raises(RuntimeError, match="chain is broken"):
        migration._verified_leaves([(2, b"{}", "0" * 64, "f" * 64)])


def test_the_migration_checks_the_built_tree_against_the_entries_after(monkeypatch):
    """After building, the stored tree's root is recomputed from the entries' leaves apart: a
    tree built wrong (here a stored subtree's hash) is refused, and no tree head is signed."""
    from importlib import import_module

    migration = import_module("governance.migrations.0020_ledger_merkle_tree")
    for i in range(11):
        ledger_append(actor=None, kind="test.before-the-tree", data={"i": i})
    append = merkle.MemoryTree.append

    def built_wrong(tree: merkle.MemoryTree, leaf: bytes) -> list:
        made = append(tree, leaf)
        return [(node, b"\xff" * 32 if node == (3, 0) else value) for node, value in made]

    monkeypatch.setattr(merkle.MemoryTree, "append", built_wrong)
    with pytest.raises(RuntimeError, match="not the entries' root; not migrated"):
        migration.build_tree(apps, None)
    assert not LedgerTreeHead.objects.exists()


def test_under_the_embedded_default_the_sequencer_runs_once_after_the_commit(
    settings, django_capture_on_commit_callbacks
):
    settings.LEDGER_SEQUENCE_ON_COMMIT = True
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ledger_append(actor=None, kind="test.inline")
        _submit(3)
    assert len(callbacks) == 1
    assert tree_size() == 4 and not LedgerQueued.objects.exists()


def test_beat_and_the_command_run_the_sequencer():
    import io

    from django.conf import settings
    from django.core.management import call_command

    from governance import tasks
    from governance.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["ledger-sequence"]
    app.loader.import_default_modules()  # as a worker does: autodiscovery
    assert entry["task"] in app.tasks and entry["schedule"] <= 5
    _submit(2)
    assert tasks.ledger_sequence() == 2
    _submit(1)
    out = io.StringIO()
    call_command("sequence_ledger", stdout=out)
    assert out.getvalue().strip() == "tree size 3"
