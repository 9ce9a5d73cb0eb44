"""Risk pages: the executive, privacy-officer and data-owner dashboards.

Thin: figures come from monitoring.dashboards.figures over monitoring.dashboards.selectors
(rollups), lists from monitoring.selectors (permission-filtered); the queue's buttons post to
monitoring.incidents.views. Each
dashboard has a `.../data` twin that answers the same numbers as JSON, which the page's script
(static monitoring/risk.js) fetches when the risk stream says something changed.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_safe

from catalog.models import Country
from catalog.replicas import replica_view
from governance.roles import Role, has_role, roles_of
from monitoring import selectors
from monitoring.dashboards import figures as charts
from monitoring.dashboards import selectors as reads
from monitoring.dashboards.forms import DashboardFilterForm
from monitoring.incidents.forms import QueueFilterForm
from monitoring.models import AnomalyAlert, EventOutcome, Incident
from monitoring.telemetry.stream import stream_head

User = get_user_model()
QUEUE_SHOWN = 100
EXECUTIVE_CACHE_SECONDS = 30
ALERTS_SHOWN = 50
VIOLATIONS_SHOWN = 50


# --- Who sees which dashboard ---------------------------------------------------------------


def sees_everything(user) -> bool:
    """Executives, auditors, and privacy officers who answer for every jurisdiction."""
    return user.has_perm("monitoring.view_flowdaily") and selectors.visibility(user).everything


def handles_incidents(user) -> bool:
    return user.has_perm("monitoring.change_incident")


def owns_data(user) -> bool:
    return has_role(user, Role.DATA_OWNER)


def _require(check, user) -> None:
    if not check(user):
        raise PermissionDenied("Your role does not show this dashboard")


@login_required
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Where a person lands after signing in: executives and auditors on the Risk page,
    privacy officers on their queue, data owners on their datasets' risk, anyone else with a
    role on the catalog."""
    user = request.user
    for check, name in (
        (lambda u: has_role(u, Role.EXECUTIVE, Role.AUDITOR) and sees_everything(u), "executive"),
        (handles_incidents, "officer"),
        (owns_data, "owner"),
        (sees_everything, "executive"),
    ):
        if check(user):
            return redirect(f"monitoring:{name}")
    if not (user.is_superuser or roles_of(user)):
        raise PermissionDenied("Your account has no role yet: ask an administrator for one")
    return redirect("catalog:dataset-list")


# --- Executive ------------------------------------------------------------------------------


def _filter_form(request: HttpRequest) -> DashboardFilterForm:
    return DashboardFilterForm(request.GET or None, jurisdictions=reads.jurisdiction_choices())


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _country_names(rows: list[dict]) -> dict[str, str]:
    codes = {r["source_country"] for r in rows} | {r["destination_country"] for r in rows}
    return dict(Country.objects.filter(code__in=codes).values_list("code", "name"))


ARROWS = {"up": "▲", "down": "▼", "flat": "="}


def _delta(change: reads.Change, percent: bool = False) -> str:
    """The difference from the previous period: "▲ 1,204", "▼ 0.4 pts" or "= no change"."""
    if change["direction"] == "flat":
        return "= no change"
    size = abs(change["delta"])
    points = size * 100
    amount = f"{points:.{1 if points >= 0.1 else 2}f} pts" if percent else f"{size:,.0f}"
    return f"{ARROWS[change['direction']]} {amount}"


def _changes(changes: dict[str, reads.Change]) -> dict[str, dict[str, str]]:
    """Each change as the page shows it: the delta's text, its direction, the previous value."""
    shown = {}
    for name, item in changes.items():
        percent = name == "violation_share"
        before = _percent(item["before"]) if percent else f"{item['before']:,.0f}"
        shown[name] = {
            "text": _delta(item, percent),
            "direction": item["direction"],
            "before": before,
        }
    return shown


def _with_text(drivers: list[reads.Driver]) -> list[dict]:
    return [{**driver, "change_text": _delta(driver["change"])} for driver in drivers]


def executive_numbers(filters: reads.Filters) -> dict:
    """Every number and figure of the executive dashboard (pure reads of rollups and small
    tables; the same for the page and its JSON twin)."""
    trend = reads.daily_trend(filters)
    totals = {outcome: sum(counts) for outcome, counts in trend.items()}
    events = sum(totals.values())
    flows = reads.cross_border(filters)
    top = reads.top_datasets(filters)
    incidents = reads.open_incident_counts(filters)
    exceptions = reads.transfer_exceptions(filters)
    requests = reads.subject_requests(filters)
    changes = reads.period_changes(filters, open_now=incidents["incidents"])
    kpis = {
        "open_incidents": f"{selectors.open_incident_count(jurisdiction=filters.jurisdiction):,}",
        "open_violations": f"{incidents['violations']:,}",
        "regulator_overdue": f"{incidents['regulator_overdue']:,}",
        "events": f"{events:,}",
        "violations": f"{totals[EventOutcome.VIOLATION]:,}",
        "violation_share": _percent(totals[EventOutcome.VIOLATION] / events if events else None),
        "incidents_opened": f"{changes['incidents_opened']['now']:,.0f}",
        "catalog_gaps": f"{totals[EventOutcome.UNKNOWN_DATASET]:,}",
        "active_exceptions": f"{exceptions['active']:,}",
        "expiring_exceptions": f"{exceptions['expiring_count']:,}",
        "exceptions_awaiting": f"{reads.exceptions_awaiting_decision(filters):,}",
        "dsr_on_time": _percent(requests["rate"]),
        "dsr_overdue": f"{requests['overdue']:,}",
    }
    names = _country_names(flows)
    figures = {
        "trend": charts.trend_figure(filters.days, trend),
        "jurisdictions": charts.jurisdiction_map_figure(reads.risk_by_jurisdiction(filters)),
        "flows": charts.sankey_figure(flows, names),
        "top_datasets": charts.top_datasets_figure(top),
        "subject_requests": charts.subject_requests_figure(requests),
    }
    return {
        "kpis": kpis,
        "changes": _changes(changes),
        "drivers": {
            "jurisdictions": _with_text(reads.jurisdiction_drivers(filters)),
            "datasets": _with_text(reads.dataset_drivers(filters)),
        },
        "figures": figures,
        "exceptions": exceptions,
        "requests": requests,
        "top": top,
        "flows": [
            {
                **row,
                "source_name": names.get(row["source_country"], row["source_country"]),
                "destination_name": names.get(
                    row["destination_country"], row["destination_country"]
                ),
            }
            for row in flows[:20]
        ],
        "period_days": filters.length,
    }


def shared_executive_numbers(filters: reads.Filters, head: int) -> dict:
    """executive_numbers, computed once per filter set and stream head for every viewer.

    Every open dashboard refetches its numbers when the stream moves; keyed by the head, they
    are computed once per change, not once per viewer. (Transfer exceptions and subject
    requests do not move the stream: they may lag by EXECUTIVE_CACHE_SECONDS.)"""
    key = f"monitoring:risk:{filters.since}:{filters.until}:{filters.jurisdiction}:{head}"
    numbers = cache.get(key)
    if numbers is None:
        numbers = executive_numbers(filters)
        cache.set(key, numbers, EXECUTIVE_CACHE_SECONDS)
    return numbers


@login_required
@require_safe
@replica_view
def executive(request: HttpRequest) -> HttpResponse:
    """Risk at a glance: open violations and incidents, trend, map, flows, exceptions, DSRs."""
    _require(sees_everything, request.user)
    form = _filter_form(request)
    head = stream_head()
    numbers = shared_executive_numbers(form.filters(), head)
    context = {
        **numbers,
        "form": form,
        "filters": form.filters(),
        "head": head,
        "refresh_url": _with_query(reverse("monitoring:executive-data"), request),
        "topojson_name": charts.TOPOJSON_NAME,
    }
    return render(request, "monitoring/executive.html", context)


@login_required
@require_safe
@replica_view
def executive_data(request: HttpRequest) -> JsonResponse:
    """The executive dashboard's numbers and figures as JSON (the page's live refresh)."""
    _require(sees_everything, request.user)
    numbers = shared_executive_numbers(_filter_form(request).filters(), stream_head())
    table = render_to_string("monitoring/_flows_table.html", {"flows": numbers["flows"]})
    drivers = render_to_string("monitoring/_drivers.html", numbers, request=request)
    decisions = render_to_string("monitoring/_decisions.html", numbers, request=request)
    return JsonResponse(
        {
            "kpis": numbers["kpis"],
            "changes": numbers["changes"],
            "figures": numbers["figures"],
            "fragments": {"flows_table": table, "drivers": drivers, "decisions": decisions},
        }
    )


def _with_query(url: str, request: HttpRequest) -> str:
    query = request.GET.urlencode()
    return f"{url}?{query}" if query else url


# --- Privacy officer ------------------------------------------------------------------------

QUEUE_PER_PAGE = 25


def _queue_form(request: HttpRequest, people) -> QueueFilterForm:
    return QueueFilterForm(
        request.GET or None, jurisdictions=reads.jurisdiction_choices(), people=people
    )


class BadFilter(Exception):
    """A queue filter with a value it does not offer (a 400 naming the field)."""


def _queue_filters(form: QueueFilterForm) -> selectors.QueueFilters:
    if not form.is_bound:
        return selectors.QueueFilters()
    if not form.is_valid():
        field, problems = next(iter(form.errors.items()))
        raise BadFilter(f"{field}: {' '.join(str(p) for p in problems)}")
    return selectors.QueueFilters(**{k: v for k, v in form.cleaned_data.items() if v})


def officer_lists(request: HttpRequest) -> dict:
    """The queue (filtered, paged, worst first), open alerts and recent violations this officer
    may see, the people incidents may be handed to, and the open-incident count the Risk page
    shows too (monitoring.selectors.open_incident_count)."""
    user = request.user
    seen = selectors.visibility(user)
    officers = User.objects.filter(
        Q(groups__name=Role.PRIVACY_OFFICER) | Q(is_superuser=True), is_active=True
    ).distinct()
    assignees = list(officers.order_by("username").only("pk", "username", "first_name"))
    form = _queue_form(request, assignees)
    queue = selectors.incident_queue(seen, _queue_filters(form), me=user.pk)
    page = Paginator(queue, QUEUE_PER_PAGE).get_page(request.GET.get("page"))
    alerts = (
        selectors.alerts_visible_to(user, seen)
        .filter(status=AnomalyAlert.Status.OPEN)
        .order_by("-detected_at", "-id")[:ALERTS_SHOWN]
    )
    violations = selectors.violations_visible_to(user, seen).order_by("-occurred_at", "-id")
    return {
        "queue": list(page.object_list),
        "page": page,
        "queue_form": form,
        "open_incidents": selectors.open_incident_count(seen),
        "alerts": list(alerts),
        "violations": list(violations[:VIOLATIONS_SHOWN]),
        "assignees": assignees,
        "seen": seen,
        "here": request.get_full_path(),
    }


def _officer_kpis(context: dict) -> dict[str, str]:
    return {
        "queue": f"{context['open_incidents']:,}",
        "shown": f"{context['page'].paginator.count:,}",
        "alerts": f"{len(context['alerts']):,}",
    }


@login_required
@require_safe
def officer(request: HttpRequest) -> HttpResponse:
    """A privacy officer's queue: incidents to open, acknowledge and assign (one by one or
    ticked together), filtered and paged; it holds still while the stream runs (queue.js)."""
    _require(handles_incidents, request.user)
    try:
        context = officer_lists(request)
    except BadFilter as problem:
        return HttpResponseBadRequest(str(problem), content_type="text/plain")
    context |= {
        "kpis": _officer_kpis(context),
        "head": stream_head(),
        "refresh_url": _with_query(reverse("monitoring:officer-data"), request),
    }
    return render(request, "monitoring/officer.html", context)


@login_required
@require_safe
def officer_data(request: HttpRequest) -> JsonResponse:
    """The queue's parts re-rendered with the page's filters: the script swaps alerts and
    violations in, and the queue only when the officer asks for it ("n new — show")."""
    _require(handles_incidents, request.user)
    try:
        context = officer_lists(request)
    except BadFilter as problem:
        return JsonResponse({"errors": str(problem)}, status=400)
    fragments = {
        name: render_to_string(f"monitoring/_{name}.html", context, request=request)
        for name in ("queue", "alerts", "violations")
    }
    return JsonResponse({"kpis": _officer_kpis(context), "fragments": fragments})


# --- Data owner -----------------------------------------------------------------------------


def owner_numbers(user, filters: reads.Filters) -> dict:
    """A data owner's datasets: their flows, trend, violations and open incidents."""
    seen = selectors.visibility(user)
    mine = seen.dataset_ids
    trend = reads.daily_trend(filters, mine)
    totals = {outcome: sum(counts) for outcome, counts in trend.items()}
    flows = reads.cross_border(filters, mine)
    incidents = reads.open_incident_counts(filters, mine)
    changes = reads.period_changes(filters, mine, open_now=incidents["incidents"])
    kpis = {
        "datasets": f"{len(mine):,}",
        "events": f"{sum(totals.values()):,}",
        "violations": f"{totals[EventOutcome.VIOLATION]:,}",
        "open_incidents": f"{incidents['incidents']:,}",
    }
    figures = {
        "trend": charts.trend_figure(filters.days, trend),
        "flows": charts.sankey_figure(flows, _country_names(flows)),
        "top_datasets": charts.top_datasets_figure(reads.top_datasets(filters, mine)),
    }
    return {
        "kpis": kpis,
        "changes": _changes(changes),
        "drivers": {"datasets": _with_text(reads.dataset_drivers(filters, mine))},
        "figures": figures,
        "seen": seen,
        "period_days": filters.length,
    }


def owner_lists(user, seen) -> dict:
    violations = selectors.violations_visible_to(user, seen).filter(dataset_id__in=seen.dataset_ids)
    incidents = (
        Incident.objects.filter(dataset_id__in=seen.dataset_ids, drill__isnull=True)
        .exclude(status=Incident.Status.RESOLVED)
        .select_related("owner")
        .order_by("-last_violation_at", "-id")
    )
    return {
        "violations": list(violations.order_by("-occurred_at", "-id")[:VIOLATIONS_SHOWN]),
        "incidents": list(incidents[:QUEUE_SHOWN]),
    }


@login_required
@require_safe
@replica_view
def owner(request: HttpRequest) -> HttpResponse:
    """A data owner's view: the violations and flows of the datasets they own or steward."""
    _require(owns_data, request.user)
    form = _filter_form(request)
    numbers = owner_numbers(request.user, form.filters())
    context = {
        **numbers,
        **owner_lists(request.user, numbers["seen"]),
        "form": form,
        "head": stream_head(),
        "refresh_url": _with_query(reverse("monitoring:owner-data"), request),
    }
    return render(request, "monitoring/owner.html", context)


@login_required
@require_safe
@replica_view
def owner_data(request: HttpRequest) -> JsonResponse:
    _require(owns_data, request.user)
    numbers = owner_numbers(request.user, _filter_form(request).filters())
    context = owner_lists(request.user, numbers["seen"])
    fragments = {
        "violations": render_to_string("monitoring/_violations.html", context, request=request),
        "drivers": render_to_string("monitoring/_drivers.html", numbers, request=request),
    }
    return JsonResponse(
        {
            "kpis": numbers["kpis"],
            "changes": numbers["changes"],
            "figures": numbers["figures"],
            "fragments": fragments,
        }
    )
