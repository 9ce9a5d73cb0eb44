"""A notification whose e-mail cannot be queued (the broker is down) is kept for the sweep; the
change that caused it still commits and its caller does not fail. (Critical ones: an officer
gets those at once; the rest wait for a digest, see test_notification_digests.)"""

import datetime as dt

import pytest
from django.core import mail
from kombu.exceptions import OperationalError

from governance import tasks
from governance.models import Notification
from governance.notifications.services import (
    notifications_send_email,
    notify,
    unsent_notification_ids,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.notifications_email, "apply_async", refuse)


def test_a_broker_outage_leaves_the_email_to_the_sweep(
    privacy_officer, broker_down, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        (note,) = notify(
            recipients=[privacy_officer],
            kind="test.outage",
            title="Broker gone",
            severity="critical",
        )
    assert len(callbacks) == 1  # it ran, and did not raise
    assert "notifications_sweep will do the work" in caplog.text
    note.refresh_from_db()
    assert note.emailed_at is None and mail.outbox == []
    # The periodic sweep sends it once it is due.
    assert unsent_notification_ids(older_than=dt.timedelta(0)) == [note.pk]
    assert notifications_send_email(unsent_notification_ids(older_than=dt.timedelta(0))) == 1
    assert mail.outbox[0].subject == "[Locus] Broker gone"
    assert Notification.objects.get(pk=note.pk).emailed_at is not None


def test_with_the_broker_up_the_email_task_is_queued_on_commit(
    privacy_officer, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        tasks.notifications_email, "apply_async", lambda args, queue: queued.append(args[0])
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (note,) = notify(
            recipients=[privacy_officer], kind="test.up", title="Broker here", severity="critical"
        )
    assert queued == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert queued == [[note.pk]]
