"""Catalog gaps: the datasets telemetry and OpenLineage name that the catalog does not know,
and the one-step registration of one of them (its URI taken from the gap)."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from catalog.form_views import form_page
from catalog.forms import DatasetForm
from catalog.replicas import replica_view
from monitoring import selectors
from monitoring.lineage import services
from monitoring.lineage.selectors import gap_names
from monitoring.models import UnregisteredAsset
from monitoring.plans.services import PLAN_ACTOR_PREFIX

PAGE_SIZE = 50


def _suggested_names(ref: str, names: tuple[str, str] | None) -> dict:
    """A name and slug to start from: the last part of the OpenLineage name or of the URI."""
    tail = (names[1] if names else ref).rstrip("/").split("/")[-1] or ref
    slug = re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")[:100] or "dataset"
    return {"name": tail[:200], "slug": slug}


@require_safe
@login_required
@permission_required("monitoring.view_unregisteredasset", raise_exception=True)
@replica_view
def gap_list(request: HttpRequest) -> HttpResponse:
    """The catalog gaps, most recently seen first, with their OpenLineage namespace and name."""
    page = Paginator(selectors.gaps_visible_to(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    names = gap_names(list(page.object_list))
    rows = [(gap, names.get(gap.dataset_ref), _origin(gap)) for gap in page.object_list]
    context = {
        "page": page,
        "rows": rows,
        "can_register": request.user.has_perm("catalog.add_dataset"),
        "not_judged": selectors.runs_not_judged(request.user),
    }
    return render(request, "monitoring/gaps/gap_list.html", context)


def _origin(gap: UnregisteredAsset) -> str:
    """Where a gap not named by OpenLineage came from: a plan check, else telemetry."""
    return "Terraform plan" if gap.last_actor.startswith(PLAN_ACTOR_PREFIX) else "telemetry"


class GapDatasetForm(DatasetForm):
    """The dataset form without its URI: the gap's reference is what pipelines call it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["uri"]


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("monitoring.view_unregisteredasset", raise_exception=True)
@permission_required("catalog.add_dataset", raise_exception=True)
def gap_register(request: HttpRequest, pk: int) -> HttpResponse:
    """Register the dataset a gap names, its URI fixed to the gap's reference."""
    gap = get_object_or_404(selectors.gaps_visible_to(request.user), pk=pk)
    names = gap_names([gap]).get(gap.dataset_ref)
    return form_page(
        request,
        form_class=GapDatasetForm,
        template="monitoring/gaps/gap_register.html",
        form_kwargs={"user": request.user, "initial": _suggested_names(gap.dataset_ref, names)},
        context={"gap": gap, "names": names},
        act=lambda form: services.catalog_gap_register(
            actor=request.user, gap=gap, **form.service_fields()
        ),
        done=lambda dataset: (
            f"Registered {dataset.name}; the gap is closed.",
            reverse("catalog:dataset-detail", kwargs={"slug": dataset.slug}),
        ),
    )
