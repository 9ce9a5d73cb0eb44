"""Celery tasks of monitoring: thin, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task

from monitoring.incidents.webhooks import due_webhook_delivery_ids, webhook_deliveries_send
from monitoring.telemetry.stream import stream_prune


class WebhookNotDelivered(Exception):
    """Some endpoints did not take their message yet."""


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def webhooks_deliver(self, ids: list[int]) -> int:
    """Send these webhook deliveries; retried with backoff while some stay pending.

    Run in-process (no broker), a failed delivery is left to the periodic sweep rather than
    retried on the spot: that would hold up the request that queued it."""
    pending = webhook_deliveries_send(ids)
    if pending and not self.request.is_eager:
        raise self.retry(
            args=[pending],
            countdown=min(300, 5 * 2**self.request.retries),
            exc=WebhookNotDelivered(),
        )
    return len(ids) - len(pending)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def webhooks_sweep() -> int:
    """Send what a failure or a lost task left pending (periodic)."""
    ids = due_webhook_delivery_ids()
    return len(ids) - len(webhook_deliveries_send(ids)) if ids else 0


@shared_task(acks_late=True, reject_on_worker_lost=True)
def stream_messages_prune() -> int:
    """Drop stream messages older than TELEMETRY_STREAM_RETENTION_HOURS (periodic)."""
    return stream_prune()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def telemetry_purge() -> int:
    """Delete telemetry events older than TELEMETRY_RETENTION_DAYS, in chunks (periodic)."""
    from monitoring.telemetry.purge import telemetry_purge as purge

    return purge()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def telemetry_partitions_ensure() -> int:
    """Create the telemetry day partitions TELEMETRY_PARTITION_DAYS_AHEAD ahead (periodic)."""
    from monitoring.telemetry.partitions import telemetry_partitions_ensure as ensure

    return len(ensure())
