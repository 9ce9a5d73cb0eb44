"""Offline verifier for an exported Locus ledger. Standard library only, with the `locus`
client's check modules (locus_client.signatures, .merkle, .proofcheck) beside it, as an
evidence package's `verifier/` folder holds them.

    python -m governance.ledger.verify export.jsonl --trusted-key KEY [--trusted-keys-file FILE]
        [--checkpoint cp.json] [--hmac-key HEX] [--from-genesis]

export.jsonl starts with a signed header line {"locus_ledger_export": 2, "genesis",
"from_sequence", "to_sequence", "prev_hash", "to_hash", ..., "signature"} that says which
entries it holds and the hashes at its two ends, then one entry per line: {"sequence", "at",
"actor_id", "actor_name", "kind", "subjects", "payload" (base64 of the canonical bytes),
"prev_hash", "hash"}. An export from genesis must start at entry 1 linked to the genesis hash;
a slice's first entry must link to the header's prev_hash; the last entry must have the
header's to_hash, so a cut at either end, or an edited header, is found.

Signatures (the header's, and Ed25519 checkpoints') count only when made by a trusted public key
(base64, as `manage.py checkpoint_ledger --show-public-key` prints it and Locus publishes):
the key a signature carries proves nothing by itself, since whoever rewrites a chain can sign it
with a key of their own. Without any trusted key the verifier refuses to call an export
verified (exit 2). A checkpoint file holds one checkpoint object or a list of them; earlier
HMAC checkpoints need --hmac-key.
Exit status: 0 valid, 1 broken, 2 bad input (or no trusted key).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from collections.abc import Collection

# The checks a receipt needs too live in the installed client's package (standard library
# only as well); re-exported here for the code and tests that know them by this module.
from locus_client.proofcheck import export_tree_problem
from locus_client.signatures import ed25519_verify as ed25519_verify
from locus_client.signatures import signature_problem as signature_problem

GENESIS_HASH = "0" * 64
CHECKPOINT_CONTEXT = b"locus-ledger-checkpoint:v1\n"

# --- The chain -------------------------------------------------------------------------------


def checkpoint_message(sequence: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint signs."""
    body = json.dumps(
        {"at": at, "hash": head_hash, "sequence": sequence}, sort_keys=True, separators=(",", ":")
    )
    return CHECKPOINT_CONTEXT + body.encode()


def checkpoint_signature_ok(
    cp: dict, hmac_key: bytes | None = None, *, trusted: Collection[str] = ()
) -> bool | None:
    """True/False for a verified/forged signature; None when it cannot be checked offline.

    An Ed25519 signature holds only when made by one of the `trusted` public keys.
    """
    message = checkpoint_message(cp["sequence"], cp["hash"], cp["at"])
    if cp["algorithm"] == "ed25519":
        return not signature_problem(cp, message, trusted)
    if cp["algorithm"] == "hmac-sha256":
        if hmac_key is None:
            return None
        expected = hmac.new(hmac_key, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, cp["signature"])
    return False


EXPORT_FORMAT = 2
HEADER_CONTEXT = b"locus-ledger-export:v2\n"
_HASH_FIELDS = ("prev_hash", "to_hash")


def header_message(header: dict) -> bytes:
    """The bytes an export header's signature signs: every field but the signature."""
    body = {key: value for key, value in header.items() if key != "signature"}
    return HEADER_CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def read_header(line: str) -> dict:
    """The export's first line: where it starts and ends. ValueError when it is not one."""
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or "locus_ledger_export" not in header:
        raise ValueError("the first line is not a Locus ledger export header")
    if header["locus_ledger_export"] == 1:
        raise ValueError("format 1 exports have no signed header: export the ledger again")
    if header["locus_ledger_export"] != EXPORT_FORMAT:
        raise ValueError(f"unknown export format {header['locus_ledger_export']!r}")
    first, last, genesis = header["from_sequence"], header["to_sequence"], header["genesis"]
    if not (isinstance(first, int) and isinstance(last, int) and isinstance(genesis, bool)):
        raise ValueError("the header's from_sequence, to_sequence and genesis are malformed")
    if first < 1 or last < first - 1 or genesis != (first == 1):
        raise ValueError(f"the header's range is inconsistent: {first} to {last}, {genesis=}")
    if not all(_is_hash(header.get(name)) for name in _HASH_FIELDS):
        raise ValueError("the header's prev_hash and to_hash are not SHA-256 hashes in hex")
    if genesis and header["prev_hash"] != GENESIS_HASH:
        raise ValueError("the header starts at genesis but its prev_hash is not the genesis hash")
    return header


def _is_hash(value) -> bool:
    return (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def _entry_problem(entry: dict, expected: int, prev_hash: str, last: int) -> str:
    """What is wrong with one line given the line before it ("" when nothing)."""
    sequence = entry["sequence"]
    payload = base64.b64decode(entry["payload"], validate=True)
    document = json.loads(payload)
    if sequence != expected:
        return f"expected entry {expected}, found {sequence} (missing, inserted or reordered)"
    if sequence > last:
        return f"entry {sequence} is past the header's last entry {last} (appended)"
    if entry["prev_hash"] != prev_hash:
        return f"entry {sequence}: previous hash does not match"
    if hashlib.sha256(bytes.fromhex(prev_hash) + payload).hexdigest() != entry["hash"]:
        return f"entry {sequence}: hash does not match the payload (edited)"
    if document.get("sequence", sequence) != sequence or any(
        document.get(k) != entry.get(k)
        for k in ("kind", "actor_id", "actor_name", "subjects", "at")
    ):  # a queued entry's payload names no sequence: the chain gives its place
        return f"entry {sequence}: fields differ from the hashed payload (edited)"
    return ""


def verify_export(
    lines,
    checkpoints: list[dict],
    hmac_key: bytes | None = None,
    *,
    trusted_keys: Collection[str] = (),
    from_genesis: bool = False,
) -> dict:
    """Check the header's signature, every link of an exported chain and each checkpoint;
    report the first break.

    The first line is the export's header, signed by one of `trusted_keys` (without any, the
    export is never ok). An export from genesis must start at entry 1, linked to the genesis
    hash; a slice must start at its header's from_sequence, linked to the header's prev_hash.
    Every export must run to its header's to_sequence, ending at its to_hash. With
    `from_genesis`, a slice is refused.
    """
    trusted = frozenset(trusted_keys)
    lines = (line for line in lines if line.strip())
    header = read_header(next(lines, ""))
    header_problem = signature_problem(header.get("signature"), header_message(header), trusted)
    first, last = header["from_sequence"], header["to_sequence"]
    expected, prev_hash = first, header["prev_hash"]
    head = (first - 1, prev_hash)
    wanted = {cp["sequence"] for cp in checkpoints}
    seen: dict[int, str] = {first - 1: prev_hash}
    problem, broken, count = "", None, 0
    tree_ends = {end.get("sequence") for end in header.get("tree_ends") or []}
    ends: dict[int, bytes] = {}  # the leaf hashes of the entries the header proves in the tree
    if from_genesis and not header["genesis"]:
        problem, broken = f"the export is a slice from entry {first}, not the whole chain", 1
    for number, line in enumerate(lines, start=2):
        if problem:
            break
        entry = json.loads(line)
        count += 1
        if note := _entry_problem(entry, expected, prev_hash, last):
            problem, broken = f"line {number}: {note}", expected
            break
        if expected in wanted:
            seen[expected] = entry["hash"]
        if expected in tree_ends:
            ends[expected] = _leaf(entry["payload"])
        prev_hash, expected, head = entry["hash"], expected + 1, (expected, entry["hash"])
    if not problem and head[0] < last:
        problem = f"the export ends at entry {head[0]}; its header says {last} (truncated)"
        broken = head[0] + 1
    elif not problem and head[1] != header["to_hash"]:
        problem = f"entry {last}'s hash is not the header's to_hash (rewritten)"
        broken = last
    results = [
        _checkpoint_result(cp, seen, head[0], problem, hmac_key, trusted) for cp in checkpoints
    ]
    tree_problem = "" if problem else _tree_problem(header, ends, trusted)
    problem = problem or tree_problem
    chain_ok = not problem
    pinned = any(r["ok"] and r["sequence"] == first - 1 for r in results)
    return {
        "ok": chain_ok
        and not header_problem
        and all(
            r["ok"] or r["problem"].startswith("this checkpoint's sequence is outside")
            for r in results
        ),
        "chain_ok": chain_ok,
        "header_signed": not header_problem,
        "header_problem": header_problem,
        "signed_by": (header.get("signature") or {}).get("public_key", ""),
        "entries": count,
        "genesis": header["genesis"],
        "from_sequence": first,
        "to_sequence": last,
        "first_link": _first_link(header["genesis"], header_problem, pinned),
        "head_sequence": head[0],
        "head_hash": head[1],
        "first_broken_sequence": broken,
        "problem": problem or (header_problem and f"the header: {header_problem}"),
        "tree_size": (header.get("tree_head") or {}).get("size"),
        "checkpoints": results,
    }


def _leaf(payload_b64: str) -> bytes:
    """An entry's leaf hash in the log's Merkle tree (RFC 9162: SHA-256(0x00 || bytes))."""
    return hashlib.sha256(b"\x00" + base64.b64decode(payload_b64)).digest()


def _tree_problem(header: dict, ends: dict[int, bytes], trusted: Collection[str]) -> str:
    """The export's ends against the tree head its header was cut at (proofcheck's check)."""
    if not header.get("tree_head"):
        return ""
    note = export_tree_problem(header, ends, trusted)
    return f"the tree head the export was cut at: {note}" if note else ""


def _first_link(genesis: bool, header_problem: str, pinned: bool) -> str:
    """What pins the link before the export's first entry."""
    if genesis:
        return "genesis"
    if pinned:
        return "checkpoint"
    return "unchecked" if header_problem else "signed header"


def _checkpoint_result(
    cp: dict, seen: dict[int, str], head_sequence: int, problem: str, hmac_key, trusted
) -> dict:
    """One checkpoint against the export: its signature, and the hash the export has there."""
    signature = checkpoint_signature_ok(cp, hmac_key, trusted=trusted)
    sequence = cp["sequence"]
    if signature is False and cp["algorithm"] == "ed25519":
        note = signature_problem(cp, checkpoint_message(sequence, cp["hash"], cp["at"]), trusted)
    elif signature is False:
        note = "signature does not verify"
    elif sequence in seen and seen[sequence] != cp["hash"]:
        note = "the export has another hash at this sequence (rewritten)"
    elif sequence in seen or problem:
        note = ""
    elif sequence > head_sequence:
        note = "the export ends before this checkpoint (truncated)"
    else:
        note = "this checkpoint's sequence is outside the exported slice"
    return {
        "sequence": sequence,
        "ok": not note and signature is not False,
        "signature": signature,
        "problem": note,
    }


def _load_checkpoints(path: str | None) -> list[dict]:
    if not path:
        return []
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    return data if isinstance(data, list) else [data]


def _load_trusted_keys(keys: list[str] | None, path: str | None) -> set[str]:
    """The trusted public keys: given one by one, or in a file one a line (# comments)."""
    trusted = {key.strip() for key in keys or [] if key.strip()}
    if path:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.split("#", 1)[0].strip():
                    trusted.add(line.split("#", 1)[0].strip())
    return trusted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m governance.ledger.verify", description=__doc__.split("\n")[0]
    )
    parser.add_argument("export", help="the exported ledger (JSONL)")
    parser.add_argument("--checkpoint", action="append", help="a checkpoint JSON file (repeatable)")
    parser.add_argument(
        "--from-genesis",
        action="store_true",
        help="refuse an export that is a slice rather than the whole chain from its first entry",
    )
    parser.add_argument(
        "--hmac-key",
        type=bytes.fromhex,
        help="the key in hex, for checkpoints signed with HMAC (manage.py checkpoint_ledger --show-hmac-key)",
    )
    parser.add_argument(
        "--trusted-key",
        action="append",
        help="a public key (base64) whose signatures are trusted (repeatable)",
    )
    parser.add_argument(
        "--trusted-keys-file", help="a file of trusted public keys, one a line (# comments)"
    )
    args = parser.parse_args(argv)
    try:
        trusted = _load_trusted_keys(args.trusted_key, args.trusted_keys_file)
        if not trusted:
            print(
                "refusing to verify without a trusted public key: give --trusted-key or "
                "--trusted-keys-file (the key Locus publishes; a signature's own key proves "
                "nothing)",
                file=sys.stderr,
            )
            return 2
        checkpoints = [cp for path in (args.checkpoint or []) for cp in _load_checkpoints(path)]
        with open(args.export, encoding="utf-8") as handle:
            report = verify_export(
                handle,
                checkpoints,
                args.hmac_key,
                trusted_keys=trusted,
                from_genesis=args.from_genesis,
            )
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read the input: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
