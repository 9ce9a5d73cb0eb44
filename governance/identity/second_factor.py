"""The second factor: who needs one, whether this session's check is fresh, and the gates that
ask for it (the sign-in middleware, the step-up decorator for pages, the API permission).

Who: a person holding a role in SECOND_FACTOR_REQUIRED_ROLES (superusers hold every role), and
anyone who has enrolled an authenticator. Such a person confirms a code after signing in (or
enrols first, if they have none), and again before an approval, a rejection, a revocation or a
subject-request answer when the last check is older than SECOND_FACTOR_MAX_AGE_SECONDS.

An identity provider that signed the person in with several factors stands for the check: the
session keys `identity_amr` (the ID token's `amr` values, RFC 8176) and `identity_auth_time`
(its `auth_time`, epoch seconds) are set by the sign-in that received the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device
from rest_framework import permissions
from rest_framework.authentication import TokenAuthentication

from governance.roles import has_role
from governance.unavailable import database_unavailable, unavailable_response

SESSION_CHECKED_AT = "second_factor_at"  # epoch seconds of this session's last code check
SESSION_PENDING = "second_factor_pending"  # "enrol" or "confirm", set at sign-in
IDP_AMR = "identity_amr"
IDP_AUTH_TIME = "identity_auth_time"
ENROL, CONFIRM = "enrol", "confirm"
SUPERUSER = "superuser"
CODE = "second_factor_required"
NOT_YET = "Nothing was done yet: confirm with your code, then take the step again."
# A check time ahead of this server's clock by more than this is not believed (clock skew
# between web processes, or an identity provider's, is allowed up to it).
CLOCK_SKEW_SECONDS = 60

# RFC 8176 section 2: the authentication method reference values. "mfa" says several factors
# were used; otherwise a possession factor together with a knowledge or inherence factor.
POSSESSION = frozenset({"hwk", "swk", "otp", "sc", "sms", "tel", "pop"})
KNOWLEDGE_OR_INHERENCE = frozenset({"pwd", "pin", "kba", "fpt", "face", "iris", "retina", "vbm"})


# --- The rules ------------------------------------------------------------------------------


def idp_asserted_mfa(session: Any) -> bool:
    """Whether the identity provider said this sign-in used more than one factor."""
    amr = session.get(IDP_AMR)
    if not isinstance(amr, list):
        return False
    values = {value for value in amr if isinstance(value, str)}
    return "mfa" in values or bool(values & POSSESSION and values & KNOWLEDGE_OR_INHERENCE)


def _recent(at: object, now: float) -> bool:
    if not isinstance(at, int | float) or isinstance(at, bool):
        return False
    return -CLOCK_SKEW_SECONDS <= now - at <= settings.SECOND_FACTOR_MAX_AGE_SECONDS


def second_factor_fresh(request: HttpRequest, *, now: float | None = None) -> bool:
    """Whether this session checked a second factor within SECOND_FACTOR_MAX_AGE_SECONDS: a
    code here, or a multi-factor sign-in at the identity provider."""
    now = time.time() if now is None else now
    session = request.session
    if _recent(session.get(SESSION_CHECKED_AT), now):
        return True
    return idp_asserted_mfa(session) and _recent(session.get(IDP_AUTH_TIME), now)


def second_factor_required_of(user: Any) -> bool:
    """Whether the person's roles oblige them to have a second factor."""
    required = set(settings.SECOND_FACTOR_REQUIRED_ROLES)
    if not required or not user.is_authenticated:
        return False
    return bool(user.is_superuser or has_role(user, *(required - {SUPERUSER})))


def second_factor_applies(user: Any) -> bool:
    """Whether the person's steps are guarded: their role requires it, or they enrolled."""
    if not user.is_authenticated:
        return False
    return second_factor_required_of(user) or user_has_device(user)


def second_factor_satisfied(request: HttpRequest) -> bool:
    """Whether a guarded step may go ahead in this session now."""
    return second_factor_fresh(request) or not second_factor_applies(request.user)


# --- Session marks --------------------------------------------------------------------------


def second_factor_checked(request: HttpRequest, *, now: float | None = None) -> None:
    """Note in the session that the person just gave a good code."""
    request.session[SESSION_CHECKED_AT] = time.time() if now is None else now
    request.session.pop(SESSION_PENDING, None)


def second_factor_forgotten(request: HttpRequest) -> None:
    """The person removed their factor: no check stands, and they enrol again if they must."""
    request.session.pop(SESSION_CHECKED_AT, None)
    if second_factor_required_of(request.user):
        request.session[SESSION_PENDING] = ENROL
    else:
        request.session.pop(SESSION_PENDING, None)


def on_sign_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """At each sign-in (password or identity provider): a new session starts unchecked; one
    who has an authenticator must confirm a code, one whose role requires a factor must enrol.
    Decided once here, so pages do not look up devices on every request."""
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(SESSION_CHECKED_AT, None)
    if user_has_device(user):
        request.session[SESSION_PENDING] = CONFIRM
    elif second_factor_required_of(user):
        request.session[SESSION_PENDING] = ENROL
    else:
        request.session.pop(SESSION_PENDING, None)


# --- Where to go ----------------------------------------------------------------------------


def confirm_url(next_url: str = "") -> str:
    """The page that asks for a code, then returns to `next_url`."""
    url = reverse("identity:second-factor-confirm")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def enrol_url(next_url: str = "") -> str:
    url = reverse("identity:second-factor-enrol")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _minutes() -> str:
    minutes = max(1, settings.SECOND_FACTOR_MAX_AGE_SECONDS // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def step_up_reason() -> str:
    return (
        "Approvals, rejections, revocations and answers to subject requests need your code "
        f"checked in the last {_minutes()}."
    )


# --- The gates ------------------------------------------------------------------------------


def second_factor_step_up(
    *,
    back: Callable[..., str],
    when: Callable[..., bool] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page's guard: unless the factor is fresh, send the person to confirm their code and
    then back to `back(request, *args, **kwargs)` (the page with the form; nothing posted is
    replayed: they submit it again). `when(request, *args, **kwargs)` limits it to some steps.
    Put it under @login_required."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            applies = when is None or when(request, *args, **kwargs)
            if applies and not second_factor_satisfied(request):
                messages.info(request, NOT_YET)
                return redirect(confirm_url(back(request, *args, **kwargs)))
            return view(request, *args, **kwargs)

        return guarded

    return decorator


class SecondFactorFresh(permissions.BasePermission):
    """The API's guard for the actions a view lists in `second_factor_actions`: a person signed
    in here needs a fresh factor (403 `second_factor_required` with where to confirm); an API
    token never stands for a person approving, so a token of someone the rule applies to is
    refused those actions."""

    code = CODE

    def has_permission(self, request: Any, view: Any) -> bool:
        if getattr(view, "action", None) not in getattr(view, "second_factor_actions", ()):
            return True
        if isinstance(request.successful_authenticator, TokenAuthentication):
            if not second_factor_applies(request.user):
                return True
            self.message = _refusal(
                "This step needs a person signed in with a second factor; an API token cannot "
                "take it. Sign in to Locus and take it there."
            )
            return False
        if second_factor_satisfied(request):
            return True
        self.message = _refusal(f"{step_up_reason()} Confirm it at confirm_url, then retry.")
        return False


def _refusal(detail: str) -> dict[str, str]:
    return {"detail": detail, "code": CODE, "confirm_url": confirm_url()}


class SecondFactorMiddleware:
    """After signing in, a person who must confirm a code or enrol a factor does that before
    anything else (pages redirect; the API answers 403). Sign-out, the factor's own pages,
    static files and health checks stay open."""

    def __init__(self, get_response: Callable[[HttpRequest], Any]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        # _by_token first: it is a string test, and the API calls that pass it are most calls.
        if not _by_token(request) and not _exempt(request.path):
            try:
                pending = request.session.get(SESSION_PENDING)
            except DatabaseError as exc:  # the session is read here, before any view
                if database_unavailable(exc):
                    return unavailable_response(request)
                raise
            if pending and idp_asserted_mfa(request.session):
                request.session.pop(SESSION_PENDING)
            elif pending and request.user.is_authenticated:
                return _ask(request, pending)
        return self.get_response(request)


def _by_token(request: HttpRequest) -> bool:
    """An API call naming a token: DRF authenticates it by the token or refuses it (401),
    never by the session (the API's views that take no token read no session either)."""
    scheme = request.META.get("HTTP_AUTHORIZATION", "").split(" ", 1)[0]
    return request.path.startswith("/api/") and scheme.lower() == "token"


def _exempt(path: str) -> bool:
    open_prefixes = (
        settings.STATIC_URL,
        reverse("identity:second-factor"),
        reverse("logout"),
        reverse("login"),
        reverse("healthz"),
        reverse("readyz"),
    )
    return path.startswith(open_prefixes)


def _ask(request: HttpRequest, pending: str) -> HttpResponse:
    back = request.get_full_path() if request.method in ("GET", "HEAD") else ""
    url = enrol_url(back) if pending == ENROL else confirm_url(back)
    if request.path.startswith("/api/"):
        detail = (
            "Enrol a second factor before using Locus."
            if pending == ENROL
            else "Confirm your second factor before using Locus."
        )
        return JsonResponse({"detail": detail, "code": CODE, "confirm_url": url}, status=403)
    return redirect(url)
