"""Telemetry past its retention (settings.TELEMETRY_RETENTION_DAYS), removed in bulk.

Telemetry events are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE. On
PostgreSQL the events live in day partitions (monitoring.telemetry.partitions): the purge
drops each day partition whose whole day is past retention (an event is kept at most a day
longer than its retention), one transaction each, after moving its events that carry a
violation to the default partition. What the default partition holds past retention, and the
whole table on SQLite, is deleted oldest first in chunks (TELEMETRY_PURGE_CHUNK per
transaction), the trigger's one exception switched on for that statement only (SET LOCAL).
The rollups the dashboards read (daily flows, actor volumes, footprints, catalog gaps) are
other tables and are not touched; events that carry a violation stay with their incident.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.ledger.chain import ledger_append
from monitoring.models import TelemetryEvent, Violation
from monitoring.telemetry import partitions


def purge_cutoff(now: dt.datetime) -> dt.datetime:
    """Events that occurred before this are past their retention."""
    return now - dt.timedelta(days=settings.TELEMETRY_RETENTION_DAYS)


def telemetry_purge(*, now: dt.datetime | None = None, chunk: int | None = None) -> int:
    """Drop the day partitions and delete the other events past their retention; the count
    (exact for deleted rows, estimated for dropped partitions), on the decision log when any."""
    cutoff = purge_cutoff(now or timezone.now())
    size = chunk or settings.TELEMETRY_PURGE_CHUNK
    dropped = partitions.partitions_past(cutoff)
    estimated = sum(partitions.partition_drop(day, Violation._meta.db_table) for day in dropped)
    deleted = 0
    while True:
        count = _delete_chunk(cutoff, size)
        deleted += count
        if count < size:
            break
    if deleted or dropped:
        data = {"before": cutoff.isoformat(), "events": deleted, "chunk": size}
        if dropped:
            data["partitions"] = [day.isoformat() for day in dropped]
            data["partition_events_estimated"] = estimated
        with transaction.atomic():
            ledger_append(actor=None, kind="telemetry.purged", data=data)
    return deleted + estimated


def _delete_chunk(cutoff: dt.datetime, size: int) -> int:
    """One chunk, oldest first, in its own transaction; the trigger's exception is switched on
    for this statement only (off again before the transaction goes on, should it be nested)."""
    events = partitions.DEFAULT if partitions.is_partitioned() else TelemetryEvent._meta.db_table
    violations = Violation._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        partitions.set_purging(cursor, True)  # a failed DELETE rolls this back with it
        cursor.execute(
            f"DELETE FROM {events} WHERE id IN ("
            f"SELECT e.id FROM {events} e WHERE e.occurred_at < %s AND NOT EXISTS "
            f"(SELECT 1 FROM {violations} v WHERE v.event_id = e.id) "
            "ORDER BY e.occurred_at LIMIT %s)",
            [cutoff, size],
        )
        deleted = cursor.rowcount
        partitions.set_purging(cursor, False)
        return deleted
