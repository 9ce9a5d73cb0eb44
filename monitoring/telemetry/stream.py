"""The risk stream's outbox: messages are rows first, numbered in commit order, then announced.

A writer calls `stream_append()` as the LAST step of its transaction. On PostgreSQL it first
takes a transaction-scoped advisory lock, so sequence numbers are handed out and committed in
the same order: a reader that has everything up to seq N and asks for `seq > N` never misses a
row that commits later with a smaller seq. (SQLite serialises writers anyway.)

After the commit, `announce()` tells the channel layer group RISK_GROUP the new range. The
layer delivers at most once; a consumer that sees a gap (or reconnects) reads the rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring.models import StreamMessage
from monitoring.telemetry import bulk

log = logging.getLogger(__name__)

STREAM_LOCK_KEY = 0x52697336  # "Ris6": serialises outbox inserts with their commits
RISK_GROUP = "risk"  # the channel-layer group each web process (its Feed) joins
ANNOUNCE_TYPE = "risk.appended"  # read by each web process's Feed (monitoring.consumers)


@dataclass
class Message:
    """One message to push; `jurisdictions` and `dataset_ids` decide who may receive it."""

    kind: str
    payload: dict
    jurisdictions: list[str] = field(default_factory=list)
    dataset_ids: list[int] = field(default_factory=list)


def _lock_stream() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STREAM_LOCK_KEY])


def stream_append(messages: list[Message]) -> list[int]:
    """Write the messages to the outbox (last step of the caller's transaction); return seqs."""
    if not messages:
        return []
    _lock_stream()
    now = timezone.now()
    # One statement, the payloads encoded once: a telemetry batch can carry hundreds of messages.
    rows = bulk.insert(
        StreamMessage,
        ("kind", "created_at", "jurisdictions", "dataset_ids", "payload"),
        [
            (m.kind, now, sorted(set(m.jurisdictions)), sorted(set(m.dataset_ids)), m.payload)
            for m in messages
        ],
        returning=("seq",),
    )
    seqs = sorted(seq for (seq,) in rows)
    first, last = seqs[0], seqs[-1]
    transaction.on_commit(lambda: announce(first, last))
    return seqs


ANNOUNCE_TIMEOUT_SECONDS = 10.0
_announcer: tuple[int, asyncio.AbstractEventLoop] | None = None
_announcer_lock = threading.Lock()


def announce(first: int, last: int) -> None:
    """Tell every connected consumer that seqs first..last exist; failures are only logged
    (clients catch up from the outbox)."""
    try:
        from channels.layers import InMemoryChannelLayer, get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": ANNOUNCE_TYPE, "first": first, "last": last}
        if isinstance(layer, InMemoryChannelLayer):
            # Its queues belong to the server's own loop, which async_to_sync goes back to.
            from asgiref.sync import async_to_sync

            async_to_sync(layer.group_send)(RISK_GROUP, message)
            return
        sent = asyncio.run_coroutine_threadsafe(
            layer.group_send(RISK_GROUP, message), _announcer_loop()
        )
        sent.result(timeout=ANNOUNCE_TIMEOUT_SECONDS)
    except Exception:  # the outbox has the messages; a lost announcement is only a delay
        log.warning("Could not announce stream messages %s..%s", first, last, exc_info=True)


def _announcer_loop() -> asyncio.AbstractEventLoop:
    """This process's loop for announcing to a Redis channel layer, on a daemon thread of its
    own, started on first use (and again in a forked child). async_to_sync would start a thread
    and a loop for every batch, and the layer a connection for each loop: 3 ms of CPU a batch,
    measured, where this loop keeps the layer's connection from one batch to the next."""
    global _announcer
    with _announcer_lock:
        if _announcer is None or _announcer[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="locus-announce", daemon=True).start()
            _announcer = (os.getpid(), loop)
        return _announcer[1]


def stream_head() -> int:
    """The highest seq committed so far (0 when empty)."""
    return StreamMessage.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def stream_prune(now: dt.datetime | None = None) -> int:
    """Delete stream messages past their retention (clients older than that reload)."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.TELEMETRY_STREAM_RETENTION_HOURS)
    deleted, _ = StreamMessage.objects.filter(created_at__lt=cutoff).delete()
    return deleted
