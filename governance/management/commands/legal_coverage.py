"""Print what Locus encodes of each jurisdiction's law, with citations and what is unverified."""

import json as json_module
from typing import Any

from django.core.management.base import BaseCommand

from governance.policy.coverage import coverage_table, legal_coverage


class Command(BaseCommand):
    help = (
        "Per jurisdiction: subject-request deadline, transfer rule, recognised destinations, "
        "localisation duties, breach clock and rights encoded, and which facts are unverified. "
        "Markdown table by default; --json for every fact with its citation."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Every fact, as JSON")

    def handle(self, *args: Any, json: bool = False, **options: Any) -> None:
        rows = legal_coverage()
        if json:
            self.stdout.write(_as_json(rows))
            return
        self.stdout.write(coverage_table(rows))
        missing = [row.code for row in rows if row.missing]
        self.stdout.write(
            f"\n{len(rows)} jurisdictions; "
            + (f"missing facts for: {', '.join(missing)}" if missing else "none is missing a fact")
        )


def _as_json(rows: list[Any]) -> str:
    return json_module.dumps(
        [
            {
                "jurisdiction": row.code,
                "name": row.name,
                "law": row.law,
                "recognised_destinations": row.recognised,
                "recognised_verified": row.recognised_verified,
                "facts": [fact.__dict__ for fact in row.facts],
                "unverified": row.unverified,
                "missing": row.missing,
            }
            for row in rows
        ],
        indent=2,
    )
