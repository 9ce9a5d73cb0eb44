"""Single sign-on's one write: find or make the person an identity provider vouches for, and
bring their roles and jurisdictions in line with its claims, with the change on the ledger."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Jurisdiction
from governance.identity.claims import Grants, grants_from
from governance.ledger.chain import ledger_append, person_pseudonym
from governance.models import ExternalIdentity, Responsibility

logger = logging.getLogger(__name__)

USERNAME_MAX = 150


class InactiveAccount(Exception):
    """The provider vouches for a person whose Locus account was deactivated."""


def identity_sync(
    *, issuer: str, claims: dict[str, Any], username_claim: str = "preferred_username"
) -> User:
    """The account linked to (issuer, sub), made on first sign-in, with its profile, roles and
    jurisdictions updated from the claims, in one transaction with its ledger row.

    Roles and jurisdictions the provider gave at an earlier sign-in and no longer gives are
    taken away; those given by hand in the admin are left alone. Superuser and staff flags are
    never taken from a provider.
    """
    with transaction.atomic():
        identity, linked = _identity(issuer, claims, username_claim)
        user: User = identity.user
        if not user.is_active:
            raise InactiveAccount(f"The account {user.get_username()} is deactivated")
        _update_profile(user, claims)
        changes = _apply_grants(identity, grants_from(claims))
        if linked or any(changes.values()):
            ledger_append(
                actor=None,
                kind="identity.linked" if linked else "identity.roles_synced",
                subjects=[person_pseudonym(user.pk)],
                data={"issuer": issuer, **changes},
            )
    return user


def _identity(
    issuer: str, claims: dict[str, Any], username_claim: str
) -> tuple[ExternalIdentity, bool]:
    """(the identity row, locked; whether it was made now)."""
    subject = str(claims["sub"])
    found = ExternalIdentity.objects.select_for_update().filter(issuer=issuer, subject=subject)
    if identity := found.select_related("user").first():
        return identity, False
    username = _free_username(claims, username_claim)
    try:
        return _link(issuer, subject, username), True
    except IntegrityError:
        # Another sign-in won a race: the same person's in another tab (theirs is the link),
        # or someone else's that took the username a moment ago (take another).
        if identity := found.select_related("user").first():
            return identity, False
        return _link(
            issuer, subject, f"{username[: USERNAME_MAX - 8]}-{secrets.token_hex(3)}"
        ), True


def _link(issuer: str, subject: str, username: str) -> ExternalIdentity:
    with transaction.atomic():
        user = User.objects.create_user(username)
        return ExternalIdentity.objects.create(user=user, issuer=issuer, subject=subject)


def _free_username(claims: dict[str, Any], username_claim: str) -> str:
    """A username from the claims that no account holds (never joins an existing account)."""
    wanted = claims.get(username_claim) or claims.get("email") or str(claims["sub"])
    base = re.sub(r"[^\w.@+-]", "-", str(wanted))[: USERNAME_MAX - 8] or "person"
    candidate, number = base, 1
    while User.objects.filter(username=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def _update_profile(user: User, claims: dict[str, Any]) -> None:
    """Name and address as the provider has them (an address it says is unverified is not
    taken: Locus sends mail there)."""
    if claims.get("email_verified") is not False:
        user.email = str(claims.get("email") or user.email)[:254]
    user.first_name = str(claims.get("given_name") or claims.get("name") or user.first_name)[:150]
    user.last_name = str(claims.get("family_name") or user.last_name)[:150]
    user.last_login = timezone.now()
    user.save(update_fields=["email", "first_name", "last_name", "last_login"])


def _apply_grants(identity: ExternalIdentity, grants: Grants) -> dict[str, list[str]]:
    """Add what the claims give, take away what the provider gave before and no longer does."""
    user = identity.user
    roles_before = set(user.groups.values_list("name", flat=True))
    dropped_roles = set(identity.granted_roles) - grants.roles
    user.groups.remove(*Group.objects.filter(name__in=dropped_roles))
    user.groups.add(*Group.objects.filter(name__in=grants.roles))
    known = set(
        Jurisdiction.objects.filter(code__in=grants.jurisdictions).values_list("code", flat=True)
    )
    if unknown := grants.jurisdictions - known:
        logger.warning("OIDC_GROUP_JURISDICTIONS names unknown jurisdictions: %s", sorted(unknown))
    held_before = set(user.responsibilities.values_list("jurisdiction_id", flat=True))
    dropped = set(identity.granted_jurisdictions) - known
    Responsibility.objects.filter(user=user, jurisdiction_id__in=dropped).delete()
    for code in known - held_before:
        Responsibility.objects.create(user=user, jurisdiction_id=code)
    identity.granted_roles = sorted(grants.roles)
    identity.granted_jurisdictions = sorted(known)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["granted_roles", "granted_jurisdictions", "last_sign_in_at"])
    user.__dict__.pop("_locus_roles", None)  # governance.roles.roles_of caches it per object
    return {
        "roles_added": sorted(grants.roles - roles_before),
        "roles_removed": sorted(dropped_roles & roles_before),
        "jurisdictions_added": sorted(known - held_before),
        "jurisdictions_removed": sorted(dropped & held_before),
    }
