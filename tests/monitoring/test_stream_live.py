"""The risk stream as deployed: two Daphne processes and a Celery worker on Redis and the shared
database. An event posted to one server's telemetry API reaches a socket open on the other
(through the outbox and the Redis channel layer), and the incident's e-mail goes through the
worker."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest
from django.conf import settings
from django.test import Client

from governance.models import Notification
from monitoring.telemetry import services
from tests import wsclient
from tests.factories import UserFactory
from tests.live import LiveServer
from tests.monitoring.conftest import event
from tests.worker import celery_worker, wait_for  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"), reason="several web processes share a Redis layer"
    ),
]
WAIT = 30.0


@pytest.fixture(scope="module")
def server_pair(django_db_setup, tmp_path_factory):
    """Two Daphne processes on the test database for the module's tests (each test still has a
    database of its own), queueing their tasks on this test process's worker queue (the one
    tests/worker.py's `celery_worker` takes from)."""
    queue = {"CELERY_TASK_DEFAULT_QUEUE": f"locus-test-{os.getpid()}"}
    servers = [LiveServer(tmp_path_factory.mktemp(f"live-{name}"), env=queue) for name in "ab"]
    for server in servers:
        server.launch()
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def two_servers(server_pair, transactional_db, django_db_serialized_rollback):
    """The pair's base URLs; what the test writes is committed, so both servers see it."""
    return [server.ready() for server in server_pair]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws/risk/"


async def next_violation(socket: wsclient.WebSocket, dataset: str) -> dict:
    while True:
        frame = await socket.receive_json(timeout=WAIT)
        for message in frame.get("messages", []):
            if message["kind"] == "violation.created" and message["payload"]["dataset"] == dataset:
                return message


def test_an_event_posted_to_one_server_reaches_a_socket_on_the_other(
    two_servers,
    celery_worker,  # noqa: F811
    privacy_officer,
    eu_dataset,
):
    server_a, server_b = two_servers
    executive = UserFactory(roles=["executive"])
    _, token = services.telemetry_source_register(actor=privacy_officer, name="pipeline-live")
    cookie = session_cookie(executive)
    body = [event("eu-customers", dest="aws:us-east-1")]

    async def scenario() -> tuple[dict, dict, float]:
        socket = await wsclient.connect(ws_url(server_b), origin=server_b, cookie=cookie)
        hello = await socket.receive_json(timeout=WAIT)
        assert hello["type"] == "hello"
        await socket.send_json({"after": hello["head"]})
        async with httpx.AsyncClient(timeout=WAIT) as http:
            answer = await http.post(
                f"{server_a}/api/v1/telemetry/events",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["violations"] == 1
        # Arriving at all is the point (receive_json fails the test after WAIT); how fast is
        # measured by bench/telemetry.py.
        frame = await next_violation(socket, "eu-customers")
        await socket.close()
        return hello, frame

    hello, frame = asyncio.run(scenario())
    assert frame["seq"] > hello["head"]
    assert frame["payload"]["destination_region"] == "aws:us-east-1"
    # The incident's notice was e-mailed by the worker, not by the web process.
    wait_for(
        lambda: Notification.objects.filter(
            recipient=privacy_officer, emailed_at__isnull=False
        ).exists(),
        timeout=WAIT,
        what="the worker to e-mail the incident notice",
    )
    # The worker logs the task's success after the task has committed: wait for the line too.
    wait_for(
        lambda: "succeeded" in celery_worker.output(),
        timeout=WAIT,
        what="the worker to log the e-mail task's success",
    )


def test_real_servers_refuse_foreign_origins_and_anonymous_sockets(two_servers, executive):
    server = two_servers[0]
    cookie = session_cookie(executive)

    async def refused(**kwargs) -> bool:
        try:
            socket = await wsclient.connect(ws_url(server), **kwargs)
        except wsclient.Refused:
            return True
        await socket.close()
        return False

    assert asyncio.run(refused(origin="http://evil.example", cookie=cookie))
    assert asyncio.run(refused(origin=server))  # no session
    assert not asyncio.run(refused(origin=server, cookie=cookie))
