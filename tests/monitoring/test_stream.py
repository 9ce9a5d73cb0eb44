"""The risk stream's WebSocket (/ws/risk/): who may connect, what each person receives, and
catching up after a gap. Run through the real ASGI application (origin check, sessions)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async as db_call
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from governance.asgi import application
from governance.models import Responsibility
from monitoring import consumers
from monitoring.models import StreamMessage
from monitoring.telemetry import stream
from monitoring.telemetry.ingest import telemetry_ingest
from monitoring.telemetry.stream import stream_head
from tests.factories import UserFactory
from tests.monitoring.conftest import event

# Consumers close stale connections around each database call, which ends a test transaction:
# these tests commit (and the tables are emptied after each).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
ORIGIN = (b"origin", b"http://testserver")
# The most a test waits for a frame it expects: a bound for a broken stream, not a speed the
# machine must reach (a frame that comes sooner ends the wait at once).
WAIT = 60


@pytest.fixture(autouse=True)
def outbox_thread_connections_closed():
    """The consumers read the outbox on a thread of their own; its connection (and, on
    PostgreSQL, the pool's idle ones) must not outlive the test, or the test database cannot
    be dropped."""
    yield
    consumers._outbox_thread.submit(_close_connections).result()


def _close_connections() -> None:
    for connection in connections.all():
        connection.close()
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None and getattr(connection, "pool", None) is not None:
            close_pool()


def cookie_for(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode())


def socket(cookie=None, origin=ORIGIN) -> WebsocketCommunicator:
    """A client of /ws/risk/ with that session cookie (cookie_for(user), made outside the loop)."""
    headers = [origin] if origin else []
    if cookie is not None:
        headers.append(cookie)
    return WebsocketCommunicator(application, "/ws/risk/", headers=headers)


async def frames_until_cursor(ws: WebsocketCommunicator) -> tuple[list[dict], int]:
    """The messages of the next frame, and its cursor."""
    frame = await ws.receive_json_from(timeout=WAIT)
    assert frame["type"] == "messages", frame
    return frame["messages"], frame["cursor"]


def all_seqs(after: int = 0) -> list[int]:
    return list(StreamMessage.objects.filter(seq__gt=after).values_list("seq", flat=True))


def run(coroutine_function):
    """Run an async scenario from a sync test: database calls share the test's transaction."""
    return async_to_sync(coroutine_function)()


def violate(source, dataset="eu-customers", n=1):
    """Ingest n violating events of a dataset (stream rows: incident, violations, KPI delta)."""
    dest = "aws:us-east-1" if dataset == "eu-customers" else "aws:sa-east-1"
    return telemetry_ingest(source=source, items=[event(dataset, dest=dest) for _ in range(n)])


def test_anonymous_sockets_are_refused(db):
    async def scenario():
        ws = socket()
        connected, code = await ws.connect(timeout=WAIT)
        assert (connected, code) == (False, 4401)
        await ws.disconnect()  # the refused consumer ends, not cancelled with the loop

    run(scenario)


def test_a_foreign_origin_is_refused(executive):
    cookie = cookie_for(executive)

    async def scenario():
        ws = socket(cookie, origin=(b"origin", b"https://evil.example"))
        connected, _ = await ws.connect(timeout=WAIT)
        assert not connected
        await ws.disconnect()  # the refused consumer ends, not cancelled with the loop

    run(scenario)


def test_people_without_a_monitoring_role_are_refused(outsider, engineer):
    async def scenario(cookie):
        ws = socket(cookie)
        connected, code = await ws.connect(timeout=WAIT)
        assert (connected, code) == (False, 4403)
        await ws.disconnect()  # the refused consumer ends, not cancelled with the loop

    for user in (outsider, engineer):
        async_to_sync(scenario)(cookie_for(user))


def test_catch_up_then_live_messages_for_an_executive(executive, source, eu_dataset):
    violate(source)
    head = stream_head()

    cookie = cookie_for(executive)

    async def scenario():
        ws = socket(cookie)
        connected, _ = await ws.connect(timeout=WAIT)
        assert connected
        hello = await ws.receive_json_from(timeout=WAIT)
        assert hello == {"type": "hello", "head": head}
        await ws.send_json_to({"after": 0})
        caught_up, cursor = await frames_until_cursor(ws)
        assert [m["seq"] for m in caught_up] == await db_call(all_seqs)()
        assert cursor == head
        await ws.disconnect()

    run(scenario)


def test_live_messages_arrive_on_announcement(executive, source, eu_dataset):
    cookie = cookie_for(executive)

    async def scenario():
        ws = socket(cookie)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)  # hello
        await db_call(violate)(source)  # announced when it commits
        seqs = await db_call(all_seqs)()
        live, cursor = await frames_until_cursor(ws)
        assert [m["seq"] for m in live] == seqs
        assert {m["kind"] for m in live} >= {"incident.opened", "violation.created", "kpi.delta"}
        assert cursor == max(seqs)
        await ws.disconnect()

    run(scenario)


def test_an_officer_of_another_jurisdiction_gets_nothing(source, eu_dataset, executive):
    elsewhere = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=elsewhere, jurisdiction_id="br")
    eu_officer = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=eu_officer, jurisdiction_id="eu")
    violate(source)

    async def received(cookie) -> list[dict]:
        ws = socket(cookie)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        await ws.send_json_to({"after": 0})
        messages, cursor = await frames_until_cursor(ws)
        assert cursor == await db_call(stream_head)()
        # Nothing else was sent before the answer to a bad message: the socket answers in order.
        await ws.send_json_to({"after": "soon"})
        assert (await ws.receive_json_from(timeout=WAIT))["type"] == "error"
        await ws.disconnect()
        return messages

    assert async_to_sync(received)(cookie_for(elsewhere)) == []
    eu_messages = async_to_sync(received)(cookie_for(eu_officer))
    assert {m["kind"] for m in eu_messages} >= {"incident.opened", "violation.created"}
    assert all("eu" in m["payload"].get("jurisdictions", ["eu"]) for m in eu_messages)


def test_a_data_owner_sees_only_their_datasets(
    source, eu_dataset, other_dataset, data_owner, other_owner
):
    violate(source, "eu-customers")
    violate(source, "us-metrics")

    async def received(cookie) -> list[dict]:
        ws = socket(cookie)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        await ws.send_json_to({"after": 0})
        messages, _ = await frames_until_cursor(ws)
        await ws.disconnect()
        return messages

    mine = async_to_sync(received)(cookie_for(data_owner))
    theirs = async_to_sync(received)(cookie_for(other_owner))
    named = {m["payload"].get("dataset") for m in mine if m["kind"] != "kpi.delta"}
    assert named == {"eu-customers"}
    named = {m["payload"].get("dataset") for m in theirs if m["kind"] != "kpi.delta"}
    assert named == {"us-metrics"}
    kpis = [m for m in mine if m["kind"] == "kpi.delta"]
    assert kpis and all(set(k["payload"]["by_dataset"]) == {str(eu_dataset.pk)} for k in kpis)


def test_a_lost_announcement_is_made_up_by_the_next_one(
    executive, source, eu_dataset, monkeypatch, settings
):
    """The layer dropped the first announcement; the second brings both batches' rows."""
    # The process's poll would bring the first batch too, whenever it comes round between the
    # two writes (on a loaded machine it did): only the announcement may deliver here.
    settings.TELEMETRY_STREAM_POLL_SECONDS = 3600
    cookie = cookie_for(executive)

    async def scenario():
        ws = socket(cookie)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        monkeypatch.setattr(stream, "announce", lambda first, last: None)
        await db_call(violate)(source)  # its announcement is lost
        monkeypatch.undo()
        await db_call(violate)(source, "eu-customers", 2)  # announces its own seqs only
        last = await db_call(stream_head)()
        live, cursor = await frames_until_cursor(ws)
        assert [m["seq"] for m in live] == await db_call(all_seqs)()
        assert cursor == last
        await ws.disconnect()

    run(scenario)


def test_a_reconnecting_client_resumes_after_its_cursor(executive, source, eu_dataset):
    violate(source)
    seen_until = stream_head()
    violate(source, "eu-customers", 3)  # while the client was away

    cookie = cookie_for(executive)

    async def scenario():
        ws = socket(cookie)
        assert (await ws.connect(timeout=WAIT))[0]
        await ws.receive_json_from(timeout=WAIT)
        await ws.send_json_to({"after": seen_until})
        missed, cursor = await frames_until_cursor(ws)
        assert [m["seq"] for m in missed] == await db_call(all_seqs)(after=seen_until)
        assert cursor == await db_call(stream_head)()
        await ws.send_json_to({"after": "soon"})
        assert (await ws.receive_json_from(timeout=WAIT))["type"] == "error"
        await ws.send_to(text_data="{not json")
        assert (await ws.receive_json_from(timeout=WAIT))["type"] == "error"
        await ws.disconnect()

    run(scenario)


def test_the_http_catch_up_filters_like_the_socket(api_client, source, eu_dataset):
    elsewhere = UserFactory(roles=["privacy_officer"])
    Responsibility.objects.create(user=elsewhere, jurisdiction_id="br")
    violate(source)
    answer = api_client(elsewhere).get("/api/v1/risk/stream?after=0").json()
    assert answer == {"messages": [], "next": stream_head()}
    assert api_client().get("/api/v1/risk/stream?after=0").status_code in (401, 403)
