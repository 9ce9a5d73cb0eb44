"""The database side of append-only rows (`catalog.models.AppendOnly`): one migration operation
that has PostgreSQL refuse UPDATE and DELETE of a model's rows, and the foreign key such rows
use to point at things that may be deleted.

On PostgreSQL, UPDATE and DELETE are always refused; TRUNCATE is refused unless the session has
set `locus.ledger_maintenance = 'on'` (the test suite does, to reset its database between
tests). Elsewhere (SQLite) the operation does nothing: the models and querysets refuse changes.
"""

from __future__ import annotations

from django.db import models
from django.db.migrations.operations.base import Operation

FUNCTION = "locus_append_only_refuse_change"

CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('locus.ledger_maintenance', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '% rows are append-only: % is refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

CREATE_TRIGGERS = """
CREATE TRIGGER {name}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {function}();
CREATE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS {name}_no_update_delete ON {table};
DROP TRIGGER IF EXISTS {name}_no_truncate ON {table};
"""

# The function goes with the last trigger that uses it.
DROP_UNUSED_FUNCTION = f"""
DO $$ BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE p.proname = '{FUNCTION}'
    ) THEN
        DROP FUNCTION IF EXISTS {FUNCTION}();
    END IF;
END $$;
"""


class AppendOnlyTrigger(Operation):
    """Migration operation: on PostgreSQL, a trigger refuses UPDATE and DELETE of the model's
    rows (TRUNCATE outside maintenance too); reversible; nothing on other databases."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str):
        self.model_name = model_name

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.model_name], {})

    def state_forwards(self, app_label, state):
        pass  # the models do not change, only the database's rules about their rows

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self._applies(schema_editor, model):
            schema_editor.execute(CREATE_FUNCTION, params=None)
            schema_editor.execute(CREATE_TRIGGERS.format(**self._names(schema_editor, model)))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self._applies(schema_editor, model):
            schema_editor.execute(DROP_TRIGGERS.format(**self._names(schema_editor, model)))
            schema_editor.execute(DROP_UNUSED_FUNCTION, params=None)

    def describe(self) -> str:
        return f"Refuse UPDATE and DELETE of {self.model_name} rows (PostgreSQL)"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_append_only"

    def _applies(self, schema_editor, model) -> bool:
        connection = schema_editor.connection
        return connection.vendor == "postgresql" and self.allow_migrate_model(
            connection.alias, model
        )

    @staticmethod
    def _names(schema_editor, model) -> dict[str, str]:
        table = model._meta.db_table
        return {
            "table": schema_editor.quote_name(table),
            "name": table,
            "function": FUNCTION,
        }


def append_only_reference(to, **kwargs) -> models.ForeignKey:
    """A foreign key from an append-only row to something that may be deleted (a person, a
    dataset, a rule): deleting the target never touches the row (no SET NULL, which the
    trigger refuses, and no database constraint). The row keeps a display string beside it;
    the id may then name a row that is gone."""
    return models.ForeignKey(
        to, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, **kwargs
    )
