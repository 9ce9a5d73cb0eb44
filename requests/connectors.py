"""Connectors answer a dataset's subject-request task without its owner: the SQL connector.

A SQL connector names a table, the column that holds one kind of subject identifier, and a
database: a Django DATABASES alias, or a PostgreSQL DSN from settings.SUBJECT_CONNECTOR_DSNS.
Access and portability export the subject's rows; erasure deletes them or masks the declared
columns (sets them NULL). Each runs in one transaction on the target; on Locus's own database
the target's work and Locus's record commit together (exactly once). On another database the
count is kept in Locus before the target commits, so a worker lost in between leaves the true
count for the rerun, which erases nothing twice: deleted rows are gone, masked rows no longer
match.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import re
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass

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
from django.utils.connection import ConnectionDoesNotExist
from psycopg import sql

from requests.models.subjects import EXPORTING_TYPES, EraseMode, SubjectRequestType

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_EXPORT_ROWS = 50_000
# SQLite reports a missing table or column as an OperationalError: no retry will fix those.
PERMANENT_HINTS = ("no such table", "no such column", "syntax error")


class ConnectorError(Exception):
    """A connector cannot run as configured (unknown table, bad column): the owner must act."""


class TransientError(ConnectorError):
    """The target could not be reached; trying again later may work."""


@dataclass
class Result:
    """What a connector run did."""

    found: int
    rows: list[dict] | None = None
    erased: int | None = None
    masked: int | None = None

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("rows")
        data["exported"] = None if self.rows is None else len(self.rows)
        return {k: v for k, v in data.items() if v is not None}


def json_safe(value):
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


def validate_config(connector) -> None:
    """Refuse names that are not plain SQL identifiers, and unknown databases."""
    parts = connector.table.split(".")
    if not connector.table or len(parts) > 2 or not all(NAME.match(p) for p in parts):
        raise ConnectorError(f"{connector.table!r} is not a table name (schema.table or table)")
    for column in [connector.identifier_column, *connector.mask_columns]:
        if not isinstance(column, str) or not NAME.match(column):
            raise ConnectorError(f"{column!r} is not a column name")
    if connector.erase_mode == EraseMode.MASK and not connector.mask_columns:
        raise ConnectorError("Masking needs the columns to mask")
    if bool(connector.database) == bool(connector.dsn_setting):
        raise ConnectorError("Name either a database alias or a DSN setting")
    if connector.database and connector.database not in settings.DATABASES:
        raise ConnectorError(f"No database alias {connector.database!r} in settings")
    if connector.dsn_setting and connector.dsn_setting not in settings.SUBJECT_CONNECTOR_DSNS:
        raise ConnectorError(f"No DSN named {connector.dsn_setting!r} in SUBJECT_CONNECTOR_DSNS")


class Target:
    """One database the connector works in, with a transaction and identifier quoting."""

    shares_locus_transaction = False

    def statements(self, connector):
        table = ".".join(self.quote(p) for p in connector.table.split("."))
        column = self.quote(connector.identifier_column)
        where = f"{column} = %s"
        masked = [self.quote(c) for c in connector.mask_columns]
        unmasked = " OR ".join(f"{c} IS NOT NULL" for c in masked)
        return {
            "select": f"SELECT * FROM {table} WHERE {where} LIMIT {MAX_EXPORT_ROWS + 1}",
            "delete": f"DELETE FROM {table} WHERE {where}",
            "mask": f"UPDATE {table} SET {', '.join(f'{c} = NULL' for c in masked)} "
            f"WHERE {where} AND ({unmasked or 'FALSE'})",
        }


class DjangoTarget(Target):
    def __init__(self, alias: str):
        self.alias = alias
        self.shares_locus_transaction = alias == DEFAULT_DB_ALIAS
        try:
            self.connection = connections[alias]
        except ConnectionDoesNotExist as exc:
            raise ConnectorError(f"No database alias {alias!r}") from exc

    def quote(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    @contextmanager
    def transaction(self):
        with transaction.atomic(using=self.alias), self.connection.cursor() as cursor:
            yield cursor


class DsnTarget(Target):
    def __init__(self, dsn: str):
        self.dsn = dsn

    def quote(self, name: str) -> str:
        return sql.Identifier(name).as_string(None)

    @contextmanager
    def transaction(self):
        with psycopg.connect(self.dsn, connect_timeout=10) as conn, conn.cursor() as cursor:
            yield cursor  # psycopg commits on leaving the block, rolls back on an exception


def target_of(connector) -> Target:
    validate_config(connector)
    if connector.database:
        return DjangoTarget(connector.database)
    return DsnTarget(settings.SUBJECT_CONNECTOR_DSNS[connector.dsn_setting])


def _rows(cursor) -> list[dict]:
    names = [col[0] for col in cursor.description]
    rows = [dict(zip(names, map(json_safe, row), strict=True)) for row in cursor.fetchall()]
    if len(rows) > MAX_EXPORT_ROWS:
        raise ConnectorError(f"More than {MAX_EXPORT_ROWS} rows for one subject: export by hand")
    return rows


@contextmanager
def _translated():
    """Database errors as connector errors: unreachable is transient, the rest need a person."""
    try:
        yield
    except (OperationalError, InterfaceError, psycopg.OperationalError) as exc:
        message = str(exc).strip()
        if any(hint in message for hint in PERMANENT_HINTS):
            raise ConnectorError(message) from exc
        raise TransientError(message) from exc
    except (DatabaseError, psycopg.Error) as exc:
        raise ConnectorError(str(exc).strip()) from exc


class _LostClaim(Exception):
    """Rolls the target back when the task was claimed by someone else meanwhile."""


def run(connector, request_type: str, identifier: str, task) -> bool:
    """Answer the task; False when its claim was lost (nothing was recorded)."""
    from requests import subjects

    target = target_of(connector)
    if request_type in EXPORTING_TYPES:
        with _translated(), target.transaction() as cursor:
            cursor.execute(target.statements(connector)["select"], [identifier])
            rows = _rows(cursor)
        with transaction.atomic():
            return subjects.record_connector_result(task, Result(found=len(rows), rows=rows))
    if request_type != SubjectRequestType.ERASURE:
        raise ConnectorError(f"A connector cannot answer a {request_type} request")
    statement = target.statements(connector)[connector.erase_mode]
    if target.shares_locus_transaction:
        try:
            with _translated(), transaction.atomic():
                with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
                    cursor.execute(statement, [identifier])
                    count = cursor.rowcount
                if not subjects.record_connector_result(task, _erasure(connector, count)):
                    raise _LostClaim
        except _LostClaim:
            return False
        return True
    with _translated(), target.transaction() as cursor:
        cursor.execute(statement, [identifier])
        count = cursor.rowcount
        if count:  # never overwrite an earlier run's count with this rerun's zero
            subjects.prepare_connector_count(task, count)
    task.refresh_from_db(fields=["prepared_rows"])
    if count == 0 and task.prepared_rows:
        count = task.prepared_rows  # an earlier run erased them and was lost before recording
    with transaction.atomic():
        return subjects.record_connector_result(task, _erasure(connector, count))


def _erasure(connector, count: int) -> Result:
    if connector.erase_mode == EraseMode.MASK:
        return Result(found=count, masked=count)
    return Result(found=count, erased=count)
