"""How each dataset answers subject requests: its connector's configuration, checked against the
catalog, versioned, and approved by a privacy officer before it runs."""

from __future__ import annotations

from typing import Any, TypeGuard

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from catalog.actors import Actor, may
from catalog.models import Dataset
from governance.errors import StateConflict
from governance.ledger.chain import actor_name, ledger_append
from governance.notifications.services import notify, officers_for
from governance.workflow import status_move
from requests import tasks
from requests.models.subjects import (
    ConnectorKind,
    DatasetConnector,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
)
from requests.subjects import targets
from requests.subjects.workflow import event_add, page_url, queue_work

S = SubjectRequestStatus


CONNECTOR_FIELDS = (
    "kind",
    "identifier_kinds",
    "database",
    "dsn_setting",
    "table",
    "identifier_column",
    "identifier_kind",
    "erase_mode",
    "mask_columns",
    "retention_column",
    "enabled",
)
# What a connector reaches and does: a change to any of these is a new version to approve.
CONNECTOR_REACH = tuple(name for name in CONNECTOR_FIELDS if name != "enabled")
NOT_APPROVED = (
    "This version of the connector is not approved by a privacy officer yet: it runs once one "
    "approves it (or answer the task by hand)"
)


def may_set_connector(user: Actor, dataset: Dataset) -> TypeGuard[User]:
    """The dataset's owner, or a privacy officer."""
    return isinstance(user, User) and (
        dataset.owner_id == user.pk or may(user, "workflows.change_subjectrequest")
    )


def may_approve_connector(user: Actor, connector: DatasetConnector) -> TypeGuard[User]:
    """A privacy officer who answers for the connector: for the dataset's jurisdiction or its
    subjects' (the same scope in which they see it)."""
    from requests.subjects.selectors import connectors_managed_by

    return isinstance(user, User) and connectors_managed_by(user).filter(pk=connector.pk).exists()


def _reach(connector: DatasetConnector) -> tuple[Any, ...]:
    return tuple(getattr(connector, name) for name in CONNECTOR_REACH)


def _connector_data(connector: DatasetConnector) -> dict[str, Any]:
    return {
        **{name: getattr(connector, name) for name in CONNECTOR_FIELDS},
        "version": connector.version,
    }


def connector_save(
    *,
    actor: Actor,
    dataset: Dataset,
    connector: DatasetConnector | None = None,
    **fields: Any,
) -> DatasetConnector:
    """Set how a dataset answers subject requests (a new connector, or changes to its own);
    on the ledger, since it decides what an erasure removes. A change to what it reaches is a
    new version, which does not run until a privacy officer approves it."""
    if not may_set_connector(actor, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may set this")
    with transaction.atomic():
        # The dataset row is locked so that two first connectors for it cannot race.
        list(Dataset.objects.select_for_update().filter(pk=dataset.pk).values_list("pk"))
        if connector is None:
            if DatasetConnector.objects.filter(dataset=dataset).exists():
                raise ValidationError(
                    {
                        "dataset": f"{dataset.slug} already has a connector; "
                        "change that one (PATCH its id)"
                    }
                )
            connector = DatasetConnector(dataset=dataset)
        elif connector.dataset_id != dataset.pk:
            raise ValidationError({"dataset": "A connector stays with its dataset"})
        else:  # the version in force, not the one the caller read
            connector = DatasetConnector.objects.select_for_update().get(pk=connector.pk)
        before = _reach(connector)
        for name in CONNECTOR_FIELDS:
            if name in fields:
                setattr(connector, name, fields[name])
        _check_connector(connector)
        if connector.pk and _reach(connector) != before:
            connector.version += 1  # the approval was of the version before
        connector.save()
        ledger_append(
            actor=actor,
            kind="subject_connector.saved",
            subjects=[f"dataset:{dataset.slug}"],
            data=_connector_data(connector),
        )
        if connector.automatic and not connector.approved:
            _ask_approval(connector)
    return connector


def _ask_approval(connector: DatasetConnector) -> None:
    notify(
        recipients=officers_for([connector.dataset.jurisdiction_id]),
        kind="subject_connector.approval",
        title=f"The connector of {connector.dataset.slug} (version {connector.version}) "
        "awaits approval",
        body="It reads and erases subject data once a privacy officer approves it "
        "(POST approve/ on its address in the API).",
        url=page_url("v1:dataset-connector-detail", connector.pk),
    )


def _check_connector(connector: DatasetConnector) -> None:
    """A SQL connector names allowed things: plain identifiers, a database named for subject
    data, and a table and columns its catalog holds; 400 naming the field otherwise."""
    if connector.kind != ConnectorKind.SQL:
        return
    try:
        targets.validate_config(connector)
    except targets.ConnectorError as exc:
        raise ValidationError({exc.field: str(exc)}) from None
    if connector.identifier_kind not in connector.identifier_kinds:
        raise ValidationError(
            {"identifier_kind": "It must be one of the identifier kinds declared"}
        )
    try:
        targets.check_catalog(connector)
    except targets.TransientError as exc:
        raise ValidationError(
            {exc.field: f"Could not reach the database to look the table up ({exc})"}
        ) from None
    except targets.ConnectorError as exc:
        raise ValidationError({exc.field: str(exc)}) from None


def connector_approve(
    *, actor: Actor, connector: DatasetConnector, version: int | None = None
) -> DatasetConnector:
    """A privacy officer approves the connector's current version (the one they reviewed,
    when `version` is given), on the ledger; tasks that waited for it run."""
    if not may_approve_connector(actor, connector):
        raise PermissionDenied(
            "Only a privacy officer who answers for the dataset's or its subjects' "
            "jurisdiction may approve"
        )
    with transaction.atomic():
        connector = (
            DatasetConnector.objects.select_for_update(of=("self",))
            .select_related("dataset")
            .get(pk=connector.pk)
        )
        if connector.kind != ConnectorKind.SQL:
            raise StateConflict({"kind": "A manual connector never runs: nothing to approve"})
        if version is not None and version != connector.version:
            raise StateConflict(
                {"version": f"The connector changed meanwhile: review version {connector.version}"}
            )
        if connector.approved:
            raise StateConflict({"version": f"Version {connector.version} is already approved"})
        _check_connector(connector)
        connector.approved_version = connector.version
        connector.approved_by = actor
        connector.approved_by_name = actor_name(actor)
        connector.approved_at = timezone.now()
        connector.save(
            update_fields=["approved_version", "approved_by", "approved_by_name", "approved_at"]
        )
        ledger_append(
            actor=actor,
            kind="subject_connector.approved",
            subjects=[f"dataset:{connector.dataset.slug}"],
            data=_connector_data(connector),
        )
        _rerun_waiting(actor, connector)
    return connector


def _rerun_waiting(actor: Actor, connector: DatasetConnector) -> None:
    """Tasks that stopped because their connector was not approved run now."""
    waiting = SubjectTask.objects.filter(
        dataset_id=connector.dataset_id,
        automatic=True,
        status=TaskStatus.FAILED,
        last_error__startswith=f"{targets.NotApproved.__name__}:",
        request__status=S.IN_PROGRESS,
    ).select_related("request")
    for task in waiting:
        try:
            status_move(
                SubjectTask,
                pk=task.pk,
                current=TaskStatus.FAILED,
                target=TaskStatus.OPEN,
                what="task",
                attempts=0,
                last_error="",
            )
        except StateConflict:
            continue  # retried or answered meanwhile
        event_add(task.request, actor=actor, action="task_retry", comment=task.dataset_slug)
        queue_work(tasks.subject_connector_run, task.pk)


# --- Tasks: connectors and manual answers ---------------------------------------------------
