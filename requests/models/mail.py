"""E-mails to data subjects: a row first, sent after the commit, retried by the sweep.

A subject has no account, so their mail cannot be a `Notification`; it follows the same rule
(the row is written in the transaction that decided to send it, and is marked sent only after
the mail server took it). The address and the message, which may carry a verification code or
a download link, are sealed with the subject-data key and dropped once the mail has gone out.
"""

from __future__ import annotations

from django.db import models

from requests.models.subjects import SubjectRequest


class SubjectMail(models.Model):
    """One e-mail to a request's subject, waiting to be sent or already sent."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="mails")
    # The subject line, without personal data: it stays after sending, as the record of what
    # was sent when.
    title = models.CharField(max_length=200)
    # seal({"to": address, "body": text}); emptied once sent.
    sealed = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="subject_mail_unsent",
                condition=models.Q(sent_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} ({'sent' if self.sent_at else 'unsent'})"
