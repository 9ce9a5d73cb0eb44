"""Offline checks of the decision log's receipts and signed tree heads. Standard library only.

    python -m locus_client.proofcheck receipt RECEIPT.json --proof INCLUSION.json \\
        [--tree-head HEAD.json] [--published-head OLD_HEAD.json --consistency CONSISTENCY.json] \\
        --trusted-key KEY
    python -m locus_client.proofcheck consistency OLD_HEAD.json NEW_HEAD.json \\
        --proof CONSISTENCY.json --trusted-key KEY

A receipt ({"leaf_hash", "at", "merge_delay", signature fields}) is the log's signed promise
to include an entry; the inclusion proof (GET /api/v1/ledger/proof/inclusion) shows the leaf
under a signed tree head; a consistency proof (GET /api/v1/ledger/proof/consistency) shows a
newer tree head extends an older one, so nothing before it was edited, removed or reordered.
With --published-head, the tree head the receipt is proved under must also extend a head
published earlier (its consistency proof given with --consistency): one command checks that
the decision is in the log and that the log was not rewritten since that publication.
`python -m governance.verify` and `python -m governance.ledger.proofcheck` are the same check
from a Locus checkout; this module ships in the installed `locus` client, which `locus receipt
verify` uses. Signatures count only when made by a trusted
key. Exit 0 valid, 1 not valid, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Collection

from locus_client import merkle
from locus_client.signatures import signature_problem

RECEIPT_CONTEXT = b"locus-ledger-receipt:v1\n"
TREE_HEAD_CONTEXT = b"locus-ledger-tree-head:v1\n"


def _message(context: bytes, body: dict) -> bytes:
    return context + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def receipt_message(leaf_hash: str, at: str) -> bytes:
    """The bytes a receipt signs: the leaf hash and the time the entry was accepted."""
    return _message(RECEIPT_CONTEXT, {"at": at, "leaf_hash": leaf_hash})


def tree_head_message(size: int, root: str, at: str) -> bytes:
    """The bytes a signed tree head signs."""
    return _message(TREE_HEAD_CONTEXT, {"at": at, "root": root, "size": size})


def _hash(value: object, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != merkle.HASH_SIZE:
        raise ValueError(f"{what} is not a SHA-256 hash in hex")
    return raw


def tree_head_problem(head: dict, trusted: Collection[str]) -> str:
    """Why a tree head is not one the log signed ("" when it is)."""
    message = tree_head_message(head["size"], head["root"], head["at"])
    note = signature_problem(head, message, trusted)
    return f"tree head {head['size']}: {note}" if note else ""


def receipt_problems(receipt: dict, proof: dict, head: dict, trusted: Collection[str]) -> list[str]:
    """What is wrong with a receipt, its inclusion proof and the tree head it is proved under."""
    problems = []
    message = receipt_message(receipt["leaf_hash"], receipt["at"])
    if note := signature_problem(receipt, message, trusted):
        problems.append(f"the receipt: {note}")
    if note := tree_head_problem(head, trusted):
        problems.append(note)
    if proof["leaf_hash"] != receipt["leaf_hash"]:
        problems.append("the proof is for another leaf than the receipt's")
    if proof["tree_size"] != head["size"]:
        problems.append("the proof is for another tree size than the tree head's")
    try:
        merkle.verify_inclusion(
            proof["leaf_index"],
            head["size"],
            _hash(receipt["leaf_hash"], "the receipt's leaf_hash"),
            [_hash(part, "a proof hash") for part in proof["audit_path"]],
            _hash(head["root"], "the tree head's root"),
        )
    except merkle.ProofError as exc:
        problems.append(f"inclusion: {exc}")
    return problems


def consistency_problems(old: dict, new: dict, proof: dict, trusted: Collection[str]) -> list[str]:
    """What is wrong with the claim that tree head `new` extends tree head `old`."""
    problems = [note for head in (old, new) if (note := tree_head_problem(head, trusted))]
    if (proof["first"], proof["second"]) != (old["size"], new["size"]):
        problems.append("the proof is for other tree sizes than the two tree heads'")
    try:
        merkle.verify_consistency(
            old["size"],
            new["size"],
            _hash(old["root"], "the earlier root"),
            _hash(new["root"], "the later root"),
            [_hash(part, "a proof hash") for part in proof["consistency_path"]],
        )
    except merkle.ProofError as exc:
        problems.append(f"consistency: {exc} (the log was rewritten or the heads are forged)")
    return problems


def export_tree_problem(header: dict, leaves: dict[int, bytes], trusted: Collection[str]) -> str:
    """Whether an export's ends are the log's, under the tree head its header names ("" when
    they are, or when the header names none): `leaves` are the leaf hashes of the exported
    entries by sequence. The header's audit paths prove its first and last entries (as far as
    the tree reached) are leaves sequence - 1 of that head, so a cut head or tail is named."""
    head = header.get("tree_head")
    if not head:
        return ""
    if note := tree_head_problem(head, trusted):
        return note
    for end in header.get("tree_ends") or []:
        sequence = end["sequence"]
        if sequence not in leaves:
            return f"entry {sequence}, proved in the tree head {head['size']}, is not in the export (cut)"
        try:
            merkle.verify_inclusion(
                sequence - 1,
                head["size"],
                leaves[sequence],
                [_hash(part, "a proof hash") for part in end["audit_path"]],
                _hash(head["root"], "the tree head's root"),
            )
        except merkle.ProofError as exc:
            return f"entry {sequence} is not leaf {sequence - 1} of the tree head {head['size']}: {exc}"
    return ""


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def _load_head(path: str) -> dict:
    """A tree head file: the head itself, or an answer that carries one (`tree_head`)."""
    data = _load(path)
    return data["tree_head"] if "size" not in data and "tree_head" in data else data


def receipt_and_history_problems(
    receipt: dict,
    proof: dict,
    head: dict,
    published: tuple[dict, dict] | None,
    trusted: Collection[str],
) -> list[str]:
    """A receipt's inclusion under `head`, and, when a (published head, consistency proof) pair
    is given, that `head` extends the published one."""
    problems = receipt_problems(receipt, proof, head, trusted)
    if published is not None:
        old, consistency = published
        problems += consistency_problems(old, head, consistency, trusted)
    return problems


def _published(args: argparse.Namespace) -> tuple[dict, dict] | None:
    if bool(args.published_head) != bool(args.consistency):
        raise ValueError("--published-head and --consistency go together")
    if not args.published_head:
        return None
    return _load_head(args.published_head), _load(args.consistency)


def main(argv: list[str] | None = None, prog: str = "python -m locus_client.proofcheck") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    receipt = commands.add_parser("receipt", help="a receipt's inclusion under a tree head")
    receipt.add_argument("receipt")
    receipt.add_argument("--proof", required=True, help="the inclusion proof (JSON)")
    receipt.add_argument("--tree-head", help="the signed tree head (default: the proof's)")
    receipt.add_argument("--published-head", help="a tree head published earlier (JSON)")
    receipt.add_argument(
        "--consistency", help="the proof that the tree head extends the published one (JSON)"
    )
    consistency = commands.add_parser("consistency", help="a tree head extends an earlier one")
    consistency.add_argument("old_head")
    consistency.add_argument("new_head")
    consistency.add_argument("--proof", required=True, help="the consistency proof (JSON)")
    for command in (receipt, consistency):
        command.add_argument("--trusted-key", action="append", required=True)
    args = parser.parse_args(argv)
    trusted = set(args.trusted_key)
    try:
        proof = _load(args.proof)
        if args.command == "receipt":
            head = _load_head(args.tree_head) if args.tree_head else proof["tree_head"]
            problems = receipt_and_history_problems(
                _load(args.receipt), proof, head, _published(args), trusted
            )
        else:
            old, new = _load_head(args.old_head), _load_head(args.new_head)
            problems = consistency_problems(old, new, proof, trusted)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read the input: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"ok": not problems, "problems": problems}, indent=2))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
