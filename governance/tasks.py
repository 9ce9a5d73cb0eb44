"""Celery tasks of governance: thin, idempotent, each calls one service."""

import httpx
from celery import shared_task

from governance.ledger.export import checkpoint_create
from governance.ledger.publish import tree_head_publish
from governance.ledger.tree import ledger_sequence_all
from governance.notifications.digests import digests_send
from governance.notifications.services import notifications_send_email, unsent_notification_ids
from governance.reviews.services import review_scheduled, reviews_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ledger_checkpoint() -> int:
    """Sign the ledger's head (periodic: see CELERY_BEAT_SCHEDULE)."""
    return checkpoint_create().pk


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError, httpx.HTTPError),
    retry_backoff=True,
    max_retries=5,
)
def ledger_publish() -> int | None:
    """Publish the latest signed tree head to LEDGER_PUBLISH_TO (periodic); its size."""
    head = tree_head_publish()
    return head["size"] if head else None


@shared_task(acks_late=True, reject_on_worker_lost=True, time_limit=60)
def ledger_sequence() -> int:
    """Sequence the decision log's queue and new entries into the tree (periodic); its size."""
    return ledger_sequence_all()


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def notifications_email(ids: list[int]) -> int:
    """E-mail these notifications (queued on commit by governance.notifications.services.notify)."""
    return notifications_send_email(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notifications_sweep() -> int:
    """Send the e-mails a failure left unsent (periodic)."""
    return notifications_send_email(unsent_notification_ids())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def notifications_digest() -> int:
    """Send the hourly digests, and the daily ones whose hour has come (periodic, hourly)."""
    return digests_send()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def access_reviews_open() -> int | None:
    """Open the period's access review, unless one is open (periodic, quarterly)."""
    return review_scheduled()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def access_reviews_sweep() -> dict[str, int]:
    """Remind reviewers, escalate overdue items to officers (periodic, hourly)."""
    return reviews_sweep()
