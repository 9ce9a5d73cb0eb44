"""A risk-stream socket lives no longer than the session that opened it: logging out closes it
at once (through the channel layer, the real one when REDIS_URL is set), and a session that
ended otherwise (expired, deleted, the password changed) closes it at its next push."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as db_call
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from tests.monitoring.test_stream import (
    WAIT,
    frames_until_cursor,
    outbox_thread_connections_closed,  # noqa: F401  (autouse fixture)
    socket,
    violate,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def signed_in(user) -> tuple[Client, tuple[bytes, bytes]]:
    """A browser signed in as user, and its session cookie as a socket header."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return client, (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode())


async def open_socket(cookie):
    ws = socket(cookie)
    assert (await ws.connect(timeout=WAIT))[0]
    assert (await ws.receive_json_from(timeout=WAIT))["type"] == "hello"
    return ws


async def closed_with(ws) -> int:
    message = await ws.receive_output(timeout=WAIT)
    assert message["type"] == "websocket.close", message
    return message["code"]


def test_logging_out_closes_the_sessions_socket(executive, source, eu_dataset):
    browser, cookie = signed_in(executive)
    _, other_cookie = signed_in(executive)

    async def scenario():
        ws = await open_socket(cookie)
        other = await open_socket(other_cookie)
        logout = await db_call(browser.post)("/accounts/logout/")
        assert logout.status_code == 302
        assert await closed_with(ws) == 4401
        await db_call(violate)(source)  # the other session's socket streams on
        messages, _ = await frames_until_cursor(other)
        assert messages
        await other.disconnect()

    async_to_sync(scenario)()


def test_a_session_that_ended_otherwise_closes_the_socket_at_its_next_push(
    settings, executive, source, eu_dataset
):
    settings.SOCKET_SESSION_CHECK_SECONDS = 0  # checked before every push
    _, cookie = signed_in(executive)

    async def scenario():
        ws = await open_socket(cookie)
        await db_call(violate)(source)
        messages, _ = await frames_until_cursor(ws)  # still signed in: streams
        assert messages
        await db_call(lambda: Session.objects.all().delete())()  # expired, or flushed elsewhere
        await db_call(violate)(source)
        assert await closed_with(ws) == 4401

    async_to_sync(scenario)()
