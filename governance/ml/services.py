"""Writes to the model registry: each verb is one transaction, checks permission, records the
model's history and writes the ledger. Deployments go through the policy engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeGuard

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from catalog.actors import Actor, actor_account, may
from catalog.errors import StateConflict
from catalog.models import Region
from catalog.services import changed_fields
from governance.checks.services import verdict_columns
from governance.ledger.chain import actor_name, ledger_append
from governance.models import (
    LocalityDecision,
    ModelDeployment,
    Purpose,
    TrainedModel,
    TrainedModelChange,
    TrainingRun,
    TrainingRunDataset,
)
from governance.policy.facts import PolicyIndex, UnknownInput
from governance.policy.index import current_index
from governance.policy.trained import ModelDecision, evaluate_model
from governance.workflow import status_move

OWNER_PERMISSIONS = ("governance.change_trainedmodel",)
EDITABLE = ("name", "version", "description", "uri", "owner", "training_runs")
Change = TrainedModelChange.Action
# A deployment's allowed moves: a denied one stays denied (a new request is a new deployment).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    ModelDeployment.Status.ACTIVE: (ModelDeployment.Status.RETIRED,)
}


def can_change_model(user: Actor, trained_model: TrainedModel) -> TypeGuard[User]:
    """Officers change any model; its owner theirs (a guardian object permission)."""
    return may(user, "governance.change_trainedmodel") or may(
        user, "governance.change_trainedmodel", trained_model
    )


def model_snapshot(trained_model: TrainedModel) -> dict[str, Any]:
    """The entry as plain, comparable values (usernames, run ids sorted)."""
    return {
        "name": trained_model.name,
        "version": trained_model.version,
        "description": trained_model.description,
        "uri": trained_model.uri,
        "owner": trained_model.owner.get_username(),
        "training_runs": sorted(trained_model.training_runs.values_list("pk", flat=True)),
    }


def model_datasets(trained_model: TrainedModel) -> list[int]:
    """The ids of the datasets its training runs read (one query)."""
    reads = TrainingRunDataset.objects.filter(run__trained_models=trained_model)
    return sorted(set(reads.values_list("dataset_id", flat=True)))


def _record(
    actor: Actor, trained_model: TrainedModel, action: str, before: Any, after: Any
) -> TrainedModelChange:
    last = TrainedModelChange.objects.filter(model_ref=trained_model.pk).aggregate(
        r=Max("revision")
    )["r"]
    return TrainedModelChange.objects.create(
        trained_model=trained_model,
        model_ref=trained_model.pk,
        model_repr=str(trained_model)[:270],
        revision=(last or 0) + 1,
        action=action,
        actor=actor_account(actor),
        actor_name=actor_name(actor),
        before=before,
        after=after,
        changed_fields=changed_fields(before, after),
    )


def _check_fields(actor: User, fields: dict[str, Any], previous: User | None) -> None:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: "Not a model field" for name in sorted(unknown)})
    if "training_runs" in fields and not fields["training_runs"]:
        raise ValidationError({"training_runs": "Name at least one training run it came from"})
    owner = fields.get("owner")
    someone_else = owner is not None and actor.pk not in (owner.pk, getattr(previous, "pk", None))
    if someone_else and not may(actor, "governance.change_trainedmodel"):
        raise PermissionDenied("Only a privacy officer may make someone else a model's owner")


def _taken(name: str, version: str, but: int | None = None) -> None:
    found = TrainedModel.objects.filter(name=name, version=version)
    if but is not None:
        found = found.exclude(pk=but)
    if found.exists():
        raise ValidationError({"version": f"{name} {version} is registered already"})


@transaction.atomic
def model_register(
    *,
    actor: Actor,
    name: str,
    version: str,
    uri: str,
    training_runs: Sequence[TrainingRun],
    description: str = "",
    owner: User | None = None,
) -> TrainedModel:
    """Register a trained model with the runs it came from; its owner may then change and
    deploy it."""
    if not may(actor, "governance.add_trainedmodel"):
        raise PermissionDenied("Your role may not register models")
    owner = owner or actor
    _check_fields(actor, {"owner": owner, "training_runs": list(training_runs)}, None)
    _taken(name, version)
    trained_model = TrainedModel(
        name=name, version=version, uri=uri, description=description, owner=owner
    )
    trained_model.full_clean(validate_unique=False)
    trained_model.save()
    trained_model.training_runs.set(training_runs)
    for perm in OWNER_PERMISSIONS:
        assign_perm(perm, owner, trained_model)
    after = model_snapshot(trained_model)
    _record(actor, trained_model, Change.CREATED, None, after)
    ledger_append(
        actor=actor,
        kind="model.registered",
        subjects=[f"model:{trained_model.pk}", *(f"run:{r}" for r in after["training_runs"])],
        data={"model": str(trained_model), "uri": uri, "training_runs": after["training_runs"]},
    )
    return trained_model


@transaction.atomic
def model_update(*, actor: Actor, trained_model: TrainedModel, **fields: Any) -> TrainedModel:
    """Change a model's entry (its owner or an officer); records before and after."""
    trained_model = TrainedModel.objects.select_for_update().get(pk=trained_model.pk)
    if not can_change_model(actor, trained_model):
        raise PermissionDenied("Only the model's owner or a privacy officer may change it")
    previous = trained_model.owner
    _check_fields(actor, fields, previous)
    before = model_snapshot(trained_model)
    runs = fields.pop("training_runs", None)
    for name, value in fields.items():
        setattr(trained_model, name, value)
    _taken(trained_model.name, trained_model.version, but=trained_model.pk)
    trained_model.full_clean(validate_unique=False)
    trained_model.save()
    if runs is not None:
        trained_model.training_runs.set(runs)
    if trained_model.owner_id != previous.pk:
        for perm in OWNER_PERMISSIONS:
            remove_perm(perm, previous, trained_model)
            assign_perm(perm, trained_model.owner, trained_model)
    after = model_snapshot(trained_model)
    if after != before:
        change = _record(actor, trained_model, Change.UPDATED, before, after)
        ledger_append(
            actor=actor,
            kind="model.updated",
            subjects=[f"model:{trained_model.pk}"],
            data={"model": str(trained_model), "changed": change.changed_fields},
        )
    return trained_model


def _judge(
    index: PolicyIndex,
    trained_model: TrainedModel,
    action: str,
    region: Region,
    purpose: Purpose,
    at: dt.datetime,
    scopes: frozenset[str],
) -> ModelDecision:
    try:
        return evaluate_model(
            index, model_datasets(trained_model), action, region.code, purpose.code, at, scopes
        )
    except UnknownInput as exc:
        raise ValidationError({exc.field: exc.message}) from None


def _decision_rows(
    index: PolicyIndex,
    trained_model: TrainedModel,
    answer: ModelDecision,
    action: str,
    region: Region,
    purpose: Purpose,
    at: dt.datetime,
    actor: Actor,
    context: str,
    scopes: frozenset[str],
) -> list[LocalityDecision]:
    """One recorded decision per training dataset, naming the model."""
    rows: list[LocalityDecision] = LocalityDecision.objects.bulk_create(
        [
            LocalityDecision(
                at=at,
                dataset_id=index.dataset(slug).id,
                dataset_slug=slug,
                action=action,
                region_code=region.code,
                country=region.country_id,
                purpose=purpose.code,
                actor=actor_account(actor),
                actor_name=actor_name(actor),
                outcome=decision.outcome,
                rule=decision.rule,
                reason=decision.reason,
                **verdict_columns(decision),
                scopes=sorted(scopes),
                grant_id=decision.grant_id,
                policy_version=decision.policy_version,
                context=context,
                trained_model=trained_model,
            )
            for slug, decision in answer.per_dataset
        ]
    )
    return rows


@transaction.atomic
def model_deploy(
    *,
    actor: Actor,
    trained_model: TrainedModel,
    region: Region,
    purpose: Purpose,
    endpoint: str = "",
    scopes: Sequence[str] = (),
    at: dt.datetime | None = None,
) -> tuple[ModelDeployment, ModelDecision]:
    """Deploy a model to a region to serve from, if the engine allows it there; a denied
    deployment is recorded (status `denied`) with the law, the house rules and the training
    data that deny it."""
    if not can_change_model(actor, trained_model):
        raise PermissionDenied("Only the model's owner or a privacy officer may deploy it")
    trained_model = TrainedModel.objects.select_for_update().get(pk=trained_model.pk)
    at = at or timezone.now()
    declared = frozenset(scopes)
    index = current_index()
    answer = _judge(index, trained_model, "deploy", region, purpose, at, declared)
    records = _decision_rows(
        index,
        trained_model,
        answer,
        "deploy",
        region,
        purpose,
        at,
        actor,
        LocalityDecision.Context.MODEL_DEPLOY,
        declared,
    )
    deployment = ModelDeployment.objects.create(
        trained_model=trained_model,
        region=region,
        endpoint=endpoint,
        purpose=purpose,
        status=ModelDeployment.Status.ACTIVE if answer.allowed else ModelDeployment.Status.DENIED,
        outcome=answer.outcome,
        reason=answer.reason,
        legal_outcome=answer.legal.outcome,
        legal_reason=answer.legal.reason,
        legal_citation=answer.legal.citation[:300],
        house_outcome=answer.house.outcome,
        house_reason=answer.house.reason,
        causes=list(answer.causes),
        policy_version=answer.policy_version,
        requested_by=actor_account(actor),
        requested_by_name=actor_name(actor),
    )
    action = Change.DEPLOYED if answer.allowed else Change.DEPLOY_DENIED
    facts = _deployment_facts(deployment)
    _record(actor, trained_model, action, None, facts)
    ledger_append(
        actor=actor,
        kind=f"model.{action}",
        subjects=[f"model:{trained_model.pk}", *(f"dataset:{slug}" for slug in answer.causes)],
        data={**facts, "decisions": [r.pk for r in records]},
    )
    return deployment, answer


def _deployment_facts(deployment: ModelDeployment) -> dict[str, Any]:
    return {
        "deployment": deployment.pk,
        "region": deployment.region.code,
        "endpoint": deployment.endpoint,
        "purpose": deployment.purpose_id,
        "status": deployment.status,
        "outcome": deployment.outcome,
        "legal_outcome": deployment.legal_outcome,
        "house_outcome": deployment.house_outcome,
        "causes": deployment.causes,
    }


@transaction.atomic
def deployment_retire(*, actor: Actor, deployment: ModelDeployment) -> ModelDeployment:
    """Stop serving a model from a region (a compare-and-swap: a lost race is a 409)."""
    if not can_change_model(actor, deployment.trained_model):
        raise PermissionDenied("Only the model's owner or a privacy officer may retire it")
    current = ModelDeployment.objects.values_list("status", flat=True).get(pk=deployment.pk)
    if ModelDeployment.Status.RETIRED not in TRANSITIONS.get(current, ()):
        raise StateConflict({"status": "Only a serving deployment can be retired"})
    status_move(
        ModelDeployment,
        pk=deployment.pk,
        current=current,
        target=ModelDeployment.Status.RETIRED,
        what="deployment",
        retired_at=timezone.now(),
        updated_at=timezone.now(),
    )
    deployment.refresh_from_db()
    facts = _deployment_facts(deployment)
    _record(actor, deployment.trained_model, Change.RETIRED, None, facts)
    ledger_append(
        actor=actor,
        kind="model.retired",
        subjects=[f"model:{deployment.trained_model_id}"],
        data=facts,
    )
    return deployment


@transaction.atomic
def model_check(
    *,
    actor: Actor,
    trained_model: TrainedModel,
    action: str,
    region: Region,
    purpose: Purpose,
    scopes: Sequence[str] = (),
    at: dt.datetime | None = None,
) -> ModelDecision:
    """Ask the engine whether a model may be deployed or serve inferences in a region, without
    deploying it; the answer is recorded and on the ledger, as every check is."""
    if not may(actor, "governance.view_trainedmodel"):
        raise PermissionDenied("Your role may not check models")
    at = at or timezone.now()
    declared = frozenset(scopes)
    index = current_index()
    answer = _judge(index, trained_model, action, region, purpose, at, declared)
    records = _decision_rows(
        index,
        trained_model,
        answer,
        action,
        region,
        purpose,
        at,
        actor,
        LocalityDecision.Context.MODEL_CHECK,
        declared,
    )
    ledger_append(
        actor=actor,
        kind="model.checked",
        subjects=[f"model:{trained_model.pk}", *(f"dataset:{slug}" for slug in answer.causes)],
        data={
            "action": action,
            "region": region.code,
            "outcome": answer.outcome,
            "causes": list(answer.causes),
            "decisions": [r.pk for r in records],
        },
    )
    return answer
