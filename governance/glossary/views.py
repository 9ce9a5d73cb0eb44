"""Glossary pages: thin views over governance.glossary (its selectors read, its services write).

Every page needs a Locus role (governance.view_term); proposing and reviewing need more, which
the services check (a PermissionDenied becomes the 403 page, with its reason).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.errors import StateConflict
from catalog.form_views import form_page
from catalog.replicas import replica_view
from governance.glossary import content, selectors, services
from governance.glossary.forms import (
    STATUS_TABS,
    DeprecateForm,
    GlossarySearchForm,
    RejectForm,
    ReviewForm,
    TermForm,
)
from governance.models import Term, TermRevision, TermStatus, TermVersion
from governance.policy.selectors import replay_shown

PAGE_SIZE = 50
EMPTY = "—"
FIELD_LABELS = {
    "name": "Name",
    "definition": "Definition",
    "categories": "Categories (for rules)",
    "synonyms": "Synonyms",
    "related": "Related terms",
    "steward": "Steward",
    "datasets": "Datasets",
    "rules": "Locality rules",
}

TERM_FORM = "governance/glossary/term_form.html"
can_read_glossary = permission_required("governance.view_term", raise_exception=True)


@require_safe
@login_required
@can_read_glossary
@replica_view
def glossary_list(request: HttpRequest) -> HttpResponse:
    """The glossary: search, and terms by status."""
    form = GlossarySearchForm(request.GET)
    valid = form.is_valid()
    query = form.cleaned_data.get("q", "") if valid else ""
    status = form.cleaned_data.get("status", "") if valid else ""
    found = selectors.term_search(selectors.terms(), query)
    if status:
        found = found.filter(status=status)
    counts = selectors.status_counts()
    tabs = [
        {
            "value": value,
            "label": label,
            "count": counts.get(value, 0) if value else sum(counts.values()),
            "current": value == status,
        }
        for value, label in STATUS_TABS
    ]
    context = {
        "form": form,
        "tabs": tabs,
        "query": query,
        "page": Paginator(found, PAGE_SIZE).get_page(request.GET.get("page")) if valid else None,
        "can_create": request.user.has_perm("governance.add_term"),
    }
    return render(
        request, "governance/glossary/term_list.html", context, status=200 if valid else 400
    )


@require_safe
@login_required
@can_read_glossary
def glossary_term(request: HttpRequest, slug: str) -> HttpResponse:
    """A term's stable page: its text, links, history, and proposals awaiting review."""
    term = get_object_or_404(selectors.terms(), slug=slug)
    return _render_term(request, term)


def _render_term(
    request: HttpRequest,
    term: Term,
    *,
    reject_form: RejectForm | None = None,
    error: ValidationError | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    proposal = selectors.open_proposal(term)
    current = content.term_snapshot(term)
    replayed = (
        selectors.proposal_replay(term, proposal)
        if user.has_perm("governance.view_localitydecision")
        else None
    )
    context = {
        "replay": replayed,
        "impact": replay_shown(replayed) if replayed and replayed["rules"] else None,
        "term": term,
        "proposal": proposal,
        "proposal_changes": _changes(current, proposal.proposed) if proposal else [],
        "history": _history(list(selectors.term_versions(term).order_by("version"))),
        "decided": [p for p in selectors.term_proposals(term) if p.status != "proposed"],
        "can_review": selectors.may_review(user, proposal),
        "is_proposer": proposal is not None and proposal.proposer_id == user.pk,
        "can_edit": selectors.may_edit(user, term),
        "can_submit": term.status == TermStatus.DRAFT and selectors.may_edit(user, term),
        "can_deprecate": term.status == TermStatus.APPROVED
        and user.has_perm("governance.deprecate_term"),
        "review_form": ReviewForm(initial={"proposal": proposal.pk if proposal else None}),
        "reject_form": reject_form
        or RejectForm(initial={"proposal": proposal.pk if proposal else None}),
        "error": error,
    }
    return render(request, "governance/glossary/term_detail.html", context, status=status)


def _changes(before: dict, after: dict) -> list[dict]:
    """The fields a proposal or a version changed, as people read them."""
    return [
        {"label": label, "before": _shown(before.get(name)), "after": _shown(after.get(name))}
        for name, label in FIELD_LABELS.items()
        if _shown(before.get(name)) != _shown(after.get(name))
    ]


def _shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value) or EMPTY
    return EMPTY if value in (None, "") else str(value)


def _history(versions: list[TermVersion]) -> list[dict]:
    """Each published version (newest first) with what it changed from the one before."""
    entries, previous = [], None
    for version in versions:
        changes = _changes(previous or {}, version.snapshot) if version.action == "approved" else []
        entries.append({"version": version, "first": previous is None, "changes": changes})
        previous = version.snapshot
    return entries[::-1]


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.add_term", raise_exception=True)
def glossary_create(request: HttpRequest) -> HttpResponse:
    """Write a new term as a draft."""
    return form_page(
        request,
        form_class=TermForm,
        template=TERM_FORM,
        context={"term": None, "proposing": False},
        act=lambda form: services.term_create(
            actor=request.user, note=form.cleaned_data["note"], **form.service_fields()
        ),
        done=lambda term: (
            f"Saved the draft of {term.name!r}. Submit it for review when ready.",
            reverse("governance:glossary-term", args=[term.slug]),
        ),
    )


@require_http_methods(["GET", "POST"])
@login_required
@can_read_glossary
def glossary_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Edit a draft in place, or propose a change to an approved term."""
    term = get_object_or_404(selectors.terms(), slug=slug)
    refusal = selectors.edit_refusal(request.user, term)
    if refusal:
        raise PermissionDenied(refusal)
    return form_page(
        request,
        form_class=TermForm,
        template=TERM_FORM,
        context={"term": term, "proposing": term.status == TermStatus.APPROVED},
        form_kwargs={"initial": TermForm.initial_for(term)},
        act=lambda form: services.term_change(
            actor=request.user, term=term, note=form.cleaned_data["note"], **form.service_fields()
        ),
        done=lambda result: (_changed(result), reverse("governance:glossary-term", args=[slug])),
    )


def _changed(result: Term | TermRevision) -> str:
    if isinstance(result, TermRevision):
        return "Proposed the change; the term keeps its text until approved."
    return f"Saved the draft of {result.name!r}."


@require_POST
@login_required
@can_read_glossary
def glossary_submit(request: HttpRequest, slug: str) -> HttpResponse:
    """Send a draft for review."""
    term = get_object_or_404(Term, slug=slug)
    return _act(request, term, "Submitted for review.", services.term_submit)


@require_POST
@login_required
@can_read_glossary
def glossary_withdraw(request: HttpRequest, slug: str) -> HttpResponse:
    """The proposer takes their proposal back."""
    term = get_object_or_404(Term, slug=slug)
    return _act(request, term, "Withdrew the proposal.", services.term_withdraw)


@require_POST
@login_required
@can_read_glossary
def glossary_approve(request: HttpRequest, slug: str) -> HttpResponse:
    """Publish the open proposal (never one's own)."""
    term = get_object_or_404(Term, slug=slug)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return _render_term(request, term, error=ValidationError(form.errors.as_data()), status=400)
    return _act(
        request, term, "Approved and published.", services.term_approve, **form.cleaned_data
    )


@require_POST
@login_required
@can_read_glossary
def glossary_reject(request: HttpRequest, slug: str) -> HttpResponse:
    """Turn the open proposal down, saying why."""
    term = get_object_or_404(selectors.terms(), slug=slug)
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _render_term(request, term, reject_form=form, status=400)
    return _act(request, term, "Rejected the proposal.", services.term_reject, **form.cleaned_data)


def _act(request: HttpRequest, term: Term, done: str, service, **arguments) -> HttpResponse:
    """Run one workflow step; a refusal shows on the term's page (400, or 409 when the term's
    state does not allow it or it changed meanwhile)."""
    try:
        service(actor=request.user, term=term, **arguments)
    except ValidationError as error:
        term = get_object_or_404(selectors.terms(), pk=term.pk)
        status = 409 if isinstance(error, StateConflict) else 400
        return _render_term(request, term, error=error, status=status)
    messages.success(request, done)
    return redirect("governance:glossary-term", slug=term.slug)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.deprecate_term", raise_exception=True)
def glossary_deprecate(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask why, then retire an approved term."""
    term = get_object_or_404(Term, slug=slug)
    return form_page(
        request,
        form_class=DeprecateForm,
        template="governance/glossary/term_deprecate.html",
        context={"term": term},
        act=lambda form: services.term_deprecate(
            actor=request.user, term=term, **form.cleaned_data
        ),
        done=lambda _: (
            f"Deprecated {term.name!r}.",
            reverse("governance:glossary-term", args=[term.slug]),
        ),
    )
