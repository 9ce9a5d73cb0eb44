"""Reads of a person's notifications: filtered lists and their counts, in one grouped query."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from governance.models import Notification, NotificationSeverity, NotificationTopic


def notifications_of(
    user: User, *, topic: str = "", severity: str = "", status: str = "all"
) -> QuerySet[Notification]:
    """The person's notifications matching a filter, newest first."""
    rows = Notification.objects.filter(recipient=user)
    if topic:
        rows = rows.filter(topic=topic)
    if severity:
        rows = rows.filter(severity=severity)
    if status in {"unread", "read"}:
        rows = rows.filter(read_at__isnull=status == "unread")
    return rows.order_by("-created_at", "-id")


@dataclass(frozen=True)
class Counts:
    """A person's notifications counted per topic and severity: (topic, severity) → (all,
    unread). Every figure of the page comes from it."""

    cells: dict[tuple[str, str], tuple[int, int]]

    @classmethod
    def of(cls, user: User) -> Counts:
        rows = (
            Notification.objects.filter(recipient=user)
            .order_by()
            .values_list("topic", "severity")
            .annotate(total=Count("id"), unread=Count("id", filter=Q(read_at__isnull=True)))
        )
        return cls({(topic, severity): (total, unread) for topic, severity, total, unread in rows})

    def matching(self, *, topic: str = "", severity: str = "", status: str = "all") -> int:
        """How many match a filter (as notifications_of would list them)."""
        total = unread = 0
        for (t, s), (all_, new) in self.cells.items():
            if (not topic or t == topic) and (not severity or s == severity):
                total, unread = total + all_, unread + new
        return {"unread": unread, "read": total - unread}.get(status, total)

    @property
    def unread(self) -> int:
        return self.matching(status="unread")

    def per_topic(self, *, severity: str = "", status: str = "all") -> list[tuple[str, str, int]]:
        """(value, label, count) of each topic under the other filters."""
        return [
            (value, label, self.matching(topic=value, severity=severity, status=status))
            for value, label in NotificationTopic.choices
        ]

    def per_severity(self, *, topic: str = "", status: str = "all") -> list[tuple[str, str, int]]:
        """(value, label, count) of each severity under the other filters, most severe first."""
        return [
            (value, label, self.matching(topic=topic, severity=value, status=status))
            for value, label in reversed(NotificationSeverity.choices)
        ]
