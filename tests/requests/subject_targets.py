"""Databases named for subject data, apart from Locus's own, for the connector tests.

`subject_alias`: a DATABASES alias listed in SUBJECT_CONNECTOR_DATABASES: a SQLite file of the
test's own, or, when the tests run on PostgreSQL, a PostgreSQL database of its own next to the
test database. `subject_dsn`: that PostgreSQL database as a DSN of SUBJECT_CONNECTOR_DSNS.
Locus's own database is never one of them (connectors refuse it).
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tests.live import shared_database_url

ALIAS = "subject_data"


def _server():
    """A session on the test database's server, outside any transaction."""
    db = connection.settings_dict
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def subject_pg_database(django_db_setup, django_db_blocker):
    """On PostgreSQL: the name of a database of its own for subject data (one per test
    process, like the test database); None on SQLite."""
    if connection.vendor != "postgresql":
        yield None
        return
    name = f"{connection.settings_dict['NAME']}_subjects"
    with django_db_blocker.unblock(), _server() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with django_db_blocker.unblock(), _server() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def subject_database_url(name: str) -> str:
    """The URL of the subject database `name` on the test database's server."""
    base = shared_database_url().replace("postgres://", "postgresql://", 1)
    return f"{base.rsplit('/', 1)[0]}/{name}"


def register_alias(alias: str, database: dict) -> None:
    """Add a DATABASES alias at run time (as a deployment's settings would have it)."""
    filled = connections.configure_settings(
        {DEFAULT_DB_ALIAS: dict(connections.settings[DEFAULT_DB_ALIAS]), alias: database}
    )
    connections.settings[alias] = filled[alias]


def forget_alias(alias: str) -> None:
    if hasattr(connections._connections, alias):
        connections[alias].close()
        del connections[alias]
    connections.settings.pop(alias, None)


@pytest.fixture
def subject_alias(db, settings, tmp_path, subject_pg_database):
    """A DATABASES alias named for subject data; yields its name."""
    if subject_pg_database:
        own = connection.settings_dict
        database = {"ENGINE": own["ENGINE"], "NAME": subject_pg_database, "USER": own["USER"],
                    "PASSWORD": own["PASSWORD"], "HOST": own["HOST"], "PORT": own["PORT"]}  # fmt: skip
    else:
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "subjects.db")}
    register_alias(ALIAS, database)
    # Opened now: Django's test case refuses to open aliases it did not know when it began.
    connections[ALIAS].connect()
    if subject_pg_database:  # the database lives as long as the session: start it empty
        with connections[ALIAS].cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE")
            cursor.execute("CREATE SCHEMA public")
    settings.SUBJECT_CONNECTOR_DATABASES = [ALIAS]
    yield ALIAS
    forget_alias(ALIAS)


@pytest.fixture
def subject_dsn(settings, subject_pg_database):
    """On PostgreSQL: the DSN `scratch` to the subject database; yields the DSN."""
    if not subject_pg_database:
        pytest.skip("DSN connectors are PostgreSQL connections")
    dsn = subject_database_url(subject_pg_database)
    settings.SUBJECT_CONNECTOR_DSNS = {"scratch": dsn}
    return dsn


def subject_cursor(alias: str = ALIAS):
    """A cursor on the subject database (autocommit: what it writes is there for the run)."""
    return connections[alias].cursor()
