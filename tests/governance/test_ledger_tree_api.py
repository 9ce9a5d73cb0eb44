"""The Merkle tree's endpoints: inclusion and consistency proofs and the latest signed tree head,
checked the way an auditor would (the offline proofcheck), with refused input named (400),
unknown leaves 404, and no role, no proof."""

from __future__ import annotations

import json

import pytest

from governance.ledger import signing
from governance.ledger.proofcheck import consistency_problems, main, receipt_problems
from governance.ledger.tree import ledger_sequence, ledger_submit
from governance.models import LedgerTreeNode

pytestmark = pytest.mark.django_db
INCLUSION = "/api/v1/ledger/proof/inclusion"
CONSISTENCY = "/api/v1/ledger/proof/consistency"
LATEST = "/api/v1/ledger/tree-heads/latest"


@pytest.fixture
def log():
    """Two batches: receipts of the first (3 entries) and second (4 more)."""
    first = [ledger_submit(actor=None, kind="test.queued", data={"i": i}) for i in range(3)]
    ledger_sequence()
    second = [ledger_submit(actor=None, kind="test.queued", data={"i": i}) for i in range(4)]
    ledger_sequence()
    return first, second


def _trusted():
    return {signing.public_key_b64()}


def test_a_receipt_is_proved_under_the_latest_and_an_earlier_tree_head(log, api_client, engineer):
    client = api_client(engineer)
    receipt = log[0][1]
    latest = client.get(INCLUSION, {"leaf_hash": receipt["leaf_hash"]}).json()
    assert (latest["leaf_index"], latest["tree_size"]) == (1, 7)
    assert receipt_problems(receipt, latest, latest["tree_head"], _trusted()) == []
    earlier = client.get(INCLUSION, {"leaf_hash": receipt["leaf_hash"], "tree_size": 3}).json()
    assert earlier["tree_size"] == 3
    assert receipt_problems(receipt, earlier, earlier["tree_head"], _trusted()) == []
    assert receipt_problems(receipt, earlier, latest["tree_head"], _trusted())  # wrong head


def test_the_latest_head_extends_the_earlier_one(log, api_client, auditor):
    client = api_client(auditor)
    head = client.get(LATEST).json()
    assert head["size"] == 7
    proof = client.get(CONSISTENCY, {"first": 3}).json()
    assert proof["second"] == 7 and proof["tree_head"] == head
    old = proof["first_tree_head"]
    assert consistency_problems(old, head, proof, _trusted()) == []
    assert consistency_problems({**old, "root": head["root"]}, head, proof, _trusted())


def test_the_offline_check_reads_the_answers_as_files(log, api_client, auditor, tmp_path, capsys):
    client = api_client(auditor)
    receipt = log[1][0]
    files = {
        "receipt.json": receipt,
        "inclusion.json": client.get(INCLUSION, {"leaf_hash": receipt["leaf_hash"]}).json(),
        "consistency.json": client.get(CONSISTENCY, {"first": 3}).json(),
    }
    for name, document in files.items():
        (tmp_path / name).write_text(json.dumps(document))
    key = signing.public_key_b64()
    path = str(tmp_path)
    assert (
        main(
            [
                "receipt",
                f"{path}/receipt.json",
                "--proof",
                f"{path}/inclusion.json",
                "--trusted-key",
                key,
            ]
        )
        == 0
    )
    (tmp_path / "old.json").write_text(json.dumps(files["consistency.json"]["first_tree_head"]))
    (tmp_path / "new.json").write_text(json.dumps(files["consistency.json"]["tree_head"]))
    args = [f"{path}/old.json", f"{path}/new.json", "--proof", f"{path}/consistency.json"]
    assert main(["consistency", *args, "--trusted-key", key]) == 0
    other_key = "A" * 43 + "="
    assert main(["consistency", *args, "--trusted-key", other_key]) == 1
    assert "not among the trusted keys" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (INCLUSION, {}, "leaf_hash"),
        (INCLUSION, {"leaf_hash": "xyz"}, "leaf_hash"),
        (INCLUSION, {"leaf_hash": "ab" * 32, "tree_size": "0"}, "tree_size"),
        (INCLUSION, {"leaf_hash": "ab" * 32, "tree_size": "5"}, "tree_size"),
        (CONSISTENCY, {}, "first"),
        (CONSISTENCY, {"first": "-1"}, "first"),
        (CONSISTENCY, {"first": "5", "second": "3"}, "first"),
        (CONSISTENCY, {"first": "3", "second": "99"}, "second"),
        (CONSISTENCY, {"first": "99"}, "first"),
    ],
)
def test_refused_parameters_are_named(log, api_client, auditor, url, params, field):
    response = api_client(auditor).get(url, params)
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_leaf_the_tree_does_not_hold_is_a_404(log, api_client, auditor):
    response = api_client(auditor).get(INCLUSION, {"leaf_hash": "ab" * 32})
    assert response.status_code == 404 and "detail" in response.json()


def test_a_leaf_before_the_first_tree_head_is_a_404(api_client, auditor):
    response = api_client(auditor).get(INCLUSION, {"leaf_hash": "ab" * 32})
    assert response.status_code == 404 and "sequenced" in response.json()["detail"]


def test_an_empty_log_has_a_signed_empty_head(api_client, auditor):
    head = api_client(auditor).get(LATEST).json()
    assert head["size"] == 0
    assert head["root"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_no_role_no_proof(log, api_client, outsider):
    leaf = LedgerTreeNode.objects.get(level=0, index=0).hash
    for url, params in [
        (INCLUSION, {"leaf_hash": leaf}),
        (CONSISTENCY, {"first": 1}),
        (LATEST, {}),
    ]:
        assert api_client(outsider).get(url, params).status_code == 403
        assert api_client().get(url, params).status_code == 401


def test_a_decision_answer_carries_its_receipt_and_the_tree_proves_it(api_client, engineer):
    from governance.ledger.tree import ledger_sequence_all
    from governance.policy.index import forget_index
    from tests.factories import make_dataset

    forget_index()
    make_dataset(
        engineer,
        slug="eu-customers",
        uri="s3://locus-eu/customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=["aws:eu-central-1"],
    )
    client = api_client(engineer)
    body = {
        "dataset": "eu-customers",
        "action": "train",
        "region": "aws:eu-central-1",
        "purpose": "model-training",
    }
    answer = client.post("/api/v1/locality/check", body, format="json").json()
    forget_index()
    receipt = answer["receipt"]
    assert answer["outcome"] == "allow" and receipt["merge_delay"] == 5
    ledger_sequence_all()  # what beat (or the embedded default, after the commit) does
    proof = client.get(INCLUSION, {"leaf_hash": receipt["leaf_hash"]}).json()
    assert receipt_problems(receipt, proof, proof["tree_head"], _trusted()) == []


def test_the_evidence_package_carries_the_tree_head_and_a_proofcheck_that_runs_alone(
    log, api_client, auditor, tmp_path
):
    import io
    import os
    import subprocess
    import sys
    import zipfile

    from governance.ledger import evidence
    from tests.governance.test_evidence import period

    with zipfile.ZipFile(io.BytesIO(evidence.build_evidence(*period()))) as archive:
        archive.extractall(tmp_path)
    head = json.loads((tmp_path / "tree-head.json").read_text())
    assert head["size"] == 7
    proof = api_client(auditor).get(CONSISTENCY, {"first": 3, "second": 7}).json()
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "old.json").write_text(json.dumps(proof["first_tree_head"]))
    command = [sys.executable, "-m", "governance.ledger.proofcheck", "consistency", "old.json"]
    command += [
        "tree-head.json",
        "--proof",
        "proof.json",
        "--trusted-key",
        signing.public_key_b64(),
    ]
    environment = {**os.environ, "PYTHONPATH": str(tmp_path / "verifier")}
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
