"""Reads of the model registry that pages, the API and the subject-request workflows share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet

from governance.models import (
    LocalityDecision,
    ModelDeployment,
    TrainedModel,
    TrainedModelChange,
    TrainingRunDataset,
)

SERVING = ModelDeployment.Status.ACTIVE


def trained_models() -> QuerySet[TrainedModel]:
    """Models with what their pages and answers show, in a fixed number of queries."""
    serving = ModelDeployment.objects.filter(status=SERVING).select_related("region")
    return (
        TrainedModel.objects.select_related("owner")
        .prefetch_related(
            "training_runs",
            Prefetch("training_runs__inputs", TrainingRunDataset.objects.select_related("dataset")),
            Prefetch("deployments", serving, to_attr="serving"),
        )
        .order_by("name", "-created_at", "id")
    )


def training_datasets(trained_model: TrainedModel) -> list[TrainingRunDataset]:
    """Each dataset a model's runs read, once (from the prefetched runs when there are)."""
    seen: dict[int, TrainingRunDataset] = {}
    for run in trained_model.training_runs.all():
        for read in run.inputs.all():
            seen.setdefault(read.dataset_id, read)
    return sorted(seen.values(), key=lambda read: read.dataset.slug)


def model_history(model_id: int) -> QuerySet[TrainedModelChange]:
    return TrainedModelChange.objects.filter(model_ref=model_id).order_by("-revision")


def deployments(trained_model: TrainedModel | None = None) -> QuerySet[ModelDeployment]:
    found = ModelDeployment.objects.select_related("region", "purpose", "trained_model")
    if trained_model is not None:
        found = found.filter(trained_model=trained_model)
    return found.order_by("-created_at", "-id")


def model_decisions(trained_model: TrainedModel) -> QuerySet[LocalityDecision]:
    return LocalityDecision.objects.filter(trained_model=trained_model).order_by("-id")


def served_by_run(run_ids: Iterable[int]) -> dict[int, list[dict[str, object]]]:
    """run id -> the models trained by it, each with the regions (and endpoints) it is served
    from now: where an erasure or a consent withdrawal reaches (three queries)."""
    wanted = set(run_ids)
    if not wanted:
        return {}
    links = TrainedModel.training_runs.through.objects.filter(trainingrun_id__in=wanted)
    by_model: dict[int, list[int]] = defaultdict(list)
    for model_id, run_id in links.values_list("trainedmodel_id", "trainingrun_id"):
        by_model[model_id].append(run_id)
    serving = deployments().filter(trained_model_id__in=by_model, status=SERVING)
    places: dict[int, list[dict[str, str]]] = defaultdict(list)
    for deployment in serving:
        places[deployment.trained_model_id].append(
            {"region": deployment.region.code, "endpoint": deployment.endpoint}
        )
    names = dict(
        (pk, f"{name} {version}")
        for pk, name, version in TrainedModel.objects.filter(pk__in=by_model).values_list(
            "pk", "name", "version"
        )
    )
    found: dict[int, list[dict[str, object]]] = defaultdict(list)
    for model_id, runs in sorted(by_model.items()):
        entry = {"id": model_id, "model": names[model_id], "served_in": places.get(model_id, [])}
        for run_id in runs:
            found[run_id].append(entry)
    return dict(found)
