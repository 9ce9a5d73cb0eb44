"""Waiting for this process's policy notifications to catch up (catalog.revision_notices)."""

from __future__ import annotations

import uuid

import psycopg
from django.conf import settings
from django.db import connection

from catalog import revision_notices

LIMIT_SECONDS = 60.0  # a bound for a broken listener, not a speed to reach


def caught_up(database_url: str) -> None:
    """Wait until this process's listener is subscribed and has heard the notification of
    everything committed so far (a marker sent now arrives after them: commit order). Nothing
    to wait for on SQLite or with notifications off."""
    if connection.vendor != "postgresql" or not settings.POLICY_INDEX_NOTIFICATIONS:
        return
    revision_notices.start_listener()
    assert revision_notices.wait_for(lambda g, listening, notice: listening, LIMIT_SECONDS)
    marker = uuid.uuid4().hex
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", [revision_notices.CHANNEL, marker])
    assert revision_notices.wait_for(lambda g, listening, notice: notice == marker, LIMIT_SECONDS)
