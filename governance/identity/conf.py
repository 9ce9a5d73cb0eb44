"""The single sign-on settings (README "Single sign-on"), read from the environment and taken
into governance.settings whole. Nothing here imports Django's models: settings load first."""

import environ
from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "LOCAL_PASSWORD_LOGIN",
    "MODEL_BACKEND",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_GROUP_JURISDICTIONS",
    "OIDC_GROUP_ROLES",
    "OIDC_ISSUER",
    "OIDC_PROVIDER_NAME",
    "OIDC_ROLE_CLAIM",
    "OIDC_SCOPES",
    "OIDC_TIMEOUT_SECONDS",
    "OIDC_USERNAME_CLAIM",
]

env = environ.Env()

# The provider's issuer URL; its discovery document is at
# <issuer>/.well-known/openid-configuration. Unset: no single sign-on, nothing changes.
OIDC_ISSUER: str = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_CLIENT_ID: str = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET: str = env.str("OIDC_CLIENT_SECRET", default="")
# The name on the login page's button: "Sign in with <name>".
OIDC_PROVIDER_NAME: str = env.str("OIDC_PROVIDER_NAME", default="your identity provider")
OIDC_SCOPES: list[str] = env.list("OIDC_SCOPES", default=["openid", "email", "profile"])
# The claim whose values (a list, or one string such as Google's `hd`) name a person's groups,
# and what each group gives in Locus: a role (governance.roles.Role) and, for privacy officers,
# the jurisdictions (catalog codes) they answer for. JSON in the environment, e.g.
# OIDC_GROUP_ROLES={"locus-privacy-officer-eu": "privacy_officer"} and
# OIDC_GROUP_JURISDICTIONS={"locus-privacy-officer-eu": ["eu"]}. Applied at every sign-in.
OIDC_ROLE_CLAIM: str = env.str("OIDC_ROLE_CLAIM", default="groups")
OIDC_GROUP_ROLES: dict[str, str] = env.json("OIDC_GROUP_ROLES", default={})
OIDC_GROUP_JURISDICTIONS: dict[str, list[str]] = env.json("OIDC_GROUP_JURISDICTIONS", default={})
# The claim a new account's username is taken from (then `email`, then `sub`).
OIDC_USERNAME_CLAIM: str = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_TIMEOUT_SECONDS: float = env.float("OIDC_TIMEOUT_SECONDS", default=10.0)

# Off: nobody signs in with a password (the login page and the admin); single sign-on only.
LOCAL_PASSWORD_LOGIN: bool = env.bool("LOCAL_PASSWORD_LOGIN", default=True)
if not LOCAL_PASSWORD_LOGIN and not OIDC_ISSUER:
    raise ImproperlyConfigured("LOCAL_PASSWORD_LOGIN=0 needs OIDC_ISSUER: nobody could sign in")
# Django's model backend (reading permissions through the authentication cache) also answers
# "what may this person do", so it stays; with passwords off, a subclass that refuses every
# password takes its place.
MODEL_BACKEND = (
    "governance.identity.backends.CachedModelBackend"
    if LOCAL_PASSWORD_LOGIN
    else "governance.identity.backends.NoPasswordBackend"
)
