"""Transfer grant pages: by state, one grant with the decisions that relied on it, create, revoke."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from catalog.form_views import form_page
from catalog.replicas import replica_view
from governance.grants import services
from governance.grants.forms import GRANT_STATUSES, GrantStatusForm, RevokeForm, TransferGrantForm
from governance.grants.selectors import grant_status, grants_at
from governance.identity.second_factor import second_factor_step_up
from governance.models import (
    LocalityDecision,
    TransferGrant,
)
from governance.views import PAGE_SIZE, can_use_governance

GRANT_DECISIONS_SHOWN = 20


@require_safe
@login_required
@can_use_governance
@replica_view
def grant_list(request: HttpRequest) -> HttpResponse:
    """Transfer grants by state: active, upcoming, expired, revoked."""
    now = timezone.now()
    form = GrantStatusForm(request.GET)
    valid = form.is_valid()
    status = form.chosen() if valid else "active"
    grants = grants_at(now).order_by("-valid_from", "-id")
    if status != "all":
        grants = grants.filter(status=status)
    counts = dict(
        TransferGrant.objects.annotate(status=grant_status(now))
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
    grant = get_object_or_404(grants_at(timezone.now()), pk=pk)
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
@second_factor_step_up(back=lambda request, pk: reverse("governance:grant-revoke", args=[pk]))
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """End a grant now, with a reason; the engine stops honouring it at once."""
    grant = get_object_or_404(grants_at(timezone.now()), pk=pk)
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
