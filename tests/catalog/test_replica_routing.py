"""Read-replica routing without a replica (both databases): settings, the router's choices, the
lag cache, the writer's cookie. tests/test_replicas.py runs the same against a real standby."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory

from catalog import replicas
from catalog.models import Dataset
from governance.config import replica_databases

PRIMARY = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "locus",
    "CONN_MAX_AGE": 0,
    "CONN_HEALTH_CHECKS": True,
    "OPTIONS": {"pool": {"min_size": 1, "max_size": 10}},
}
router = replicas.ReplicaRouter()


@pytest.fixture
def two_replicas(settings):
    """Replicas replica1 and replica2 (never connected to: the tests give their lags)."""
    settings.READ_REPLICAS = ["replica1", "replica2"]
    replicas.forget_lags()
    yield
    replicas.forget_lags()


@pytest.fixture
def lags(monkeypatch, two_replicas):
    """Each replica's lag as the test sets it, and how often each was measured."""
    given: dict[str, float | None] = {"replica1": 0.0, "replica2": 0.0}
    asked: list[str] = []

    def measure(alias: str) -> float | None:
        asked.append(alias)
        return given[alias]

    monkeypatch.setattr(replicas, "measure_lag", measure)
    return given, asked


# --- settings ------------------------------------------------------------------------------------


def test_replica_urls_become_aliases_that_mirror_the_primary_in_tests():
    found = replica_databases(
        ["postgres://reader@db-r1:5432/locus", "postgres://reader@db-r2:5432/locus"], PRIMARY
    )

    assert list(found) == ["replica1", "replica2"]
    assert found["replica2"]["HOST"] == "db-r2"
    assert found["replica1"]["TEST"] == {"MIRROR": "default"}
    assert found["replica1"]["OPTIONS"]["pool"] == PRIMARY["OPTIONS"]["pool"]
    assert found["replica1"]["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize(
    ("urls", "primary", "named"),
    [
        (["postgres://db-r1/locus"], {"ENGINE": "django.db.backends.sqlite3"}, "DATABASE_URL"),
        (["sqlite:///elsewhere.sqlite3"], PRIMARY, "replica 1"),
    ],
)
def test_replicas_are_postgresql_standbys_of_a_postgresql_primary(urls, primary, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        replica_databases(urls, primary)


def test_no_urls_no_replicas():
    assert replica_databases([], {"ENGINE": "django.db.backends.sqlite3"}) == {}
    assert replicas.replica_aliases() == []


# --- the router ----------------------------------------------------------------------------------


def test_without_replicas_a_replica_block_reads_the_primary():
    with replicas.replica_reads() as alias:
        assert alias == "default"
        assert router.db_for_read(Dataset) == "default"


def test_inside_a_block_the_projects_tables_read_the_replica_and_the_rest_the_primary(lags):
    with replicas.replica_reads() as alias:
        assert alias in {"replica1", "replica2"}
        assert router.db_for_read(Dataset) == alias
        assert router.db_for_read(get_user_model()) == "default"  # people and permissions
        assert router.db_for_write(Dataset) == "default"
        with replicas.replica_reads() as inner:
            assert inner == alias  # a block inside another keeps its choice
    assert router.db_for_read(Dataset) == "default"


def test_a_replica_further_behind_than_the_limit_is_not_chosen(lags, settings):
    given, _ = lags
    settings.REPLICA_MAX_LAG_SECONDS = 5
    given.update(replica1=9.0, replica2=5.0)
    assert replicas.usable_replica() == "replica2"  # at the limit: still used

    replicas.forget_lags()
    given.update(replica1=None, replica2=5.5)  # unreachable, and too far behind
    assert replicas.usable_replica() is None
    with replicas.replica_reads() as alias:
        assert alias == "default"


def test_a_measured_lag_is_trusted_for_a_while(lags, settings, monkeypatch):
    given, asked = lags
    settings.REPLICA_LAG_CHECK_SECONDS = 1
    now = [100.0]
    monkeypatch.setattr(replicas, "clock", lambda: now[0])
    given["replica1"] = None

    replicas.replica_lag("replica1")
    replicas.replica_lag("replica2")
    now[0] += 0.5
    replicas.replica_lag("replica2")
    assert asked == ["replica1", "replica2"]
    now[0] += 0.5
    replicas.replica_lag("replica1")
    replicas.replica_lag("replica2")
    assert asked == ["replica1", "replica2", "replica2"]  # an unreachable one: later
    now[0] += replicas.UNREACHABLE_RECHECK_SECONDS
    replicas.replica_lag("replica1")
    assert asked[-1] == "replica1"


# --- pages and the writer's cookie ---------------------------------------------------------------


def _read_where(request) -> HttpResponse:
    return HttpResponse(replicas.read_alias())


def test_a_page_reads_the_replica_unless_its_visitor_has_just_written(lags):
    page = replicas.replica_view(_read_where)
    visitor = RequestFactory().get("/")
    assert page(visitor).content.decode() in {"replica1", "replica2"}

    writer = RequestFactory().get("/")
    writer.COOKIES[replicas.PIN_COOKIE] = "1"
    assert page(writer).content == b"default"


@pytest.mark.parametrize(("method", "pinned"), [("post", True), ("delete", True), ("get", False)])
def test_a_request_that_may_write_pins_its_sender_to_the_primary(two_replicas, method, pinned):
    middleware = replicas.PrimaryAfterWriteMiddleware(lambda request: HttpResponse())
    response = middleware(getattr(RequestFactory(), method)("/"))

    assert (replicas.PIN_COOKIE in response.cookies) is pinned
    if pinned:
        assert response.cookies[replicas.PIN_COOKIE]["max-age"] == replicas.pin_seconds()


def test_without_replicas_no_cookie_is_set():
    middleware = replicas.PrimaryAfterWriteMiddleware(lambda request: HttpResponse())
    assert replicas.PIN_COOKIE not in middleware(RequestFactory().post("/")).cookies


def test_the_pin_lasts_the_lag_limit_and_one_lag_check(settings):
    settings.REPLICA_MAX_LAG_SECONDS = 5
    settings.REPLICA_LAG_CHECK_SECONDS = 0.5
    assert replicas.pin_seconds() == 6


class _Unreachable:
    """A connection whose server cannot be reached."""

    closed = False

    def cursor(self):
        raise OperationalError("connection refused")

    def close(self) -> None:
        self.closed = True


def test_a_replica_that_cannot_be_reached_has_no_lag_and_its_connection_is_closed(monkeypatch):
    unreachable = _Unreachable()
    monkeypatch.setattr(replicas, "connections", {"replica1": unreachable})

    assert replicas.measure_lag("replica1") is None
    assert unreachable.closed
