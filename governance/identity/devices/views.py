"""The second-factor pages: enrol an authenticator, confirm a code (after signing in, or again
before a guarded step), the factor's page with new recovery codes and removal. Thin: the
services check codes and write the decision log; governance.identity.second_factor marks the
session."""

from __future__ import annotations

from base64 import b32encode

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from catalog.forms import add_service_error
from governance.errors import StateConflict
from governance.identity import second_factor
from governance.identity.devices import services
from governance.identity.devices.forms import AuthenticatorCodeForm, CodeForm

PAGE = "governance/identity/second_factor.html"
CODES = "governance/identity/recovery_codes.html"


def _next(request: HttpRequest) -> str:
    """Where to go afterwards: a page of this site named by `next`, else the home page."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and safe else reverse("home")


def _authenticator(request: HttpRequest) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=request.user, confirmed=True).first()


def _status(error: ValidationError) -> int:
    if isinstance(error, services.CodeThrottled):
        return 429
    return 409 if isinstance(error, StateConflict) else 400


# --- Enrolment ------------------------------------------------------------------------------


def _qr_svg(device: TOTPDevice) -> str:
    """The authenticator's set-up link as a QR code, drawn here as inline SVG."""
    qr = segno.make(device.config_url, error="m")
    # Safe: segno draws the SVG from the link alone; no text of the page goes into it.
    return mark_safe(qr.svg_inline(scale=4, title="QR code of your authenticator's secret"))


def _secret(device: TOTPDevice) -> str:
    text = b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@require_http_methods(["GET", "POST"])
@login_required
def enrol(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app: scan the code (or type the secret), confirm with a code
    from the app; then the recovery codes, shown once."""
    if _authenticator(request) is not None:
        messages.info(request, "You already have an authenticator. Remove it to enrol another.")
        return redirect("identity:second-factor")
    form = AuthenticatorCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.authenticator_confirm(
                actor=request.user, code=form.cleaned_data["code"]
            )
        except ValidationError as error:
            add_service_error(form, error)
            status = _status(error)
        else:
            second_factor.second_factor_checked(request)
            context = {"codes": codes, "next": _next(request), "enrolled": True}
            return render(request, CODES, context)
    elif request.method == "POST":
        status = 400
    device = services.authenticator_start(actor=request.user)
    context = {
        "form": form,
        "qr": _qr_svg(device),
        "secret": _secret(device),
        "next": _next(request),
        "required": second_factor.second_factor_required_of(request.user),
    }
    return render(request, "governance/identity/enrol.html", context, status=status)


# --- Confirming a code ----------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def confirm(request: HttpRequest) -> HttpResponse:
    """Give a code from the authenticator (or a recovery code), then on to `next`."""
    if _authenticator(request) is None:
        if second_factor.second_factor_required_of(request.user):
            return redirect(second_factor.enrol_url(_next(request)))
        return redirect(_next(request))
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            kind = services.second_factor_verify(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_service_error(form, error)
            status = _status(error)
        else:
            second_factor.second_factor_checked(request)
            if kind == "recovery":
                left = _recovery_codes_left(request)
                messages.warning(request, f"You used a recovery code; {left} left.")
            return redirect(_next(request))
    elif request.method == "POST":
        status = 400
    context = {"form": form, "next": _next(request), "reason": second_factor.step_up_reason()}
    return render(request, "governance/identity/confirm.html", context, status=status)


def _recovery_codes_left(request: HttpRequest) -> int:
    device = StaticDevice.objects.filter(user=request.user).first()
    return device.token_set.count() if device else 0


# --- The factor's page: recovery codes, removal ---------------------------------------------


@require_safe
@login_required
def second_factor_page(request: HttpRequest) -> HttpResponse:
    """Whether the person has a factor, how many recovery codes are left, and the forms to
    replace the codes or remove the factor."""
    return _render_page(request)


def _render_page(
    request: HttpRequest,
    *,
    regenerate_form: CodeForm | None = None,
    remove_form: CodeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "authenticator": _authenticator(request),
        "codes_left": _recovery_codes_left(request),
        "required": second_factor.second_factor_required_of(request.user),
        "regenerate_form": regenerate_form or CodeForm(auto_id="id_regenerate_%s"),
        "remove_form": remove_form or CodeForm(auto_id="id_remove_%s"),
    }
    return render(request, PAGE, context, status=status)


@require_POST
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes (after a code), shown once; the old ones stop working."""
    form = CodeForm(request.POST, auto_id="id_regenerate_%s")
    if not form.is_valid():
        return _render_page(request, regenerate_form=form, status=400)
    try:
        codes = services.recovery_codes_regenerate(
            actor=request.user, code=form.cleaned_data["code"]
        )
    except ValidationError as error:
        add_service_error(form, error)
        return _render_page(request, regenerate_form=form, status=_status(error))
    second_factor.second_factor_checked(request)
    context = {"codes": codes, "next": reverse("identity:second-factor"), "enrolled": False}
    return render(request, CODES, context)


@require_POST
@login_required
def remove(request: HttpRequest) -> HttpResponse:
    """Remove the authenticator and the recovery codes (after a code)."""
    form = CodeForm(request.POST, auto_id="id_remove_%s")
    if not form.is_valid():
        return _render_page(request, remove_form=form, status=400)
    try:
        services.second_factor_remove(actor=request.user, code=form.cleaned_data["code"])
    except ValidationError as error:
        add_service_error(form, error)
        return _render_page(request, remove_form=form, status=_status(error))
    second_factor.second_factor_forgotten(request)
    messages.success(request, "Your authenticator and recovery codes are removed.")
    return redirect("identity:second-factor")
