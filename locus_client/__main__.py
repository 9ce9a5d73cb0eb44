"""`python -m locus_client`: the `locus` command."""

import sys

from locus_client.cli import main

sys.exit(main())
