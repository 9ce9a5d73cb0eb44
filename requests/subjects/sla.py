"""The SLA watch (periodic): reminds owners of due tasks, escalates to officers before
deadlines, and requeues work whose Celery message was lost."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from governance.notifications.services import notify
from requests import tasks
from requests.models.subjects import (
    OPEN_STATUSES,
    SubjectReminder,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
)
from requests.subjects import deadlines
from requests.subjects.workflow import event_add, maybe_ready, officers_notify, page_url, queue_work

S = SubjectRequestStatus
OPEN = frozenset(OPEN_STATUSES)


def _claim_reminder(request_id: int, task_id: int | None, kind: str) -> bool:
    key = f"{request_id}:{task_id or '-'}:{kind}"
    try:
        with transaction.atomic():
            SubjectReminder.objects.create(
                request_id=request_id, task_id=task_id, kind=kind, key=key
            )
    except IntegrityError:
        return False
    return True


def subject_sla_watch(now: dt.datetime | None = None) -> dict[str, int]:
    """Remind owners of due tasks, escalate to officers before deadlines, and restart work a
    lost message left behind (periodic)."""
    now = now or timezone.now()
    today = now.date()
    counts = {"reminded": 0, "escalated": 0, "requeued": 0}
    counts["reminded"] = _remind_owners(today)
    counts["escalated"] = _escalate(today)
    counts["requeued"] = _requeue_lost(now)
    return counts


def _remind_owners(today: dt.date) -> int:
    soon = today + dt.timedelta(days=settings.SUBJECT_TASK_REMINDER_DAYS)
    due = SubjectTask.objects.filter(
        request__status=S.IN_PROGRESS,
        due_on__lte=soon,
        status__in=[TaskStatus.OPEN, TaskStatus.FAILED],
    ).select_related("request", "owner")
    sent = 0
    for task in due:
        kind = "task-overdue" if task.due_on < today else "task-due"
        with transaction.atomic():
            if not _claim_reminder(task.request_id, task.pk, kind):
                continue
            notify(
                recipients=[task.owner],
                kind=f"subject_request.{kind}",
                title=f"{task.request.reference}: {task.dataset_slug} is due "
                f"{task.due_on.isoformat()}",
                url=page_url("workflows:subject-task-detail", task.pk),
            )
            sent += 1
    return sent


def _escalate(today: dt.date) -> int:
    horizon = today + dt.timedelta(days=settings.SUBJECT_ESCALATION_DAYS)
    candidates = SubjectRequest.objects.filter(status__in=OPEN).exclude(status=S.PAUSED)
    candidates = candidates.filter(
        Q(extended_deadline__isnull=True, deadline__lte=horizon) | Q(extended_deadline__lte=horizon)
    ).select_related("jurisdiction")
    sent = 0
    for subject_request in candidates:
        left = deadlines.days_left(subject_request.due, today)
        kind = "overdue" if left < 0 else "escalated"
        with transaction.atomic():
            if not _claim_reminder(
                subject_request.pk, None, f"{kind}-{subject_request.due.isoformat()}"
            ):
                continue
            officers_notify(
                subject_request,
                kind,
                "overdue" if left < 0 else f"{left} day(s) left",
                f"Deadline {subject_request.due.isoformat()}; "
                f"status {subject_request.get_status_display()}.",
            )
            event_add(subject_request, actor=None, action=kind, comment=f"{left} day(s) left")
            sent += 1
    return sent


def _requeue_lost(now: dt.datetime) -> int:
    """Work whose Celery message was lost: verified but never discovered, connectors never
    run or whose worker died. A ready request waits for its officer, not for a worker."""
    quiet = now - dt.timedelta(seconds=settings.SUBJECT_REQUEUE_AFTER_SECONDS)
    stale = now - dt.timedelta(seconds=settings.SUBJECT_CONNECTOR_LEASE_SECONDS)
    jobs: list[tuple[Any, int]] = []
    for pk in SubjectRequest.objects.filter(status=S.VERIFIED, verified_at__lt=quiet).values_list(
        "pk", flat=True
    ):
        jobs.append((tasks.subject_discovery, pk))
    lost = SubjectTask.objects.filter(request__status=S.IN_PROGRESS, automatic=True).filter(
        Q(status=TaskStatus.OPEN, created_at__lt=quiet)
        | Q(status=TaskStatus.RUNNING, claimed_at__lt=stale)
    )
    for pk in lost.values_list("pk", flat=True):
        jobs.append((tasks.subject_connector_run, pk))
    for pk in SubjectRequest.objects.filter(status=S.IN_PROGRESS).values_list("pk", flat=True):
        with transaction.atomic():
            maybe_ready(SubjectRequest.objects.select_for_update().get(pk=pk))
    for task, pk in jobs:
        queue_work(task, pk)
    return len(jobs)
