"""The production layout (README "Production layout"): granian serves the pages and the API
over WSGI, Daphne the WebSockets, on the same database. What the HTTP side announces to sockets
goes through the Redis channel layer from a WSGI thread and reaches a socket on Daphne."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from governance.roles import Role
from monitoring.telemetry import services
from monitoring.telemetry.stream import ANNOUNCE_TYPE, RISK_GROUP
from tests import wsclient
from tests.factories import UserFactory
from tests.live import LiveServer, web_command
from tests.monitoring.conftest import event

pytestmark = pytest.mark.live
WAIT = 30.0  # a bound for a broken layout, not a speed to reach
needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="two processes share a Redis channel layer"
)


@pytest.fixture(scope="module")
def layout_processes(django_db_setup, tmp_path_factory):
    """granian (web) and Daphne (ws) on the test database; tasks run in the web process."""
    eager = {"CELERY_TASK_ALWAYS_EAGER": "1"}
    web = LiveServer(tmp_path_factory.mktemp("live-web"), env=eager, command=web_command)
    ws = LiveServer(tmp_path_factory.mktemp("live-ws"), env=eager)
    for server in (web, ws):
        server.launch()
    try:
        yield web, ws
    finally:
        for server in (web, ws):
            server.stop()


@pytest.fixture
def layout(layout_processes, transactional_db, django_db_serialized_rollback):
    """The (web, ws) base URLs; what the test writes is committed, so both servers see it."""
    return tuple(server.ready() for server in layout_processes)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_granian_serves_the_api_and_the_pages(layout):
    web, _ = layout
    engineer = UserFactory(username="eve-engineer", roles=[Role.ENGINEER])
    token = Token.objects.create(user=engineer)

    api = httpx.get(f"{web}/api/v1/purposes/", headers={"Authorization": f"Token {token.key}"})
    page = httpx.get(f"{web}/governance/rules/", headers={"Cookie": session_cookie(engineer)})
    anonymous = httpx.get(f"{web}/api/v1/purposes/")

    assert api.status_code == 200, api.text
    assert api.headers["Server"] == "granian"
    assert api.headers["X-Request-ID"]
    assert any(row["code"] for row in api.json()["results"])
    assert page.status_code == 200, page.text[:500]
    assert page.headers["Content-Type"].startswith("text/html")
    assert anonymous.status_code == 401
    assert anonymous.json()["detail"]


@needs_redis
def test_an_event_posted_to_granian_is_announced_and_reaches_a_socket_on_daphne(
    layout, privacy_officer, eu_dataset
):
    web, ws = layout
    _, source_token = services.telemetry_source_register(actor=privacy_officer, name="wsgi-live")
    executive = UserFactory(roles=[Role.EXECUTIVE])
    cookie = session_cookie(executive)

    async def scenario() -> tuple[dict, dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(RISK_GROUP, channel)
        url = ws.replace("http://", "ws://") + "/ws/risk/"
        socket = await wsclient.connect(url, origin=ws, cookie=cookie)
        hello = await socket.receive_json(timeout=WAIT)
        await socket.send_json({"after": hello["head"]})
        async with httpx.AsyncClient(timeout=WAIT) as http:
            answer = await http.post(
                f"{web}/api/v1/telemetry/events",
                json=[event("eu-customers", dest="aws:us-east-1")],
                headers={"Authorization": f"Bearer {source_token}"},
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["violations"] == 1
        frame = await next_violation(socket)
        await socket.close()
        # The web process's announcement itself (a socket would also get the row from
        # Daphne's periodic read of the outbox): the group message naming the row's seq. Test
        # processes side by side share the Redis database, so another's announcements (of its
        # own rows, numbered in its own database) can come in between; they name other seqs.
        while True:
            announced = await asyncio.wait_for(layer.receive(channel), WAIT)
            named = announced.get("first", 0) <= frame["seq"] <= announced.get("last", -1)
            if announced["type"] == ANNOUNCE_TYPE and named:
                break
        await layer.group_discard(RISK_GROUP, channel)
        return frame, announced

    frame, announced = asyncio.run(scenario())

    assert frame["payload"]["destination_region"] == "aws:us-east-1"
    assert announced["first"] <= frame["seq"] <= announced["last"]


async def next_violation(socket: wsclient.WebSocket) -> dict:
    while True:
        frame = await socket.receive_json(timeout=WAIT)
        for message in frame.get("messages", []):
            if message["kind"] == "violation.created":
                return message
