"""Transfer-exception pages: thin views, every write through requests.transfers.

Reads come from requests.transfers.selectors. A service's ValidationError lands on the form that
was posted and the page is shown again (400, or 409 when the exception's state does not allow
the step); an exception the person may not see is a 404.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.form_views import form_page
from catalog.forms import add_service_error
from catalog.replicas import replica_view
from governance.errors import StateConflict
from governance.identity.second_factor import second_factor_step_up
from governance.models import Purpose
from governance.roles import Role, has_role
from requests.models import SupplementaryMeasure, TransferException
from requests.transfers import selectors, services, workflow
from requests.transfers.forms import (
    CommentForm,
    ExceptionFilterForm,
    ExceptionForm,
    RegisterFilterForm,
    StepForm,
)
from requests.transfers.register import register_csv_write

FORM_TEMPLATE = "requests/transfers/form.html"
PAGE_SIZE = 50
MEASURES = dict(SupplementaryMeasure.choices)
# URL spelling of each step -> the service's action name.
STEPS = {action.replace("_", "-"): action for action in selectors.PERSON_ACTIONS}
STEP_LABELS = {
    "submit": "Submit for review",
    "withdraw": "Withdraw",
    "start_review": "Start review",
    "request_changes": "Request changes",
    "approve": "Approve",
    "reject": "Reject",
    "revoke": "Revoke",
}
DANGER = {"reject", "revoke", "withdraw"}
# Decisions that ask for the second factor again when the last check is not recent.
STEPPED_UP = {"approve", "reject", "revoke"}
EVENT_LABELS = {
    "create": "filed it",
    "edit": "changed it",
    "submit": "submitted it",
    "withdraw": "withdrew it",
    "start_review": "started the review",
    "request_changes": "asked for changes",
    "approve": "approved",
    "reject": "rejected it",
    "revoke": "revoked it",
    "activate": "activated it",
    "expire": "expired it",
    "comment": "commented",
}


def _any_role(user) -> None:
    if not has_role(user, *Role.values):
        raise PermissionDenied("Your account has no Locus role")


def _error_status(error: ValidationError) -> int:
    return 409 if isinstance(error, StateConflict) else 400


# --- The requester's list, the form ---------------------------------------------------------


@require_safe
@login_required
@replica_view
def exception_list(request: HttpRequest) -> HttpResponse:
    """The exceptions this person may see (a requester: their own), newest first."""
    _any_role(request.user)
    form = ExceptionFilterForm(request.GET)
    if not form.is_valid():
        invalid = {"form": form, "page": None, "may_request": False}
        return render(request, "requests/transfers/list.html", invalid, status=400)
    rows = selectors.exceptions_for(request.user).order_by("-created_at", "-id")
    if form.cleaned_data["status"]:
        rows = rows.filter(status=form.cleaned_data["status"])
    context = {
        "form": form,
        "page": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "may_request": workflow.may_request(request.user),
        "status": form.cleaned_data["status"],
    }
    return render(request, "requests/transfers/list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def exception_create(request: HttpRequest) -> HttpResponse:
    """File an exception (a draft, or submitted at once)."""
    if not workflow.may_request(request.user):
        raise PermissionDenied("Data owners, engineers and privacy officers ask for exceptions")

    def act(form: ExceptionForm) -> TransferException:
        submit = request.POST.get("intent") == "submit"
        return services.exception_create(actor=request.user, submit=submit, **form.service_fields())

    def done(exception: TransferException) -> tuple[str, str]:
        filed = f"Filed {exception.reference} ({exception.get_status_display()})."
        return filed, _detail_url(exception)

    return form_page(
        request,
        form_class=ExceptionForm,
        template=FORM_TEMPLATE,
        act=act,
        done=done,
        context={"exception": None},
        form_kwargs={"initial": initial_from_query(request.GET)},
    )


def initial_from_query(query) -> dict:
    """A form pre-filled from a link (a denied check offers one): `dataset`, `region` (the
    destination) and `purpose` (its code); anything unknown is left for the person to fill."""
    initial: dict = {}
    datasets = [slug for slug in query.getlist("dataset") if slug][:20]
    if datasets:
        initial["datasets"] = ", ".join(datasets)
    regions = [code for code in query.getlist("region") if code][:20]
    if regions:
        initial["destination_regions"] = regions
    code = query.get("purpose", "")
    purpose = Purpose.objects.filter(code=code).first() if code else None
    if purpose is not None:
        initial["purpose"] = purpose.pk
    if datasets and regions:
        initial["title"] = f"{', '.join(datasets)} to {', '.join(regions)}"[:200]
    return initial


@require_http_methods(["GET", "POST"])
@login_required
def exception_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a draft, or an exception sent back for changes (its requester only)."""
    exception = _visible(request, pk)
    if exception.requester_id != request.user.pk:
        raise PermissionDenied("Only the requester may change this exception")
    if request.method != "POST" and not selectors.may_edit(request.user, exception):
        status = exception.get_status_display().lower()
        messages.error(request, f"A {status} exception cannot be changed.")
        return redirect("workflows:exception-detail", pk=pk)

    def act(form: ExceptionForm) -> TransferException:
        services.exception_update(actor=request.user, exception=exception, **form.service_fields())
        if request.POST.get("intent") == "submit":
            services.exception_transition(actor=request.user, exception=exception, action="submit")
        return exception

    return form_page(
        request,
        form_class=ExceptionForm,
        template=FORM_TEMPLATE,
        act=act,
        done=lambda _: (f"Saved {exception.reference}.", _detail_url(exception)),
        context={"exception": exception},
        form_kwargs={"exception": exception},
    )


def _detail_url(exception: TransferException) -> str:
    return reverse("workflows:exception-detail", args=[exception.pk])


# --- One exception, its steps ---------------------------------------------------------------


def _visible(request: HttpRequest, pk: int) -> TransferException:
    _any_role(request.user)
    exception = selectors.exception_for(request.user, pk)
    if exception is None:
        raise Http404("No such transfer exception")
    return exception


@require_safe
@login_required
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An exception: what it asks, what the rules allow now, its timeline and approvals, and
    the steps this person may take."""
    return _render_detail(request, _visible(request, pk))


def _render_detail(
    request: HttpRequest,
    exception,
    *,
    failed: str = "",
    failed_form=None,
    status: int = 200,
) -> HttpResponse:
    """The page; `failed` names the step whose posted form is shown again with its errors."""
    user = request.user
    steps = []
    for action in selectors.available_actions(user, exception):
        form = failed_form if action == failed else StepForm(auto_id=f"id_{action}_%s")
        steps.append(
            {
                "action": action,
                "slug": action.replace("_", "-"),
                "label": STEP_LABELS[action],
                "form": form,
                "danger": action in DANGER,
                "needs_comment": action in workflow.NEEDS_COMMENT,
            }
        )
    approvals = selectors.current_approvals(exception)
    context = {
        "exception": exception,
        "answers": selectors.answers(exception),
        "approvals": approvals,
        "approvals_missing": max(0, exception.approvals_required - len(approvals)),
        "events": [
            {"event": event, "label": EVENT_LABELS.get(event.action, event.action)}
            for event in exception.events.all()
        ],
        "steps": steps,
        "may_edit": selectors.may_edit(user, exception),
        "comment_form": (
            failed_form if failed == "comment" else CommentForm(auto_id="id_comment_%s")
        )
        if selectors.may_comment(user, exception)
        else None,
        "is_reviewer": workflow.is_reviewer(user, exception),
        "measures": [MEASURES.get(code, code) for code in exception.tia_measures],
        "grant_status": (
            selectors.grant_status(exception.grant, timezone.now()) if exception.grant else ""
        ),
    }
    return render(request, "requests/transfers/detail.html", context, status=status)


@require_POST
@login_required
@second_factor_step_up(
    when=lambda request, pk, step: STEPS.get(step) in STEPPED_UP,
    back=lambda request, pk, step: reverse("workflows:exception-detail", args=[pk]),
)
def exception_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """Take one step (submit, approve, reject, ...) with its comment."""
    action = STEPS.get(step)
    if action is None:
        raise Http404("No such step")
    exception = _visible(request, pk)
    form = StepForm(request.POST, auto_id=f"id_{action}_%s")
    if form.is_valid():
        try:
            exception = services.exception_transition(
                actor=request.user,
                exception=exception,
                action=action,
                comment=form.cleaned_data["comment"],
            )
        except ValidationError as error:
            add_service_error(form, error)
            status = _error_status(error)
        else:
            messages.success(request, _done_message(exception, action))
            return redirect("workflows:exception-detail", pk=pk)
    else:
        status = 400
    shown = selectors.exception_for(request.user, pk)
    if shown is None:  # no longer this person's to see
        raise Http404("No such transfer exception")
    if action not in selectors.available_actions(request.user, shown):
        form.add_error(None, f"{STEP_LABELS[action]} is not possible now.")
        messages.error(request, "; ".join(_errors(form)))
    return _render_detail(request, shown, failed=action, failed_form=form, status=status)


def _done_message(exception, action: str) -> str:
    if action == "approve" and exception.status in workflow.OPEN:
        return (
            f"Your approval of {exception.reference} is recorded; another privacy officer "
            "must approve it too."
        )
    return f"{exception.reference} is now {exception.get_status_display().lower()}."


def _errors(form) -> list[str]:
    return [str(message) for messages_ in form.errors.values() for message in messages_]


@require_POST
@login_required
def exception_comment(request: HttpRequest, pk: int) -> HttpResponse:
    """A remark on the timeline (requester or reviewer)."""
    exception = _visible(request, pk)
    form = CommentForm(request.POST, auto_id="id_comment_%s")
    if form.is_valid():
        try:
            services.exception_comment(
                actor=request.user, exception=exception, comment=form.cleaned_data["comment"]
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return redirect("workflows:exception-detail", pk=pk)
    return _render_detail(request, exception, failed="comment", failed_form=form, status=400)


# --- The review queue, active grants, the register ----------------------------------------


@require_safe
@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    """The exceptions waiting for this privacy officer: earliest start first, then riskiest,
    with the engine's current answer for each dataset and destination."""
    if not has_role(request.user, Role.PRIVACY_OFFICER):
        raise PermissionDenied("The review queue is for privacy officers")
    page = Paginator(selectors.review_queue(request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "exception": exception,
            "answers": selectors.answers(exception),
            "approvals": len(selectors.current_approvals(exception)),
            "approved_by_me": any(
                a.approver_id == request.user.pk for a in selectors.current_approvals(exception)
            ),
        }
        for exception in page.object_list
    ]
    return render(request, "requests/transfers/queue.html", {"page": page, "rows": rows})


@require_safe
@login_required
def exception_active(request: HttpRequest) -> HttpResponse:
    """Grants honoured now or later, ending soonest first; `?expiring=1`: those ending soon."""
    if not request.user.has_perm("governance.view_transfergrant"):
        raise PermissionDenied("Your account has no Locus role")
    now = timezone.now()
    days = selectors.expiring_days()
    grants = selectors.live_grants(now)
    expiring_only = request.GET.get("expiring") == "1"
    if expiring_only:
        grants = grants.filter(valid_until__lte=now + dt.timedelta(days=days))
    page = Paginator(grants, PAGE_SIZE).get_page(request.GET.get("page"))
    exceptions = selectors.exception_of(page.object_list)
    soon = now + dt.timedelta(days=days)
    rows = [
        {
            "grant": grant,
            "exception": exceptions.get(grant.pk),
            "status": selectors.grant_status(grant, now),
            "expiring": grant.valid_until <= soon,
        }
        for grant in page.object_list
    ]
    context = {"page": page, "rows": rows, "days": days, "expiring_only": expiring_only}
    return render(request, "requests/transfers/active.html", context)


def _register(request: HttpRequest) -> tuple[RegisterFilterForm, list[dict] | None]:
    if not selectors.may_read_register(request.user):
        raise PermissionDenied(
            "Only privacy officers, auditors and executives read the register of transfers"
        )
    form = RegisterFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    return form, selectors.register_rows(**form.filters())


@require_safe
@login_required
@replica_view
def transfer_register(request: HttpRequest) -> HttpResponse:
    """The register of transfers (GDPR Art. 30(1)(e) style), with a CSV download."""
    form, rows = _register(request)
    context = {"form": form, "rows": rows, "query": request.GET.urlencode()}
    status = 200 if rows is not None else 400
    return render(request, "requests/transfers/register.html", context, status=status)


@require_safe
@login_required
@replica_view
def transfer_register_csv(request: HttpRequest) -> HttpResponse:
    """The register as CSV, with the page's filters."""
    form, rows = _register(request)
    if rows is None:
        return HttpResponse("; ".join(_errors(form)), status=400, content_type="text/plain")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="transfer-register.csv"'
    register_csv_write(response, rows)
    return response
