"""Sign the ledger's current head now (the same as the periodic task)."""

import json

from django.core.management.base import BaseCommand

from governance.ledger import signing
from governance.ledger.export import checkpoint_create
from governance.ledger.verification import signing_document


class Command(BaseCommand):
    help = "Sign the current head of the decision log and store the checkpoint; prints it as JSON."

    def add_arguments(self, parser):
        parser.add_argument(
            "--show-hmac-key",
            action="store_true",
            help="Print the HMAC key (hex) the offline verifier needs for earlier HMAC checkpoints, "
            "and stop",
        )
        parser.add_argument(
            "--show-public-key",
            action="store_true",
            help="Print the public key (base64) to publish and give the offline verifier "
            "(--trusted-key), and stop",
        )

    def handle(self, *args, show_hmac_key: bool = False, show_public_key: bool = False, **options):
        if show_public_key:
            self.stdout.write(signing.public_key_b64())
            return
        if show_hmac_key:
            self.stdout.write(signing.hmac_key_hex())
            return
        checkpoint = checkpoint_create()
        self.stdout.write(json.dumps(signing_document(checkpoint), indent=2))
