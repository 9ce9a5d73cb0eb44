"""Celery beat's scheduler: django-celery-beat's schedules in the database, kept running through
a database outage.

django-celery-beat reads its table again every few minutes (and whenever an officer changes a
schedule in the admin). That read is not guarded: if the database is unreachable at that moment
the error leaves `Scheduler.tick()` and ends the beat process, so every periodic task stops.
This scheduler keeps sending from the schedule it read last, retries the read with a backoff,
and reads everything again once the database answers (a change made meanwhile is then seen).
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL, DatabaseScheduler

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


class OutageTolerantScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler that survives an unreachable database."""

    _last_timestamp: dt.datetime | None  # the DatabaseScheduler's: when a schedule last changed

    def __init__(self, *args, **kwargs):
        self._retry_at = 0.0  # time.monotonic() before which the database is not asked again
        self._retry_seconds = 0.0
        self._entries_pending = False  # the settings' entries are still to be written
        self._full_read_seconds = float(settings.BEAT_FULL_READ_SECONDS)
        super().__init__(*args, **kwargs)

    def setup_schedule(self) -> None:
        """Write the settings' periodic tasks to the database; if it is down, again later."""
        try:
            self._install_entries()
        except (DatabaseError, InterfaceError) as exc:
            self._entries_pending = True
            self._read_failed(exc)

    def _install_entries(self) -> None:
        """django-celery-beat's setup, letting a database error through (it logs and goes on)."""
        schedule = self._read_schedule()
        self.install_default_entries(schedule)
        for name, fields in self.app.conf.beat_schedule.items():
            entry = self.Entry.from_entry(name, app=self.app, **fields)
            if entry.model.enabled:
                schedule[name] = entry
        self._entries_pending = False

    def schedule_changed(self) -> bool:
        """Whether an officer changed a schedule; a database error is left to `schedule`."""
        close_old_connections()
        last, self._last_timestamp = self._last_timestamp, self.Changes.last_change()
        current = self._last_timestamp
        return bool(current and current > (last or current))

    @property
    def schedule(self) -> dict:
        """The schedule read last; read again when due, unless the database is backing off."""
        if time.monotonic() < self._retry_at:
            return self._current()
        try:
            if self._entries_pending:
                self._install_entries()
            return self._read_schedule()
        except (DatabaseError, InterfaceError) as exc:
            self._read_failed(exc)
            return self._current()

    def _read_schedule(self) -> dict:
        """django-celery-beat's read, every BEAT_FULL_READ_SECONDS at most apart."""
        if self._last_full_sync is not None and self._seconds_since_full_read() >= (
            self._full_read_seconds
        ):
            self._force_full_read()
        schedule = DatabaseScheduler.schedule.fget(self)
        if self._retry_seconds:
            logger.warning("Celery beat reads its schedule from the database again")
        self._retry_at, self._retry_seconds = 0.0, 0.0
        return schedule

    def _current(self) -> dict:
        return self._schedule if self._schedule is not None else {}

    # django-celery-beat keeps _last_full_sync as a naive local time (it compares it with
    # datetime.now()), so these two must be naive too.
    def _seconds_since_full_read(self) -> float:
        return (dt.datetime.now() - self._last_full_sync).total_seconds()  # noqa: DTZ005

    def _force_full_read(self) -> None:
        """Make django-celery-beat's next look at its schedule read the whole table."""
        interval = dt.timedelta(seconds=SCHEDULE_SYNC_MAX_INTERVAL)
        self._last_full_sync = dt.datetime.now() - interval  # noqa: DTZ005

    def _read_failed(self, exc: Exception) -> None:
        """Keep the last schedule, and ask the database again after a growing pause."""
        self._retry_seconds = min(
            max(self._retry_seconds * 2, FIRST_RETRY_SECONDS), MAX_RETRY_SECONDS
        )
        self._retry_at = time.monotonic() + self._retry_seconds
        # Changes made while the database was unreachable are read in full on the next try.
        self._force_full_read()
        logger.warning(
            "Celery beat could not read its schedule (the database is unavailable: %s); "
            "sending from the last schedule read and trying again in %g s",
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            self._retry_seconds,
        )
