"""Pages of the policy's house rules: locality rules (list, history, write with a preview of
what would flip) and the adequacy what-if.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from catalog.forms import add_service_error
from catalog.models import Sensitivity
from catalog.replicas import replica_view
from governance.models import (
    LocalityRule,
    LocalityRuleVersion,
)
from governance.policy import coverage, rules
from governance.policy.facts import RuleFacts
from governance.policy.forms import AdequacyWhatIfForm, LocalityRuleForm
from governance.policy.index import load_rules
from governance.policy.selectors import (
    REPLAY_DAYS,
    adequacy_what_if,
    locality_rules,
    replay,
    replay_shown,
)
from governance.views import PAGE_SIZE, can_use_governance

EMPTY = "—"
PREVIEW = "preview"

can_edit_rules = permission_required("governance.change_localityrule", raise_exception=True)


@require_safe
@login_required
@can_use_governance
@replica_view
def rule_list(request: HttpRequest) -> HttpResponse:
    """The privacy officers' locality rules, highest priority first."""
    page = Paginator(locality_rules().order_by("-priority", "id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "can_edit": _may_edit_rules(request.user)}
    return render(request, "governance/rule_list.html", context)


@require_safe
@login_required
@can_use_governance
def rule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One rule and its version history (which outlives the rule)."""
    rule = locality_rules().filter(pk=pk).first()
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
    return _submit_rule(request, form, None, partial(rules.rule_create, actor=request.user))


@require_http_methods(["GET", "POST"])
@login_required
@can_edit_rules
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a rule (a new version), or preview the change without saving it."""
    rule = get_object_or_404(locality_rules(), pk=pk)
    if request.method != "POST":
        return _render_rule_form(request, LocalityRuleForm(instance=rule), rule)
    # The form writes the posted values onto its instance while cleaning: keep the page's rule.
    form = LocalityRuleForm(request.POST, instance=copy.copy(rule))
    save = partial(rules.rule_update, actor=request.user, rule=rule)
    return _submit_rule(request, form, rule, save)


@require_http_methods(["GET", "POST"])
@login_required
@can_edit_rules
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask (optionally previewing the impact), then remove a rule; its history stays."""
    rule = get_object_or_404(locality_rules(), pk=pk)
    impact = None
    if request.method == "POST":
        if request.POST.get("intent") == PREVIEW:
            impact = _impact([r for r in load_rules() if r.id != rule.pk], rule.pk)
        else:
            rules.rule_delete(actor=request.user, rule=rule)
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
    proposed_rule = f"rule:{proposal_id}" if proposal_id is not None else None
    return replay_shown(replay(proposed, days=REPLAY_DAYS), proposed_rule)


# Rule history: what each version changed.

SNAPSHOT_FIELDS = {
    "name": "Name",
    "description": "Description",
    "effect": "Effect",
    "jurisdiction": "Jurisdiction",
    "sensitivity": "Sensitivity",
    "category": "Personal data category",
    "term": "Glossary term",
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
        before = previous or {}  # not None here: `created` covers the first version
        names = [name for name in SNAPSHOT_FIELDS if snapshot.get(name) != before.get(name)]
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
    result = adequacy_what_if(**form.selector_arguments())
    return _render_what_if(request, form, result)


def _render_what_if(
    request: HttpRequest, form: AdequacyWhatIfForm, result: dict | None = None, status: int = 200
) -> HttpResponse:
    context = {"form": form, "result": result}
    return render(request, "governance/what_if.html", context, status=status)


@require_safe
@login_required
@can_use_governance
def legal_coverage_page(request: HttpRequest) -> HttpResponse:
    """What Locus encodes of each jurisdiction's law, with citations; one jurisdiction's detail
    (every fact, and the destinations its law recognises) with ?jurisdiction=<code>."""
    rows = coverage.legal_coverage()
    chosen = request.GET.get("jurisdiction", "")
    detail = next((row for row in rows if row.code == chosen), None)
    if chosen and detail is None:
        raise Http404("No such jurisdiction")
    context = {
        "rows": rows,
        "detail": detail,
        "recognised": coverage.recognised_destinations(chosen) if detail else [],
    }
    return render(request, "governance/legal_coverage.html", context)
