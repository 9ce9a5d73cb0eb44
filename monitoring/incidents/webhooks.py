"""Sending webhook deliveries: each is marked sent only once the endpoint took it; a delivery
another sender recorded meanwhile (status_move's compare-and-swap) is left as it recorded it."""

from __future__ import annotations

import datetime as dt

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from catalog.errors import StateConflict
from governance.workflow import status_move
from monitoring.models import WebhookDelivery

TIMEOUT_SECONDS = 5.0


def _post(client: httpx.Client, url: str, payload: dict) -> str:
    """'' when the endpoint accepted it, else what went wrong."""
    try:
        response = client.post(url, json=payload)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    if response.is_success:
        return ""
    return f"HTTP {response.status_code}: {response.text[:200]}"


def webhook_deliveries_send(ids: list[int]) -> list[int]:
    """Send the pending deliveries among ids; returns the ids still pending (to retry)."""
    pending = WebhookDelivery.objects.filter(
        pk__in=list(ids), status=WebhookDelivery.Status.PENDING
    ).select_related("endpoint")
    retry = []
    with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
        for delivery in pending:
            error = _post(client, delivery.endpoint.url, delivery.payload)
            try:
                if _record_outcome(delivery, error) == WebhookDelivery.Status.PENDING:
                    retry.append(delivery.pk)
            except StateConflict:
                continue  # another sender (the sweep, a retry) recorded it first
    return retry


def _record_outcome(delivery: WebhookDelivery, error: str) -> str:
    """Mark a pending delivery sent, or count the failed attempt (failed for good after
    TELEMETRY_WEBHOOK_MAX_ATTEMPTS); returns its status now."""
    pending = WebhookDelivery.Status.PENDING
    attempts = F("attempts") + 1
    if not error:
        status_move(
            WebhookDelivery,
            pk=delivery.pk,
            current=pending,
            target=WebhookDelivery.Status.SENT,
            what="delivery",
            sent_at=timezone.now(),
            attempts=attempts,
            last_error="",
        )
        return WebhookDelivery.Status.SENT
    gave_up = delivery.attempts + 1 >= settings.TELEMETRY_WEBHOOK_MAX_ATTEMPTS
    target = WebhookDelivery.Status.FAILED if gave_up else pending
    status_move(
        WebhookDelivery,
        pk=delivery.pk,
        current=pending,
        target=target,
        what="delivery",
        attempts=attempts,
        last_error=error,
    )
    return target


def due_webhook_delivery_ids(limit: int = 500) -> list[int]:
    """Pending deliveries older than a minute: what a lost task or a failure left behind."""
    cutoff = timezone.now() - dt.timedelta(minutes=1)
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
