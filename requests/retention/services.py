"""Retention runs: opened once per dataset and period for what is past its retention, run by
the dataset's connector (claimed and counted as a subject-request erasure's task is) or done
by its owner by hand. Legal holds (requests.retention.holds) suspend them."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.actors import Actor
from catalog.models import Dataset
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from governance.notifications.services import notify
from governance.roles import Role, has_role
from governance.workflow import queue_after_commit, status_move
from requests import tasks
from requests.models.retention import RetentionRun, RunStatus
from requests.models.subjects import DatasetConnector
from requests.retention import selectors
from requests.subjects import redaction, targets
from requests.subjects.work import connector_claim
from requests.subjects.workflow import page_url

log = logging.getLogger(__name__)
SWEEP = "requests.tasks.retention_due"


def retention_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Open this period's run for every dataset past due and not held (each once, however many
    workers run this at once), and queue again the connector runs whose message was lost."""
    now = now or timezone.now()
    opened = sum(
        _run_open(dataset_id, now)
        for dataset_id in selectors.datasets_due(now).values_list("pk", flat=True)
    )
    return {"opened": opened, "requeued": _requeue_lost(now)}


def _run_open(dataset_id: int, now: dt.datetime) -> bool:
    """Open the dataset's run for the period, once: the dataset row is locked (a worker that
    finds it locked leaves it to the one holding it), and it is due is asked again under the
    lock; the unique (dataset, period) is the last word."""
    with transaction.atomic():
        dataset = (
            Dataset.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=dataset_id)
            .first()
        )
        if dataset is None or not selectors.datasets_due(now).filter(pk=dataset_id).exists():
            return False
        run = RetentionRun.objects.create(**_run_fields(dataset, now))
        ledger_append(
            actor=None,
            kind="retention.run_opened",
            subjects=[f"dataset:{dataset.slug}", f"retention-run:{run.pk}"],
            data={
                "cutoff": run.cutoff.isoformat(),
                "automatic": run.automatic,
                "retention_days": run.retention_days,
                "due_on": run.due_on.isoformat(),
            },
        )
        if run.automatic:
            queue_after_commit(tasks.retention_run_execute, run.pk, sweep=SWEEP)
        else:
            _tell_owner(run)
    return True


def _run_fields(dataset: Dataset, now: dt.datetime) -> dict[str, Any]:
    start = selectors.period_start(now.date())
    connector = DatasetConnector.objects.filter(dataset=dataset).first()
    return {
        "dataset": dataset,
        "dataset_slug": dataset.slug,
        "owner_id": dataset.owner_id,
        "period_start": start,
        "retention_days": dataset.retention_days,
        "cutoff": selectors.cutoff_of(start, dataset.retention_days),
        "due_on": now.date() + dt.timedelta(days=settings.RETENTION_DUE_DAYS),
        "automatic": bool(connector and connector.automatic and connector.retention_column),
    }


def _tell_owner(run: RetentionRun) -> None:
    notify(
        recipients=[run.owner],
        kind="retention.run",
        title=f"Retention: delete the records of {run.dataset_slug} older than "
        f"{run.cutoff:%Y-%m-%d}",
        body=f"Its retention is {run.retention_days} days and it has no connector that deletes "
        f"by age. Delete them, then mark the run done (due {run.due_on.isoformat()}).",
        url=page_url("workflows:retention"),
    )


def _requeue_lost(now: dt.datetime) -> int:
    """Connector runs still open a while after they opened, or running past the lease."""
    lease = dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS)
    lost = RetentionRun.objects.filter(automatic=True).filter(
        status=RunStatus.OPEN, created_at__lt=now - lease
    ) | RetentionRun.objects.filter(status=RunStatus.RUNNING, claimed_at__lt=now - lease)
    ids = list(lost.values_list("pk", flat=True))
    for run_id in ids:
        queue_after_commit(tasks.retention_run_execute, run_id, sweep=SWEEP)
    return len(ids)


def retention_run_execute(*, run_id: int) -> str:
    """Run a retention run's connector once: claim it, delete the rows older than its cutoff
    on the target, record the count. A held dataset's run waits, unclaimed, for the hold's end."""
    run = RetentionRun.objects.filter(pk=run_id).first()
    if run is None or run.dataset_id is None:
        return "gone"
    if selectors.is_held(run.dataset_id, timezone.now()):
        return "held"
    if not connector_claim(RetentionRun, pk=run_id):
        return "not-claimed"
    run.refresh_from_db()
    if selectors.is_held(run.dataset_id, timezone.now()):  # placed while it was being claimed
        _release(run, RunStatus.OPEN, "")
        return "held"
    connector = DatasetConnector.objects.select_related("dataset").get(dataset_id=run.dataset_id)
    if not connector.approved:
        return _failed(run, targets.NotApproved("Its connector's version is not approved"))
    try:
        count = targets.expire(connector, run.cutoff, lambda n: _prepare(run, n))
    except targets.TransientError as exc:
        return _failed(run, exc, transient=True)
    except targets.ConnectorError as exc:
        return _failed(run, exc)
    run.refresh_from_db(fields=["prepared_rows"])
    if count == 0 and run.prepared_rows:
        count = run.prepared_rows  # an earlier run deleted them and was lost before recording
    return "done" if _record(run, count) else "lost-claim"


def _prepare(run: RetentionRun, count: int) -> None:
    """Keep the count of rows about to be deleted, committed before the target commits."""
    RetentionRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(prepared_rows=count)


@transaction.atomic
def _record(run: RetentionRun, count: int) -> bool:
    try:
        status_move(RetentionRun, pk=run.pk, current=RunStatus.RUNNING, target=RunStatus.DONE,
                    when=_claim(run), what="retention run", rows_deleted=count,
                    completed_at=timezone.now(), completed_by_name="connector", last_error="")  # fmt: skip
    except StateConflict:
        return False
    _ledger_done(run, actor=None, data={"mode": "connector", "rows_deleted": count})
    return True


def _claim(run: RetentionRun) -> Q:
    return Q(claimed_at=run.claimed_at)


@transaction.atomic
def _failed(run: RetentionRun, exc: Exception, *, transient: bool = False) -> str:
    """A connector failure: transient ones are released for a retry until the cap; the rest
    wait for the owner (told), who fixes the connector or deletes by hand."""
    message = redaction.failure_text(exc, ())
    log.warning("The retention run %s failed: %s", run.pk, message)
    if transient and run.attempts < settings.SUBJECT_CONNECTOR_MAX_ATTEMPTS:
        _release(run, RunStatus.OPEN, message)
        return "retry"
    if not _release(run, RunStatus.FAILED, message):
        return "lost-claim"
    notify(
        recipients=[run.owner],
        kind="retention.run_failed",
        title=f"Retention: the connector of {run.dataset_slug} failed",
        body=f"{message}\nDelete the records older than {run.cutoff:%Y-%m-%d} by hand and mark "
        "the run done, or fix the connector.",
        url=page_url("workflows:retention"),
    )
    return "failed"


def _release(run: RetentionRun, target: str, message: str) -> bool:
    """Move this worker's claimed run on (False when its claim was lost meanwhile)."""
    try:
        status_move(RetentionRun, pk=run.pk, current=RunStatus.RUNNING, target=target,
                    when=_claim(run), what="retention run", last_error=message)  # fmt: skip
    except StateConflict:
        return False
    return True


def may_complete(actor: Actor, run: RetentionRun) -> bool:
    """The dataset's owner, or a privacy officer."""
    return getattr(actor, "pk", None) == run.owner_id or has_role(actor, Role.PRIVACY_OFFICER)


@transaction.atomic
def retention_run_complete(*, actor: Actor, run: RetentionRun, note: str) -> RetentionRun:
    """The owner says the records past retention are deleted (how, in the note)."""
    if not may_complete(actor, run):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may mark it done")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what was deleted, and how"})
    if run.dataset_id and selectors.is_held(run.dataset_id, timezone.now()):
        raise StateConflict({"status": "The dataset is under a legal hold: delete nothing"})
    current = RetentionRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
    if current not in (RunStatus.OPEN, RunStatus.FAILED):
        raise StateConflict({"status": "This run is already done or its connector is running"})
    status_move(RetentionRun, pk=run.pk, current=current, target=RunStatus.DONE,
                what="retention run", note=note, completed_at=timezone.now(),
                completed_by_name=actor_name(actor))  # fmt: skip
    run.refresh_from_db()
    _ledger_done(run, actor=actor, data={"mode": "manual"})
    return run


def _ledger_done(run: RetentionRun, *, actor: Actor, data: dict[str, Any]) -> None:
    ledger_append(
        actor=actor,
        kind="retention.run_done",
        subjects=[f"dataset:{run.dataset_slug}", f"retention-run:{run.pk}"],
        data={"cutoff": run.cutoff.isoformat(), **data},
    )


def runs_resume(dataset_id: int) -> None:
    """Queue the dataset's open connector runs again (its hold was lifted)."""
    for run_id in RetentionRun.objects.filter(
        dataset_id=dataset_id, automatic=True, status=RunStatus.OPEN
    ).values_list("pk", flat=True):
        queue_after_commit(tasks.retention_run_execute, run_id, sweep=SWEEP)
