"""Notification preferences: each person's delivery per kind and severity, the role defaults
without a choice, the routing of new notifications (at once, into a digest, or not at all),
the preferences page and the API."""

import pytest
from django.core import mail
from django.urls import reverse

from governance.models import Notification, NotificationPreference, NotificationSettings
from governance.notifications.preferences import (
    default_delivery,
    preferences_of,
    preferences_set,
    severity_of,
    topic_of,
)
from governance.notifications.services import notify, notify_many

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/preferences/"


def test_topics_and_severities_come_from_the_kind_or_the_caller():
    assert topic_of("monitoring.incident_opened") == "incident"
    assert topic_of("monitoring.breach_notifiable") == "incident"
    assert topic_of("monitoring.anomaly") == "alert"
    assert topic_of("exception.submitted") == "exception"
    assert topic_of("subject_request.received") == "subject_request"
    assert topic_of("subject_connector.approval") == "subject_request"
    assert topic_of("something.else") == "other"
    assert severity_of("monitoring.breach_notifiable") == "critical"
    # An incident's notice opens with its severity.
    assert severity_of("monitoring.incident_opened", "[low] ds reached aws:us-east-1") == "low"
    assert severity_of("monitoring.incident_opened", "[bogus] text") == "high"
    assert severity_of("exception.edited") == "low"
    assert severity_of("whatever") == "medium"
    assert severity_of("whatever", severity="critical") == "critical"


def test_the_defaults_follow_the_role(privacy_officer, data_owner):
    officer = preferences_of(privacy_officer)
    owner = preferences_of(data_owner)
    for prefs in (officer, owner):
        assert prefs.delivery("incident", "critical") == "immediate"
        assert prefs.delivery("incident", "high") == "immediate"
        assert all(cell.is_default for cell in prefs.cells)
        assert prefs.daily_digest_hour == 7 and prefs.hour_is_default
    assert officer.delivery("incident", "medium") == "hourly"
    assert officer.delivery("subject_request", "low") == "hourly"
    assert owner.delivery("incident", "medium") == "daily"
    assert owner.delivery("exception", "low") == "daily"
    assert default_delivery(officer=False, severity="critical") == "immediate"


def test_a_choice_overrides_the_default_and_only_choices_are_stored(privacy_officer):
    saved = preferences_set(
        user=privacy_officer,
        deliveries={
            ("incident", "critical"): "immediate",  # the default: not stored
            ("incident", "high"): "hourly",
            ("alert", "medium"): "off",
        },
        daily_digest_hour=18,
    )
    stored = NotificationPreference.objects.filter(user=privacy_officer)
    assert {(p.topic, p.severity, p.delivery) for p in stored} == {
        ("incident", "high", "hourly"),
        ("alert", "medium", "off"),
    }
    assert saved.delivery("incident", "high") == "hourly"
    assert saved.delivery("incident", "medium") == "hourly"  # still the default
    assert saved.daily_digest_hour == 18 and not saved.hour_is_default
    # Setting them again replaces them: what is left out returns to its default.
    again = preferences_set(user=privacy_officer, deliveries={("alert", "medium"): "off"})
    assert again.delivery("incident", "high") == "immediate"
    assert again.daily_digest_hour == 18  # not given: kept


def test_routing_at_once_into_a_digest_or_not_at_all(
    privacy_officer, data_owner, django_capture_on_commit_callbacks, celery_eager
):
    preferences_set(user=data_owner, deliveries={("other", "medium"): "off"})
    with django_capture_on_commit_callbacks(execute=True):
        notify(
            recipients=[privacy_officer, data_owner],
            kind="test.x",
            title="Urgent",
            severity="critical",
        )
        notify(recipients=[privacy_officer, data_owner], kind="test.x", title="Routine")
    rows = {(n.recipient.username, n.title): n for n in Notification.objects.all()}
    assert rows[("pat-privacy", "Urgent")].delivery == "immediate"
    assert rows[("olga-owner", "Urgent")].delivery == "immediate"
    assert rows[("pat-privacy", "Routine")].delivery == "hourly"
    assert ("olga-owner", "Routine") not in rows  # off: not kept at all
    # Only the immediate ones were e-mailed; the digest item waits, unread, in the app.
    assert sorted((m.to[0], m.subject) for m in mail.outbox) == [
        ("olga-owner@example.com", "[Locus] Urgent"),
        ("pat-privacy@example.com", "[Locus] Urgent"),
    ]
    routine = rows[("pat-privacy", "Routine")]
    assert routine.emailed_at is None and routine.read_at is None and routine.digest is None


def test_the_sweep_leaves_digest_items_to_the_digest(
    privacy_officer, django_capture_on_commit_callbacks
):
    import datetime as dt

    from governance.notifications.services import unsent_notification_ids

    with django_capture_on_commit_callbacks(execute=False):
        (urgent,) = notify(recipients=[privacy_officer], kind="t", title="U", severity="critical")
        notify(recipients=[privacy_officer], kind="t", title="R", severity="low")
    assert unsent_notification_ids(older_than=dt.timedelta(0)) == [urgent.pk]


def test_a_batch_reads_everyones_preferences_at_once(
    privacy_officer,
    data_owner,
    other_owner,
    django_assert_num_queries,
    django_capture_on_commit_callbacks,
):
    preferences_set(user=other_owner, deliveries={("incident", "high"): "daily"})
    notices = [
        (
            [privacy_officer, data_owner, other_owner],
            "monitoring.incident_opened",
            f"Incident #{i}",
            "[high] text",
            "/x/",
        )
        for i in range(20)
    ]
    # The officers, the choices, and one insert, however many notices and people.
    with django_capture_on_commit_callbacks(execute=False), django_assert_num_queries(3):
        rows = notify_many(notices)
    assert len(rows) == 60
    assert {r.delivery for r in rows if r.recipient_id == other_owner.pk} == {"daily"}
    assert {r.delivery for r in rows if r.recipient_id != other_owner.pk} == {"immediate"}


# --- The page ---------------------------------------------------------------------------


def test_the_page_shows_the_grid_and_saves_a_choice(client, privacy_officer):
    client.force_login(privacy_officer)
    url = reverse("governance:notification-preferences")
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    data = {name: field.initial for name, field in form.fields.items()}
    assert data["incident__medium"] == "hourly" and data["daily_digest_hour"] == 7
    data["incident__medium"] = "off"
    answer = client.post(url, data)
    assert answer.status_code == 302 and answer.url == url
    assert preferences_of(privacy_officer).delivery("incident", "medium") == "off"
    assert NotificationPreference.objects.filter(user=privacy_officer).count() == 1
    assert not NotificationSettings.objects.filter(user=privacy_officer).exists()  # hour unchanged
    assert "saved" in client.get(url).text


def test_the_page_refuses_bad_input_naming_the_field(client, data_owner):
    client.force_login(data_owner)
    url = reverse("governance:notification-preferences")
    data = {name: f.initial for name, f in client.get(url).context["form"].fields.items()}
    answer = client.post(url, {**data, "alert__high": "sometimes", "daily_digest_hour": 24})
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert set(errors) == {"alert__high", "daily_digest_hour"}
    assert not NotificationPreference.objects.exists()


# --- The API ----------------------------------------------------------------------------


def test_the_api_reads_and_replaces_your_preferences(api_client, data_owner):
    client = api_client(data_owner)
    got = client.get(URL).json()
    assert got["daily_digest_hour"] == 7
    cells = {(c["topic"], c["severity"]): c for c in got["preferences"]}
    assert len(cells) == 20
    assert cells[("incident", "medium")] == {
        "topic": "incident",
        "severity": "medium",
        "delivery": "daily",
        "default": "daily",
    }
    body = {
        "preferences": [{"topic": "incident", "severity": "medium", "delivery": "hourly"}],
        "daily_digest_hour": 6,
    }
    put = client.put(URL, body, format="json")
    assert put.status_code == 200
    cells = {(c["topic"], c["severity"]): c for c in put.json()["preferences"]}
    assert cells[("incident", "medium")]["delivery"] == "hourly"
    assert put.json()["daily_digest_hour"] == 6
    assert preferences_of(data_owner).delivery("incident", "medium") == "hourly"
    assert api_client().get(URL).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "preferences"),
        ({"preferences": "all"}, "preferences"),
        ({"preferences": [{"topic": "weather", "severity": "low", "delivery": "off"}]}, "topic"),
        (
            {"preferences": [{"topic": "alert", "severity": "urgent", "delivery": "off"}]},
            "severity",
        ),
        (
            {"preferences": [{"topic": "alert", "severity": "low", "delivery": "weekly"}]},
            "delivery",
        ),
        ({"preferences": [{"topic": "alert", "severity": "low"}]}, "delivery"),
        ({"preferences": [], "daily_digest_hour": 24}, "daily_digest_hour"),
        ({"preferences": [], "daily_digest_hour": "noon"}, "daily_digest_hour"),
    ],
)
def test_the_api_refuses_bad_input_naming_the_field(api_client, data_owner, body, field):
    answer = api_client(data_owner).put(URL, body, format="json")
    assert answer.status_code == 400
    assert field in str(answer.json())
    assert not NotificationPreference.objects.exists()


def test_the_api_refuses_a_cell_given_twice(api_client, data_owner):
    cell = {"topic": "alert", "severity": "low", "delivery": "off"}
    answer = api_client(data_owner).put(URL, {"preferences": [cell, cell]}, format="json")
    assert answer.status_code == 400
    assert "alert/low is given twice" in str(answer.json()["preferences"])


def test_the_api_describes_itself_to_options(api_client, data_owner):
    answer = api_client(data_owner).options(URL)
    assert answer.status_code == 200
    assert "daily_digest_hour" in str(answer.json()["actions"]["PUT"])
