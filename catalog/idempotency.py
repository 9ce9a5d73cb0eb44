"""Idempotent creates: a client that sends `Idempotency-Key` with a POST that creates gets the
same answer for the same key, however often it retries, and the thing is created once.

The first request with a key claims it (a row, unique per person and key) in the transaction
that creates the thing; a retry with the key and the same request gets the first answer again
(`Idempotent-Replayed: true`); the key with another request is a 422; a retry while the first
is still running waits for it on PostgreSQL (the unique index) and then replays it. A request
that fails (4xx, 5xx) keeps nothing: the client may fix it and send it again with the same key.
Keys are kept for IDEMPOTENCY_KEY_HOURS (24 by default).

Every create also answers 201 with a `Location` header naming what it created.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.urls import NoReverseMatch
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class KeyReused(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"


class KeyInvalid(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


def _fingerprint(request: Request) -> str:
    """What makes two requests the same request: the path and the body."""
    body = json.dumps(request.data, sort_keys=True, default=str) if request.data else ""
    return hashlib.sha256(f"{request.path}\n{body}".encode()).hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise KeyReused(
            {
                HEADER: [
                    f"Already used in the last {settings.IDEMPOTENCY_KEY_HOURS} h with another request"
                ]
            }
        )
    headers = {"Idempotent-Replayed": "true"}
    if record.location:
        headers["Location"] = record.location
    return Response(record.response, status=record.status, headers=headers)


def _cutoff(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(hours=settings.IDEMPOTENCY_KEY_HOURS)


def purge_expired(now: dt.datetime | None = None) -> int:
    """Forget every answer older than IDEMPOTENCY_KEY_HOURS (hourly, by Celery beat)."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=_cutoff(now or timezone.now())
    ).delete()
    return deleted


def _claim(user: User, key: str, fingerprint: str) -> IdempotencyRecord | Response:
    """The new claim on the key, or the first answer given with it."""
    now = timezone.now()
    mine = IdempotencyRecord.objects.filter(user=user, key=key)
    # Only this key's expired answer stands in the way of its reuse (one per person and key);
    # the others' are removed by the periodic purge, not on every create.
    mine.filter(created_at__lt=_cutoff(now)).delete()
    found = mine.first()
    if found is not None:
        return _replay(found, fingerprint)
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(
                user=user, key=key, fingerprint=fingerprint, created_at=now
            )
    except IntegrityError:  # a concurrent first request committed it meanwhile
        return _replay(mine.get(), fingerprint)


def idempotent(
    handler: Callable[..., Response], location: Callable[[Response], str]
) -> Callable[..., Response]:
    """Wrap a create handler: keyed requests are answered once, and 201s name their Location."""

    def handle(request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER, "").strip()
        user = request.user
        if not key or not isinstance(user, User):  # keys are kept per signed-in person
            return _located(handler(request, *args, **kwargs), location)
        if len(key) > MAX_KEY_LENGTH:
            raise KeyInvalid({HEADER: [f"At most {MAX_KEY_LENGTH} characters"]})
        fingerprint = _fingerprint(request)
        with transaction.atomic():
            claimed = _claim(user, key, fingerprint)
            if isinstance(claimed, Response):
                return claimed
            response = _located(handler(request, *args, **kwargs), location)
            if not status.is_success(response.status_code):
                transaction.set_rollback(True)  # keep nothing: the key may be used again
                return response
            claimed.status = response.status_code
            claimed.response = json.loads(JSONRenderer().render(response.data))
            claimed.location = response.headers.get("Location", "")
            claimed.save(update_fields=["status", "response", "location"])
            return response

    return handle


def _located(response: Response, location: Callable[[Response], str]) -> Response:
    if response.status_code == status.HTTP_201_CREATED and "Location" not in response.headers:
        where = location(response)
        if where:
            response["Location"] = where
    return response


class IdempotentCreateMixin:
    """For a viewset whose create makes something: `Idempotency-Key` honoured, `Location` on
    201 (the detail route of what was made, found by the lookup field in the answer)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        # After authentication and permissions, before DRF picks the handler: the create handler
        # is wrapped for this request only.
        if request.method == "POST" and getattr(self, "action", None) == "create":
            self.post = idempotent(self.post, self._created_location)  # type: ignore[has-type]

    def _created_location(self, response: Response) -> str:
        lookup = getattr(self, "lookup_field", "pk")
        data = response.data if isinstance(response.data, dict) else {}
        value = data.get("id" if lookup == "pk" else lookup)
        if value in (None, ""):
            return ""
        try:
            return self.reverse_action("detail", kwargs={lookup: value})  # type: ignore[attr-defined]
        except NoReverseMatch:  # a viewset without a detail route: no Location
            return ""
