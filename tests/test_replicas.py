"""Read replicas against a real one: a second PostgreSQL server, a hot standby made with
`pg_basebackup` from the test's primary, streaming from it (tests/replica_server.py).

To tell where a read went, the tests pause the replica's replay (`pg_wal_replay_pause()`) and
write on the primary: what the replica serves is then older than what the primary holds.
Transactional tests: a replica only ever sees committed rows. PostgreSQL only.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings as django_settings
from django.db import connections, router, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Dataset, Region
from catalog.replicas import (
    PIN_COOKIE,
    forget_lags,
    measure_lag,
    pin_seconds,
    replica_reads,
)
from governance.ledger.evidence import MANIFEST, evidence_export
from governance.models import LedgerEntry
from governance.roles import Role
from monitoring.dashboards import selectors as reads
from monitoring.models import EventOutcome, FlowDaily
from tests.factories import UserFactory, make_dataset
from tests.replica_server import StreamingReplica

ALIAS = "replica1"
WAIT_SECONDS = 300  # a limit for a broken replica, not a speed: each wait ends on its event
EVERY_LAG = 1e9  # a limit no lag reaches: the replica is always used

pytestmark = [
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="read replicas are PostgreSQL standbys; this run uses SQLite",
    ),
    pytest.mark.django_db(transaction=True, serialized_rollback=True, databases=["default", ALIAS]),
]


@pytest.fixture(scope="session")
def streaming_replica(django_db_setup, django_db_blocker) -> Iterator[StreamingReplica]:
    """One replica for the session, taken after the test database exists; `replica1` points
    at it while it runs."""
    from django.db import connection

    replica = StreamingReplica(dict(connection.settings_dict))
    try:
        replica.start()
        connections.settings[ALIAS] = replica.settings_dict()
        yield replica
    finally:
        if ALIAS in connections.settings:
            connections[ALIAS].close()
            del connections[ALIAS]
            del connections.settings[ALIAS]
        replica.stop()


@pytest.fixture
def replica(streaming_replica, settings) -> Iterator[StreamingReplica]:
    """The replica, caught up, replaying, and measured afresh for this test."""
    settings.READ_REPLICAS = [ALIAS]  # the alias stays defined; only these tests read it
    settings.REPLICA_LAG_CHECK_SECONDS = 0
    wait_until(lambda: caught_up(streaming_replica), "the replica replays the primary's writes")
    forget_lags()
    try:
        yield streaming_replica
    finally:
        streaming_replica.resume_replay()
        forget_lags()


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"never happened: {what}")


def caught_up(replica: StreamingReplica) -> bool:
    """The replica has replayed everything the primary had written when asked."""
    with replica.connect_primary() as primary:
        written = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
    with replica.connect() as standby:
        row = standby.execute("SELECT pg_last_wal_replay_lsn() >= %s", [written]).fetchone()
    return bool(row and row[0])


def received_more_than_replayed(replica: StreamingReplica) -> bool:
    with replica.connect() as standby:
        row = standby.execute(
            "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
        ).fetchone()
    return bool(row and row[0])


def flows(events: int) -> FlowDaily:
    """A rollup row of today, that the dashboards read."""
    return FlowDaily.objects.create(
        day=timezone.now().date(),
        dataset_key=events,
        source_country="DE",
        destination_country="US",
        outcome=EventOutcome.VIOLATION,
        jurisdiction="EU",
        events=events,
    )


def events_shown(filters: reads.Filters) -> int:
    return sum(reads.outcome_totals(filters).values())


def stale_replica(replica: StreamingReplica) -> None:
    """Stop the replica's replay, then write on the primary (a second rollup row, a dataset),
    and wait until the replica has received that write without applying it."""
    replica.pause_replay()
    flows(7)
    make_dataset(name="Written while paused", slug="written-while-paused")
    wait_until(lambda: received_more_than_replayed(replica), "the replica receives the write")


# --- the replica follows the primary ------------------------------------------------------------


def test_the_replica_is_a_standby_that_streams_the_primarys_writes(replica):
    with connections[ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    row = flows(5)

    wait_until(
        lambda: FlowDaily.objects.using(ALIAS).filter(pk=row.pk).exists(),
        "the row written on the primary is read on the replica",
    )
    assert measure_lag(ALIAS) is not None


# --- reads that move to the replica --------------------------------------------------------------


def test_dashboards_lists_and_the_evidence_package_read_the_replica(replica, settings, client):
    settings.REPLICA_MAX_LAG_SECONDS = EVERY_LAG
    filters = reads.Filters.last_days(30)
    flows(5)
    make_dataset(name="Written before the pause", slug="written-before-the-pause")  # logged
    auditor = UserFactory(username="ada-auditor", roles=[Role.AUDITOR])
    executive = UserFactory(username="erin-exec", roles=[Role.EXECUTIVE])
    wait_until(lambda: caught_up(replica), "the replica replays the first writes")
    stale_replica(replica)

    # A dashboard selector: the replica's figure, and its queries ran there.
    with CaptureQueriesContext(connections[ALIAS]) as on_replica, replica_reads() as alias:
        shown = events_shown(filters)
    assert alias == ALIAS
    assert shown == 5
    assert any("monitoring_flowdaily" in q["sql"] for q in on_replica.captured_queries)
    assert events_shown(filters) == 12  # outside the block: the primary

    # A dashboard page and a list page.
    client.force_login(executive)
    data = client.get(reverse("monitoring:executive-data")).json()
    assert data["kpis"]["events"] == "5"
    client.force_login(auditor)
    listed = client.get(reverse("catalog:dataset-list"))
    assert listed.status_code == 200
    assert "Written before the pause" in listed.content.decode()
    assert "Written while paused" not in listed.content.decode()

    # The evidence package: cut from the replica's log (one snapshot there), recorded on the
    # primary's.
    replica_head = LedgerEntry.objects.using(ALIAS).order_by("-sequence").first()
    primary_head = LedgerEntry.objects.using("default").order_by("-sequence").first()
    assert replica_head is not None and primary_head is not None
    assert replica_head.sequence < primary_head.sequence
    now = timezone.now()
    package = evidence_export(actor=auditor, since=now - dt.timedelta(days=1), until=now)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        verification = json.loads(archive.read("verification.json"))
    assert manifest["ledger_head"]["sequence"] == replica_head.sequence
    assert verification["ok"] is True
    # The database's verification streamed the same log, from the replica too.
    assert verification["database"]["head_sequence"] == replica_head.sequence
    exported = LedgerEntry.objects.using("default").order_by("-sequence").first()
    assert exported is not None and exported.kind == "evidence.exported"


# --- reads that stay on the primary --------------------------------------------------------------


def test_whoever_writes_reads_their_writes_from_the_primary(replica, settings, client):
    settings.REPLICA_MAX_LAG_SECONDS = EVERY_LAG
    owner = UserFactory(username="olga-owner", roles=[Role.DATA_OWNER])
    colleague = UserFactory(username="oscar-owner", roles=[Role.DATA_OWNER])
    region = Region.objects.get(code="aws:eu-west-1")
    wait_until(lambda: caught_up(replica), "the replica replays the first writes")
    replica.pause_replay()
    client.force_login(owner)

    created = client.post(reverse("catalog:dataset-create"), _dataset_form(region))

    assert created.status_code == 302
    assert created.cookies[PIN_COOKIE]["max-age"] == pin_seconds()
    wait_until(lambda: received_more_than_replayed(replica), "the replica receives the write")
    mine = client.get(reverse("catalog:dataset-list"))
    assert "Customer events" in mine.content.decode()  # the writer: the primary
    client.cookies.pop(PIN_COOKIE)
    client.force_login(colleague)
    theirs = client.get(reverse("catalog:dataset-list"))
    assert "Customer events" not in theirs.content.decode()  # anyone else: the replica


def test_a_transaction_and_writes_inside_a_replica_block_use_the_primary(replica, settings):
    settings.REPLICA_MAX_LAG_SECONDS = EVERY_LAG
    stale_replica(replica)

    with replica_reads() as alias:
        assert alias == ALIAS
        assert not Dataset.objects.filter(slug="written-while-paused").exists()
        with transaction.atomic():  # reads inside a transaction on the primary: the primary
            assert Dataset.objects.filter(slug="written-while-paused").exists()
        written = flows(9)  # a write: the primary
        assert router.db_for_write(FlowDaily, instance=written) == "default"
    assert FlowDaily.objects.using("default").filter(pk=written.pk).exists()


# --- a lagging replica ---------------------------------------------------------------------------


def test_a_replica_lagging_more_than_the_limit_is_bypassed_until_it_catches_up(replica, settings):
    filters = reads.Filters.last_days(30)
    flows(5)
    wait_until(lambda: caught_up(replica), "the replica replays the first writes")
    stale_replica(replica)
    lag = measure_lag(ALIAS)
    assert lag is not None and lag > 0  # it has received a write it has not applied
    settings.REPLICA_MAX_LAG_SECONDS = lag / 2  # lag only grows while replay is paused
    forget_lags()

    with replica_reads() as alias:
        shown = events_shown(filters)
    assert alias == "default"
    assert shown == 12

    replica.resume_replay()
    wait_until(lambda: caught_up(replica), "the replica catches up")
    forget_lags()
    with replica_reads() as alias:
        assert alias == ALIAS
        assert events_shown(filters) == 12


def test_readyz_reports_each_replica_and_stays_ready_while_one_lags(replica, settings, client):
    settings.REPLICA_MAX_LAG_SECONDS = EVERY_LAG
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.content
    assert answer.json()["replicas"][ALIAS].startswith("ok (")

    stale_replica(replica)
    lag = measure_lag(ALIAS)
    assert lag is not None and lag > 0
    settings.REPLICA_MAX_LAG_SECONDS = lag / 2
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.content  # reads fall back to the primary
    assert answer.json()["replicas"][ALIAS].endswith("reads go to the primary")


def _dataset_form(region: Region) -> dict:
    return {
        "name": "Customer events",
        "slug": "customer-events",
        "description": "Clicks and page views",
        "uri": "s3://events/customer",
        "storage_region": str(region.pk),
        "jurisdiction": "",
        "sensitivity": "confidential",
        "lawful_basis": "legitimate_interests",
        "retention_days": "365",
        "tags": "web",
    }
