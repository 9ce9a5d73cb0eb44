"""Shared fixtures: one person per role, an outsider, and API clients for people and machines."""

import pytest
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
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, dropped cleanly: a connection still open at the end
    (a pooled one left by a thread, a server a test started) would make PostgreSQL refuse to
    drop it, and the database would stay behind on the server."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    connection.close()


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
