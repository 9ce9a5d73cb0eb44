"""`python -m governance.verify`: an auditor's offline check of a decision's receipt and of the
log's history, from the standard library alone (the check is governance.ledger.proofcheck).

    python -m governance.verify receipt RECEIPT.json --proof INCLUSION.json --trusted-key KEY \\
        [--published-head OLD_HEAD.json --consistency CONSISTENCY.json]
    python -m governance.verify consistency OLD_HEAD.json NEW_HEAD.json \\
        --proof CONSISTENCY.json --trusted-key KEY

The first checks that the receipt's leaf is in the tree under a signed tree head (and, with a
head published earlier, that this tree extends it); the second that a tree head extends an
earlier one. Exit 0 valid, 1 not valid, 2 bad input.
"""

from __future__ import annotations

import sys

from governance.ledger.proofcheck import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m governance.verify"))
