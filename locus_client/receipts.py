"""Receipts in the `locus` command: save the decision log's receipt of an answer, and check a
receipt's inclusion in the log (`locus receipt verify`).

A receipt is the log's signed promise to include the entry that records a decision within its
merge delay (Certificate Transparency's SCT). The check itself is Locus's offline proof check,
`locus_client.proofcheck` (with `locus_client.merkle` and `locus_client.signatures`, standard
library only): it ships in this package, so the installed command checks a receipt by itself,
and Locus's own verifiers (`python -m governance.verify`, an evidence package's `verifier/`
folder) use the same code. Without `--proof` the command asks Locus for the inclusion proof.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from locus_client.client import LocusError
from locus_client.proofcheck import receipt_problems

EXIT_VALID = 0
EXIT_NOT_VALID = 1
EXIT_BAD_INPUT = 2


def answer_receipts(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The distinct receipts an answer carries (a check's, or a run's decisions'), in order."""
    found: list[dict[str, Any]] = []
    for decision in [answer, *answer.get("decisions", []), *answer.get("results", [])]:
        receipt = decision.get("receipt") if isinstance(decision, dict) else None
        if receipt and receipt not in found:
            found.append(receipt)
    return found


def save_receipt(answer: dict[str, Any], path: str | None) -> None:
    """Write the answer's receipt to `path` (one receipt: the object; several: a list)."""
    if not path:
        return
    receipts = answer_receipts(answer)
    document: Any = receipts[0] if len(receipts) == 1 else receipts
    Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def add_receipt_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--receipt-out",
        metavar="FILE",
        help="save the decision log's signed receipt of the answer as JSON, to prove later "
        "with `locus receipt verify` that the decision is in the log",
    )


def add_receipt_commands(commands: Any, shared: list[argparse.ArgumentParser]) -> None:
    receipt = commands.add_parser("receipt", help="check a decision's receipt against the log")
    actions = receipt.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        parents=shared,
        help="is the receipt's entry in the log, under a tree head signed by a trusted key?",
    )
    verify.add_argument("receipt", metavar="RECEIPT_JSON", help="as --receipt-out saved it")
    verify.add_argument(
        "--proof",
        metavar="INCLUSION_JSON",
        help="the inclusion proof, checked offline (default: ask Locus for it)",
    )
    verify.add_argument(
        "--trusted-key",
        action="append",
        required=True,
        metavar="KEY",
        help="the log's public key (base64) as Locus publishes it (repeatable)",
    )
    verify.add_argument(
        "--proof-out", metavar="FILE", help="save the inclusion proof Locus gave, for later"
    )
    verify.set_defaults(handler=run_receipt_verify, offline=True)


def _read(path: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def _one_receipt(path: str) -> dict[str, Any]:
    document = _read(path)
    if isinstance(document, list) and len(document) == 1:
        document = document[0]
    if not isinstance(document, dict) or "leaf_hash" not in document:
        raise ValueError(f"{path} holds no receipt (one object with a leaf_hash)")
    return document


def run_receipt_verify(client_factory: Any, args: argparse.Namespace) -> int:
    """Check a receipt's inclusion: offline with --proof, else with the proof Locus gives."""
    try:
        receipt = _one_receipt(args.receipt)
        proof = _read(args.proof) if args.proof else None
    except ValueError as exc:
        print(f"locus: {exc}")
        return EXIT_BAD_INPUT
    if proof is None:
        with client_factory(args) as client:
            try:
                proof = client.inclusion_proof(receipt["leaf_hash"])
            except LocusError as exc:
                if exc.status != 404:
                    raise
                print(
                    f"NOT YET IN THE LOG: leaf {receipt['leaf_hash'][:16]}... (accepted "
                    f"{receipt.get('at')}, promised within {receipt.get('merge_delay')} s)"
                )
                return EXIT_NOT_VALID
        if args.proof_out:
            Path(args.proof_out).write_text(json.dumps(proof, indent=2) + "\n", encoding="utf-8")
    try:
        problems = receipt_problems(receipt, proof, proof["tree_head"], set(args.trusted_key))
    except (KeyError, TypeError, ValueError) as exc:
        print(f"locus: the proof is not an inclusion proof: {exc}")
        return EXIT_BAD_INPUT
    _report(receipt, proof, problems, args.json)
    return EXIT_NOT_VALID if problems else EXIT_VALID


def _report(receipt: dict, proof: dict, problems: list[str], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"ok": not problems, "problems": problems}, indent=2))
        return
    if not problems:
        head = proof["tree_head"]
        print(
            f"VALID: leaf {receipt['leaf_hash'][:16]}... is entry {proof['leaf_index']} of the "
            f"log, under the tree head of size {head['size']} signed {head['at']}"
        )
        return
    print("NOT VALID:")
    for problem in problems:
        print(f"  {problem}")
