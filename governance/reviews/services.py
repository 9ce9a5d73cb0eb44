"""Access review campaigns: opened on a schedule (or by an officer), each access found reviewed
by the dataset's owner (organisation-wide access by privacy officers), reviewers reminded and,
past the due date, officers told; a revocation takes effect in the transaction that records it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.errors import StateConflict
from catalog.models import Dataset
from governance.ledger.chain import actor_name, ledger_append
from governance.models import AccessReview, AccessReviewItem
from governance.notifications.services import notify, notify_many, privacy_officers
from governance.reviews.subjects import subject_kinds
from governance.workflow import status_move

REMIND_AFTER = dt.timedelta(days=7)
DUE_AFTER = dt.timedelta(days=14)
REVIEW_PERMISSION = "governance.change_accessreview"  # privacy officers

Item = AccessReviewItem
DECISIONS = {"confirm": Item.Status.CONFIRMED, "revoke": Item.Status.REVOKED}


def can_run_reviews(actor: Actor) -> bool:
    """Privacy officers open campaigns, follow their progress and decide any item."""
    return may(actor, REVIEW_PERMISSION)


def may_decide(actor: Actor, item: AccessReviewItem) -> bool:
    """An item's reviewer decides it (the dataset's owner); officers decide any."""
    account_id = getattr(actor, "pk", None)
    own = item.reviewer_id is not None and item.reviewer_id == account_id
    return own or can_run_reviews(actor)


@transaction.atomic
def review_open(*, actor: Actor, now: dt.datetime | None = None, name: str = "") -> AccessReview:
    """Open a campaign over every access that stands now; 409 while another is open.
    `actor` None: the schedule opened it."""
    if actor is not None and not can_run_reviews(actor):
        raise PermissionDenied("Only privacy officers open access reviews")
    now = now or timezone.now()
    if AccessReview.objects.select_for_update().filter(status=AccessReview.Status.OPEN).exists():
        raise StateConflict({"status": "An access review is open already: close it first"})
    campaign = AccessReview.objects.create(
        name=name or f"Access review {now:%Y-%m-%d}",
        opened_at=now,
        remind_at=now + REMIND_AFTER,
        due_at=now + DUE_AFTER,
        opened_by_name=actor_name(actor) if actor is not None else "schedule",
    )
    items = _items(campaign)
    AccessReviewItem.objects.bulk_create(items)
    ledger_append(
        actor=actor,
        kind="access_review.opened",
        subjects=[f"access-review:{campaign.pk}"],
        data={"review": campaign.pk, "items": len(items), "due_at": campaign.due_at.isoformat()},
    )
    _tell_reviewers(campaign, items, "access_review.opened", "An access review needs you")
    if not items:
        _close(campaign, actor)
    return campaign


def review_scheduled(*, now: dt.datetime | None = None) -> int | None:
    """The schedule's campaign: an open one past its due date is closed first (what is still
    pending stays so on the record, already escalated); none opens while one is still running
    (idempotent)."""
    now = now or timezone.now()
    with transaction.atomic():
        for campaign in AccessReview.objects.select_for_update().filter(
            status=AccessReview.Status.OPEN, due_at__lte=now
        ):
            _close(campaign, None)
    try:
        return review_open(actor=None, now=now).pk
    except StateConflict:
        return None


def _items(campaign: AccessReview) -> list[AccessReviewItem]:
    datasets = {ds.pk: ds for ds in Dataset.objects.only("pk", "slug", "owner_id")}
    items: dict[tuple[str, str, str], AccessReviewItem] = {}
    for kind in subject_kinds().values():
        for access in kind.accesses():
            ds = datasets.get(access.dataset_id) if access.dataset_id is not None else None
            if access.dataset_id is not None and ds is None:
                continue
            key = (ds.slug if ds else "", access.kind, access.reference)
            items[key] = AccessReviewItem(
                campaign=campaign,
                dataset=ds,
                dataset_slug=key[0],
                reviewer_id=ds.owner_id if ds else None,
                kind=access.kind,
                reference=access.reference[:200],
                holder=access.holder[:200],
                access=access.access[:200],
            )
    return list(items.values())


def _reviewers(items: list[AccessReviewItem]) -> dict[User | None, int]:
    """Each reviewer with the number of their items; None stands for the privacy officers."""
    counts: dict[int | None, int] = defaultdict(int)
    for item in items:
        counts[item.reviewer_id] += 1
    people = {u.pk: u for u in User.objects.filter(pk__in=[k for k in counts if k is not None])}
    return {people.get(pk) if pk is not None else None: n for pk, n in counts.items()}


def _tell_reviewers(
    campaign: AccessReview, items: list[AccessReviewItem], kind: str, title: str
) -> None:
    url = reverse("governance:access-review", args=[campaign.pk])
    notices = []
    for reviewer, count in _reviewers(items).items():
        recipients = [reviewer] if reviewer is not None else list(privacy_officers())
        body = f"{campaign.name}: {count} access(es) to confirm or revoke by {campaign.due_at:%Y-%m-%d}"
        notices.append((recipients, kind, title, body, url))
    notify_many(notices)


@transaction.atomic
def review_decide(
    *, actor: Actor, item: AccessReviewItem, decision: str, note: str = ""
) -> AccessReviewItem:
    """Confirm or revoke one access; a revocation takes effect now, in this transaction."""
    if decision not in DECISIONS:
        raise ValidationError({"decision": "confirm or revoke"})
    if not may_decide(actor, item):
        raise PermissionDenied("Only the dataset's owner or a privacy officer decides this access")
    campaign = AccessReview.objects.select_for_update().get(pk=item.campaign_id)
    if campaign.status != AccessReview.Status.OPEN:
        raise StateConflict({"status": "This access review is closed"})
    target = DECISIONS[decision]
    if target == Item.Status.REVOKED and not _revoke(actor, item):
        target = Item.Status.GONE  # someone ended it meanwhile: nothing left to revoke
    status_move(
        AccessReviewItem,
        pk=item.pk,
        current=Item.Status.PENDING,
        target=target,
        what="access review item",
        decided_at=timezone.now(),
        decided_by_name=actor_name(actor),
        note=note[:300],
    )
    ledger_append(
        actor=actor,
        kind=f"access_review.{target}",
        subjects=[f"access-review:{campaign.pk}"]
        + ([f"dataset:{item.dataset_slug}"] if item.dataset_slug else []),
        data={"review": campaign.pk, "item": item.pk, "kind": item.kind, "holder": item.holder},
    )
    if not campaign.items.filter(status=Item.Status.PENDING).exists():
        _close(campaign, actor)
    item.refresh_from_db()
    return item


def _revoke(actor: Actor, item: AccessReviewItem) -> bool:
    kind = subject_kinds().get(item.kind)
    if kind is None:
        return False
    dataset = Dataset.objects.filter(pk=item.dataset_id).first() if item.dataset_id else None
    return kind.revoke(actor=actor, reference=item.reference, dataset=dataset)


def _close(campaign: AccessReview, actor: Actor) -> None:
    status_move(
        AccessReview,
        pk=campaign.pk,
        current=AccessReview.Status.OPEN,
        target=AccessReview.Status.CLOSED,
        what="access review",
        closed_at=timezone.now(),
    )
    ledger_append(
        actor=actor,
        kind="access_review.closed",
        subjects=[f"access-review:{campaign.pk}"],
        data={"review": campaign.pk, "outcome": review_counts(campaign)},
    )


def review_counts(campaign: AccessReview) -> dict[str, int]:
    counts = dict.fromkeys(Item.Status.values, 0)
    for status in campaign.items.values_list("status", flat=True):
        counts[status] += 1
    return counts


def reviews_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Remind reviewers whose items are pending past the reminder date, and tell the officers
    of items pending past the due date: each item once, claimed with a compare-and-swap."""
    now = now or timezone.now()
    done = {"reminded": 0, "escalated": 0}
    for campaign in AccessReview.objects.filter(
        status=AccessReview.Status.OPEN, remind_at__lte=now
    ):
        with transaction.atomic():
            done["reminded"] += _remind(campaign, now)
            if campaign.due_at <= now:
                done["escalated"] += _escalate(campaign, now)
    return done


def _claim(campaign: AccessReview, field: str, now: dt.datetime) -> list[AccessReviewItem]:
    pending = campaign.items.filter(status=Item.Status.PENDING, **{f"{field}__isnull": True})
    ids = list(pending.select_for_update(skip_locked=True).values_list("pk", flat=True))
    Item.objects.filter(pk__in=ids, **{f"{field}__isnull": True}).update(**{field: now})
    return list(Item.objects.filter(pk__in=ids))


def _remind(campaign: AccessReview, now: dt.datetime) -> int:
    items = _claim(campaign, "reminded_at", now)
    _tell_reviewers(campaign, items, "access_review.reminder", "Reminder: an access review waits")
    return len(items)


def _escalate(campaign: AccessReview, now: dt.datetime) -> int:
    items = _claim(campaign, "escalated_at", now)
    if items:
        owners = sorted({i.dataset_slug for i in items if i.dataset_slug})
        notify(
            recipients=privacy_officers(),
            kind="access_review.overdue",
            title=f"{len(items)} access(es) not reviewed by the due date",
            body=f"{campaign.name}: still pending for {', '.join(owners[:10]) or 'the organisation'}",
            url=reverse("governance:access-review", args=[campaign.pk]),
            severity="high",
        )
        ledger_append(
            actor=None,
            kind="access_review.escalated",
            subjects=[f"access-review:{campaign.pk}"],
            data={"review": campaign.pk, "items": [i.pk for i in items][:1000]},
        )
    return len(items)
