"""Sequence the decision log: queued entries into the chain, new entries into the Merkle tree,
a signed tree head per batch (one at a time: a second sequencer waits for the next round)."""

import time

from django.core.management.base import BaseCommand, CommandParser

from governance.ledger.tree import ledger_sequence_all


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            default=0.0,
            help="keep running, sequencing every this many seconds (a Procfile process)",
        )

    def handle(self, *args, every: float = 0.0, **options) -> None:
        while True:
            size = ledger_sequence_all()
            self.stdout.write(f"tree size {size}")
            if every <= 0:
                return
            time.sleep(every)
