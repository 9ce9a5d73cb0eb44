"""The sign-in pages: the login form (with "Sign in with <provider>", and without passwords
when they are off) and single sign-on's start and callback. Thin: the flow is in oidc.py, the
write in services.py."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from governance.identity import oidc
from governance.identity.services import InactiveAccount, identity_sync
from governance.site import absolute

# The backend a signed-in session names: the one of these in AUTHENTICATION_BACKENDS.
MODEL_BACKENDS = (
    "governance.identity.backends.NoPasswordBackend",
    "governance.identity.backends.CachedModelBackend",
)


class LoginView(auth_views.LoginView):
    """Django's login page, offering single sign-on when it is configured; with local
    passwords off it offers nothing else and refuses a posted password (403)."""

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_PASSWORD_LOGIN:
            return _failed(request, oidc.SignInError("Passwords are turned off here", 403))
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs) | {
            "oidc_enabled": oidc.enabled(),
            "oidc_provider_name": settings.OIDC_PROVIDER_NAME,
            "local_password_login": settings.LOCAL_PASSWORD_LOGIN,
        }


def _callback_url() -> str:
    return absolute(reverse("oidc-callback"))


def _safe_next(request: HttpRequest, wanted: str) -> str:
    allowed = url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return wanted if wanted and allowed else reverse(settings.LOGIN_REDIRECT_URL)


def _failed(request: HttpRequest, problem: oidc.SignInError) -> HttpResponse:
    context = {"reason": str(problem), "provider": settings.OIDC_PROVIDER_NAME}
    return render(request, "registration/sign_in_failed.html", context, status=problem.status)


@never_cache
@require_safe
def oidc_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the identity provider."""
    if not oidc.enabled():
        return _failed(request, oidc.SignInError("Single sign-on is not configured", 404))
    next_url = _safe_next(request, request.GET.get("next", ""))
    try:
        url = oidc.authorization_url(request, redirect_uri=_callback_url(), next_url=next_url)
    except oidc.SignInError as problem:
        return _failed(request, problem)
    return redirect(url)


@never_cache
@require_safe
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here: check, sync the person, sign them in."""
    if not oidc.enabled():
        return _failed(request, oidc.SignInError("Single sign-on is not configured", 404))
    try:
        signed_in = oidc.finish(request, redirect_uri=_callback_url())
        user = identity_sync(
            issuer=settings.OIDC_ISSUER,
            claims=signed_in.claims,
            username_claim=settings.OIDC_USERNAME_CLAIM,
        )
    except oidc.SignInError as problem:
        return _failed(request, problem)
    except InactiveAccount as problem:
        return _failed(request, oidc.SignInError(str(problem), 403))
    login(request, user, backend=_session_backend())
    oidc.record_identity_assurance(request, signed_in.id_token)
    return redirect(signed_in.next_url)


def _session_backend() -> str:
    """The model backend in use (Django's, or the one refusing passwords)."""
    return next(path for path in MODEL_BACKENDS if path in settings.AUTHENTICATION_BACKENDS)


@never_cache
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login: Django's, or with local passwords off, the login page (whose only
    way in is the identity provider); the admin then lets in staff who signed in that way."""
    if settings.LOCAL_PASSWORD_LOGIN:
        return admin.site.login(request)
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")
