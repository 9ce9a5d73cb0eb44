"""Access reviews: a campaign lists who may read or change each dataset, its owner confirms or
revokes each access (at once), reviewers are reminded, overdue items go to the officers, and
the evidence package carries the result."""

import datetime as dt
import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm
from rest_framework.authtoken.models import Token

from governance.models import AccessReview, AccessReviewItem, LedgerEntry, Notification
from governance.reviews.evidence import access_review_records
from governance.reviews.services import review_scheduled, reviews_sweep
from governance.tasks import access_reviews_open
from monitoring.models import TelemetrySource
from monitoring.telemetry.services import telemetry_source_register
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

OPENED = dt.datetime(2026, 4, 1, 6, 0, tzinfo=dt.UTC)
Item = AccessReviewItem


def fresh(user):
    """The same person, without the permission cache of an earlier request."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def claims(data_owner):
    return make_dataset(data_owner, slug="claims")


@pytest.fixture
def colleague_may_edit(claims, other_owner):
    """An earlier grant: another owner may change `claims` (a guardian object permission)."""
    assign_perm("catalog.change_dataset", other_owner, claims)
    return other_owner


def open_review() -> AccessReview:
    pk = access_reviews_open()  # as the beat schedule runs it
    return AccessReview.objects.get(pk=pk)


def item_of(campaign, kind, holder_username=None, dataset="claims") -> AccessReviewItem:
    items = campaign.items.filter(kind=kind, dataset_slug=dataset)
    if holder_username is not None:
        user = get_user_model().objects.get(username=holder_username)
        items = items.filter(reference__startswith=f"user:{user.pk}")
    (item,) = items
    return item


def decide(client, item, decision):
    return client.post(
        f"/governance/access-reviews/items/{item.pk}/decide/", {"decision": decision}
    )


def test_a_revoked_permission_is_gone_for_the_next_request(
    client, api_client, data_owner, colleague_may_edit
):
    edit = {"description": "Claims, reviewed"}
    before = api_client(colleague_may_edit).patch("/api/v1/datasets/claims/", edit, format="json")
    assert before.status_code == 200, before.content
    campaign = open_review()
    item = item_of(campaign, "object_permission", colleague_may_edit.username)
    assert item.reviewer == data_owner
    client.force_login(data_owner)

    revoked = decide(client, item, "revoke")

    assert revoked.status_code == 302
    item.refresh_from_db()
    assert item.status == Item.Status.REVOKED
    assert item.decided_by_name
    after = api_client(fresh(colleague_may_edit)).patch(
        "/api/v1/datasets/claims/", edit, format="json"
    )
    assert after.status_code == 403
    kinds = list(LedgerEntry.objects.values_list("kind", flat=True))
    assert "access_review.opened" in kinds and "access_review.revoked" in kinds


def test_a_revoked_api_token_no_longer_authenticates(
    client, token_client, data_owner, colleague_may_edit
):
    machine = token_client(colleague_may_edit)
    assert machine.get("/api/v1/datasets/claims/").status_code == 200
    campaign = open_review()
    client.force_login(data_owner)

    decide(client, item_of(campaign, "api_token", colleague_may_edit.username), "revoke")

    assert machine.get("/api/v1/datasets/claims/").status_code == 401
    assert not Token.objects.filter(user=colleague_may_edit).exists()


def test_a_telemetry_source_for_the_dataset_is_revoked_by_its_owner(
    client, privacy_officer, data_owner, claims
):
    source, _ = telemetry_source_register(
        actor=privacy_officer, name="claims-pipeline", datasets=[claims]
    )
    campaign = open_review()
    client.force_login(data_owner)

    decide(client, item_of(campaign, "telemetry_source"), "revoke")

    source.refresh_from_db()
    assert source.status == TelemetrySource.Status.REVOKED


def test_confirming_keeps_the_access_and_the_last_decision_closes_the_review(
    client, data_owner, privacy_officer, colleague_may_edit
):
    campaign = open_review()
    client.force_login(data_owner)
    mine = campaign.items.filter(reviewer=data_owner)
    officers = campaign.items.filter(reviewer=None)
    assert mine.exists() and officers.exists()  # roles and every token: officers review

    for item in mine:
        decide(client, item, "confirm")
    assert fresh(colleague_may_edit).has_perm("catalog.change_dataset", item.dataset)
    campaign.refresh_from_db()
    assert campaign.status == AccessReview.Status.OPEN  # the officers' items are pending
    client.force_login(privacy_officer)
    for item in officers:
        decide(client, item, "confirm")

    campaign.refresh_from_db()
    assert campaign.status == AccessReview.Status.CLOSED
    assert LedgerEntry.objects.filter(kind="access_review.closed").count() == 1


def test_only_the_owner_or_an_officer_decides(
    client, other_owner, engineer, privacy_officer, data_owner, claims, colleague_may_edit
):
    stranger = make_dataset(other_owner, slug="stranger")
    assign_perm("catalog.change_dataset", data_owner, stranger)
    campaign = open_review()
    item = item_of(campaign, "object_permission", colleague_may_edit.username)

    for person in (other_owner, engineer):
        client.force_login(person)
        assert decide(client, item, "revoke").status_code == 403
    client.force_login(privacy_officer)
    bad = decide(client, item, "maybe")
    confirmed = decide(client, item, "confirm")
    again = decide(client, item, "revoke")

    assert bad.status_code == 400
    assert b"decision" in bad.content
    assert confirmed.status_code == 302
    assert again.status_code == 302  # the page says it changed meanwhile
    item.refresh_from_db()
    assert item.status == Item.Status.CONFIRMED


def test_one_open_review_at_a_time_and_the_next_quarter_closes_an_overdue_one(
    colleague_may_edit,
):
    first = review_scheduled(now=OPENED)

    assert review_scheduled(now=OPENED + dt.timedelta(days=1)) is None
    later = review_scheduled(now=OPENED + dt.timedelta(days=91))
    reviews = {r.pk: r for r in AccessReview.objects.all()}
    assert reviews[first].status == AccessReview.Status.CLOSED
    assert reviews[first].items.filter(status=Item.Status.PENDING).exists()
    assert reviews[later].status == AccessReview.Status.OPEN


def test_reviewers_are_reminded_then_officers_told_each_once(
    data_owner, privacy_officer, colleague_may_edit
):
    from governance.reviews.services import review_open

    campaign = review_open(actor=None, now=OPENED)
    Notification.objects.all().delete()

    early = reviews_sweep(now=OPENED + dt.timedelta(days=1))
    reminded = reviews_sweep(now=campaign.remind_at)
    reminded_again = reviews_sweep(now=campaign.remind_at + dt.timedelta(hours=1))
    overdue = reviews_sweep(now=campaign.due_at)
    overdue_again = reviews_sweep(now=campaign.due_at + dt.timedelta(hours=1))

    pending = campaign.items.count()
    assert early == {"reminded": 0, "escalated": 0}
    assert reminded == {"reminded": pending, "escalated": 0}
    assert reminded_again == {"reminded": 0, "escalated": 0}
    assert overdue == {"reminded": 0, "escalated": pending}
    assert overdue_again == {"reminded": 0, "escalated": 0}
    assert (
        Notification.objects.filter(recipient=data_owner, kind="access_review.reminder").count()
        == 1
    )
    assert (
        Notification.objects.filter(recipient=privacy_officer, kind="access_review.overdue").count()
        == 1
    )


def test_the_schedule_runs_both_registered_tasks_quarterly_and_hourly():
    from celery.schedules import crontab

    from governance.celery import app

    opening = settings.CELERY_BEAT_SCHEDULE["access-reviews-open"]
    sweeping = settings.CELERY_BEAT_SCHEDULE["access-reviews-sweep"]
    app.loader.import_default_modules()  # as a worker does: autodiscovery

    assert opening["schedule"] == crontab(
        minute="0", hour="6", day_of_month="1", month_of_year="1,4,7,10"
    )
    assert sweeping["schedule"] == crontab(minute="30")
    assert {opening["task"], sweeping["task"]} <= set(app.tasks)


def test_officers_see_progress_owners_their_items_others_nothing(
    client, privacy_officer, data_owner, other_owner, engineer, colleague_may_edit
):
    campaign = open_review()
    page = f"/governance/access-reviews/{campaign.pk}/"

    client.force_login(privacy_officer)
    officer = client.get(page)
    client.force_login(data_owner)
    owner = client.get(page)
    listing = client.get("/governance/access-reviews/")
    client.force_login(other_owner)
    colleague = client.get(page)  # reviews nothing of this campaign (owns no dataset)
    client.force_login(engineer)
    outsider = client.get("/governance/access-reviews/")

    assert officer.status_code == 200
    assert b"Progress" in officer.content and b"Privacy officers" in officer.content
    assert owner.status_code == 200
    assert b"Progress" not in owner.content
    shown = colleague_may_edit.get_full_name() or colleague_may_edit.username
    assert shown.encode() in owner.content
    assert list(owner.context["pending"]) == list(campaign.items.filter(reviewer=data_owner))
    assert campaign.name.encode() in listing.content
    assert colleague.status_code == 403
    assert outsider.status_code == 403


def test_the_evidence_package_carries_the_result(client, data_owner, colleague_may_edit):
    campaign = open_review()
    client.force_login(data_owner)
    decide(client, item_of(campaign, "object_permission", colleague_may_edit.username), "revoke")

    files = access_review_records(campaign.opened_at, campaign.opened_at + dt.timedelta(days=1))

    document = json.loads(files["access-reviews.json"])
    (review,) = document["reviews"]
    assert review["counts"]["revoked"] == 1
    revoked = [i for i in review["items"] if i["status"] == "revoked"]
    assert revoked == [
        {
            **revoked[0],
            "dataset": "claims",
            "kind": "object_permission",
            "decided_by": revoked[0]["decided_by"],
        }
    ]
    assert revoked[0]["decided_by"]
    assert "key" not in json.dumps(document)  # no token leaves in the package
