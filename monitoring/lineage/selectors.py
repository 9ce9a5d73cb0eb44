"""Reads of OpenLineage's findings that pages share."""

from __future__ import annotations

from monitoring.models import LineageRunDataset, UnregisteredAsset


def gap_names(gaps: list[UnregisteredAsset]) -> dict[str, tuple[str, str]]:
    """{dataset_ref: (namespace, name)} for the gaps that came from OpenLineage (one query)."""
    rows = LineageRunDataset.objects.filter(uri__in=[g.dataset_ref for g in gaps]).values_list(
        "uri", "namespace", "name"
    )
    return {uri: (namespace, name) for uri, namespace, name in rows}
