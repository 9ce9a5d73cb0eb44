"""Telling people: in-app notifications, with an e-mail copy sent once the change has committed
(or, as each person chose, in their hourly or daily digest: governance.notifications.digests).

A notification is a row first, so nothing is lost when the mail server or a worker is down: the
e-mail task sends what is still unsent, and the periodic sweep retries whatever a failure left.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.mail import send_mail
from django.db.models import Q, QuerySet
from django.utils import timezone

from catalog.models import Jurisdiction
from governance.models import Delivery, Notification, Responsibility
from governance.notifications.preferences import Deliveries, severity_of, topic_of
from governance.roles import Role
from governance.site import absolute
from governance.workflow import queue_after_commit

log = logging.getLogger(__name__)

_withheld: ContextVar[bool] = ContextVar("notifications_withheld", default=False)


@contextmanager
def notifications_withheld() -> Iterator[None]:
    """Tell nobody of what is done inside: for events recorded after the fact (the demo's
    backfilled month of telemetry), whose moment to tell people has passed; their mail would
    bury today's."""
    token = _withheld.set(True)
    try:
        yield
    finally:
        _withheld.reset(token)


def notify(
    *,
    recipients: Iterable[User | None],
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    severity: str | None = None,
) -> list[Notification]:
    """Leave each recipient (once) a notification, delivered as they chose (at once, in a
    digest, or not at all); the immediate ones' e-mail is queued for after the commit."""
    return notify_many([(recipients, kind, title, body, url, severity)])


Notice = (
    tuple[Iterable[User | None], str, str, str, str]
    | tuple[Iterable[User | None], str, str, str, str, str | None]
)


def notify_many(notices: Iterable[Notice]) -> list[Notification]:
    """notify() for each (recipients, kind, title, body, url[, severity]): every active
    recipient once per notice, all written in one insert, with one e-mail task for all the
    immediate ones after the commit (a batch of telemetry tells many people about many
    incidents at once). Each person's delivery for the notice's topic and severity decides:
    off writes nothing, a digest writes the row and leaves the e-mail to the digest."""
    if _withheld.get():
        return []
    planned = [(_people(notice[0]), *_classified(notice)) for notice in notices]
    deliveries = Deliveries.of(user.pk for people, *_ in planned for user in people)
    rows = Notification.objects.bulk_create(
        Notification(
            recipient=user,
            kind=kind,
            topic=topic,
            severity=severity,
            delivery=delivery,
            title=title[:200],
            body=body,
            url=url,
        )
        for people, kind, topic, severity, title, body, url in planned
        for user in people
        if (delivery := deliveries.delivery(user.pk, topic, severity)) != Delivery.OFF
    )
    # PostgreSQL and SQLite both return the new ids from a bulk insert.
    ids = [row.pk for row in rows if row.delivery == Delivery.IMMEDIATE]
    if ids:
        email_later(ids)
    return rows


def _people(recipients: Iterable[User | None]) -> list[User]:
    """Each active recipient once."""
    return list({u.pk: u for u in recipients if u is not None and u.is_active}.values())


def _classified(notice: Notice) -> tuple[str, str, str, str, str, str]:
    """(kind, topic, severity, title, body, url) of a notice."""
    kind, title, body, url = notice[1:5]
    given = notice[5] if len(notice) > 5 else None
    return kind, topic_of(kind), severity_of(kind, body, given), title, body, url


def email_later(ids: list[int]) -> None:
    """E-mail these notifications once the transaction commits (the sweep, if the broker is
    down)."""
    from governance.tasks import notifications_email

    queue_after_commit(notifications_email, ids, sweep="governance.tasks.notifications_sweep")


def mail_send(*, subject: str, body: str, to: str) -> str:
    """Hand one e-mail to the mail server: "" when it took it, else the error's name (never
    its text, which may quote the address). The caller leaves its row for the sweep."""
    try:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[to])
    except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
        log.warning("The mail server did not take a message (%s): left for the sweep",
                    type(exc).__name__)  # fmt: skip
        return type(exc).__name__
    return ""


def notifications_send_email(ids: Iterable[int]) -> int:
    """E-mail every notification of ids not yet e-mailed; returns how many went out.

    Each one is marked sent only after the mail server took it: a crash in between sends it
    twice, never zero times. When the server fails, the rest wait for the sweep."""
    sent = 0
    pending = Notification.objects.filter(
        pk__in=list(ids), emailed_at__isnull=True, delivery=Delivery.IMMEDIATE
    )
    for note in pending.select_related("recipient"):
        address = note.recipient.email
        if address:
            link = absolute(note.url) if note.url else ""
            body = "\n\n".join(part for part in (note.body, link) if part)
            if mail_send(subject=f"[Locus] {note.title}", body=body, to=address):
                break
            sent += 1
        Notification.objects.filter(pk=note.pk, emailed_at__isnull=True).update(
            emailed_at=timezone.now()
        )
    return sent


def unsent_notification_ids(older_than: dt.timedelta = dt.timedelta(minutes=5)) -> list[int]:
    """Notifications whose e-mail should have gone out by now (the sweep's work)."""
    cutoff = timezone.now() - older_than
    return list(
        Notification.objects.filter(
            emailed_at__isnull=True, created_at__lt=cutoff, delivery=Delivery.IMMEDIATE
        )
        .order_by("id")
        .values_list("pk", flat=True)[:500]
    )


def notifications_mark_read(
    *,
    user: User,
    ids: Iterable[int] | None = None,
    topic: str = "",
    severity: str = "",
) -> int:
    """Mark the user's notifications read: those of ids (all when None), of a topic and a
    severity when given."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    if topic:
        rows = rows.filter(topic=topic)
    if severity:
        rows = rows.filter(severity=severity)
    return rows.update(read_at=timezone.now())


# --- Who answers for a jurisdiction ----------------------------------------------------------


def privacy_officers() -> QuerySet[User]:
    """Active people who hold the privacy-officer role."""
    return User.objects.filter(is_active=True, groups__name=Role.PRIVACY_OFFICER).distinct()


def officers_for(jurisdictions: Iterable[Jurisdiction | str]) -> QuerySet[User]:
    """The privacy officers who answer for any of these jurisdictions (instances or codes):
    those given one of them, and those given none (who answer for all)."""
    ids = [j.pk if isinstance(j, Jurisdiction) else j for j in jurisdictions]
    return (
        privacy_officers()
        .filter(Q(responsibilities__jurisdiction_id__in=ids) | Q(responsibilities__isnull=True))
        .distinct()
    )


def jurisdictions_of(user: User | AnonymousUser) -> set[str] | None:
    """The jurisdiction codes a privacy officer answers for; None means every jurisdiction."""
    if isinstance(user, AnonymousUser):  # as the query would refuse it: it has no id
        raise TypeError("An anonymous visitor answers for no jurisdiction")
    ids = set(Responsibility.objects.filter(user=user).values_list("jurisdiction_id", flat=True))
    return ids or None
