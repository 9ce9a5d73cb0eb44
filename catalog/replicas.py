"""Read replicas: which reads may go to a replica, and the router that keeps the rest on the
primary.

Nothing reads from a replica unless it asks: `replica_reads()` (a block) or `@replica_view` (a
page) chooses one replica for the whole block, and only one that is at most
REPLICA_MAX_LAG_SECONDS behind; otherwise the block reads the primary. Inside the block the
project's own tables are read there. Django's and the libraries' tables (people, groups,
permissions, tokens, sessions) are always read on the primary, so that a revoked permission is
never cached again from a replica that has not seen the revocation yet; so is everything inside
a transaction on the primary, and every write goes to the primary.

Read-your-writes: whoever sent a request that may write (any method but GET, HEAD, OPTIONS)
carries a cookie for REPLICA_MAX_LAG_SECONDS + REPLICA_LAG_CHECK_SECONDS and reads the primary
meanwhile; after that any replica still in use has replayed their writes.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, Error, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

# The apps whose tables a replica serves; the others' stay on the primary (module docstring).
REPLICA_APPS = frozenset({"catalog", "governance", "requests", "monitoring"})
PIN_COOKIE = "locus_primary"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A replica that could not be asked how far behind it is: asked again after this long, so that
# an unreachable one does not make every request wait for a connection timeout.
UNREACHABLE_RECHECK_SECONDS = 10.0

# How far behind the primary a standby is, as it knows it: caught up when it has replayed all
# the WAL it received; else the age of the last transaction it replayed. Not a standby, or no
# WAL receiver running (it has lost the primary, and cannot know how far behind it is): NULL.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() OR NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN NULL
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""

_reading_from: ContextVar[str | None] = ContextVar("locus_reading_from", default=None)
# alias -> (when measured, on the monotonic clock; the lag in seconds, None: unusable)
_measured: dict[str, tuple[float, float | None]] = {}
clock: Callable[[], float] = time.monotonic


def replica_aliases() -> list[str]:
    """The DATABASES aliases of the read replicas (DATABASE_REPLICA_URLS), in order."""
    return list(settings.READ_REPLICAS)


def measure_lag(alias: str) -> float | None:
    """How many seconds the replica is behind now; None when it cannot serve reads."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            lag = cursor.fetchone()[0]
    except Error as error:  # unreachable, refusing, its pool exhausted: read the primary
        logger.warning("replica %s unavailable: %s", alias, error)
        with suppress(Error):
            connections[alias].close()
        return None
    return None if lag is None else max(float(lag), 0.0)


def replica_lag(alias: str) -> float | None:
    """measure_lag, measured at most once per REPLICA_LAG_CHECK_SECONDS per process."""
    now = clock()
    at, lag = _measured.get(alias, (-math.inf, None))
    trusted = settings.REPLICA_LAG_CHECK_SECONDS if lag is not None else UNREACHABLE_RECHECK_SECONDS
    if now - at >= trusted:
        lag = measure_lag(alias)
        _measured[alias] = (now, lag)
    return lag


def forget_lags() -> None:
    """Measure every replica's lag afresh on the next read (tests; a changed limit)."""
    _measured.clear()


def usable_replica() -> str | None:
    """A replica at most REPLICA_MAX_LAG_SECONDS behind, chosen at random; None if none is."""
    limit = settings.REPLICA_MAX_LAG_SECONDS
    usable = []
    for alias in replica_aliases():
        lag = replica_lag(alias)
        if lag is not None and lag <= limit:
            usable.append(alias)
    return random.choice(usable) if usable else None


def _choose() -> str:
    chosen = _reading_from.get()
    if chosen is not None:
        return chosen  # a block inside another keeps the outer block's choice
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return usable_replica() or DEFAULT_DB_ALIAS


@contextmanager
def replica_reads() -> Iterator[str]:
    """Read the project's tables from one up-to-date replica inside the block (or the primary,
    when none is up to date, or a transaction on the primary is open); yields the alias."""
    token = _reading_from.set(_choose())
    try:
        yield read_alias()
    finally:
        _reading_from.reset(token)


def read_alias() -> str:
    """Where reads go here and now: the block's replica, else the primary."""
    alias = _reading_from.get()
    if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return alias


def read_connection() -> Any:
    """The connection of read_alias(), for raw SQL that must see what the ORM's reads see."""
    return connections[read_alias()]


def replica_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that only reads: served from a replica, unless its visitor has just written.
    Put it innermost, so that sign-in and permission checks run before it."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if PIN_COOKIE in request.COOKIES:
            return view(request, *args, **kwargs)
        with replica_reads():
            return view(request, *args, **kwargs)

    return wrapper


def pin_seconds() -> int:
    """How long a writer reads the primary: until every replica still in use has their writes."""
    return math.ceil(settings.REPLICA_MAX_LAG_SECONDS + settings.REPLICA_LAG_CHECK_SECONDS)


class PrimaryAfterWriteMiddleware:
    """Marks whoever sent a request that may write, so that they read the primary a while."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method not in SAFE_METHODS and replica_aliases():
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=pin_seconds(),
                secure=request.is_secure(),
                httponly=True,
                samesite="Lax",
            )
        return response


class ReplicaRouter:
    """Reads of the project's tables go to read_alias(); everything else to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        if model._meta.app_label not in REPLICA_APPS:  # type: ignore[attr-defined]
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        # Explicit: left to Django, an object read from a replica would be saved back there.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # a replica holds the primary's rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db in settings.READ_REPLICAS else None
