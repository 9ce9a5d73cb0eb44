"""Who may do what with subject requests: the officers who manage them, the roles that read
them, and the owners who work their datasets' tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeGuard

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from catalog.actors import Actor, Viewer, may
from requests.models.subjects import (
    SubjectRequest,
    SubjectTask,
)

# --- Who may do what ------------------------------------------------------------------------


def can_manage(user: Actor, subject_request: SubjectRequest | None = None) -> TypeGuard[User]:
    """Privacy officers manage requests; one given jurisdictions manages only theirs."""
    if subject_request is None:
        return may(user, "workflows.change_subjectrequest")
    return user is not None and manager_check(user)(subject_request)


def manager_check(user: Viewer) -> Callable[[SubjectRequest], bool]:
    """`can_manage` for many requests of one person (a list): their jurisdictions read once,
    by the one scope the selectors read with."""
    from requests.subjects.selectors import managed_scope

    return managed_scope(user).covers


def can_view(user: Viewer, subject_request: SubjectRequest) -> bool:
    """Officers who manage it, and the read-only roles (executives, auditors)."""
    return can_manage(user, subject_request) or user.has_perm("workflows.view_subjectrequest")


def can_work_task(user: Actor, task: SubjectTask) -> TypeGuard[User]:
    """The task's owner, or an officer who manages its request."""
    return isinstance(user, User) and (task.owner_id == user.pk or can_manage(user, task.request))


def require_manager(user: Actor, subject_request: SubjectRequest | None = None) -> None:
    """PermissionDenied unless the user manages the request (or requests at all)."""
    if not can_manage(user, subject_request):
        raise PermissionDenied("Only a privacy officer who answers for it may do this")


# --- Transitions ----------------------------------------------------------------------------
