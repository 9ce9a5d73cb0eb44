"""Verify the ledger's hash chain and every checkpoint; exit 1 when anything is broken."""

import json

from django.core.management.base import BaseCommand, CommandError

from governance.ledger.tree import verify_tree
from governance.ledger.verification import verify_ledger


class Command(BaseCommand):
    help = "Verify the decision log: report the first broken link and each checkpoint's status."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the report as JSON")
        parser.add_argument(
            "--tree",
            action="store_true",
            help="Also recompute the Merkle tree from every entry and check each signed tree "
            "head and every stored node against it",
        )

    def handle(self, *args, json: bool = False, tree: bool = False, **options):
        report = verify_ledger().as_dict()
        if tree:
            report["tree_problems"] = verify_tree()
            report["ok"] = report["ok"] and not report["tree_problems"]
            report["problem"] = report["problem"] or "; ".join(report["tree_problems"])
        if json:
            self.stdout.write(_dumps(report))
        else:
            self._print(report)
        if not report["ok"]:
            raise CommandError(f"ledger verification failed: {report['problem']}")

    def _print(self, report: dict) -> None:
        self.stdout.write(
            f"entries: {report['entries']}, head: #{report['head_sequence']} {report['head_hash']}"
        )
        for problem in report.get("tree_problems", []):
            self.stdout.write(self.style.ERROR(f"tree: {problem}"))
        for cp in report["checkpoints"]:
            state = "ok" if cp["ok"] else f"BROKEN: {cp['problem']}"
            self.stdout.write(f"checkpoint #{cp['sequence']}: {state}")
        if report["chain_ok"]:
            self.stdout.write(self.style.SUCCESS("chain: ok"))
        else:
            self.stdout.write(
                self.style.ERROR(
                    f"chain: broken at #{report['first_broken_sequence']}: {report['problem']}"
                )
            )


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, default=str)
