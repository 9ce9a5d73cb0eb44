"""Who does a write, as every service's `actor` parameter names it.

A signed-in person (`request.user` on a page or the API), the anonymous visitor a public page
hands on (services refuse them by permission), or None for Locus itself: a periodic task, a
sweep, a management command. Defined here, in the app every other one may import.
"""

from __future__ import annotations

from typing import TypeAlias, TypeGuard

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Model
from django.http import HttpRequest

Actor: TypeAlias = User | AnonymousUser | None
# Who reads: the signed-in person or the anonymous visitor of a page, API call or socket.
Viewer: TypeAlias = User | AnonymousUser


def may(actor: Actor, permission: str, obj: Model | None = None) -> TypeGuard[User]:
    """Whether the actor holds the permission (on `obj`, when given).

    Only a signed-in person can: the anonymous visitor holds nothing (guardian has no anonymous
    user row), nor does Locus itself (None) by this check; a service that lets Locus act tests
    `actor is None` first. True tells the type checker the actor is a User.
    """
    return actor is not None and actor.has_perm(permission, obj)


def actor_account(actor: Actor) -> User | None:
    """The account a row records for the actor: the person's, or None for Locus itself.

    The anonymous visitor has none; services refuse them by permission before they write, so
    one here is a bug, refused with the ValueError Django raises for the assignment.
    """
    if isinstance(actor, AnonymousUser):
        raise ValueError("An anonymous visitor cannot be recorded as who did a write")
    return actor


class SignedInRequest(HttpRequest):
    """The request a view behind login_required receives: its user is a person.

    For annotations only (Django builds the request); the decorator is what makes it true.
    """

    user: User
