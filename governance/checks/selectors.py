"""Reads of training runs and their decisions shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from catalog.models import Region
from governance.models import (
    TrainingRun,
    TrainingRunDataset,
)


def run_footprint(run: TrainingRun) -> list[dict[str, Any]]:
    """Which regions a run touched (planned and read), and under which decisions."""
    regions: dict[str, dict[str, Any]] = {}
    for decision in run.decisions.order_by("id"):
        entry = regions.setdefault(
            decision.region_code,
            {"region": decision.region_code, "country": decision.country, "decisions": []},
        )
        entry["decisions"].append(
            {
                "decision_id": decision.pk,
                "context": decision.context,
                "dataset": decision.dataset_slug,
                "outcome": decision.outcome,
                "rule": decision.rule,
                "grant": decision.grant_id,
                "at": decision.at,
            }
        )
    return sorted(regions.values(), key=lambda r: r["region"])


def training_runs() -> QuerySet[TrainingRun]:
    """Runs with their purpose, compute regions and inputs, in a fixed number of queries."""
    return TrainingRun.objects.select_related("purpose").prefetch_related(
        Prefetch("compute_regions", Region.objects.select_related("country").order_by("code")),
        Prefetch("inputs", TrainingRunDataset.objects.select_related("dataset").order_by("id")),
    )
