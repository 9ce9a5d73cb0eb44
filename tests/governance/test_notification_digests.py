"""Digests: the items people chose to get hourly or daily, in one e-mail and one in-app
summary per person and slot; idempotent, caught up after a missed run; run by a real entry of
the Celery beat schedule."""

import datetime as dt

import pytest
from django.conf import settings
from django.core import mail

from governance.models import Notification, NotificationDigest, NotificationSettings
from governance.notifications.digests import digest_make, digests_send
from governance.notifications.preferences import preferences_set
from governance.notifications.services import notify

pytestmark = pytest.mark.django_db

DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def at(hour: int, minute: int = 0, day: int = 0) -> dt.datetime:
    return DAY + dt.timedelta(days=day, hours=hour, minutes=minute)


@pytest.fixture
def sent(django_capture_on_commit_callbacks, celery_eager):
    """sent(now) -> runs the digest task's service at `now`, commits, returns how many."""

    def run(now: dt.datetime) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return digests_send(now=now)

    return run


def told(user, title: str, when: dt.datetime, severity: str = "medium", kind: str = "t.x"):
    """A notification to user, as if made at `when` (the e-mail of immediate ones not sent)."""
    (note,) = notify(recipients=[user], kind=kind, title=title, severity=severity)
    Notification.objects.filter(pk=note.pk).update(created_at=when)
    return note


def digest_mails(user):
    return [m for m in mail.outbox if m.to == [user.email] and "digest" in m.subject]


def test_an_hourly_digest_collects_what_came_since_the_last_one_and_runs_once(
    privacy_officer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = told(
            privacy_officer, "Incident #1: low one", at(9, 10), "low", "monitoring.incident_opened"
        )
        second = told(privacy_officer, "EX-3 approved", at(9, 40), kind="exception.approved")
        urgent = told(privacy_officer, "Breach!", at(9, 50), "critical")
    assert urgent.delivery == "immediate" and first.delivery == "hourly"

    assert sent(at(10, 0)) == 1
    (digest,) = NotificationDigest.objects.all()
    assert (digest.frequency, digest.since, digest.until, digest.item_count) == (
        "hourly",
        None,
        at(10),
        2,
    )
    assert set(digest.items.values_list("pk", flat=True)) == {first.pk, second.pk}
    # One e-mail, and one in-app summary (unread) that counts per kind and severity and
    # names the items with their links.
    (message,) = digest_mails(privacy_officer)
    assert message.subject == "[Locus] Hourly digest: 2 notifications"
    assert "- Incidents: 1 (1 low)" in message.body
    assert "- Transfer exceptions: 1 (1 medium)" in message.body
    assert "[low] Incident #1: low one" in message.body
    assert f"{settings.SITE_URL.rstrip('/')}/governance/notifications/?status=unread" in (
        message.body
    )
    summary = digest.summary
    assert summary.topic == "digest" and summary.read_at is None and summary.emailed_at
    assert summary.body in message.body
    # The items stay unread in the app, e-mailed by the digest alone.
    first.refresh_from_db()
    assert first.read_at is None and first.emailed_at is None

    # The same hour again (a second beat, a retried task): nothing more.
    assert sent(at(10, 0)) == 0
    assert sent(at(10, 30)) == 0
    assert len(digest_mails(privacy_officer)) == 1

    # What came after goes in the next hour's digest, which records the one before.
    with django_capture_on_commit_callbacks(execute=False):
        third = told(privacy_officer, "EX-4 expiring", at(10, 20), kind="exception.expiring")
    assert sent(at(10, 45)) == 0  # its hour's digest is out already
    assert sent(at(11, 0)) == 1
    latest = NotificationDigest.objects.latest("until")
    assert (latest.since, latest.until, latest.item_count) == (at(10), at(11), 1)
    assert list(latest.items.values_list("pk", flat=True)) == [third.pk]
    assert len(digest_mails(privacy_officer)) == 2


def test_a_missed_run_is_caught_up_and_nothing_waits_for_an_empty_digest(
    privacy_officer, data_owner, sent, django_capture_on_commit_callbacks
):
    assert sent(at(10)) == 0  # nothing waits: no digest, no mail
    with django_capture_on_commit_callbacks(execute=False):
        told(privacy_officer, "One", at(7, 5))
        told(privacy_officer, "Two", at(9, 55))
    # The runs at 8, 9 and 10 were missed; the one at 12:00 takes both.
    assert sent(at(12, 0)) == 1
    assert NotificationDigest.objects.get().item_count == 2
    assert mail.outbox and not digest_mails(data_owner)


def test_daily_digests_go_once_a_day_at_each_persons_hour(
    data_owner, other_owner, sent, django_capture_on_commit_callbacks
):
    NotificationSettings.objects.create(user=other_owner, daily_digest_hour=18)
    with django_capture_on_commit_callbacks(execute=False):
        for user in (data_owner, other_owner):
            told(user, "Routine", at(10, 15))
            told(user, "Also routine", at(16, 30))
    assert {n.delivery for n in Notification.objects.all()} == {"daily"}
    # The same day: the 07:00 digest came before the items; 18:00 is other_owner's hour.
    assert sent(at(11)) == 0
    assert sent(at(18)) == 1
    assert len(digest_mails(other_owner)) == 1 and digest_mails(data_owner) == []
    assert sent(at(19)) == 0 and sent(at(23)) == 0
    # The next morning at 07:00 (the default hour): data_owner's; then nothing until tomorrow.
    assert sent(at(7, day=1)) == 1
    (mine,) = digest_mails(data_owner)
    assert mine.subject == "[Locus] Daily digest: 2 notifications"
    assert sent(at(8, day=1)) == 0
    assert len(digest_mails(other_owner)) == 1
    assert NotificationDigest.objects.filter(frequency="daily").count() == 2


def test_one_mail_per_person_and_only_their_own_items(
    privacy_officer, data_owner, sent, django_capture_on_commit_callbacks
):
    preferences_set(user=data_owner, deliveries={("other", "medium"): "hourly"})
    with django_capture_on_commit_callbacks(execute=False):
        for i in range(30):
            told(privacy_officer, f"Officer item {i}", at(9, i))
        told(data_owner, "Owner item", at(9, 45))
    assert sent(at(10)) == 2
    (officer_mail,) = digest_mails(privacy_officer)
    (owner_mail,) = digest_mails(data_owner)
    assert "Owner item" not in officer_mail.body and "Officer item" not in owner_mail.body
    assert officer_mail.subject == "[Locus] Hourly digest: 30 notifications"
    assert "and 20 more." in officer_mail.body  # the top ten are named
    assert Notification.objects.filter(digest__isnull=True, delivery="hourly").count() == 0


def test_a_slot_taken_by_another_run_sends_nothing(
    privacy_officer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        note = told(privacy_officer, "One", at(9, 5))
    # Another run made this slot's digest (and took the items) first.
    with django_capture_on_commit_callbacks(execute=False):
        assert digest_make(user_id=privacy_officer.pk, frequency="hourly", slot=at(10))
        assert digest_make(user_id=privacy_officer.pk, frequency="hourly", slot=at(10)) is None
    assert sent(at(10)) == 0
    note.refresh_from_db()
    assert NotificationDigest.objects.get().pk == note.digest_id


def test_an_item_claimed_meanwhile_is_not_digested_twice(
    privacy_officer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        told(privacy_officer, "One", at(9, 5))
        taken = told(privacy_officer, "Two", at(9, 6))
    other = NotificationDigest.objects.create(
        recipient=privacy_officer, frequency="hourly", until=at(8)
    )
    Notification.objects.filter(pk=taken.pk).update(digest=other)
    assert sent(at(10)) == 1
    assert NotificationDigest.objects.get(until=at(10)).item_count == 1


def test_the_summary_counts_in_the_badge_and_lists_on_the_page(
    client, privacy_officer, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        told(privacy_officer, "One", at(9, 5))
    sent(at(10))
    client.force_login(privacy_officer)
    page = client.get("/governance/notifications/?topic=digest")
    assert page.status_code == 200
    assert [n.title for n in page.context["notifications"]] == ["Hourly digest: 1 notification"]
    assert 'aria-label="2 unread"' in page.text  # the item and its summary


def test_someone_who_left_gets_no_digest(privacy_officer, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        told(privacy_officer, "One", at(9, 5))
    privacy_officer.is_active = False
    privacy_officer.save(update_fields=["is_active"])
    assert sent(at(10)) == 0 and mail.outbox == []


# --- The beat schedule and the task -------------------------------------------------------


def test_the_beat_schedule_runs_a_registered_digest_task_every_hour():
    from celery.schedules import crontab

    from governance.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["notifications-digest"]
    assert entry["schedule"] == crontab(minute="0")
    app.loader.import_default_modules()  # as a worker does: autodiscovery
    assert entry["task"] in app.tasks
    assert app.conf.beat_schedule["notifications-digest"]["task"] == entry["task"]


def test_the_task_sends_what_is_due(
    privacy_officer, django_capture_on_commit_callbacks, celery_eager
):
    from governance import tasks

    with django_capture_on_commit_callbacks(execute=False):
        (note,) = notify(recipients=[privacy_officer], kind="t.x", title="Waiting")
    Notification.objects.filter(pk=note.pk).update(
        created_at=note.created_at - dt.timedelta(hours=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.notifications_digest.apply().get() == 1
        assert tasks.notifications_digest.apply().get() == 0
    assert len(digest_mails(privacy_officer)) == 1


# --- Two runs at once (PostgreSQL: SQLite serialises writers) -------------------------------

ON_SQLITE = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")


@pytest.mark.skipif(ON_SQLITE, reason="SQLite serialises writers")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_runs_at_the_same_moment_send_each_digest_once(privacy_officer, data_owner, celery_eager):
    import threading

    from django.db import connection

    preferences_set(user=data_owner, deliveries={("other", "medium"): "hourly"})
    for i in range(20):
        told(privacy_officer, f"Officer {i}", at(9, i))
        told(data_owner, f"Owner {i}", at(9, i))
    runs = 6
    start, made, errors = threading.Barrier(runs), [], []

    def run() -> None:
        try:
            start.wait(timeout=60)
            made.append(digests_send(now=at(10)))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and sum(made) == 2
    assert NotificationDigest.objects.count() == 2
    assert not Notification.objects.filter(delivery="hourly", digest__isnull=True).exists()
    assert sorted(d.item_count for d in NotificationDigest.objects.all()) == [20, 20]
    assert len(digest_mails(privacy_officer)) == 1 and len(digest_mails(data_owner)) == 1
