"""Reads about data-subject requests that several callers share: discovery, queues, lists."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import Dataset, LawfulBasis
from governance.notifications import jurisdictions_of
from requests.models.subjects import (
    OPEN_STATUSES,
    DatasetConnector,
    SubjectRequest,
    SubjectTask,
    TaskStatus,
)


def candidate_datasets(request: SubjectRequest) -> list[Dataset]:
    """Datasets that may hold the subject's data: personal data, about subjects of the
    request's jurisdiction (or of unrecorded ones), holding an identifier kind the request gives
    (or not saying which they hold). When unsure, a dataset is included: a task an owner closes
    with "nothing here" costs less than data missed."""
    categories = Dataset.personal_data_categories.through.objects.filter(dataset=OuterRef("pk"))
    places = Dataset.subject_jurisdictions.through.objects.filter(dataset=OuterRef("pk"))
    datasets = (
        Dataset.objects.filter(Q(Exists(categories)) | ~Q(lawful_basis=LawfulBasis.NOT_PERSONAL))
        .filter(Q(Exists(places.filter(jurisdiction=request.jurisdiction_id))) | ~Q(Exists(places)))
        .order_by("slug")
    )
    declared = dict(
        DatasetConnector.objects.filter(dataset__in=datasets).values_list(
            "dataset_id", "identifier_kinds"
        )
    )
    kinds = set(request.identifier_kinds)
    return [d for d in datasets if not declared.get(d.pk) or kinds & set(declared[d.pk])]


def requests_for(user) -> QuerySet[SubjectRequest]:
    """The requests a person may list: every one for the read-only roles and officers who
    answer for all; an officer given jurisdictions sees theirs."""
    rows = SubjectRequest.objects.select_related("jurisdiction", "duplicate_of")
    if user.is_superuser:
        return rows
    if user.has_perm("workflows.change_subjectrequest"):
        mine = jurisdictions_of(user)
        return rows if mine is None else rows.filter(jurisdiction_id__in=mine)
    if user.has_perm("workflows.view_subjectrequest"):
        return rows
    return rows.none()


def _task_count(tasks: QuerySet[SubjectTask]) -> Coalesce:
    counted = tasks.filter(request=OuterRef("pk")).order_by().values("request")
    number = Subquery(counted.annotate(n=Count("pk")).values("n"), output_field=IntegerField())
    return Coalesce(number, 0)


def with_task_counts(rows: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    """Requests with `tasks_total` and `tasks_open`, as subqueries: counted for the rows a page
    shows, not grouped over every request before the page is cut (and not in its count)."""
    return rows.annotate(
        tasks_total=_task_count(SubjectTask.objects.all()),
        tasks_open=_task_count(SubjectTask.objects.exclude(status=TaskStatus.DONE)),
    )


def count_tasks(requests: list[SubjectRequest]) -> list[SubjectRequest]:
    """Set `tasks_total` and `tasks_open` on these requests (a page of them), in one query.

    A list page counts this way rather than with with_task_counts(): PostgreSQL computes a
    row's subqueries before an OFFSET skips it, so deep pages paid for every row before them."""
    counts = {
        row["request_id"]: row
        for row in SubjectTask.objects.filter(request__in=requests)
        .values("request_id")
        .annotate(total=Count("pk"), open=Count("pk", filter=~Q(status=TaskStatus.DONE)))
        .order_by()
    }
    for request in requests:
        row = counts.get(request.pk, {})
        request.tasks_total, request.tasks_open = row.get("total", 0), row.get("open", 0)
    return requests


def tasks_for(user) -> QuerySet[SubjectTask]:
    """A data owner's queue: the tasks of their datasets (officers see every task)."""
    rows = SubjectTask.objects.select_related("request", "request__jurisdiction")
    if user.has_perm("workflows.change_subjectrequest"):
        return rows
    return rows.filter(owner=user)


def open_tasks_for(user) -> QuerySet[SubjectTask]:
    return tasks_for(user).exclude(status=TaskStatus.DONE).filter(request__status__in=OPEN_STATUSES)


def days_left(request: SubjectRequest, today: dt.date | None = None) -> int:
    return (request.due - (today or timezone.now().date())).days


def overdue(today: dt.date | None = None) -> QuerySet[SubjectRequest]:
    """Open requests past their deadline (for the dashboards)."""
    today = today or timezone.now().date()
    return SubjectRequest.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(extended_deadline__isnull=True, deadline__lt=today) | Q(extended_deadline__lt=today)
    )


def ml_report(request: SubjectRequest) -> list[dict]:
    """The erasure's reach into models: each training run that read the erased data."""
    return [
        {
            "id": d.pk,
            "training_run": d.training_run_id,
            "run_name": d.run_name,
            "model_name": d.model_name,
            "datasets": d.datasets,
            "decision": d.decision,
            "reason": d.reason,
            "decided_by": d.decided_by_name,
            "decided_at": d.decided_at,
        }
        for d in request.ml_decisions.all()
    ]
