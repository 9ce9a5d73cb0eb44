"""Reads about data-subject requests that several callers share: discovery, queues, lists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.actors import Viewer
from catalog.models import Dataset, LawfulBasis
from governance.notifications.services import jurisdictions_of
from requests.models.subjects import (
    OPEN_STATUSES,
    DatasetConnector,
    MlPropagationDecision,
    SubjectPackage,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
)


def candidate_datasets(subject_request: SubjectRequest) -> list[Dataset]:
    """Datasets that may hold the subject's data: personal data, about subjects of the
    request's jurisdiction (or of unrecorded ones), holding an identifier kind the request gives
    (or not saying which they hold). When unsure, a dataset is included: a task an owner closes
    with "nothing here" costs less than data missed."""
    categories = Dataset.personal_data_categories.through.objects.filter(dataset=OuterRef("pk"))
    places = Dataset.subject_jurisdictions.through.objects.filter(dataset=OuterRef("pk"))
    datasets = (
        Dataset.objects.filter(Q(Exists(categories)) | ~Q(lawful_basis=LawfulBasis.NOT_PERSONAL))
        .filter(
            Q(Exists(places.filter(jurisdiction=subject_request.jurisdiction_id)))
            | ~Q(Exists(places))
        )
        .order_by("slug")
    )
    declared = dict(
        DatasetConnector.objects.filter(dataset__in=datasets).values_list(
            "dataset_id", "identifier_kinds"
        )
    )
    kinds = set(subject_request.identifier_kinds)
    return [d for d in datasets if not declared.get(d.pk) or kinds & set(declared[d.pk])]


@dataclass(frozen=True)
class ManagedScope:
    """The subject requests a person manages: every one, those of some jurisdictions, or none.

    The one rule behind every staff read of requests, tasks, model decisions, connectors and
    packages: an officer given jurisdictions manages theirs; one given none answers for all."""

    everything: bool = False
    jurisdictions: frozenset[str] = frozenset()

    def covers(self, subject_request: SubjectRequest) -> bool:
        """Whether this person manages that request."""
        return self.everything or subject_request.jurisdiction_id in self.jurisdictions

    def condition(self, via: str = "") -> Q:
        """The filter on rows whose `via` path leads to a request (or "" for requests)."""
        return Q(**{f"{via}jurisdiction_id__in": sorted(self.jurisdictions)})


def managed_scope(user: Viewer) -> ManagedScope:
    """Which requests this person manages (their jurisdictions read once)."""
    if user.is_superuser:
        return ManagedScope(everything=True)
    if not user.has_perm("workflows.change_subjectrequest"):
        return ManagedScope()
    mine = jurisdictions_of(user)
    return ManagedScope(everything=mine is None, jurisdictions=frozenset(mine or ()))


def requests_for(user: Viewer) -> QuerySet[SubjectRequest]:
    """The requests a person may list: the ones they manage; every one for the read-only roles
    (executives, auditors), who never see identifiers."""
    rows = SubjectRequest.objects.select_related("jurisdiction", "duplicate_of")
    scope = managed_scope(user)
    if scope.everything:
        return rows
    if scope.jurisdictions:
        return rows.filter(scope.condition())
    if user.has_perm("workflows.view_subjectrequest"):
        return rows
    return rows.none()


def open_for_officers(rows: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    """The open ones, those awaiting an officer's review first, then soonest deadline first."""
    awaiting_review = Case(When(status=SubjectRequestStatus.READY, then=Value(0)), default=Value(1))
    return rows.filter(status__in=OPEN_STATUSES).order_by(awaiting_review, "deadline", "id")


def _owned_or_managed(user: Viewer, owned: Q, via: str) -> Q | None:
    """`owned`, or a request in the person's scope; None when every row is theirs to see."""
    scope = managed_scope(user)
    if scope.everything:
        return None
    return owned | scope.condition(via) if scope.jurisdictions else owned


def _task_count(tasks: QuerySet[SubjectTask]) -> Coalesce:
    counted = tasks.filter(request=OuterRef("pk")).order_by().values("request")
    number = Subquery(counted.annotate(n=Count("pk")).values("n"), output_field=IntegerField())
    return Coalesce(number, 0)


def with_task_counts(rows: QuerySet[SubjectRequest]) -> QuerySet[SubjectRequest]:
    """Requests with `tasks_total` and `tasks_open`, as subqueries: counted for the rows a page
    shows, not grouped over every request before the page is cut (and not in its count)."""
    # SubjectRequest declares both (count_tasks sets them); the Django plugin refuses an
    # annotation of a name the model declares.
    return rows.annotate(  # type: ignore[no-redef]
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
    for subject_request in requests:
        row = counts.get(subject_request.pk, {})
        subject_request.tasks_total, subject_request.tasks_open = (
            row.get("total", 0),
            row.get("open", 0),
        )
    return requests


def tasks_for(user: Viewer) -> QuerySet[SubjectTask]:
    """The tasks a person may see: their own datasets' tasks, and those of the requests they
    manage (an officer of another jurisdiction sees none of them)."""
    rows = SubjectTask.objects.select_related("request", "request__jurisdiction")
    visible = _owned_or_managed(user, Q(owner=user), "request__")
    return rows if visible is None else rows.filter(visible)


def tasks_of(user: Viewer, subject_request: SubjectRequest) -> QuerySet[SubjectTask]:
    """One request's tasks, for a person who may read the request (a report, its page)."""
    readable = requests_for(user).filter(pk=subject_request.pk).values("pk")
    return SubjectTask.objects.filter(request__in=readable).select_related("request")


def ml_decisions_for(user: Viewer) -> QuerySet[MlPropagationDecision]:
    """Model decisions of erasures (of requests where the person owns a task, or manages) and
    of consent withdrawals (of the person's datasets, or the regimes they manage)."""
    rows = MlPropagationDecision.objects.select_related("request", "consent_withdrawal")
    if not isinstance(user, User):  # the anonymous visitor owns no task and manages nothing
        return rows.none()
    owns = Exists(SubjectTask.objects.filter(request=OuterRef("request"), owner=user))
    scope = managed_scope(user)
    if scope.everything:
        return rows
    # A withdrawal's decisions: the owner of its dataset, an officer of its regime.
    visible = Q(owns) | Q(consent_withdrawal__dataset__owner=user)
    if scope.jurisdictions:
        visible |= scope.condition("request__") | Q(
            consent_withdrawal__jurisdiction_code__in=sorted(scope.jurisdictions)
        )
    return rows.filter(visible)


def connectors_for(user: Viewer) -> QuerySet[DatasetConnector]:
    """Connectors of the person's own datasets, and the ones they manage."""
    rows = DatasetConnector.objects.select_related("dataset")
    scope = managed_scope(user)
    if scope.everything:
        return rows
    return rows.filter(Q(dataset__owner=user) | _managed_connectors(scope))


def connectors_managed_by(user: Viewer) -> QuerySet[DatasetConnector]:
    """The connectors an officer answers for, and so may approve (see _managed_connectors)."""
    rows = DatasetConnector.objects.select_related("dataset")
    scope = managed_scope(user)
    if scope.everything:
        return rows
    return rows.filter(_managed_connectors(scope))


def _managed_connectors(scope: ManagedScope) -> Q:
    """Connectors of datasets stored under the officer's jurisdictions, or that answer the
    requests they manage: about subjects of their jurisdictions, or of unrecorded ones (as
    discovery decides in candidate_datasets)."""
    if not scope.jurisdictions:
        return Q(pk__in=[])
    mine = sorted(scope.jurisdictions)
    places = Dataset.subject_jurisdictions.through.objects.filter(dataset=OuterRef("dataset"))
    return (
        Q(dataset__jurisdiction__in=mine)
        | Q(Exists(places.filter(jurisdiction__in=mine)))
        | ~Q(Exists(places))
    )


def packages_for(user: Viewer) -> QuerySet[SubjectPackage]:
    """The answers (export or certificate) of the requests a person may read."""
    return SubjectPackage.objects.filter(request__in=requests_for(user).values("pk"))


def package_of(user: Viewer, subject_request: SubjectRequest) -> SubjectPackage | None:
    """A request's package, if this person may read the request."""
    return packages_for(user).filter(request=subject_request).first()


def shows_identifiers(user: Viewer, task: SubjectTask) -> bool:
    """Who the subject is: only the task's owner and the officers who manage its request."""
    return task.owner_id == user.pk or managed_scope(user).covers(task.request)


def awaiting_verification(token: str) -> SubjectRequest | None:
    """The request a public verify address names, only while it waits for verification: an
    unknown token and a request in any other state look the same (None)."""
    if not token or len(token) > 64:
        return None
    return (
        SubjectRequest.objects.filter(
            verify_token=token, status=SubjectRequestStatus.AWAITING_VERIFICATION
        )
        .select_related("jurisdiction")
        .first()
    )


def open_tasks_for(user: Viewer) -> QuerySet[SubjectTask]:
    return tasks_for(user).exclude(status=TaskStatus.DONE).filter(request__status__in=OPEN_STATUSES)


def days_left(subject_request: SubjectRequest, today: dt.date | None = None) -> int:
    return (subject_request.due - (today or timezone.now().date())).days


def overdue(today: dt.date | None = None) -> QuerySet[SubjectRequest]:
    """Open requests past their deadline (for the dashboards)."""
    today = today or timezone.now().date()
    return SubjectRequest.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(extended_deadline__isnull=True, deadline__lt=today) | Q(extended_deadline__lt=today)
    )


def ml_report(subject_request: SubjectRequest) -> list[dict[str, Any]]:
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
        for d in subject_request.ml_decisions.all()
    ]
