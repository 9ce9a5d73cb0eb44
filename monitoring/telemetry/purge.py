"""Telemetry past its retention (settings.TELEMETRY_RETENTION_DAYS), deleted in bulk.

Telemetry events are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE. The one
exception is this purge: the trigger lets DELETE through only in a transaction that has set
`locus.telemetry_purge` on (SET LOCAL: it ends with the transaction), and only this module sets
it. Events are deleted oldest first in chunks (TELEMETRY_PURGE_CHUNK per transaction), so
locks stay short and ingest goes on. The rollups the dashboards read (daily flows, actor
volumes, footprints, catalog gaps) are other tables and are not touched; events that carry a
violation stay with their incident.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from governance.ledger.chain import ledger_append
from monitoring.models import TelemetryEvent, Violation

PURGE_SETTING = "locus.telemetry_purge"


def purge_cutoff(now: dt.datetime) -> dt.datetime:
    """Events that occurred before this are past their retention."""
    return now - dt.timedelta(days=settings.TELEMETRY_RETENTION_DAYS)


def telemetry_purge(*, now: dt.datetime | None = None, chunk: int | None = None) -> int:
    """Delete the events past their retention, a chunk per transaction; the count, on the
    decision log when any."""
    cutoff = purge_cutoff(now or timezone.now())
    size = chunk or settings.TELEMETRY_PURGE_CHUNK
    deleted = 0
    while True:
        count = _delete_chunk(cutoff, size)
        deleted += count
        if count < size:
            break
    if deleted:
        with transaction.atomic():
            ledger_append(
                actor=None,
                kind="telemetry.purged",
                data={"before": cutoff.isoformat(), "events": deleted, "chunk": size},
            )
    return deleted


def _delete_chunk(cutoff: dt.datetime, size: int) -> int:
    """One chunk, oldest first, in its own transaction; the trigger's exception is switched on
    for this statement only (off again before the transaction goes on, should it be nested)."""
    events = TelemetryEvent._meta.db_table
    violations = Violation._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        _purging(cursor, True)  # a failed DELETE rolls this back with it
        cursor.execute(
            f"DELETE FROM {events} WHERE id IN ("
            f"SELECT e.id FROM {events} e WHERE e.occurred_at < %s AND NOT EXISTS "
            f"(SELECT 1 FROM {violations} v WHERE v.event_id = e.id) "
            "ORDER BY e.occurred_at LIMIT %s)",
            [cutoff, size],
        )
        deleted = cursor.rowcount
        _purging(cursor, False)
        return deleted


def _purging(cursor, on: bool) -> None:
    """Set the trigger's exception for the current transaction only (PostgreSQL)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, "on" if on else "off"])
