"""What every governance API shares: the role gate."""

from __future__ import annotations

from rest_framework import permissions


class CanUseGovernance(permissions.BasePermission):
    message = "Your account has no Locus role."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("governance.view_localitydecision"))
