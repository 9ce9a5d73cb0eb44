"""The same batch sent at once on several connections, on PostgreSQL: it is recorded once, the
withdrawal opens its model decisions once, and no sender gets an error (one client's batches
are recorded one after another)."""

# ruff: noqa: F811  (the fixtures imported from consent_setup are parameters of the tests)

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection

from requests.consents.batch import parse_batch
from requests.consents.services import consent_batch_record
from requests.models import ConsentEvent, MlPropagationDecision
from tests.consent_setup import (  # noqa: F401  (fixtures)
    app_usage,
    collector,
    event,
    fresh_policy_cache,
    newsletter,
    notice,
    training_run,
)

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers; the lock is PostgreSQL's"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
THREADS = 6


def test_a_batch_sent_at_once_is_recorded_once(collector, notice, newsletter):
    training_run("churn-v3", [newsletter])
    batch = [event("evt-1"), event("evt-2", state="withdrawn", at="2026-11-05T10:00:00Z")]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    created: list[int] = []

    def send() -> None:
        try:
            items, faults = parse_batch(batch)
            assert not faults
            start.wait(timeout=60)
            created.append(consent_batch_record(actor=collector, items=items).created)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(created) == [0] * (THREADS - 1) + [2]
    assert ConsentEvent.objects.count() == 2
    assert MlPropagationDecision.objects.count() == 1
