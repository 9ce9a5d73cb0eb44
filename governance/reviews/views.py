"""Access review pages: the campaigns and their progress (privacy officers), and the accesses
each reviewer confirms or revokes (data owners, for their datasets)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from catalog.errors import StateConflict
from catalog.replicas import replica_view
from governance.models import AccessReview, AccessReviewItem
from governance.reviews.services import (
    can_run_reviews,
    may_decide,
    review_counts,
    review_decide,
    review_open,
)
from governance.roles import Role, has_role

Item = AccessReviewItem


def _reviewer_or_officer(user) -> None:
    if not has_role(user, Role.PRIVACY_OFFICER, Role.DATA_OWNER):
        raise PermissionDenied("Access reviews are for privacy officers and data owners")


@require_safe
@login_required
@replica_view
def review_list(request: HttpRequest) -> HttpResponse:
    """The campaigns: every one for officers, those with items for the owner otherwise."""
    _reviewer_or_officer(request.user)
    officer = can_run_reviews(request.user)
    mine = Q() if officer else Q(items__reviewer_id=request.user.pk)
    campaigns = (
        AccessReview.objects.filter(mine)
        .annotate(
            total=Count("items", filter=mine),
            pending=Count("items", filter=Q(items__status=Item.Status.PENDING) & mine),
        )
        .order_by("-opened_at", "-id")[:50]
    )
    context = {"campaigns": campaigns, "officer": officer}
    return render(request, "governance/access_review_list.html", context)


@require_POST
@login_required
def review_open_page(request: HttpRequest) -> HttpResponse:
    """An officer opens a campaign now (the schedule opens one each quarter)."""
    try:
        campaign = review_open(actor=request.user)
    except StateConflict as conflict:
        messages.error(request, " ".join(conflict.messages))
        return redirect("governance:access-review-list")
    messages.success(
        request, f"{campaign.name} opened: {campaign.items.count()} accesses to review"
    )
    return redirect("governance:access-review", campaign.pk)


def _progress(campaign: AccessReview) -> list[dict]:
    """Per reviewer: how many accesses, how many decided, confirmed, revoked."""
    rows = (
        campaign.items.values("reviewer__username", "reviewer__first_name", "reviewer__last_name")
        .annotate(
            total=Count("id"),
            pending=Count("id", filter=Q(status=Item.Status.PENDING)),
            revoked=Count("id", filter=Q(status=Item.Status.REVOKED)),
            escalated=Count("id", filter=Q(escalated_at__isnull=False, status=Item.Status.PENDING)),
        )
        .order_by("-pending", "reviewer__username")
    )
    return [
        {
            **row,
            "reviewer": " ".join(
                filter(None, [row["reviewer__first_name"], row["reviewer__last_name"]])
            )
            or row["reviewer__username"]
            or "Privacy officers",
        }
        for row in rows
    ]


@require_safe
@login_required
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A campaign: its progress (officers) and the accesses the reader reviews."""
    _reviewer_or_officer(request.user)
    campaign = get_object_or_404(AccessReview, pk=pk)
    officer = can_run_reviews(request.user)
    items = campaign.items.all() if officer else campaign.items.filter(reviewer_id=request.user.pk)
    if not officer and not items.exists():
        raise PermissionDenied("You review nothing in this campaign")
    context = {
        "campaign": campaign,
        "officer": officer,
        "counts": review_counts(campaign),
        "progress": _progress(campaign) if officer else [],
        "pending": items.filter(status=Item.Status.PENDING),
        "decided": items.exclude(status=Item.Status.PENDING).order_by("-decided_at", "-id")[:200],
    }
    return render(request, "governance/access_review_detail.html", context)


@require_POST
@login_required
def item_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm or revoke one access: a revocation takes effect at once."""
    item = get_object_or_404(Item, pk=pk)
    if not may_decide(request.user, item):
        raise PermissionDenied("Only the dataset's owner or a privacy officer decides this access")
    decision = request.POST.get("decision", "")
    try:
        item = review_decide(
            actor=request.user, item=item, decision=decision, note=request.POST.get("note", "")
        )
    except StateConflict as conflict:
        messages.error(request, " ".join(conflict.messages))
        return redirect("governance:access-review", item.campaign_id)
    except ValidationError as error:  # a form field the page never sends otherwise
        body = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
        return HttpResponseBadRequest(body, content_type="text/plain")
    messages.success(request, f"{item.holder}: {item.get_status_display().lower()}")
    return redirect("governance:access-review", item.campaign_id)
