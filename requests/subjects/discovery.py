"""Finding the datasets that may hold a verified subject's data: one task per dataset (once),
their owners told, connectors queued."""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from governance.notifications.services import notify
from requests import tasks
from requests.models.subjects import (
    EXPORTING_TYPES,
    DatasetConnector,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectRequestType,
    SubjectTask,
)
from requests.subjects import deadlines
from requests.subjects.ml import decisions_create
from requests.subjects.workflow import maybe_ready, page_url, queue_work, transition

S = SubjectRequestStatus


def discovery_run(*, request_id: int) -> int:
    """Create one task per dataset that may hold the subject's data; returns tasks created.

    Exactly once: the request row is locked, tasks are unique per (request, dataset), and the
    status moves on only from `verified`, all in one transaction."""
    from requests.subjects.selectors import candidate_datasets

    with transaction.atomic():
        subject_request = SubjectRequest.objects.select_for_update().filter(pk=request_id).first()
        if subject_request is None or subject_request.status != S.VERIFIED:
            return 0
        datasets = list(candidate_datasets(subject_request))
        today = timezone.now().date()
        exports = (
            subject_request.type in EXPORTING_TYPES
            or subject_request.type == SubjectRequestType.ERASURE
        )
        connectors_by_dataset = {
            c.dataset_id: c for c in DatasetConnector.objects.filter(dataset__in=datasets)
        }
        SubjectTask.objects.bulk_create(
            [
                SubjectTask(
                    request=subject_request,
                    dataset=dataset,
                    dataset_slug=dataset.slug,
                    owner_id=dataset.owner_id,
                    due_on=deadlines.task_due(subject_request.due, today),
                    automatic=exports
                    and dataset.pk in connectors_by_dataset
                    and connectors_by_dataset[dataset.pk].automatic,
                )
                for dataset in datasets
            ],
            ignore_conflicts=True,
        )
        if subject_request.type == SubjectRequestType.ERASURE:
            decisions_create(subject_request, datasets)
        slugs = sorted(d.slug for d in datasets)
        subject_request = transition(
            subject_request,
            "discover",
            fields={"discovered_at": timezone.now()},
            ledger={"datasets": slugs},
            comment=f"{len(slugs)} dataset(s) may hold the subject's data",
        )
        created = list(subject_request.tasks.select_related("owner"))
        _tell_owners(subject_request, created)
        for task in created:
            if task.automatic:
                queue_work(tasks.subject_connector_run, task.pk)
        maybe_ready(subject_request)
        return len(created)


def _tell_owners(subject_request: SubjectRequest, tasks: list[SubjectTask]) -> None:
    by_owner: dict = defaultdict(list)
    for task in tasks:
        by_owner[task.owner].append(task)
    for owner, theirs in by_owner.items():
        slugs = ", ".join(t.dataset_slug for t in theirs)
        notify(
            recipients=[owner],
            kind="subject_request.task",
            title=f"{subject_request.reference}: {subject_request.get_type_display()} for {slugs}",
            body=f"Due {min(t.due_on for t in theirs).isoformat()}.",
            url=page_url("workflows:subject-task-list"),
        )
