"""Ledger entries for changes that other apps announce (the catalog cannot import governance)."""

from typing import Any

from catalog.actors import Actor
from catalog.models import DatasetChange, LineageEdge
from governance.ledger.chain import ledger_append

# The fields that change where a dataset may go, and so what the policy engine answers.
LOCALITY_FIELDS = frozenset(
    {
        "storage_region",
        "jurisdiction",
        "sensitivity",
        "personal_data_categories",
        "subject_jurisdictions",
        "lawful_basis",
        "allowed_processing_regions",
        "retention_days",
        "owner",
    }
)


def record_dataset_change(
    sender: type[DatasetChange], *, actor: Actor, change: DatasetChange, **kwargs: Any
) -> None:
    """Creations, deletions and changes to locality fields go on the chain."""
    locality = sorted(LOCALITY_FIELDS & set(change.changed_fields))
    if change.action == DatasetChange.Action.UPDATED and not locality:
        return
    before, after = change.before or {}, change.after or {}
    ledger_append(
        actor=actor,
        kind=f"catalog.dataset.{change.action}",
        subjects=[f"dataset:{change.dataset_slug}"],
        data={
            "dataset": change.dataset_slug,
            "version": change.version,
            "fields": locality,
            "before": {k: before.get(k) for k in locality},
            "after": {k: after.get(k) for k in locality},
        },
    )


def record_lineage_edge_change(
    sender: type[LineageEdge], *, actor: Actor, edge: LineageEdge, action: str, **kwargs: Any
) -> None:
    """A lineage edge a person added or removed goes on the chain, as observed edges do."""
    upstream, downstream = edge.upstream.slug, edge.downstream.slug
    ledger_append(
        actor=actor,
        kind=f"catalog.lineage_edge.{action}",
        subjects=[f"dataset:{upstream}", f"dataset:{downstream}"],
        data={
            "upstream": upstream,
            "downstream": downstream,
            "transformation": edge.transformation,
            **({"techniques": edge.techniques} if edge.techniques else {}),
        },
    )
