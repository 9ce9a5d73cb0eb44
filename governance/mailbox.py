"""The development mailbox: in the embedded default, outgoing mail is kept as one .eml file per
message under MAILBOX_DIR and read by staff at /mailbox/, so a demo needs no terminal and no
mail server to see what a data subject or an officer was sent."""

from __future__ import annotations

import email
import email.policy
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

SHOWN = 100


class EmailBackend(BaseEmailBackend):
    """Each message as its own file, named so that names sort by time."""

    def send_messages(self, email_messages: list[EmailMessage]) -> int:  # type: ignore[override]
        folder = Path(settings.MAILBOX_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            name = f"{timezone.now():%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
            (folder / name).write_bytes(message.message().as_bytes())
            print(
                f"Mail to {', '.join(message.to)}: {message.subject} (at /mailbox/)",
                file=sys.stderr,
            )
        return len(email_messages)


@dataclass(frozen=True)
class Mail:
    name: str
    to: str
    subject: str
    date: str
    body: str


def _read(path: Path) -> Mail:
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain", "html"))
    return Mail(
        name=path.stem,
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        date=str(parsed.get("Date", "")),
        body=part.get_content() if part is not None else "",
    )


def messages_kept() -> list[Mail]:
    """The newest SHOWN messages, newest first."""
    folder = Path(settings.MAILBOX_DIR)
    if not folder.is_dir():
        return []
    return [_read(path) for path in sorted(folder.glob("*.eml"), reverse=True)[:SHOWN]]


@require_safe
@login_required
def mailbox(request: HttpRequest) -> HttpResponse:
    """What Locus sent, newest first (staff only; only where mail is kept here, not sent)."""
    if not request.user.is_staff:
        raise PermissionDenied("The mailbox is for staff")
    if settings.EMAIL_BACKEND != "governance.mailbox.EmailBackend":
        raise Http404("Mail is sent, not kept here")
    return render(request, "governance/mailbox.html", {"mails": messages_kept(), "shown": SHOWN})
