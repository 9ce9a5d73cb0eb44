"""Catalog gaps: the datasets telemetry and OpenLineage name that the catalog does not know,
and the one-step registration of one of them (its URI taken from the gap)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from catalog.forms import DatasetForm, add_service_error
from monitoring import lineage, selectors

PAGE_SIZE = 50


def _suggested_names(ref: str, names: tuple[str, str] | None) -> dict:
    """A name and slug to start from: the last part of the OpenLineage name or of the URI."""
    tail = (names[1] if names else ref).rstrip("/").split("/")[-1] or ref
    slug = re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")[:100] or "dataset"
    return {"name": tail[:200], "slug": slug}


@require_safe
@login_required
@permission_required("monitoring.view_unregisteredasset", raise_exception=True)
def gap_list(request: HttpRequest) -> HttpResponse:
    """The catalog gaps, most recently seen first, with their OpenLineage namespace and name."""
    page = Paginator(selectors.gaps_visible_to(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    names = lineage.gap_names(list(page.object_list))
    rows = [(gap, names.get(gap.dataset_ref)) for gap in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "can_register": request.user.has_perm("catalog.add_dataset"),
    }
    return render(request, "monitoring/gaps/gap_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("monitoring.view_unregisteredasset", raise_exception=True)
@permission_required("catalog.add_dataset", raise_exception=True)
def gap_register(request: HttpRequest, pk: int) -> HttpResponse:
    """Register the dataset a gap names, its URI fixed to the gap's reference."""
    gap = get_object_or_404(selectors.gaps_visible_to(request.user), pk=pk)
    names = lineage.gap_names([gap]).get(gap.dataset_ref)
    if request.method != "POST":
        form = DatasetForm(user=request.user, initial=_suggested_names(gap.dataset_ref, names))
        return _render_form(request, gap, names, _without_uri(form))
    form = _without_uri(DatasetForm(request.POST, user=request.user))
    if not form.is_valid():
        return _render_form(request, gap, names, form, status=400)
    try:
        dataset = lineage.catalog_gap_register(actor=request.user, gap=gap, **form.service_fields())
    except ValidationError as error:
        add_service_error(form, error)
        return _render_form(request, gap, names, form, status=400)
    messages.success(request, f"Registered {dataset.name}; the gap is closed.")
    return redirect("catalog:dataset-detail", slug=dataset.slug)


def _without_uri(form: DatasetForm) -> DatasetForm:
    del form.fields["uri"]  # the gap's reference: what pipelines call it
    return form


def _render_form(request, gap, names, form, status: int = 200) -> HttpResponse:
    context = {"gap": gap, "names": names, "form": form}
    return render(request, "monitoring/gaps/gap_register.html", context, status=status)
