"""The retention page: what is due, overdue and held, paged; placing and lifting holds
(officers) and marking a run done (its owner). Thin: forms -> services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from catalog.form_views import form_page
from requests.models.retention import LegalHold
from requests.retention import holds, selectors, services
from requests.retention.forms import HoldPlaceForm, ReasonForm, RunDoneForm

PAGE_SIZE = 50
TABS = ("due", "overdue", "held", "done")
reads_retention = permission_required("workflows.view_retentionrun", raise_exception=True)
places_holds = permission_required("workflows.add_legalhold", raise_exception=True)


@require_safe
@login_required
@reads_retention
def retention_page(request: HttpRequest) -> HttpResponse:
    """One tab at a time: runs due, overdue or done, or the holds in force."""
    state = request.GET.get("state", "due")
    state = state if state in TABS else "due"
    now = timezone.now()
    rows: QuerySet[Any] = (
        selectors.holds_for(request.user, now)
        if state == "held"
        else selectors.runs_in_state(selectors.runs_for(request.user), state, now.date())
    )
    counts = selectors.counts(request.user, now)
    context = {
        "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "state": state,
        "tabs": [(name, counts.get(name)) for name in TABS],
        "can_hold": holds.may_hold(request.user),
        "today": now.date(),
    }
    return render(request, "requests/retention/retention.html", context)


def _back(message: str) -> tuple[str, str]:
    return message, reverse("workflows:retention")


@require_http_methods(["GET", "POST"])
@login_required
@places_holds
def hold_place(request: HttpRequest) -> HttpResponse:
    """A privacy officer places a legal hold on a dataset."""

    def act(form: HoldPlaceForm) -> LegalHold:
        return holds.legal_hold_place(actor=request.user, **form.cleaned_data)

    return form_page(
        request,
        form_class=HoldPlaceForm,
        template="requests/retention/form.html",
        act=act,
        done=lambda hold: _back(f"Hold placed on {hold.dataset.slug}: its retention waits."),
        context={"title": "Place a legal hold", "button": "Place hold"},
    )


@require_http_methods(["GET", "POST"])
@login_required
@places_holds
def hold_lift(request: HttpRequest, pk: int) -> HttpResponse:
    """A privacy officer lifts a hold, saying why."""
    hold = get_object_or_404(LegalHold.objects.select_related("dataset"), pk=pk)
    return form_page(
        request,
        form_class=ReasonForm,
        template="requests/retention/form.html",
        act=lambda form: holds.legal_hold_lift(
            actor=request.user, hold=hold, reason=form.cleaned_data["reason"]
        ),
        done=lambda lifted: _back(f"Hold on {lifted.dataset.slug} lifted."),
        context={
            "title": f"Lift the hold on {hold.dataset.slug}",
            "button": "Lift hold",
            "hold": hold,
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
@reads_retention
def run_done(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner (or an officer) says the records past retention are deleted."""
    run = selectors.runs_for(request.user).filter(pk=pk).first()
    if run is None or not services.may_complete(request.user, run):
        raise Http404
    return form_page(
        request,
        form_class=RunDoneForm,
        template="requests/retention/form.html",
        act=lambda form: services.retention_run_complete(
            actor=request.user, run=run, note=form.cleaned_data["note"]
        ),
        done=lambda done: _back(f"{done.dataset_slug}: retention run done."),
        context={
            "title": f"Retention of {run.dataset_slug}: mark done",
            "button": "Mark done",
            "run": run,
        },
    )
