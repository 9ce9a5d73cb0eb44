"""`python -m governance.ledger.proofcheck`: the offline check of the decision log's receipts
and signed tree heads, from a Locus checkout (or an evidence package's `verifier/` folder).

The check is `locus_client.proofcheck` (standard library only), which ships in the installed
`locus` client so that `locus receipt verify` needs nothing else; its names are re-exported
here for the server's code. Usage and exit codes: see that module.
"""

from __future__ import annotations

import sys

from locus_client.proofcheck import consistency_problems as consistency_problems
from locus_client.proofcheck import export_tree_problem as export_tree_problem
from locus_client.proofcheck import main as client_main
from locus_client.proofcheck import receipt_and_history_problems as receipt_and_history_problems
from locus_client.proofcheck import receipt_message as receipt_message
from locus_client.proofcheck import receipt_problems as receipt_problems
from locus_client.proofcheck import tree_head_message as tree_head_message
from locus_client.proofcheck import tree_head_problem as tree_head_problem


def main(
    argv: list[str] | None = None, prog: str = "python -m governance.ledger.proofcheck"
) -> int:
    """The command line of locus_client.proofcheck, under this module's name."""
    return client_main(argv, prog=prog)


if __name__ == "__main__":
    sys.exit(main())
