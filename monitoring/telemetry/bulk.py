"""Bulk SQL that the ORM does not offer: additive upserts, and inserts by columns.

On PostgreSQL the rows travel as one JSON parameter (encoded by orjson, bound server-side), an
array per column, unpacked by `ROWS FROM (jsonb_array_elements_text(...), ...)`: encoding one
document is far cheaper than adapting rows x columns parameters, which is where bulk_create
spends its time on large batches (its UNNEST path quotes every array element with a regular
expression). On SQLite they travel as VALUES rows, in chunks under its parameter limit.
`INSERT ... ON CONFLICT (key) DO UPDATE SET n = t.n + excluded.n` is the same on both, adds
concurrent batches together without a read, and rows are sorted by key so that two batches
touching the same rows lock them in the same order and never deadlock.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence

import orjson
from django.db import connection, models
from django.db.models.expressions import Col

ROWS_PER_STATEMENT = 500  # SQLite: rows per VALUES statement


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def dumps(value) -> str:
    """JSON text for a query parameter. orjson writes dates and datetimes in ISO 8601 itself
    and encodes a batch's rows several times faster than json.dumps."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _adapt(value):
    if isinstance(value, (list, dict)):  # JSON columns
        return dumps(value)
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dt.date):
        return connection.ops.adapt_datefield_value(value)
    return value


def _field(model: type[models.Model], column: str) -> models.Field:
    return next(f for f in model._meta.concrete_fields if f.column == column)


def _sql_type(model: type[models.Model], column: str) -> str:
    field = _field(model, column)
    if isinstance(field, models.JSONField):
        return "jsonb"
    db_type = field.db_type(connection)
    assert db_type is not None  # a concrete field has a column type (only relations lack one)
    return db_type.split(" CHECK")[0]  # positive integers carry a CHECK clause


def _by_column(rows: Sequence[Sequence]) -> str:
    """The rows as one JSON document of columns ([[column 1 values], [column 2 values], ...]):
    no key repeated per row, about half the encoding of a list of objects."""
    return dumps(list(zip(*rows, strict=True)))


@functools.cache
def _columns_of(model: type[models.Model], columns: tuple[str, ...]) -> str:
    """SELECT list and FROM clause that unpack _by_column's document, cast to the columns'
    types (ROWS FROM zips the per-column arrays back into rows). JSON columns take their
    elements as they are, not printed to text and parsed again. Built once per shape."""
    types = [_sql_type(model, c) for c in columns]
    unpack = ", ".join(
        f"jsonb_array_elements{'' if t == 'jsonb' else '_text'}(d.doc -> {i})"
        for i, t in enumerate(types)
    )
    values = ", ".join(
        f"x.v{i}::{t} AS {q(c)}" for i, (c, t) in enumerate(zip(columns, types, strict=True))
    )
    aliases = ", ".join(f"v{i}" for i in range(len(columns)))
    return f"{values} FROM (SELECT %s::jsonb AS doc) AS d, ROWS FROM ({unpack}) AS x({aliases})"


def _server_binding_cursor():
    """A cursor that sends its parameters apart from the statement (the project's connections
    bind them into the SQL text): PostgreSQL then takes a batch's JSON document as it is
    instead of scanning it as a quoted literal, and the client does not quote it."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    raw = ServerBindingCursor(connection.connection)
    if connection.queries_logged:
        return connection.make_debug_cursor(raw)
    return connection.make_cursor(raw)


def insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    suffix: str = "",
    returning: Sequence[str] = (),
) -> list[tuple]:
    """INSERT the rows (tuples in column order) with an optional ON CONFLICT `suffix`; returns
    the `returning` columns of the rows written."""
    if not rows:
        return []
    table = q(model._meta.db_table)
    names = ", ".join(q(c) for c in columns)
    back = f" RETURNING {', '.join(q(c) for c in returning)}" if returning else ""
    found: list[tuple] = []
    if connection.vendor == "postgresql":
        with _server_binding_cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {_columns_of(model, tuple(columns))} "
                f"{suffix}{back}",
                [_by_column(rows)],
            )
            return cursor.fetchall() if returning else []
    with connection.cursor() as cursor:
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            sql = f"INSERT INTO {table} ({names}) VALUES {', '.join([placeholder] * len(chunk))} {suffix}{back}"
            cursor.execute(sql, [_adapt(value) for row in chunk for value in row])
            if returning:
                found += cursor.fetchall()
    return _converted(model, returning, found)


def _converted(model: type[models.Model], columns: Sequence[str], rows: list[tuple]) -> list:
    """Returned values as the ORM would give them (SQLite returns datetimes as text)."""
    converters = []
    for i, column in enumerate(columns):
        field = _field(model, column)
        expression = Col(model._meta.db_table, field)
        for convert in connection.ops.get_db_converters(expression):
            converters.append((i, convert, expression))
    if not converters:
        return rows
    converted = [list(row) for row in rows]
    for row in converted:
        for i, convert, expression in converters:
            row[i] = convert(row[i], expression, connection)
    return [tuple(row) for row in converted]


def update(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    key: str = "id",
    increment: Sequence[str] = (),
) -> None:
    """UPDATE many rows, each to its own values, in one statement: rows are tuples of the key
    then `columns`; `increment` columns are raised by one on every row updated."""
    if not rows:
        return
    table = q(model._meta.db_table)
    sets = [f"{q(c)} = x.{q(c)}" for c in columns]
    sets += [f"{q(c)} = {table}.{q(c)} + 1" for c in increment]
    names = (key, *columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            shape = ", ".join(f"{q(c)} {_sql_type(model, c)}" for c in names)
            document = dumps([dict(zip(names, row, strict=True)) for row in rows])
            cursor.execute(
                f"UPDATE {table} SET {', '.join(sets)} FROM json_to_recordset(%s::json) "
                f"AS x({shape}) WHERE {table}.{q(key)} = x.{q(key)}",
                [document],
            )
            return
        sets = [f"{q(c)} = %s" for c in columns]
        sets += [f"{q(c)} = {q(c)} + 1" for c in increment]
        cursor.executemany(
            f"UPDATE {table} SET {', '.join(sets)} WHERE {q(key)} = %s",
            [[_adapt(v) for v in (*row[1:], row[0])] for row in rows],
        )


def upsert(
    model: type[models.Model],
    *,
    keys: Sequence[str],
    rows: Iterable[dict],
    add: Sequence[str] = (),
    latest: Sequence[str] = (),
    earliest: Sequence[str] = (),
    replace: Sequence[str] = (),
    returning: Sequence[str] = (),
) -> list[tuple]:
    """Insert rows, or on a key conflict: add `add` columns, keep the max of `latest`, the min
    of `earliest`, and overwrite `replace` (columns by their db names). Returns the
    `returning` columns of every row as it stands after the statement."""
    rows = sorted(rows, key=lambda row: tuple(str(row[k]) for k in keys))
    if not rows:
        return []
    table = q(model._meta.db_table)
    columns = list(rows[0])
    sets = [f"{q(c)} = {table}.{q(c)} + excluded.{q(c)}" for c in add]
    sets += [
        f"{q(c)} = CASE WHEN excluded.{q(c)} > {table}.{q(c)} THEN excluded.{q(c)} "
        f"ELSE {table}.{q(c)} END"
        for c in latest
    ]
    sets += [
        f"{q(c)} = CASE WHEN excluded.{q(c)} < {table}.{q(c)} THEN excluded.{q(c)} "
        f"ELSE {table}.{q(c)} END"
        for c in earliest
    ]
    sets += [f"{q(c)} = excluded.{q(c)}" for c in replace]
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return insert(
        model,
        columns,
        [tuple(row[c] for c in columns) for row in rows],
        suffix=f"ON CONFLICT ({', '.join(q(k) for k in keys)}) {action}",
        returning=returning,
    )
