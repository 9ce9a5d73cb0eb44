"""The offline verifier (`python -m governance.ledger.verify`): an auditor's own check of an exported
ledger against published checkpoints, on the standard library alone.

The command runs as a subprocess without site-packages (`python -S`), from a folder outside
the project, so a stray import of Django or cryptography would fail here as it would on an
auditor's machine.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from governance.ledger import signing
from governance.ledger.chain import ledger_append
from governance.ledger.export import checkpoint_create
from governance.ledger.verification import signing_document
from governance.ledger.verify import ed25519_verify
from governance.ledger.verify import verify_export as offline_verify_export
from tests.live import ROOT

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/ledger/export"
CHECKPOINTS = "/api/v1/ledger/checkpoints/"
SEED = base64.b64encode(b"\x2a" * 32).decode()


def verify_export(lines, checkpoints, *args, **kwargs) -> dict:
    """The verifier's Python API, trusting the key Locus signs with."""
    kwargs.setdefault("trusted_keys", signing.trusted_public_keys())
    return offline_verify_export(lines, checkpoints, *args, **kwargs)


def append(n: int, start: int = 1) -> None:
    for i in range(start, start + n):
        ledger_append(
            actor=None,
            kind=f"test.event.{i}",
            subjects=[f"dataset:ds-{i}", "rule:7"],
            data={"i": i, "text": "données ✓ 数据"},
        )


def export(api_client, user, path: Path, **params) -> list[str]:
    """Download the ledger through the API, as an auditor would, into `path`."""
    response = api_client(user).get(EXPORT, params)
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    path.write_bytes(content)
    return content.decode().splitlines(keepends=True)


def write_checkpoint(path: Path, document: dict | list) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def verify(
    tmp_path: Path,
    export_path: Path,
    *checkpoints: Path,
    extra: tuple[str, ...] = (),
    trusted: tuple[str, ...] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The CLI on the files, trusting `trusted` (by default the key Locus signs with, as an
    auditor trusts the key Locus publishes)."""
    arguments = [str(export_path)]
    for checkpoint in checkpoints:
        arguments += ["--checkpoint", str(checkpoint)]
    for key in (signing.public_key_b64(),) if trusted is None else trusted:
        arguments += ["--trusted-key", key]
    return subprocess.run(
        [sys.executable, "-S", "-m", "governance.ledger.verify", *arguments, *extra],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
    )


def report_of(result: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(result.stdout)


@pytest.fixture
def exported(api_client, auditor, tmp_path):
    """Six entries, a checkpoint at the head, and the export: (export path, checkpoint path)."""
    append(6)
    checkpoint = write_checkpoint(tmp_path / "cp.json", signing_document(checkpoint_create()))
    path = tmp_path / "ledger.jsonl"
    export(api_client, auditor, path)
    return path, checkpoint


def edit_line(path: Path, number: int, change) -> None:
    """Change line `number` of the export: 0 is the header, n the line of entry n."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entry = json.loads(lines[number])
    change(entry)
    lines[number] = json.dumps(entry, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def header_and_entries(path: Path) -> tuple[str, list[str]]:
    header, *entries = path.read_text(encoding="utf-8").splitlines(keepends=True)
    return header, entries


# --- Exit status --------------------------------------------------------------------------------


def test_a_good_export_verifies(tmp_path, exported):
    path, checkpoint = exported

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    report = report_of(result)
    assert (report["ok"], report["entries"], report["head_sequence"]) == (True, 6, 6)
    assert (report["genesis"], report["from_sequence"], report["to_sequence"]) == (True, 1, 6)
    assert report["first_link"] == "genesis"
    assert (report["header_signed"], report["signed_by"]) == (True, signing.public_key_b64())
    assert report["checkpoints"] == [{"sequence": 6, "ok": True, "signature": True, "problem": ""}]


def test_a_good_export_verifies_without_checkpoints(tmp_path, exported):
    path, _ = exported

    result = verify(tmp_path, path)

    assert result.returncode == 0, result.stderr


def set_payload_data(entry: dict) -> None:
    document = json.loads(base64.b64decode(entry["payload"]))
    document["data"]["i"] = 99
    entry["payload"] = base64.b64encode(json.dumps(document).encode()).decode()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e.update(kind="rule.deleted"), "fields differ from the hashed payload"),
        (lambda e: e.update(actor_name="mallory"), "fields differ from the hashed payload"),
        (lambda e: e.update(subjects=["dataset:other"]), "fields differ from the hashed payload"),
        (lambda e: e.update(at="2020-01-01T00:00:00+00:00"), "fields differ"),
        (set_payload_data, "hash does not match the payload"),
        (lambda e: e.update(hash="ab" * 32), "hash does not match the payload"),
        (lambda e: e.update(prev_hash="cd" * 32), "previous hash does not match"),
        (lambda e: e.update(sequence=9), "expected entry 3, found 9"),
    ],
    ids=["kind", "actor", "subjects", "time", "payload", "hash", "prev_hash", "sequence"],
)
def test_an_edited_line_fails(tmp_path, exported, change, problem):
    path, checkpoint = exported
    edit_line(path, 3, change)

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1, result.stdout + result.stderr
    report = report_of(result)
    assert report["ok"] is False
    assert problem in report["problem"]
    assert report["first_broken_sequence"] == 3


def test_an_edited_actor_id_fails(tmp_path, exported):
    path, checkpoint = exported
    edit_line(path, 3, lambda e: e.update(actor_id=1234))

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1, result.stdout


@pytest.mark.parametrize(
    ("rearrange", "first_broken"),
    [
        (lambda lines: lines[:2] + lines[3:], 3),  # line 3 removed
        (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], 2),  # lines 2 and 3 swapped
        (lambda lines: [*lines[:2], lines[1], *lines[2:]], 3),  # line 2 repeated
    ],
    ids=["removed", "swapped", "repeated"],
)
def test_removed_or_reordered_lines_fail(tmp_path, exported, rearrange, first_broken):
    path, checkpoint = exported
    header, entries = header_and_entries(path)
    path.write_text(header + "".join(rearrange(entries)), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1
    assert report_of(result)["first_broken_sequence"] == first_broken


def test_a_truncated_export_fails_against_its_header(tmp_path, exported):
    path, _ = exported
    header, entries = header_and_entries(path)
    path.write_text(header + "".join(entries[:4]), encoding="utf-8")

    result = verify(tmp_path, path)

    assert result.returncode == 1
    report = report_of(result)
    assert (report["chain_ok"], report["first_broken_sequence"]) == (False, 5)
    assert "the export ends at entry 4; its header says 6 (truncated)" in report["problem"]


def test_a_truncated_export_with_a_doctored_header_fails_against_the_checkpoint(tmp_path, exported):
    path, checkpoint = exported
    header, entries = header_and_entries(path)
    header = json.dumps({**json.loads(header), "to_sequence": 4}) + "\n"
    path.write_text(header + "".join(entries[:4]), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1
    report = report_of(result)
    assert (report["ok"], report["header_signed"]) == (False, False)
    assert report["header_problem"] == "the signature does not verify"
    assert "to_hash" in report["problem"]  # the header still names entry 6's hash


def test_an_export_with_its_first_entries_cut_is_refused(tmp_path, exported):
    """The header says the export starts at genesis: without entries 1 and 2 it is not a slice
    that starts at 3, it is a broken export."""
    path, checkpoint = exported
    header, entries = header_and_entries(path)
    path.write_text(header + "".join(entries[2:]), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1, result.stdout
    report = report_of(result)
    assert (report["chain_ok"], report["first_broken_sequence"]) == (False, 1)
    assert "expected entry 1, found 3" in report["problem"]


def test_an_export_from_genesis_must_link_entry_1_to_the_genesis_hash(tmp_path, exported):
    path, checkpoint = exported
    edit_line(path, 1, lambda e: e.update(prev_hash="ab" * 32))

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1
    report = report_of(result)
    assert report["first_broken_sequence"] == 1
    assert "previous hash does not match" in report["problem"]


def test_an_export_cut_with_its_header_is_unreadable(tmp_path, exported):
    path, checkpoint = exported
    _, entries = header_and_entries(path)
    path.write_text("".join(entries[2:]), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 2
    assert "not a Locus ledger export header" in result.stderr


def test_a_cut_export_relabelled_as_a_slice_says_so_and_from_genesis_refuses_it(tmp_path, exported):
    """Whoever rewrites the header too gets a slice whose first link nothing pins: the report
    says so, and an auditor who asked for the whole chain (--from-genesis) gets a failure."""
    path, checkpoint = exported
    header, entries = header_and_entries(path)
    header = json.dumps({**json.loads(header), "genesis": False, "from_sequence": 3}) + "\n"
    path.write_text(header + "".join(entries[2:]), encoding="utf-8")

    as_slice = report_of(verify(tmp_path, path, checkpoint))
    whole = verify(tmp_path, path, checkpoint, extra=("--from-genesis",))

    assert (as_slice["genesis"], as_slice["from_sequence"], as_slice["first_link"]) == (
        False,
        3,
        "unchecked",
    )
    assert whole.returncode == 1
    assert "a slice from entry 3, not the whole chain" in report_of(whole)["problem"]


@pytest.mark.parametrize(
    "change",
    [
        {"genesis": True, "from_sequence": 3},
        {"from_sequence": 0},
        {"to_sequence": 0, "from_sequence": 3, "genesis": False},
        {"locus_ledger_export": 3},
        {"from_sequence": "1"},
    ],
    ids=["genesis-not-at-1", "zero", "backwards", "format", "text"],
)
def test_an_inconsistent_header_is_exit_2(tmp_path, exported, change):
    path, _ = exported
    edit_line(path, 0, lambda header: header.update(change))

    result = verify(tmp_path, path)

    assert result.returncode == 2, result.stdout
    assert "cannot read the input" in result.stderr


def test_entries_past_the_headers_last_fail(tmp_path, exported):
    path, _ = exported
    edit_line(path, 0, lambda header: header.update(to_sequence=5))

    result = verify(tmp_path, path)

    assert result.returncode == 1
    report = report_of(result)
    assert report["first_broken_sequence"] == 6
    assert "past the header's last entry 5" in report["problem"]


def test_a_rewritten_export_fails_against_the_checkpoint(tmp_path, exported):
    """Rewriting every hash consistently keeps the chain whole; the checkpoint still knows."""
    import hashlib

    path, checkpoint = exported
    header, entries = header_and_entries(path)
    prev_hash, lines = "0" * 64, [header]
    for line in entries:
        entry = json.loads(line)
        payload = base64.b64decode(entry["payload"])
        if entry["sequence"] == 2:
            payload = payload.replace(b'"i":2', b'"i":20')
        entry.update(
            payload=base64.b64encode(payload).decode(),
            prev_hash=prev_hash,
            hash=hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest(),
        )
        prev_hash = entry["hash"]
        lines.append(json.dumps(entry) + "\n")
    path.write_text("".join(lines), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1
    report = report_of(result)
    # The links hold, but the last hash is not the one the signed header names.
    assert (report["chain_ok"], report["first_broken_sequence"]) == (False, 6)
    assert "not the header's to_hash (rewritten)" in report["problem"]
    assert "rewritten" in report["checkpoints"][0]["problem"]


@pytest.mark.parametrize("missing", ["export", "checkpoint"])
def test_a_missing_file_is_exit_2(tmp_path, exported, missing):
    path, checkpoint = exported
    if missing == "export":
        path = tmp_path / "nowhere.jsonl"
    else:
        checkpoint = tmp_path / "nowhere.json"

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 2
    assert "cannot read the input" in result.stderr
    assert result.stdout == ""


HEADER = '{"locus_ledger_export": 1, "genesis": true, "from_sequence": 1, "to_sequence": 1}\n'


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        '{"sequence": 1}\n',
        HEADER + "not json at all\n",
        HEADER + '{"sequence": 1}\n',
        HEADER + '{"sequence": 1, "payload": "***"}\n',
    ],
    ids=["empty", "no header", "not json", "fields missing", "bad base64"],
)
def test_an_unreadable_export_is_exit_2(tmp_path, garbage):
    path = tmp_path / "ledger.jsonl"
    path.write_text(garbage, encoding="utf-8")

    result = verify(tmp_path, path)

    assert result.returncode == 2, result.stdout + result.stderr


def test_a_time_slice_verifies_on_its_own(api_client, auditor, tmp_path):
    append(3)
    middle = signing_document(checkpoint_create())
    append(3, start=4)
    from governance.models import LedgerEntry

    since = LedgerEntry.objects.get(sequence=2).at.isoformat()
    until = LedgerEntry.objects.get(sequence=5).at.isoformat()
    path = tmp_path / "slice.jsonl"
    lines = export(api_client, auditor, path, **{"from": since, "to": until})

    result = verify(tmp_path, path, write_checkpoint(tmp_path / "cp.json", middle))

    header, *entries = (json.loads(line) for line in lines)
    assert [entry["sequence"] for entry in entries] == [2, 3, 4]
    assert (header["genesis"], header["from_sequence"], header["to_sequence"]) == (False, 2, 4)
    assert header["entries"] == 3 and header["from"] == since and header["to"] == until
    assert result.returncode == 0, result.stdout
    report = report_of(result)
    assert (report["genesis"], report["first_link"]) == (False, "signed header")
    assert report["checkpoints"][0]["ok"] is True


@pytest.fixture
def slice_after_checkpoint(api_client, auditor, tmp_path):
    """Entries 1-3, a checkpoint at 3, entries 4-6; the slice 4-6 and the checkpoint's file."""
    append(3)
    checkpoint = write_checkpoint(tmp_path / "cp.json", signing_document(checkpoint_create()))
    append(3, start=4)
    from governance.models import LedgerEntry

    path = tmp_path / "slice.jsonl"
    export(
        api_client, auditor, path, **{"from": LedgerEntry.objects.get(sequence=4).at.isoformat()}
    )
    return path, checkpoint


def test_a_checkpoint_at_the_entry_before_a_slice_pins_its_first_link(
    tmp_path, slice_after_checkpoint
):
    path, checkpoint = slice_after_checkpoint

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 0, result.stdout
    report = report_of(result)
    assert (report["from_sequence"], report["entries"], report["first_link"]) == (
        4,
        3,
        "checkpoint",
    )
    assert report["checkpoints"][0] == {"sequence": 3, "ok": True, "signature": True, "problem": ""}


def test_a_slice_whose_first_link_was_rewritten_fails_against_that_checkpoint(
    tmp_path, slice_after_checkpoint
):
    """A consistent rewrite of the slice (every hash recomputed) from another predecessor."""
    import hashlib

    path, checkpoint = slice_after_checkpoint
    header, entries = header_and_entries(path)
    prev_hash, lines = "ab" * 32, [header]
    for line in entries:
        entry = json.loads(line)
        payload = base64.b64decode(entry["payload"])
        entry.update(
            prev_hash=prev_hash,
            hash=hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest(),
        )
        prev_hash = entry["hash"]
        lines.append(json.dumps(entry) + "\n")
    path.write_text("".join(lines), encoding="utf-8")

    result = verify(tmp_path, path, checkpoint)

    assert result.returncode == 1
    report = report_of(result)
    # The signed header names the hash before the slice: the first link is broken.
    assert (report["chain_ok"], report["first_broken_sequence"]) == (False, 4)
    assert "previous hash does not match" in report["problem"]


# --- Ed25519 checkpoints, checked offline -------------------------------------------------------


@pytest.fixture
def ed25519(settings):
    settings.LEDGER_SIGNING_KEY = SEED


def test_an_ed25519_checkpoint_verifies_offline(ed25519, api_client, auditor, tmp_path):
    append(4)
    first = signing_document(checkpoint_create())
    append(2, start=5)
    second = signing_document(checkpoint_create())
    path = tmp_path / "ledger.jsonl"
    export(api_client, auditor, path)

    result = verify(tmp_path, path, write_checkpoint(tmp_path / "cps.json", [first, second]))

    assert result.returncode == 0, result.stdout
    assert [(c["sequence"], c["signature"], c["ok"]) for c in report_of(result)["checkpoints"]] == [
        (4, True, True),
        (6, True, True),
    ]


def test_a_forged_ed25519_checkpoint_fails_offline(ed25519, api_client, auditor, tmp_path):
    append(4)
    document = signing_document(checkpoint_create())
    raw = bytearray(base64.b64decode(document["signature"]))
    raw[0] ^= 0x80
    document["signature"] = base64.b64encode(bytes(raw)).decode()
    path = tmp_path / "ledger.jsonl"
    export(api_client, auditor, path)

    result = verify(tmp_path, path, write_checkpoint(tmp_path / "cp.json", document))

    assert result.returncode == 1
    assert report_of(result)["checkpoints"][0] == {
        "sequence": 4,
        "ok": False,
        "signature": False,
        "problem": "the signature does not verify",
    }


def test_a_checkpoint_from_the_api_verifies_offline(ed25519, api_client, auditor, tmp_path):
    append(3)
    response = api_client(auditor).post(CHECKPOINTS)
    assert response.status_code == 201
    path = tmp_path / "ledger.jsonl"
    export(api_client, auditor, path)

    result = verify(tmp_path, path, write_checkpoint(tmp_path / "cp.json", response.json()))

    assert result.returncode == 0, result.stdout


def legacy_hmac_checkpoint() -> dict:
    """The head signed as Locus signed checkpoints before they were all Ed25519: HMAC."""
    import hashlib
    import hmac

    from governance.ledger.verify import checkpoint_message
    from governance.models import LedgerEntry
    from governance.models.ledger import GENESIS_HASH

    head = LedgerEntry.objects.order_by("-sequence").first()
    sequence, head_hash = (head.sequence, head.hash) if head else (0, GENESIS_HASH)
    at = "2026-01-01T00:00:00+00:00"
    key = signing._hmac_key()
    message = checkpoint_message(sequence, head_hash, at)
    return {
        "sequence": sequence,
        "hash": head_hash,
        "at": at,
        "algorithm": "hmac-sha256",
        "key_id": hashlib.sha256(key).hexdigest()[:16],
        "public_key": "",
        "signature": hmac.new(key, message, hashlib.sha256).hexdigest(),
    }


def test_hmac_checkpoints_verify_in_process_with_the_key(api_client, auditor, tmp_path):
    """The verifier's Python API takes the HMAC key as bytes (the CLI's --hmac-key takes hex)."""
    append(3)
    document = legacy_hmac_checkpoint()
    lines = export(api_client, auditor, tmp_path / "ledger.jsonl")
    key = signing._hmac_key()

    good = verify_export(lines, [document], key)
    wrong = verify_export(lines, [document], b"not the key")

    assert (good["ok"], good["checkpoints"][0]["signature"]) == (True, True)
    assert (wrong["ok"], wrong["checkpoints"][0]["signature"]) == (False, False)


# --- Standard library only ----------------------------------------------------------------------


def test_the_verifier_imports_only_the_standard_library(tmp_path):
    probe = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "before = set(sys.modules)\n"
        "import governance.ledger.verify\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    loaded = {name.split(".")[0] for name in json.loads(result.stdout)}
    assert "governance" in loaded
    # The checks it shares with the installed client, without the client (httpx) itself.
    assert "locus_client.client" not in json.loads(result.stdout)
    foreign = loaded - set(sys.stdlib_module_names) - {"governance", "locus_client"}
    assert foreign == set(), f"non-standard modules imported: {sorted(foreign)}"


# --- The pure-Python Ed25519 agrees with cryptography -------------------------------------------


@hypothesis_settings(
    max_examples=15,
    deadline=None,
    database=None,
    # too_slow times the data's generation: a busy machine is not a failing test.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(max_size=300),
    flip=st.integers(0, 64 * 8 - 1),
)
def test_pure_python_ed25519_agrees_with_cryptography(seed, message, flip):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = key.sign(message)
    forged = bytearray(signature)
    forged[flip // 8] ^= 1 << (flip % 8)

    assert ed25519_verify(public, message, signature)
    assert not ed25519_verify(public, message, bytes(forged))
    assert not ed25519_verify(public, message + b"!", signature)


def test_ed25519_rejects_malformed_keys_and_signatures():
    key = Ed25519PrivateKey.from_private_bytes(b"\x05" * 32)
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = key.sign(b"m")

    assert not ed25519_verify(public[:31], b"m", signature)
    assert not ed25519_verify(public, b"m", signature[:63])
    assert not ed25519_verify(b"\xff" * 32, b"m", signature)  # not a point on the curve
    # s >= L: the malleable form of a valid signature must be refused.
    s = int.from_bytes(signature[32:], "little") + 2**252 + 27742317777372353535851937790883648493
    assert not ed25519_verify(public, b"m", signature[:32] + s.to_bytes(32, "little"))


def test_hmac_checkpoints_verify_offline_with_the_key_in_hex(api_client, auditor, tmp_path):
    append(3)
    checkpoint = write_checkpoint(tmp_path / "cp.json", legacy_hmac_checkpoint())
    path = tmp_path / "ledger.jsonl"
    export(api_client, auditor, path)
    key = io.StringIO()
    call_command("checkpoint_ledger", "--show-hmac-key", stdout=key)

    good = verify(tmp_path, path, checkpoint, extra=("--hmac-key", key.getvalue().strip()))
    wrong = verify(tmp_path, path, checkpoint, extra=("--hmac-key", "00" * 32))

    assert good.returncode == 0, good.stdout
    assert json.loads(good.stdout)["checkpoints"][0]["signature"] is True
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["checkpoints"][0]["signature"] is False


# --- Trusted keys and the signed header ---------------------------------------------------------

ATTACKER_SEED = base64.b64encode(b"\x66" * 32).decode()


def _rewritten_lines(lines: list[str], change_at: int) -> tuple[dict, list[str]]:
    """The export's entries rewritten consistently (one payload changed, every hash redone);
    returns the old header and the new entry lines."""
    import hashlib

    header, *entries = lines
    prev_hash, out = json.loads(header)["prev_hash"], []
    for line in entries:
        entry = json.loads(line)
        payload = base64.b64decode(entry["payload"])
        if entry["sequence"] == change_at:
            payload = payload.replace(b'"i":2', b'"i":20')
        entry.update(
            payload=base64.b64encode(payload).decode(),
            prev_hash=prev_hash,
            hash=hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest(),
        )
        prev_hash = entry["hash"]
        out.append(json.dumps(entry, ensure_ascii=False) + "\n")
    return json.loads(header), out


def test_a_chain_rewritten_and_re_signed_with_another_key_is_refused(
    settings, api_client, auditor, tmp_path
):
    """The attacker rewrites the chain, then signs a new header and checkpoint with a key of
    their own: every signature holds, but none is by a trusted key."""
    append(4)
    genuine_key = signing.public_key_b64()
    lines = export(api_client, auditor, tmp_path / "genuine.jsonl")
    header, entries = _rewritten_lines(lines, change_at=2)
    last = json.loads(entries[-1])
    settings.LEDGER_SIGNING_KEY = ATTACKER_SEED
    forged_header = signing.sign_header({**header, "to_hash": last["hash"]})
    forged_checkpoint = {
        "sequence": 4,
        "hash": last["hash"],
        "at": "2026-01-01T00:00:00+00:00",
        **signing.sign_checkpoint(4, last["hash"], "2026-01-01T00:00:00+00:00"),
    }
    attacker_key = signing.public_key_b64()
    path = tmp_path / "forged.jsonl"
    path.write_text(json.dumps(forged_header) + "\n" + "".join(entries), encoding="utf-8")
    checkpoint = write_checkpoint(tmp_path / "cp.json", forged_checkpoint)

    refused = verify(tmp_path, path, checkpoint, trusted=(genuine_key,))
    in_process = offline_verify_export(
        path.read_text().splitlines(), [forged_checkpoint], trusted_keys={genuine_key}
    )
    fooled = verify(tmp_path, path, checkpoint, trusted=(attacker_key,))

    assert refused.returncode == 1, refused.stdout
    report = report_of(refused)
    assert (report["ok"], report["chain_ok"], report["header_signed"]) == (False, True, False)
    assert report["header_problem"] == "signed by a key that is not among the trusted keys"
    assert report["checkpoints"][0]["signature"] is False
    assert "not among the trusted keys" in report["checkpoints"][0]["problem"]
    assert in_process["ok"] is False
    # The forgery is otherwise perfect: only the choice of trusted key tells it apart.
    assert fooled.returncode == 0, fooled.stdout


def test_without_a_trusted_key_the_verifier_refuses(tmp_path, exported):
    path, checkpoint = exported

    result = verify(tmp_path, path, checkpoint, trusted=())
    in_process = offline_verify_export(path.read_text().splitlines(), [])

    assert result.returncode == 2
    assert "refusing to verify without a trusted public key" in result.stderr
    assert result.stdout == ""
    assert in_process["ok"] is False and in_process["chain_ok"] is True
    assert "no trusted public key" in in_process["header_problem"]


def test_trusted_keys_come_from_a_file_too(tmp_path, exported):
    path, checkpoint = exported
    keys = tmp_path / "trusted.txt"
    keys.write_text(
        f"# Locus's published keys\n{base64.b64encode(b'x' * 32).decode()}\n"
        f"{signing.public_key_b64()}  # current\n",
        encoding="utf-8",
    )

    result = verify(
        tmp_path, path, checkpoint, trusted=(), extra=("--trusted-keys-file", str(keys))
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_cutting_the_last_lines_and_editing_the_header_is_detected(tmp_path, exported):
    path, _ = exported
    header, entries = header_and_entries(path)
    kept = entries[:4]
    edited = {
        **json.loads(header),
        "to_sequence": 4,
        "entries": 4,
        "to_hash": json.loads(kept[-1])["hash"],
    }
    path.write_text(json.dumps(edited) + "\n" + "".join(kept), encoding="utf-8")

    result = verify(tmp_path, path)  # no checkpoint: the header's signature alone

    assert result.returncode == 1
    report = report_of(result)
    assert (report["ok"], report["chain_ok"], report["header_signed"]) == (False, True, False)
    assert report["problem"] == "the header: the signature does not verify"


def test_cutting_the_first_lines_and_editing_the_header_is_detected(tmp_path, exported):
    path, _ = exported
    header, entries = header_and_entries(path)
    kept = entries[2:]
    edited = {
        **json.loads(header),
        "genesis": False,
        "from_sequence": 3,
        "entries": 4,
        "prev_hash": json.loads(kept[0])["prev_hash"],
    }
    path.write_text(json.dumps(edited) + "\n" + "".join(kept), encoding="utf-8")

    result = verify(tmp_path, path)

    assert result.returncode == 1
    report = report_of(result)
    assert (report["ok"], report["header_signed"], report["first_link"]) == (
        False,
        False,
        "unchecked",
    )


def test_an_unedited_header_over_cut_lines_names_the_cut(tmp_path, exported):
    path, _ = exported
    header, entries = header_and_entries(path)
    path.write_text(header + "".join(entries[:5]), encoding="utf-8")

    report = report_of(verify(tmp_path, path))

    assert (report["ok"], report["header_signed"], report["first_broken_sequence"]) == (
        False,
        True,
        6,
    )
    assert "truncated" in report["problem"]
