"""Two workers run the daily retention task at once on PostgreSQL: each due dataset gets one
run, one decision-log entry and one notice to its owner (the datasets' rows are claimed with
SELECT ... FOR UPDATE SKIP LOCKED, and the run is unique per dataset and period)."""

from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance.models import LedgerEntry, Notification
from requests.models import RetentionRun
from requests.retention import holds, services
from tests.factories import make_dataset

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
pytestmark = [
    pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers; the locks are PostgreSQL's"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
WORKERS = 2
ROUNDS = 5


def _at_once(now) -> list[BaseException]:
    """WORKERS runs of the daily task, started together, each on its own connection."""
    start = threading.Barrier(WORKERS)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait(timeout=60)
            services.retention_due(now=now)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_two_workers_open_each_due_run_once(data_owner, other_owner, privacy_officer):
    owners = [data_owner, other_owner]
    datasets = [make_dataset(owners[i % 2], slug=f"logs-{i}", retention_days=30) for i in range(6)]
    held = datasets.pop()
    holds.legal_hold_place(actor=privacy_officer, dataset=held, reason="Case 11")
    now = timezone.now()
    for _ in range(ROUNDS):  # the same period, run again and again by both workers
        assert _at_once(now) == []
    runs = RetentionRun.objects.filter(dataset__in=datasets)
    assert sorted(runs.values_list("dataset__slug", flat=True)) == sorted(d.slug for d in datasets)
    assert not RetentionRun.objects.filter(dataset=held).exists()
    assert (
        LedgerEntry.objects.filter(kind="retention.run_opened").count()
        == RetentionRun.objects.count()
    )
    for owner in owners:
        theirs = RetentionRun.objects.filter(owner=owner).count()
        notices = Notification.objects.filter(recipient=owner, kind="retention.run").count()
        assert notices == theirs
