"""Sign the ledger's current head now (the same as the periodic task)."""

import json

from django.core.management.base import BaseCommand

from governance.ledger import checkpoint_create, signing_document


class Command(BaseCommand):
    help = "Sign the current head of the decision log and store the checkpoint; prints it as JSON."

    def handle(self, *args, **options):
        checkpoint = checkpoint_create()
        self.stdout.write(json.dumps(signing_document(checkpoint), indent=2))
