"""Telemetry events in daily partitions (PostgreSQL): created ahead, dropped past retention.

On PostgreSQL `monitoring_telemetryevent` is partitioned by RANGE (occurred_at), one partition
per UTC day (`monitoring_telemetryevent_pYYYYMMDD`) and a default partition that takes an event
no day partition covers, so none is ever refused for its time (migration 0012). The periodic
task `telemetry_partitions_ensure` creates the days from the oldest that ingest accepts
(TELEMETRY_MAX_AGE_DAYS) to TELEMETRY_PARTITION_DAYS_AHEAD ahead; a day created while the
default partition holds some of its events takes them over. Retention drops a whole day
partition (monitoring.telemetry.purge), after moving the few events that carry a violation to
the default partition, where they stay with their incident.

SQLite (the embedded default) keeps a plain table: everything here is a no-op there.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

PARENT = "monitoring_telemetryevent"
DEFAULT = f"{PARENT}_default"
PREFIX = f"{PARENT}_p"
PURGE_SETTING = "locus.telemetry_purge"


def is_partitioned() -> bool:
    """Whether events live in day partitions (PostgreSQL) rather than one plain table."""
    return connection.vendor == "postgresql"


def partition_name(day: dt.date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def _bounds(day: dt.date) -> tuple[str, str]:
    """The day's range in UTC, as timestamptz literals."""
    return (
        f"{day.isoformat()} 00:00:00+00",
        f"{(day + dt.timedelta(days=1)).isoformat()} 00:00:00+00",
    )


def partition_days() -> list[dt.date]:
    """The days that have a partition, oldest first."""
    if not is_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    return sorted(
        dt.date.fromisoformat(name[len(PREFIX) :])  # YYYYMMDD
        for name in names
        if name.startswith(PREFIX)
    )


def set_purging(cursor, on: bool) -> None:
    """Switch the append-only trigger's one exception (DELETE) for this transaction only."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, "on" if on else "off"])


def telemetry_partitions_ensure(
    *, now: dt.datetime | None = None, ahead: int | None = None
) -> list[dt.date]:
    """Create the missing day partitions, from the oldest day ingest accepts (never one past
    retention) to `ahead` days on; returns the days created."""
    if not is_partitioned():
        return []
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    days_back = min(settings.TELEMETRY_MAX_AGE_DAYS, settings.TELEMETRY_RETENTION_DAYS - 1)
    first = today - dt.timedelta(days=days_back)
    last = today + dt.timedelta(
        days=settings.TELEMETRY_PARTITION_DAYS_AHEAD if ahead is None else ahead
    )
    have = set(partition_days())
    created = []
    day = first
    while day <= last:
        if day not in have:
            partition_create(day)
            created.append(day)
        day += dt.timedelta(days=1)
    return created


def partition_create(day: dt.date) -> None:
    """Create one day's partition in its own transaction; events of that day that the default
    partition took meanwhile move into it (same ids)."""
    low, high = _bounds(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s)",
            [low, high],
        )
        stray = cursor.fetchone()[0]
        if stray:
            cursor.execute(
                "CREATE TEMP TABLE telemetry_moving AS "
                f"SELECT * FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s",
                [low, high],
            )
            set_purging(cursor, True)
            cursor.execute(
                f"DELETE FROM {DEFAULT} WHERE occurred_at >= %s AND occurred_at < %s", [low, high]
            )
            set_purging(cursor, False)
        cursor.execute(
            f"CREATE TABLE {partition_name(day)} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{low}') TO ('{high}')"
        )
        if stray:
            cursor.execute(f"INSERT INTO {PARENT} SELECT * FROM telemetry_moving")
            cursor.execute("DROP TABLE telemetry_moving")


def partitions_past(cutoff: dt.datetime) -> list[dt.date]:
    """The day partitions wholly before the cutoff (their last instant is before it)."""
    return [
        d
        for d in partition_days()
        if dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), dt.UTC) <= cutoff
    ]


def partition_drop(day: dt.date, violations_table: str) -> int:
    """Drop one day's partition in one transaction, its events that carry a violation moved to
    the default partition first; returns the partition's estimated row count (pg_class:
    counting a day of events exactly would read all of them)."""
    name = partition_name(day)
    low, high = _bounds(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = %s::regclass", [name]
        )
        estimated = cursor.fetchone()[0]
        cursor.execute(
            f"CREATE TEMP TABLE telemetry_kept AS SELECT e.* FROM {name} e "
            f"WHERE e.id IN (SELECT v.event_id FROM {violations_table} v "
            "WHERE v.occurred_at >= %s AND v.occurred_at < %s)",
            [low, high],
        )
        cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
        cursor.execute(f"INSERT INTO {PARENT} SELECT * FROM telemetry_kept")
        cursor.execute(f"DROP TABLE {name}")
        cursor.execute("DROP TABLE telemetry_kept")
    return estimated
