"""In-app notifications: each person sees their own, with an unread count; marking them read."""

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.models import Notification
from governance.notifications.services import notify


@pytest.fixture
def told(data_owner, other_owner, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        notify(recipients=[data_owner], kind="test", title="EX-7 approved", url="/x/")
        notify(recipients=[data_owner, other_owner], kind="test", title="Both of you")
    return data_owner


def test_the_page_lists_only_your_notifications_and_counts_the_unread(client, told, other_owner):
    client.force_login(told)
    page = client.get(reverse("governance:notification-list"))
    assert page.status_code == 200
    titles = [n.title for n in page.context["notifications"]]
    assert sorted(titles) == ["Both of you", "EX-7 approved"]
    assert 'aria-label="2 unread"' in page.text

    assert client.post(reverse("governance:notifications-read")).status_code == 302
    assert not Notification.objects.filter(recipient=told, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=other_owner, read_at__isnull=True).count() == 1
    assert ' unread"' not in client.get(reverse("governance:notification-list")).text  # the badge


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("governance:notification-list"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_api_lists_yours_and_marks_chosen_ones_read(api_client, told, other_owner):
    theirs = Notification.objects.get(recipient=other_owner)
    client = api_client(told)
    listed = client.get("/api/v1/notifications/?unread=1").json()
    assert {n["title"] for n in listed["results"]} == {"EX-7 approved", "Both of you"}
    first = listed["results"][0]["id"]
    # Someone else's id is simply not yours to mark.
    answer = client.post("/api/v1/notifications/read/", {"ids": [first, theirs.pk]}, format="json")
    assert answer.json() == {"marked_read": 1}
    assert len(client.get("/api/v1/notifications/?unread=1").json()["results"]) == 1
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert api_client().get("/api/v1/notifications/").status_code == 401
    bad = client.post("/api/v1/notifications/read/", {"ids": ["x"]}, format="json")
    assert bad.status_code == 400 and "ids" in bad.json()


def test_the_unread_count_is_read_once_per_page(client, told):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(told)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("governance:notification-list"))
    assert "Mark all read" in page.text  # the page shows the count as well as the header
    counts = [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT" in q["sql"].upper() and "governance_notification" in q["sql"]
    ]
    assert len(counts) == 1


# --- Filters, pages, counts and mark-read by filter ----------------------------------------


@pytest.fixture
def many(privacy_officer, django_capture_on_commit_callbacks):
    """An officer with 120 incident notices (30 critical, 90 low) and 10 exception ones."""
    from governance.notifications.services import notify_many

    with django_capture_on_commit_callbacks(execute=False):
        notify_many(
            [
                (
                    [privacy_officer],
                    "monitoring.incident_opened",
                    f"Incident #{i}",
                    f"[{'critical' if i % 4 == 0 else 'low'}] text",
                    "/x/",
                )
                for i in range(120)
            ]
            + [
                ([privacy_officer], "exception.approved", f"EX-{i} approved", "", "")
                for i in range(10)
            ]
        )
    return privacy_officer


def test_the_page_filters_by_kind_severity_and_status_with_counts(client, many):
    client.force_login(many)
    url = reverse("governance:notification-list")
    page = client.get(url)
    assert page.context["matching"] == 130 and page.context["counts"].unread == 130
    assert len(page.context["notifications"]) == 50  # a page
    assert dict((v, n) for v, _, n in page.context["topics"])["incident"] == 120

    page = client.get(url, {"topic": "incident", "severity": "critical"})
    assert page.context["matching"] == 30
    assert {(n.topic, n.severity) for n in page.context["notifications"]} == {
        ("incident", "critical")
    }
    assert page.context["page"].paginator.num_pages == 1

    Notification.objects.filter(recipient=many, topic="exception").update(read_at=timezone.now())
    read = client.get(url, {"status": "read"})
    assert read.context["matching"] == 10
    assert {n.topic for n in read.context["notifications"]} == {"exception"}
    assert client.get(url, {"status": "unread"}).context["matching"] == 120


def test_the_page_has_a_pager(client, many):
    client.force_login(many)
    url = reverse("governance:notification-list")
    first = client.get(url, {"topic": "incident"})
    assert first.context["page"].paginator.num_pages == 3
    assert "Page 1 of 3" in first.text and "?topic=incident&amp;page=2" in first.text
    third = client.get(url, {"topic": "incident", "page": 3})
    titles = [n.title for n in third.context["notifications"]]
    assert len(titles) == 20 and titles[-1] == "Incident #0"  # oldest last
    seen = {
        n.pk
        for p in (1, 2, 3)
        for n in client.get(url, {"topic": "incident", "page": p}).context["notifications"]
    }
    assert len(seen) == 120


def test_mark_all_read_marks_what_the_filter_shows(client, many):
    client.force_login(many)
    answer = client.post(
        reverse("governance:notifications-read"), {"topic": "incident", "severity": "critical"}
    )
    assert answer.status_code == 302
    assert answer.url == reverse("governance:notification-list") + (
        "?topic=incident&severity=critical"
    )
    unread = Notification.objects.filter(recipient=many, read_at__isnull=True)
    assert unread.count() == 100
    assert not unread.filter(topic="incident", severity="critical").exists()
    page = client.get(reverse("governance:notification-list"))
    assert 'aria-label="100 unread"' in page.text  # the badge follows
    client.post(reverse("governance:notifications-read"))
    assert not unread.exists()


def test_bad_filters_are_400s_naming_the_field(client, api_client, many):
    client.force_login(many)
    page = client.get(reverse("governance:notification-list"), {"severity": "urgent"})
    assert page.status_code == 400 and "Severity: Select a valid choice" in page.text
    page = client.get(reverse("governance:notification-list"), {"status": "maybe"})
    assert page.status_code == 400 and "Status: Select a valid choice" in page.text
    marked = client.post(reverse("governance:notifications-read"), {"topic": "weather"})
    assert marked.status_code == 400 and "Kind: Select a valid choice" in marked.text
    assert Notification.objects.filter(recipient=many, read_at__isnull=True).count() == 130
    answer = api_client(many).get("/api/v1/notifications/?topic=weather")
    assert answer.status_code == 400 and "topic" in answer.json()


def test_the_api_filters_by_topic_and_severity(api_client, many):
    rows = api_client(many).get("/api/v1/notifications/?topic=incident&severity=critical").json()
    assert rows["count"] == 30
    assert {(r["topic"], r["severity"]) for r in rows["results"]} == {("incident", "critical")}
