"""On PostgreSQL, every move of a revision counter notifies the processes that listen
(catalog.revision_notices): NOTIFY is part of the bump's transaction, so it is delivered when
the change commits and never when it rolls back, whoever made it."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION locus_revision_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('locus_revisions', NEW.key);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER catalog_revision_notify AFTER INSERT OR UPDATE ON catalog_revision
    FOR EACH ROW EXECUTE FUNCTION locus_revision_notify();
"""

DROP = """
DROP TRIGGER IF EXISTS catalog_revision_notify ON catalog_revision;
DROP FUNCTION IF EXISTS locus_revision_notify();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0012_lineageedge_techniques")]
    operations = [migrations.RunPython(install, uninstall)]
