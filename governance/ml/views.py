"""The model pages: the list, one model (its entry, lineage back to the data, deployments and
history), registration and deployment. Thin: services write, selectors read."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.form_views import form_page
from catalog.replicas import replica_view
from governance.ml import selectors, services
from governance.ml.forms import DeployForm, TrainedModelForm
from governance.models import ModelDeployment
from governance.policy.trained import EDPB_AI_MODELS
from governance.views import PAGE_SIZE

can_view_models = permission_required("governance.view_trainedmodel", raise_exception=True)
DECISIONS_SHOWN = 20


@require_safe
@login_required
@can_view_models
@replica_view
def model_list(request: HttpRequest) -> HttpResponse:
    """Every registered model, with where it is served."""
    page = Paginator(selectors.trained_models(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "governance/ml/model_list.html", {"page": page})


@require_safe
@login_required
@can_view_models
def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One model: its entry, its lineage back to the data, its deployments and its history."""
    found = get_object_or_404(selectors.trained_models(), pk=pk)
    can_change = services.can_change_model(request.user, found)
    context = {
        "model": found,
        "datasets": selectors.training_datasets(found),
        "deployments": selectors.deployments(found),
        "decisions": selectors.model_decisions(found)[:DECISIONS_SHOWN],
        "history": selectors.model_history(found.pk),
        "can_change": can_change,
        "deploy_form": DeployForm() if can_change else None,
        "edpb": EDPB_AI_MODELS,
    }
    return render(request, "governance/ml/model_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.add_trainedmodel", raise_exception=True)
def model_create(request: HttpRequest) -> HttpResponse:
    """Register a model with the runs it came from."""
    return form_page(
        request,
        form_class=TrainedModelForm,
        template="governance/ml/model_form.html",
        act=lambda form: services.model_register(actor=request.user, **form.service_fields()),
        done=lambda made: (
            f"Registered {made}.",
            reverse("governance:model-detail", args=[made.pk]),
        ),
    )


@require_POST
@login_required
def model_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    """Deploy a model to a region; the engine's answer (allowed or denied) is shown on its page."""
    found = get_object_or_404(selectors.trained_models(), pk=pk)
    if not services.can_change_model(request.user, found):
        raise PermissionDenied("Only the model's owner or a privacy officer may deploy it")
    form = DeployForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_problem(form.errors))
        return redirect("governance:model-detail", pk=found.pk)
    try:
        deployment, _ = services.model_deploy(
            actor=request.user, trained_model=found, **form.cleaned_data
        )
    except ValidationError as error:
        messages.error(request, f"Not deployed: {'; '.join(error.messages)}")
        return redirect("governance:model-detail", pk=found.pk)
    if deployment.status == ModelDeployment.Status.DENIED:
        messages.error(
            request, f"Deployment to {deployment.region.code} denied: {deployment.reason}"
        )
    else:
        messages.success(request, f"Deployed to {deployment.region.code}.")
    return redirect(reverse("governance:model-detail", args=[found.pk]) + "#deployments")


@require_POST
@login_required
def deployment_retire(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop serving a model from a region."""
    deployment = get_object_or_404(ModelDeployment.objects.select_related("trained_model"), pk=pk)
    try:
        services.deployment_retire(actor=request.user, deployment=deployment)
    except ValidationError as error:
        messages.error(request, "; ".join(error.messages))
    else:
        messages.success(request, f"Retired the deployment in {deployment.region.code}.")
    return redirect("governance:model-detail", pk=deployment.trained_model_id)


def _form_problem(errors) -> str:
    return "Not deployed: " + "; ".join(
        f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()
    )
