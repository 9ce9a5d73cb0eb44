"""Offline verifier for an exported Locus ledger. Standard library only.

    python -m governance.verify export.jsonl --checkpoint cp.json [--hmac-key HEX] [--from-genesis]

export.jsonl starts with a header line {"locus_ledger_export": 1, "genesis", "from_sequence",
"to_sequence", ...} that says which entries it holds, then one entry per line: {"sequence",
"at", "actor_id", "actor_name", "kind", "subjects", "payload" (base64 of the canonical bytes),
"prev_hash", "hash"}. An export from genesis must start at entry 1 linked to the genesis hash;
a slice's first link holds only if a checkpoint at the entry before it pins it (the report's
"first_link"). A checkpoint file holds one checkpoint object or a list of them.
Exit status: 0 valid, 1 broken, 2 bad input.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys

GENESIS_HASH = "0" * 64
CHECKPOINT_CONTEXT = b"locus-ledger-checkpoint:v1\n"

# --- Ed25519 signature verification (RFC 8032 section 5.1.7), pure Python -------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _recover_x(y: int, sign: int) -> int | None:
    xx = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P:
        x = x * _I % _P
    if (x * x - xx) % _P:
        return None
    if x == 0 and sign:
        return None
    return _P - x if x & 1 != sign else x


def _add(a: tuple, b: tuple) -> tuple:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    k_a = (y1 - x1) * (y2 - x2) % _P
    k_b = (y1 + x1) * (y2 + x2) % _P
    k_c = t1 * 2 * _D * t2 % _P
    k_d = z1 * 2 * z2 % _P
    e, f, g, h = k_b - k_a, k_d - k_c, k_d + k_c, k_b + k_a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(point: tuple, scalar: int) -> tuple:
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _decode_point(data: bytes) -> tuple | None:
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= _P:
        return None
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _same(a: tuple, b: tuple) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


_BY = 4 * pow(5, _P - 2, _P) % _P
_B = (_recover_x(_BY, 0), _BY, 1, _recover_x(_BY, 0) * _BY % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s Ed25519 signature of `message`."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a, r = _decode_point(public_key), _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    h = (
        int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little")
        % _L
    )
    return _same(_mul(_B, s), _add(r, _mul(a, h)))


# --- The chain -------------------------------------------------------------------------------


def checkpoint_message(sequence: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint signs."""
    body = json.dumps(
        {"at": at, "hash": head_hash, "sequence": sequence}, sort_keys=True, separators=(",", ":")
    )
    return CHECKPOINT_CONTEXT + body.encode()


def checkpoint_signature_ok(cp: dict, hmac_key: bytes | None = None) -> bool | None:
    """True/False for a verified/forged signature; None when it cannot be checked offline."""
    message = checkpoint_message(cp["sequence"], cp["hash"], cp["at"])
    if cp["algorithm"] == "ed25519":
        return ed25519_verify(
            base64.b64decode(cp["public_key"]), message, base64.b64decode(cp["signature"])
        )
    if cp["algorithm"] == "hmac-sha256":
        if hmac_key is None:
            return None
        expected = hmac.new(hmac_key, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, cp["signature"])
    return False


EXPORT_FORMAT = 1


def read_header(line: str) -> dict:
    """The export's first line: where it starts and ends. ValueError when it is not one."""
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or "locus_ledger_export" not in header:
        raise ValueError("the first line is not a Locus ledger export header")
    if header["locus_ledger_export"] != EXPORT_FORMAT:
        raise ValueError(f"unknown export format {header['locus_ledger_export']!r}")
    first, last, genesis = header["from_sequence"], header["to_sequence"], header["genesis"]
    if not (isinstance(first, int) and isinstance(last, int) and isinstance(genesis, bool)):
        raise ValueError("the header's from_sequence, to_sequence and genesis are malformed")
    if first < 1 or last < first - 1 or genesis != (first == 1):
        raise ValueError(f"the header's range is inconsistent: {first} to {last}, {genesis=}")
    return header


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
    if any(
        document.get(k) != entry.get(k)
        for k in ("sequence", "kind", "actor_id", "actor_name", "subjects", "at")
    ):
        return f"entry {sequence}: fields differ from the hashed payload (edited)"
    return ""


def verify_export(
    lines, checkpoints: list[dict], hmac_key: bytes | None = None, *, from_genesis: bool = False
) -> dict:
    """Check every link of an exported chain and each checkpoint; report the first break.

    The first line is the export's header. An export from genesis must start at entry 1,
    linked to the genesis hash; a slice must start at its header's from_sequence, and its first
    link is pinned only by a checkpoint at the entry before it. Every export must run to its
    header's to_sequence. With `from_genesis`, a slice is refused.
    """
    lines = (line for line in lines if line.strip())
    header = read_header(next(lines, ""))
    first, last = header["from_sequence"], header["to_sequence"]
    expected, prev_hash, anchor = first, GENESIS_HASH if header["genesis"] else None, None
    head = (first - 1, prev_hash)
    wanted = {cp["sequence"] for cp in checkpoints}
    seen: dict[int, str] = {}
    problem, broken, count = "", None, 0
    if from_genesis and not header["genesis"]:
        problem, broken = f"the export is a slice from entry {first}, not the whole chain", 1
    for number, line in enumerate(lines, start=2):
        if problem:
            break
        entry = json.loads(line)
        count += 1
        if prev_hash is None:  # a slice: its first link is taken as given, unless pinned below
            prev_hash = anchor = entry["prev_hash"]
            head = (first - 1, anchor)
        if note := _entry_problem(entry, expected, prev_hash, last):
            problem, broken = f"line {number}: {note}", expected
            break
        if expected in wanted:
            seen[expected] = entry["hash"]
        prev_hash, expected, head = entry["hash"], expected + 1, (expected, entry["hash"])
    if not problem and head[0] < last:
        problem = f"the export ends at entry {head[0]}; its header says {last} (truncated)"
        broken = head[0] + 1
    if header["genesis"]:
        seen[0] = GENESIS_HASH
    elif anchor is not None:
        seen[first - 1] = anchor
    results = [_checkpoint_result(cp, seen, head[0], problem, hmac_key) for cp in checkpoints]
    chain_ok = not problem
    pinned = header["genesis"] or any(r["ok"] and r["sequence"] == first - 1 for r in results)
    return {
        "ok": chain_ok
        and all(
            r["ok"] or r["problem"].startswith("this checkpoint's sequence is outside")
            for r in results
        ),
        "chain_ok": chain_ok,
        "entries": count,
        "genesis": header["genesis"],
        "from_sequence": first,
        "to_sequence": last,
        "first_link": "genesis" if header["genesis"] else ("checkpoint" if pinned else "unchecked"),
        "head_sequence": head[0],
        "head_hash": head[1],
        "first_broken_sequence": broken,
        "problem": problem,
        "checkpoints": results,
    }


def _checkpoint_result(
    cp: dict, seen: dict[int, str], head_sequence: int, problem: str, hmac_key
) -> dict:
    """One checkpoint against the export: its signature, and the hash the export has there."""
    signature = checkpoint_signature_ok(cp, hmac_key)
    sequence = cp["sequence"]
    if signature is False:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m governance.verify", description=__doc__.split("\n")[0]
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
    args = parser.parse_args(argv)
    try:
        checkpoints = [cp for path in (args.checkpoint or []) for cp in _load_checkpoints(path)]
        with open(args.export, encoding="utf-8") as handle:
            report = verify_export(
                handle, checkpoints, args.hmac_key, from_genesis=args.from_genesis
            )
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read the input: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
