"""Breach drill pages: the drills and the form that starts one, a drill's report, its end."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.form_views import form_page
from monitoring.drills import selectors, services
from monitoring.drills.forms import DrillForm
from monitoring.drills.report import drill_report_current
from monitoring.models import BreachAssessment


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("monitoring.view_drill", raise_exception=True)
def drill_list(request: HttpRequest) -> HttpResponse:
    """Every drill with its outcome; officers start one here."""
    if request.method == "POST" and not request.user.has_perm("monitoring.add_drill"):
        raise PermissionDenied("Only privacy officers start breach drills")
    drills = list(selectors.drills_visible_to(request.user)[:100])
    rows = [(drill, drill_report_current(drill)) for drill in drills]
    return form_page(
        request,
        form_class=DrillForm,
        template="monitoring/drills/drill_list.html",
        context={"rows": rows, "may_start": request.user.has_perm("monitoring.add_drill")},
        act=lambda form: services.drill_start(
            actor=request.user,
            dataset=form.cleaned_data["dataset"],
            destination_region=form.cleaned_data["destination_region"].code,
            scenario=form.cleaned_data["scenario"],
        ),
        done=lambda drill: (
            f"Drill #{drill.pk} started: its incident is open and the officers are told.",
            reverse("monitoring:drill-detail", kwargs={"pk": drill.pk}),
        ),
    )


@require_safe
@login_required
@permission_required("monitoring.view_drill", raise_exception=True)
def drill_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A drill's report: the steps' times against the regime's clock."""
    drill = get_object_or_404(selectors.drills_visible_to(request.user), pk=pk)
    report = drill_report_current(drill)
    context = {
        "drill": drill,
        "report": report,
        "steps": _shown_steps(report),
        "due_at": _when(report["clock"]["due_at"]) if report.get("clock") else None,
        "assessment": BreachAssessment(report.get("breach_assessment", "not_assessed")).label,
        "may_complete": request.user.has_perm("monitoring.change_drill"),
    }
    return render(request, "monitoring/drills/drill_detail.html", context)


def _when(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def _shown_steps(report: dict) -> list[dict]:
    """The report's steps as the page shows them (times as datetimes, for the date filter)."""
    return [
        {**step, "name": name, "at": _when(step["at"])}
        for name, step in report.get("steps", {}).items()
    ]


@require_POST
@login_required
@permission_required("monitoring.change_drill", raise_exception=True)
def drill_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """End the drill: its report is frozen."""
    drill = get_object_or_404(selectors.drills_visible_to(request.user), pk=pk)
    try:
        services.drill_complete(actor=request.user, drill=drill)
    except ValidationError as error:
        for problems in error.message_dict.values():
            messages.error(request, " ".join(problems))
    else:
        messages.success(request, f"Drill #{drill.pk} completed: its report is kept.")
    return redirect("monitoring:drill-detail", pk=drill.pk)
