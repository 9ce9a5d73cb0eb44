"""Pages of the engine's answers: the locality check, training runs and their footprint, and
the decision log of locality decisions.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods, require_safe

from catalog.models import Country
from catalog.replicas import replica_view
from governance.checks.forms import CheckForm, DecisionFilterForm, RunFilterForm
from governance.checks.selectors import run_footprint, training_runs
from governance.checks.services import CheckResult, locality_check
from governance.models import (
    LocalityDecision,
    Outcome,
    TrainingRun,
)
from governance.views import PAGE_SIZE, can_use_governance, page_number, recent_page

RUN_DECISIONS_SHOWN = 500


@require_safe
@login_required
@can_use_governance
@replica_view
def run_list(request: HttpRequest) -> HttpResponse:
    """Registered training runs with their verdicts, newest first."""
    form = RunFilterForm(request.GET)
    if not form.is_valid():
        context: dict[str, Any] = {"form": form, "page": None, "verdicts": _verdict_tabs("")}
        return render(request, "governance/run_list.html", context, status=400)
    verdict = form.cleaned_data["verdict"]
    runs = training_runs().order_by("-created_at", "-id")
    if verdict:
        runs = runs.filter(verdict=verdict)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    _attach_decision_counts(page.object_list)
    context = {"form": form, "page": page, "verdicts": _verdict_tabs(verdict)}
    return render(request, "governance/run_list.html", context)


def _verdict_tabs(current: str) -> list[dict]:
    return [
        {"value": value, "label": label, "current": value == current}
        for value, label in [("", "All"), *Outcome.choices]
    ]


def _attach_decision_counts(runs) -> None:
    """Each run's number of decisions and denials, in one query for the whole page."""
    counts: dict[int, Counter] = {run.pk: Counter() for run in runs}
    rows = (
        LocalityDecision.objects.filter(training_run_id__in=list(counts))
        .order_by()
        .values_list("training_run_id", "outcome")
        .annotate(count=Count("id"))
    )
    for run_id, outcome, count in rows:
        counts[run_id][outcome] += count
    for run in runs:
        run.decision_total = sum(counts[run.pk].values())
        run.decision_denied = counts[run.pk][Outcome.DENY]


@require_safe
@login_required
@can_use_governance
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run: inputs, compute regions, verdict, every decision, and the regions it touched."""
    run = get_object_or_404(training_runs(), pk=pk)
    footprint = run_footprint(run)
    total = sum(len(entry["decisions"]) for entry in footprint)
    context = {
        "run": run,
        "footprint": _footprint_rows(run, footprint),
        "decisions": run.decisions.order_by("id")[:RUN_DECISIONS_SHOWN],
        "decision_total": total,
        "decisions_hidden": max(0, total - RUN_DECISIONS_SHOWN),
    }
    return render(request, "governance/run_detail.html", context)


def _footprint_rows(run: TrainingRun, footprint: list[dict]) -> list[dict]:
    """Per region touched: counts by outcome and context, the datasets, and whether it was planned."""
    planned = {region.code for region in run.compute_regions.all()}
    countries = dict(
        Country.objects.filter(code__in={e["country"] for e in footprint}).values_list(
            "code", "name"
        )
    )
    rows = []
    for entry in footprint:
        decisions = entry["decisions"]
        outcomes = Counter(d["outcome"] for d in decisions)
        contexts = Counter(d["context"] for d in decisions)
        rows.append(
            {
                "region": entry["region"],
                "country": entry["country"],
                "country_name": countries.get(entry["country"], entry["country"]),
                "planned": entry["region"] in planned,
                "total": len(decisions),
                "allow": outcomes[Outcome.ALLOW],
                "allow_with_grant": outcomes[Outcome.ALLOW_WITH_GRANT],
                "deny": outcomes[Outcome.DENY],
                "plans": contexts[LocalityDecision.Context.TRAINING_PLAN],
                "reads": contexts[LocalityDecision.Context.TRAINING_READ],
                "datasets": sorted({d["dataset"] for d in decisions}),
                "grants": sorted({d["grant"] for d in decisions if d["grant"]}),
                "worst": _worst(outcomes),
            }
        )
    return rows


def _worst(outcomes: Counter) -> str:
    for outcome in (Outcome.DENY, Outcome.ALLOW_WITH_GRANT):
        if outcomes[outcome]:
            return outcome
    return Outcome.ALLOW


@require_safe
@login_required
@can_use_governance
@replica_view
def decision_list(request: HttpRequest) -> HttpResponse:
    """The engine's recent answers, newest first, filtered by outcome, dataset, region, context."""
    form = DecisionFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request, "governance/decision_list.html", {"form": form, "page": None}, status=400
        )
    decisions = LocalityDecision.objects.filter(**form.filters()).order_by("-id")
    page = recent_page(decisions, page_number(request.GET.get("page")))
    context = {"form": form, "page": page, "filtered": bool(form.filters())}
    return render(request, "governance/decision_list.html", context)


@require_safe
@login_required
@can_use_governance
def decision_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One decision, as it was given."""
    decision = get_object_or_404(
        LocalityDecision.objects.select_related("training_run", "grant"), pk=pk
    )
    return render(request, "governance/decision_detail.html", {"decision": decision})


@require_http_methods(["GET", "POST"])
@login_required
@can_use_governance
def check(request: HttpRequest) -> HttpResponse:
    """Ask the policy engine one question; the answer is recorded like any other."""
    if request.method != "POST":
        fields = CheckForm.base_fields
        initial = {name: value for name, value in request.GET.items() if name in fields}
        return _render_check(request, CheckForm(initial=initial))
    form = CheckForm(request.POST)
    if not form.is_valid():
        return _render_check(request, form, status=400)
    (result,) = locality_check(actor=request.user, checks=[form.to_check()])
    if result.errors:
        for field, errors in result.errors.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_check(request, form, status=400)
    return _render_check(request, form, result)


def _render_check(
    request: HttpRequest,
    form: CheckForm,
    result: CheckResult | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {"form": form, "result": result}
    return render(request, "governance/check.html", context, status=status)
