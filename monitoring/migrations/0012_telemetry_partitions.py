"""On PostgreSQL, telemetry events move to a table partitioned by day (monitoring.telemetry.partitions).

The old table is renamed, the partitioned one created in its place (same columns, defaults,
identity and checks), the rows copied, the old table dropped, all in this migration's
transaction. A partitioned table's primary and unique keys must hold its partition key, so the
primary key is (id, occurred_at) (the model keeps `id` as its pk: ids stay unique, from one
identity) and idempotency is (source, client id, occurred_at); the violations' foreign key to
events goes (nothing unique on id alone to reference). The model's state is unchanged: SQLite
keeps its plain table and (source, client id) key.
"""

import datetime as dt

from django.conf import settings
from django.db import migrations

TABLE = "monitoring_telemetryevent"
OLD = f"{TABLE}_unpartitioned"

DROP_VIOLATION_KEY = f"""
DO $$ DECLARE name text; BEGIN
    FOR name IN SELECT conname FROM pg_constraint WHERE conrelid = 'monitoring_violation'::regclass
            AND contype = 'f' AND confrelid = '{TABLE}'::regclass LOOP
        EXECUTE format('ALTER TABLE monitoring_violation DROP CONSTRAINT %I', name);
    END LOOP;
END $$;
"""

SET_ASIDE = f"""
ALTER TABLE {TABLE} RENAME TO {OLD};
ALTER TABLE {OLD} DROP CONSTRAINT telemetry_event_once;
DROP INDEX telemetry_event_time;
DROP INDEX telemetry_event_dataset;
ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey;
"""

KEYS_AND_TRIGGERS = f"""
CREATE INDEX telemetry_event_time ON {TABLE} (occurred_at);
CREATE INDEX telemetry_event_dataset ON {TABLE} (dataset_id, occurred_at);
CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION locus_telemetry_refuse_change();
CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION locus_telemetry_refuse_change();
"""

PARTITIONED = f"""
CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (occurred_at);
ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, occurred_at);
ALTER TABLE {TABLE} ADD CONSTRAINT telemetry_event_once UNIQUE (source_id, client_id, occurred_at);
CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT;
{KEYS_AND_TRIGGERS}
"""

PLAIN = f"""
CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS);
ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id);
ALTER TABLE {TABLE} ADD CONSTRAINT telemetry_event_once UNIQUE (source_id, client_id);
{KEYS_AND_TRIGGERS}
"""

COPY_BACK = f"""
INSERT INTO {TABLE} SELECT * FROM {OLD};
SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {TABLE};
DROP TABLE {OLD};
"""

VIOLATION_KEY = f"""
ALTER TABLE monitoring_violation ADD CONSTRAINT monitoring_violation_event_id_fk
    FOREIGN KEY (event_id) REFERENCES {TABLE} (id) DEFERRABLE INITIALLY DEFERRED;
"""


def _first_day(schema_editor, today: dt.date) -> dt.date:
    """The oldest day to give a partition: the oldest kept event's day, within retention, or
    the oldest day ingest accepts; older events go to the default partition."""
    back = min(settings.TELEMETRY_MAX_AGE_DAYS, settings.TELEMETRY_RETENTION_DAYS - 1)
    first = today - dt.timedelta(days=back)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(occurred_at) FROM {OLD}")
        oldest = cursor.fetchone()[0]
    if oldest is not None:
        retained = today - dt.timedelta(days=settings.TELEMETRY_RETENTION_DAYS - 1)
        first = min(first, max(oldest.astimezone(dt.UTC).date(), retained))
    return first


def _day_partitions(schema_editor) -> None:
    today = dt.datetime.now(dt.UTC).date()
    day = _first_day(schema_editor, today)
    last = today + dt.timedelta(days=settings.TELEMETRY_PARTITION_DAYS_AHEAD)
    while day <= last:
        after = day + dt.timedelta(days=1)
        schema_editor.execute(
            f"CREATE TABLE {TABLE}_p{day:%Y%m%d} PARTITION OF {TABLE} "
            f"FOR VALUES FROM ('{day} 00:00:00+00') TO ('{after} 00:00:00+00')",
            params=None,
        )
        day = after


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(DROP_VIOLATION_KEY, params=None)
    schema_editor.execute(SET_ASIDE, params=None)
    schema_editor.execute(PARTITIONED, params=None)
    _day_partitions(schema_editor)
    schema_editor.execute(COPY_BACK, params=None)


def unpartition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(SET_ASIDE, params=None)
    schema_editor.execute(PLAIN, params=None)
    schema_editor.execute(COPY_BACK, params=None)
    schema_editor.execute(VIOLATION_KEY, params=None)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0011_breach_drills")]
    operations = [migrations.RunPython(partition, unpartition)]
