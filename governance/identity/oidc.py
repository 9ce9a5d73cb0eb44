"""Signing in through an OpenID Connect provider: the authorization code flow with PKCE, state
and nonce, and the ID token checked against the provider's keys.

Authlib's httpx client does the OAuth 2.0 work (authorization URL with the S256 code
challenge, the code exchange, the user-info call) and joserfc checks the ID token (signature
against the JWKS named by discovery; iss, aud, exp, iat and nonce). Both do their HTTP with
httpx: mozilla-django-oidc and django-allauth import PyPI's `requests` at module level, which
our `requests/` app shadows (README "Single sign-on").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from django.conf import settings
from django.http import HttpRequest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

PENDING_KEY = "oidc_pending"
PENDING_SECONDS = 600  # a sign-in started longer ago than this is refused
PENDING_KEPT = 5  # sign-ins started in other tabs of the same browser, at most
METADATA_SECONDS = 3600
CLOCK_LEEWAY_SECONDS = 60
# Asymmetric algorithms only: a symmetric one would make the client secret a signing key.
ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]


class SignInError(Exception):
    """A sign-in that cannot finish: `status` is the HTTP answer, the message says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def enabled() -> bool:
    """Whether single sign-on is configured."""
    return bool(settings.OIDC_ISSUER and settings.OIDC_CLIENT_ID)


# --- The provider's metadata --------------------------------------------------------------

_metadata: dict[str, tuple[float, dict[str, Any]]] = {}


def _get_json(url: str) -> dict[str, Any]:
    try:
        answer = httpx.get(url, timeout=settings.OIDC_TIMEOUT_SECONDS)
        answer.raise_for_status()
        return answer.json()
    except (httpx.HTTPError, ValueError) as problem:
        raise SignInError(f"The identity provider did not answer {url}: {problem}", 502) from None


def _cached(url: str, *, fresh: bool = False) -> dict[str, Any]:
    held = _metadata.get(url)
    if fresh or held is None or held[0] < time.monotonic():
        held = (time.monotonic() + METADATA_SECONDS, _get_json(url))
        _metadata[url] = held
    return held[1]


def discovery() -> dict[str, Any]:
    """The provider's discovery document, whose issuer must be the one configured."""
    document = _cached(f"{settings.OIDC_ISSUER}/.well-known/openid-configuration")
    if document.get("issuer", "").rstrip("/") != settings.OIDC_ISSUER:
        raise SignInError("The identity provider's discovery names another issuer", 502)
    return document


def _key_set(*, fresh: bool = False) -> KeySet:
    return KeySet.import_key_set(_cached(discovery()["jwks_uri"], fresh=fresh))  # type: ignore[arg-type]


# --- The flow -----------------------------------------------------------------------------


def _client(redirect_uri: str) -> OAuth2Client:
    return OAuth2Client(
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        scope=" ".join(settings.OIDC_SCOPES),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=settings.OIDC_TIMEOUT_SECONDS,
    )


def authorization_url(request: HttpRequest, *, redirect_uri: str, next_url: str) -> str:
    """Where to send the browser to sign in; the state, nonce and PKCE verifier stay in the
    session, keyed by state, until the provider sends the browser back."""
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    endpoint = discovery()["authorization_endpoint"]
    with _client(redirect_uri) as client:
        url, _ = client.create_authorization_url(
            endpoint, state=state, code_verifier=verifier, nonce=nonce
        )
    pending = dict(request.session.get(PENDING_KEY, {}))
    pending[state] = {"nonce": nonce, "verifier": verifier, "next": next_url, "at": time.time()}
    request.session[PENDING_KEY] = dict(list(pending.items())[-PENDING_KEPT:])
    return url


@dataclass(frozen=True)
class SignedIn:
    """What a finished sign-in proved: the checked ID token's claims, and those the user-info
    endpoint added (the ID token's win), and where the person was going."""

    id_token: dict[str, Any]
    claims: dict[str, Any]
    next_url: str


def _take_pending(request: HttpRequest, state: str) -> dict[str, Any]:
    """The sign-in this state started, taken from the session so it cannot be used twice."""
    pending = dict(request.session.get(PENDING_KEY, {}))
    started = pending.pop(state, None) if state else None
    request.session[PENDING_KEY] = pending
    if started is None:
        raise SignInError("state: this sign-in was not started here, or was already used")
    if started["at"] + PENDING_SECONDS < time.time():
        raise SignInError("state: this sign-in was started too long ago; start again")
    return started


def finish(request: HttpRequest, *, redirect_uri: str) -> SignedIn:
    """Check the provider's answer, exchange the code, check the ID token, read user info."""
    params = request.GET
    if params.get("error"):
        reason = params.get("error_description") or params["error"]
        raise SignInError(f"The identity provider refused the sign-in: {reason}", 403)
    started = _take_pending(request, params.get("state", ""))
    if not params.get("code"):
        raise SignInError("code: the identity provider sent no authorization code")
    metadata = discovery()
    with _client(redirect_uri) as client:
        token = _exchange(client, metadata, params["code"], started["verifier"])
        id_token = _checked_id_token(token.get("id_token"), nonce=started["nonce"])
        claims = {**_user_info(client, metadata, id_token["sub"]), **id_token}
    _refuse_claim_elsewhere(claims)
    return SignedIn(id_token=id_token, claims=claims, next_url=started["next"])


def _exchange(client: OAuth2Client, metadata: dict, code: str, verifier: str) -> dict:
    try:
        return client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=verifier)
    except OAuthError as problem:
        reason = problem.description or problem.error
        raise SignInError(f"code: the identity provider refused it ({reason})") from None
    except httpx.HTTPError as problem:
        raise SignInError(
            f"The identity provider's token endpoint failed: {problem}", 502
        ) from None


def _refuse_claim_elsewhere(claims: dict[str, Any]) -> None:
    """A role claim given as a reference rather than values (OpenID Connect Core 5.6.2
    distributed claims: Entra ID's "groups overage" past 200 groups) would read as "no groups"
    and take the person's roles away: refuse the sign-in instead."""
    if settings.OIDC_ROLE_CLAIM in (claims.get("_claim_names") or {}):
        raise SignInError(
            f"{settings.OIDC_ROLE_CLAIM}: the identity provider sent a reference instead of the "
            "values (too many groups?); map app roles or the groups assigned to Locus instead",
            403,
        )


def accepted_issuers() -> list[str]:
    """The ID token's `iss` may be the configured issuer; Google also issues tokens naming
    itself without the scheme (developers.google.com/identity/openid-connect/reference)."""
    if settings.OIDC_ISSUER == "https://accounts.google.com":
        return [settings.OIDC_ISSUER, "accounts.google.com"]
    return [settings.OIDC_ISSUER]


def _decode(raw: str) -> jwt.Token:
    try:
        return jwt.decode(raw, _key_set(), algorithms=ID_TOKEN_ALGORITHMS)
    except JoseError:
        # The provider may have rotated its keys since they were fetched: fetch them once more.
        return jwt.decode(raw, _key_set(fresh=True), algorithms=ID_TOKEN_ALGORITHMS)


def _checked_id_token(raw: str | None, *, nonce: str) -> dict[str, Any]:
    """The ID token's claims, once its signature, issuer, audience, times and nonce hold."""
    if not raw:
        raise SignInError("id_token: the identity provider sent none")
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY_SECONDS,
        iss={"essential": True, "values": accepted_issuers()},
        aud={"essential": True, "value": settings.OIDC_CLIENT_ID},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        claims = _decode(raw).claims
        registry.validate(claims)
    except (JoseError, ValueError) as problem:
        raise SignInError(f"id_token: not valid ({problem})") from None
    if isinstance(claims["aud"], list) and claims.get("azp", settings.OIDC_CLIENT_ID) != (
        settings.OIDC_CLIENT_ID
    ):
        raise SignInError("id_token: issued to another client (azp)")
    return claims


def _user_info(client: OAuth2Client, metadata: dict, subject: str) -> dict[str, Any]:
    """The user-info endpoint's claims (some providers put groups only there); its `sub` must
    be the ID token's (OpenID Connect Core 1.0, 5.3.2)."""
    endpoint = metadata.get("userinfo_endpoint")
    if not endpoint:
        return {}
    try:
        answer = client.get(endpoint)
        answer.raise_for_status()
        claims = answer.json()
    except (httpx.HTTPError, ValueError) as problem:
        raise SignInError(f"The identity provider's user info failed: {problem}", 502) from None
    if claims.get("sub") != subject:
        raise SignInError("userinfo: names another person than the ID token", 502)
    return claims


# --- For the second factor ----------------------------------------------------------------

AMR_SESSION_KEY = "identity_amr"
AUTH_TIME_SESSION_KEY = "identity_auth_time"


def record_identity_assurance(request: HttpRequest, id_token: dict[str, Any]) -> None:
    """Keep in the session how the provider authenticated the person, for the second-factor
    check: `identity_amr`, the ID token's `amr` values (RFC 8176: e.g. "pwd", "otp", "mfa",
    "hwk"; [] when absent), and `identity_auth_time`, when they authenticated (the token's
    `auth_time`, else now; int, seconds since the epoch). Call it after `login()`, which
    starts a new session."""
    amr = id_token.get("amr")
    request.session[AMR_SESSION_KEY] = (
        [str(value) for value in amr] if isinstance(amr, list) else []
    )
    auth_time = id_token.get("auth_time")
    request.session[AUTH_TIME_SESSION_KEY] = (
        int(auth_time) if isinstance(auth_time, (int, float)) else int(time.time())
    )
