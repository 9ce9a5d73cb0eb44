"""Data-subject request pages: the officers' list and a request's timeline, the owners' task
queue, and the public intake, verification and download pages. Thin: forms -> services."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from catalog.form_views import form_page
from catalog.forms import add_service_error
from catalog.models import Jurisdiction
from catalog.replicas import replica_view
from governance.client_address import client_address
from governance.errors import StateConflict
from governance.identity.second_factor import second_factor_step_up
from requests.models.subjects import (
    OPEN_STATUSES,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    TaskStatus,
    unseal_bytes,
)
from requests.sealing import SealedDataUnreadable
from requests.subjects import (
    access,
    intake,
    ml,
    officer_steps,
    packages,
    review,
    rights,
    selectors,
    timeline,
    uploads,
    verification,
    work,
)
from requests.subjects.forms import (
    IntakeForm,
    MlDecisionForm,
    OptionalReasonForm,
    ReasonForm,
    StaffIntakeForm,
    TaskCompleteForm,
    VerifyForm,
    VerifyIdentityForm,
)
from requests.subjects.public_api import IntakeThrottle

logger = logging.getLogger(__name__)
PAGE_SIZE = 50
reads_requests = permission_required("workflows.view_subjectrequest", raise_exception=True)
works_tasks = permission_required("workflows.view_subjecttask", raise_exception=True)
STEPS = {
    "extend": (officer_steps.subject_request_extend, ReasonForm),
    "pause": (officer_steps.subject_request_pause, ReasonForm),
    "resume": (officer_steps.subject_request_resume, OptionalReasonForm),
    "reject": (officer_steps.subject_request_reject, ReasonForm),
    "withdraw": (officer_steps.subject_request_withdraw, OptionalReasonForm),
    "unlock": (verification.verification_unlock, OptionalReasonForm),
}
# The answers to the subject (the answer sent on closing, a refusal) ask for the second factor
# again when the last check is not recent.
ANSWERS = {"close", "reject"}


def _with_days_left(rows, today):
    for row in rows:
        row.days_left = (row.due - today).days if row.is_open else None
    return rows


# --- Officers ------------------------------------------------------------------------------


@require_safe
@login_required
@reads_requests
@replica_view
def request_list(request: HttpRequest) -> HttpResponse:
    """Every request the reader may see, with days left: open ones awaiting review first,
    then soonest deadline first."""
    state = request.GET.get("state", "open")
    rows = selectors.requests_for(request.user)
    if state == "open":
        rows = selectors.open_for_officers(rows)
    elif state == "closed":
        rows = rows.exclude(status__in=OPEN_STATUSES).order_by("-closed_at", "-id")
    else:
        state, rows = "all", rows.order_by("-received_at", "-id")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = selectors.count_tasks(list(page.object_list))
    _with_days_left(page.object_list, timezone.now().date())
    context = {
        "page": page,
        "state": state,
        "states": ["open", "closed", "all"],
        "can_create": request.user.has_perm("workflows.add_subjectrequest"),
    }
    return render(request, "requests/subjects/request_list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("workflows.add_subjectrequest", raise_exception=True)
def request_create(request: HttpRequest) -> HttpResponse:
    """Record a request that came by e-mail, post, phone or in person."""

    def done(created: SubjectRequest) -> tuple[str, str]:
        recorded = f"{created.reference} recorded; the subject must verify."
        return recorded, reverse("workflows:subject-detail", args=[created.pk])

    regime = _regime(request)
    return form_page(
        request,
        form_class=StaffIntakeForm,
        template="requests/subjects/request_form.html",
        act=lambda form: intake.subject_request_create(actor=request.user, **form.service_kwargs()),
        done=done,
        context=_regime_context(regime),
        form_kwargs={"regime": regime},
    )


def _regime(request: HttpRequest) -> rights.RegimeRights | None:
    """The rights of the jurisdiction the page was asked about (the posted one, or
    ?jurisdiction=), or None before one is chosen."""
    code = request.POST.get("jurisdiction") or request.GET.get("jurisdiction") or ""
    jurisdiction = (
        Jurisdiction.objects.select_related("subject_rights").filter(pk=code).first()
        if code
        else None
    )
    return rights.rights_of(jurisdiction) if jurisdiction else None


def _regime_context(regime: rights.RegimeRights | None) -> dict:
    return {"regime": regime, "jurisdictions": Jurisdiction.objects.order_by("name")}


@require_safe
@login_required
@reads_requests
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A request: its clock, tasks, model decisions, package and timeline."""
    target = get_object_or_404(selectors.requests_for(request.user), pk=pk)
    manages = access.can_manage(request.user, target)
    context = {
        "req": target,
        "days_left": selectors.days_left(target) if target.is_open else None,
        "identifiers": target.identifiers_shown if manages else None,
        "tasks": selectors.tasks_of(request.user, target).select_related("owner"),
        "decisions": ml.with_served_models(target.ml_decisions.all()),
        "timeline": timeline.lines(target.events.order_by("at", "id")),
        "package": selectors.package_of(request.user, target),
        "review": review.review_of(target)
        if manages and target.status == SubjectRequestStatus.READY
        else None,
        "manages": manages,
        "can_unlock": manages and verification.verification_unlockable(target),
        "reason_form": ReasonForm(),
        "optional_form": OptionalReasonForm(),
        "verify_form": VerifyIdentityForm(),
        "S": SubjectRequestStatus,
    }
    return render(request, "requests/subjects/request_detail.html", context)


@require_POST
@login_required
@reads_requests
@second_factor_step_up(
    when=lambda request, pk, step: step in ANSWERS,
    back=lambda request, pk, step: reverse("workflows:subject-detail", args=[pk]),
)
def request_step(request: HttpRequest, pk: int, step: str) -> HttpResponse:
    """Extend, pause, resume, reject, withdraw or close, then back to the request."""
    target = get_object_or_404(selectors.requests_for(request.user), pk=pk)
    try:
        if step == "close":
            officer_steps.subject_request_close(
                actor=request.user,
                subject_request=target,
                confirm_empty=request.POST.get("confirm_empty") == "on",
            )
        elif step == "verify-identity":
            _verify_identity(request, target)
        elif step == "reissue":
            packages.package_reissue(actor=request.user, subject_request=target)
        elif step in STEPS:
            service, form_class = STEPS[step]
            form = form_class(request.POST)
            if not form.is_valid():
                raise ValidationError({"reason": "Give the reason"})
            service(actor=request.user, subject_request=target, reason=form.cleaned_data["reason"])
        else:
            raise Http404("No such step")
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, f"{target.reference}: {step} done.")
    return redirect("workflows:subject-detail", pk)


def _verify_identity(request: HttpRequest, target: SubjectRequest) -> None:
    form = VerifyIdentityForm(request.POST)
    if not form.is_valid():
        raise ValidationError(
            [f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items()]
        )
    verification.verification_record(
        actor=request.user, subject_request=target, **form.cleaned_data
    )


# --- Data owners --------------------------------------------------------------------------


@require_safe
@login_required
@works_tasks
@replica_view
def task_list(request: HttpRequest) -> HttpResponse:
    """A data owner's queue: open tasks of their datasets, soonest due first."""
    show_done = request.GET.get("done") == "1"
    rows = (
        selectors.tasks_for(request.user) if show_done else selectors.open_tasks_for(request.user)
    )
    page = Paginator(rows.order_by("due_on", "id"), PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.now().date()
    for task in page.object_list:
        task.days_left = (task.due_on - today).days
    return render(
        request, "requests/subjects/task_list.html", {"page": page, "show_done": show_done}
    )


def _task_for(user, pk: int) -> SubjectTask:
    return get_object_or_404(selectors.tasks_for(user).select_related("owner"), pk=pk)


@require_http_methods(["GET", "POST"])
@login_required
@works_tasks
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One task: who the subject is (need to know), the answer form, model decisions."""
    task = _task_for(request.user, pk)

    def act(form: TaskCompleteForm) -> SubjectTask:
        upload = form.cleaned_data.get("upload")
        rows = uploads.read_upload(upload) if upload else None
        note = form.cleaned_data["note"]
        return work.task_complete(actor=request.user, task=task, note=note, rows=rows)

    def done(answered: SubjectTask) -> tuple[str, str]:
        return f"{answered.dataset_slug}: answered.", reverse(
            "workflows:subject-task-detail", args=[pk]
        )

    decisions = ml.with_served_models(
        [d for d in task.request.ml_decisions.all() if task.dataset_slug in d.datasets]
    )
    shown = selectors.shows_identifiers(request.user, task)
    context = {
        "task": task,
        "req": task.request,
        "identifiers": work.identifiers_for_task(task) if shown else None,
        "decisions": decisions,
        "ml_form": MlDecisionForm(),
        "answerable": task.status in (TaskStatus.OPEN, TaskStatus.FAILED)
        and task.request.status == SubjectRequestStatus.IN_PROGRESS,
    }
    return form_page(
        request,
        form_class=TaskCompleteForm,
        template="requests/subjects/task_detail.html",
        act=act,
        done=done,
        context=context,
    )


@require_POST
@login_required
@works_tasks
def task_retry(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task_for(request.user, pk)
    try:
        work.task_retry(actor=request.user, task=task)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("workflows:subject-task-detail", pk)


@require_POST
@login_required
@works_tasks
def ml_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Record what happens to one model trained on erased (or consent-withdrawn) data."""
    decision = get_object_or_404(selectors.ml_decisions_for(request.user), pk=pk)
    form = MlDecisionForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError({"decision": "Choose a decision"})
        ml.ml_decision_record(
            actor=request.user,
            decision=decision,
            choice=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
        )
    except PermissionDenied:
        raise Http404("No such decision") from None
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{decision.run_name}: decision recorded.")
    if decision.request is None:  # a consent withdrawal's: no request page to return to
        return redirect("workflows:subject-task-list")
    user = request.user  # signed in (login_required)
    task = decision.request.tasks.filter(owner=user).first() if isinstance(user, User) else None
    if task:
        return redirect("workflows:subject-task-detail", task.pk)
    return redirect("workflows:subject-detail", decision.request_id)


# --- The public: intake, verification, download ----------------------------------------------


def _throttled(request: HttpRequest) -> bool:
    # DRF's throttle on a page: it reads only the client's address (IntakeThrottle.get_ident),
    # not the API's Request or view the stubs ask for.
    if IntakeThrottle().allow_request(request, None):  # type: ignore[arg-type]
        return False
    logger.warning("public subject pages: %s throttled", client_address(request))
    return True


@require_http_methods(["GET", "POST"])
def public_intake(request: HttpRequest) -> HttpResponse:
    """Anyone may ask about their data; the e-mailed code confirms it is theirs."""
    if request.method == "POST" and _throttled(request):
        return HttpResponse("Too many requests from your address; try later.", status=429)
    regime = _regime(request)
    return form_page(
        request,
        form_class=IntakeForm,
        template="requests/subjects/public_intake.html",
        act=lambda form: intake.subject_request_create(actor=None, **form.service_kwargs()),
        done=_after_intake,
        context=_regime_context(regime),
        form_kwargs={"regime": regime},
    )


def _after_intake(created: SubjectRequest) -> tuple[str, str]:
    """On to the code page; a request its law takes without proof of identity needs no code."""
    if created.status == SubjectRequestStatus.AWAITING_VERIFICATION:
        return "", reverse("workflows:subject-verify", args=[created.verify_token])
    return (
        f"We received your request ({created.reference}). The law does not let us ask you to "
        "prove who you are for it: we are acting on it.",
        f"{reverse('workflows:subject-intake')}?jurisdiction={created.jurisdiction_id}",
    )


def _verify_page(request, target, form, status=200, **extra):
    response = render(
        request,
        "requests/subjects/public_verify.html",
        {"req": target, "form": form, **extra},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


def _no_such_verification(request: HttpRequest) -> HttpResponse:
    """One answer for a wrong address and for a request that no longer waits: nothing told."""
    problem = "This link is not valid, or there is nothing left to confirm."
    return _not_available(request, PermissionDenied(problem), 404)


def _attempt(request: HttpRequest, target, form, check, *, link: bool = False) -> HttpResponse:
    """Run one code check or resend; a refusal is shown on the form (429 while waiting)."""
    client = client_address(request)
    try:
        return check(client)
    except verification.VerificationWait as wait:
        logger.warning("subject verification: %s waits %ss", client, wait.retry_after)
        add_service_error(form, ValidationError({"code": wait.messages}))
        response = _verify_page(request, target, form, status=429, link=link)
        response["Retry-After"] = str(wait.retry_after)
        return response
    except StateConflict:  # it stopped waiting meanwhile
        return _no_such_verification(request)
    except ValidationError as error:
        add_service_error(form, ValidationError({"code": error.messages}))
    return _verify_page(request, target, form, status=400, link=link)


def _done(request: HttpRequest, target) -> HttpResponse:
    return render(request, "requests/subjects/public_done.html", {"req": target})


@require_http_methods(["GET", "POST"])
def public_verify(request: HttpRequest, token: str) -> HttpResponse:
    """Enter the code; or ask for a new one. Found by the request's verify token only."""
    target = selectors.awaiting_verification(token)
    if target is None:
        return _no_such_verification(request)
    form = VerifyForm(request.POST or None)
    if request.method != "POST":
        return _verify_page(request, target, form)
    if _throttled(request):
        return HttpResponse("Too many attempts from your address; try later.", status=429)

    def check(client: str) -> HttpResponse:
        if "resend" in request.POST:
            verification.verification_resend(subject_request=target, client=client)
            messages.info(request, "A new code is on its way.")
            return redirect("workflows:subject-verify", token)
        if not form.is_valid():
            raise ValidationError({"code": "Enter the code from the e-mail"})
        code = form.cleaned_data["code"]
        verification.verification_check(subject_request=target, code=code, client=client)
        return _done(request, target)

    return _attempt(request, target, form, check)


@require_http_methods(["GET", "POST"])
def public_verify_link(request: HttpRequest, token: str, link: str) -> HttpResponse:
    """The e-mailed link: a button confirms (mail scanners that follow links confirm nothing)."""
    target = selectors.awaiting_verification(token)
    if target is None:
        return _no_such_verification(request)
    form = VerifyForm()
    if request.method != "POST":
        return _verify_page(request, target, form, link=True)
    if _throttled(request):
        return HttpResponse("Too many attempts from your address; try later.", status=429)

    def check(client: str) -> HttpResponse:
        verification.verification_check(subject_request=target, token=link, client=client)
        return _done(request, target)

    return _attempt(request, target, form, check, link=True)


def _not_available(request: HttpRequest, error: Exception, status: int) -> HttpResponse:
    problem = error.args[0] if error.args else "Not available"
    response = render(
        request, "requests/subjects/public_done.html", {"problem": problem}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


PACKAGE_UNREADABLE = "This package cannot be decrypted just now: please contact us."


@require_safe
def public_package(request: HttpRequest, pk: int, token: str) -> HttpResponse:
    """The subject's download, while the link is valid."""
    try:
        package = packages.package_for_download(request_id=pk, token=token)
    except packages.PackageLinkInvalid as error:  # as if nothing were there: 404
        return _not_available(request, error, 404)
    except packages.PackageLinkExpired as error:
        return _not_available(request, error, 410)
    try:
        content = unseal_bytes(package.content_sealed, what=f"package of DSR-{pk}")
    except SealedDataUnreadable:  # logged with the key problem; the subject is told plainly
        return _not_available(request, SealedDataUnreadable(PACKAGE_UNREADABLE), 503)
    response = HttpResponse(content, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{package.filename}"'
    response["X-Content-SHA256"] = package.sha256
    response["Cache-Control"] = "no-store"
    return response
