"""Write the decision log, or the slice of a period, as JSONL for the offline verifier."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import dateparse

from governance.ledger.export import export_lines


def _moment(option: str, value: str | None) -> dt.datetime | None:
    """An ISO 8601 time (UTC when it names no offset), or a CommandError naming the option."""
    if not value:
        return None
    try:
        moment = dateparse.parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"{option}: {value!r} is not an ISO 8601 date and time")
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Export the decision log as JSON lines (a header, then one entry a line) for "
        "`python -m governance.ledger.verify`; --from/--to export the slice of a period."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="since", help="first moment, ISO 8601 (inclusive)")
        parser.add_argument("--to", dest="until", help="last moment, ISO 8601 (exclusive)")
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, since=None, until=None, output=None, **options):
        lines = export_lines(since=_moment("--from", since), until=_moment("--to", until))
        if not output:
            for line in lines:
                self.stdout.write(line, ending="")
            return
        with open(output, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
