"""The catalog's periodic work (scheduled in governance.config.beat_schedule)."""

from celery import shared_task

from catalog import idempotency


@shared_task(acks_late=True, reject_on_worker_lost=True)
def idempotency_keys_purge() -> int:
    return idempotency.purge_expired()
