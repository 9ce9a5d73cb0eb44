"""On PostgreSQL, the chain's head in a one-row table that appends lock FOR UPDATE.

`ledger_append` locks and reads this row in one statement, then inserts the entry and moves the
head in a second, so concurrent appenders queue on the row lock and always see the head the
previous one committed. The row is a lock and a cache, never evidence: verification reads the
entries. A TRUNCATE of the entries (allowed only in a maintenance session) empties it too, so
the next append starts again at genesis; `ledger_append` recreates a missing row from the
entries. SQLite serialises writers and reads the head from the entries instead.
"""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS governance_ledgerhead (
    id smallint PRIMARY KEY CHECK (id = 1),
    sequence bigint NOT NULL,
    hash varchar(64) NOT NULL
);
INSERT INTO governance_ledgerhead (id, sequence, hash)
SELECT 1, sequence, hash FROM governance_ledgerentry ORDER BY sequence DESC LIMIT 1
ON CONFLICT (id) DO NOTHING;

CREATE OR REPLACE FUNCTION locus_ledger_forget_head() RETURNS trigger AS $$
BEGIN
    DELETE FROM governance_ledgerhead;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER governance_ledgerentry_truncate_head AFTER TRUNCATE ON governance_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION locus_ledger_forget_head();
"""

DROP = """
DROP TRIGGER IF EXISTS governance_ledgerentry_truncate_head ON governance_ledgerentry;
DROP FUNCTION IF EXISTS locus_ledger_forget_head();
DROP TABLE IF EXISTS governance_ledgerhead;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("governance", "0006_people")]
    operations = [migrations.RunPython(install, uninstall)]
