"""Who may read what monitoring found, as DRF sees it."""

from rest_framework import permissions


class CanViewMonitoring(permissions.BasePermission):
    message = "Your account has no Locus role that may see violations."

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("monitoring.view_violation"))
