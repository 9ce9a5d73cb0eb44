"""Governance pages: thin views over governance.selectors (reads) and governance.services (writes).

Every page needs a Locus role (governance.view_localitydecision); writing rules and grants
needs a privacy officer's permissions, which the services check again.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, CharField, Count, Prefetch, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from catalog.form_views import form_page
from catalog.forms import add_service_error
from catalog.models import Country, Dataset, Jurisdiction, Region, Sensitivity
from governance import selectors, services
from governance.forms import (
    GRANT_STATUSES,
    AdequacyWhatIfForm,
    CheckForm,
    DecisionFilterForm,
    GrantStatusForm,
    LocalityRuleForm,
    RevokeForm,
    RunFilterForm,
    TransferGrantForm,
)
from governance.models import (
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Outcome,
    TrainingRun,
    TrainingRunDataset,
    TransferGrant,
)
from governance.policy.facts import RuleFacts
from governance.policy.index import load_rules

PAGE_SIZE = 50
MAX_PAGE = 10_000
REPLAY_DAYS = 30
FLIPS_SHOWN = 200
RUN_DECISIONS_SHOWN = 500
GRANT_DECISIONS_SHOWN = 20
EMPTY = "—"
PREVIEW = "preview"

can_use_governance = permission_required("governance.view_localitydecision", raise_exception=True)
can_edit_rules = permission_required("governance.change_localityrule", raise_exception=True)


@login_required
def home(request):
    """Everyone starts at the catalog until the dashboards exist."""
    return redirect("catalog:dataset-list")


# --- Locality rules -------------------------------------------------------------------------


def _rules() -> QuerySet[LocalityRule]:
    """Rules with everything the list and the detail show, in a fixed number of queries."""
    return LocalityRule.objects.select_related(
        "jurisdiction", "category", "dataset"
    ).prefetch_related(
        Prefetch("regions", Region.objects.order_by("code")),
        Prefetch("countries", Country.objects.order_by("code")),
    )


@require_safe
@login_required
@can_use_governance
def rule_list(request: HttpRequest) -> HttpResponse:
    """The privacy officers' locality rules, highest priority first."""
    page = Paginator(_rules().order_by("-priority", "id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "can_edit": _may_edit_rules(request.user)}
    return render(request, "governance/rule_list.html", context)


@require_safe
@login_required
@can_use_governance
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One rule and its version history (which outlives the rule)."""
    rule = _rules().filter(pk=pk).first()
    versions = list(LocalityRuleVersion.objects.filter(rule_ref=pk).order_by("version"))
    if rule is None and not versions:
        raise Http404("No such locality rule")
    context = {
        "rule": rule,
        "rule_id": pk,
        "history": _rule_history(versions),
        "last_version": versions[-1] if versions else None,
        "can_edit": _may_edit_rules(request.user),
    }
    return render(request, "governance/rule_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@can_edit_rules
def rule_create(request: HttpRequest) -> HttpResponse:
    """Write a new rule, or preview what it would change without saving it."""
    if request.method != "POST":
        return _render_rule_form(request, LocalityRuleForm())
    form = LocalityRuleForm(request.POST)
    return _submit_rule(request, form, None, partial(services.rule_create, actor=request.user))


@require_http_methods(["GET", "POST"])
@login_required
@can_edit_rules
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a rule (a new version), or preview the change without saving it."""
    rule = get_object_or_404(_rules(), pk=pk)
    if request.method != "POST":
        return _render_rule_form(request, LocalityRuleForm(instance=rule), rule)
    # The form writes the posted values onto its instance while cleaning: keep the page's rule.
    form = LocalityRuleForm(request.POST, instance=copy.copy(rule))
    save = partial(services.rule_update, actor=request.user, rule=rule)
    return _submit_rule(request, form, rule, save)


@require_http_methods(["GET", "POST"])
@login_required
@can_edit_rules
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask (optionally previewing the impact), then remove a rule; its history stays."""
    rule = get_object_or_404(_rules(), pk=pk)
    impact = None
    if request.method == "POST":
        if request.POST.get("intent") == PREVIEW:
            impact = _impact([r for r in load_rules() if r.id != rule.pk], rule.pk)
        else:
            services.rule_delete(actor=request.user, rule=rule)
            messages.success(request, f"Deleted rule {rule.name!r}. Its history is kept.")
            return redirect("governance:rule-list")
    context = {"rule": rule, "impact": impact, "replay_days": REPLAY_DAYS}
    return render(request, "governance/rule_confirm_delete.html", context)


def _may_edit_rules(user) -> bool:
    return user.has_perm("governance.change_localityrule")


def _submit_rule(
    request: HttpRequest,
    form: LocalityRuleForm,
    rule: LocalityRule | None,
    save: Callable[..., LocalityRule],
) -> HttpResponse:
    """Preview or save a posted rule; a service's ValidationError lands on the form (400)."""
    if not form.is_valid():
        return _render_rule_form(request, form, rule, status=400)
    if request.POST.get("intent") == PREVIEW:
        preview = {
            "impact": _impact(form.proposed_rules(), rule.pk if rule else 0),
            "conflicts": form.conflicts(),
        }
        return _render_rule_form(request, form, rule, preview=preview)
    try:
        saved = save(**form.service_fields())
    except ValidationError as error:
        add_service_error(form, error)
        return _render_rule_form(request, form, rule, status=400)
    messages.success(request, f"Saved rule {saved.name!r} (version {saved.version}).")
    return redirect("governance:rule-detail", pk=saved.pk)


def _render_rule_form(
    request: HttpRequest,
    form: LocalityRuleForm,
    rule: LocalityRule | None = None,
    *,
    preview: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {"form": form, "rule": rule, "preview": preview, "replay_days": REPLAY_DAYS}
    return render(request, "governance/rule_form.html", context, status=status)


def _impact(proposed: list[RuleFacts], proposal_id: int | None) -> dict:
    """What a proposed rule set would flip among the recorded decisions, ready for a template."""
    result = selectors.replay(proposed, days=REPLAY_DAYS)
    names = dict(Jurisdiction.objects.values_list("code", "name"))
    proposed_rule = f"rule:{proposal_id}" if proposal_id is not None else None
    flips = [
        {**flip, "by_proposal": flip["after"]["rule"] == proposed_rule}
        for flip in result["flips"][:FLIPS_SHOWN]
    ]
    return {
        "replayed": result["replayed"],
        "flipped": result["flipped"],
        "days": result["days"],
        "datasets": _flip_rows(result["by_dataset"]),
        "jurisdictions": [
            {**row, "name": names.get(row["key"], row["key"])}
            for row in _flip_rows(result["by_jurisdiction"])
        ],
        "flips": flips,
        "more": result["flipped"] - len(flips),
    }


def _flip_rows(counts: dict[str, dict[str, int]]) -> list[dict]:
    return [
        {
            "key": key,
            "allow_to_deny": kinds.get("allow_to_deny", 0),
            "deny_to_allow": kinds.get("deny_to_allow", 0),
        }
        for key, kinds in counts.items()
    ]


# Rule history: what each version changed.

SNAPSHOT_FIELDS = {
    "name": "Name",
    "description": "Description",
    "effect": "Effect",
    "jurisdiction": "Jurisdiction",
    "sensitivity": "Sensitivity",
    "category": "Personal data category",
    "dataset": "Dataset",
    "actions": "Actions",
    "regions": "Regions",
    "countries": "Countries",
    "priority": "Priority",
    "enabled": "Enabled",
}


def _rule_history(versions: list[LocalityRuleVersion]) -> list[dict]:
    """Each version (newest first) with the fields it changed from the version before it."""
    entries, previous = [], None
    for version in versions:
        entries.append(_history_entry(version, previous))
        previous = version.snapshot or {}
    return entries[::-1]


def _history_entry(version: LocalityRuleVersion, previous: dict | None) -> dict:
    snapshot = version.snapshot or {}
    created = previous is None or version.action == "created"
    if version.action == "deleted":
        names = []
    elif created:
        names = [name for name in SNAPSHOT_FIELDS if _shown(name, snapshot.get(name)) != EMPTY]
    else:
        names = [name for name in SNAPSHOT_FIELDS if snapshot.get(name) != previous.get(name)]
    fields = [
        {
            "label": SNAPSHOT_FIELDS[name],
            "before": _shown(name, (previous or {}).get(name)),
            "after": _shown(name, snapshot.get(name)),
        }
        for name in names
    ]
    return {"version": version, "created": created, "fields": fields}


def _shown(name: str, value) -> str:
    """A snapshot value as people read it."""
    if name == "enabled" and value is not None:
        return "Yes" if value else "No"
    if name == "effect" and value in LocalityRule.Effect.values:
        return LocalityRule.Effect(value).label
    if name == "sensitivity" and value in Sensitivity.values:
        return Sensitivity(value).label
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or EMPTY
    if value is None or value == "":
        return EMPTY
    return str(value)


# --- Transfer grants ------------------------------------------------------------------------


def _grant_status(now) -> Case:
    """A grant's state at `now`, computed by the database so that tabs can filter on it."""
    return Case(
        When(revoked_at__isnull=False, then=Value("revoked")),
        When(valid_from__gt=now, then=Value("upcoming")),
        When(valid_until__lte=now, then=Value("expired")),
        default=Value("active"),
        output_field=CharField(),
    )


def _grants(now) -> QuerySet[TransferGrant]:
    return (
        TransferGrant.objects.select_related("purpose", "revoked_by")
        .prefetch_related(
            Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
            Prefetch("destination_regions", Region.objects.order_by("code")),
        )
        .annotate(status=_grant_status(now))
    )


@require_safe
@login_required
@can_use_governance
def grant_list(request: HttpRequest) -> HttpResponse:
    """Transfer grants by state: active, upcoming, expired, revoked."""
    now = timezone.now()
    form = GrantStatusForm(request.GET)
    valid = form.is_valid()
    status = form.chosen() if valid else "active"
    grants = _grants(now).order_by("-valid_from", "-id")
    if status != "all":
        grants = grants.filter(status=status)
    counts = dict(
        TransferGrant.objects.annotate(status=_grant_status(now))
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    tabs = [
        {
            "value": value,
            "label": label,
            "count": sum(counts.values()) if value == "all" else counts.get(value, 0),
            "current": value == status,
        }
        for value, label in GRANT_STATUSES
    ]
    context = {
        "form": form,
        "tabs": tabs,
        "status": status,
        "page": Paginator(grants, PAGE_SIZE).get_page(request.GET.get("page")) if valid else None,
        "can_create": request.user.has_perm("governance.add_transfergrant"),
    }
    return render(request, "governance/grant_list.html", context, status=200 if valid else 400)


@require_safe
@login_required
@can_use_governance
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One grant: what it lets go where, until when; the decisions that relied on it."""
    grant = get_object_or_404(_grants(timezone.now()), pk=pk)
    return _render_grant(request, grant, RevokeForm())


def _render_grant(
    request: HttpRequest, grant: TransferGrant, revoke_form: RevokeForm, status: int = 200
) -> HttpResponse:
    decisions = LocalityDecision.objects.filter(grant_id=grant.pk).order_by("-id")
    context = {
        "grant": grant,
        "decisions": decisions[:GRANT_DECISIONS_SHOWN],
        "revoke_form": revoke_form,
        "can_revoke": grant.revoked_at is None
        and request.user.has_perm("governance.change_transfergrant"),
    }
    return render(request, "governance/grant_detail.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.add_transfergrant", raise_exception=True)
def grant_create(request: HttpRequest) -> HttpResponse:
    """Record a transfer grant; the engine honours it from its start."""
    return form_page(
        request,
        form_class=TransferGrantForm,
        template="governance/grant_form.html",
        act=lambda form: services.grant_create(actor=request.user, **form.service_fields()),
        done=lambda grant: (
            f"Created transfer grant #{grant.pk}.",
            reverse("governance:grant-detail", args=[grant.pk]),
        ),
    )


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.change_transfergrant", raise_exception=True)
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """End a grant now, with a reason; the engine stops honouring it at once."""
    grant = get_object_or_404(_grants(timezone.now()), pk=pk)
    return form_page(
        request,
        form_class=RevokeForm,
        template="governance/grant_revoke.html",
        context={"grant": grant},
        act=lambda form: services.grant_revoke(
            actor=request.user, grant=grant, reason=form.cleaned_data["reason"]
        ),
        done=lambda _: (
            f"Revoked transfer grant #{grant.pk}.",
            reverse("governance:grant-detail", args=[grant.pk]),
        ),
    )


# --- Training runs ----------------------------------------------------------------------------


def _runs() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("purpose").prefetch_related(
        Prefetch("compute_regions", Region.objects.select_related("country").order_by("code")),
        Prefetch("inputs", TrainingRunDataset.objects.select_related("dataset").order_by("id")),
    )


@require_safe
@login_required
@can_use_governance
def run_list(request: HttpRequest) -> HttpResponse:
    """Registered training runs with their verdicts, newest first."""
    form = RunFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "page": None, "verdicts": _verdict_tabs("")}
        return render(request, "governance/run_list.html", context, status=400)
    verdict = form.cleaned_data["verdict"]
    runs = _runs().order_by("-created_at", "-id")
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
    run = get_object_or_404(_runs(), pk=pk)
    footprint = selectors.run_footprint(run)
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


# --- Decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecentPage:
    """A page of a log too large to count: previous and next, no total."""

    number: int
    object_list: list
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _page_number(value: str | None) -> int:
    return min(int(value), MAX_PAGE) if value and value.isdigit() and int(value) > 0 else 1


def recent_page(queryset: QuerySet, number: int, size: int = PAGE_SIZE) -> RecentPage:
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return RecentPage(number, rows[:size], len(rows) > size)


@require_safe
@login_required
@can_use_governance
def decision_list(request: HttpRequest) -> HttpResponse:
    """The engine's recent answers, newest first, filtered by outcome, dataset, region, context."""
    form = DecisionFilterForm(request.GET)
    if not form.is_valid():
        return render(
            request, "governance/decision_list.html", {"form": form, "page": None}, status=400
        )
    decisions = LocalityDecision.objects.filter(**form.filters()).order_by("-id")
    page = recent_page(decisions, _page_number(request.GET.get("page")))
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


# --- The locality check and the adequacy what-if -------------------------------------------------


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
    (result,) = services.locality_check(actor=request.user, checks=[form.to_check()])
    if result.errors:
        for field, errors in result.errors.items():
            form.add_error(field if field in form.fields else None, errors)
        return _render_check(request, form, status=400)
    return _render_check(request, form, result)


def _render_check(
    request: HttpRequest,
    form: CheckForm,
    result: services.CheckResult | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {"form": form, "result": result}
    return render(request, "governance/check.html", context, status=status)


@require_safe
@login_required
@can_use_governance
def what_if(request: HttpRequest) -> HttpResponse:
    """If an adequacy decision fell on a day: which datasets, training runs and grants it affects."""
    if not any(name in request.GET for name in AdequacyWhatIfForm.base_fields):
        return _render_what_if(request, AdequacyWhatIfForm())
    form = AdequacyWhatIfForm(request.GET)
    if not form.is_valid():
        return _render_what_if(request, form, status=400)
    result = selectors.adequacy_what_if(**form.selector_arguments())
    return _render_what_if(request, form, result)


def _render_what_if(
    request: HttpRequest, form: AdequacyWhatIfForm, result: dict | None = None, status: int = 200
) -> HttpResponse:
    context = {"form": form, "result": result}
    return render(request, "governance/what_if.html", context, status=status)
