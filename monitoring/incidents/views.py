"""Incident pages: an incident's own page (why, whose data, which events and runs, its timeline,
the ways out), the buttons of that page and of the privacy officer's queue (acknowledge,
contain, resolve, assign, assess, comment; acknowledge or assign in bulk; acknowledge or dismiss
an alert), and a transfer exception pre-filled from an incident. Each button posts, calls the
service, and goes back where it came from with a message saying what happened or why not."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.services import can_change_dataset
from governance.models import Purpose
from governance.roles import Role
from monitoring import selectors
from monitoring.incidents import detail, services
from monitoring.incidents.forms import AssessForm, AssignForm, BulkForm, CommentForm, NoteForm
from monitoring.models import BreachAssessment, Incident
from requests.transfers import views as transfers
from requests.transfers.forms import ExceptionForm
from requests.transfers.workflow import may_request

User = get_user_model()
INCIDENT_VERBS: dict[str, Callable[..., Incident]] = {
    "acknowledge": services.incident_acknowledge,
    "contain": services.incident_contain,
    "resolve": services.incident_resolve,
}


def _require_handler(user) -> None:
    if not user.has_perm("monitoring.change_incident"):
        raise PermissionDenied("Your role does not show this dashboard")


def _back(request: HttpRequest) -> HttpResponse:
    """To the page the button was on (`next`, a path of this site), else the queue."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(reverse("monitoring:officer") + "#queue")


def _service_error(request: HttpRequest, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        messages.error(request, f"{field}: {' '.join(problems)}")


@login_required
@require_POST
def incident_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Acknowledge, contain, resolve, assign or assess an incident (the services check
    permission)."""
    _require_handler(request.user)
    incident = get_object_or_404(selectors.incidents_visible_to(request.user, drills=True), pk=pk)
    try:
        if verb == "assign":
            form = AssignForm(request.POST)
            if not form.is_valid():
                raise ValidationError(form.errors.get_json_data())
            owner = User.objects.filter(pk=form.cleaned_data["owner"]).first()
            if owner is None:
                raise ValidationError({"owner": "No such person"})
            services.incident_assign(actor=request.user, incident=incident, owner=owner)
        elif verb == "assess":
            assess = AssessForm(request.POST)
            if not assess.is_valid():
                raise ValidationError(assess.errors.get_json_data())
            services.incident_assess(actor=request.user, incident=incident, **assess.cleaned_data)
        elif verb in INCIDENT_VERBS:
            note = NoteForm(request.POST)
            note.is_valid()
            INCIDENT_VERBS[verb](
                actor=request.user, incident=incident, note=note.cleaned_data.get("note", "")
            )
        else:
            raise ValidationError({"action": f"Unknown action {verb!r}"})
    except ValidationError as error:
        _service_error(request, error)
        return _back(request)
    messages.success(request, f"Incident #{incident.pk}: {verb} done.")
    return _back(request)


@login_required
@require_POST
def alert_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    """Acknowledge or dismiss an anomaly alert."""
    _require_handler(request.user)
    alert = get_object_or_404(selectors.alerts_visible_to(request.user), pk=pk)
    if verb not in services.ALERT_STEPS:
        messages.error(request, f"action: Unknown action {verb!r}")
        return _back(request)
    try:
        services.alert_transition(actor=request.user, alert=alert, action=verb)
    except ValidationError as error:
        _service_error(request, error)
        return _back(request)
    messages.success(request, f"Alert #{alert.pk}: {verb} done.")
    return _back(request)


# --- Several incidents at once -----------------------------------------------------------------


@login_required
@require_POST
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """Acknowledge or assign the ticked incidents, all or none (services.incidents_bulk). Each
    is read now and moved with its compare-and-swap, as one button would: one that someone else
    moved meanwhile refuses the batch, naming it."""
    _require_handler(request.user)
    form = BulkForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        picked = form.cleaned_data["incidents"]
        rows = {i.pk: i for i in selectors.incidents_visible_to(request.user).filter(pk__in=picked)}
        missing = sorted(set(picked) - set(rows))
        if missing:
            raise ValidationError({"incidents": f"No incident #{missing[0]} in your queue"})
        owner = None
        if form.cleaned_data["action"] == "assign":
            owner = User.objects.filter(pk=form.cleaned_data.get("owner") or 0).first()
            if owner is None:
                raise ValidationError({"owner": "Choose who handles them"})
        done = services.incidents_bulk(
            actor=request.user,
            incidents=[rows[pk] for pk in picked],
            action=form.cleaned_data["action"],
            owner=owner,
        )
    except ValidationError as error:
        _service_error(request, error)
        return _back(request)
    verb = "acknowledged" if form.cleaned_data["action"] == "acknowledge" else "assigned"
    messages.success(request, f"{len(done)} incident{'s' if len(done) != 1 else ''} {verb}.")
    return _back(request)


# --- An incident's own page ----------------------------------------------------------------------


def _visible_incident(request: HttpRequest, pk: int) -> Incident:
    if not request.user.has_perm("monitoring.view_incident"):
        raise PermissionDenied("Your role does not show incidents")
    return get_object_or_404(
        selectors.incidents_visible_to(request.user, drills=True).select_related(
            "owner", "breach_assessed_by"
        ),
        pk=pk,
    )


@login_required
@require_safe
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Why the incident opened, whose data went where, its events and runs (paged), its
    timeline, playbook and breach assessment, and the ways out."""
    incident = _visible_incident(request, pk)
    seen = selectors.visibility(request.user)
    facts = detail.facts(incident, seen)
    run_page = detail.page_of(detail.runs(incident), request.GET.get("runs"), detail.RUNS_PER_PAGE)
    handles = request.user.has_perm("monitoring.change_incident")
    context = {
        "facts": facts,
        "incident": incident,
        "events": detail.page_of(
            detail.events(incident), request.GET.get("events"), detail.EVENTS_PER_PAGE
        ),
        "runs": run_page,
        "known_runs": detail.known_runs(list(run_page.object_list)),
        "handles": handles,
        "assignees": _assignees(incident) if handles else [],
        "assessments": [
            (v, label)
            for v, label in BreachAssessment.choices
            if v != BreachAssessment.NOT_ASSESSED
            and (incident.personal_data or v == BreachAssessment.NOT_A_BREACH)
        ],
        "comment_form": CommentForm(),
        "may_edit_dataset": _may_edit_dataset(request.user, facts.dataset),
    }
    return render(request, "monitoring/incidents/detail.html", context)


def _assignees(incident: Incident) -> list:
    """Who the incident may be handed to: privacy officers and the dataset's owner."""
    rule = Q(groups__name=Role.PRIVACY_OFFICER) | Q(is_superuser=True)
    if incident.dataset_id is not None:
        rule |= Q(owned_datasets__pk=incident.dataset_id)
    people = User.objects.filter(rule, is_active=True).distinct().order_by("username")
    return list(people.only("pk", "username", "first_name"))


def _may_edit_dataset(user, dataset) -> bool:
    return dataset is not None and can_change_dataset(user, dataset)


@login_required
@require_POST
def incident_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a comment to the incident's timeline."""
    _require_handler(request.user)
    incident = get_object_or_404(selectors.incidents_visible_to(request.user, drills=True), pk=pk)
    form = CommentForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        services.incident_comment(
            actor=request.user, incident=incident, text=form.cleaned_data["text"]
        )
    except ValidationError as error:
        _service_error(request, error)
        return _back(request)
    messages.success(request, "Comment added.")
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def incident_exception(request: HttpRequest, pk: int) -> HttpResponse:
    """A transfer exception for this incident's flow, pre-filled (dataset, destination, purpose,
    runs); it is filed by the transfer-exception workflow itself."""
    if request.method == "POST":
        return transfers.exception_create(request)
    if not may_request(request.user):
        raise PermissionDenied("Data owners, engineers and privacy officers ask for exceptions")
    incident = _visible_incident(request, pk)
    form = ExceptionForm(initial=exception_initial(incident))
    context = {"form": form, "exception": None, "incident": incident}
    return render(request, transfers.FORM_TEMPLATE, context)


def exception_initial(incident: Incident) -> dict:
    """What an exception for this incident asks for: its dataset to its destination, for the
    purpose most of its events declared, with the training runs Locus knows among them."""
    events = incident.violations.select_related("event").order_by("-id")[:500]
    purposes = Counter(v.event.purpose for v in events if v.event.purpose)
    run_ids = {v.event.run_id for v in events if v.event.run_id}
    rows = [
        {"run_id": r, "violations": 0, "first_violation_at": None, "last_violation_at": None}
        for r in run_ids
    ]
    runs = [r.training for r in detail.known_runs(rows) if r.training is not None]
    initial: dict = {
        "title": f"{incident.dataset_slug} to {incident.destination_region} (incident #{incident.pk})",
        "datasets": incident.dataset_slug,
        "destination_regions": [incident.destination_region],
        "justification": f"Incident #{incident.pk}: {incident.title}.",
    }
    if purposes:
        purpose = Purpose.objects.filter(code=purposes.most_common(1)[0][0]).first()
        if purpose is not None:
            initial["purpose"] = purpose.pk
    if runs:
        initial["training_runs"] = ", ".join(str(r.pk) for r in runs)
    return initial
