"""The second factor's settings (README "Second factor"), read from the environment and taken
into governance.settings whole. Nothing here imports Django's models: settings load first."""

import os

import environ

__all__ = [
    "OTP_STATIC_THROTTLE_FACTOR",
    "OTP_TOTP_ISSUER",
    "OTP_TOTP_THROTTLE_FACTOR",
    "SECOND_FACTOR_MAX_AGE_SECONDS",
    "SECOND_FACTOR_RECOVERY_CODES",
    "SECOND_FACTOR_REQUIRED_ROLES",
]

env = environ.Env()

# A real deployment: a database of its own, or debug off (DJANGO_DEBUG defaults to on, as in
# governance.settings).
_DEPLOYED = "DATABASE_URL" in os.environ or not env.bool("DJANGO_DEBUG", default=True)
# Roles that must have a second factor ("superuser" too; superusers hold every role, so they
# must whenever any role must). Required by default in a real deployment, not in the embedded
# demo; empty: nobody must.
SECOND_FACTOR_REQUIRED_ROLES: list[str] = env.list(
    "SECOND_FACTOR_REQUIRED_ROLES",
    default=["privacy_officer", "superuser"] if _DEPLOYED else [],
)
# An approval, rejection, revocation or subject-request answer asks for the code again when the
# last check (or the identity provider's multi-factor sign-in) is older than this.
SECOND_FACTOR_MAX_AGE_SECONDS: int = env.int("SECOND_FACTOR_MAX_AGE_SECONDS", default=900)
# Single-use recovery codes given at enrolment, and each time they are made anew.
SECOND_FACTOR_RECOVERY_CODES: int = env.int("SECOND_FACTOR_RECOVERY_CODES", default=10)
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER: str = env.str("OTP_TOTP_ISSUER", default="Locus")
# django-otp's throttling of wrong codes, per device: after n failures the next attempt waits
# factor x 2^(n-1) seconds. On by django-otp's default; said here so that it stays on.
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
