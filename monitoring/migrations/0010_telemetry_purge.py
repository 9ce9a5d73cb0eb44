"""The telemetry trigger's one exception: DELETE in a transaction that set
`locus.telemetry_purge` on (only monitoring.telemetry.purge does, with SET LOCAL). UPDATE is
always refused; DELETE otherwise; TRUNCATE outside maintenance, as before."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION locus_telemetry_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('locus.ledger_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' AND current_setting('locus.telemetry_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'telemetry events are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

BEFORE = """
CREATE OR REPLACE FUNCTION locus_telemetry_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('locus.ledger_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'telemetry events are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def allow_purge(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def refuse_purge(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BEFORE, params=None)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0009_lineage_judged_and_counted")]
    operations = [migrations.RunPython(allow_purge, refuse_purge)]
