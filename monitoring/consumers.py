"""The risk stream over WebSockets: `/ws/risk/`, fed from the outbox (monitoring.stream).

Protocol (JSON frames):

- server -> client, on connect: {"type": "hello", "head": N} (the newest seq right now).
- client -> server: {"after": N} asks for every message after seq N the user may see, then
  live ones. Without it the socket starts at the head it was told.
- server -> client: {"type": "message", "seq", "kind", "payload"} per message, then
  {"type": "cursor", "seq": N}: everything up to N has been read for this socket (messages
  the user may not see included), so a client resumes with {"after": N} after a reconnect.

The channel layer only says *that* seqs first..last exist ("risk.appended"). Messages are
always read from the database, once per process (see Feed), and filtered per user with
monitoring.selectors.message_for, so a lost announcement costs a delay, never a message: the
next announcement, or the periodic check every STREAM_POLL_SECONDS, reads what it missed.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
import weakref

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from monitoring import selectors
from monitoring.models import StreamMessage
from monitoring.stream import RISK_GROUP, stream_head

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
READ_LIMIT = 500  # outbox rows per query
KEEP_ROWS = 5_000  # rows each process keeps for consumers that are a little behind


def _poll_seconds() -> float:
    return float(getattr(settings, "TELEMETRY_STREAM_POLL_SECONDS", 5.0))


def _read_after(after: int, limit: int = READ_LIMIT) -> list[StreamMessage]:
    return list(StreamMessage.objects.filter(seq__gt=after).order_by("seq")[:limit])


class Feed:
    """One process's window onto the outbox: read once per announcement, shared by sockets.

    Rows commit in seq order (monitoring.stream takes a lock before numbering them), so after
    reading `seq > high` every committed row up to the last one read is known: the window
    (low, high] is complete, and a socket whose cursor is inside it needs no query of its own.
    """

    def __init__(self) -> None:
        self.rows: list[StreamMessage] = []
        self.seqs: list[int] = []
        self.low: int | None = None  # the window holds every row in (low, high]
        self.high = 0
        self.lock = asyncio.Lock()
        self.checked_at = 0.0  # when a poll last read the outbox

    async def refresh(self, upto: int | None = None) -> None:
        """Read new rows (until `upto` is known, or all of them when None)."""
        async with self.lock:
            if upto is None:  # a poll: one query per process and interval, not per socket
                now = time.monotonic()
                if now - self.checked_at < _poll_seconds() / 2:
                    return
                self.checked_at = now
            if self.low is None:
                self.low = self.high = await database_sync_to_async(stream_head)()
                if upto is None or upto <= self.high:
                    return
            while upto is None or self.high < upto:
                rows = await database_sync_to_async(_read_after)(self.high)
                self._keep(rows)
                if len(rows) < READ_LIMIT:
                    break

    def _keep(self, rows: list[StreamMessage]) -> None:
        if not rows:
            return
        self.rows += rows
        self.seqs += [row.seq for row in rows]
        self.high = rows[-1].seq
        if len(self.rows) > KEEP_ROWS:
            dropped = len(self.rows) - KEEP_ROWS
            self.low = self.seqs[dropped - 1]
            del self.rows[:dropped], self.seqs[:dropped]

    def after(self, cursor: int) -> list[StreamMessage] | None:
        """The rows after `cursor`, or None when the window does not reach back that far."""
        if self.low is None or cursor < self.low:
            return None
        return self.rows[bisect.bisect_right(self.seqs, cursor) :]


_feeds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def feed() -> Feed:
    """The Feed of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _feeds.get(loop)
    if found is None:
        found = _feeds[loop] = Feed()
    return found


class RiskConsumer(AsyncJsonWebsocketConsumer):
    """Pushes the risk stream's messages that this user may see, each with its seq."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.seen = await database_sync_to_async(self._visibility)(user)
        if self.seen is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.sending = asyncio.Lock()
        self.joined = False
        await self.channel_layer.group_add(RISK_GROUP, self.channel_name)
        self.joined = True
        shared = feed()
        await shared.refresh()
        self.cursor = shared.high
        await self.accept()
        await self.send_json({"type": "hello", "head": self.cursor})
        self.poller = asyncio.ensure_future(self._poll())

    @staticmethod
    def _visibility(user) -> selectors.Visibility | None:
        """What the user may see, or None when their role may not watch the stream."""
        if not user.has_perm("monitoring.view_violation"):
            return None
        return selectors.visibility(user)

    async def disconnect(self, code):
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if getattr(self, "joined", False):
            await self.channel_layer.group_discard(RISK_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        after = content.get("after") if isinstance(content, dict) else None
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_json({"type": "error", "errors": {"after": "A seq, 0 or more."}})
            return
        async with self.sending:
            self.cursor = after
            await self._deliver()

    async def risk_appended(self, event):
        """The channel layer says seqs first..last exist: read and push what is new."""
        await feed().refresh(int(event["last"]))
        async with self.sending:
            await self._deliver()

    async def _poll(self):
        """Pick up what a lost announcement would have told, every few seconds."""
        while True:
            await asyncio.sleep(_poll_seconds())
            await feed().refresh()
            async with self.sending:
                await self._deliver()

    async def _deliver(self) -> None:
        """Send every visible row after this socket's cursor, then the new cursor."""
        start = self.cursor
        while True:
            rows = feed().after(self.cursor)
            if rows is None:  # further back than this process keeps: read the database
                rows = await database_sync_to_async(_read_after)(self.cursor)
                if not rows:
                    break
                await self._send_rows(rows)
                continue
            await self._send_rows(rows)
            break
        if self.cursor != start:
            await self.send_json({"type": "cursor", "seq": self.cursor})

    async def _send_rows(self, rows: list[StreamMessage]) -> None:
        for row in rows:
            message = selectors.message_for(self.seen, row)
            if message is not None:
                await self.send_json({"type": "message", **message})
        if rows:
            self.cursor = rows[-1].seq
