"""The incident queue's buttons (on the privacy officer's page): acknowledge, contain, resolve,
assign or assess an incident, acknowledge or dismiss an alert. Each posts, calls the service, and goes
back to the queue with a message saying what happened or why it did not."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from monitoring import selectors
from monitoring.incidents import services
from monitoring.incidents.forms import AssessForm, AssignForm, NoteForm

User = get_user_model()
INCIDENT_VERBS = {
    "acknowledge": services.incident_acknowledge,
    "contain": services.incident_contain,
    "resolve": services.incident_resolve,
}


def _require_handler(user) -> None:
    if not user.has_perm("monitoring.change_incident"):
        raise PermissionDenied("Your role does not show this dashboard")


def _back(request: HttpRequest) -> HttpResponse:
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
    incident = get_object_or_404(selectors.incidents_visible_to(request.user), pk=pk)
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
