"""The risk stream over WebSockets: `/ws/risk/`, fed from the outbox (monitoring.telemetry.stream).

Protocol (JSON frames):

- server -> client, on connect: {"type": "hello", "head": N} (the newest seq right now).
- client -> server: {"after": N} asks for every message after seq N the user may see, then
  live ones. Without it the socket starts at the head it was told.
- server -> client: {"type": "messages", "cursor": N, "messages": [{"seq", "kind",
  "payload"}, ...]}: the new messages this user may see (possibly none), and the cursor:
  everything up to N has been read for this socket (messages the user may not see included),
  so a client resumes with {"after": N} after a reconnect.

The channel layer only says *that* seqs first..last exist ("risk.appended"), and says it once
per web process: the process's Feed is the group member, reads the new rows once and pushes
them to each of its sockets, filtered per user with monitoring.selectors.message_for. So a
lost announcement costs a delay, never a message: the next announcement, or the process's
poll every TELEMETRY_STREAM_POLL_SECONDS (5), reads what it missed.

A socket lives no longer than the session that opened it: logging out closes the session's
sockets at once (a message to the session's group), and before pushing, a socket checks its
session again every SOCKET_SESSION_CHECK_SECONDS (30), which catches sessions that expired or
ended otherwise (a password change, a deleted account). Either way it closes with 4401.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import json
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user

from monitoring import selectors
from monitoring.models import StreamMessage
from monitoring.telemetry.stream import ANNOUNCE_TYPE, RISK_GROUP, stream_head

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
READ_LIMIT = 500  # outbox rows per query
KEEP_ROWS = 5_000  # rows each process keeps for consumers that are a little behind
REJOIN_SECONDS = 3600.0  # the Redis layer forgets group members after a day by default
log = logging.getLogger(__name__)


def _poll_seconds() -> float:
    return float(getattr(settings, "TELEMETRY_STREAM_POLL_SECONDS", 5.0))


def _session_check_seconds() -> float:
    return float(getattr(settings, "SOCKET_SESSION_CHECK_SECONDS", 30.0))


SESSION_ENDED_TYPE = "session.ended"


def session_group(session_key: str) -> str:
    """The channel-layer group of one session's sockets (named by a digest: the key itself is
    a credential and does not go to Redis)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def close_session_sockets(sender, request, user, **kwargs) -> None:
    """On logout (user_logged_out): close the sockets this session opened, in every process.
    A channel layer that is down must not stop the logout: the sockets' own session check
    closes them then."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    layer = get_channel_layer()
    if not key or layer is None:
        return
    try:
        async_to_sync(layer.group_send)(session_group(key), {"type": SESSION_ENDED_TYPE})
    except Exception:
        log.warning("Could not tell the session's sockets to close", exc_info=True)


def _session_user_id(session_key: str) -> int | None:
    """The id of the user the session still signs in (None: ended, expired or invalidated)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    # get_user reads only the request's session; the stubs ask for a whole HttpRequest.
    user = get_user(SimpleNamespace(session=store))  # type: ignore[arg-type]
    return user.pk if user.is_authenticated else None


def _read_after(after: int, limit: int = READ_LIMIT) -> list[StreamMessage]:
    return list(StreamMessage.objects.filter(seq__gt=after).order_by("seq")[:limit])


# The outbox is read on a thread of its own: Django's sync views (an ingest request can take a
# second) run on the process's one "thread-sensitive" thread, and a push must not queue behind
# them.
_outbox_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="risk-outbox")


def _on_outbox_thread(function):
    return database_sync_to_async(function, thread_sensitive=False, executor=_outbox_thread)


class Feed:
    """One process's window onto the outbox and its one ear on the channel layer.

    The process joins the "risk" group once (not once per socket): an announcement makes it
    read the new rows once and hand them to every socket it serves, in memory. Rows commit in
    seq order (monitoring.telemetry.stream takes a lock before numbering them), so after reading
    `seq > high` every committed row up to the last one read is known: the window (low, high]
    is complete, and a socket whose cursor is inside it needs no query of its own. A poll every
    STREAM_POLL_SECONDS reads what a lost announcement would have told.
    """

    def __init__(self) -> None:
        self.rows: list[StreamMessage] = []
        self.seqs: list[int] = []
        self.low: int | None = None  # the window holds every row in (low, high]
        self.high = 0
        self.lock = asyncio.Lock()
        self.sockets: weakref.WeakSet = weakref.WeakSet()
        self.tasks: list[asyncio.Task] = []

    async def refresh(self, upto: int | None = None) -> None:
        """Read new rows (until `upto` is known, or all of them when None)."""
        async with self.lock:
            if self.low is None:
                self.low = self.high = await _on_outbox_thread(stream_head)()
                if upto is None or upto <= self.high:
                    return
            while upto is None or self.high < upto:
                rows = await _on_outbox_thread(_read_after)(self.high)
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

    # --- The sockets this process serves ---------------------------------------------------

    def join(self, consumer: RiskConsumer) -> None:
        """Serve this socket too; the first one (or the first after a failure) starts the
        process's listener and poll."""
        self.sockets.add(consumer)
        if self.tasks and not any(task.done() for task in self.tasks):
            return
        for task in self.tasks:
            task.cancel()
        self.tasks = [
            asyncio.ensure_future(self._listen(consumer.channel_layer)),
            asyncio.ensure_future(self._poll()),
        ]

    async def leave(self, consumer: RiskConsumer) -> None:
        self.sockets.discard(consumer)
        if self.sockets or not self.tasks:
            return
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def push(self, upto: int | None = None) -> None:
        await self.refresh(upto)
        for consumer in list(self.sockets):
            await consumer.deliver()

    async def _listen(self, layer) -> None:
        """Receive the announcements for this process and push what they name."""
        channel = await layer.new_channel()  # the layer's one receive loop serves it
        await layer.group_add(RISK_GROUP, channel)
        joined_at = time.monotonic()
        try:
            while True:
                event = await layer.receive(channel)
                if event.get("type") == ANNOUNCE_TYPE:
                    await self.push(int(event["last"]))
                if time.monotonic() - joined_at > REJOIN_SECONDS:  # before the layer forgets
                    await layer.group_add(RISK_GROUP, channel)
                    joined_at = time.monotonic()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await layer.group_discard(RISK_GROUP, channel)
            raise
        except Exception:  # the poll keeps sockets fed; the next socket restarts the listener
            log.exception("The risk stream's listener stopped")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(_poll_seconds())
            try:
                await self.push()
            except Exception:  # a database hiccup: try again next time
                log.warning("Polling the risk stream's outbox failed", exc_info=True)


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
        self.session_key = self.scope["session"].session_key
        self.session_checked_at = time.monotonic()
        shared = feed()
        await shared.refresh()
        self.cursor = shared.high
        await self.channel_layer.group_add(session_group(self.session_key), self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "head": self.cursor})
        shared.join(self)

    @staticmethod
    def _visibility(user) -> selectors.Visibility | None:
        """What the user may see, or None when their role may not watch the stream."""
        if not user.has_perm("monitoring.view_violation"):
            return None
        return selectors.visibility(user)

    async def disconnect(self, code):
        if getattr(self, "sending", None) is not None:
            await feed().leave(self)
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(
                    session_group(self.session_key), self.channel_name
                )

    async def session_ended(self, event) -> None:
        """The session logged out (close_session_sockets): stop streaming to it."""
        await self._end(CLOSE_UNAUTHENTICATED)

    async def _end(self, code: int) -> None:
        """Close: no more pushes from now (the feed may be the caller, so its tasks are left
        to disconnect() to stop)."""
        feed().sockets.discard(self)
        await self.close(code=code)

    async def _session_still_valid(self) -> bool:
        """Whether the session still signs this user in; asked again at most every
        SOCKET_SESSION_CHECK_SECONDS (a database read), before a push."""
        if time.monotonic() - self.session_checked_at < _session_check_seconds():
            return True
        user_id = await _on_outbox_thread(_session_user_id)(self.session_key)
        self.session_checked_at = time.monotonic()
        return user_id is not None and user_id == self.scope["user"].pk

    @classmethod
    async def decode_json(cls, text_data):
        """Text that is not JSON gets an error frame, not a crashed socket."""
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def receive_json(self, content, **kwargs):
        after = content.get("after") if isinstance(content, dict) else None
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_json({"type": "error", "errors": {"after": "A seq, 0 or more."}})
            return
        async with self.sending:
            self.cursor = after
            await self._deliver()

    async def deliver(self) -> None:
        """Push what the process's feed has after this socket's cursor (the feed calls it)."""
        async with self.sending:
            await self._deliver()

    async def _deliver(self) -> None:
        """Send what is new, if the session that opened the socket is still signed in."""
        if not await self._session_still_valid():
            await self._end(CLOSE_UNAUTHENTICATED)
            return
        await self._send_new()

    async def _send_new(self) -> None:
        """Send every visible row after this socket's cursor, and the new cursor, as one frame
        per read (one per announcement, usually): fewer frames is what keeps 100s of sockets
        per process quick."""
        while True:
            rows = feed().after(self.cursor)
            caught_up = rows is not None
            if rows is None:  # further back than this process keeps: read the database
                rows = await _on_outbox_thread(_read_after)(self.cursor)
            if not rows:
                return
            await self._send_rows(rows)
            if caught_up:
                return

    async def _send_rows(self, rows: list[StreamMessage]) -> None:
        texts = [text for text in map(self._encoded, rows) if text is not None]
        self.cursor = rows[-1].seq
        await self.send(
            text_data=f'{{"type": "messages", "cursor": {self.cursor}, '
            f'"messages": [{", ".join(texts)}]}}'
        )

    def _encoded(self, row: StreamMessage) -> str | None:
        """The row as JSON for this socket; for those who see everything it is the same for
        every socket, so it is encoded once per process (kept on the row)."""
        if self.seen.everything:
            text = getattr(row, "_json_for_all", None)
            if text is None:
                text = row._json_for_all = self._encode(row)
            return text
        return self._encode(row)

    def _encode(self, row: StreamMessage) -> str | None:
        message = selectors.message_for(self.seen, row)
        return None if message is None else json.dumps(message)
