"""The sequencer killed mid-batch (SIGKILL, in its own process, on PostgreSQL): nothing is lost
or sequenced twice, and while it held the batch no second sequencer ran."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from governance.ledger.tree import ledger_sequence, ledger_sequence_all, ledger_submit, tree_size
from governance.ledger.verification import verify_ledger
from governance.models import LedgerEntry, LedgerQueued, LedgerTreeHead, LedgerTreeNode
from tests.live import ROOT, shared_database_url

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="a killed connection's rollback is PostgreSQL's"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
QUEUED = 25
TIMEOUT = 120.0

# Sequence, but stall where the batch is all written but its tree head not yet signed.
STALLING_SEQUENCER = """
import os, pathlib, time
from governance.ledger import signing, tree

def stall(*args, **kwargs):
    pathlib.Path(os.environ["LEDGER_TEST_DIR"], "stalled").touch()
    time.sleep(600)

signing.sign_tree_head = stall
tree.ledger_sequence()
"""


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.05)


def test_a_sequencer_killed_mid_batch_loses_and_duplicates_nothing(tmp_path: Path):
    receipts = [ledger_submit(actor=None, kind="test.queued", data={"i": i}) for i in range(QUEUED)]
    environment = {
        **os.environ,
        "DATABASE_URL": shared_database_url(),
        "LEDGER_TEST_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", STALLING_SEQUENCER],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: (tmp_path / "stalled").exists() or process.poll() is not None, "stall")
        assert process.poll() is None, process.communicate()[0].decode()
        assert ledger_sequence() is None  # one sequencer at a time: this one stands aside
    finally:
        process.kill()  # SIGKILL, mid-batch
        process.wait()

    assert LedgerQueued.objects.count() == QUEUED
    assert not LedgerEntry.objects.exists()
    assert not LedgerTreeNode.objects.exists() and not LedgerTreeHead.objects.exists()

    _wait_for(lambda: ledger_sequence_all() == QUEUED, "the killed sequencer's lock to go")
    assert not LedgerQueued.objects.exists()
    assert LedgerEntry.objects.count() == QUEUED == tree_size()
    leaves = set(LedgerTreeNode.objects.filter(level=0).values_list("hash", flat=True))
    assert leaves == {receipt["leaf_hash"] for receipt in receipts}
    assert verify_ledger().ok
