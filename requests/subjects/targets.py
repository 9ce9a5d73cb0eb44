"""Connectors answer a dataset's subject-request task without its owner: the SQL connector.

A SQL connector names a table, the column that holds one kind of subject identifier, and a
database named for subject data: a Django DATABASES alias listed in
settings.SUBJECT_CONNECTOR_DATABASES, or a PostgreSQL DSN from settings.SUBJECT_CONNECTOR_DSNS.
Never Locus's own database: not its aliases, nor any target that is the same database or holds
Locus's tables. The table and columns are looked up in the target's catalog when the connector
is saved, approved and run.

Access and portability export the subject's rows; erasure deletes them or masks the declared
columns (sets them NULL). Each runs in one transaction on the target, which is never Locus's,
so the count is kept in Locus before the target commits: a worker lost in between leaves the
true count for the rerun, which erases nothing twice (deleted rows are gone, masked rows no
longer match).

Errors from targets may quote the subject's identifiers (`invalid input syntax for type
integer: "<e-mail>"`): requests.subjects.redaction takes every form of them out before an error is
kept or sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeAlias

import psycopg
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connections,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from governance.models import LedgerEntry
from requests.models.subjects import (
    EXPORTING_TYPES,
    EraseMode,
    SubjectRequest,
    SubjectRequestType,
)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_EXPORT_ROWS = 50_000
# SQLite reports a missing table or column as an OperationalError: no retry will fix those.
PERMANENT_HINTS = ("no such table", "no such column", "syntax error")
# Tables only Locus has: a target whose catalog holds them is Locus's own database.
LOCUS_TABLES = (SubjectRequest._meta.db_table, LedgerEntry._meta.db_table)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")
# Relation kinds a connector may name (PostgreSQL): tables, partitioned tables, views, foreign.
TABLE_KINDS = ("r", "p", "v", "f")
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
# A value JSON holds (a database's JSON column gives objects and arrays as they are).
JsonValue: TypeAlias = str | int | float | bool | dict[str, Any] | list[Any] | None


class ConnectorError(Exception):
    """A connector cannot run as configured (unknown table, bad column): the owner must act.

    `field` names the connector's field at fault, for a 400 that says which."""

    def __init__(self, message: str, *, field: str = "table"):
        super().__init__(message)
        self.field = field


class TransientError(ConnectorError):
    """The target could not be reached; trying again later may work."""


class NotApproved(ConnectorError):
    """The connector's current version has not been approved by a privacy officer."""


@dataclass
class Result:
    """What a connector run did."""

    found: int
    rows: list[dict[str, JsonValue]] | None = None
    erased: int | None = None
    masked: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rows")
        data["exported"] = None if self.rows is None else len(self.rows)
        return {k: v for k, v in data.items() if v is not None}


def json_safe(value: object) -> JsonValue:
    """A database value as JSON can hold it."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


# --- Where a connector may go -----------------------------------------------------------------


def _host(host) -> str:
    host = str(host or "")
    return "local" if host in LOCAL_HOSTS or host.startswith("/") else host.lower()


def _place_of_settings(db: dict) -> tuple:
    """Where a DATABASES entry's data lives, comparable across aliases and DSNs."""
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        name = str(db["NAME"])
        return ("sqlite3", name if "memory" in name else str(Path(name).resolve()))
    return (engine, _host(db.get("HOST")), str(db.get("PORT") or 5432), str(db["NAME"]))


def _place_of_dsn(dsn: str) -> tuple:
    info = conninfo_to_dict(dsn)
    name = info.get("dbname") or info.get("user") or ""
    return ("postgresql", _host(info.get("host")), str(info.get("port") or 5432), name)


def subject_aliases() -> list[str]:
    """The DATABASES aliases named for subject data (never `default`)."""
    return [a for a in settings.SUBJECT_CONNECTOR_DATABASES if a != DEFAULT_DB_ALIAS]


def _locus_places() -> set[tuple]:
    """Where Locus's own databases are: every alias not named for subject data."""
    allowed = set(subject_aliases())
    return {
        _place_of_settings(connections[a].settings_dict) for a in connections if a not in allowed
    }


def _check_alias(alias: str) -> None:
    if alias not in subject_aliases():
        raise ConnectorError(
            f"{alias!r} is not a database named for subject data "
            "(SUBJECT_CONNECTOR_DATABASES); Locus's own databases are never reachable",
            field="database",
        )
    if alias not in connections:
        raise ConnectorError(f"No database alias {alias!r} in settings", field="database")
    if _place_of_settings(connections[alias].settings_dict) in _locus_places():
        raise ConnectorError(f"{alias!r} is Locus's own database", field="database")


def _check_dsn(name: str) -> None:
    dsns = settings.SUBJECT_CONNECTOR_DSNS
    if name not in dsns:
        raise ConnectorError(
            f"No DSN named {name!r} in SUBJECT_CONNECTOR_DSNS", field="dsn_setting"
        )
    try:
        place = _place_of_dsn(dsns[name])
    except psycopg.ProgrammingError:
        raise ConnectorError(f"The DSN {name!r} cannot be read", field="dsn_setting") from None
    if place in _locus_places():
        raise ConnectorError(f"The DSN {name!r} is Locus's own database", field="dsn_setting")


def validate_config(connector) -> None:
    """Refuse names that are not plain SQL identifiers, and databases not named for subject
    data (above all Locus's own); each error names the field at fault."""
    parts = connector.table.split(".")
    if not connector.table or len(parts) > 2 or not all(NAME.match(p) for p in parts):
        raise ConnectorError(f"{connector.table!r} is not a table name (schema.table or table)")
    if not isinstance(connector.identifier_column, str) or not NAME.match(
        connector.identifier_column
    ):
        raise ConnectorError(
            f"{connector.identifier_column!r} is not a column name", field="identifier_column"
        )
    for column in connector.mask_columns:
        if not isinstance(column, str) or not NAME.match(column):
            raise ConnectorError(f"{column!r} is not a column name", field="mask_columns")
    if connector.retention_column and not NAME.match(connector.retention_column):
        raise ConnectorError(
            f"{connector.retention_column!r} is not a column name", field="retention_column"
        )
    if connector.erase_mode == EraseMode.MASK and not connector.mask_columns:
        raise ConnectorError("Masking needs the columns to mask", field="mask_columns")
    if bool(connector.database) == bool(connector.dsn_setting):
        raise ConnectorError(
            "Name either a database alias (SUBJECT_CONNECTOR_DATABASES) or a DSN setting "
            "(SUBJECT_CONNECTOR_DSNS)",
            field="database",
        )
    if connector.database:
        _check_alias(connector.database)
    else:
        _check_dsn(connector.dsn_setting)


# --- Targets: a transaction, identifier quoting and the catalog ------------------------------


class Target:
    """One database the connector works in, with a transaction, identifier quoting and a
    look at its catalog."""

    label = "target"
    field = "database"  # the connector's field that names it
    fold_case = False  # whether the target's column names ignore case (SQLite does)

    def quote(self, name: str) -> str:
        """The identifier quoted as the target's SQL spells it."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[Any]:
        """A cursor (Django's or psycopg's) in one transaction on the target."""
        raise NotImplementedError

    def quoted_table(self, connector) -> str:
        return ".".join(self.quote(p) for p in connector.table.split("."))

    def statements(self, connector):
        table = self.quoted_table(connector)
        column = self.quote(connector.identifier_column)
        where = f"{column} = %s"
        masked = [self.quote(c) for c in connector.mask_columns]
        unmasked = " OR ".join(f"{c} IS NOT NULL" for c in masked)
        return {
            "select": f"SELECT * FROM {table} WHERE {where} LIMIT {MAX_EXPORT_ROWS + 1}",
            "delete": f"DELETE FROM {table} WHERE {where}",
            "mask": f"UPDATE {table} SET {', '.join(f'{c} = NULL' for c in masked)} "
            f"WHERE {where} AND ({unmasked or 'FALSE'})",
            "expire": f"DELETE FROM {table} WHERE "
            f"{self.quote(connector.retention_column or connector.identifier_column)} < %s",
        }

    def inspect(self, cursor, connector) -> None:
        """The target is not Locus's database, and holds the table and every named column."""
        if self.holds_locus_tables(cursor):
            raise ConnectorError(f"The {self.label} holds Locus's own tables", field=self.field)
        columns = self.columns(cursor, connector)
        if columns is None:
            raise ConnectorError(f"No table {connector.table!r} in the {self.label}")
        fold = str.lower if self.fold_case else str
        known = {fold(c) for c in columns}
        if fold(connector.identifier_column) not in known:
            raise ConnectorError(
                f"No column {connector.identifier_column!r} in {connector.table!r}",
                field="identifier_column",
            )
        if connector.retention_column and fold(connector.retention_column) not in known:
            raise ConnectorError(
                f"No column {connector.retention_column!r} in {connector.table!r}",
                field="retention_column",
            )
        missing = [c for c in connector.mask_columns if fold(c) not in known]
        if missing:
            raise ConnectorError(
                f"No column {', '.join(map(repr, missing))} in {connector.table!r}",
                field="mask_columns",
            )

    def holds_locus_tables(self, cursor) -> bool:
        raise NotImplementedError

    def columns(self, cursor, connector) -> list[str] | None:
        """The table's column names; None when there is no such table a connector may use."""
        raise NotImplementedError


class PostgresCatalog(Target):
    """PostgreSQL's catalog: names resolve as the statements resolve them (search_path)."""

    def holds_locus_tables(self, cursor) -> bool:
        cursor.execute(
            "SELECT count(*) FROM pg_catalog.pg_class "
            "WHERE relname = ANY(%s) AND relkind IN ('r', 'p')",
            [list(LOCUS_TABLES)],
        )
        return cursor.fetchone()[0] > 0

    def columns(self, cursor, connector) -> list[str] | None:
        table = self.quoted_table(connector)
        cursor.execute(
            "SELECT n.nspname, c.relkind FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(%s)",
            [table],
        )
        found = cursor.fetchone()
        if found is None or found[1] not in TABLE_KINDS:
            return None
        if found[0] in SYSTEM_SCHEMAS or found[0].startswith("pg_"):
            return None  # the server's own catalog is no subject data
        cursor.execute(
            "SELECT attname FROM pg_catalog.pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


class SqliteCatalog(Target):
    """SQLite's catalog: the main schema only, never its internal sqlite_ tables."""

    fold_case = True

    def holds_locus_tables(self, cursor) -> bool:
        marks = ", ".join(["%s"] * len(LOCUS_TABLES))
        cursor.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
            list(LOCUS_TABLES),
        )
        return cursor.fetchone()[0] > 0

    def columns(self, cursor, connector) -> list[str] | None:
        schema, _, name = connector.table.rpartition(".")
        if schema not in ("", "main") or name.lower().startswith("sqlite_"):
            return None
        cursor.execute(
            "SELECT count(*) FROM sqlite_master "
            "WHERE type IN ('table', 'view') AND lower(name) = lower(%s)",
            [name],
        )
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT name FROM pragma_table_info(%s)", [name])
        return [row[0] for row in cursor.fetchall()]


class IntrospectedCatalog(Target):
    """Other databases Django knows: its introspection, unqualified table names only."""

    fold_case = True
    connection: BaseDatabaseWrapper  # a DjangoTarget's

    def _tables(self, cursor) -> set[str]:
        return {t.name for t in self.connection.introspection.get_table_list(cursor)}

    def holds_locus_tables(self, cursor) -> bool:
        return bool(self._tables(cursor) & set(LOCUS_TABLES))

    def columns(self, cursor, connector) -> list[str] | None:
        if "." in connector.table or connector.table not in self._tables(cursor):
            return None
        description = self.connection.introspection.get_table_description(cursor, connector.table)
        return [column.name for column in description]


class DjangoTarget(Target):
    """A DATABASES alias named for subject data."""

    def __init__(self, alias: str):
        self.alias = alias
        self.label = f"database {alias!r}"
        self.connection = connections[alias]

    def quote(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    @contextmanager
    def transaction(self):
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            yield cursor


class PostgresAlias(PostgresCatalog, DjangoTarget):
    pass


class SqliteAlias(SqliteCatalog, DjangoTarget):
    pass


class OtherAlias(IntrospectedCatalog, DjangoTarget):
    pass


class DsnTarget(PostgresCatalog, Target):
    """A PostgreSQL DSN of settings.SUBJECT_CONNECTOR_DSNS."""

    field = "dsn_setting"

    def __init__(self, name: str, dsn: str):
        self.label = f"DSN {name!r}"
        self.dsn = dsn

    def quote(self, name: str) -> str:
        return sql.Identifier(name).as_string(None)

    @contextmanager
    def transaction(self):
        with psycopg.connect(self.dsn, connect_timeout=10) as conn, conn.cursor() as cursor:
            yield cursor  # psycopg commits on leaving the block, rolls back on an exception


ALIAS_TARGETS = {"postgresql": PostgresAlias, "sqlite": SqliteAlias}


def target_of(connector) -> Target:
    """Where the connector works, once its configuration passed `validate_config`."""
    validate_config(connector)
    if connector.database:
        vendor = connections[connector.database].vendor
        return ALIAS_TARGETS.get(vendor, OtherAlias)(connector.database)
    return DsnTarget(connector.dsn_setting, settings.SUBJECT_CONNECTOR_DSNS[connector.dsn_setting])


def _rows(cursor) -> list[dict]:
    names = [col[0] for col in cursor.description]
    rows = [dict(zip(names, map(json_safe, row), strict=True)) for row in cursor.fetchall()]
    if len(rows) > MAX_EXPORT_ROWS:
        raise ConnectorError(f"More than {MAX_EXPORT_ROWS} rows for one subject: export by hand")
    return rows


@contextmanager
def _translated(target: Target):
    """Database errors as connector errors: unreachable is transient, the rest need a person."""
    try:
        yield
    except (OperationalError, InterfaceError, psycopg.OperationalError) as exc:
        message = str(exc).strip()
        if any(hint in message for hint in PERMANENT_HINTS):
            raise ConnectorError(message) from exc
        raise TransientError(message, field=target.field) from exc
    except (DatabaseError, psycopg.Error) as exc:
        raise ConnectorError(str(exc).strip()) from exc


def check_catalog(connector) -> None:
    """Look the connector's table and columns up in its target's catalog (when it is saved
    or approved); raises ConnectorError naming the field at fault."""
    target = target_of(connector)
    with _translated(target), target.transaction() as cursor:
        target.inspect(cursor, connector)


def run(connector, request_type: str, identifier: str, task) -> bool:
    """Answer the task; False when its claim was lost (nothing was recorded).

    The target's catalog is checked again first, in the same transaction as the work."""
    from requests.subjects import work

    target = target_of(connector)
    if request_type in EXPORTING_TYPES:
        with _translated(target), target.transaction() as cursor:
            target.inspect(cursor, connector)
            cursor.execute(target.statements(connector)["select"], [identifier])
            rows = _rows(cursor)
        with transaction.atomic():
            return work.record_connector_result(task, Result(found=len(rows), rows=rows))
    if request_type != SubjectRequestType.ERASURE:
        raise ConnectorError(f"A connector cannot answer a {request_type} request")
    statement = target.statements(connector)[connector.erase_mode]
    with _translated(target), target.transaction() as cursor:
        target.inspect(cursor, connector)
        cursor.execute(statement, [identifier])
        count = cursor.rowcount
        if count:  # never overwrite an earlier run's count with this rerun's zero
            work.prepare_connector_count(task, count)
    task.refresh_from_db(fields=["prepared_rows"])
    if count == 0 and task.prepared_rows:
        count = task.prepared_rows  # an earlier run erased them and was lost before recording
    with transaction.atomic():
        return work.record_connector_result(task, _erasure(connector, count))


def _erasure(connector, count: int) -> Result:
    if connector.erase_mode == EraseMode.MASK:
        return Result(found=count, masked=count)
    return Result(found=count, erased=count)


def expire(connector, cutoff: dt.datetime, prepare: Callable[[int], None]) -> int:
    """Delete the target's rows older than `cutoff` by the connector's retention column, in one
    transaction on the target; `prepare(count)` keeps the count in Locus before it commits."""
    if not connector.retention_column:
        raise ConnectorError("The connector names no retention column", field="retention_column")
    target = target_of(connector)
    with _translated(target), target.transaction() as cursor:
        target.inspect(cursor, connector)
        cursor.execute(target.statements(connector)["expire"], [cutoff])
        count = cursor.rowcount
        if count:  # never overwrite an earlier run's count with this rerun's zero
            prepare(count)
    return count
