"""Sending webhook deliveries: each is marked sent only once the endpoint took it."""

from __future__ import annotations

import httpx
from django.conf import settings
from django.db.models import F
from django.utils import timezone

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
            rows = WebhookDelivery.objects.filter(
                pk=delivery.pk, status=WebhookDelivery.Status.PENDING
            )
            if not error:
                rows.update(
                    status=WebhookDelivery.Status.SENT,
                    sent_at=timezone.now(),
                    attempts=F("attempts") + 1,
                    last_error="",
                )
                continue
            gave_up = delivery.attempts + 1 >= settings.TELEMETRY_WEBHOOK_MAX_ATTEMPTS
            rows.update(
                attempts=F("attempts") + 1,
                last_error=error,
                status=WebhookDelivery.Status.FAILED if gave_up else WebhookDelivery.Status.PENDING,
            )
            if not gave_up:
                retry.append(delivery.pk)
    return retry


def due_webhook_delivery_ids(limit: int = 500) -> list[int]:
    """Pending deliveries older than a minute: what a lost task or a failure left behind."""
    cutoff = timezone.now() - timezone.timedelta(minutes=1)
    return list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:limit]
    )
