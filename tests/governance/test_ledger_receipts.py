"""Receipts end to end: decision paths queue their entry without the chain's lock and answer
its receipt (checks, training-run registration); `python -m governance.verify` checks a
receipt's inclusion and the log's history offline; an export names the tree head it was cut at,
so a cut head or tail, or an export that is not the log's, is named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from governance.ledger import signing
from governance.ledger.chain import canonical, ledger_append
from governance.ledger.export import export_lines
from governance.ledger.tree import (
    consistency_proof,
    inclusion_proof,
    ledger_sequence,
    ledger_submit,
    tree_head_document,
    verify_tree,
)
from governance.ledger.verify import verify_export
from governance.models import LedgerEntry, LedgerQueued, LedgerTreeHead
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _key() -> str:
    return signing.public_key_b64()


def _offline(lines: list[str]) -> dict:
    return verify_export(lines, [], trusted_keys={_key()})


# --- Decision paths queue, and answer with the receipt ------------------------------------------


def test_a_training_run_registration_answers_the_receipt_of_its_decisions(api_client, engineer):
    from governance.policy.index import forget_index

    forget_index()
    make_dataset(engineer, slug="eu-customers", allowed_processing_regions=["aws:eu-central-1"])
    body = {
        "name": "churn",
        "purpose": "model-training",
        "compute_regions": ["aws:eu-central-1", "aws:sa-east-1"],
        "datasets": [{"dataset": "eu-customers", "version": "1"}],
    }
    answer = api_client(engineer).post("/api/v1/training-runs/", body, format="json")
    forget_index()
    assert answer.status_code == 201, answer.content
    receipts = [decision["receipt"] for decision in answer.json()["decisions"]]
    assert len(receipts) == 2 and receipts[0] == receipts[1]  # one entry records the batch
    queued = LedgerQueued.objects.get(kind="locality.decisions")
    assert queued.leaf_hash == receipts[0]["leaf_hash"]
    assert not LedgerEntry.objects.filter(kind="locality.decisions").exists()  # no chain lock
    ledger_sequence()
    proof = inclusion_proof(receipts[0]["leaf_hash"])
    entry = LedgerEntry.objects.get(kind="locality.decisions")
    assert proof["leaf_index"] == entry.sequence - 1
    assert json.loads(bytes(entry.payload))["data"]["count"] == 2


def test_a_batch_of_checks_is_one_entry_naming_its_decisions_in_the_logs_own_bytes(
    api_client, engineer
):
    """On PostgreSQL the decisions and their entry are one statement whose payload the
    database assembles: it must be the bytes the log hashes, naming the ids it drew."""
    from governance.policy.index import forget_index
    from locus_client import merkle
    from locus_client.proofcheck import receipt_problems

    forget_index()
    make_dataset(engineer, slug="eu-customers", allowed_processing_regions=["aws:eu-central-1"])
    check = {"dataset": "eu-customers", "action": "train", "purpose": "model-training"}
    regions = ["aws:eu-central-1", "aws:sa-east-1", "aws:eu-central-1"]
    body = {"checks": [{**check, "region": region} for region in regions]}
    answer = api_client(engineer).post("/api/v1/locality/check", body, format="json")
    forget_index()
    assert answer.status_code == 200, answer.content
    results = answer.json()["results"]
    ids = [result["decision_id"] for result in results]
    assert [result["outcome"] for result in results] == ["allow", "deny", "allow"]
    assert ids == sorted(ids) and len(set(ids)) == 3

    queued = LedgerQueued.objects.get(kind="locality.decisions")
    payload = bytes(queued.payload)
    document = json.loads(payload)
    assert canonical(document) == payload  # the log's one byte form
    assert queued.leaf_hash == merkle.leaf_hash(payload).hex() == results[0]["receipt"]["leaf_hash"]
    data = document["data"]
    assert (data["first_decision"], data["last_decision"], data["count"]) == (ids[0], ids[2], 3)
    assert data["not_allowed"] == [ids[1]]
    assert data["request_id"] == answer["X-Request-ID"]
    assert document["subjects"] == ["dataset:eu-customers"]

    ledger_sequence()
    receipt = results[0]["receipt"]
    proof = inclusion_proof(receipt["leaf_hash"])
    head = tree_head_document(LedgerTreeHead.objects.latest("size"))
    assert receipt_problems(receipt, proof, head, {_key()}) == []
    assert verify_tree() == []


# --- python -m governance.verify ----------------------------------------------------------------


def _verify(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The auditor's command, in its own process, outside the project (standard library)."""
    return subprocess.run(
        [sys.executable, "-m", "governance.verify", *args, "--trusted-key", _key()],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _write(tmp_path: Path, name: str, document: dict) -> str:
    (tmp_path / name).write_text(json.dumps(document))
    return name


def test_governance_verify_checks_a_receipt_and_that_the_log_extends_a_published_head(tmp_path):
    for i in range(3):
        ledger_submit(actor=None, kind="test.queued", data={"i": i})
    published = ledger_sequence()
    receipt = ledger_submit(actor=None, kind="locality.decisions", data={"count": 1})
    ledger_append(actor=None, kind="test.inline")
    ledger_sequence()
    proof = inclusion_proof(receipt["leaf_hash"])
    consistency = consistency_proof(published.size)
    files = [
        _write(tmp_path, "receipt.json", receipt),
        "--proof",
        _write(tmp_path, "inclusion.json", proof),
        "--published-head",
        _write(tmp_path, "old-head.json", consistency["first_tree_head"]),
        "--consistency",
        _write(tmp_path, "consistency.json", consistency),
    ]
    valid = _verify(tmp_path, "receipt", *files)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert json.loads(valid.stdout) == {"ok": True, "problems": []}

    rewritten = {**consistency, "consistency_path": ["00" * 32] * 2}
    _write(tmp_path, "consistency.json", rewritten)
    broken = _verify(tmp_path, "receipt", *files)
    assert broken.returncode == 1
    assert "consistency:" in broken.stdout and "rewritten" in broken.stdout

    _write(tmp_path, "receipt.json", {**receipt, "leaf_hash": "ab" * 32})
    _write(tmp_path, "consistency.json", consistency)
    forged = _verify(tmp_path, "receipt", *files)
    assert forged.returncode == 1 and "the receipt:" in forged.stdout

    alone = _verify(tmp_path, "receipt", *files[:3], "--published-head", "old-head.json")
    assert alone.returncode == 2 and "go together" in alone.stderr


def test_the_installed_client_checks_a_receipt_by_itself(tmp_path):
    """`locus receipt verify` with the locus_client package alone on the path, as `pip install .`
    installs it, outside the project: there is no governance module to borrow the check from."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "locus_client", site / "locus_client", ignore=ignore)
    receipt = ledger_submit(actor=None, kind="locality.decisions", data={"count": 1})
    ledger_sequence()
    _write(tmp_path, "receipt.json", receipt)
    _write(tmp_path, "inclusion.json", inclusion_proof(receipt["leaf_hash"]))
    environment = {**os.environ, "PYTHONPATH": str(site)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, *args]
        return subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
        )

    assert run("-c", "import governance").returncode != 0
    verify = ("-m", "locus_client", "receipt", "verify", "receipt.json", "--proof")
    valid = run(*verify, "inclusion.json", "--trusted-key", _key())
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert valid.stdout.startswith(f"VALID: leaf {receipt['leaf_hash'][:16]}")

    _write(tmp_path, "receipt.json", {**receipt, "at": "2020-01-01T00:00:00Z"})
    forged = run(*verify, "inclusion.json", "--trusted-key", _key())
    assert forged.returncode == 1 and "the receipt:" in forged.stdout


# --- The export names the tree head it was cut at ------------------------------------------------


@pytest.fixture
def sequenced():
    """Nine entries in the tree, and one more appended after the last tree head."""
    for i in range(9):
        ledger_submit(actor=None, kind="test.queued", data={"i": i})
    ledger_sequence()
    ledger_append(actor=None, kind="test.after-the-head")


def test_an_export_names_its_tree_head_and_proves_its_ends_under_it(sequenced):
    lines = list(export_lines())
    header = json.loads(lines[0])
    assert header["tree_head"]["size"] == 9
    assert [end["sequence"] for end in header["tree_ends"]] == [1, 9]
    report = _offline(lines)
    assert report["ok"], report["problem"]
    assert report["tree_size"] == 9 and report["entries"] == 10  # one after the head


def test_a_slice_proves_its_own_ends(sequenced):
    entries = LedgerEntry.objects.order_by("sequence")
    since = entries[3].at
    lines = list(export_lines(since=since, until=entries[6].at))
    header = json.loads(lines[0])
    assert [end["sequence"] for end in header["tree_ends"]] == [
        header["from_sequence"],
        header["to_sequence"],
    ]
    assert _offline(lines)["ok"]


def _resigned(header: dict, **changes) -> str:
    """A header changed and signed again with the log's key (an insider's forgery)."""
    body = {key: value for key, value in header.items() if key != "signature"}
    return json.dumps(signing.sign_header({**body, **changes})) + "\n"


def test_a_cut_head_or_tail_is_named_against_the_tree_head(sequenced):
    lines = list(export_lines())
    header = json.loads(lines[0])
    # The first two entries cut off, the header re-signed as a slice that starts at entry 3.
    head_cut = [
        _resigned(header, genesis=False, from_sequence=3, prev_hash=json.loads(lines[2])["hash"]),
        *lines[3:],
    ]
    problem = _offline(head_cut)["problem"]
    assert "entry 1, proved in the tree head 9, is not in the export (cut)" in problem
    # The tail cut at entry 7 and the header re-signed to end there.
    tail = json.loads(lines[7])
    tail_cut = [_resigned(header, to_sequence=7, to_hash=tail["hash"]), *lines[1:8]]
    assert (
        "entry 9, proved in the tree head 9, is not in the export (cut)"
        in (_offline(tail_cut)["problem"])
    )


def test_an_export_that_is_not_the_tree_heads_is_named(sequenced):
    lines = list(export_lines())
    header = json.loads(lines[0])
    other_root = {**header["tree_head"], "root": "cd" * 32}
    forged = [_resigned(header, tree_head=other_root), *lines[1:]]
    assert "tree head 9: the signature" in _offline(forged)["problem"]  # not the log's head
    # A head the log did sign, but the ends proved under another head's audit path.
    wrong_path = [dict(end, audit_path=["00" * 32] * 4) for end in header["tree_ends"]]
    report = _offline([_resigned(header, tree_ends=wrong_path), *lines[1:]])
    assert "entry 1 is not leaf 0 of the tree head 9" in report["problem"]
