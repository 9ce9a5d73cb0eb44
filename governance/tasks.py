"""Celery tasks of governance: thin, idempotent, each calls one service."""

from celery import shared_task

from governance.ledger import checkpoint_create


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ledger_checkpoint() -> int:
    """Sign the ledger's head (periodic: see CELERY_BEAT_SCHEDULE)."""
    return checkpoint_create().pk
