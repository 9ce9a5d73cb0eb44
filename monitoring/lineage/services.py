"""The writes people make on OpenLineage's findings: registering the dataset a catalog gap
names, and saying where the jobs of a namespace run."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from catalog import services as catalog_services
from catalog.actors import Actor, may
from catalog.models import Dataset
from governance.ledger.chain import ledger_append
from monitoring.lineage.ingest import link_run
from monitoring.lineage.results import LineageResult
from monitoring.models import (
    LineageNamespaceRegion,
    LineageRun,
    LineageRunDataset,
    UnregisteredAsset,
)


@transaction.atomic
def catalog_gap_register(*, actor: Actor, gap: UnregisteredAsset, **fields: Any) -> Dataset:
    """Register the dataset a catalog gap names (its URI is the gap's reference) and close the
    gap; lineage runs that named it gain their edges to it."""
    locked = UnregisteredAsset.objects.select_for_update().filter(pk=gap.pk).first()
    if locked is None:
        raise ValidationError({"gap": "This catalog gap is closed already."})
    gap = locked
    fields["uri"] = gap.dataset_ref
    dataset = catalog_services.dataset_create(actor=actor, **fields)
    rows = LineageRunDataset.objects.filter(uri=gap.dataset_ref, dataset__isnull=True)
    run_ids = set(rows.values_list("run_id", flat=True))
    rows.update(dataset=dataset)
    created = []
    for run in LineageRun.objects.filter(pk__in=run_ids).select_related("source"):
        result = LineageResult(run=run, event_type="")
        result.datasets = list(run.datasets.select_related("dataset"))
        link_run(run.source, run, result)
        created += result.edges_created
    gap.delete()
    ledger_append(
        actor=actor,
        kind="catalog_gap.registered",
        subjects=[f"dataset:{dataset.slug}"],
        data={
            "dataset_ref": gap.dataset_ref,
            "events": gap.events,
            "lineage_runs": len(run_ids),
            "edges": [list(pair) for pair in created],
        },
    )
    return dataset


# --- Namespace regions (admin) -----------------------------------------------------------------


def _check_namespace_editor(actor: Actor) -> None:
    if not may(actor, "monitoring.change_lineagenamespaceregion"):
        raise PermissionDenied("Only privacy officers may say where job namespaces run")


@transaction.atomic
def namespace_region_save(*, actor: Actor, row: LineageNamespaceRegion) -> LineageNamespaceRegion:
    """Say where the jobs of a namespace run (later runs are located by it)."""
    _check_namespace_editor(actor)
    row.full_clean()
    row.save()
    ledger_append(
        actor=actor,
        kind="lineage.namespace_region",
        subjects=[f"lineage-namespace:{row.pk}"],
        data={"namespace": row.namespace, "region": row.region.code, "note": row.note},
    )
    return row


@transaction.atomic
def namespace_region_delete(*, actor: Actor, row: LineageNamespaceRegion) -> None:
    """Forget where the jobs of a namespace run."""
    _check_namespace_editor(actor)
    ledger_append(
        actor=actor,
        kind="lineage.namespace_region_deleted",
        subjects=[f"lineage-namespace:{row.pk}"],
        data={"namespace": row.namespace, "region": row.region.code},
    )
    row.delete()
