"""The chain's head row becomes a model, on every database, so verification compares the chain
with it (a cut tail is found) and a test database's flush empties it with the entries.

PostgreSQL has the table since 0007 (with its TRUNCATE trigger); SQLite gets it here, filled
from the entries.
"""

from django.db import migrations, models

SQLITE_CREATE = """
CREATE TABLE IF NOT EXISTS governance_ledgerhead (
    id smallint NOT NULL PRIMARY KEY CHECK (id = 1),
    sequence bigint NOT NULL,
    hash varchar(64) NOT NULL
)
"""
SQLITE_FILL = """
INSERT OR IGNORE INTO governance_ledgerhead (id, sequence, hash)
SELECT 1, sequence, hash FROM governance_ledgerentry ORDER BY sequence DESC LIMIT 1
"""


def create_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)
        schema_editor.execute(SQLITE_FILL)


def drop_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS governance_ledgerhead")


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0008_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="LedgerHead",
                    fields=[
                        ("id", models.SmallIntegerField(primary_key=True, serialize=False)),
                        ("sequence", models.BigIntegerField()),
                        ("hash", models.CharField(max_length=64)),
                    ],
                    options={"db_table": "governance_ledgerhead"},
                ),
            ],
            database_operations=[migrations.RunPython(create_on_sqlite, drop_on_sqlite)],
        ),
    ]
