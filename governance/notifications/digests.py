"""Digests: the notifications each person chose to receive hourly or daily, summed up in one
in-app notification whose e-mail copy is the digest e-mail.

The digest task runs at the start of every hour (CELERY_BEAT_SCHEDULE "notifications-digest").
A digest belongs to a slot: the hour for hourly digests, the person's daily hour for daily
ones. It takes every item of that frequency still waiting for a digest and created before
its slot, so a missed run is caught up by the next one and nothing is lost.

Idempotent and safe to run twice at once: one digest per person, frequency and slot (a unique
constraint; the loser of a race skips), and items are claimed with a compare-and-swap
(`digest IS NULL`), so no item is in two digests. The summary's e-mail goes out after the
commit through the same task and sweep as every immediate notification.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from governance.models import (
    Delivery,
    DigestFrequency,
    Notification,
    NotificationDigest,
    NotificationTopic,
)
from governance.notifications.preferences import (
    SEVERITIES,
    SEVERITY_RANK,
    daily_slot,
    digest_hours,
    hourly_slot,
)
from governance.site import site_url

TOP_ITEMS = 10  # the items a digest names, most severe and newest first
DIGEST_KIND = "notifications.digest"


@dataclass(frozen=True)
class TopicCount:
    """One line of a digest: a topic, its count, and its count per severity."""

    topic: str
    label: str
    total: int
    by_severity: list[tuple[str, int]]


def digests_send(*, now: dt.datetime | None = None) -> int:
    """Send every digest that is due at `now`; returns how many were made."""
    now = now or timezone.now()
    waiting = (
        Notification.objects.filter(
            digest__isnull=True,
            delivery__in=[Delivery.HOURLY, Delivery.DAILY],
            recipient__is_active=True,  # someone who left gets no more digests
        )
        .order_by()
        .values_list("recipient_id", "delivery")
        .distinct()
    )
    pairs = sorted(set(waiting))
    hours = digest_hours({user_id for user_id, frequency in pairs if frequency == Delivery.DAILY})
    made = 0
    for user_id, frequency in pairs:
        slot = hourly_slot(now) if frequency == Delivery.HOURLY else daily_slot(now, hours[user_id])
        if digest_make(user_id=user_id, frequency=frequency, slot=slot) is not None:
            made += 1
    return made


def digest_make(*, user_id: int, frequency: str, slot: dt.datetime) -> NotificationDigest | None:
    """One person's digest for a slot, with its in-app summary and (after the commit) its
    e-mail; None when the slot's digest exists already or nothing waits for it."""
    from governance.notifications.services import email_later

    with transaction.atomic():
        digest = _claim_slot(user_id, frequency, slot)
        if digest is None:
            return None
        claimed = Notification.objects.filter(
            recipient_id=user_id,
            delivery=frequency,
            digest__isnull=True,
            created_at__lt=slot,
        ).update(digest=digest)
        if not claimed:
            transaction.set_rollback(True)
            return None
        digest.summary = _summary(digest, claimed)
        digest.item_count = claimed
        digest.save(update_fields=["summary", "item_count"])
        email_later([digest.summary.pk])
    return digest


def _claim_slot(user_id: int, frequency: str, slot: dt.datetime) -> NotificationDigest | None:
    """The slot's digest row, new; None when another run has made it."""
    previous = (
        NotificationDigest.objects.filter(recipient_id=user_id, frequency=frequency)
        .order_by("-until")
        .values_list("until", flat=True)
        .first()
    )
    if previous is not None and previous >= slot:
        return None
    try:
        with transaction.atomic():
            return NotificationDigest.objects.create(
                recipient_id=user_id, frequency=frequency, since=previous, until=slot
            )
    except IntegrityError:  # a concurrent run made it first
        return None


def _summary(digest: NotificationDigest, count: int) -> Notification:
    """The in-app notification that sums a digest up; its e-mail is the digest e-mail."""
    items = digest.items.all()
    topics = topic_counts(items)
    top = list(
        items.annotate(rank=_severity_rank()).order_by("-rank", "-created_at", "-id")[:TOP_ITEMS]
    )
    highest = max((item.severity for item in top), key=SEVERITY_RANK.__getitem__)
    label = DigestFrequency(digest.frequency).label
    critical = sum(n for t in topics for s, n in t.by_severity if s == "critical")
    title = f"{label} digest: {count} notification{'s' if count != 1 else ''}" + (
        f" ({critical} critical)" if critical else ""
    )
    list_url = reverse("governance:notification-list")
    body = render_to_string(
        "governance/notifications/digest_email.txt",
        {
            "digest": digest,
            "count": count,
            "topics": topics,
            "top": top,
            "more": max(count - len(top), 0),
            "site": site_url(),
            "preferences_url": reverse("governance:notification-preferences"),
        },
    ).strip()
    return Notification.objects.create(
        recipient_id=digest.recipient_id,
        kind=DIGEST_KIND,
        topic=NotificationTopic.DIGEST,
        severity=highest,
        delivery=Delivery.IMMEDIATE,
        title=title[:200],
        body=body,
        url=f"{list_url}?status=unread",
    )


def topic_counts(items) -> list[TopicCount]:
    """How many items of each topic, and of each severity within it (most severe first)."""
    counts = Counter(items.order_by().values_list("topic", "severity"))
    labels = dict(NotificationTopic.choices)
    return [
        TopicCount(
            topic=topic,
            label=labels.get(topic, topic),
            total=sum(n for (t, _), n in counts.items() if t == topic),
            by_severity=[
                (severity, counts[(topic, severity)])
                for severity in reversed(SEVERITIES)
                if counts[(topic, severity)]
            ],
        )
        for topic in labels
        if any(t == topic for t, _ in counts)
    ]


def _severity_rank() -> Case:
    return Case(
        *(When(severity=s, then=Value(rank)) for s, rank in SEVERITY_RANK.items()),
        default=Value(0),
        output_field=IntegerField(),
    )


def digests_of(user: User) -> list[NotificationDigest]:
    """The person's latest digests (for their preferences page)."""
    return list(NotificationDigest.objects.filter(recipient=user).order_by("-until", "-id")[:5])
