"""The governance home page, and what every governance page shares: the role gate and paging
through logs too large to count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import QuerySet
from django.shortcuts import redirect

PAGE_SIZE = 50
MAX_PAGE = 10_000

can_use_governance = permission_required("governance.view_localitydecision", raise_exception=True)


@login_required
def home(request):
    """Signing in lands here: on to the page for the person's role (the monitoring home
    decides, by name: governance does not import monitoring)."""
    return redirect("monitoring:home")


@dataclass(frozen=True)
class RecentPage:
    """A page of a log too large to count: previous and next, no total."""

    number: int
    object_list: list
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def page_number(value: str | None) -> int:
    return min(int(value), MAX_PAGE) if value and value.isdigit() and int(value) > 0 else 1


def recent_page(queryset: QuerySet, number: int, size: int = PAGE_SIZE) -> RecentPage:
    start = (number - 1) * size
    rows = list(queryset[start : start + size + 1])
    return RecentPage(number, rows[:size], len(rows) > size)
