"""Shared fixtures: one person per role, an outsider, and API clients for people and machines."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections import Counter
from pathlib import Path

import pytest
from channels.layers import channel_layers
from django.db import transaction
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance.roles import Role
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing the factories' passwords with PBKDF2 would dominate the suite's run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings):
    """The API's rate-limit counters live in the cache: each test counts in a key space of its
    own (a fresh KEY_PREFIX), so it starts with none counted. Never cache.clear(): on Redis that
    flushes the database the other workers' tests and live servers are using."""
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
        for alias, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test its own channel layer. A test that drives a consumer runs it on an event loop
    of its own (async_to_sync), and channels_redis' receive leaves a clean-up task behind that
    holds a per-channel lock until it ends: when the test's loop ends first, the lock stays
    held, bound to that loop, and the next test's receive on the same layer fails ("bound to
    a different event loop"). A server process keeps one loop for its life."""
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def second_factor_not_required(settings):
    """A real deployment's settings require privacy officers to have a second factor; the
    suite's people sign in with a password unless a test of the second factor says otherwise
    (tests/governance/test_second_factor.py)."""
    settings.SECOND_FACTOR_REQUIRED_ROLES = []


@pytest.fixture(scope="session", autouse=True)
def static_files_listed_once():
    """Every test client loads the middleware anew, and WhiteNoise's then lists and stats every
    static file the finders know (Plotly's and the apps': about 0.1 s a client, half the time of
    a typical API test). The files do not change during a run: list them once per static
    configuration and give each later middleware the same table."""
    from django.conf import settings
    from whitenoise.middleware import WhiteNoiseMiddleware

    listed: dict[tuple, dict] = {}
    original = WhiteNoiseMiddleware.add_files_from_finders

    def add_files_from_finders(self) -> None:
        key = (
            self.static_prefix,
            tuple(settings.INSTALLED_APPS),
            tuple(map(str, settings.STATICFILES_FINDERS)),
            repr(settings.STATICFILES_DIRS),
        )
        if key not in listed:
            before = dict(self.files)
            original(self)
            listed[key] = {
                url: found for url, found in self.files.items() if before.get(url) is not found
            }
        self.files.update(listed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders)
        yield


@pytest.fixture
def privacy_officer(db):
    return UserFactory(username="pat-privacy", roles=[Role.PRIVACY_OFFICER])


@pytest.fixture
def executive(db):
    return UserFactory(username="erin-exec", roles=[Role.EXECUTIVE])


@pytest.fixture
def data_owner(db):
    return UserFactory(username="olga-owner", roles=[Role.DATA_OWNER])


@pytest.fixture
def other_owner(db):
    return UserFactory(username="oscar-owner", roles=[Role.DATA_OWNER])


@pytest.fixture
def engineer(db):
    return UserFactory(username="eli-engineer", roles=[Role.ENGINEER])


@pytest.fixture
def auditor(db):
    return UserFactory(username="ada-auditor", roles=[Role.AUDITOR])


@pytest.fixture
def outsider(db):
    """Signed in, but holds no Locus role."""
    return UserFactory(username="otto-outsider")


@pytest.fixture
def api_client():
    """api_client(user) -> an APIClient signed in as user (anonymous when user is None)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def token_client(db):
    """token_client(user) -> an APIClient that authenticates like a machine, with a DRF token."""

    def make(user) -> APIClient:
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix, django_db_blocker, request
):
    """Under pytest-xdist on PostgreSQL, each worker's test database is a copy of one migrated
    template (CREATE DATABASE ... TEMPLATE) instead of running the migrations itself."""
    from django.db import connection

    if MigratedTemplate.wanted(request.config, connection):
        with django_db_blocker.unblock():
            MigratedTemplate(connection, MigratedTemplate.code_key()).use()


class MigratedTemplate:
    """A database migrated once for the code that migrates it, which every worker's test
    database copies.

    Its name carries a digest of the apps' code and data and of pyproject.toml (what the
    migrations are and what their data steps read), so a run of code the migrations would build
    differently builds its own, and runs of the same code (one after another, or at once) share
    it: the migrations cost about 18 s of one core, and copying the template about a second. The
    first worker to come takes a PostgreSQL advisory lock, drops the templates of other code,
    migrates a database under a temporary name and renames it to the template's, so the name
    exists only once it is complete; the others wait for the lock and find it there. Each
    worker's own test database is then created WITH TEMPLATE (Django's TEST["TEMPLATE"]) and its
    `migrate` finds nothing to apply. Not used with --reuse-db, --no-migrations, or a single
    process.
    """

    SOURCES = ("catalog", "governance", "requests", "monitoring")

    def __init__(self, connection, key: str):
        self.connection = connection
        self.prefix = f"test_{connection.settings_dict['NAME']}_tpl_"
        self.name = f"{self.prefix}{key}"
        digest = hashlib.blake2b(self.prefix.encode(), digest_size=8).digest()
        self.lock_key = int.from_bytes(digest, "big", signed=True)

    @classmethod
    def code_key(cls) -> str:
        """A digest of every file of the apps and of pyproject.toml: what migrating runs."""
        root = Path(__file__).resolve().parents[1]
        digest = hashlib.blake2b(digest_size=8)
        files = [root / "pyproject.toml"]
        for folder in cls.SOURCES:
            files += (root / folder).rglob("*")
        for path in sorted(f for f in files if f.is_file() and "__pycache__" not in f.parts):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()

    @staticmethod
    def wanted(config, connection) -> bool:
        return (
            connection.vendor == "postgresql"
            and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1
            and not config.getvalue("reuse_db")
            and not config.getvalue("nomigrations")
        )

    def use(self) -> None:
        with self._locked() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.name])
            if cursor.fetchone() is None:
                self._drop_others(cursor)
                self._build(cursor)
        self.connection.settings_dict["TEST"]["TEMPLATE"] = self.name

    def _drop_others(self, cursor) -> None:
        """The templates of other code (older commits): one is kept per database name."""
        cursor.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname <> %s",
            [self.prefix, self.name],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP DATABASE IF EXISTS {self._quoted(name)}")

    @contextlib.contextmanager
    def _locked(self):
        with self.connection._nodb_cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [self.lock_key])
            try:
                yield cursor
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.lock_key])

    def _build(self, cursor) -> None:
        """Migrate a database as Django creates a test database, under a temporary name."""
        settings_dict = self.connection.settings_dict
        name, test_name = settings_dict["NAME"], settings_dict["TEST"]["NAME"]
        building = f"{self.name[:54]}_building"
        settings_dict["TEST"]["NAME"] = building
        try:
            self.connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        finally:
            # A copy is refused while anything is connected to its template.
            self.connection.close()
            self.connection.close_pool()
            settings_dict["NAME"], settings_dict["TEST"]["NAME"] = name, test_name
            from django.conf import settings

            settings.DATABASES[self.connection.alias]["NAME"] = name
        cursor.execute(
            f"ALTER DATABASE {self._quoted(building)} RENAME TO {self._quoted(self.name)}"
        )

    def _quoted(self, name: str) -> str:
        return self.connection.ops.quote_name(name)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, with a quick reload of its reference data (PostgreSQL),
    dropped cleanly: a connection still open at the end (a pooled one left by a thread, a server
    a test started) would make PostgreSQL refuse to drop it, and the database would stay behind
    on the server."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            ReferenceSnapshot.install(connection)
            FlushByDelete.install(connection)
    yield
    if connection.vendor != "postgresql":
        return
    from catalog.revision_notices import stop_listener

    stop_listener()  # its connection would come back after the one below is ended
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


class ReferenceSnapshot:
    """The rows the migrations loaded, copied aside once, for serialized rollback to copy back.

    A transactional test with serialized rollback starts by loading what the migrations wrote
    (reference data, permissions: over a thousand objects); Django saves each one from JSON,
    which takes seconds per test. On PostgreSQL, the same rows are copied once into a schema of
    the test database and copied back with one INSERT ... SELECT per table. Used only when the
    copy holds, model by model, as many rows as Django's serialized data has objects.
    """

    SCHEMA = "locus_test_snapshot"

    def __init__(self, connection, tables: dict[str, str]):
        self.connection = connection
        self.tables = tables  # each table that had rows (copied to SCHEMA): the SQL copying back

    @classmethod
    def install(cls, connection) -> None:
        serialized = getattr(connection, "_test_serialized_contents", None)
        if serialized is None:
            return
        snapshot = cls.take(connection)
        if snapshot.matches(serialized):
            # Django calls this (and only this) to reload the data before each such test.
            connection.creation.deserialize_db_from_string = snapshot.restore

    @classmethod
    def take(cls, connection) -> ReferenceSnapshot:
        names = connection.introspection.django_table_names(only_existing=True)
        copied = {}
        with connection.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {cls.SCHEMA} CASCADE")
            cursor.execute(f"CREATE SCHEMA {cls.SCHEMA}")
            for name in sorted(names):
                table = connection.ops.quote_name(name)
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
                if cursor.fetchone()[0]:
                    cursor.execute(f"CREATE TABLE {cls.SCHEMA}.{table} AS TABLE {table}")
                    copied[name] = cls._copy_back(connection, cursor, name)
        return cls(connection, copied)

    @classmethod
    def _copy_back(cls, connection, cursor, name: str) -> str:
        """INSERT ... SELECT, overwriting a row that is there already, as Django's reload
        does (the first such test, or one after a rolled-back test, finds the rows in place)."""
        quote = connection.ops.quote_name
        key = connection.introspection.get_primary_key_column(cursor, name)
        columns = [
            quote(column.name)
            for column in connection.introspection.get_table_description(cursor, name)
            if column.name != key
        ]
        update = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns)
        return (
            f"INSERT INTO {quote(name)} SELECT * FROM {cls.SCHEMA}.{quote(name)} "
            f"ON CONFLICT ({quote(key)}) DO " + (f"UPDATE SET {update}" if update else "NOTHING")
        )

    def matches(self, serialized: str) -> bool:
        """Whether the copy holds what Django's serialized data does: every serialized model's
        table with as many rows as it has objects, and no other table but their many-to-many
        ones (whose rows Django saves with the objects)."""
        from django.apps import apps

        quote = self.connection.ops.quote_name
        expected = Counter(item["model"] for item in json.loads(serialized))
        models = [apps.get_model(label) for label in expected]
        allowed = {model._meta.db_table for model in models} | {
            field.remote_field.through._meta.db_table
            for model in models
            for field in model._meta.local_many_to_many
            if field.remote_field.through._meta.auto_created
        }
        if not set(self.tables) <= allowed:
            return False
        with self.connection.cursor() as cursor:
            for model in models:
                table = model._meta.db_table
                if table not in self.tables:
                    return False
                cursor.execute(f"SELECT count(*) FROM {self.SCHEMA}.{quote(table)}")
                if cursor.fetchone()[0] != expected[model._meta.label_lower]:
                    return False
        return True

    def restore(self, serialized: str) -> None:
        """Copy the rows back (Django's constraints are deferred to the commit)."""
        with transaction.atomic(using=self.connection.alias), self.connection.cursor() as cursor:
            for sql in self.tables.values():
                cursor.execute(sql)


class FlushByDelete:
    """Transactional tests end with a flush: on PostgreSQL, Django's is one TRUNCATE of every
    table (over a hundred), which gives each table and index new files and took 2-4 s per test
    here, more than most such tests themselves. Deleting the rows leaves the same empty tables
    in a few milliseconds: with triggers off for that transaction (`session_replication_role =
    replica`, which needs a superuser, as the suite's PostgreSQL role is in CI), so neither the
    foreign keys' order nor the append-only triggers stand in the way. Without that right, or
    when sequences must be reset too, Django's TRUNCATE stays."""

    @classmethod
    def install(cls, connection) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            row = cursor.fetchone()
        if not (row and row[0]):
            return
        ops = connection.ops
        truncate = ops.sql_flush

        def sql_flush(style, tables, *, reset_sequences=False, allow_cascade=False):
            if reset_sequences or not tables:
                return truncate(
                    style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
                )
            # Django runs these in one transaction, which the SET LOCAL lasts for.
            return ["SET LOCAL session_replication_role = replica"] + [
                f"DELETE FROM {ops.quote_name(table)}" for table in tables
            ]

        ops.sql_flush = sql_flush


@receiver(connection_created)
def _allow_ledger_truncate_between_tests(sender, connection, **kwargs):
    """Django resets the database between transactional tests with TRUNCATE, which the
    ledger's trigger refuses unless the session opts in; the test suite's sessions do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET locus.ledger_maintenance = 'on'")


@pytest.fixture(autouse=True)
def fresh_policy_index():
    """Each test starts with no compiled policy index: rolled-back tests reuse revision numbers
    (without their stamps), and some tests change reference data without a revision bump."""
    from governance.policy.index import forget_index

    forget_index()
    yield
    forget_index()


@pytest.fixture
def celery_eager():
    """Run queued tasks in the test's process, as the embedded default does (with REDIS_URL set
    they would wait in Redis for a worker the test has not started)."""
    from governance.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = before
