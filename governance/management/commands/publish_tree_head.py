"""Publish the decision log's latest signed tree head now (the same as the periodic task)."""

import json

from django.core.management.base import BaseCommand, CommandError

from governance.ledger.publish import tree_head_publish


class Command(BaseCommand):
    help = (
        "Publish the latest signed tree head to LEDGER_PUBLISH_TO (or --to: a directory or an "
        "http(s) URL); prints it as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", help="A directory, or an http(s) URL to POST the head to")

    def handle(self, *args, to: str | None = None, **options):
        try:
            head = tree_head_publish(to)
        except Exception as exc:  # an unwritable directory, a refusing server: say which
            raise CommandError(f"Not published: {exc}") from exc
        if head is None:
            raise CommandError("Nowhere to publish: set LEDGER_PUBLISH_TO or pass --to")
        self.stdout.write(json.dumps(head, indent=2))
