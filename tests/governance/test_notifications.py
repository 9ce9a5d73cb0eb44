"""In-app notifications: each person sees their own, with an unread count; marking them read."""

import pytest
from django.urls import reverse

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
