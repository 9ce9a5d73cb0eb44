"""From an identity provider's claims to Locus roles and jurisdictions (settings
OIDC_ROLE_CLAIM, OIDC_GROUP_ROLES, OIDC_GROUP_JURISDICTIONS): a pure function, so the mapping
can be read and tested apart from signing in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Grants:
    """What a person's claims give them in Locus."""

    roles: frozenset[str]
    jurisdictions: frozenset[str]


def groups_in(claims: dict[str, Any]) -> list[str]:
    """The values of the role claim: a list (`groups`, `roles`) or one string (Google's `hd`)."""
    value = claims.get(settings.OIDC_ROLE_CLAIM)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def grants_from(claims: dict[str, Any]) -> Grants:
    """The roles and jurisdictions the configured mapping gives these claims' groups."""
    groups = groups_in(claims)
    roles = {settings.OIDC_GROUP_ROLES[g] for g in groups if g in settings.OIDC_GROUP_ROLES}
    jurisdictions = {code for g in groups for code in settings.OIDC_GROUP_JURISDICTIONS.get(g, [])}
    return Grants(frozenset(roles), frozenset(jurisdictions))
