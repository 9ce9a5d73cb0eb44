"""The transfer-exception periodic task on a real Celery worker, Redis and the database."""

import datetime as dt

import pytest
from django.utils import timezone

from governance.models import LedgerEntry, Notification, TransferGrant
from governance.policy.index import forget_index
from requests.models import ExceptionStatus, TransferException
from requests.tasks import exceptions_due
from tests.requests.test_transfer_services import US, ask, engine_says, step
from tests.worker import celery_worker, wait_for  # noqa: F401  (fixture)

pytestmark = pytest.mark.live


def _end_now(exception: TransferException) -> None:
    """The exception's period (and its grant's) ends at this moment, as if its time had come."""
    ended = timezone.now()
    TransferException.objects.filter(pk=exception.pk).update(ends_at=ended)
    TransferGrant.objects.filter(pk=exception.grant_id).update(valid_until=ended)
    forget_index()  # the grant changed under the services


def _succeeded(log: str, task: str) -> int:
    """How many runs of the task the worker's log reports as succeeded (one line each)."""
    return sum(1 for line in log.splitlines() if f".{task}[" in line and " succeeded in " in line)


def test_the_worker_expires_an_ended_exception_once(
    celery_worker,  # noqa: F811  (the fixture imported above)
    data_owner,
    eu_officer,
    eu_dataset,
    purpose,
):
    start = timezone.now() - dt.timedelta(days=1)
    exception = ask(data_owner, [eu_dataset], purpose, start=start, days=2)
    exception = step(eu_officer, step(data_owner, exception, "submit"), "approve")
    assert exception.status == ExceptionStatus.ACTIVE
    assert engine_says(eu_dataset, US, purpose).outcome == "allow_with_grant"
    _end_now(exception)  # its end comes after the work above, however long that took

    for _ in range(3):  # beat firing again, or a second worker, changes nothing
        exceptions_due.delay()
    wait_for(
        lambda: TransferException.objects.get().status == ExceptionStatus.EXPIRED,
        what="the worker to expire the exception",
    )
    wait_for(lambda: _succeeded(celery_worker.output(), "exceptions_due") == 3)
    assert LedgerEntry.objects.filter(kind="exception.expired").count() == 1
    assert Notification.objects.filter(kind="exception.expired").count() == 2
    assert engine_says(eu_dataset, US, purpose).outcome == "deny"
