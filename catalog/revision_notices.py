"""Being told that a revision counter moved, instead of reading the counters on every check
(README "Policy index freshness").

On PostgreSQL a trigger on `catalog_revision` sends `NOTIFY locus_revisions` with every bump,
inside the bump's transaction: delivered when the change commits, never when it rolls back,
whichever process made it. Each process keeps one listening connection on a daemon thread, and
every notification advances `generation()`; so does the commit of a bump made in this process
(without waiting for its own notification to come back). Whatever a caller cached while the
generation was G is current for as long as the generation is still G.

`generation()` is None, and callers read the counters as before, whenever that promise cannot
be kept: on SQLite (nothing to listen to, and another process may write the same file), while
the listener is not subscribed (not started yet, its connection lost, PostgreSQL restarting),
and on a connection whose own transaction has bumped a counter that has not committed yet (it
must see its own change, and no other process may). Losing the connection and subscribing
again each advance the generation, so everything cached is read again once: the resync.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

log = logging.getLogger(__name__)

CHANNEL = "locus_revisions"
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
WAKE_SECONDS = 1.0  # how soon the thread notices stop()

_changed = threading.Condition()
_generation = 0
_listening = False
_last_notice = ""  # the payload of the latest notification (tests wait for one of their own)
_thread: threading.Thread | None = None
_stop = threading.Event()


def generation() -> int | None:
    """The generation a cached index must carry to be current, or None: read the counters."""
    if not settings.POLICY_INDEX_NOTIFICATIONS:
        return None
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or _pending(connection):
        return None
    start_listener()
    with _changed:
        return _generation if _listening else None


def _pending(connection: Any) -> bool:
    """This connection's open transaction bumped a counter: its notice is still queued to run
    on commit. Django drops the queued callbacks of a transaction or savepoint rolled back, so a
    change that never happened leaves nothing pending behind it."""
    return connection.in_atomic_block and any(
        queued[1] is _advance for queued in connection.run_on_commit
    )


def bumped() -> None:
    """A counter moved in the caller's transaction (catalog.revisions.revision_bump)."""
    transaction.on_commit(_advance)


def _advance(listening: bool | None = None, notice: str | None = None) -> None:
    global _generation, _listening, _last_notice
    with _changed:
        _generation += 1
        if listening is not None:
            _listening = listening
        if notice is not None:
            _last_notice = notice
        _changed.notify_all()


def wait_for(predicate: Callable[[int, bool, str], bool], timeout: float) -> bool:
    """Wait until predicate(generation, listening, latest notice) holds (tests: a limit, not a
    speed)."""
    with _changed:
        return _changed.wait_for(lambda: predicate(_generation, _listening, _last_notice), timeout)


def listening() -> bool:
    with _changed:
        return _listening


# --- The listening thread -----------------------------------------------------------------


def start_listener() -> None:
    """Start this process's listener once (a daemon thread with a connection of its own)."""
    global _thread
    if _thread is not None:
        return
    with _changed:
        if _thread is not None:
            return
        params = _connection_params()
        _stop.clear()
        _thread = threading.Thread(
            target=_listen_forever, args=(params,), name="locus-revision-listener", daemon=True
        )
        _thread.start()


def stop_listener() -> None:
    """Stop the listener and close its connection (tests, before their database is dropped)."""
    global _thread
    thread = _thread
    if thread is None:
        return
    _stop.set()
    thread.join()
    _thread = None


def _connection_params() -> dict[str, Any]:
    """The listener's connection: POLICY_INDEX_LISTEN_URL if set (a direct one, where the
    database is reached through a transaction-pooling PgBouncer, which drops LISTEN), else
    the one the project's connections use."""
    if settings.POLICY_INDEX_LISTEN_URL:
        params: dict[str, Any] = {"conninfo": settings.POLICY_INDEX_LISTEN_URL}
    else:
        params = connections[DEFAULT_DB_ALIAS].get_connection_params()
        for django_only in ("cursor_factory", "context", "prepare_threshold"):
            params.pop(django_only, None)
    # A connection that died without a word (a dropped network) is noticed within about
    # 15 s by TCP keepalives, besides the heartbeat query.
    params.update(keepalives=1, keepalives_idle=5, keepalives_interval=5, keepalives_count=2)
    params.setdefault("application_name", "locus revision listener")
    return params


def _listen_forever(params: dict[str, Any]) -> None:
    pause = RETRY_FIRST_SECONDS
    while not _stop.is_set():
        try:
            _listen(params)
            pause = RETRY_FIRST_SECONDS
        except Exception as exc:  # any failure: read the counters until subscribed again
            log.warning("Policy notifications lost (%s); checks read the counters", exc)
        finally:
            _advance(listening=False)
        _stop.wait(pause)
        pause = min(pause * 2, RETRY_MAX_SECONDS)


def _listen(params: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        # Subscribed: every commit from now on is notified, every earlier one is visible to
        # the next read of the counters, which the advance below makes everyone do once.
        _advance(listening=True)
        log.info("Policy notifications subscribed (%s)", CHANNEL)
        proven = time.monotonic()
        while not _stop.is_set():
            for notice in conn.notifies(timeout=WAKE_SECONDS):
                _advance(notice=notice.payload)
            if time.monotonic() - proven >= settings.POLICY_INDEX_HEARTBEAT_SECONDS:
                conn.execute("SELECT 1")
                proven = time.monotonic()


def _forget_in_child() -> None:
    """A forked child has no listener thread; its first generation() starts one."""
    global _thread, _listening, _generation, _changed
    _changed = threading.Condition()
    _thread, _listening = None, False
    _generation += 1


os.register_at_fork(after_in_child=_forget_in_child)
