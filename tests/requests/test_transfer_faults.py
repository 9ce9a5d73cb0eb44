"""A Celery worker SIGKILLed in the middle of the grant-expiry task: after a new worker starts,
every exception is expired exactly once, with one ledger entry and one set of notices each."""

import datetime as dt
import threading

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from governance.models import LedgerEntry, Notification
from requests.models import ExceptionEvent, ExceptionStatus, TransferException
from requests.tasks import exceptions_due
from tests.factories import make_dataset
from tests.requests.test_transfer_services import EU, ask, step
from tests.worker import CeleryWorker, celery_worker, wait_for  # noqa: F401  (fixture)

pytestmark = pytest.mark.live

COUNT = 5
HELD = 2  # the worker expires the first two, then waits for the third, which the test holds


def _approved_exceptions(owner, officer, purpose) -> list[TransferException]:
    start = timezone.now() - dt.timedelta(days=1)
    exceptions = []
    for number in range(COUNT):
        dataset = make_dataset(owner=owner, allowed_processing_regions=[EU])
        exception = ask(owner, [dataset], purpose, start=start, days=2)
        exceptions.append(step(officer, step(owner, exception, "submit"), "approve"))
        # Ends in order, a second apart, all in the past for the task.
        TransferException.objects.filter(pk=exception.pk).update(
            ends_at=timezone.now() - dt.timedelta(minutes=10) + dt.timedelta(seconds=number)
        )
    return exceptions


def _hold_row_lock(exception_id: int, release: threading.Event, holding: threading.Event):
    """Another session locks one exception's row until told to let go."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=False,
    ) as conn:
        conn.execute(
            "SELECT id FROM workflows_transferexception WHERE id = %s FOR UPDATE", [exception_id]
        )
        holding.set()
        release.wait(timeout=120)
        conn.rollback()


def test_a_worker_killed_mid_expiry_leaves_each_exception_expired_once(
    celery_worker,  # noqa: F811
    data_owner,
    eu_officer,
    purpose,
    tmp_path,
):
    if connection.vendor != "postgresql":
        pytest.skip("the row lock that pauses the worker needs PostgreSQL")
    exceptions = _approved_exceptions(data_owner, eu_officer, purpose)
    release, holding = threading.Event(), threading.Event()
    locker = threading.Thread(
        target=_hold_row_lock, args=(exceptions[HELD].pk, release, holding), daemon=True
    )
    locker.start()
    assert holding.wait(timeout=30)
    try:
        exceptions_due.delay()
        wait_for(
            lambda: LedgerEntry.objects.filter(kind="exception.expired").count() == HELD,
            what="the worker to expire the exceptions before the held one",
        )
        celery_worker.kill()  # mid-task: it is waiting for the held row
    finally:
        release.set()
        locker.join(timeout=30)
    assert TransferException.objects.filter(status=ExceptionStatus.EXPIRED).count() == HELD

    successor = CeleryWorker(tmp_path, celery_worker.queue)
    successor.start()
    try:
        exceptions_due.delay()  # the next beat tick
        wait_for(
            lambda: not TransferException.objects.exclude(status=ExceptionStatus.EXPIRED).exists(),
            what="the new worker to expire the rest",
        )
    finally:
        successor.stop()
    assert LedgerEntry.objects.filter(kind="exception.expired").count() == COUNT
    for exception in exceptions:
        assert ExceptionEvent.objects.filter(exception=exception, action="expire").count() == 1
    assert Notification.objects.filter(kind="exception.expired").count() == COUNT * 2
