"""The catalog's pages: thin views over catalog.selectors (reads) and catalog.services (writes)."""

import copy
from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Field
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from catalog import dashboards, selectors, services
from catalog.errors import StateConflict
from catalog.forms import DatasetForm, DatasetPageFilter, add_service_error
from catalog.models import Dataset, DatasetChange, Sensitivity
from catalog.replicas import replica_view

PAGE_SIZE = 50
EMPTY = "—"
FIELD_LABELS = {"uri": "URI"}

can_view_catalog = permission_required("catalog.view_dataset", raise_exception=True)


@require_safe
@login_required
@can_view_catalog
@replica_view
def dataset_list(request: HttpRequest) -> HttpResponse:
    """The catalog, filtered and paginated."""
    queryset = selectors.dataset_queryset().order_by("name", "id")
    filterset = DatasetPageFilter(request.GET, queryset=queryset)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "catalog/dataset_list.html", {"filter": filterset, "page": page})


@require_safe
@login_required
@can_view_catalog
def dataset_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One dataset: its entry, its lineage and its history."""
    dataset = get_object_or_404(selectors.dataset_queryset(), slug=slug)
    context = {
        "dataset": dataset,
        "upstream": _lineage_edges(dataset, "upstream"),
        "downstream": _lineage_edges(dataset, "downstream"),
        "history": [_history_entry(change) for change in selectors.dataset_history(slug)],
        "can_change": services.can_change_dataset(request.user, dataset),
        "can_delete": services.can_delete_dataset(request.user, dataset),
    }
    return render(request, "catalog/dataset_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("catalog.add_dataset", raise_exception=True)
def dataset_create(request: HttpRequest) -> HttpResponse:
    """Register a dataset."""
    if request.method != "POST":
        return _render_form(request, DatasetForm(user=request.user))
    form = DatasetForm(request.POST, user=request.user)
    dataset = _submit(form, partial(services.dataset_create, actor=request.user))
    if dataset is None:
        return _render_form(request, form, status=400)
    messages.success(request, f"Registered {dataset.name}.")
    return redirect("catalog:dataset-detail", slug=dataset.slug)


@require_http_methods(["GET", "POST"])
@login_required
def dataset_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a dataset's entry (its owner or a privacy officer)."""
    dataset = get_object_or_404(selectors.dataset_queryset(), slug=slug)
    if not services.can_change_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may change it")
    # The form writes the posted values onto its instance while cleaning: keep the page's copy.
    instance = copy.copy(dataset)
    if request.method != "POST":
        return _render_form(request, DatasetForm(instance=instance, user=request.user), dataset)
    form = DatasetForm(request.POST, instance=instance, user=request.user)
    save = partial(services.dataset_update, actor=request.user, dataset=dataset)
    updated = _submit(form, save)
    if updated is None:
        return _render_form(request, form, dataset, status=400)
    messages.success(request, f"Saved {updated.name}.")
    return redirect("catalog:dataset-detail", slug=updated.slug)


@require_http_methods(["GET", "POST"])
@login_required
def dataset_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask, then remove a dataset from the catalog; its history stays."""
    dataset = get_object_or_404(Dataset, slug=slug)
    if not services.can_delete_dataset(request.user, dataset):
        raise PermissionDenied("Only the dataset's owner or a privacy officer may delete it")
    if request.method != "POST":
        return render(request, "catalog/dataset_confirm_delete.html", {"dataset": dataset})
    try:
        services.dataset_delete(actor=request.user, dataset=dataset)
    except StateConflict as exc:
        # Other records (runs, grants, requests) still point at it; they must go first.
        messages.error(request, f"{dataset.name} was not deleted: {exc.messages[0]}")
        return redirect("catalog:dataset-detail", slug=dataset.slug)
    messages.success(request, f"Deleted {dataset.name}. Its history is kept.")
    return redirect("catalog:dataset-list")


@require_safe
@login_required
@can_view_catalog
@replica_view
def data_map(request: HttpRequest) -> HttpResponse:
    """Where datasets are stored, by country and sensitivity, with the list's filters."""
    filterset = DatasetPageFilter(request.GET, queryset=Dataset.objects.all())
    rows = selectors.data_map(filterset.qs)
    context = {
        "filter": filterset,
        "figure": dashboards.data_map_figure(rows),
        "table": dashboards.data_map_table(rows),
        "total": sum(row["total"] for row in rows),
        "levels": Sensitivity.choices,
        "topojson_name": dashboards.TOPOJSON_NAME,
    }
    return render(request, "catalog/data_map.html", context)


def _render_form(
    request: HttpRequest, form: DatasetForm, dataset: Dataset | None = None, status: int = 200
) -> HttpResponse:
    context = {"form": form, "dataset": dataset}
    return render(request, "catalog/dataset_form.html", context, status=status)


def _submit(form: DatasetForm, save: Callable[..., Dataset]) -> Dataset | None:
    """Save a valid form through the service; its ValidationError lands on the form (→ None)."""
    if not form.is_valid():
        return None
    try:
        return save(**form.service_fields())
    except ValidationError as error:
        add_service_error(form, error)
        return None


def _lineage_edges(dataset: Dataset, direction: str) -> list[dict]:
    """The lineage edges on one side of a dataset, each with both of its ends' summaries."""
    graph = selectors.lineage_graph(dataset, direction=direction)
    nodes = {node["slug"]: node for node in graph["nodes"]}
    return [
        {
            "upstream": nodes[edge["upstream"]],
            "downstream": nodes[edge["downstream"]],
            "transformation": edge["transformation"],
        }
        for edge in graph["edges"]
    ]


def _history_entry(change: DatasetChange) -> dict:
    """One version: a creation's first values, or each changed field's before and after."""
    created = change.action == DatasetChange.Action.CREATED
    # A deletion's last values are those of the version before it.
    names = [] if change.action == DatasetChange.Action.DELETED else change.changed_fields
    before, after = change.before or {}, change.after or {}
    fields = [
        {
            "label": _field_label(name),
            "before": _shown(before.get(name)),
            "after": _shown(after.get(name)),
        }
        for name in names
        if not (created and _shown(after.get(name)) == EMPTY)
    ]
    return {"change": change, "created": created, "fields": fields}


def _field_label(name: str) -> str:
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    try:
        field = Dataset._meta.get_field(name)
    except FieldDoesNotExist:  # a field since removed from the model still has its history
        return name.replace("_", " ")
    # Snapshots name the dataset's own fields, never the other end of a relation.
    assert isinstance(field, Field), f"{name} is not one of the dataset's fields"
    return str(field.verbose_name)


def _shown(value) -> str:
    """A snapshot value as text: lists joined, nothing as a dash."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or EMPTY
    if value is None or value == "":
        return EMPTY
    return str(value)
