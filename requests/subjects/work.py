"""The datasets' tasks of a request: connector runs (claimed by compare-and-swap, retried while
the target is unreachable, redacted of the subject's identifiers) and answers given by hand."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.actors import Actor
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from governance.notifications.services import notify
from governance.workflow import row_move, status_move
from requests import tasks
from requests.models.subjects import (
    EXPORTING_TYPES,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
    seal,
)
from requests.sealing import SealedDataUnreadable
from requests.subjects import redaction, targets
from requests.subjects.access import can_work_task
from requests.subjects.connectors import NOT_APPROVED
from requests.subjects.workflow import event_add, maybe_ready, page_url, queue_work

log = logging.getLogger(__name__)
MAX_MANUAL_ROWS = 10_000
S = SubjectRequestStatus


class ConnectorRetry(Exception):
    """A connector failed for a reason that may pass (the database was unreachable)."""


class ConnectorCrashed(Exception):
    """A connector run failed on something other than its target; its message is redacted."""


def connector_run(*, task_id: int) -> str:
    """Run a task's connector once: claim it by compare-and-swap, run, record, release.

    A run whose worker died keeps its claim until the lease passes, then anyone may retake it;
    erasures are idempotent (deleted rows are gone, masked rows no longer match)."""
    if not connector_claim(SubjectTask, pk=task_id):
        return "not-claimed"
    task = SubjectTask.objects.select_related("request", "dataset__connector").get(pk=task_id)
    if task.request.status != S.IN_PROGRESS:
        _release(task, "")
        return "request-not-in-progress"
    connector = getattr(task.dataset, "connector", None) if task.dataset else None
    try:
        identifier = task.request.identifiers.get(connector.identifier_kind) if connector else None
    except SealedDataUnreadable as exc:  # a key problem: the owner and the log are told
        return _failed(task, exc, transient=False)
    if connector is None or not connector.automatic or not identifier:
        _to_manual(task, "No connector or no identifier it can look up: answer by hand")
        return "manual"
    values = list(task.request.identifiers.values())  # what every error is redacted of
    if not connector.approved:
        return _failed(task, targets.NotApproved(NOT_APPROVED), transient=False)
    try:
        result = targets.run(connector, task.request.type, identifier, task)
    except targets.TransientError as exc:
        if _failed(task, exc, transient=True, values=values) == "retry":
            raise ConnectorRetry(redaction.failure_text(exc, values)) from None
        return "failed"
    except targets.ConnectorError as exc:
        return _failed(task, exc, transient=False, values=values)
    except Exception as exc:
        # Not the target's answer (a fault of Locus's own): the claim waits for its lease, and
        # neither the log nor the worker's report of the task carries the identifiers.
        log.error(
            "The connector run of task %s crashed:\n%s",
            task.pk,
            redaction.failure_traceback(exc, values),
        )
        raise ConnectorCrashed(redaction.failure_text(exc, values)) from None
    return "done" if result else "lost-claim"


def connector_claim(rows: type[models.Model], *, pk: int) -> bool:
    """Claim a connector's work (a subject task, a retention run) by compare-and-swap: an open
    row, or a running one whose worker's lease has passed; False when another worker has it."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS)
    claimable = Q(status=TaskStatus.OPEN) | Q(status=TaskStatus.RUNNING, claimed_at__lt=stale)
    try:
        row_move(rows, pk=pk, expect=Q(automatic=True) & claimable, what="task",
                 status=TaskStatus.RUNNING, claimed_at=now, attempts=F("attempts") + 1)  # fmt: skip
    except StateConflict:
        return False
    return True


def record_connector_result(task: SubjectTask, result: targets.Result) -> bool:
    """Write a connector's counts and export and finish the task, inside the caller's
    transaction; False when the claim was lost meanwhile."""
    changes: dict[str, Any] = {
        "rows_found": result.found,
        "completed_at": timezone.now(),
        "completed_by_name": "connector",
        "last_error": "",
    }
    if result.rows is not None:
        changes.update(rows_exported=len(result.rows), export_sealed=seal(result.rows))
    if result.erased is not None:
        changes["rows_erased"] = result.erased
    if result.masked is not None:
        changes["rows_masked"] = result.masked
    claim = Q(claimed_at=task.claimed_at)
    if not _task_move(task, TaskStatus.RUNNING, TaskStatus.DONE, when=claim, **changes):
        return False
    subject_request = SubjectRequest.objects.select_for_update().get(pk=task.request_id)
    _task_ledger(subject_request, task, "connector", result.as_dict())
    maybe_ready(subject_request)
    return True


def _task_words(task: SubjectTask, mode: str) -> str:
    """What a finished task did, in words, for the timeline (counts, never the rows)."""
    counts = [
        f"{n} {what}"
        for n, what in (
            (task.rows_exported, "record(s) exported"),
            (task.rows_erased, "row(s) erased"),
            (task.rows_masked, "row(s) masked"),
        )
        if n is not None
    ]
    how = "by its connector" if mode == "connector" else "by hand"
    return f"{how}: {', '.join(counts) or 'done, as the task notes say'}"


def prepare_connector_count(task: SubjectTask, count: int) -> None:
    """Keep the count of rows about to be erased, committed before the target commits."""
    SubjectTask.objects.filter(pk=task.pk, claimed_at=task.claimed_at).update(prepared_rows=count)


def _task_ledger(
    subject_request: SubjectRequest,
    task: SubjectTask,
    mode: str,
    data: dict[str, Any],
    actor: Actor = None,
) -> None:
    task.refresh_from_db(fields=["rows_exported", "rows_erased", "rows_masked"])
    event_add(
        subject_request,
        actor=actor,
        action="task_done",
        comment=f"{task.dataset_slug}, {_task_words(task, mode)}",
        name=None if actor is not None else "Locus (a connector)",
    )
    ledger_append(
        actor=None,
        kind="subject_task.done",
        subjects=[subject_request.ref, subject_request.subject_key, f"dataset:{task.dataset_slug}"],
        data={"mode": mode, **data},
    )


def _task_move(task: SubjectTask, current: str, target: str, **changes: Any) -> bool:
    """Move the task's status by compare-and-swap; False when another run or person moved it
    first (a worker's lost claim is no error: the other one goes on)."""
    try:
        status_move(SubjectTask, pk=task.pk, current=current, target=target, what="task", **changes)
    except StateConflict:
        return False
    return True


def _current_status(task: SubjectTask) -> str:
    return SubjectTask.objects.filter(pk=task.pk).values_list("status", flat=True).get()


def _release(task: SubjectTask, error: str) -> None:
    _task_move(task, TaskStatus.RUNNING, TaskStatus.OPEN, last_error=error)


@transaction.atomic
def _to_manual(task: SubjectTask, why: str) -> None:
    _task_move(task, TaskStatus.RUNNING, TaskStatus.OPEN, automatic=False, last_error=why)
    event_add(task.request, actor=None, action="task_manual", comment=f"{task.dataset_slug}: {why}")


# How the timeline tells a failure: the kind only. The timeline is append-only (an erasure
# cannot take anything out of it), and a target's own words may quote the subject.
FAILURE_KINDS = {
    "NotApproved": "its version is not approved yet",
    "TransientError": "the database could not be reached",
    "SealedDataUnreadable": "the subject's identifiers could not be decrypted",
}


@transaction.atomic
def _failed(
    task: SubjectTask, exc: Exception, *, transient: bool, values: Iterable[str] = ()
) -> str:
    """Surface a connector failure on the task; transient ones are retried until the cap.

    What is kept and sent is redacted of every value in `values` (the subject's identifiers);
    the timeline says only that it failed, and how."""
    message = redaction.failure_text(exc, values)
    log.warning("The connector of task %s failed: %s", task.pk, message)
    if transient and task.attempts < settings.SUBJECT_CONNECTOR_MAX_ATTEMPTS:
        _release(task, message)
        return "retry"
    _task_move(task, TaskStatus.RUNNING, TaskStatus.FAILED, last_error=message)
    how = FAILURE_KINDS.get(type(exc).__name__, "the database refused the work")
    event_add(
        task.request,
        actor=None,
        action="task_failed",
        comment=f"{task.dataset_slug}: the connector failed ({how}); the task says why",
    )
    notify(
        recipients=[task.owner],
        kind="subject_request.task_failed",
        title=f"{task.request.reference}: the connector for {task.dataset_slug} failed",
        body=message,
        url=page_url("workflows:subject-task-detail", task.pk),
    )
    return "failed"


@transaction.atomic
def task_retry(*, actor: Actor, task: SubjectTask) -> SubjectTask:
    """Run a failed connector again (after the owner fixed its configuration)."""
    if not can_work_task(actor, task):
        raise PermissionDenied("Only the task's owner or a privacy officer may retry it")
    if not task.automatic:
        raise StateConflict({"task": "This task has no connector: answer it by hand"})
    if _current_status(task) != TaskStatus.FAILED:
        raise StateConflict({"status": "Only a failed connector run can be retried"})
    status_move(
        SubjectTask,
        pk=task.pk,
        current=TaskStatus.FAILED,
        target=TaskStatus.OPEN,
        what="task",
        attempts=0,
        last_error="",
    )
    event_add(task.request, actor=actor, action="task_retry", comment=task.dataset_slug)
    queue_work(tasks.subject_connector_run, task.pk)
    task.refresh_from_db()
    return task


def _clean_rows(rows: object) -> list[dict[str, targets.JsonValue]]:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValidationError({"rows": "Give the export as a list of records (objects)"})
    if len(rows) > MAX_MANUAL_ROWS:
        raise ValidationError({"rows": f"At most {MAX_MANUAL_ROWS} records per dataset"})
    return [{str(k): targets.json_safe(v) for k, v in row.items()} for row in rows]


@transaction.atomic
def task_complete(
    *, actor: Actor, task: SubjectTask, note: str = "", rows: object = None
) -> SubjectTask:
    """The owner answers a task by hand: the export they made, or how the data was erased."""
    if not can_work_task(actor, task):
        raise PermissionDenied("Only the task's owner or a privacy officer may answer it")
    subject_request = SubjectRequest.objects.select_for_update().get(pk=task.request_id)
    if subject_request.status != S.IN_PROGRESS:
        raise StateConflict({"status": "The request is not in progress"})
    note = (note or "").strip()
    exporting = subject_request.type in EXPORTING_TYPES
    cleaned = _clean_rows(rows) if rows is not None else None
    if exporting and cleaned is None and not note:
        raise ValidationError(
            {"rows": "Upload the subject's records, or say in a note why there are none"}
        )
    if not exporting and not note:
        raise ValidationError({"note": "Say what was done (for an erasure: what was erased, how)"})
    changes: dict[str, Any] = {
        "note": note,
        "completed_at": timezone.now(),
        "completed_by_name": actor_name(actor),
    }
    if exporting:
        changes.update(rows_exported=len(cleaned or []), export_sealed=seal(cleaned or []))
    current = _current_status(task)
    if current not in (TaskStatus.OPEN, TaskStatus.FAILED):
        raise StateConflict({"status": "This task is already done or its connector is running"})
    status_move(
        SubjectTask, pk=task.pk, current=current, target=TaskStatus.DONE, what="task", **changes
    )
    task.refresh_from_db()
    data = {"dataset": task.dataset_slug, "rows": task.rows_exported}  # the entry names the actor
    _task_ledger(subject_request, task, "manual", data, actor=actor)
    maybe_ready(subject_request)
    return task


def identifiers_for_task(task: SubjectTask) -> dict[str, str]:
    """What a task's owner needs to find the subject's data by hand (need to know only)."""
    return task.request.identifiers_shown
