"""The policy index learns of changes by notification (catalog.revision_notices): a check reads
nothing to know its index is current, a change made here or in another process is seen by the
next check, and while the listener is down every check reads the revision counters again."""

import datetime as dt

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog import revision_notices
from catalog.models import Country
from governance.checks.services import Check, locality_check
from governance.models import Outcome
from governance.policy.engine import evaluate
from governance.policy.index import compile_index, current_index, forget_index
from governance.policy.rules import rule_create
from tests.factories import make_dataset
from tests.governance.test_index_refresh import _database_url, _in_another_process
from tests.live import free_port
from tests.notices import caught_up

GERMANY = "aws:eu-central-1"
AT = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
LIMIT = 60.0  # seconds: a bound for a broken listener, not a speed to reach
COUNTERS = "catalog_revision"

postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="notifications need PostgreSQL (LISTEN/NOTIFY)"
)
committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def subscribed() -> int:
    """This process's listener subscribed and caught up with every commit so far; its
    generation then."""
    caught_up(_database_url())
    generation = revision_notices.generation()
    assert generation is not None
    return generation


def listening_again_after(generation: int) -> None:
    """Lost (the generation moves) and subscribed again (it moves once more)."""
    assert revision_notices.wait_for(
        lambda now, listening, notice: listening and now >= generation + 2, LIMIT
    )


def reads_counters() -> bool:
    """Whether current_index() reads the revision counters now."""
    with CaptureQueriesContext(connection) as captured:
        current_index()
    return any(COUNTERS in q["sql"] for q in captured.captured_queries)


def decide(region: str = GERMANY):
    return evaluate(current_index(), "eu-customers", "train", region, "model-training", AT)


@pytest.fixture
def eu_customers(data_owner):
    return make_dataset(
        data_owner,
        slug="eu-customers",
        uri="s3://locus-eu/customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=[GERMANY],
    )


@pytest.fixture
def listener_url(settings):
    """Point this process's listener somewhere (restarted), and back to the database after."""

    def point(url: str) -> None:
        revision_notices.stop_listener()
        settings.POLICY_INDEX_LISTEN_URL = url
        revision_notices.start_listener()

    yield point
    point("")


def deny_germany(officer, name="No EU data in Germany"):
    return rule_create(
        actor=officer,
        regions=[],
        countries=[Country.objects.get(code="DE")],
        name=name,
        effect="deny",
        jurisdiction_id="eu",
    )


# --- Notified ----------------------------------------------------------------------------------


@postgresql
@pytest.mark.django_db
def test_a_current_index_is_served_without_a_query(django_assert_num_queries):
    subscribed()
    first = current_index()
    with django_assert_num_queries(0):
        assert current_index() is first


@postgresql
@pytest.mark.django_db
def test_a_change_rolled_back_leaves_nothing_pending(data_owner, django_assert_num_queries):
    """While a transaction holds its own change the counters are read (its index differs from
    everyone's); once that change is rolled back, the index is served without a query again."""
    subscribed()
    with pytest.raises(RuntimeError), transaction.atomic():
        make_dataset(data_owner, slug="never-registered")
        assert revision_notices.generation() is None
        raise RuntimeError("rolled back")
    first = current_index()
    with django_assert_num_queries(0):
        assert current_index() is first


@postgresql
@committed
def test_a_rule_changed_through_the_service_is_seen_by_the_next_check(
    privacy_officer, eu_customers
):
    subscribed()
    assert decide().outcome == Outcome.ALLOW
    assert not reads_counters()

    rule = deny_germany(privacy_officer)  # committed: this process knows at once

    decision = decide()
    assert (decision.outcome, decision.rule) == (Outcome.DENY, f"rule:{rule.pk}")
    subscribed()  # its own notification arrives too: the counters are read once more
    current_index()
    assert not reads_counters()  # and from then on nothing


@postgresql
@committed
def test_a_rule_changed_in_another_process_is_seen_once_notified(privacy_officer, eu_customers):
    subscribed()
    assert decide().outcome == Outcome.ALLOW
    assert not reads_counters()

    rule_id = _in_another_process(
        f"""
        from django.contrib.auth import get_user_model
        from catalog.models import Country
        from governance.policy.rules import rule_create

        officer = get_user_model().objects.get(username={privacy_officer.username!r})
        rule = rule_create(actor=officer, regions=[], countries=[Country.objects.get(code="DE")],
                           name="Written elsewhere", effect="deny", jurisdiction_id="eu")
        print(rule.pk)
        """
    )
    subscribed()  # the notification arrived, after the other process's commit

    decision = decide()
    assert (decision.outcome, decision.rule) == (Outcome.DENY, f"rule:{rule_id}")
    assert not reads_counters()


@postgresql
@committed
def test_a_change_that_rolls_back_leaves_other_checks_alone(privacy_officer, eu_customers):
    """Inside the changing transaction the change is seen (counters read); after its rollback
    the index the others use is the committed one."""
    from django.db import transaction

    subscribed()
    assert decide().outcome == Outcome.ALLOW
    with pytest.raises(RuntimeError), transaction.atomic():
        deny_germany(privacy_officer, name="Never committed")
        assert reads_counters()
        assert decide().outcome == Outcome.DENY
        raise RuntimeError("rolled back")
    assert decide().outcome == Outcome.ALLOW


@postgresql
@committed
def test_a_dataset_registered_elsewhere_is_known_before_its_notification(data_owner, engineer):
    """A check naming something unknown reads the counters before it says so."""
    subscribed()
    current_index()
    with revision_notices._changed:  # the listener hears nothing until the block ends
        _in_another_process(
            f"""
            from django.contrib.auth import get_user_model
            from tests.factories import make_dataset

            owner = get_user_model().objects.get(username={data_owner.username!r})
            make_dataset(owner, slug="registered-elsewhere")
            """,
            notified=False,
        )
        check = Check("registered-elsewhere", "train", GERMANY, "model-training")
        [result] = locality_check(actor=engineer, checks=[check])
    assert result.errors is None
    assert result.decision is not None and result.record is not None


# --- Down --------------------------------------------------------------------------------------


def _bump_elsewhere() -> None:
    """A counter moved by a connection of its own, as another process would (committed)."""
    with psycopg.connect(_database_url(), autocommit=True) as other:
        other.execute(
            "UPDATE catalog_revision SET value = value + 1, stamp = 'elsewhere' "
            "WHERE key = 'catalog'"
        )


@postgresql
@committed
def test_a_listener_that_cannot_connect_leaves_every_check_reading_the_counters(
    eu_customers, listener_url
):
    subscribed()
    listener_url(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")  # nothing listens
    assert revision_notices.wait_for(lambda generation, listening, notice: not listening, LIMIT)
    version = current_index().version

    assert reads_counters()
    _bump_elsewhere()  # no notification can reach this process now
    assert current_index().version != version  # seen all the same: the counters were read
    assert reads_counters()

    listener_url("")  # back: subscribed, read once more (the resync), then nothing
    subscribed()
    assert reads_counters()
    assert not reads_counters()


@postgresql
@committed
def test_a_lost_listener_connection_falls_back_and_resyncs(eu_customers):
    before = subscribed()
    current_index()
    assert not reads_counters()

    with psycopg.connect(_database_url(), autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            ["locus revision listener"],
        ).fetchone()
    assert ended == (1,)
    listening_again_after(before)
    assert reads_counters()  # the resync: whatever was missed meanwhile is read
    assert not reads_counters()


# --- Without notifications ------------------------------------------------------------------


@pytest.mark.django_db
def test_without_notifications_every_call_reads_the_counters(settings):
    """The embedded default (SQLite) and POLICY_INDEX_NOTIFICATIONS off read the counters on
    every call, as before: another process writing the same database is always seen."""
    settings.POLICY_INDEX_NOTIFICATIONS = False
    current_index()
    assert reads_counters()
    assert reads_counters()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded default's database")
@pytest.mark.django_db
def test_the_embedded_default_reads_the_counters_on_every_call():
    assert revision_notices.generation() is None
    current_index()
    assert reads_counters()


# --- Round trips of one check -----------------------------------------------------------------

CHECK = {
    "dataset": "eu-customers",
    "action": "train",
    "region": GERMANY,
    "purpose": "model-training",
}


def _statements(client: APIClient) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.post("/api/v1/locality/check", CHECK, format="json").status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@postgresql
@committed
def test_round_trips_of_a_single_check_cold_and_warm(engineer, eu_customers):
    """Counted as the check makes them in production (autocommit; Django logs BEGIN and COMMIT
    as statements, which psycopg sends as round trips of their own)."""
    subscribed()
    forget_index()
    with CaptureQueriesContext(connection) as compiling:
        compile_index()
    compile_queries = len(compiling.captured_queries)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=engineer).key}")

    # Cold: nothing cached (a fresh test's cache, no index): the token's person (2), the
    # permissions (2), the counters and the index compiled, then the check's own.
    cold = _statements(client)
    warm = _statements(client)

    # Warm: one statement, the decision inserted and its decision-log entry queued (no lock:
    # the sequencer puts it on the chain later), atomic by itself: no BEGIN and COMMIT.
    assert len(warm) == 1, warm
    assert "governance_localitydecision" in warm[0] and "governance_ledgerqueued" in warm[0]
    assert not any(word in sql for sql in warm for word in (COUNTERS, "authtoken", "auth_perm"))
    assert len(cold) == len(warm) + 4 + 1 + compile_queries, cold


@postgresql
@committed
def test_a_warm_check_on_the_wire(engineer, eu_customers):
    """Counted on the wire (libpq's trace, as bench/roundtrips.py counts): the one statement,
    and the pool's health check of the connection as the request takes it (an empty query,
    which Django does not log; README "Benchmarks" says why it stays)."""
    from django.test import Client

    from bench.roundtrips import on_the_wire

    subscribed()
    token = Token.objects.create(user=engineer).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    on_the_wire(client, "POST", "/api/v1/locality/check", CHECK)  # the caches filled
    warm = on_the_wire(client, "POST", "/api/v1/locality/check", CHECK)
    # The test suite's own: a SET on every connection Django takes (tests/conftest.py), which
    # with a pool is every request's.
    suite = sum("locus.ledger_maintenance" in line for line in warm["sent"])
    # Nothing but the statement and the pool's checks goes over the wire. The request
    # makes one check; the trace covers every pooled connection, and another thread of this
    # test process (a pool of the whole suite's run) may take one meanwhile, with its check.
    assert warm["statements"] == 1, warm["sql"]
    assert warm["pool_checks"] >= 1, warm["sent"]
    assert warm["round_trips"] - suite == warm["statements"] + warm["pool_checks"], warm["sent"]
