"""Redis killed (SIGKILL) and started again while telemetry streams into a live server.

The server runs on a private redis-server (its channel layer and Celery broker), never on the
Redis other tests share. A pipeline posts batches of events, some of them violations that open
incidents (whose e-mails are queued on the broker), before, during and after the outage; a
privacy officer's dashboard socket does what the page's script does: on a close it reconnects
and asks for everything after the last seq it read.

Held: every POST is answered 200, or 503 with Retry-After while Redis is down (the pipeline
then sends the same batch again), never 500; every event an answer accepted is in the database;
the socket ends with every outbox message, in order, without gaps or repeats; /readyz names the
channel layer and the broker while Redis is down and is 200 again after.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import httpx
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client

from monitoring.models import StreamMessage, TelemetryEvent
from monitoring.telemetry import services
from tests import wsclient
from tests.factories import make_dataset
from tests.live import LiveServer
from tests.monitoring.conftest import event
from tests.redis_server import PrivateRedis, redis_server_binary

pytestmark = pytest.mark.live

BATCH_SIZE = 10
BATCHES_BEFORE = 4
OUTAGE_SECONDS = 2.0
BATCHES_AFTER = 6
DATASETS = 40  # a fresh one per batch, so each batch opens an incident (and queues its e-mail)
WAIT = 60.0
SILENCE_SECONDS = 20.0
QUIET_SECONDS = 7.0  # longer than redis-py 8's default read timeout (5 s)  # a socket quiet this long is taken for dead, as a page's heartbeat would


@pytest.fixture
def locus_on_private_redis(transactional_db, django_db_serialized_rollback, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the fault test runs on PostgreSQL, like a deployment")
    redis_server_binary()
    redis = PrivateRedis(tmp_path)
    redis.start()
    server = LiveServer(
        tmp_path,
        env={
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": redis.url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": "locus-faults-redis",
        },
    )
    server.launch()
    try:
        yield server.ready(), redis, server
    finally:
        server.stop()
        redis.stop()


@dataclasses.dataclass
class Post:
    batch: int
    phase: str
    status: int
    retry_after: str | None
    body: str


@dataclasses.dataclass
class Dashboard:
    """A privacy officer's risk page: its socket, reconnected on a close, resuming at its seq."""

    base_url: str
    cookie: str
    start: int | None = None
    cursor: int | None = None
    seqs: list[int] = dataclasses.field(default_factory=list)
    connects: int = 0
    endings: list[str] = dataclasses.field(default_factory=list)
    errors: list[dict] = dataclasses.field(default_factory=list)

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            try:
                socket = await wsclient.connect(
                    self.base_url.replace("http://", "ws://") + "/ws/risk/",
                    origin=self.base_url,
                    cookie=self.cookie,
                )
            except (OSError, wsclient.Refused) as exc:
                self.endings.append(f"connect: {exc!r}")
                await asyncio.sleep(0.5)
                continue
            self.connects += 1
            try:
                await self._read(socket)
            except wsclient.Closed as closed:
                self.endings.append(f"closed {closed.code}")
            except (TimeoutError, OSError) as exc:
                self.endings.append(f"dropped: {exc!r}")
            finally:
                await socket.close()
            await asyncio.sleep(0.5)

    async def _read(self, socket: wsclient.WebSocket) -> None:
        hello = await socket.receive_json(timeout=SILENCE_SECONDS)
        assert hello["type"] == "hello"
        if self.cursor is None:
            self.start = self.cursor = hello["head"]
        await socket.send_json({"after": self.cursor})
        while True:
            frame = await socket.receive_json(timeout=SILENCE_SECONDS)
            if frame["type"] == "error":
                self.errors.append(frame)
                continue
            assert frame["type"] == "messages", frame
            self.seqs += [message["seq"] for message in frame["messages"]]
            self.cursor = frame["cursor"]


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def batch_of(number: int) -> list[dict]:
    """Eight allowed reads and two violations: one on the batch's own dataset (a new incident),
    one on the shared one (the same incident, growing)."""
    allowed = [event("eu-customers", id=f"b{number}-ok-{i}") for i in range(BATCH_SIZE - 2)]
    return [
        *allowed,
        event(f"eu-fault-{number}", dest="aws:us-east-1", id=f"b{number}-own"),
        event("eu-customers", dest="aws:us-east-1", id=f"b{number}-shared"),
    ]


def make_eu_datasets(owner) -> None:
    for slug in ["eu-customers"] + [f"eu-fault-{n}" for n in range(DATASETS)]:
        make_dataset(
            owner=owner,
            slug=slug,
            storage_region="aws:eu-west-1",
            lawful_basis="consent",
            allowed_processing_regions=["aws:eu-central-1"],
        )


class Pipeline:
    """Posts numbered batches; a 503 batch is sent again after its Retry-After (capped)."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http
        self.number = 0
        self.posts: list[Post] = []
        self.accepted: set[str] = set()
        self.unsent: list[int] = []  # batches refused with a 503 and not sent again yet

    async def send_next(self, phase: str, *, retry: bool = True) -> Post:
        post = await self.send(self.number, phase, retry=retry)
        self.number += 1
        return post

    async def send_unsent(self, phase: str) -> None:
        unsent, self.unsent = self.unsent, []
        for number in unsent:
            await self.send(number, phase)

    async def send(self, number: int, phase: str, *, retry: bool = True) -> Post:
        batch = batch_of(number)
        while True:
            try:
                answer = await self.http.post("/api/v1/telemetry/events", json=batch)
            except httpx.TransportError as exc:
                post = Post(number, phase, 0, None, repr(exc))
            else:
                post = Post(
                    number,
                    phase,
                    answer.status_code,
                    answer.headers.get("Retry-After"),
                    answer.text[:500],
                )
            self.posts.append(post)
            if post.status == 200:
                self.accepted |= {item["id"] for item in batch}
                break
            if post.status != 503:
                break
            if not retry:
                self.unsent.append(number)
                break
            await asyncio.sleep(min(1.0, float(post.retry_after or 1)))
        return post


async def readyz(http: httpx.AsyncClient) -> httpx.Response:
    return await http.get("/readyz")


async def wait_until(predicate, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"Timed out after {timeout:g} s waiting for {what}")


def outbox_after(start: int) -> list[int]:
    """The outbox's seqs after `start` (read on a thread of its own, its connection closed)."""
    try:
        seqs = StreamMessage.objects.filter(seq__gt=start).order_by("seq")
        return list(seqs.values_list("seq", flat=True))
    finally:
        connections.close_all()


async def caught_up(dashboard: Dashboard, what: str) -> None:
    head = (await asyncio.to_thread(outbox_after, 0))[-1]
    await wait_until(lambda: _true((dashboard.cursor or 0) >= head), what)


def test_redis_killed_mid_stream_loses_no_event_and_the_dashboard_catches_up(
    locus_on_private_redis, privacy_officer, data_owner
):
    base, redis, server = locus_on_private_redis
    make_eu_datasets(data_owner)
    _, token = services.telemetry_source_register(actor=privacy_officer, name="pipeline-fault")
    dashboard = Dashboard(base, session_cookie(privacy_officer))
    outage: dict[str, object] = {}

    async def scenario() -> Pipeline:
        watching = asyncio.ensure_future(dashboard.run())
        async with (
            httpx.AsyncClient(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=WAIT
            ) as http,
        ):
            pipeline = Pipeline(http)
            await wait_until(lambda: _true(dashboard.cursor is not None), "the dashboard's hello")
            for _ in range(BATCHES_BEFORE):
                await pipeline.send_next("before")
            await caught_up(dashboard, "live delivery before the fault")

            redis.kill()
            killed_at = time.monotonic()
            while time.monotonic() - killed_at < OUTAGE_SECONDS:
                await pipeline.send_next("outage", retry=False)
            down = await readyz(http)
            outage["readyz"] = (down.status_code, down.json())
            outage["healthz"] = (await http.get("/healthz")).status_code
            await asyncio.to_thread(redis.start)
            await pipeline.send_unsent("after")
            for _ in range(BATCHES_AFTER):
                await pipeline.send_next("after")
            recovering_at = time.monotonic()
            await wait_until(
                lambda: _status_is(http, "/readyz", 200), "/readyz to recover", timeout=30
            )
            outage["readyz_recovered_after"] = time.monotonic() - recovering_at
            await caught_up(dashboard, "the dashboard to catch up after the outage")

            # Redis is healthy: a quiet spell longer than its client's read timeout costs the
            # socket nothing, and the next batch arrives on it live.
            connects = dashboard.connects
            await asyncio.sleep(QUIET_SECONDS)
            await pipeline.send_next("quiet")
            posted_at = time.monotonic()
            await caught_up(dashboard, "the batch after the quiet spell")
            outage["live_after_quiet"] = time.monotonic() - posted_at
            outage["reconnects_while_healthy"] = dashboard.connects - connects
        outage["outbox"] = await asyncio.to_thread(outbox_after, dashboard.start)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        return pipeline

    pipeline = asyncio.run(scenario())
    failed = [p for p in pipeline.posts if p.status not in (200, 503)]
    assert not failed, f"answers other than 200/503: {failed}\n{server._output()[-4000:]}"
    assert all(p.retry_after for p in pipeline.posts if p.status == 503)
    assert any(p.phase == "outage" for p in pipeline.posts)
    # Every batch was accepted in the end (503s were sent again), and every accepted event is in.
    assert len(pipeline.accepted) == pipeline.number * BATCH_SIZE
    stored = TelemetryEvent.objects.filter(client_id__in=pipeline.accepted).count()
    assert stored == len(pipeline.accepted)

    status, ready = outage["readyz"]
    assert status == 503, ready
    assert {"channel_layer", "broker"} <= set(ready["failed"]), ready
    assert "database" not in ready["failed"]
    assert outage["healthz"] == 200

    # The socket read every outbox row after its start, in order, once: no gaps, no repeats.
    assert dashboard.seqs == outage["outbox"], dashboard.endings
    assert not dashboard.errors
    assert dashboard.connects > 1  # the outage closed the socket; the page reconnected
    assert outage["reconnects_while_healthy"] == 0, dashboard.endings
    print(
        f"posts: {[(p.phase, p.status) for p in pipeline.posts]}\n"
        f"socket connects: {dashboard.connects}, endings: {dashboard.endings}\n"
        f"readyz recovered after {outage['readyz_recovered_after']:.1f} s; "
        f"a batch after the quiet spell arrived in {outage['live_after_quiet']:.2f} s"
    )


async def _true(value: bool) -> bool:
    return value


async def _status_is(http: httpx.AsyncClient, path: str, status: int) -> bool:
    try:
        return (await http.get(path)).status_code == status
    except httpx.TransportError:
        return False


def test_an_open_quiet_socket_stays_open_and_readyz_stays_200(
    locus_on_private_redis, privacy_officer
):
    """No fault: a dashboard's socket idle longer than the Redis client's read timeout is not
    closed, and the readiness probe is not blocked by the process's sockets."""
    base, _, _ = locus_on_private_redis
    dashboard = Dashboard(base, session_cookie(privacy_officer))

    async def scenario() -> list[int]:
        watching = asyncio.ensure_future(dashboard.run())
        await wait_until(lambda: _true(dashboard.cursor is not None), "the dashboard's hello")
        statuses = []
        async with httpx.AsyncClient(base_url=base, timeout=WAIT) as http:
            started = time.monotonic()
            while time.monotonic() - started < QUIET_SECONDS:
                statuses.append((await readyz(http)).status_code)
                await asyncio.sleep(1.0)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        return statuses

    statuses = asyncio.run(scenario())
    assert set(statuses) == {200}, statuses
    assert (dashboard.connects, dashboard.endings) == (1, [])
