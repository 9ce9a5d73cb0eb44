"""E-mails to data subjects (verification codes, package links, extension and refusal notices).

Written as a `SubjectMail` row in the transaction that decides to send it, sent by a task after
the commit, and retried by the periodic sweep while the broker or the mail server is down: the
subject is never left without the message, and the person whose action caused it never sees
an error for a mail server's failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.utils import timezone

from governance.notifications.services import mail_send
from governance.workflow import queue_after_commit
from requests.models import SubjectRequest
from requests.models.mail import SubjectMail
from requests.models.subjects import seal, unseal


def subject_mail_queue(
    *, subject_request: SubjectRequest, subject: str, body: str
) -> SubjectMail | None:
    """Write an e-mail to the request's subject and send it once the transaction commits
    (None when the request holds no address: the subject asked by post or phone)."""
    address = subject_request.email
    if not address:
        return None
    mail = SubjectMail.objects.create(
        request=subject_request,
        title=f"[{subject_request.reference}] {subject}"[:200],
        sealed=seal({"to": address, "body": body}),
    )
    from requests.tasks import subject_mail_send

    queue_after_commit(subject_mail_send, [mail.pk], sweep="requests.tasks.subject_mail_sweep")
    return mail


def subject_mail_deliver(ids: Iterable[int]) -> int:
    """Send each unsent mail of ids; returns how many went out. A mail is marked sent (and its
    sealed address and text dropped) only after the server took it; a failure leaves it, and
    the rest, for the sweep."""
    sent = 0
    for mail in SubjectMail.objects.filter(pk__in=list(ids), sent_at__isnull=True):
        message = unseal(mail.sealed)
        error = mail_send(subject=mail.title, body=message["body"], to=message["to"])
        if error:
            SubjectMail.objects.filter(pk=mail.pk).update(
                attempts=mail.attempts + 1, last_error=error
            )
            break
        SubjectMail.objects.filter(pk=mail.pk, sent_at__isnull=True).update(
            sent_at=timezone.now(), sealed="", last_error=""
        )
        sent += 1
    return sent


def subject_mail_unsent_ids(older_than: dt.timedelta = dt.timedelta(minutes=2)) -> list[int]:
    """Mails that should have gone out by now (the sweep's work), oldest first."""
    cutoff = timezone.now() - older_than
    rows = SubjectMail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff)
    return list(rows.order_by("id").values_list("pk", flat=True)[:500])
