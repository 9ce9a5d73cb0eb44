"""Who does a write, as every service's `actor` parameter names it.

A signed-in person (`request.user` on a page or the API), the anonymous visitor a public page
hands on (services refuse them by permission), or None for Locus itself: a periodic task, a
sweep, a management command. Defined here, in the app every other one may import.
"""

from __future__ import annotations

from typing import TypeAlias

from django.contrib.auth.models import AnonymousUser, User

Actor: TypeAlias = User | AnonymousUser | None
