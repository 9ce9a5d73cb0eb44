"""Who is told what, how: the topic and severity of a notification, each person's delivery
for a topic and severity (their own choice, else their role's default), and the verbs that
change those choices.

Defaults, when a person has chosen nothing for a cell:

- everyone gets critical and high items at once (in the app and by e-mail): a possible breach
  of personal data under the law, a review or a legal deadline waiting for them;
- a privacy officer gets the rest (medium and low) in an hourly digest, everyone else in a
  daily digest.

A cell set to its default is not stored, so it keeps following the role's default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from governance.models import (
    Delivery,
    NotificationPreference,
    NotificationSettings,
    NotificationSeverity,
    NotificationTopic,
)
from governance.roles import Role

Cell = tuple[str, str]  # (topic, severity)

# The topics people choose a delivery for (digests themselves always arrive).
CHOSEN_TOPICS: tuple[str, ...] = tuple(
    value for value in NotificationTopic.values if value != NotificationTopic.DIGEST
)
SEVERITIES: tuple[str, ...] = tuple(NotificationSeverity.values)
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
CELLS: tuple[Cell, ...] = tuple((t, s) for t in CHOSEN_TOPICS for s in SEVERITIES)

# A notification's topic, from the first of these prefixes its kind starts with.
_TOPIC_PREFIXES: tuple[tuple[str, str], ...] = (
    ("monitoring.incident", NotificationTopic.INCIDENT),
    ("monitoring.breach", NotificationTopic.INCIDENT),
    ("monitoring.anomaly", NotificationTopic.ALERT),
    ("exception.", NotificationTopic.EXCEPTION),
    ("subject_request.", NotificationTopic.SUBJECT_REQUEST),
    ("subject_connector.", NotificationTopic.SUBJECT_REQUEST),
    ("notifications.digest", NotificationTopic.DIGEST),
)

# A kind's severity when the caller names none; kinds not listed are medium.
_KIND_SEVERITY: dict[str, str] = {
    "monitoring.breach_notifiable": NotificationSeverity.CRITICAL,
    "monitoring.incident_opened": NotificationSeverity.HIGH,
    "monitoring.incident_assigned": NotificationSeverity.HIGH,
    "monitoring.anomaly": NotificationSeverity.HIGH,
    # Someone waits for the reader to act (a review, a task with a legal deadline).
    "exception.submitted": NotificationSeverity.HIGH,
    "access_review.opened": NotificationSeverity.HIGH,
    "access_review.reminder": NotificationSeverity.HIGH,
    "exception.approval": NotificationSeverity.HIGH,
    "subject_request.received": NotificationSeverity.HIGH,
    "subject_request.task": NotificationSeverity.HIGH,
    "subject_request.escalated": NotificationSeverity.HIGH,
    "subject_request.task-overdue": NotificationSeverity.HIGH,
    "subject_request.task_failed": NotificationSeverity.HIGH,
    "subject_request.verification_locked": NotificationSeverity.HIGH,
    "subject_connector.approval": NotificationSeverity.HIGH,
    # A legal deadline passed.
    "subject_request.overdue": NotificationSeverity.CRITICAL,
    # For the record.
    "subject_request.completed": NotificationSeverity.LOW,
    "exception.created": NotificationSeverity.LOW,
    "exception.edited": NotificationSeverity.LOW,
}


def topic_of(kind: str) -> str:
    """The topic a kind of notification belongs to."""
    return next((topic for prefix, topic in _TOPIC_PREFIXES if kind.startswith(prefix)), "other")


def severity_of(kind: str, body: str = "", severity: str | None = None) -> str:
    """The severity the caller named; else one the body opens with in brackets (an incident's
    notice reads "[critical] ..."); else the kind's."""
    if severity:
        return NotificationSeverity(severity).value
    if body.startswith("["):
        tag = body[1 : body.find("]")]
        if tag in SEVERITY_RANK:
            return tag
    return _KIND_SEVERITY.get(kind, NotificationSeverity.MEDIUM)


def default_delivery(*, officer: bool, severity: str) -> str:
    """The role's default for a severity (the module docstring says which)."""
    if severity in {NotificationSeverity.CRITICAL, NotificationSeverity.HIGH}:
        return Delivery.IMMEDIATE
    return Delivery.HOURLY if officer else Delivery.DAILY


def default_digest_hour() -> int:
    """The hour (UTC) daily digests go out for people who chose none."""
    return int(settings.NOTIFICATION_DAILY_DIGEST_HOUR)


@dataclass(frozen=True)
class Deliveries:
    """Each person's delivery per cell for a batch of recipients, read in two queries."""

    officers: frozenset[int]
    chosen: Mapping[tuple[int, str, str], str]

    @classmethod
    def of(cls, user_ids: Iterable[int]) -> Deliveries:
        ids = set(user_ids)
        officers = User.objects.filter(pk__in=ids, groups__name=Role.PRIVACY_OFFICER)
        rows = NotificationPreference.objects.filter(user_id__in=ids)
        return cls(
            officers=frozenset(officers.values_list("pk", flat=True)),
            chosen={
                (user_id, topic, severity): delivery
                for user_id, topic, severity, delivery in rows.values_list(
                    "user_id", "topic", "severity", "delivery"
                )
            },
        )

    def delivery(self, user_id: int, topic: str, severity: str) -> str:
        """How this person gets this topic and severity (digests always arrive at once)."""
        if topic == NotificationTopic.DIGEST:
            return Delivery.IMMEDIATE
        default = default_delivery(officer=user_id in self.officers, severity=severity)
        return self.chosen.get((user_id, topic, severity), default)


@dataclass(frozen=True)
class PreferenceCell:
    """One topic and severity as a person sees it on their preferences."""

    topic: str
    severity: str
    delivery: str
    default: str

    @property
    def is_default(self) -> bool:
        return self.delivery == self.default


@dataclass(frozen=True)
class Preferences:
    """A person's whole grid of deliveries and their daily digest hour."""

    cells: list[PreferenceCell]
    daily_digest_hour: int
    hour_is_default: bool

    def delivery(self, topic: str, severity: str) -> str:
        return next(c.delivery for c in self.cells if (c.topic, c.severity) == (topic, severity))


def preferences_of(user: User) -> Preferences:
    """Every cell of a person's preferences, with the defaults they fall back on."""
    known = Deliveries.of([user.pk])
    officer = user.pk in known.officers
    cells = [
        PreferenceCell(
            topic=topic,
            severity=severity,
            delivery=known.delivery(user.pk, topic, severity),
            default=default_delivery(officer=officer, severity=severity),
        )
        for topic, severity in CELLS
    ]
    hour = daily_digest_hour_of(user)
    return Preferences(cells, default_digest_hour() if hour is None else hour, hour is None)


def daily_digest_hour_of(user: User) -> int | None:
    """The hour the person chose for their daily digest; None when they chose none."""
    row = NotificationSettings.objects.filter(user=user).first()
    return None if row is None else row.daily_digest_hour


def digest_hours(user_ids: Iterable[int]) -> dict[int, int]:
    """The daily digest hour of each of these people (the default for those who chose none)."""
    chosen = dict(
        NotificationSettings.objects.filter(user_id__in=list(user_ids)).values_list(
            "user_id", "daily_digest_hour"
        )
    )
    default = default_digest_hour()
    return {user_id: chosen.get(user_id, default) for user_id in user_ids}


def preferences_set(
    *, user: User, deliveries: Mapping[Cell, str], daily_digest_hour: int | None = None
) -> Preferences:
    """Replace a person's choices: the cells given (others return to the default), and the
    daily digest hour when given. Only cells that differ from the role's default are stored."""
    unknown = set(deliveries) - set(CELLS)
    if unknown:
        raise ValueError(f"Unknown topic and severity: {sorted(unknown)}")
    officer = Role.PRIVACY_OFFICER in {g.name for g in user.groups.all()}
    rows = [
        NotificationPreference(user=user, topic=topic, severity=severity, delivery=delivery)
        for (topic, severity), delivery in sorted(deliveries.items())
        if delivery != default_delivery(officer=officer, severity=severity)
    ]
    with transaction.atomic():
        NotificationPreference.objects.filter(user=user).delete()
        NotificationPreference.objects.bulk_create(rows)
        if daily_digest_hour is not None:
            NotificationSettings.objects.update_or_create(
                user=user, defaults={"daily_digest_hour": daily_digest_hour}
            )
    return preferences_of(user)


def daily_slot(now: dt.datetime, hour: int) -> dt.datetime:
    """The latest time, at or before now, when a daily digest at this hour (UTC) was due."""
    slot = now.astimezone(dt.UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    return slot if slot <= now else slot - dt.timedelta(days=1)


def hourly_slot(now: dt.datetime) -> dt.datetime:
    """The start of the current hour (UTC)."""
    return now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
