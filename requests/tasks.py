"""Celery tasks of the workflows: thin, idempotent, each calls one service."""

from celery import shared_task

from requests.transfers.services import exceptions_due as _exceptions_due


@shared_task(acks_late=True, reject_on_worker_lost=True)
def exceptions_due() -> dict[str, int]:
    """Expire, activate and remind transfer exceptions whose time has come (periodic)."""
    return _exceptions_due()


# --- Data-subject requests (requests/subjects/) ------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def subject_discovery(request_id: int) -> int:
    """Find the datasets that may hold a verified subject's data; one task each (once)."""
    from requests.subjects.discovery import discovery_run

    return discovery_run(request_id=request_id)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
    retry_backoff=True,
)
def subject_connector_run(self, task_id: int) -> str:
    """Run a task's connector; an unreachable database is retried with backoff."""
    from requests.subjects.work import ConnectorRetry, connector_run

    try:
        return connector_run(task_id=task_id)
    except ConnectorRetry as exc:
        if self.request.is_eager:  # in-process: the SLA watch requeues the released task later
            return "retry-later"
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task(acks_late=True, reject_on_worker_lost=True)
def subject_sla_watch() -> dict[str, int]:
    """Remind owners, escalate to officers, requeue lost work (periodic)."""
    from requests.subjects.sla import subject_sla_watch as watch

    return watch()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def subject_mail_send(ids: list[int]) -> int:
    """E-mail these subject mails (queued on commit by requests.subjects.mail)."""
    from requests.subjects.mail import subject_mail_deliver

    return subject_mail_deliver(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def subject_mail_sweep() -> int:
    """Send the subject e-mails a failure left unsent (periodic)."""
    from requests.subjects.mail import subject_mail_deliver, subject_mail_unsent_ids

    return subject_mail_deliver(subject_mail_unsent_ids())


# --- Retention (requests/retention/) -------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retention_due() -> dict[str, int]:
    """Open the retention runs due this period, once each; requeue lost ones (periodic)."""
    from requests.retention.services import retention_due as due

    return due()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retention_run_execute(run_id: int) -> str:
    """Delete a dataset's records past retention with its connector (once: claimed by CAS)."""
    from requests.retention.services import retention_run_execute as execute

    return execute(run_id=run_id)
