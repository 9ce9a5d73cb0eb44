"""Sign the ledger's current head now (the same as the periodic task)."""

import json

from django.core.management.base import BaseCommand

from governance import signing
from governance.ledger import checkpoint_create, signing_document


class Command(BaseCommand):
    help = "Sign the current head of the decision log and store the checkpoint; prints it as JSON."

    def add_arguments(self, parser):
        parser.add_argument(
            "--show-hmac-key",
            action="store_true",
            help="Print the HMAC key (hex) the offline verifier needs for HMAC checkpoints, and stop",
        )

    def handle(self, *args, show_hmac_key: bool = False, **options):
        if show_hmac_key:
            self.stdout.write(signing.hmac_key_hex())
            return
        checkpoint = checkpoint_create()
        self.stdout.write(json.dumps(signing_document(checkpoint), indent=2))
