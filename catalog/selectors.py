"""Reads of the catalog shared by the API, the pages and the dashboards."""

from collections import defaultdict
from typing import Any, TypedDict

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Q, QuerySet

from catalog.models import Dataset, DatasetChange, LineageEdge, Sensitivity

MAX_LINEAGE_DEPTH = 10


class LineageNode(TypedDict):
    slug: str
    name: str
    sensitivity: str
    storage_region: str
    country: str
    root: bool


class LineageLink(TypedDict):
    id: int
    upstream: str
    downstream: str
    transformation: str


class LineageGraph(TypedDict):
    root: str
    nodes: list[LineageNode]
    edges: list[LineageLink]


def dataset_queryset() -> QuerySet[Dataset]:
    """Datasets with everything a list or detail shows, in a fixed number of queries."""
    return Dataset.objects.select_related(
        "owner", "steward", "storage_region", "storage_region__country", "jurisdiction"
    ).prefetch_related(
        "personal_data_categories", "subject_jurisdictions", "allowed_processing_regions", "tags"
    )


def dataset_search(queryset: QuerySet[Dataset], text: str) -> QuerySet[Dataset]:
    """Full-text search over name, description, slug and URI (PostgreSQL), substring elsewhere."""
    text = text.strip()
    if not text:
        return queryset
    substring = (
        Q(name__icontains=text)
        | Q(slug__icontains=text)
        | Q(uri__icontains=text)
        | Q(description__icontains=text)
    )
    if connection.vendor != "postgresql":
        return queryset.filter(substring)
    vector = SearchVector("name", weight="A") + SearchVector("description", weight="B")
    query = SearchQuery(text, search_type="websearch")
    return queryset.annotate(search=vector).filter(Q(search=query) | substring)


def dataset_history(slug: str) -> QuerySet[DatasetChange]:
    """Every version of a dataset's entry, newest first (it survives the dataset's deletion)."""
    return DatasetChange.objects.filter(dataset_slug=slug).order_by("-version")


def lineage_graph(dataset: Dataset, *, direction: str = "both", depth: int = 3) -> LineageGraph:
    """The datasets upstream and/or downstream of one, breadth first, one query per level."""
    depth = max(1, min(depth, MAX_LINEAGE_DEPTH))
    edges: dict[int, LineageEdge] = {}
    seen = {dataset.pk}
    for follow_upstream in _directions(direction):
        frontier = {dataset.pk}
        for _ in range(depth):
            if not frontier:
                break
            lookup = "downstream_id__in" if follow_upstream else "upstream_id__in"
            level = list(LineageEdge.objects.filter(**{lookup: frontier}))
            frontier = set()
            for edge in level:
                edges[edge.pk] = edge
                neighbour = edge.upstream_id if follow_upstream else edge.downstream_id
                if neighbour not in seen:
                    seen.add(neighbour)
                    frontier.add(neighbour)
    nodes = Dataset.objects.filter(pk__in=seen).select_related(
        "storage_region", "storage_region__country"
    )
    by_id = {node.pk: node for node in nodes}
    return {
        "root": dataset.slug,
        "nodes": [_node(node, node.pk == dataset.pk) for node in by_id.values()],
        "edges": [
            {
                "id": edge.pk,
                "upstream": by_id[edge.upstream_id].slug,
                "downstream": by_id[edge.downstream_id].slug,
                "transformation": edge.transformation,
            }
            for edge in sorted(edges.values(), key=lambda e: e.pk)
        ],
    }


def _directions(direction: str) -> list[bool]:
    return {"upstream": [True], "downstream": [False]}.get(direction, [True, False])


def _node(dataset: Dataset, is_root: bool) -> LineageNode:
    return {
        "slug": dataset.slug,
        "name": dataset.name,
        "sensitivity": dataset.sensitivity,
        "storage_region": dataset.storage_region.code,
        "country": dataset.storage_region.country_id,
        "root": is_root,
    }


def data_map(queryset: QuerySet[Dataset]) -> list[dict[str, Any]]:
    """Where datasets are stored: one row per country with its count per sensitivity.

    Rows are the map's and the API's JSON: country, iso3, name, latitude, longitude, total,
    by_sensitivity ({level: count}) and highest_sensitivity."""
    rows = (
        queryset.order_by()
        .values(
            "storage_region__country__code",
            "storage_region__country__iso3",
            "storage_region__country__name",
            "storage_region__country__latitude",
            "storage_region__country__longitude",
            "sensitivity",
        )
        .annotate(count=Count("id"))
    )
    countries: dict[str, dict[str, Any]] = {}
    for row in rows:
        code = row["storage_region__country__code"]
        entry = countries.setdefault(
            code,
            {
                "country": code,
                "iso3": row["storage_region__country__iso3"],
                "name": row["storage_region__country__name"],
                "latitude": row["storage_region__country__latitude"],
                "longitude": row["storage_region__country__longitude"],
                "total": 0,
                "by_sensitivity": defaultdict(int),
            },
        )
        entry["by_sensitivity"][row["sensitivity"]] += row["count"]
        entry["total"] += row["count"]
    for entry in countries.values():
        entry["by_sensitivity"] = {s: entry["by_sensitivity"].get(s, 0) for s in Sensitivity.values}
        entry["highest_sensitivity"] = highest_sensitivity(entry["by_sensitivity"])
    return sorted(countries.values(), key=lambda e: e["name"])


def highest_sensitivity(counts: dict[str, int]) -> str:
    """The most sensitive level present in a country, which decides its colour on the map."""
    present = [s for s in Sensitivity.values if counts.get(s)]
    return present[-1] if present else Sensitivity.PUBLIC


SUGGESTIONS = 10


def dataset_suggestions(text: str) -> list[dict[str, str]]:
    """Up to SUGGESTIONS datasets for a field being typed: slugs that start with the text
    first, then names or slugs that contain it; slug and name only (one small query each)."""
    text = text.strip()[:100]
    if len(text) < 2:
        return []
    rows = Dataset.objects.order_by("slug").values_list("slug", "name")
    found = list(rows.filter(slug__istartswith=text)[:SUGGESTIONS])
    if len(found) < SUGGESTIONS:
        seen = [slug for slug, _ in found]
        more = rows.filter(Q(name__icontains=text) | Q(slug__icontains=text)).exclude(slug__in=seen)
        found += list(more[: SUGGESTIONS - len(found)])
    return [{"slug": slug, "name": name} for slug, name in found]
